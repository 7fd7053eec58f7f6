//! Rollups: every KPI served from them, or from the state tables they keep, equals the
//! raw computation (sample here, pilot in `pilot.rs`); a refresh after a late status
//! change recomputes only the old month it belongs to (and the rollup by account
//! holder, which joins two feeds, whole); a refresh with nothing new commits nothing; a refresh killed between
//! its commits is repaired by the next; and the engine falls back to the raw
//! tables while the rollups lag behind the lake.

use std::sync::Arc;

use chrono::Utc;
use homedoc::domain::{AppointmentStatus, BoundarySet};
use homedoc::kpi::{By, Catalog, Engine, KpiRequest};
use homedoc::lake::Lake;
use homedoc::rollup::{self, RefreshReport};
use homedoc::store::{SqlStore, Store};

use crate::ingest::{ingest_all, open, sample_data_dir, settings, sqlite_url, versions};

/// The scratch directory of the refreshes of a test's lake, beside it in the test's data dir.
fn scratch(lake: &Lake) -> std::path::PathBuf {
    lake.local_dir().unwrap().parent().unwrap().join("scratch")
}

/// A refresh holding at most `budget` bytes of feed changes in memory.
async fn refresh(lake: &Lake, budget: usize) -> Vec<RefreshReport> {
    let spill = rollup::Spill { dir: scratch(lake), budget };
    rollup::refresh(lake, Arc::new(Catalog::embedded().unwrap()), chrono_tz::Asia::Ho_Chi_Minh, &spill, &|_| {})
        .await
        .unwrap()
}

const DEFAULT_BUDGET: usize = rollup::Spill::DEFAULT_BUDGET;

async fn engines(lake: &Lake) -> (Engine, Engine) {
    let open = || async {
        Engine::open(lake, Arc::new(Catalog::embedded().unwrap()), chrono_tz::Asia::Ho_Chi_Minh, None).await.unwrap()
    };
    (open().await.with_rollups(false), open().await)
}

/// The requests compared: periods of every kind, every reporting unit, both boundary
/// sets and every group a KPI allows.
fn requests(engine: &Engine, id: &str, periods: &[&str]) -> Vec<KpiRequest> {
    let allowed = &engine.catalog().kpi(id).unwrap().meta.disaggregations;
    let mut out = Vec::new();
    for (i, period) in periods.iter().enumerate() {
        let base = KpiRequest::new(period.parse().unwrap());
        let boundary = if i % 2 == 0 { BoundarySet::P34 } else { BoundarySet::P63 };
        out.push(KpiRequest { by: By::Province, boundary, ..base.clone() });
        out.push(KpiRequest { by: By::Station, grain: Some(homedoc::kpi::Grain::Month), ..base.clone() });
        for g in allowed.iter().filter(|g| g.is_group()) {
            out.push(KpiRequest { group: Some(*g), ..base.clone() });
        }
    }
    out
}

/// Every KPI, raw and with the rollups fresh, row by row: those with a rollup query are
/// served from the rollup tables, the others read each entity's latest version from
/// the state tables instead of the feed. Returns the rows compared.
pub async fn assert_rollups_match(lake: &Lake, periods: &[&str]) -> usize {
    let (raw, rolled) = engines(lake).await;
    assert!(rolled.rollups_fresh(), "the rollups reflect the lake");
    let mut compared = 0;
    for (id, kpi) in &rolled.catalog().kpis {
        assert_eq!(rolled.served_from_rollups(id), kpi.rollup_sql.is_some(), "{id}");
        assert!(!raw.served_from_rollups(id), "{id}");
        for req in requests(&rolled, id, periods) {
            let a = raw.kpi(id, &req).await.unwrap().rows;
            let b = rolled.kpi(id, &req).await.unwrap().rows;
            let label = format!("{id} {} {:?} {:?} {:?}", req.period, req.by, req.boundary, req.group);
            assert_eq!(a.len(), b.len(), "{label}: row count");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((&x.period, &x.unit, &x.group), (&y.period, &y.unit, &y.group), "{label}");
                // Minutes are sums of fractions, added in another order.
                let close = |p: f64, q: f64| (p - q).abs() <= 1e-9 * p.abs().max(1.0);
                assert!(
                    close(x.numerator, y.numerator),
                    "{label} {}: raw {} rollups {}",
                    x.unit,
                    x.numerator,
                    y.numerator
                );
                assert_eq!(x.denominator, y.denominator, "{label} {}", x.unit);
                compared += 1;
            }
        }
    }
    assert!(rolled.files_read() > 0 && raw.files_read() > 0);
    compared
}

