//! The store's scenarios, each run on SQLite and on PostgreSQL.

use chrono::{DateTime, Duration, TimeZone, Utc};
use homedoc::domain::*;
use homedoc::store::{Backend, Batch, Entity, Op, SqlStore, Store, StoreError};

use crate::support::{backend_name, on_both_backends};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 4, 2, 0, 0).unwrap()
}

fn code(s: &str) -> FacilityCode {
    FacilityCode::parse(s).unwrap()
}

fn p(s: &str) -> ProvinceCode {
    ProvinceCode::parse(s).unwrap()
}

fn account(phone: &str) -> Account {
    Account::new(
        Phone::parse(phone).unwrap(),
        PersonName::parse("Hoàng Văn Minh").unwrap(),
        Sex::Male,
        BirthYear::new(1975, t0()).unwrap(),
        true,
        Vulnerability { poor_household: true, ..Default::default() },
        code("TYT02-0001"),
        Some(t0()),
        t0(),
    )
    .unwrap()
}

/// A district centre, one station referring to it, one account and one slot.
async fn seed(store: &SqlStore) -> (i64, i64) {
    let mut tx = store.begin().await.unwrap();
    let centre = Facility::new(
        code("TTYT02-01"),
        "Trung tâm Y tế huyện Một",
        FacilityLevel::DistrictCentre,
        p("02"),
        p("08"),
        None,
        None,
        None,
        None,
    )
    .unwrap();
    tx.add_facility(&centre).await.unwrap();
    let station = Facility::new(
        code("TYT02-0001"),
        "Trạm Y tế xã Một",
        FacilityLevel::CommuneStation,
        p("02"),
        p("08"),
        Some("02-0001".into()),
        Some(code("TTYT02-01")),
        Some(t0().date_naive()),
        Some(4200),
    )
    .unwrap();
    tx.add_facility(&station).await.unwrap();
    let citizen = tx.add_account(&account("0912345678")).await.unwrap();
    let slot = tx.add_slot(&Slot::new(code("TYT02-0001"), t0() + Duration::days(2), 30, 2).unwrap()).await.unwrap();
    tx.commit().await.unwrap();
    (citizen, slot)
}

fn booking(slot: i64, citizen: i64, at: DateTime<Utc>) -> Appointment {
    Appointment::new(slot, citizen, ReasonCategory::ChronicCare, AppointmentStatus::Booked, at, None).unwrap()
}

#[tokio::test]
async fn every_change_is_in_the_feed_in_order() {
    on_both_backends("feed_order", |store| async move {
        let be = backend_name(&store);
        let (citizen, slot) = seed(&store).await;
        let mut tx = store.begin().await.unwrap();
        let appt = tx.book(&booking(slot, citizen, t0())).await.unwrap();
        tx.commit().await.unwrap();
        for (status, hours) in [(AppointmentStatus::Arrived, 48), (AppointmentStatus::Fulfilled, 49)] {
            let mut tx = store.begin().await.unwrap();
            tx.set_status(appt, status, t0() + Duration::hours(hours)).await.unwrap();
            tx.commit().await.unwrap();
        }

        let all = store.changes(0, None, 100).await.unwrap();
        let kinds: Vec<_> = all.iter().map(|c| (c.entity, c.op, c.version)).collect();
        assert_eq!(
            kinds,
            vec![
                (Entity::Facility, Op::Insert, 1),
                (Entity::Facility, Op::Insert, 1),
                (Entity::Account, Op::Insert, 1),
                (Entity::Slot, Op::Insert, 1),
                (Entity::Appointment, Op::Insert, 1),
                (Entity::Appointment, Op::Update, 2),
                (Entity::Appointment, Op::Update, 3),
            ],
            "{be}"
        );
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "{be}: sequence increases");

        // Each status change is delivered, not only the latest state.
        let changes = store.appointment_changes(0, 100).await.unwrap();
        let statuses: Vec<_> = changes.iter().map(|c| c.status).collect();
        use AppointmentStatus::*;
        assert_eq!(statuses, vec![Booked, Arrived, Fulfilled], "{be}");
        assert_eq!(changes[0].station, "TYT02-0001");
        assert_eq!(changes[2].at, t0() + Duration::hours(49));

        // Reading from a position returns only what came after it.
        let after = store.changes(all[4].seq, Some(Entity::Appointment), 100).await.unwrap();
        assert_eq!(after.len(), 2, "{be}");
        let stored = store.appointment(appt).await.unwrap().unwrap();
        assert_eq!((stored.status, stored.version), (Fulfilled, 3));
    })
    .await;
}

