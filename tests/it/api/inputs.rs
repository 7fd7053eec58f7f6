//! Bad input gets a clear 4xx JSON error naming the field, never a 500 and never a
//! partial write; plus /healthz and /metrics.

use homedoc::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::support::{backend_name, on_both_backends};

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field_and_writes_nothing() {
    on_both_backends("api_bad_input", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let (_, citizen) = srv.citizen("0912000051", STATION_A).await;
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(9), 2).await;
        let before = srv.store.counts().await.unwrap();

        let raw = |path: &str, token: Option<&str>, body: &str| {
            let mut r = srv.http.post(srv.url(path)).header("Content-Type", "application/json").body(body.to_string());
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        let slots = format!("/api/v1/stations/{STATION_A}/slots");
        let cases: Vec<(&str, String, Option<&str>, String, u16, &str)> = vec![
            ("malformed JSON", slots.clone(), Some(&staff), "{\"start\": ".into(), 400, "body"),
            ("a wrong type", slots.clone(), Some(&staff), json!({ "start": tomorrow_at(9), "duration_min": "long", "capacity": 2 }).to_string(), 400, "duration_min"),
            ("an unknown field", slots.clone(), Some(&staff), json!({ "start": tomorrow_at(9), "duration_min": 30, "capacity": 2, "colour": "red" }).to_string(), 400, "colour"),
            ("a slot in the past", slots.clone(), Some(&staff), json!({ "start": t0() - chrono::Duration::hours(1), "duration_min": 30, "capacity": 2 }).to_string(), 400, "start"),
            ("a capacity of 0", slots.clone(), Some(&staff), json!({ "start": tomorrow_at(9), "duration_min": 30, "capacity": 0 }).to_string(), 400, "capacity"),
            ("a missing field", slots.clone(), Some(&staff), json!({ "start": tomorrow_at(9), "capacity": 2 }).to_string(), 400, "duration_min"),
            ("an unknown reason", "/api/v1/appointments".into(), Some(&citizen), json!({ "slot_id": slot, "reason": "flu" }).to_string(), 400, "reason"),
            ("an unknown home station", "/api/v1/accounts".into(), None,
                json!({ "phone": "0912000052", "name": "A B", "sex": "female", "birth_year": 1990, "home_station": "TYT99-9999", "consent": true }).to_string(), 400, "home_station"),
            ("no consent", "/api/v1/accounts".into(), None,
                json!({ "phone": "0912000053", "name": "A B", "sex": "female", "birth_year": 1990, "home_station": STATION_A, "consent": false }).to_string(), 400, "consent"),
            ("a bad phone", "/api/v1/accounts".into(), None,
                json!({ "phone": "12", "name": "A B", "sex": "female", "birth_year": 1990, "home_station": STATION_A, "consent": true }).to_string(), 400, "phone"),
            ("a non-numeric id", "/api/v1/appointments/abc/cancel".into(), Some(&citizen), "{}".into(), 400, "id"),
            ("an oversized body", "/api/v1/appointments".into(), Some(&citizen), format!("{{\"slot_id\": {slot}, \"reason\": \"{}\"}}", "x".repeat(100_000)), 413, "body"),
        ];
        for (what, path, token, body, status, field) in cases {
            let resp = raw(&path, token, &body).await.unwrap();
            let got = resp.status().as_u16();
            let answer: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(got, status, "{be}: {what}: {answer}");
            assert_eq!(answer["field"], field, "{be}: {what}: {answer}");
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{be}: {what}");
        }
        // An unknown station in the path is a 404 that names it.
        let (s, b) = srv.post("/api/v1/stations/TYT99-9999/slots", Some(&staff), json!({ "start": tomorrow_at(9), "duration_min": 30, "capacity": 2 })).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{be}: {b}");
        assert!(b["message"].as_str().unwrap().contains("TYT99-9999"), "{be}: {b}");
        // Not JSON at all.
        let resp = srv.http.post(srv.url("/api/v1/appointments")).bearer_auth(&citizen).body("slot=1").send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{be}");
        // Unknown routes and methods answer in JSON too.
        let (s, b) = srv.get("/api/v1/nothing-here", None).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{be}");
        let (s, b) = srv.call("DELETE", "/api/v1/appointments", Some(&citizen), None).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")), "{be}");
        // A bad query string names its parameter.
        let (s, b) = srv.get(&format!("/api/v1/stations/{STATION_A}/slots?from=yesterday"), None).await;
        assert_eq!((s, b["field"].as_str()), (StatusCode::BAD_REQUEST, Some("from")), "{be}: {b}");

        assert_eq!(srv.store.counts().await.unwrap(), before, "{be}: nothing was written");
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn health_and_metrics() {
    on_both_backends("api_metrics", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let (_, citizen) = srv.citizen("0912000061", STATION_A).await;
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(9), 2).await;
        assert_eq!(srv.book(&citizen, slot).await.0, StatusCode::CREATED);

        let (s, health) = srv.get("/healthz", None).await;
        assert_eq!((s, health["status"].as_str()), (StatusCode::OK, Some("ok")), "{be}");
        if be == "sqlite" {
            assert_eq!(health["sqlite_synchronous"], 2, "{be}: synchronous=FULL");
        }
        let text = srv.http.get(srv.url("/metrics")).send().await.unwrap().text().await.unwrap();
        for needle in [
            "homedoc_http_requests_total{method=\"POST\",route=\"/api/v1/appointments\",status=\"201\"} 1",
            "homedoc_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/appointments\"",
            "homedoc_db_pool_connections{state=\"open\"}",
            "homedoc_bookings_committed 1",
            "homedoc_write_commits",
        ] {
            assert!(text.contains(needle), "{be}: /metrics lacks {needle}:\n{text}");
        }
        srv.shutdown().await;
    })
    .await;
}
