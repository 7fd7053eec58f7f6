//! Runs of the shipped pipelines over the sample, and over stores that change.

use std::collections::BTreeMap;

use chrono::Utc;
use homedoc::domain::AppointmentStatus;
use homedoc::ingest::{self, IngestError, RunOutcome};
use homedoc::lake::schema::{self, QUARANTINE};
use homedoc::store::{SqlStore, Store};

use super::*;
use crate::support::PgDatabase;

#[test]
fn the_pipeline_folder_holds_exactly_the_built_in_pipelines() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = ingest::config::built_in_ids().iter().map(|s| s.to_string()).collect();
    built_in.sort();
    assert_eq!(on_disk, built_in);
    let dir = sample_data_dir();
    let from_folder = ingest::config::load(Some(&repo().join("pipelines")), dir.path()).unwrap();
    assert_eq!(from_folder.len(), built_in.len());
}

#[test]
fn every_error_of_every_pipeline_file_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pipelines");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(
        p.join("a.toml"),
        "schedule = \"*/10 * * * *\"\ntarget = \"accounts\"\ncolour = 1\n[source]\nkind = \"feed\"\nentity = \"account\"\n",
    )
    .unwrap();
    std::fs::write(
        p.join("b.toml"),
        "schedule = \"61 * * * *\"\ntarget = \"nowhere\"\n[source]\nkind = \"feed\"\nentity = \"account\"\n",
    )
    .unwrap();
    std::fs::write(
        p.join("c.toml"),
        "schedule = \"0 * * *\"\ntarget = \"telemedicine_sessions\"\n[source]\nkind = \"drop\"\nfolder = \"missing\"\n\
         glob = \"*.csv\"\nformat = \"csv\"\ncolumns = { session_id = \"id\", colour = \"c\" }\n",
    )
    .unwrap();
    std::fs::write(
        p.join("d.toml"),
        "schedule = \"0 2 * * 1-5\"\ntarget = \"targets\"\n[source]\nkind = \"reference\"\nfile = \"targets.csv\"\n\
         [validation]\nranges = { nothing = [1, 0] }\n",
    )
    .unwrap();
    let errors = ingest::config::load(Some(&p), dir.path()).unwrap_err();
    let all = errors.join("\n");
    for expected in [
        "a.toml: unknown field `colour`",
        "b.toml: schedule \"61 * * * *\"",
        "b.toml: target \"nowhere\" is not a lake table",
        "c.toml: schedule \"0 * * *\": has 4 fields",
        "missing: no such folder",
        "c.toml: source.columns has no source field for column \"hub\"",
        "c.toml: source.columns.colour: table \"telemedicine_sessions\" has no such column",
        "d.toml: validation.ranges: table \"targets\" has no column \"nothing\"",
    ] {
        assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
    }
    // Weekdays count as in crontab: 1 is Monday.
    let cron = ingest::config::parse_schedule("0 2 * * 1").unwrap();
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let next = cron.find_next_occurrence(&monday, false).unwrap();
    assert_eq!(next.date_naive(), monday.date_naive(), "2026-11-23 is a Monday");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_ingests_completely_and_a_second_run_commits_nothing() {
    let (dir, _settings, store, ingest) = on_the_sample().await;
    let reports = ingest_all(&ingest).await;
    assert!(reports.iter().all(|r| r.read == r.accepted + r.quarantined), "{reports:?}");
    let lake = &ingest.lake;
    assert_feed_tables_match(lake, &store, "sample").await;

    // Drops: the valid rows in their tables, every planted malformed row in
    // quarantine with the kind the simulator planted.
    let truth = truth_drops(dir.path());
    let reasons = column(lake, &QUARANTINE, "reason").await;
    let pipelines = column(lake, &QUARANTINE, "pipeline").await;
    for (drop, pipeline, table) in [
        ("telemedicine", "telemedicine", &schema::TELEMEDICINE_SESSIONS),
        ("training", "training", &schema::TRAINING_ATTENDANCE),
    ] {
        let (valid, malformed) = &truth[drop];
        assert_eq!(count(lake, table).await, *valid, "{drop}: valid rows");
        let mut found: BTreeMap<String, usize> = BTreeMap::new();
        for (r, p) in reasons.iter().zip(&pipelines) {
            if p == pipeline {
                *found.entry(r.clone()).or_default() += 1;
            }
        }
        assert_eq!(&found, malformed, "{drop}: quarantined rows by reason");
        let keys = column(lake, table, table.key[0]).await;
        assert_eq!(keys.iter().collect::<std::collections::HashSet<_>>().len(), keys.len(), "{drop}: unique keys");
    }
    // Reference tables are complete.
    let reference = homedoc::reference::Reference::embedded().unwrap();
    assert_eq!(count(lake, &schema::PROVINCES_63).await, reference.provinces_63.len());
    assert_eq!(count(lake, &schema::PROVINCES_34).await, reference.provinces_34.len());
    assert_eq!(count(lake, &schema::TARGETS).await, reference.targets.len());

    // Nothing personal entered the lake: no phone number, no name, no raw citizen id.
    let mut texts = std::collections::HashSet::new();
    for t in schema::TABLES {
        for c in t.columns.iter().filter(|c| c.ty == schema::ColType::Str) {
            texts.extend(column(lake, t, c.name).await);
        }
    }
    let rows = sqlx::query("SELECT id, phone, name FROM accounts").fetch_all(store.pool()).await.unwrap();
    use sqlx::Row;
    for r in rows.iter().take(2000) {
        let phone: Option<String> = r.try_get(1).unwrap();
        let name: Option<String> = r.try_get(2).unwrap();
        for v in [phone, name].into_iter().flatten() {
            assert!(!texts.iter().any(|t| t.contains(&v)), "{v:?} is in the lake");
        }
    }
    let keys: Vec<String> = column(lake, &schema::APPOINTMENTS, "citizen_key").await;
    let ids: std::collections::HashSet<String> =
        rows.iter().map(|r| r.try_get::<i64, _>(0).unwrap().to_string()).collect();
    assert!(keys.iter().filter(|k| ids.contains(*k)).count() < keys.len() / 100, "citizen ids are hashed");
    let bands: std::collections::HashSet<String> =
        column(lake, &schema::ACCOUNTS, "age_band").await.into_iter().collect();
    assert!(bands.iter().all(|b| ["0-4", "5-14", "15-24", "25-49", "50-64", "65+"].contains(&b.as_str())), "{bands:?}");

    // A second run finds nothing new and commits nothing.
    let before = versions(lake).await;
    let again = ingest_all(&ingest).await;
    assert!(again.iter().all(|r| r.outcome == RunOutcome::NothingNew), "{again:?}");
    assert_eq!(versions(lake).await, before);
    store.close().await;
}

