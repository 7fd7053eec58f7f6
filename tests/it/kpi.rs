//! The KPI engine over a lake ingested from the committed sample: the `sql/` folder
//! against the built-in list, KPIs cross-checked with SQL over the operational store
//! and a strict read of the training drops, periods and boundary sets that add up,
//! snapshots, requests that are refused, and the `query` and `kpi` commands.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use homedoc::config::Settings;
use homedoc::domain::BoundarySet;
use homedoc::kpi::{By, Catalog, Disaggregation, Engine, Grain, KpiRequest, KpiResult, Period, Snapshot};
use homedoc::lake::Lake;
use homedoc::store::{SqlStore, Store};

use crate::ingest::{copy_tree, ingest_all, open, repo, settings, sqlite_url};

/// The committed sample, ingested once for every test of this module.
pub struct Sample {
    pub dir: PathBuf,
    pub settings: Settings,
}

/// A scratch folder for this run of the tests, `PREFIX-PID` under the build's scratch
/// space; the folders of earlier runs (whose process is gone) are removed first.
pub fn scratch(prefix: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let dir = root.join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = scratch("kpi-sample");
        copy_tree(&repo().join("data-samples/sample"), &dir);
        let settings = settings(&dir, &sqlite_url(&dir));
        let s = settings.clone();
        // Ingestion needs a runtime of its own: tests run on theirs.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let store = SqlStore::connect(&s.database_url).await.unwrap();
                ingest_all(&open(&s, &store)).await;
                store.close().await;
            })
        })
        .join()
        .expect("the sample ingests");
        Sample { dir, settings }
    })
}

async fn engine(as_of: Option<&Snapshot>) -> Engine {
    let s = sample();
    let lake = Lake::new(&s.settings.lake).unwrap();
    Engine::open(&lake, Arc::new(Catalog::embedded().unwrap()), s.settings.timezone, as_of).await.unwrap()
}

fn request(period: &str, by: By, boundary: BoundarySet) -> KpiRequest {
    KpiRequest { by, boundary, ..KpiRequest::new(period.parse().unwrap()) }
}

fn by_unit(r: &KpiResult) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for row in &r.rows {
        *out.entry(row.unit.clone()).or_default() += row.numerator;
    }
    out
}

fn total(r: &KpiResult) -> f64 {
    r.rows.iter().map(|x| x.numerator).sum()
}