#[tokio::test]
async fn a_refused_change_writes_nothing() {
    on_both_backends("refused", |store| async move {
        let be = backend_name(&store);
        let (citizen, slot) = seed(&store).await;
        let mut tx = store.begin().await.unwrap();
        let appt = tx.book(&booking(slot, citizen, t0())).await.unwrap();
        tx.commit().await.unwrap();
        let before = store.changes(0, None, 100).await.unwrap().len();

        let mut tx = store.begin().await.unwrap();
        let err = tx.set_status(appt, AppointmentStatus::Fulfilled, t0()).await.unwrap_err();
        assert!(matches!(err, StoreError::Domain(DomainError::IllegalTransition { .. })), "{be}: {err}");
        tx.rollback().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let err =
            tx.add_account(&Account { home_station: code("TYT99-9999"), ..account("0987654321") }).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { entity: "facility", .. }), "{be}: {err}");
        tx.rollback().await.unwrap();

        // A duplicate phone is a conflict, and the half-written transaction leaves no trace.
        let extra_slot = Slot::new(code("TYT02-0001"), t0() + Duration::days(3), 30, 2).unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.add_slot(&extra_slot).await.unwrap();
        let err = tx.add_account(&account("0912345678")).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{be}: {err}");
        tx.rollback().await.unwrap();

        // A dropped transaction is rolled back too.
        {
            let mut tx = store.begin().await.unwrap();
            tx.add_slot(&extra_slot).await.unwrap();
        }
        assert_eq!(store.changes(0, None, 100).await.unwrap().len(), before, "{be}");
        assert_eq!(store.counts().await.unwrap().appointments, 1, "{be}");
        assert_eq!(store.counts().await.unwrap().slots, 1, "{be}");
        // The same citizen twice on one slot is refused by the database.
        let mut tx = store.begin().await.unwrap();
        let err = tx.book(&booking(slot, citizen, t0())).await.unwrap_err();
        assert!(err.to_string().contains("already_booked"), "{be}: {err}");
        tx.rollback().await.unwrap();
        assert_eq!(store.appointment(appt).await.unwrap().unwrap().status, AppointmentStatus::Booked);
    })
    .await;
}

