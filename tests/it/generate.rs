//! The simulator at sample scale: complete, consistent, deterministic, the same on
//! both backends, and equal to the copy committed under data-samples/.

use std::collections::BTreeSet;
use std::path::Path;

use homedoc::generate::{self, GroundTruth, Options, Scale};
use homedoc::reference::Reference;
use homedoc::store::{Durability, SqlStore, Store};
use sqlx::Row;

use crate::support::PgDatabase;

const TABLES: [&str; 8] = [
    "facilities",
    "health_workers",
    "accounts",
    "slots",
    "appointments",
    "appointment_history",
    "video_calls",
    "change_feed",
];

fn sample() -> Options {
    Options { scale: Scale::Sample, seed: 7, until: Options::default_until() }
}

async fn run(url: &str, dir: &Path, opts: &Options) -> (SqlStore, generate::Outcome) {
    let store = SqlStore::connect_with(url, Durability::BulkLoad).await.unwrap();
    let reference = Reference::embedded().unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let outcome = generate::generate(&store, &reference, opts, dir, &bar).await.unwrap();
    (store, outcome)
}

/// A digest of every row of every table, in key order, through the store's own pool,
/// so it compares the logical content of SQLite and PostgreSQL stores alike.
async fn digest(store: &SqlStore) -> Vec<(String, usize, u64)> {
    use std::hash::{Hash, Hasher};
    let mut out = Vec::new();
    for table in TABLES {
        let columns_sql = if store.backend() == homedoc::store::Backend::Sqlite {
            format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
        } else {
            format!(
                "SELECT column_name::TEXT FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
            )
        };
        let cols: Vec<String> = sqlx::query_scalar(&columns_sql).fetch_all(store.pool()).await.unwrap();
        let expr =
            cols.iter().map(|c| format!("COALESCE(CAST({c} AS TEXT), '~')")).collect::<Vec<_>>().join(" || '|' || ");
        let rows =
            sqlx::query(&format!("SELECT {expr} FROM {table} ORDER BY 1")).fetch_all(store.pool()).await.unwrap();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut texts: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        texts.sort();
        texts.hash(&mut h);
        out.push((table.to_string(), texts.len(), h.finish()));
    }
    out
}

/// The published indicators measured over a store and its drops.
async fn measured(store: &SqlStore, dir: &Path) -> Vec<f64> {
    let reference = Reference::embedded().unwrap();
    let figures = generate::measure::figures(store, &reference, &dir.join(generate::DROPS_DIR)).await.unwrap();
    assert_eq!(figures.len(), reference.published.len());
    figures.iter().map(|f| f.measured).collect()
}

async fn scalar(store: &SqlStore, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool()).await.unwrap()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("homedoc.db").display())
}