fn months(reports: &[RefreshReport], table: &str) -> Vec<String> {
    reports.iter().find(|r| r.table == table).unwrap().months.clone()
}

/// The sample's store, every pipeline run once into a lake beside it, no rollups yet.
async fn ingested_sample() -> (tempfile::TempDir, SqlStore, homedoc::ingest::Ingest) {
    let dir = sample_data_dir();
    let settings = settings(dir.path(), &sqlite_url(dir.path()));
    let store = SqlStore::connect(&settings.database_url).await.unwrap();
    let ingest = open(&settings, &store);
    ingest_all(&ingest).await;
    (dir, store, ingest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_follow_the_lake_incrementally_and_equal_the_raw_kpis() {
    let (dir, store, ingest) = ingested_sample().await;
    let lake = &ingest.lake;

    // Before any refresh the engine computes from the raw tables.
    let (_, rolled) = engines(lake).await;
    assert!(!rolled.rollups_fresh() && !rolled.served_from_rollups("appointments_booked"));

    // A small memory budget: the first build sorts most of the feed by birth month
    // through scratch files, as a national one does, and still commits once.
    let first = refresh(lake, 64 << 10).await;
    let booked = first.iter().find(|r| r.table == "appointment_daily").unwrap();
    assert!(booked.commits == 1 && booked.months.len() > 12, "{booked:?}");
    assert!(booked.spilled_rows > booked.rows_read / 2, "{booked:?}");
    let holder = first.iter().find(|r| r.table == "holder_daily").unwrap();
    assert!(holder.spilled_rows > 0 && holder.commits == 1, "{holder:?}");
    let left: Vec<_> = std::fs::read_dir(scratch(lake)).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "scratch files left: {left:?}");
    let periods = ["2024", "2025-Q3", "FY2025", "2023-03-15..2024-02-10", "2026-W27"];
    let compared = assert_rollups_match(lake, &periods).await;
    assert!(compared > 1000, "{compared} rows compared");

    // Nothing new: nothing committed.
    let before = versions(lake).await;
    let again = refresh(lake, DEFAULT_BUDGET).await;
    assert!(again.iter().all(|r| r.commits == 0), "{again:?}");
    assert_eq!(versions(lake).await, before);

    // A late change: an appointment fulfilled in 2022 entered in error today. Only the
    // month it was booked in is recomputed, and the 2022 figure drops by one.
    let may = |d: u32| {
        chrono::NaiveDate::from_ymd_opt(2022, 5, d).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
    };
    let (id,): (i64,) = sqlx::query_as(
        "SELECT id FROM appointments WHERE status = 'fulfilled' AND booked_at BETWEEN $1 AND $2 \
         AND rescheduled_from IS NULL ORDER BY id LIMIT 1",
    )
    .bind(may(10))
    .bind(may(20))
    .fetch_one(store.pool())
    .await
    .unwrap();
    let count = |e: Engine| async move {
        let req = KpiRequest::new("2022".parse().unwrap());
        e.kpi("appointments_booked", &req).await.unwrap().rows[0].numerator
    };
    let was = count(engines(lake).await.1).await;
    let mut tx = store.begin().await.unwrap();
    tx.set_status(id, AppointmentStatus::EnteredInError, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    ingest.run_job(ingest.pipeline("appointments").unwrap(), true, &indicatif::ProgressBar::hidden()).await.unwrap();
    // The lake moved on: until the refresh, KPIs come from the raw tables.
    let (_, stale) = engines(lake).await;
    assert!(!stale.rollups_fresh());
    assert_eq!(count(stale).await, was - 1.0);
    let late = refresh(lake, DEFAULT_BUDGET).await;
    assert_eq!(months(&late, "appointment_daily"), vec!["2022-05".to_string()]);
    assert!(late.iter().all(|r| r.spilled_rows == 0), "a day's changes stay in memory: {late:?}");
    // The rollup by account holder joins the appointments to the accounts: it is
    // recomputed whole, once.
    let holder = late.iter().find(|r| r.table == "holder_daily").unwrap();
    assert!(holder.commits == 1 && holder.months.len() > 12, "{holder:?}");
    let others = late.iter().filter(|r| r.table != "appointment_daily" && r.table != "holder_daily");
    assert!(others.map(|r| r.commits as u64 + r.yearly_rows).sum::<u64>() == 0, "{late:?}");
    // The yearly tables of the two that moved are recomputed from their monthly twins.
    assert!(late.iter().filter(|r| r.commits > 0).all(|r| r.yearly_rows > 0), "{late:?}");
    assert_eq!(count(engines(lake).await.1).await, was - 1.0);
    assert_rollups_match(lake, &["2022", "2022-05"]).await;
    // The monthly tables were rewritten whole, each still one file.
    for r in rollup::ROLLUPS {
        assert_eq!(files(lake, r.monthly).await, 1, "{}", r.monthly.name);
    }

    // A new drop file: only its month is recomputed.
    std::fs::write(
        dir.path().join("drops/telemedicine/sessions_2026-01.csv"),
        "session_id,hub_code,spoke_code,started_at,duration_min,specialty,cases_discussed\n\
         TN000001,BVTW-BACHMAI,BVDK02,2026-01-05 09:00,45,Nhi khoa,2\n\
         TN000002,BVTW-BACHMAI,BVDK02,2026-01-06 09:00,30,Nhi khoa,1\n",
    )
    .unwrap();
    ingest.run_job(ingest.pipeline("telemedicine").unwrap(), true, &indicatif::ProgressBar::hidden()).await.unwrap();
    let drop = refresh(lake, DEFAULT_BUDGET).await;
    assert_eq!(months(&drop, "telemedicine_daily"), vec!["2026-01".to_string()]);
    assert_rollups_match(lake, &["2026-01"]).await;
    store.close().await;
}

#[test]
fn a_refresh_killed_between_its_commits_is_repaired_by_the_next() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = sample_data_dir();
    let cmd = |failpoint: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_homedoc"));
        c.arg("--data-dir").arg(dir.path()).args(["lake", "rollup", "--quiet"]);
        for v in ["HOMEDOC_DATABASE_URL", "HOMEDOC_LAKE", "HOMEDOC_PIPELINES_DIR", "HOMEDOC_REFERENCE_DIR"] {
            c.env_remove(v);
        }
        c.env("HOMEDOC_FAILPOINT", failpoint.unwrap_or(""));
        c
    };
    let (ok, _, err) = crate::cli::homedoc(dir.path(), &["ingest", "--quiet", "--no-rollups"]);
    assert!(ok, "{err}");
    // Killed three times at each stage: each run commits the first state table again
    // and dies before its daily rollup, or commits that too and dies before the
    // monthly one, or commits that too and dies before the yearly one.
    use homedoc::ingest::failpoint::{ROLLUP_BEFORE_MONTHLY, ROLLUP_BEFORE_YEARLY, ROLLUP_BETWEEN_TABLES};
    for stage in [
        ROLLUP_BETWEEN_TABLES,
        ROLLUP_BETWEEN_TABLES,
        ROLLUP_BETWEEN_TABLES,
        ROLLUP_BEFORE_MONTHLY,
        ROLLUP_BEFORE_MONTHLY,
        ROLLUP_BEFORE_MONTHLY,
        ROLLUP_BEFORE_YEARLY,
        ROLLUP_BEFORE_YEARLY,
        ROLLUP_BEFORE_YEARLY,
    ] {
        let mut child = cmd(Some(stage)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let reached = BufReader::new(stderr).lines().map_while(Result::ok).any(|l| l.contains("failpoint"));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(reached, "the refresh reached the fail point");
    }
    let out = cmd(None).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settings = settings(dir.path(), &sqlite_url(dir.path()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let lake = Lake::new(&settings.lake).unwrap();
        assert_rollups_match(&lake, &["2024", "2025-Q3"]).await;
    });
}

#[test]
fn rollup_tables_are_not_pipeline_targets() {
    let d = homedoc::lake::schema::table("appointment_daily").unwrap();
    assert!(d.kind.internal());
    assert_eq!(rollup::ROLLUPS.len(), 6);
    assert!(rollup::ROLLUPS.iter().all(|r| r.table.partition == Some("month")));
    assert!(rollup::ROLLUPS.iter().all(|r| r.monthly.partition.is_none() && r.monthly.kind.internal()));
    assert!(rollup::ROLLUPS.iter().all(|r| r.yearly.partition.is_none() && r.yearly.kind.internal()));
}

/// The data files a table's current version holds.
async fn files(lake: &Lake, def: &homedoc::lake::schema::TableDef) -> usize {
    let table = lake.open_existing(def).await.unwrap().unwrap();
    table.snapshot().unwrap().log_data().into_iter().count()
}

/// A lake whose monthly tables an older release partitioned by month: the next
/// refresh moves each to one file, in one commit, with the same figures, and the
/// versions before the move still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_tables_partitioned_by_an_older_release_are_moved_to_one_file() {
    use homedoc::lake::Appender;
    use homedoc::lake::schema::TableDef;
    let (_dir, store, ingest) = ingested_sample().await;
    let lake = &ingest.lake;
    refresh(lake, DEFAULT_BUDGET).await;
    let mut old = Vec::new();
    for r in rollup::ROLLUPS {
        assert_eq!(files(lake, r.monthly).await, 1, "{}", r.monthly.name);
        // The layout of the older release, written with this one's writer.
        let by_month = TableDef { partition: Some("month"), ..*r.monthly };
        let mut table = lake.open(r.monthly).await.unwrap();
        let rows = lake.scan_all(r.monthly, &table).await.unwrap();
        let mut writer = Appender::new(&by_month, &table).unwrap();
        for b in &rows {
            writer.write(b.clone()).await.unwrap();
        }
        let adds = writer.finish().await.unwrap();
        let version = lake.commit_replace(&by_month, &mut table, adds, vec![], Default::default()).await.unwrap();
        assert!(!lake.layout_current(r.monthly, &table).unwrap());
        assert!(files(lake, r.monthly).await > 12, "{}", r.monthly.name);
        old.push((r.monthly, version, rows.iter().map(|b| b.num_rows()).sum::<usize>()));
    }
    let (_, rolled) = engines(lake).await;
    assert!(rolled.rollups_fresh(), "the layout does not change what the tables reflect");

    let moved = refresh(lake, DEFAULT_BUDGET).await;
    assert!(moved.iter().all(|r| r.commits == 1), "{moved:?}");
    for (def, version, rows) in old {
        assert_eq!(files(lake, def).await, 1, "{}", def.name);
        let now = lake.open_existing(def).await.unwrap().unwrap();
        assert!(lake.layout_current(def, &now).unwrap());
        assert_eq!(now.version(), Some(version + 1), "{}: moved in one commit", def.name);
        let mut then = now.clone();
        then.load_version(version).await.unwrap();
        let read = lake.scan_all(def, &then).await.unwrap();
        assert_eq!(read.iter().map(|b| b.num_rows()).sum::<usize>(), rows, "{} as of {version}", def.name);
        let read = lake.scan_all(def, &now).await.unwrap();
        assert_eq!(read.iter().map(|b| b.num_rows()).sum::<usize>(), rows, "{} now", def.name);
    }
    assert_rollups_match(lake, &["2024", "2025-Q3", "2023-03-15..2024-02-10"]).await;
    // Moved: the next refresh has nothing to do.
    assert!(refresh(lake, DEFAULT_BUDGET).await.iter().all(|r| r.commits == 0));
    store.close().await;
}
