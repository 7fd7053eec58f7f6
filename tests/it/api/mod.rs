//! The core services over real HTTP: each test starts the real server on 127.0.0.1
//! port 0, over a fresh SQLite file and a fresh PostgreSQL database, and talks to it
//! with an HTTP client.

mod access;
mod booking;
mod crash;
mod inputs;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use homedoc::clock::Clock;
use homedoc::domain::*;
use homedoc::reference::Reference;
use homedoc::services::{Outbox, ServiceSettings, Services, WriteContext};
use homedoc::store::{SqlStore, Store};
use homedoc::web::{self, AppState, LimitSettings, WebSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The fixed "now" of the tests: Monday 2026-11-23, 08:00 in Vietnam.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

/// Station A (old province 02 = new 08), its district centre and provincial
/// hospital; station B in old province 04 (new 04) with its own centre.
pub const STATION_A: &str = "TYT02-0001";
pub const STATION_A2: &str = "TYT02-0002";
pub const CENTRE_A: &str = "TTYT02-01";
pub const STATION_B: &str = "TYT04-0001";
pub const CENTRE_B: &str = "TTYT04-01";

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub store: SqlStore,
    pub services: Services,
    pub clock: Clock,
    pub outbox: PathBuf,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

/// Settings for tests: limits high enough for 64 clients from one address.
pub fn test_web() -> WebSettings {
    WebSettings {
        limits: LimitSettings { per_account_per_minute: 1000, per_address_per_minute: 100_000 },
        background_every: std::time::Duration::from_secs(3600),
        ..WebSettings::default()
    }
}

impl Server {
    pub async fn start(store: SqlStore) -> Server {
        Self::start_with(store, test_web()).await
    }

    pub async fn start_with(store: SqlStore, web_settings: WebSettings) -> Server {
        let clock = Clock::fixed(t0());
        let store = store.with_clock(clock.clone());
        seed_facilities(&store).await;
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join(Outbox::FILE);
        let services = Services::new(
            Arc::new(store.clone()),
            clock.clone(),
            Arc::new(Outbox::new(&outbox)),
            Arc::new(Reference::embedded().unwrap()),
            ServiceSettings::default(),
        );
        // The KPI routes over an empty lake of this server's own.
        let settings =
            homedoc::config::Settings::resolve(dir.path(), homedoc::config::FileConfig::default(), |_| None).unwrap();
        let catalog = Arc::new(homedoc::kpi::Catalog::embedded().unwrap());
        let analytics = Some(Arc::new(homedoc::web::analytics::Analytics::new(settings, catalog).unwrap()));
        let state = AppState::with_parts(services.clone(), store.clone(), web_settings, None, analytics);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(web::serve(listener, state, rx));
        Server { base, http: reqwest::Client::new(), store, services, clock, outbox, stop, task, _dir: dir }
    }

    pub async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call("GET", path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, token, Some(body)).await
    }

    /// Registers a citizen and logs them in with the code from the outbox.
    pub async fn citizen(&self, phone: &str, station: &str) -> (i64, String) {
        let (s, b) = self
            .post(
                "/api/v1/accounts",
                None,
                json!({ "phone": phone, "name": "Nguyễn Thị Lan", "sex": "female", "birth_year": 1990,
                        "home_station": station, "consent": true }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "register {phone}: {b}");
        let id = b["id"].as_i64().unwrap();
        let token = self.login_citizen(phone).await;
        (id, token)
    }

    pub async fn login_citizen(&self, phone: &str) -> String {
        let (s, b) = self.post("/api/v1/auth/code", None, json!({ "phone": phone })).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let code = self.last_code(phone);
        let (s, b) = self.post("/api/v1/auth/citizen", None, json!({ "phone": phone, "code": code })).await;
        assert_eq!(s, StatusCode::CREATED, "login {phone}: {b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// The last login code sent to a phone, read from the outbox like an operator would.
    pub fn last_code(&self, phone: &str) -> String {
        let messages = Outbox::read(&self.outbox).unwrap();
        let m = messages.iter().rev().find(|m| m.phone == phone && m.kind == "login_code").expect("a code was sent");
        m.text.split(": ").nth(1).unwrap().split(' ').next().unwrap().to_string()
    }

    /// Creates a staff user (as the CLI does) and logs them in over HTTP.
    pub async fn staff(&self, username: &str, role: &str, scope: Option<&str>) -> String {
        let password = format!("{username}-long-password");
        let reply =
            self.services.add_user(None, username, &password, role, scope, &WriteContext::new("test")).await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.body);
        let (s, b) = self.post("/api/v1/auth/staff", None, json!({ "username": username, "password": password })).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// Publishes a slot as the staff token's station and returns its id.
    pub async fn slot(&self, staff: &str, station: &str, start: DateTime<Utc>, capacity: i64) -> i64 {
        let (s, b) = self
            .post(
                &format!("/api/v1/stations/{station}/slots"),
                Some(staff),
                json!({ "start": start, "duration_min": 30, "capacity": capacity }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_i64().unwrap()
    }

    pub async fn book(&self, citizen: &str, slot: i64) -> (StatusCode, Value) {
        self.post("/api/v1/appointments", Some(citizen), json!({ "slot_id": slot, "reason": "chronic_care" })).await
    }

    /// Active appointments of a slot, counted in the database itself.
    pub async fn active_in_slot(&self, slot: i64) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM appointments WHERE slot_id = $1 AND status IN ('booked', 'arrived')",
        )
        .bind(slot)
        .fetch_one(self.store.pool())
        .await
        .unwrap()
    }
}

fn code(s: &str) -> FacilityCode {
    FacilityCode::parse(s).unwrap()
}

fn p(s: &str) -> ProvinceCode {
    ProvinceCode::parse(s).unwrap()
}

pub async fn seed_facilities(store: &SqlStore) {
    let live = Some((t0() - Duration::days(400)).date_naive());
    let facilities = [
        (CENTRE_A, FacilityLevel::DistrictCentre, "02", "08", None, None),
        (STATION_A, FacilityLevel::CommuneStation, "02", "08", Some("02-0001"), Some(CENTRE_A)),
        (STATION_A2, FacilityLevel::CommuneStation, "02", "08", Some("02-0002"), Some(CENTRE_A)),
        (CENTRE_B, FacilityLevel::DistrictCentre, "04", "04", None, None),
        (STATION_B, FacilityLevel::CommuneStation, "04", "04", Some("04-0001"), Some(CENTRE_B)),
    ];
    let mut tx = store.begin().await.unwrap();
    for (c, level, p63, p34, commune, refers) in facilities {
        let station = level == FacilityLevel::CommuneStation;
        let f = Facility::new(
            code(c),
            &format!("Cơ sở {c}"),
            level,
            p(p63),
            p(p34),
            commune.map(str::to_string),
            refers.map(code),
            if station { live } else { None },
            if station { Some(5000) } else { None },
        )
        .unwrap();
        tx.add_facility(&f).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Tomorrow at `hour`:00 Vietnam time.
pub fn tomorrow_at(hour: u32) -> DateTime<Utc> {
    t0() + Duration::days(1) + Duration::hours(i64::from(hour) - 8)
}
