//! Crash safety with the real binary: `homedoc ingest` is killed with SIGKILL at each
//! named fail point (10 times each) and at 50 random moments; after every rerun each
//! table holds exactly the source's rows, once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use homedoc::domain::{CallOutcome, CallPurpose, FacilityCode, FacilityLevel, VideoCall};
use homedoc::ingest::failpoint::STAGES;
use homedoc::lake::schema::{self, QUARANTINE};
use homedoc::store::{AccountUpdate, SqlStore, Store};
use rand::{Rng, SeedableRng};

use super::*;

/// A child process killed (SIGKILL) when dropped, so a failed test leaves none behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ingest_cmd(dir: &Path, pipelines: &[&str], failpoint: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_homedoc"));
    c.arg("--data-dir").arg(dir).arg("ingest").arg("--quiet").args(pipelines);
    for v in
        ["HOMEDOC_DATABASE_URL", "HOMEDOC_LAKE", "HOMEDOC_PIPELINES_DIR", "HOMEDOC_REFERENCE_DIR", "HOMEDOC_FAILPOINT"]
    {
        c.env_remove(v);
    }
    if let Some(f) = failpoint {
        c.env("HOMEDOC_FAILPOINT", f);
    }
    c
}

/// Runs ingestion to the end; panics if it fails or takes more than two minutes.
fn ingest_to_end(dir: &Path) {
    let mut child = Killed(ingest_cmd(dir, &[], None).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "homedoc ingest took more than two minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    use std::io::Read;
    child.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.0.stderr.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(child.0.wait().unwrap().success(), "{out}");
}

/// Starts ingestion of `pipeline` armed at `stage` and kills it once it gets there.
fn kill_at(dir: &Path, pipeline: &str, stage: &str) {
    let mut child =
        Killed(ingest_cmd(dir, &[pipeline], Some(stage)).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let marker = format!("failpoint {stage} reached");
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains(&marker) {
            // SIGKILL: nothing gets to clean up.
            child.0.kill().unwrap();
            child.0.wait().unwrap();
            return;
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    panic!("{pipeline} never reached {stage}: {seen}");
}

/// New work for every pipeline under test: account updates and a closed call in the
/// store, and a new file in each drop folder with one bad row. Returns the valid and
/// bad rows added per drop.
async fn add_work(store: &SqlStore, dir: &Path, round: usize) -> [(usize, usize); 2] {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE closed_at IS NULL ORDER BY id LIMIT 3")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    for id in ids {
        let sex = if round % 2 == 0 { "female" } else { "male" };
        let update = AccountUpdate { name: None, sex: Some(sex.into()), birth_year: None, home_station: None };
        tx.update_account(id, &update, Utc::now()).await.unwrap();
    }
    let call = VideoCall::open(
        FacilityCode::parse("TYT02-0001").unwrap(),
        FacilityLevel::CommuneStation,
        FacilityCode::parse("TTYT02-01").unwrap(),
        FacilityLevel::DistrictCentre,
        CallPurpose::Teleconsult,
        Utc::now(),
    );
    let id = tx.open_call(&call.unwrap()).await.unwrap();
    tx.close_call(id, Utc::now(), Some(CallOutcome::AdviceGiven)).await.unwrap();
    tx.commit().await.unwrap();

    let mut csv = String::from("session_id,hub_code,spoke_code,started_at,duration_min,specialty,cases_discussed\n");
    let mut jsonl = String::new();
    for i in 0..20 {
        csv.push_str(&format!("TK{round:04}{i:03},BVTW-BACHMAI,BVDK02,2026-02-03 09:{i:02},40,Nhi khoa,2\n"));
        jsonl.push_str(&format!(
            "{{\"record_id\":\"AK{round:04}{i:03}\",\"staff_code\":\"NV0000001\",\"facility_code\":\"TYT02-0001\",\
             \"course_code\":\"KH001\",\"course_title\":\"x\",\"enrolled_at\":\"2026-02-03T09:00:00+07:00\",\
             \"completed_at\":null,\"score\":null}}\n"
        ));
    }
    csv.push_str(&format!("TK{round:04}999,BVTW-BACHMAI,BVDK02,2026-02-03 09:00,40\n"));
    jsonl.push_str("{\"record_id\": \"broken\n");
    std::fs::write(dir.join(format!("drops/telemedicine/sessions_9{round:04}.csv")), csv).unwrap();
    std::fs::write(dir.join(format!("drops/training/attendance_9{round:04}.jsonl")), jsonl).unwrap();
    [(20, 1), (20, 1)]
}

async fn assert_exact(dir: &Path, store: &SqlStore, expected: &BTreeMap<&str, (usize, usize)>, label: &str) {
    let lake = Lake::new(&dir.join("lake").display().to_string()).unwrap();
    assert_feed_tables_match(&lake, store, label).await;
    let pipelines = column(&lake, &QUARANTINE, "pipeline").await;
    let sources = column(&lake, &QUARANTINE, "source").await;
    let locations = column(&lake, &QUARANTINE, "location").await;
    let keys: std::collections::HashSet<(&String, &String, &String)> =
        pipelines.iter().zip(&sources).zip(&locations).map(|((a, b), c)| (a, b, c)).collect();
    assert_eq!(keys.len(), pipelines.len(), "{label}: duplicate quarantine rows");
    for (pipeline, table) in
        [("telemedicine", &schema::TELEMEDICINE_SESSIONS), ("training", &schema::TRAINING_ATTENDANCE)]
    {
        let (valid, bad) = expected[pipeline];
        let ids = column(&lake, table, table.key[0]).await;
        assert_eq!(ids.len(), valid, "{label}: {pipeline} rows");
        assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), valid, "{label}: {pipeline} duplicates");
        assert_eq!(pipelines.iter().filter(|p| *p == pipeline).count(), bad, "{label}: {pipeline} quarantined rows");
    }
    let runs = homedoc::ingest::history::read(&lake, None).await.unwrap();
    let mut planned = std::collections::HashSet::new();
    for r in runs.iter().filter(|r| r.status == homedoc::ingest::history::Status::Planned) {
        assert!(planned.insert((r.pipeline.clone(), r.run)), "{label}: run {} of {} planned twice", r.run, r.pipeline);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_leave_no_duplicates_and_no_gaps_once_rerun() {
    let dir = sample_data_dir();
    let dir = dir.path();
    let store = SqlStore::connect(&sqlite_url(dir)).await.unwrap();
    let truth = truth_drops(dir);
    let total = |d: &str| (truth[d].0, truth[d].1.values().sum::<usize>());
    let mut expected: BTreeMap<&str, (usize, usize)> =
        BTreeMap::from([("telemedicine", total("telemedicine")), ("training", total("training"))]);
    let started = Instant::now();
    ingest_to_end(dir);
    let full_run = started.elapsed();
    assert_exact(dir, &store, &expected, "first run").await;

    let pipelines = ["accounts", "video_calls", "telemedicine", "training"];
    let mut round = 0;
    for stage in STAGES {
        for i in 0..10 {
            round += 1;
            let added = add_work(&store, dir, round).await;
            for (p, (v, b)) in ["telemedicine", "training"].iter().zip(added) {
                let e = expected.get_mut(p).unwrap();
                *e = (e.0 + v, e.1 + b);
            }
            let pipeline = pipelines[i % pipelines.len()];
            kill_at(dir, pipeline, stage);
            ingest_to_end(dir);
            assert_exact(dir, &store, &expected, &format!("{pipeline} killed at {stage}")).await;
        }
    }

    // 50 kills at random moments of a run that has work in every pipeline. The
    // moments are drawn within the time such a run takes (timed once, unkilled), not
    // the first run's, which also builds every rollup from nothing.
    round += 1;
    let added = add_work(&store, dir, round).await;
    for (p, (v, b)) in ["telemedicine", "training"].iter().zip(added) {
        let e = expected.get_mut(p).unwrap();
        *e = (e.0 + v, e.1 + b);
    }
    let started = Instant::now();
    ingest_to_end(dir);
    let incremental = started.elapsed();
    assert_exact(dir, &store, &expected, "incremental run").await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut killed_mid_run = 0;
    let window = incremental.mul_f64(0.9).min(full_run).max(Duration::from_millis(300));
    for k in 0..50 {
        round += 1;
        let added = add_work(&store, dir, round).await;
        for (p, (v, b)) in ["telemedicine", "training"].iter().zip(added) {
            let e = expected.get_mut(p).unwrap();
            *e = (e.0 + v, e.1 + b);
        }
        let mut child = Killed(ingest_cmd(dir, &[], None).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
        std::thread::sleep(window.mul_f64(rng.random::<f64>()));
        if child.0.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        drop(child);
        ingest_to_end(dir);
        assert_exact(dir, &store, &expected, &format!("random kill {k}")).await;
    }
    assert!(killed_mid_run >= 25, "only {killed_mid_run} of 50 kills landed during a run");
    store.close().await;
}

#[test]
fn a_killed_process_never_keeps_a_pipeline_locked() {
    use homedoc::ingest::IngestError;
    use homedoc::ingest::lock::PipelineLock;
    let dir = sample_data_dir();
    let dir = dir.path();
    let mut child = Killed(
        ingest_cmd(dir, &["training"], Some(homedoc::ingest::failpoint::FILES_WRITTEN))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let reached = BufReader::new(stderr).lines().map_while(Result::ok).any(|l| l.contains("failpoint"));
    assert!(reached);
    assert!(matches!(PipelineLock::try_acquire(dir, "training"), Err(IngestError::Locked(_))));
    assert!(PipelineLock::try_acquire(dir, "telemedicine").is_ok(), "other pipelines are free");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(PipelineLock::try_acquire(dir, "training").is_ok(), "the dead process's lock is gone");
}
