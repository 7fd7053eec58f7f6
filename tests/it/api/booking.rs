//! The booking life cycle, transitions, idempotency, the race for the last places,
//! consent withdrawal, background work and the audit log.

use chrono::Duration;
use homedoc::domain::AppointmentStatus;
use homedoc::services::Outbox;
use homedoc::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::support::{backend_name, on_both_backends};

#[tokio::test]
async fn booking_life_cycle() {
    on_both_backends("api_life_cycle", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let (citizen_id, citizen) = srv.citizen("0912000001", STATION_A).await;
        let nine = tomorrow_at(9);
        let slot = srv.slot(&staff, STATION_A, nine, 2).await;

        // Anyone lists free slots, and finds the station by either boundary set.
        let (s, slots) = srv.get(&format!("/api/v1/stations/{STATION_A}/slots"), None).await;
        assert_eq!(s, StatusCode::OK, "{be}");
        assert_eq!(slots[0]["id"], slot, "{be}: {slots}");
        for (set, province) in [("34", "08"), ("63", "02")] {
            let (s, list) = srv.get(&format!("/api/v1/stations?set={set}&province={province}"), None).await;
            assert_eq!(s, StatusCode::OK, "{be}");
            let codes: Vec<_> = list.as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
            assert_eq!(codes, [STATION_A, STATION_A2], "{be}: set {set}");
        }

        let (s, b) = srv.book(&citizen, slot).await;
        assert_eq!(s, StatusCode::CREATED, "{be}: {b}");
        let appt = b["id"].as_i64().unwrap();
        let (_, mine) = srv.get("/api/v1/me/appointments", Some(&citizen)).await;
        assert_eq!(mine[0]["id"], appt, "{be}");
        assert_eq!(mine[0]["status"], "booked", "{be}");

        // Staff see it on tomorrow's worklist, with the name they need at the desk.
        let day = nine.with_timezone(&chrono_tz::Asia::Ho_Chi_Minh).date_naive();
        let (s, list) = srv.get(&format!("/api/v1/stations/{STATION_A}/worklist?date={day}"), Some(&staff)).await;
        assert_eq!(s, StatusCode::OK, "{be}: {list}");
        assert_eq!(list[0]["id"], appt, "{be}");
        assert_eq!(list[0]["citizen_name"], "Nguyễn Thị Lan", "{be}");

        for status in ["arrived", "fulfilled"] {
            let (s, b) = srv
                .post(&format!("/api/v1/appointments/{appt}/status"), Some(&staff), json!({ "status": status }))
                .await;
            assert_eq!(s, StatusCode::OK, "{be}: {status}: {b}");
        }
        let stored = srv.store.appointment(appt).await.unwrap().unwrap();
        assert_eq!(stored.status, AppointmentStatus::Fulfilled, "{be}");
        assert_eq!(stored.version, 3, "{be}");

        // Reschedule: the old booking is cancelled, the new one points at it.
        let ten = tomorrow_at(10);
        let slot2 = srv.slot(&staff, STATION_A, ten, 1).await;
        let (_, b) = srv.book(&citizen, slot).await;
        let second = b["id"].as_i64().unwrap();
        let (s, b) = srv
            .post(&format!("/api/v1/appointments/{second}/reschedule"), Some(&citizen), json!({ "slot_id": slot2 }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{be}: {b}");
        assert_eq!(b["rescheduled_from"], second, "{be}");
        let moved = b["id"].as_i64().unwrap();
        assert_eq!(srv.store.appointment(second).await.unwrap().unwrap().status, AppointmentStatus::Cancelled, "{be}");
        // A reschedule into a full slot changes nothing.
        let eleven = tomorrow_at(11);
        let slot3 = srv.slot(&staff, STATION_A, eleven, 1).await;
        let (_, other) = srv.citizen("0912000002", STATION_A).await;
        assert_eq!(srv.book(&other, slot3).await.0, StatusCode::CREATED, "{be}");
        let (s, b) = srv
            .post(&format!("/api/v1/appointments/{moved}/reschedule"), Some(&citizen), json!({ "slot_id": slot3 }))
            .await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("slot_full")), "{be}: {b}");
        assert_eq!(srv.store.appointment(moved).await.unwrap().unwrap().status, AppointmentStatus::Booked, "{be}");
        let (s, b) = srv.book(&other, slot2).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("slot_full")), "{be}: {b}");

        // The citizen cancels; the place is free again.
        let (s, _) = srv.post(&format!("/api/v1/appointments/{moved}/cancel"), Some(&citizen), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{be}");
        let listed = |slots: &Value| slots.as_array().unwrap().iter().any(|s| s["id"] == slot2);
        let (_, slots) = srv.get(&format!("/api/v1/stations/{STATION_A}/slots"), None).await;
        assert!(listed(&slots), "{be}: the freed place is listed");
        let (s, b) = srv.book(&other, slot2).await;
        assert_eq!(s, StatusCode::CREATED, "{be}: {b}");
        let others = b["id"].as_i64().unwrap();
        // The listing is cached for a second, but a booking through this server drops it.
        let (_, slots) = srv.get(&format!("/api/v1/stations/{STATION_A}/slots"), None).await;
        assert!(!listed(&slots), "{be}: a full slot is still listed: {slots}");

        // The day before, a reminder goes out through the message adapter.
        let reminders = srv.services.send_reminders().await.unwrap();
        assert_eq!(reminders, 2, "{be}: the other citizen's two bookings are the ones still booked tomorrow");
        let sent = Outbox::read(&srv.outbox).unwrap();
        assert_eq!(sent.iter().filter(|m| m.kind == "reminder" && m.phone == "0912000002").count(), 2, "{be}");
        assert_eq!(srv.services.send_reminders().await.unwrap(), 0, "{be}: sent once");

        // Not arrived by the grace time after the start: a no-show, marked by the background task.
        srv.clock.set(ten + Duration::hours(1));
        assert_eq!(srv.services.mark_noshows().await.unwrap(), 0, "{be}: still within the grace time");
        srv.clock.set(ten + Duration::hours(3));
        assert_eq!(srv.services.mark_noshows().await.unwrap(), 1, "{be}");
        assert_eq!(srv.store.appointment(others).await.unwrap().unwrap().status, AppointmentStatus::Noshow, "{be}");

        // Every status is in the change feed, for ingestion.
        let feed = srv.store.appointment_changes(0, 1000).await.unwrap();
        assert!(feed.iter().any(|c| c.appointment_id == others && c.status == AppointmentStatus::Noshow), "{be}");
        let _ = citizen_id;
        srv.shutdown().await;
    })
    .await;
}