#[test]
fn the_sql_folder_is_the_built_in_catalog() {
    let names = |sub: &str| -> BTreeSet<String> {
        std::fs::read_dir(repo().join("sql").join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let built_in = homedoc::kpi::catalog::built_in_names();
    for (folder, files) in &built_in {
        assert_eq!(names(folder), files.iter().map(|s| s.to_string()).collect(), "sql/{folder}");
    }
    let from_dir = Catalog::load(Some(&repo().join("sql"))).unwrap();
    assert_eq!(from_dir.kpis.len(), built_in[1].1.len());
    assert_eq!(from_dir.kpis.values().filter(|k| k.rollup_sql.is_some()).count(), built_in[3].1.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn kpis_agree_with_sql_over_the_store() {
    let s = sample();
    let engine = engine(None).await;
    let store = SqlStore::connect(&s.settings.database_url).await.unwrap();
    for as_of in ["2022-12-31", "2024-06-30", "2026-10-31"] {
        let period = format!("2019-01-01..{as_of}");
        let mut lake: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
        for id in ["accounts_registered", "accounts_that_booked", "appointments_booked", "video_calls"] {
            let r = engine.kpi(id, &request(&period, By::Province, BoundarySet::P63)).await.unwrap();
            lake.insert(id, by_unit(&r));
        }
        let provinces: Vec<String> = lake["accounts_registered"].keys().cloned().collect();
        assert!(provinces.len() >= 3, "{provinces:?}");
        for p in &provinces {
            let m = store.measure(as_of.parse().unwrap(), std::slice::from_ref(p)).await.unwrap();
            let got = |id: &str| lake[id].get(p).copied().unwrap_or(0.0) as i64;
            assert_eq!(got("accounts_registered"), m.accounts, "{as_of} {p} accounts");
            assert_eq!(
                got("accounts_that_booked"),
                booked_without_errors(&store, as_of, p).await,
                "{as_of} {p} accounts that booked"
            );
            assert_eq!(got("appointments_booked"), m.appointments, "{as_of} {p} appointments");
            assert_eq!(got("video_calls"), m.video_calls, "{as_of} {p} video calls");
        }
        assert!(lake["appointments_booked"].values().sum::<f64>() > 0.0 || as_of < "2021");
    }
    store.close().await;
}

/// Accounts that booked, as the KPI defines them: an appointment entered in error is
/// not a booking (the store's own measure counts it, as the published results do).
async fn booked_without_errors(store: &SqlStore, as_of: &str, province_63: &str) -> i64 {
    let end =
        chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").unwrap().succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap();
    // Local midnight at UTC+7.
    let end = end.and_utc().timestamp() - 7 * 3600;
    sqlx::query_scalar(
        "SELECT COUNT(DISTINCT ap.citizen_id) FROM appointments ap \
         JOIN accounts a ON a.id = ap.citizen_id JOIN facilities f ON f.id = a.home_station_id \
         WHERE ap.booked_at < $1 AND a.created_at < $1 AND ap.status <> 'entered-in-error' AND f.province_63 = $2",
    )
    .bind(end)
    .bind(province_63)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn training_kpis_agree_with_a_strict_read_of_the_drops() {
    use sqlx::Row;
    let s = sample();
    let store = SqlStore::connect(&s.settings.database_url).await.unwrap();
    let facilities: HashMap<String, String> = sqlx::query("SELECT code, province_63 FROM facilities")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let workers: HashMap<String, String> =
        sqlx::query("SELECT w.staff_code, f.code FROM health_workers w JOIN facilities f ON f.id = w.facility_id")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    store.close().await;
    let done = homedoc::generate::measure::completions(&s.dir.join("drops"), &facilities, &workers).unwrap();
    assert!(!done.is_empty());
    let engine = engine(None).await;
    for period in ["2022", "2024-07-01..2025-06-30", "2019-01-01..2026-10-31"] {
        let p: Period = period.parse().unwrap();
        let rows: Vec<_> = done.iter().filter(|r| p.contains(r.3)).collect();
        for (id, expected) in [
            ("health_workers_trained", rows.iter().map(|r| &r.0).collect::<BTreeSet<_>>().len()),
            ("facilities_with_trained_worker", rows.iter().map(|r| &r.1).collect::<BTreeSet<_>>().len()),
            ("course_completions", rows.len()),
        ] {
            let r = engine.kpi(id, &request(period, By::National, BoundarySet::P34)).await.unwrap();
            assert_eq!(r.rows.len(), 1);
            assert_eq!(r.rows[0].numerator as usize, expected, "{id} {period}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn series_and_boundary_sets_add_up() {
    let engine = engine(None).await;
    let year = engine.kpi("appointments_booked", &request("2025", By::National, BoundarySet::P34)).await.unwrap();
    assert!(total(&year) > 0.0);
    for grain in [Grain::Month, Grain::Quarter, Grain::Week, Grain::Day] {
        let req = KpiRequest { grain: Some(grain), ..request("2025", By::National, BoundarySet::P34) };
        let series = engine.kpi("appointments_booked", &req).await.unwrap();
        let periods: BTreeSet<&str> = series.rows.iter().map(|r| r.period.as_str()).collect();
        // Every period of the series is there, with zeros where nothing happened.
        assert_eq!(periods.len(), "2025".parse::<Period>().unwrap().split(grain).len(), "{grain}");
        assert_eq!(total(&series), total(&year), "{grain}");
    }
    let fy = engine.kpi("appointments_booked", &request("FY2025", By::National, BoundarySet::P34)).await.unwrap();
    let months =
        KpiRequest { grain: Some(Grain::Month), ..request("2024-10-01..2025-09-30", By::National, BoundarySet::P34) };
    assert_eq!(total(&fy), total(&engine.kpi("appointments_booked", &months).await.unwrap()));

    // The same figures under either boundary set, and a 34-set province is the sum
    // of the old provinces merged into it.
    let p34 =
        by_unit(&engine.kpi("accounts_registered", &request("2025", By::Province, BoundarySet::P34)).await.unwrap());
    let p63 =
        by_unit(&engine.kpi("accounts_registered", &request("2025", By::Province, BoundarySet::P63)).await.unwrap());
    assert_eq!(p34.values().sum::<f64>(), p63.values().sum::<f64>());
    let reference = homedoc::reference::Reference::embedded().unwrap();
    for (code, value) in &p34 {
        let merged: f64 = reference
            .provinces_63
            .iter()
            .filter(|p| reference.crosswalk.new_of(p.key.code).is_some_and(|n| n.to_string() == *code))
            .map(|p| p63.get(&p.key.code.to_string()).copied().unwrap_or(0.0))
            .sum();
        assert_eq!(*value, merged, "province {code} (34) = the old provinces merged into it");
        let scoped = KpiRequest { province: Some(code.clone()), ..request("2025", By::Station, BoundarySet::P34) };
        let stations = engine.kpi("accounts_registered", &scoped).await.unwrap();
        assert_eq!(total(&stations), *value, "its stations add up to province {code}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_periods_in_one_query_give_each_period_its_own_figures() {
    // The targets ask one query for ranges that share a start and overlap: each must
    // come out as if asked alone, for a flow, a distinct count, a to-date figure and
    // a ratio, from the rollups and from the raw tables.
    let periods: Vec<Period> = ["2024-07-02..2026-10-31", "2024-07-02..2026-09-30", "2026-08", "2026-Q3", "2025"]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    for rollups in [true, false] {
        let engine = engine(None).await.with_rollups(rollups);
        for id in [
            "appointments_booked",
            "health_workers_trained",
            "accounts_registered_cumulative",
            "accounts_that_booked",
            "no_show_rate",
            "live_station_activity_share",
        ] {
            let req = request("2025", By::Province, BoundarySet::P63);
            let together = engine.kpi_over(id, &req, &periods).await.unwrap();
            for p in &periods {
                let alone = engine.kpi(id, &KpiRequest { period: p.clone(), ..req.clone() }).await.unwrap();
                let label = p.to_string();
                let mine: Vec<_> = together.rows.iter().filter(|r| r.period == label).cloned().collect();
                assert_eq!(mine, alone.rows, "{id} {label} (rollups {rollups})");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kpis_asked_together_give_what_each_gives_alone() {
    // A page asks several KPIs, or one KPI by several groups, in one plan: each must
    // come out as if asked alone (flows, distinct counts and ratios mixed, whole
    // numbers and minutes), from the rollups and from the raw tables.
    let periods: Vec<Period> = ["2026-08", "2026-Q3", "2025"].iter().map(|p| p.parse().unwrap()).collect();
    let ids = ["appointments_booked", "health_workers_trained", "no_show_rate", "video_call_minutes"];
    let groups = [Disaggregation::Sex, Disaggregation::AgeBand, Disaggregation::EthnicMinority];
    for rollups in [true, false] {
        let engine = engine(None).await.with_rollups(rollups);
        let req = request("2025", By::Province, BoundarySet::P34);
        let together = engine.kpis_over(&ids, &req, &periods).await.unwrap();
        assert_eq!(together.len(), ids.len());
        for (id, t) in ids.iter().zip(&together) {
            let alone = engine.kpi_over(id, &req, &periods).await.unwrap();
            assert!(total(&alone) > 0.0, "{id}");
            assert_eq!(t.id, *id);
            assert_eq!(t.rows, alone.rows, "{id} (rollups {rollups})");
        }
        let national = request("2026-Q3", By::National, BoundarySet::P34);
        let by_groups = engine.kpi_by_groups("bookings_per_1000_accounts", &national, &groups).await.unwrap();
        assert_eq!(by_groups.len(), groups.len());
        for (g, t) in groups.iter().zip(&by_groups) {
            let req = KpiRequest { group: Some(*g), ..national.clone() };
            let alone = engine.kpi("bookings_per_1000_accounts", &req).await.unwrap();
            assert!(alone.rows.len() > 1, "{g:?}");
            assert_eq!(t.rows, alone.rows, "{g:?} (rollups {rollups})");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kpis_marked_additive_add_up_over_adjacent_periods() {
    // Targets sum an additive KPI over disjoint pieces of their windows, so the mark
    // must hold, by province, from the rollups and from the raw tables.
    let pieces: Vec<Period> =
        ["2024-07-02..2025-03-14", "2025-03-15..2026-10-31"].iter().map(|p| p.parse().unwrap()).collect();
    let whole: Period = "2024-07-02..2026-10-31".parse().unwrap();
    for rollups in [true, false] {
        let engine = engine(None).await.with_rollups(rollups);
        let marked: Vec<String> =
            engine.catalog().kpis.values().filter(|k| k.meta.additive).map(|k| k.id.clone()).collect();
        assert_eq!(marked.len(), 7, "{marked:?}");
        for id in &marked {
            let req = request("2025", By::Province, BoundarySet::P63);
            let parts = engine.kpi_over(id, &req, &pieces).await.unwrap();
            let all = engine.kpi_over(id, &req, std::slice::from_ref(&whole)).await.unwrap();
            assert!(total(&all) > 0.0, "{id}");
            assert_eq!(by_unit(&parts), by_unit(&all), "{id} (rollups {rollups})");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ratios_and_groups_are_made_from_their_parts() {
    let engine = engine(None).await;
    let req = request("2026-Q3", By::Province, BoundarySet::P34);
    let booked = by_unit(&engine.kpi("accounts_that_booked", &req).await.unwrap());
    let registered = by_unit(&engine.kpi("accounts_registered_cumulative", &req).await.unwrap());
    let rate = engine.kpi("booking_conversion_rate", &req).await.unwrap();
    assert!(!rate.rows.is_empty());
    for row in &rate.rows {
        assert_eq!(row.numerator, booked[&row.unit]);
        assert_eq!(row.denominator, Some(registered[&row.unit]));
        if registered[&row.unit] == 0.0 {
            // A province with hospitals only: no accounts, no rate.
            assert_eq!(row.value, None);
            continue;
        }
        let expected = 100.0 * booked[&row.unit] / registered[&row.unit];
        assert!((row.value.unwrap() - expected).abs() < 1e-9);
    }
    // By sex, the groups add up to the whole, and no one is left in "unknown".
    let whole = engine.kpi("appointments_booked", &request("2026", By::National, BoundarySet::P34)).await.unwrap();
    let by_sex = KpiRequest { group: Some(Disaggregation::Sex), ..request("2026", By::National, BoundarySet::P34) };
    let parts = engine.kpi("appointments_booked", &by_sex).await.unwrap();
    let groups: BTreeSet<&str> = parts.rows.iter().map(|r| r.group.as_str()).collect();
    assert!(groups.contains("female") && groups.contains("male") && !groups.contains("all"), "{groups:?}");
    assert_eq!(total(&parts), total(&whole));
    // Calls by purpose: teleconsults among them.
    let by_purpose =
        KpiRequest { group: Some(Disaggregation::Purpose), ..request("2026", By::National, BoundarySet::P34) };
    let calls = engine.kpi("video_calls", &by_purpose).await.unwrap();
    assert!(calls.rows.iter().any(|r| r.group == "teleconsult" && r.numerator > 0.0));
    // Equity: bookings per 1,000 accounts for each age band of account holders (who
    // are adults: an account needs a phone of one's own).
    let by_age = KpiRequest { group: Some(Disaggregation::AgeBand), ..request("2026", By::National, BoundarySet::P34) };
    let equity = engine.kpi("bookings_per_1000_accounts", &by_age).await.unwrap();
    assert!(equity.rows.len() >= 4 && equity.rows.iter().all(|r| r.value.is_some()), "{:?}", equity.rows);
    // Shares stay within 0..100.
    for id in ["live_station_activity_share", "no_show_rate", "cancellation_rate", "teleconsults_resolved_share"] {
        let r = engine.kpi(id, &request("2026-Q2", By::Province, BoundarySet::P34)).await.unwrap();
        assert!(r.rows.iter().any(|x| x.value.is_some()), "{id}");
        assert!(r.rows.iter().filter_map(|x| x.value).all(|v| (0.0..=100.0).contains(&v)), "{id}: {:?}", r.rows);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_reads_the_lake_as_it_was() {
    let now = engine(None).await;
    let snapshot = now.snapshot().clone();
    assert!(snapshot.0.contains_key("appointments") && snapshot.0.contains_key("facilities"), "{snapshot}");
    let req = request("2024", By::Province, BoundarySet::P34);
    let a = now.kpi("appointments_booked", &req).await.unwrap();
    let again = engine(Some(&snapshot)).await.kpi("appointments_booked", &req).await.unwrap();
    assert_eq!(a.rows, again.rows);
    assert_eq!(again.snapshot, snapshot);
    // Before the appointments table existed, there were no appointments.
    let mut earlier = snapshot.clone();
    earlier.0.remove("appointments");
    let none = engine(Some(&earlier)).await.kpi("appointments_booked", &req).await.unwrap();
    assert_eq!(total(&none), 0.0);
    assert_eq!(none.rows.len(), a.rows.len(), "the same provinces, with zeros");
    // A version the table never had is an error, not an empty answer.
    let mut bad = snapshot.clone();
    bad.0.insert("accounts".into(), 999);
    let lake = Lake::new(&sample().settings.lake).unwrap();
    let e = Engine::open(&lake, Arc::new(Catalog::embedded().unwrap()), sample().settings.timezone, Some(&bad))
        .await
        .err()
        .expect("no version 999");
    assert!(e.to_string().contains("accounts has no version 999"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_say_what_is_wrong() {
    let engine = engine(None).await;
    let national = request("2025", By::National, BoundarySet::P34);
    let e = engine.kpi("no_such_kpi", &national).await.unwrap_err().to_string();
    assert!(e.contains("no KPI \"no_such_kpi\"") && e.contains("appointments_booked"), "{e}");
    let by_sex = KpiRequest { group: Some(Disaggregation::Sex), ..national.clone() };
    let e = engine.kpi("telemedicine_sessions", &by_sex).await.unwrap_err().to_string();
    assert!(e.contains("cannot be broken down by sex"), "{e}");
    let scoped = KpiRequest { province: Some("99".into()), ..national.clone() };
    let e = engine.kpi("video_calls", &scoped).await.unwrap_err().to_string();
    assert!(e.contains("\"99\" is not a province code of the 34 set"), "{e}");
    // Analysts' SQL only reads.
    for sql in ["CREATE TABLE t AS SELECT 1", "INSERT INTO accounts SELECT * FROM accounts", "DROP VIEW stations"] {
        assert!(engine.query(sql).await.is_err(), "{sql} was allowed");
    }
}

#[test]
fn query_and_kpi_commands_write_csv_and_json() {
    use crate::cli::homedoc_with;
    let s = sample();
    let env = [("HOMEDOC_DATABASE_URL", s.settings.database_url.as_str())];
    let (ok, out, err) = homedoc_with(
        &s.dir,
        &[
            "query",
            "SELECT status, count(*) AS n FROM appointment_current GROUP BY status ORDER BY status",
            "--format",
            "json",
        ],
        &env,
    );
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(rows.iter().any(|r| r["status"] == "fulfilled" && r["n"].as_i64().unwrap() > 0), "{out}");

    let (ok, out, err) = homedoc_with(
        &s.dir,
        &["kpi", "video_calls", "--period", "2025", "--grain", "quarter", "--by", "province", "--boundary", "63"],
        &env,
    );
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("kpi,period,unit,unit_name,group,numerator,denominator,value"));
    assert!(lines.clone().count() >= 4 * 3, "{out}");
    assert!(lines.all(|l| l.starts_with("video_calls,2025-Q")), "{out}");
    assert!(err.contains("snapshot: ") && err.contains("video_calls@"), "{err}");

    let (ok, _, err) = homedoc_with(&s.dir, &["kpi", "video_calls", "--period", "2025-13"], &env);
    assert!(!ok && err.contains("month 13 does not exist"), "{err}");
}

#[test]
fn check_plans_every_view_and_kpi_and_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["drops/telemedicine", "drops/training"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let (ok, out, err) = crate::cli::homedoc(dir.path(), &["check"]);
    assert!(ok, "{err}");
    assert!(out.contains("sql (built-in): ok: 7 views, 18 KPIs planned"), "{out}");

    let sql = dir.path().join("sql");
    copy_tree(&repo().join("sql"), &sql);
    let edit = |file: &str, from: &str, to: &str| {
        let path = sql.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    };
    edit("kpi/video_calls.sql", "unit = \"count\"", "unit = \"calls\"");
    edit("kpi/no_show_rate.sql", "ap.slot_day", "ap.slot_date");
    edit("kpi/course_completions.sql", "NULL AS denominator", "NULL AS denom");
    std::fs::write(dir.path().join("homedoc.toml"), format!("sql_dir = {sql:?}\n")).unwrap();
    let (ok, _, err) = crate::cli::homedoc(dir.path(), &["check"]);
    assert!(!ok);
    for needle in [
        "kpi/video_calls.sql: header",
        "kpi/no_show_rate.sql: ",
        "slot_date",
        "kpi/course_completions.sql: returns columns",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_report_achievement_projection_and_status() {
    use homedoc::kpi::targets::{Status, Thresholds};
    let engine = engine(None).await;
    let as_of: chrono::NaiveDate = "2026-10-31".parse().unwrap();
    let rows = engine.targets(as_of, Thresholds::default()).await.unwrap();
    assert_eq!(rows.len(), homedoc::reference::Reference::embedded().unwrap().targets.len());

    // A flow: the baseline plus the KPI since the baseline date, projected at the
    // growth of the last three complete months (August to October 2026).
    let t = rows.iter().find(|r| r.indicator == "accounts_registered" && r.scope == "national").unwrap();
    let since = engine
        .kpi("accounts_registered", &request("2020-07-02..2026-10-31", By::National, BoundarySet::P34))
        .await
        .unwrap();
    let actual = t.baseline + total(&since);
    assert_eq!(t.actual, Some(actual));
    assert!((t.achieved_pct.unwrap() - 100.0 * actual / t.target).abs() < 1e-9);
    let recent = engine
        .kpi("accounts_registered", &request("2026-08-01..2026-10-31", By::National, BoundarySet::P34))
        .await
        .unwrap();
    let months_left = (t.target_date - as_of).num_days() as f64 / (365.25 / 12.0);
    let projected = actual + total(&recent) / 3.0 * months_left;
    assert!((t.projected.unwrap() - projected).abs() < 1e-6, "{t:?} vs {projected}");

    // A distinct count is a flow too, its actual counted over the whole span at once
    // (a worker trained twice is one worker), not as a sum of parts.
    let t = rows.iter().find(|r| r.indicator == "health_workers_trained" && r.scope == "national").unwrap();
    let since = engine
        .kpi("health_workers_trained", &request("2020-07-02..2026-10-31", By::National, BoundarySet::P34))
        .await
        .unwrap();
    assert!(total(&since) > 0.0);
    assert_eq!(t.actual, Some(t.baseline + total(&since)));

    // A level: the last complete month's value, projected at the mean of three.
    let share = rows.iter().find(|r| r.indicator == "live_station_activity_share").unwrap();
    let october =
        engine.kpi("live_station_activity_share", &request("2026-10", By::National, BoundarySet::P34)).await.unwrap();
    assert_eq!(share.actual, october.rows[0].value);

    // The same province under either boundary set: old Hà Giang (63:02) is all of
    // Tuyên Quang (34:08) that the sample holds.
    let old = rows.iter().find(|r| r.indicator == "appointments_booked" && r.scope_id == "63:02").unwrap();
    let new = rows.iter().find(|r| r.indicator == "appointments_booked" && r.scope_id == "34:08").unwrap();
    assert!(old.actual.unwrap() > 0.0);
    assert_eq!(old.actual, new.actual);

    // Status follows the projection and the thresholds, which are configurable.
    for r in &rows {
        let reached = r.projected.unwrap() / r.target;
        let expected = if reached >= 1.0 {
            Status::OnTrack
        } else if reached >= 0.8 {
            Status::AtRisk
        } else {
            Status::OffTrack
        };
        assert_eq!(r.status, Some(expected), "{r:?}");
    }
    let strict = engine.targets(as_of, Thresholds { on_track: 1e9, at_risk: 1e8 }).await.unwrap();
    assert!(strict.iter().all(|r| r.status == Some(Status::OffTrack)));
}

/// Ingests a new version of the targets into the lake of `dir` (a copy of the
/// sample): the national accounts target becomes 3,000,000.
fn ingest_new_targets(dir: &std::path::Path) {
    let reference = dir.join("reference");
    copy_tree(&repo().join("data-samples/reference"), &reference);
    let targets_csv = reference.join("targets.csv");
    let text = std::fs::read_to_string(&targets_csv).unwrap();
    std::fs::write(&targets_csv, text.replacen(",2500000,", ",3000000,", 1)).unwrap();
    std::fs::write(dir.join("homedoc.toml"), format!("reference_dir = {reference:?}\n")).unwrap();
    let (ok, _, err) = crate::cli::homedoc(dir, &["ingest", "targets", "--quiet"]);
    assert!(ok, "{err}");
}

#[test]
fn a_report_made_as_of_its_snapshot_is_identical_whatever_was_ingested_since() {
    use crate::cli::homedoc;
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&sample().dir, dir.path());
    let report = |name: &str, extra: &[&str]| -> (String, String) {
        let out = dir.path().join(name);
        let mut args = vec!["report", "national-scorecard", "--period", "2026-Q3", "--lang", "en", "--out"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        let (ok, _, err) = homedoc(dir.path(), &args);
        assert!(ok, "{err}");
        (std::fs::read_to_string(&out).unwrap(), err)
    };
    let (first, _) = report("first.json", &["--format", "json"]);
    let (first_csv, _) = report("first.csv", &["--format", "csv"]);
    let json: serde_json::Value = serde_json::from_str(&first).unwrap();
    let snapshot = json["snapshot"].as_str().unwrap().to_string();
    assert!(snapshot.contains("targets@") && snapshot.contains("appointments@"), "{snapshot}");
    let tables: Vec<&str> = json["tables"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(tables, ["targets", "provinces", "trend"]);
    let targets = json["tables"][0]["rows"].as_array().unwrap();
    let national =
        targets.iter().find(|r| r["indicator"] == "accounts_registered" && r["scope"] == "national").unwrap();
    assert_eq!(national["target"], 2_500_000.0);
    assert!(["on_track", "at_risk", "off_track"].contains(&national["status"].as_str().unwrap()), "{national}");
    assert!(json["freshness"].as_array().unwrap().iter().any(|f| f["pipeline"] == "appointments"));
    // The CSV carries the same rows: one line per row of every table.
    let rows: usize = json["tables"].as_array().unwrap().iter().map(|t| t["rows"].as_array().unwrap().len()).sum();
    assert_eq!(csv::Reader::from_reader(first_csv.as_bytes()).records().count(), rows);

    ingest_new_targets(dir.path());

    let (now, _) = report("now.json", &["--format", "json"]);
    assert!(now.contains("3000000") && !now.contains(&snapshot), "the latest report reads the new targets");
    let (again, _) = report("again.json", &["--format", "json", "--as-of", &snapshot]);
    assert_eq!(again, first, "as of its snapshot, the report is byte-identical");
    let (again_csv, _) = report("again.csv", &["--format", "csv", "--as-of", &snapshot]);
    assert_eq!(again_csv, first_csv);
}

/// The server keeps its engine open between requests while no table has a new
/// commit, and opens the lake afresh once one has: a request never reads an old
/// version of the lake.
#[tokio::test(flavor = "multi_thread")]
async fn a_kept_engine_serves_until_the_lake_has_a_new_commit() {
    use homedoc::web::analytics::Analytics;
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&sample().dir, dir.path());
    let s = settings(dir.path(), &sqlite_url(dir.path()));
    let catalog = Arc::new(Catalog::embedded().unwrap());
    let kept = Analytics::new(s.clone(), catalog.clone()).unwrap();
    let reopened = Analytics::new(s.clone(), catalog).unwrap().keep_open(false);

    let first = kept.engine(None).await.unwrap();
    assert!(Arc::ptr_eq(&first, &kept.engine(None).await.unwrap()), "nothing new: the same engine serves");
    assert!(!Arc::ptr_eq(&reopened.engine(None).await.unwrap(), &reopened.engine(None).await.unwrap()));
    // A snapshot is always opened as asked, never served from the kept engine.
    let as_of = kept.engine(Some(first.snapshot())).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &as_of));
    assert_eq!(as_of.snapshot(), first.snapshot());

    ingest_new_targets(dir.path());

    let now = kept.engine(None).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &now), "a new commit: the lake is opened again");
    assert!(
        now.snapshot().0["targets"] > first.snapshot().0["targets"],
        "{} then {}",
        first.snapshot(),
        now.snapshot()
    );
    let national = |e: Arc<Engine>| async move {
        let targets = e.targets_of(chrono::NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(), Default::default(), None);
        targets
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.indicator == "accounts_registered" && t.scope == "national")
            .map(|t| t.target)
    };
    assert_eq!(national(now.clone()).await, Some(3_000_000.0));
    assert!(Arc::ptr_eq(&now, &kept.engine(None).await.unwrap()), "then kept again");
}