/// Starts T2 (one new account, then commit) and gives it half a second to get ahead.
async fn second_writer(store: &SqlStore) -> tokio::task::JoinHandle<i64> {
    let s2 = store.clone();
    let t2 = tokio::spawn(async move {
        let mut t2 = s2.begin().await.unwrap();
        let id = t2.add_account(&account("0922222222")).await.unwrap();
        t2.commit().await.unwrap();
        id
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    t2
}

/// Two writers interleave: the first to start commits last. A reader that polls in
/// between must still see both changes exactly once, the late one after the early one.
#[tokio::test]
async fn the_feed_never_skips_a_change_that_commits_late() {
    on_both_backends("interleave", |store| async move {
        let be = backend_name(&store);
        seed(&store).await;
        let start = store.changes(0, None, 1000).await.unwrap().last().unwrap().seq;

        // T1 begins and writes first...
        let mut t1 = store.begin().await.unwrap();
        let a1 = t1.add_account(&account("0911111111")).await.unwrap();

        // ...T2 begins, writes and commits while T1 is still open. On SQLite T2 waits
        // for T1 (one writer at a time); on PostgreSQL it commits first.
        let t2 = second_writer(&store).await;

        let mut seen = store.changes(start, None, 1000).await.unwrap();
        let position = seen.last().map_or(start, |c| c.seq);
        match store.backend() {
            Backend::Postgres => {
                assert_eq!(seen.len(), 1, "{be}: T2 committed first and is visible alone");
                assert!(t2.is_finished(), "{be}: T2 does not wait for T1");
            }
            Backend::Sqlite => assert!(seen.is_empty(), "{be}: T2 waits for T1's write lock"),
        }

        t1.commit().await.unwrap();
        let a2 = t2.await.unwrap();
        seen.extend(store.changes(position, None, 1000).await.unwrap());
        let ids: Vec<i64> = seen.iter().map(|c| c.entity_id).collect();
        let expected = match store.backend() {
            Backend::Postgres => vec![a2, a1],
            Backend::Sqlite => vec![a1, a2],
        };
        assert_eq!(ids, expected, "{be}: both changes, once each, in commit order");
        assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
    })
    .await;
}

/// The case a plain sequence gets wrong: T1 takes its feed number first, T2 takes a
/// higher one and tries to commit before T1 does. A reader that saw T2's number and
/// moved its position past it would never see T1's. The feed lock makes T2 wait, so
/// numbers become visible in order.
#[tokio::test]
async fn a_lower_feed_number_never_commits_after_a_higher_one() {
    on_both_backends("lower_number", |store| async move {
        let be = backend_name(&store);
        seed(&store).await;
        let start = store.changes(0, None, 1000).await.unwrap().last().unwrap().seq;

        let mut t1 = store.begin().await.unwrap();
        let a1 = t1.add_account(&account("0911111111")).await.unwrap();
        t1.flush_feed().await.unwrap();

        let t2 = second_writer(&store).await;
        assert!(!t2.is_finished(), "{be}: T2 cannot commit a feed number while T1 holds a lower one");
        let mut seen = store.changes(start, None, 1000).await.unwrap();
        assert!(seen.is_empty(), "{be}: nothing is visible yet");

        t1.commit().await.unwrap();
        let a2 = t2.await.unwrap();
        seen.extend(store.changes(start, None, 1000).await.unwrap());
        let ids: Vec<i64> = seen.iter().map(|c| c.entity_id).collect();
        assert_eq!(ids, vec![a1, a2], "{be}");
    })
    .await;
}

#[tokio::test]
async fn bulk_batches_derive_their_feed_in_time_order() {
    use homedoc::store::{AccountRow, AppointmentRow, CallRow, SlotRow, StatusRow};
    on_both_backends("bulk", |store| async move {
        let be = backend_name(&store);
        seed(&store).await;
        let station = store.facility_id(&code("TYT02-0001")).await.unwrap().unwrap();
        let centre = store.facility_id(&code("TTYT02-01")).await.unwrap().unwrap();
        let t = t0().timestamp();
        let mut batch = Batch::default();
        for i in 0..3000i64 {
            batch.accounts.push(AccountRow {
                id: 1000 + i,
                phone: format!("09{:08}", 10_000_000 + i),
                name: "Lò Thị Mai".into(),
                sex: "female",
                birth_year: 1990,
                ethnic_minority: true,
                vulnerable: 0,
                home_station_id: station,
                consent_at: t + i,
                created_at: t + i,
            });
        }
        batch.slots.push(SlotRow {
            id: 500,
            station_id: station,
            start_at: t + 86_400,
            duration_min: 60,
            capacity: 10,
            at: t,
        });
        batch.appointments.push(AppointmentRow {
            id: 700,
            slot_id: 500,
            citizen_id: 1000,
            reason: "immunisation",
            initial_status: "booked",
            status: "fulfilled",
            version: 3,
            booked_at: t + 10,
            updated_at: t + 86_500,
            rescheduled_from: None,
        });
        batch.statuses.push(StatusRow { appointment_id: 700, version: 2, status: "arrived", at: t + 86_400 });
        batch.statuses.push(StatusRow { appointment_id: 700, version: 3, status: "fulfilled", at: t + 86_500 });
        batch.calls.push(CallRow {
            id: 900,
            caller_station_id: station,
            callee_facility_id: centre,
            purpose: "teleconsult",
            started_at: t + 100,
            ended_at: Some(t + 1900),
            outcome: Some("advice_given"),
        });
        let mut tx = store.begin().await.unwrap();
        tx.bulk(&batch).await.unwrap();
        tx.commit().await.unwrap();
        store.sync_id_sequences().await.unwrap();

        let counts = store.counts().await.unwrap();
        assert_eq!((counts.accounts, counts.appointments, counts.video_calls), (3001, 1, 1), "{be}");
        let feed = store.changes(4, None, 10_000).await.unwrap();
        assert_eq!(feed.len(), 3000 + 1 + 3 + 2, "{be}: one feed row per change");
        assert!(feed.windows(2).all(|w| w[0].at <= w[1].at), "{be}: a batch's feed follows time");
        let statuses: Vec<_> = store.appointment_changes(0, 100).await.unwrap().iter().map(|c| c.status).collect();
        use AppointmentStatus::*;
        assert_eq!(statuses, vec![Booked, Arrived, Fulfilled], "{be}");

        // After a bulk load with explicit ids, ordinary inserts still get fresh ids.
        let mut tx = store.begin().await.unwrap();
        let id = tx.add_account(&account("0933333333")).await.unwrap();
        tx.commit().await.unwrap();
        assert!(id >= 4000, "{be}: new id {id} follows the bulk ids");

        let measured = store.measure(t0().date_naive() + chrono::Days::new(1), &["02".to_string()]).await.unwrap();
        assert_eq!(measured.accounts, 3001 + 1, "{be}: {measured:?}");
        assert_eq!((measured.accounts_that_booked, measured.appointments, measured.video_calls), (1, 1, 1), "{be}");
    })
    .await;
}

#[tokio::test]
async fn calls_open_upwards_and_close_once() {
    on_both_backends("calls", |store| async move {
        let be = backend_name(&store);
        seed(&store).await;
        let call = VideoCall::open(
            code("TYT02-0001"),
            FacilityLevel::CommuneStation,
            code("TTYT02-01"),
            FacilityLevel::DistrictCentre,
            CallPurpose::Teleconsult,
            t0(),
        )
        .unwrap();
        let mut tx = store.begin().await.unwrap();
        let id = tx.open_call(&call).await.unwrap();
        tx.close_call(id, t0() + Duration::minutes(25), Some(CallOutcome::ReferredUp)).await.unwrap();
        let again = tx.close_call(id, t0() + Duration::minutes(30), Some(CallOutcome::ReferredUp)).await.unwrap_err();
        assert!(matches!(again, StoreError::Domain(ref e) if e.field() == "ended_at"), "{be}: {again}");
        tx.commit().await.unwrap();

        // The store checks levels itself: a "call" from the centre down is refused.
        let lie = VideoCall { caller_station: code("TTYT02-01"), callee_facility: code("TYT02-0001"), ..call };
        let mut tx = store.begin().await.unwrap();
        let err = tx.open_call(&lie).await.unwrap_err();
        assert!(matches!(err, StoreError::Domain(ref e) if e.field() == "caller_station"), "{be}: {err}");
        tx.rollback().await.unwrap();
        let feed = store.changes(0, Some(Entity::VideoCall), 10).await.unwrap();
        assert_eq!(feed.iter().map(|c| c.version).collect::<Vec<_>>(), vec![1, 2], "{be}");
    })
    .await;
}