/// Drives an appointment to `from` along allowed steps.
async fn reach(srv: &Server, staff: &str, citizen: &str, slot: i64, from: AppointmentStatus) -> i64 {
    use AppointmentStatus::*;
    let (s, b) = srv.book(citizen, slot).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["id"].as_i64().unwrap();
    let path: &[&str] = match from {
        Booked => &[],
        Arrived => &["arrived"],
        Fulfilled => &["arrived", "fulfilled"],
        Cancelled => &["cancelled"],
        Noshow => &["noshow"],
        EnteredInError => &["entered-in-error"],
        Waitlist => unreachable!("the API never creates a waitlist entry"),
    };
    for status in path {
        let (s, b) =
            srv.post(&format!("/api/v1/appointments/{id}/status"), Some(staff), json!({ "status": status })).await;
        assert_eq!(s, StatusCode::OK, "{status}: {b}");
    }
    id
}

#[tokio::test]
async fn every_illegal_transition_is_a_409_with_the_reason() {
    on_both_backends("api_transitions", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let (_, citizen) = srv.citizen("0912000011", STATION_A).await;
        use AppointmentStatus::*;
        let mut checked = 0;
        for (i, from) in [Booked, Arrived, Fulfilled, Cancelled, Noshow, EnteredInError].into_iter().enumerate() {
            for (j, to) in [Arrived, Fulfilled, Cancelled, Noshow, EnteredInError].into_iter().enumerate() {
                let start = tomorrow_at(7) + Duration::minutes((i * 5 + j) as i64 * 10);
                let slot = srv.slot(&staff, STATION_A, start, 1).await;
                let id = reach(&srv, &staff, &citizen, slot, from).await;
                let (s, b) = srv
                    .post(&format!("/api/v1/appointments/{id}/status"), Some(&staff), json!({ "status": to.as_str() }))
                    .await;
                if from.can_become(to) {
                    assert_eq!(s, StatusCode::OK, "{be}: {from} -> {to}: {b}");
                } else {
                    assert_eq!(s, StatusCode::CONFLICT, "{be}: {from} -> {to} must be refused: {b}");
                    assert_eq!(b["error"], "illegal_transition", "{be}");
                    let msg = b["message"].as_str().unwrap();
                    assert!(msg.contains(from.as_str()) && msg.contains(to.as_str()), "{be}: {msg}");
                    let stored = srv.store.appointment(id).await.unwrap().unwrap();
                    assert_eq!(stored.status, from, "{be}: unchanged after a refused {from} -> {to}");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 18, "{be}: {checked} illegal transitions checked");
        // Staff never set booked or waitlist; a citizen cancels only their own.
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(20), 1).await;
        let id = reach(&srv, &staff, &citizen, slot, Booked).await;
        for status in ["booked", "waitlist"] {
            let (s, b) =
                srv.post(&format!("/api/v1/appointments/{id}/status"), Some(&staff), json!({ "status": status })).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{be}: {b}");
            assert_eq!(b["field"], "status", "{be}");
        }
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_mismatch_and_in_flight_duplicates() {
    on_both_backends("api_idempotency", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let (_, citizen) = srv.citizen("0912000021", STATION_A).await;
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(9), 3).await;
        let slot2 = srv.slot(&staff, STATION_A, tomorrow_at(10), 3).await;
        let send = |key: &'static str, slot: i64| {
            srv.http
                .post(srv.url("/api/v1/appointments"))
                .bearer_auth(&citizen)
                .header("Idempotency-Key", key)
                .json(&json!({ "slot_id": slot, "reason": "general_checkup" }))
                .send()
        };
        let first = send("k-1", slot).await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED, "{be}");
        let first: Value = first.json().await.unwrap();
        let again = send("k-1", slot).await.unwrap();
        assert_eq!(again.status(), StatusCode::CREATED, "{be}");
        assert_eq!(again.headers()["idempotency-replayed"], "true", "{be}");
        assert_eq!(again.json::<Value>().await.unwrap(), first, "{be}: the replay returns the first result");
        assert_eq!(srv.active_in_slot(slot).await, 1, "{be}: booked once");

        let other = send("k-1", slot2).await.unwrap();
        assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        assert_eq!(srv.active_in_slot(slot2).await, 0, "{be}");

        // Keys are per caller: another citizen's k-1 is their own.
        let (_, someone) = srv.citizen("0912000022", STATION_A).await;
        let theirs = srv
            .http
            .post(srv.url("/api/v1/appointments"))
            .bearer_auth(&someone)
            .header("Idempotency-Key", "k-1")
            .json(&json!({ "slot_id": slot, "reason": "general_checkup" }))
            .send()
            .await
            .unwrap();
        assert_eq!(theirs.status(), StatusCode::CREATED, "{be}");

        // In flight: hold the database's write lock so the first request cannot finish.
        let mut blocker = srv
            .store
            .pool()
            .begin_with(match srv.store.backend() {
                homedoc::store::Backend::Sqlite => "BEGIN IMMEDIATE",
                homedoc::store::Backend::Postgres => "BEGIN",
            })
            .await
            .unwrap();
        if srv.store.backend() == homedoc::store::Backend::Postgres {
            sqlx::query("LOCK TABLE appointments IN ACCESS EXCLUSIVE MODE").execute(&mut *blocker).await.unwrap();
        }
        let pending = tokio::spawn(send("k-2", slot2));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let dup = send("k-2", slot2).await.unwrap();
        assert_eq!(dup.status(), StatusCode::CONFLICT, "{be}");
        assert_eq!(dup.json::<Value>().await.unwrap()["error"], "in_flight", "{be}");
        blocker.rollback().await.unwrap();
        let done = pending.await.unwrap().unwrap();
        assert_eq!(done.status(), StatusCode::CREATED, "{be}");
        assert_eq!(send("k-2", slot2).await.unwrap().status(), StatusCode::CREATED, "{be}: replayed after");
        assert_eq!(srv.active_in_slot(slot2).await, 1, "{be}");

        // Kept at least 24 hours, pruned after the configured keeping time.
        srv.clock.advance(Duration::hours(24));
        srv.services.prune_idempotency_keys().await.unwrap();
        assert!(srv.store.idempotency("account:1", "k-1").await.unwrap().is_some(), "{be}: kept 24 h");
        srv.clock.advance(Duration::hours(25));
        assert!(srv.services.prune_idempotency_keys().await.unwrap() >= 1, "{be}");
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn sixty_four_clients_race_for_the_last_places() {
    on_both_backends("api_race", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let capacity = 5;
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(9), capacity).await;
        let mut citizens = Vec::new();
        for i in 0..64 {
            citizens.push(srv.citizen(&format!("0913{i:06}"), STATION_A).await.1);
        }
        // Two places already taken: 64 clients race for the last three.
        for c in &citizens[..2] {
            assert_eq!(srv.book(c, slot).await.0, StatusCode::CREATED, "{be}");
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(64));
        let mut tasks = Vec::new();
        for c in citizens.iter().cloned() {
            let (http, url, barrier) = (srv.http.clone(), srv.url("/api/v1/appointments"), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = http
                    .post(url)
                    .bearer_auth(c)
                    .json(&json!({ "slot_id": slot, "reason": "other" }))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                (status, r.json::<Value>().await.unwrap())
            }));
        }
        let mut created = 0;
        for t in tasks {
            let (s, b) = t.await.unwrap();
            match s {
                StatusCode::CREATED => created += 1,
                StatusCode::CONFLICT => {
                    assert!(matches!(b["error"].as_str(), Some("slot_full" | "already_booked")), "{be}: {b}")
                }
                other => panic!("{be}: unexpected {other}: {b}"),
            }
        }
        assert_eq!(created, 3, "{be}: exactly the free places were given");
        assert_eq!(srv.active_in_slot(slot).await, capacity, "{be}");
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_database_itself_refuses_overbooking() {
    on_both_backends("db_capacity", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(9), 2).await;
        let mut ids = Vec::new();
        for i in 0..16 {
            ids.push(srv.citizen(&format!("0914{i:06}"), STATION_A).await.0);
        }
        // Sixteen raw transactions, bypassing every check of the services.
        let mut tasks = Vec::new();
        for id in ids.clone() {
            let store = srv.store.clone();
            tasks.push(tokio::spawn(async move {
                let a = homedoc::domain::Appointment::new(
                    slot,
                    id,
                    homedoc::domain::ReasonCategory::Other,
                    AppointmentStatus::Booked,
                    t0(),
                    None,
                )
                .unwrap();
                let mut tx = store.begin().await.unwrap();
                match tx.book(&a).await {
                    Ok(_) => tx.commit().await.is_ok(),
                    Err(_) => {
                        tx.rollback().await.ok();
                        false
                    }
                }
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 2, "{be}");
        assert_eq!(srv.active_in_slot(slot).await, 2, "{be}");
        // The same citizen twice on a slot, even with room, is refused too.
        let wide = srv.slot(&staff, STATION_A, tomorrow_at(11), 5).await;
        let a = homedoc::domain::Appointment::new(
            wide,
            ids[0],
            homedoc::domain::ReasonCategory::Other,
            AppointmentStatus::Booked,
            t0(),
            None,
        )
        .unwrap();
        let mut tx = srv.store.begin().await.unwrap();
        tx.book(&a).await.unwrap();
        let err = tx.book(&a).await.unwrap_err();
        assert!(err.to_string().contains("already_booked"), "{be}: {err}");
        tx.rollback().await.unwrap();
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn withdrawing_consent_erases_personal_fields_and_keeps_events() {
    on_both_backends("api_withdraw", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let (id, citizen) = srv.citizen("0912000031", STATION_A).await;
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(9), 2).await;
        let (_, b) = srv.book(&citizen, slot).await;
        let appt = b["id"].as_i64().unwrap();

        let (s, me) = srv.get("/api/v1/me", Some(&citizen)).await;
        assert_eq!((s, me["phone"].as_str()), (StatusCode::OK, Some("0912000031")), "{be}");
        let (s, b) = srv.call("PATCH", "/api/v1/me", Some(&citizen), Some(json!({ "name": "Trần Thị Lan" }))).await;
        assert_eq!((s, b["name"].as_str()), (StatusCode::OK, Some("Trần Thị Lan")), "{be}: {b}");
        let (s, export) = srv.get("/api/v1/me/export", Some(&citizen)).await;
        assert_eq!(s, StatusCode::OK, "{be}");
        assert_eq!(export["appointments"][0]["id"], appt, "{be}");

        let (s, _) = srv.post("/api/v1/me/withdraw", Some(&citizen), json!({})).await;
        assert_eq!(s, StatusCode::OK, "{be}");
        let stored = srv.store.account(id).await.unwrap().unwrap();
        assert_eq!((stored.phone, stored.name), (None, None), "{be}: erased");
        assert!(stored.closed_at.is_some(), "{be}");
        assert!(srv.store.appointment(appt).await.unwrap().is_some(), "{be}: events kept under the account id");
        let (s, _) = srv.get("/api/v1/me", Some(&citizen)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{be}: the session is gone");
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_records_writes_and_denials_without_personal_data() {
    on_both_backends("api_audit", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let admin = srv.staff("root", "admin", None).await;
        let (_, citizen) = srv.citizen("0912000041", STATION_A).await;
        let slot = srv.slot(&staff, STATION_A, tomorrow_at(9), 2).await;
        let (_, b) = srv.book(&citizen, slot).await;
        let appt = b["id"].as_i64().unwrap();
        // Denied: a citizen publishing slots, an anonymous booking, a wrong password.
        assert_eq!(
            srv.post(&format!("/api/v1/stations/{STATION_A}/slots"), Some(&citizen), json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(srv.book("not-a-token", slot).await.0, StatusCode::UNAUTHORIZED);
        let (s, _) =
            srv.post("/api/v1/auth/staff", None, json!({ "username": "root", "password": "wrong-password-123" })).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        let (s, log) = srv.get("/api/v1/audit", Some(&admin)).await;
        assert_eq!(s, StatusCode::OK, "{be}");
        let log = log.as_array().unwrap();
        let has = |action: &str, outcome: &str, target: Option<&str>| {
            log.iter()
                .any(|e| e["action"] == action && e["outcome"] == outcome && target.is_none_or(|t| e["target"] == t))
        };
        assert!(has("POST /api/v1/accounts", "ok", None), "{be}: registration");
        assert!(has("POST /api/v1/appointments", "ok", Some(&format!("slot:{slot}"))), "{be}: booking");
        assert!(has("POST /api/v1/stations/{code}/slots", "denied", None), "{be}: a denied publish");
        assert!(has("POST /api/v1/appointments", "denied", None), "{be}: a denied booking");
        assert!(has("POST /api/v1/auth/staff", "denied", None), "{be}: a failed login");
        let booking = log.iter().find(|e| e["target"] == format!("slot:{slot}")).unwrap();
        assert!(booking["actor"].as_str().unwrap().starts_with("account:"), "{be}: {booking}");
        assert_eq!(booking["role"], "citizen", "{be}");
        // No phone number, name or reason anywhere in it.
        let text = serde_json::to_string(&log).unwrap();
        for secret in ["0912000041", "Nguyễn", "chronic_care"] {
            assert!(!text.contains(secret), "{be}: the audit log contains {secret}");
        }
        let _ = appt;
        // Append-only, enforced by the database.
        let update = sqlx::query("UPDATE audit_log SET outcome = 'x'").execute(srv.store.pool()).await;
        assert!(update.is_err(), "{be}: the audit log can be changed");
        let delete = sqlx::query("DELETE FROM audit_log").execute(srv.store.pool()).await;
        assert!(delete.is_err(), "{be}: the audit log can be emptied");
        srv.shutdown().await;
    })
    .await;
}
