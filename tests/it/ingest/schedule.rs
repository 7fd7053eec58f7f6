//! The scheduler over the sample: catch-up on start, retries with growing pauses that
//! do not hold up the other pipelines, and runs of one pipeline that never overlap.

use std::time::Duration;

use chrono::Utc;
use homedoc::ingest::history::{self, RunRecord, Status};
use homedoc::ingest::schedule::{self, Backoff};
use homedoc::store::AccountUpdate;
use tokio::sync::watch;

use super::*;

/// Copies of the built-in pipeline files with other schedules.
fn pipelines_with(dir: &Path, schedules: &[(&str, &str)]) -> PathBuf {
    let to = dir.join("pipelines");
    std::fs::create_dir_all(&to).unwrap();
    for (id, schedule) in schedules {
        let text = std::fs::read_to_string(repo().join("pipelines").join(format!("{id}.toml"))).unwrap();
        let line = text.lines().find(|l| l.starts_with("schedule = ")).unwrap();
        std::fs::write(to.join(format!("{id}.toml")), text.replace(line, &format!("schedule = \"{schedule}\"")))
            .unwrap();
    }
    to
}

async fn runs(lake: &Lake, id: &str) -> Vec<RunRecord> {
    history::read(lake, Some(id)).await.unwrap()
}

/// Polls `what` every 100 ms until it holds; panics after `secs`.
async fn eventually<F: AsyncFn() -> bool>(secs: u64, label: &str, what: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !what().await {
        assert!(std::time::Instant::now() < deadline, "not within {secs} s: {label}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_catches_up_retries_with_backoff_and_keeps_the_others_going() {
    let dir = sample_data_dir();
    let dir = dir.path();
    // Yearly schedules fire only by catching up; accounts runs every second.
    let pdir = pipelines_with(
        dir,
        &[("video_calls", "0 0 1 1 *"), ("telemedicine", "0 0 1 1 *"), ("accounts", "* * * * * *")],
    );
    // A file of unknown facilities puts telemedicine over its quarantine threshold.
    let mut bad = String::from("session_id,hub_code,spoke_code,started_at,duration_min,specialty,cases_discussed\n");
    for i in 0..1000 {
        bad.push_str(&format!("TX{i:05},NOWHERE,NOWHERE,2026-02-03 09:00,40,Nhi khoa,2\n"));
    }
    let bad_file = dir.join("drops/telemedicine/sessions_9999.csv");
    std::fs::write(&bad_file, bad).unwrap();

    let mut settings = settings(dir, &sqlite_url(dir));
    settings.pipelines_dir = Some(pdir.clone());
    let store = SqlStore::connect(&settings.database_url).await.unwrap();
    let pipelines = ingest::config::load(Some(&pdir), dir).unwrap();
    let ingest = Arc::new(Ingest::new(&settings, Arc::new(store.clone()), pipelines, Clock::system()).unwrap());
    let lake = &ingest.lake;
    let (stop_tx, stop) = watch::channel(false);
    let pauses = Backoff { first: Duration::from_millis(300), max: Duration::from_millis(2400) };
    let scheduler = tokio::spawn(schedule::run_with(ingest.clone(), stop, pauses));

    // Catch-up: never run before, so the yearly video_calls runs at once.
    eventually(60, "video_calls caught up", async || {
        runs(lake, "video_calls").await.iter().any(|r| r.status == Status::Succeeded)
    })
    .await;
    // Telemedicine fails, again and again, with growing pauses.
    eventually(60, "telemedicine failed 4 times", async || {
        runs(lake, "telemedicine").await.iter().filter(|r| r.status == Status::Failed).count() >= 4
    })
    .await;
    // Meanwhile accounts goes on: new changes in the store arrive within seconds.
    eventually(60, "accounts' first run", async || {
        runs(lake, "accounts").await.iter().any(|r| r.status == Status::Succeeded)
    })
    .await;
    let before = count(lake, &schema::ACCOUNTS).await;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM accounts ORDER BY id LIMIT 4").fetch_all(store.pool()).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    for id in &ids {
        let update =
            AccountUpdate { name: None, sex: Some("female".into()), birth_year: Some(1970), home_station: None };
        tx.update_account(*id, &update, Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    eventually(20, "accounts picked up the changes", async || {
        count(lake, &schema::ACCOUNTS).await == before + ids.len()
    })
    .await;
    assert!(
        runs(lake, "telemedicine").await.iter().all(|r| r.status != Status::Succeeded),
        "telemedicine cannot succeed while the bad file is there"
    );

    // Once the file is gone, the next retry succeeds.
    std::fs::remove_file(&bad_file).unwrap();
    eventually(30, "telemedicine recovered", async || {
        runs(lake, "telemedicine").await.iter().any(|r| r.status == Status::Succeeded)
    })
    .await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(60), scheduler).await.expect("the scheduler stops").unwrap().unwrap();

    // The pauses between failures grow: each is at least the pause it followed.
    let failed: Vec<_> = runs(lake, "telemedicine").await.into_iter().filter(|r| r.status == Status::Failed).collect();
    let mut pause = pauses.first;
    for w in failed.windows(2) {
        let gap = (w[1].started_at - w[0].finished_at).to_std().unwrap();
        assert!(gap >= pause, "a retry came {gap:?} after a failure, before its pause of {pause:?}");
        pause = (pause * 2).min(pauses.max);
    }
    // Runs of one pipeline never overlap: each starts after the one before ended.
    let done: Vec<_> = runs(lake, "accounts").await.into_iter().filter(|r| r.status == Status::Succeeded).collect();
    for w in done.windows(2) {
        assert!(w[1].started_at >= w[0].finished_at, "accounts runs {} and {} overlap", w[0].run, w[1].run);
    }
    // Telemedicine's data is complete once it succeeded.
    let truth = truth_drops(dir);
    assert_eq!(count(lake, &schema::TELEMEDICINE_SESSIONS).await, truth["telemedicine"].0);
    store.close().await;
}

#[test]
fn a_job_catches_up_when_its_last_success_is_a_period_old() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["drops/telemedicine", "drops/training"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let pipelines = ingest::config::load(None, dir.path()).unwrap();
    let hourly = pipelines.iter().find(|p| p.id == "telemedicine").unwrap(); // "15 * * * *"
    let tz: chrono_tz::Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
    let now = Utc::now();
    assert!(schedule::needs_catch_up(hourly, None, now, tz), "never run");
    assert!(schedule::needs_catch_up(hourly, Some(now - chrono::Duration::minutes(61)), now, tz));
    assert!(!schedule::needs_catch_up(hourly, Some(now - chrono::Duration::minutes(59)), now, tz));
}