#[tokio::test]
async fn a_sample_history_is_complete_and_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let (store, outcome) = run(&sqlite_url(dir.path()), dir.path(), &sample()).await;
    let c = &outcome.counts;
    assert!(c.facilities > 60 && c.accounts > 1000 && c.appointments > 100 && c.video_calls > 10, "{c:?}");

    // About 60 stations in 3 provinces, each in a province of both boundary sets.
    let stations: Vec<(String, String)> =
        sqlx::query("SELECT province_63, province_34 FROM facilities WHERE level = 'commune_station'")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    assert_eq!(stations.len(), 60);
    let olds: BTreeSet<&str> = stations.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(olds, BTreeSet::from(["02", "06", "20"]));
    // Hà Giang is in Tuyên Quang (08) now, Bắc Kạn in Thái Nguyên (19); Lạng Sơn stayed.
    let crosswalk: BTreeSet<(&str, &str)> = stations.iter().map(|(o, n)| (o.as_str(), n.as_str())).collect();
    assert_eq!(crosswalk, BTreeSet::from([("02", "08"), ("06", "19"), ("20", "20")]));

    // One slot per station and start, each booked at most once by a citizen.
    let twin_slots =
        "SELECT COUNT(*) FROM (SELECT station_id, start_at FROM slots GROUP BY 1, 2 HAVING COUNT(*) > 1) t";
    assert_eq!(scalar(&store, twin_slots).await, 0);
    let twice =
        "SELECT COUNT(*) FROM (SELECT slot_id, citizen_id FROM appointments GROUP BY 1, 2 HAVING COUNT(*) > 1) t";
    assert_eq!(scalar(&store, twice).await, 0);

    // Every version of every appointment is in the history and in the feed, once.
    let history = scalar(&store, "SELECT COUNT(*) FROM appointment_history").await;
    let versions = scalar(&store, "SELECT SUM(version) FROM appointments").await;
    let feed = scalar(&store, "SELECT COUNT(*) FROM change_feed WHERE entity = 'appointment'").await;
    assert_eq!((history, feed), (versions, versions));
    let changes = store.appointment_changes(0, u32::MAX).await.unwrap();
    assert_eq!(changes.len() as i64, versions);
    // Statuses arrive in version order for each appointment, and follow the lifecycle.
    let mut last: std::collections::HashMap<i64, (i64, homedoc::domain::AppointmentStatus)> = Default::default();
    for ch in &changes {
        if let Some((v, prev)) = last.get(&ch.appointment_id) {
            assert_eq!(ch.version, v + 1);
            assert!(prev.can_become(ch.status), "{prev} -> {}", ch.status);
        } else {
            assert_eq!(ch.version, 1);
        }
        last.insert(ch.appointment_id, (ch.version, ch.status));
    }
    // No slot holds more than its capacity, and no booking precedes its account.
    let over = scalar(&store,
        "SELECT COUNT(*) FROM (SELECT s.id FROM slots s JOIN appointments a ON a.slot_id = s.id \
         WHERE a.status IN ('booked', 'arrived', 'fulfilled', 'noshow') GROUP BY s.id, s.capacity HAVING COUNT(*) > s.capacity) x",
    )
    .await;
    assert_eq!(over, 0);
    let early = scalar(
        &store,
        "SELECT COUNT(*) FROM appointments a JOIN accounts c ON c.id = a.citizen_id WHERE a.booked_at < c.created_at",
    )
    .await;
    assert_eq!(early, 0);
    let reschedules = scalar(&store, "SELECT COUNT(*) FROM appointments WHERE rescheduled_from IS NOT NULL").await;
    assert!(reschedules > 0);

    // The ground truth names existing stations, and the drops hold what it says.
    let truth: GroundTruth = serde_json::from_slice(&std::fs::read(&outcome.ground_truth).unwrap()).unwrap();
    let codes: BTreeSet<String> =
        sqlx::query_scalar("SELECT code FROM facilities").fetch_all(store.pool()).await.unwrap().into_iter().collect();
    assert!(truth.low_uptake.iter().all(|l| codes.contains(&l.station)));
    assert!(!truth.evaluated_stations.is_empty());
    let training = &truth.drops["training"];
    let lines: usize = std::fs::read_dir(outcome.drops.join("training"))
        .unwrap()
        .map(|f| std::fs::read(f.unwrap().path()).unwrap().split(|b| *b == b'\n').filter(|l| !l.is_empty()).count())
        .sum();
    let malformed: u64 = training["malformed"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(lines as u64, training["valid_rows"].as_u64().unwrap() + malformed);
    store.close().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_history_on_both_backends() {
    let a = tempfile::tempdir().unwrap();
    let (store_a, _) = run(&sqlite_url(a.path()), a.path(), &sample()).await;
    let first = digest(&store_a).await;
    let figures_a = measured(&store_a, a.path()).await;
    assert!(figures_a.iter().any(|v| *v > 0.0));
    store_a.close().await;

    let b = tempfile::tempdir().unwrap();
    let (store_b, _) = run(&sqlite_url(b.path()), b.path(), &sample()).await;
    assert_eq!(digest(&store_b).await, first, "same seed, same rows");
    store_b.close().await;
    for file in ["drops/training/attendance_2022-12.jsonl", "ground_truth.json"] {
        assert_eq!(std::fs::read(a.path().join(file)).unwrap(), std::fs::read(b.path().join(file)).unwrap(), "{file}");
    }

    let c = tempfile::tempdir().unwrap();
    let (store_c, _) = run(&sqlite_url(c.path()), c.path(), &Options { seed: 8, ..sample() }).await;
    assert_ne!(digest(&store_c).await, first, "another seed, another history");
    store_c.close().await;

    if let Some(pg) = PgDatabase::create("generate").await {
        let d = tempfile::tempdir().unwrap();
        let (store_pg, _) = run(&pg.url, d.path(), &sample()).await;
        assert_eq!(digest(&store_pg).await, first, "PostgreSQL holds the same rows as SQLite");
        assert_eq!(measured(&store_pg, d.path()).await, figures_a, "the same figures measured on both");
        store_pg.close().await;
    } else {
        use std::io::Write;
        std::io::stderr().write_all(b"SKIPPED on PostgreSQL: generate (set HOMEDOC_TEST_POSTGRES_URL)\n").ok();
    }
}

#[tokio::test]
async fn the_committed_sample_is_what_the_simulator_makes() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/sample");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(committed.join("generator.json")).unwrap()).unwrap();
    let opts = Options {
        scale: Scale::Sample,
        seed: meta["seed"].as_u64().unwrap(),
        until: meta["until"].as_str().unwrap().parse().unwrap(),
    };
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(committed.join("homedoc.db"), copy.path().join("homedoc.db")).unwrap();
    let store = SqlStore::connect(&sqlite_url(copy.path())).await.unwrap();
    let expected = digest(&store).await;
    store.close().await;

    let fresh = tempfile::tempdir().unwrap();
    let (store, _) = run(&sqlite_url(fresh.path()), fresh.path(), &opts).await;
    assert_eq!(
        digest(&store).await,
        expected,
        "regenerate with: homedoc generate --scale sample --seed {} (see data-samples/README.md)",
        opts.seed
    );
    store.close().await;
    let truth = |dir: &Path| std::fs::read_to_string(dir.join("ground_truth.json")).unwrap();
    assert_eq!(truth(fresh.path()), truth(&committed));
}

#[tokio::test]
async fn generating_into_a_store_with_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { until: "2021-03-31".parse().unwrap(), ..sample() };
    let (store, outcome) = run(&sqlite_url(dir.path()), dir.path(), &opts).await;
    assert!(outcome.counts.accounts > 0);
    let reference = Reference::embedded().unwrap();
    let err =
        generate::generate(&store, &reference, &opts, dir.path(), &indicatif::ProgressBar::hidden()).await.unwrap_err();
    assert!(matches!(err, generate::GenerateError::NotEmpty(_)), "{err}");
    // Nothing happens after the end date.
    let last: i64 = sqlx::query_scalar("SELECT MAX(at) FROM change_feed").fetch_one(store.pool()).await.unwrap();
    assert!(
        last < chrono::NaiveDate::from_ymd_opt(2021, 4, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
    );
}
