//! `homedoc serve` stopped in the middle of a booking load, by SIGKILL (a crash) or
//! SIGTERM (a drain), then restarted: every booking acknowledged with a 2xx is there,
//! none that was refused is; after SIGTERM the server exits cleanly.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use homedoc::reference::Reference;
use homedoc::services::{Outbox, ServiceSettings, Services, WriteContext};
use homedoc::store::SqlStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::*;
use crate::support::PgDatabase;

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    /// A failed assertion must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data_dir: &std::path::Path, url: &str) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_homedoc"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("HOMEDOC_DATA_DIR", data_dir)
        .env("HOMEDOC_DATABASE_URL", url)
        .env_remove("HOMEDOC_NOW")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start homedoc serve");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // Keep reading, so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "unexpected first line: {line:?}");
    Running { child, base }
}

/// Facilities and a staff user, written through the library before the server runs.
async fn prepare(url: &str, data_dir: &std::path::Path) {
    // All the load comes from one address: lift the login limit per address.
    std::fs::write(data_dir.join("homedoc.toml"), "[services]\nlogin_limit_per_address = 100000\n").unwrap();
    let store = SqlStore::connect(url).await.unwrap();
    super::seed_facilities(&store).await;
    let services = Services::new(
        Arc::new(store.clone()),
        homedoc::clock::Clock::system(),
        Arc::new(Outbox::new(data_dir.join(Outbox::FILE))),
        Arc::new(Reference::embedded().unwrap()),
        ServiceSettings::default(),
    );
    let r = services
        .add_user(
            None,
            "staff.a",
            "staff.a-long-password",
            "station_staff",
            Some(STATION_A),
            &WriteContext::new("test"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    drop(services);
    store.close().await;
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    Kill,
    Term,
}

async fn scenario(url: &str, label: &str, how: Stop) {
    let dir = tempfile::tempdir().unwrap();
    prepare(url, dir.path()).await;
    let server = start_server(dir.path(), url);
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut r = http.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let staff: Value =
        post("/api/v1/auth/staff", None, json!({ "username": "staff.a", "password": "staff.a-long-password" }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let staff = staff["token"].as_str().unwrap().to_string();
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    let mut slots = Vec::new();
    for i in 0..40 {
        let body = json!({ "start": start + chrono::Duration::minutes(30 * i), "duration_min": 30, "capacity": 12 });
        let b: Value = post(&format!("/api/v1/stations/{STATION_A}/slots"), Some(&staff), body)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        slots.push(b["id"].as_i64().unwrap());
    }
    let outbox = dir.path().join(Outbox::FILE);
    let mut citizens = Vec::new();
    for i in 0..24 {
        let phone = format!("0918{i:06}");
        let body = json!({ "phone": phone, "name": "Hà Văn Tú", "sex": "male", "birth_year": 1970,
                           "home_station": STATION_A, "consent": true });
        let r: Value = post("/api/v1/accounts", None, body).await.unwrap().json().await.unwrap();
        let id = r["id"].as_i64().unwrap();
        post("/api/v1/auth/code", None, json!({ "phone": phone })).await.unwrap();
        let sent = Outbox::read(&outbox).unwrap();
        let code =
            sent.iter().rev().find(|m| m.phone == phone).unwrap().text.split(": ").nth(1).unwrap()[..6].to_string();
        let s: Value = post("/api/v1/auth/citizen", None, json!({ "phone": phone, "code": code }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        citizens.push((id, s["token"].as_str().unwrap().to_string()));
    }

    // Each citizen books the slots in turn: every request is a distinct (citizen, slot).
    let outcomes: Arc<Mutex<HashMap<(i64, i64), Option<i64>>>> = Arc::default();
    let mut load = Vec::new();
    for (citizen, token) in citizens.clone() {
        let (http, base, slots, outcomes) = (http.clone(), base.clone(), slots.clone(), outcomes.clone());
        let label = label.to_string();
        load.push(tokio::spawn(async move {
            for slot in slots {
                let sent = http
                    .post(format!("{base}/api/v1/appointments"))
                    .bearer_auth(&token)
                    .json(&json!({ "slot_id": slot, "reason": "general_checkup" }))
                    .send()
                    .await;
                let Ok(resp) = sent else { return };
                let status = resp.status();
                let Ok(body) = resp.json::<Value>().await else { return };
                if status == StatusCode::CREATED {
                    outcomes.lock().await.insert((citizen, slot), body["id"].as_i64());
                } else if status == StatusCode::CONFLICT {
                    outcomes.lock().await.insert((citizen, slot), None);
                } else {
                    panic!("{label}: unexpected {status}: {body}");
                }
            }
        }));
    }
    // Kill it while the load runs.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if outcomes.lock().await.len() >= 150 {
            break;
        }
    }
    let mut server = server;
    match how {
        Stop::Kill => server.child.kill().unwrap(),
        Stop::Term => {
            let pid = server.child.id().to_string();
            assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        }
    }
    let exit = server.child.wait().unwrap();
    if how == Stop::Term {
        assert!(exit.success(), "{label}: after SIGTERM the server exits cleanly: {exit}");
    }
    drop(server);
    for t in load {
        t.await.unwrap();
    }
    let outcomes = outcomes.lock().await.clone();
    let acknowledged = outcomes.values().filter(|v| v.is_some()).count();
    let refused = outcomes.len() - acknowledged;
    assert!(acknowledged > 0 && refused > 0, "{label}: {acknowledged} acknowledged, {refused} refused");

    // Restart on the same store: the server comes back and the data is as answered.
    let again = start_server(dir.path(), url);
    let store = SqlStore::connect(url).await.unwrap();
    for ((citizen, slot), answer) in &outcomes {
        let held: Vec<i64> = sqlx::query_scalar("SELECT id FROM appointments WHERE citizen_id = $1 AND slot_id = $2")
            .bind(citizen)
            .bind(slot)
            .fetch_all(store.pool())
            .await
            .unwrap();
        match answer {
            Some(id) => assert_eq!(held, vec![*id], "{label}: acknowledged booking {id} is missing"),
            None => assert!(held.is_empty(), "{label}: refused booking of {citizen} on {slot} is there"),
        }
    }
    let over: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT slot_id FROM appointments WHERE status IN ('booked', 'arrived') \
         GROUP BY slot_id HAVING COUNT(*) > 12) t",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(over, 0, "{label}: a slot is over capacity");
    let health = http.get(format!("{}/healthz", again.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "{label}");
    store.close().await;
    drop(again);
    eprintln!("{label}: {how:?} after {acknowledged} acknowledged and {refused} refused bookings; all as answered");
}

#[tokio::test]
async fn sigkill_mid_load_loses_no_acknowledged_booking() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    scenario(&url, "sqlite", Stop::Kill).await;
    match PgDatabase::create("api_sigkill").await {
        Some(pg) => scenario(&pg.url, "postgres", Stop::Kill).await,
        None => {
            use std::io::Write;
            let note =
                format!("SKIPPED on PostgreSQL: api_sigkill (set {} to run it there too)\n", crate::support::PG_ENV);
            std::io::stderr().write_all(note.as_bytes()).ok();
        }
    }
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    scenario(&url, "sqlite", Stop::Term).await;
}