/// A copy of the committed sample with ingestion over it.
async fn on_the_sample() -> (tempfile::TempDir, homedoc::config::Settings, SqlStore, homedoc::ingest::Ingest) {
    let dir = sample_data_dir();
    let settings = settings(dir.path(), &sqlite_url(dir.path()));
    let store = SqlStore::connect(&settings.database_url).await.unwrap();
    let ingest = open(&settings, &store);
    (dir, settings, store, ingest)
}

/// Generates the sample into a fresh store of the given URL, with its drops in `dir`.
async fn generated(url: &str, dir: &std::path::Path) -> SqlStore {
    let store = SqlStore::connect_with(url, homedoc::store::Durability::BulkLoad).await.unwrap();
    let reference = homedoc::reference::Reference::embedded().unwrap();
    let opts = homedoc::generate::Options {
        scale: homedoc::generate::Scale::Sample,
        seed: 3,
        until: homedoc::generate::Options::default_until(),
    };
    homedoc::generate::generate(&store, &reference, &opts, dir, &indicatif::ProgressBar::hidden()).await.unwrap();
    store.close().await;
    SqlStore::connect(url).await.unwrap()
}

async fn incremental_scenario(url: &str, dir: &std::path::Path, label: &str) {
    let store = generated(url, dir).await;
    let settings = settings(dir, url);
    let ingest = open(&settings, &store);
    ingest_all(&ingest).await;
    assert_feed_tables_match(&ingest.lake, &store, label).await;
    let before = count(&ingest.lake, &schema::APPOINTMENTS).await;

    // New rows and status updates in the store.
    let booked: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM appointments WHERE status = 'booked' ORDER BY id LIMIT 5")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert!(!booked.is_empty(), "{label}: the sample has booked appointments");
    let mut tx = store.begin().await.unwrap();
    for id in &booked {
        tx.set_status(*id, AppointmentStatus::Cancelled, Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let reports = ingest
        .run_job(ingest.pipeline("appointments").unwrap(), true, &indicatif::ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!(reports.len(), 1, "{label}: {reports:?}");
    assert_eq!((reports[0].outcome.clone(), reports[0].read), (RunOutcome::Committed, booked.len() as u64), "{label}");
    assert_eq!(count(&ingest.lake, &schema::APPOINTMENTS).await, before + booked.len());
    let statuses = column(&ingest.lake, &schema::APPOINTMENTS, "status").await;
    assert!(statuses.iter().filter(|s| *s == "cancelled").count() >= booked.len());
    assert_feed_tables_match(&ingest.lake, &store, label).await;

    // Nothing new: no commit anywhere.
    let versions_before = versions(&ingest.lake).await;
    ingest_all(&ingest).await;
    assert_eq!(versions(&ingest.lake).await, versions_before, "{label}: a run with nothing new commits nothing");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_take_inserts_and_status_changes_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    incremental_scenario(&sqlite_url(dir.path()), dir.path(), "sqlite").await;
    let Some(pg) = PgDatabase::create("ingest_incremental").await else {
        use std::io::Write;
        std::io::stderr()
            .write_all(b"SKIPPED on PostgreSQL: ingest_incremental (set HOMEDOC_TEST_POSTGRES_URL)\n")
            .ok();
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    incremental_scenario(&pg.url, dir.path(), "postgres").await;
}

/// A job of several runs tells its observer of each run once it is committed, not at
/// the end: `homedoc ingest` prints each line then, so a long job shows in a log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_run_of_a_job_is_reported_as_it_commits() {
    let (dir, _settings, store, ingest) = on_the_sample().await;
    let mut accounts = ingest.pipeline("accounts").unwrap().clone();
    accounts.validation.max_rows_per_run = 3_000;
    let log = dir.path().join("lake").join(schema::ACCOUNTS.name).join("_delta_log");
    let commits = || {
        std::fs::read_dir(&log)
            .map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))).count())
            .unwrap_or(0)
    };
    let mut seen = Vec::new();
    let reports = ingest
        .run_job_observed(&accounts, true, &indicatif::ProgressBar::hidden(), |r| seen.push((r.run, r.read, commits())))
        .await
        .unwrap();
    let feed_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM change_feed WHERE entity = 'account'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(feed_rows > 6_000, "the sample has {feed_rows} account changes");
    assert!(reports.len() >= 3, "{reports:?}");
    assert_eq!(
        seen.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        reports.iter().map(|r| (r.run, r.read)).collect::<Vec<_>>()
    );
    assert_eq!(reports.iter().map(|r| r.read).sum::<u64>(), feed_rows as u64);
    // Each time the observer heard of a run, the table (empty before the job) held
    // more commits than at the call before: the run was already in the lake.
    assert!(seen[0].2 >= 1 && seen.windows(2).all(|w| w[1].2 > w[0].2), "{seen:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_file_that_changes_after_ingestion_is_an_error() {
    let (dir, _settings, store, ingest) = on_the_sample().await;
    let p = ingest.pipeline("telemedicine").unwrap();
    ingest.run_job(p, true, &indicatif::ProgressBar::hidden()).await.unwrap();
    let rows = count(&ingest.lake, &schema::TELEMEDICINE_SESSIONS).await;
    let file = dir.path().join("drops/telemedicine/sessions_2021-03.csv");
    let text = std::fs::read_to_string(&file).unwrap();
    // Same size, different content: only the hash can tell.
    std::fs::write(&file, text.replacen("Nhi khoa", "Nhi khoA", 1)).unwrap();
    // And a new file beside it, which must wait until the change is sorted out.
    std::fs::write(
        dir.path().join("drops/telemedicine/sessions_2026-01.csv"),
        "session_id,hub_code,spoke_code,started_at,duration_min,specialty,cases_discussed\n",
    )
    .unwrap();
    let err = ingest.run_job(p, true, &indicatif::ProgressBar::hidden()).await.unwrap_err();
    assert!(
        matches!(&err, IngestError::ChangedFiles { files, .. } if files[0].contains("sessions_2021-03.csv")),
        "{err}"
    );
    assert_eq!(count(&ingest.lake, &schema::TELEMEDICINE_SESSIONS).await, rows);
    let runs = homedoc::ingest::history::read(&ingest.lake, Some("telemedicine")).await.unwrap();
    assert_eq!(runs.last().unwrap().status, homedoc::ingest::history::Status::Failed);
    std::fs::write(&file, text).unwrap();
    let ok = ingest.run_job(p, true, &indicatif::ProgressBar::hidden()).await.unwrap();
    assert_eq!(ok[0].read, 0, "the header-only file has no rows");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_too_many_bad_rows_fails_loudly_and_commits_no_data() {
    let (dir, settings, store, ingest) = on_the_sample().await;
    let p = ingest.pipeline("telemedicine").unwrap();
    ingest.run_job(p, true, &indicatif::ProgressBar::hidden()).await.unwrap();
    let rows = count(&ingest.lake, &schema::TELEMEDICINE_SESSIONS).await;
    let quarantined = count(&ingest.lake, &QUARANTINE).await;
    let mut text =
        String::from("session_id,hub_code,spoke_code,started_at,duration_min,specialty,cases_discussed,phone\n");
    for i in 0..90 {
        text.push_str(&format!("TN{i:06},BVTW-BACHMAI,BVDK02,2026-01-05 09:00,45,Nhi khoa,2,0912345678\n"));
    }
    for i in 0..10 {
        text.push_str(&format!("TB{i:06},BVTW-BACHMAI,BVDK02,2026-01-05 09:00,-5,Nhi khoa,2,0912345678\n"));
    }
    std::fs::write(dir.path().join("drops/telemedicine/sessions_2026-01.csv"), &text).unwrap();
    let err = ingest.run_job(p, true, &indicatif::ProgressBar::hidden()).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("10 of 100 rows") && message.contains("out_of_range 10"), "{message}");
    assert_eq!(count(&ingest.lake, &schema::TELEMEDICINE_SESSIONS).await, rows, "no data committed");
    assert_eq!(count(&ingest.lake, &QUARANTINE).await, quarantined, "no quarantine committed");

    // Under the threshold the bad rows go to quarantine, with the personal field masked.
    let mut text = text.replace("TB0", "TC0");
    for i in 0..200 {
        text.push_str(&format!("TD{i:06},BVTW-BACHMAI,BVDK02,2026-01-06 09:00,45,Nhi khoa,2,0912345678\n"));
    }
    std::fs::write(dir.path().join("drops/telemedicine/sessions_2026-01.csv"), &text).unwrap();
    let dir2 = std::path::PathBuf::from(dir.path());
    let mut pipelines = ingest::config::load(None, &dir2).unwrap();
    for q in &mut pipelines {
        if let ingest::Source::Drop(src) = &mut q.source {
            src.personal = vec!["phone".into()];
        }
    }
    let masked = homedoc::ingest::Ingest::new(
        &settings,
        std::sync::Arc::new(store.clone()),
        pipelines,
        homedoc::clock::Clock::system(),
    )
    .unwrap();
    let reports = masked
        .run_job(masked.pipeline("telemedicine").unwrap(), true, &indicatif::ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!((reports[0].read, reports[0].accepted, reports[0].quarantined), (300, 290, 10));
    let raws = column(&masked.lake, &QUARANTINE, "raw").await;
    let mine: Vec<&String> = raws.iter().filter(|r| r.starts_with("TC0")).collect();
    assert_eq!(mine.len(), 10);
    assert!(mine.iter().all(|r| r.ends_with(",***") && !r.contains("0912345678")), "{mine:?}");
    store.close().await;
}

/// The lake read by another Delta reader: the Python `deltalake` package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_delta_reader_sees_the_same_rows() {
    crate::support::python_peers();
    let (dir, _settings, store, ingest) = on_the_sample().await;
    ingest_all(&ingest).await;
    // The rollup tables too.
    let catalog = std::sync::Arc::new(homedoc::kpi::Catalog::embedded().unwrap());
    let tz = ingest.timezone();
    let spill = homedoc::rollup::Spill::in_dir(dir.path().join("scratch"));
    homedoc::rollup::refresh(&ingest.lake, catalog, tz, &spill, &|_| {}).await.unwrap();
    // Compaction must not change what readers see either.
    homedoc::lake::maintain::optimize(&ingest.lake).await.unwrap();
    // The reader's native threads sometimes abort the interpreter's teardown on a
    // loaded machine ("terminate called without an active exception") after the
    // answer is out: the script leaves without a teardown.
    let script = "import json, os, sys\nfrom deltalake import DeltaTable\n\
                  print(json.dumps({n: DeltaTable(sys.argv[1] + '/' + n).to_pyarrow_table().num_rows for n in sys.argv[2:]}))\n\
                  sys.stdout.flush()\nos._exit(0)";
    let lake_dir = ingest.lake.local_dir().unwrap().clone();
    let names: Vec<&str> = schema::TABLES.iter().map(|t| t.name).collect();
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&lake_dir).args(&names).output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    let theirs: BTreeMap<String, usize> = serde_json::from_slice(&out.stdout).unwrap();
    for t in schema::TABLES {
        assert_eq!(theirs[t.name], count(&ingest.lake, t).await, "{}", t.name);
        assert!(theirs[t.name] > 0 || t.name == "quarantine", "{} is empty", t.name);
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_history_is_compacted_as_runs_accumulate() {
    let (dir, _settings, store, ingest) = on_the_sample().await;
    let p = ingest.pipeline("telemedicine").unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let files = async || {
        let table = ingest.lake.open_existing(&schema::INGEST_RUNS).await.unwrap().unwrap();
        table.snapshot().unwrap().log_data().into_iter().count()
    };
    ingest.run_job(p, true, &bar).await.unwrap();
    let mut most = 0;
    for k in 0..24 {
        let csv = format!(
            "session_id,hub_code,spoke_code,started_at,duration_min,specialty,cases_discussed\n\
             TC{k:04}1,BVTW-BACHMAI,BVDK02,2026-02-03 09:00,40,Nhi khoa,2\n"
        );
        std::fs::write(dir.path().join(format!("drops/telemedicine/sessions_8{k:04}.csv")), csv).unwrap();
        let reports = ingest.run_job(p, true, &bar).await.unwrap();
        assert_eq!(reports[0].outcome, RunOutcome::Committed);
        most = most.max(files().await);
    }
    // Two one-row files a run (planned, done): 50 without compaction.
    assert!(most <= 32, "the run history reached {most} files");
    let runs = homedoc::ingest::history::read(&ingest.lake, Some("telemedicine")).await.unwrap();
    let succeeded: Vec<i64> =
        runs.iter().filter(|r| r.status == homedoc::ingest::history::Status::Succeeded).map(|r| r.run).collect();
    assert_eq!(succeeded, (1..=25).collect::<Vec<_>>(), "every run kept, in order");
    assert_eq!(
        count(&ingest.lake, &schema::TELEMEDICINE_SESSIONS).await,
        truth_drops(dir.path())["telemedicine"].0 + 24
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_resent_in_a_later_file_are_refused_as_duplicates() {
    let (dir, _settings, store, ingest) = on_the_sample().await;
    let p = ingest.pipeline("telemedicine").unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let table = &schema::TELEMEDICINE_SESSIONS;
    ingest.run_job(p, true, &bar).await.unwrap();
    let before = count(&ingest.lake, table).await;
    // Two rows of the first month's file again, 200 new rows, and a new row twice (the
    // three refusals stay under the 5% threshold).
    let first = std::fs::read_to_string(dir.path().join("drops/telemedicine/sessions_2020-09.csv")).unwrap();
    let mut lines = first.lines();
    let header = lines.next().unwrap();
    let old: Vec<&str> = lines.take(2).collect();
    assert!(old.iter().all(|l| l.starts_with("TM")), "{old:?}");
    let new = |i| format!("TR{i:07},BVTW-BACHMAI,BVDK02,2026-02-03 09:00,40,Nhi khoa,2\n");
    let mut text = format!("{header}\n{}\n{}\n", old[0], old[1]);
    (0..200).for_each(|i| text.push_str(&new(i)));
    text.push_str(&new(7));
    std::fs::write(dir.path().join("drops/telemedicine/sessions_9resent.csv"), text).unwrap();

    let reports = ingest.run_job(p, true, &bar).await.unwrap();
    assert_eq!((reports[0].read, reports[0].accepted, reports[0].quarantined), (203, 200, 3), "{reports:?}");
    assert_eq!(count(&ingest.lake, table).await, before + 200);
    let keys = column(&ingest.lake, table, "session_id").await;
    assert_eq!(keys.iter().filter(|k| k.as_str() == "TR0000007").count(), 1);
    let run = reports[0].run.to_string();
    let (reasons, runs, pipelines) = (
        column(&ingest.lake, &QUARANTINE, "reason").await,
        column(&ingest.lake, &QUARANTINE, "run").await,
        column(&ingest.lake, &QUARANTINE, "pipeline").await,
    );
    let mine: Vec<&String> = reasons
        .iter()
        .zip(runs.iter().zip(&pipelines))
        .filter(|(_, (r, p))| **r == run && *p == "telemedicine")
        .map(|(x, _)| x)
        .collect();
    assert_eq!(mine, vec!["duplicate"; 3]);
    // The first, optimistic parse wrote files that were never committed: none is left.
    let lake_dir = ingest.lake.local_dir().unwrap().join(table.name);
    let on_disk = walk_parquet(&lake_dir);
    let listed =
        ingest.lake.open_existing(table).await.unwrap().unwrap().snapshot().unwrap().log_data().into_iter().count();
    assert_eq!(on_disk, listed, "Parquet files on disk against files in the Delta log");
    store.close().await;
}

fn walk_parquet(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk_parquet(&p) } else { usize::from(p.extension().is_some_and(|e| e == "parquet")) })
        .sum()
}
