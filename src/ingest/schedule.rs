//! The scheduler: every pipeline on its own cron schedule, in the configured
//! timezone. Each pipeline has one task, so a job never overlaps itself (and the
//! pipeline lock keeps `homedoc ingest` in another process from overlapping it); a
//! failing job is retried with growing pauses until its next slot, without holding
//! up the others; on start, a job whose last success is older than one period of its
//! schedule runs at once to catch up.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use tokio::sync::watch;

use super::{Ingest, IngestError, Pipeline};

/// The pauses between attempts of a failing job: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_secs(30), max: Duration::from_secs(3600) }
    }
}

/// Runs every pipeline on its schedule until `stop` turns true.
pub async fn run(ingest: Arc<Ingest>, stop: watch::Receiver<bool>) -> Result<(), IngestError> {
    run_with(ingest, stop, Backoff::default()).await
}

/// [`run`] with the given pauses between retries.
pub async fn run_with(ingest: Arc<Ingest>, stop: watch::Receiver<bool>, backoff: Backoff) -> Result<(), IngestError> {
    let statuses = super::status::statuses(&ingest).await?;
    let mut tasks = Vec::new();
    for p in ingest.pipelines().to_vec() {
        let last = statuses.iter().find(|s| s.id == p.id).and_then(|s| s.last_success_at);
        let (ingest, stop) = (ingest.clone(), stop.clone());
        tasks.push(tokio::spawn(async move { pipeline_loop(&ingest, &p, last, stop, backoff).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Whether a pipeline last successful at `last` is a period or more behind at `now`.
pub fn needs_catch_up(p: &Pipeline, last: Option<DateTime<Utc>>, now: DateTime<Utc>, tz: chrono_tz::Tz) -> bool {
    match (last, p.period(now, tz)) {
        (None, _) => true,
        (Some(last), Some(period)) => now - last > period,
        (Some(_), None) => false,
    }
}

async fn pipeline_loop(
    ingest: &Ingest,
    p: &Pipeline,
    last: Option<DateTime<Utc>>,
    mut stop: watch::Receiver<bool>,
    backoff: Backoff,
) {
    let tz = ingest.timezone();
    if needs_catch_up(p, last, ingest.clock().now(), tz) {
        eprintln!(
            "homedoc: {}: last success {}: catching up now",
            p.id,
            last.map_or("never".into(), |t| t.to_rfc3339())
        );
        attempt_until(ingest, p, None, &mut stop, backoff).await;
    }
    loop {
        let now = ingest.clock().now();
        let Some(next) = p.next_run(now, tz) else {
            eprintln!("homedoc: {}: its schedule never fires again", p.id);
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        let following = p.next_run(next, tz);
        attempt_until(ingest, p, following, &mut stop, backoff).await;
        if *stop.borrow() {
            return;
        }
    }
}

/// Runs the job, retrying failures with backoff until `deadline` (the next slot).
async fn attempt_until(
    ingest: &Ingest,
    p: &Pipeline,
    deadline: Option<DateTime<Utc>>,
    stop: &mut watch::Receiver<bool>,
    pauses: Backoff,
) {
    let mut backoff = pauses.first;
    loop {
        match ingest.run_job(p, false, &ProgressBar::hidden()).await {
            Ok(reports) => {
                let rows: u64 = reports.iter().map(|r| r.read).sum();
                if rows > 0 {
                    eprintln!("homedoc: {}: {} run(s), {rows} rows read", p.id, reports.len());
                }
                return;
            }
            Err(IngestError::Locked(_)) => {
                eprintln!("homedoc: {}: already running in another process; skipped", p.id);
                return;
            }
            Err(e) => {
                if deadline.is_some_and(|d| ingest.clock().now() + backoff >= d) {
                    eprintln!("homedoc: {}: failed, trying again at its next slot: {e}", p.id);
                    return;
                }
                eprintln!("homedoc: {}: failed, retrying in {:.1}s: {e}", p.id, backoff.as_secs_f64());
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(pauses.max);
            }
        }
    }
}
