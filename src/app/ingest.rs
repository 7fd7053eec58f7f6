//! `homedoc ingest`, `pipelines`, `schedule` and `lake optimize|vacuum`.

use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use super::{AppError, open_store};
use crate::clock::Clock;
use crate::config::Settings;
use crate::ingest::status::statuses;
use crate::ingest::{self, Ingest, IngestError, Pipeline, RunOutcome, RunReport};
use crate::lake::maintain;

/// The configured pipelines, every problem of every file at once.
pub fn load_pipelines(settings: &Settings) -> Result<Vec<Pipeline>, IngestError> {
    ingest::config::load(settings.pipelines_dir.as_deref(), &settings.data_dir).map_err(IngestError::Config)
}

pub async fn open_ingest(settings: &Settings) -> Result<Ingest, AppError> {
    let pipelines = load_pipelines(settings)?;
    let clock = Clock::from_env(settings.timezone)?;
    let store = open_store(settings).await?.with_clock(clock.clone());
    Ok(Ingest::new(settings, Arc::new(store), pipelines, clock)?)
}

fn bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {human_pos} rows read ({per_sec}, {elapsed})")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// `homedoc ingest [PIPELINE...]`: runs the jobs once, now, in file order. A job
/// that fails does not stop the others; the command fails if any did.
///
/// Then the rollups are brought up to date, unless `no_rollups`.
pub async fn ingest(
    settings: &Settings,
    ids: &[String],
    quiet: bool,
    no_rollups: bool,
    out: &mut impl Write,
) -> Result<(), AppError> {
    let ingest = open_ingest(settings).await?;
    let chosen: Vec<&Pipeline> = if ids.is_empty() {
        ingest.pipelines().iter().collect()
    } else {
        ids.iter().map(|id| ingest.pipeline(id)).collect::<Result<_, _>>()?
    };
    let mut failed = Vec::new();
    for p in chosen {
        let bar = bar(quiet);
        // Each run's line is printed as it commits (above the spinner on a terminal).
        let mut written = Ok(());
        let result = ingest
            .run_job_observed(p, true, &bar, |r| {
                if written.is_ok() {
                    written = bar.suspend(|| writeln!(out, "{}", run_line(r)));
                }
            })
            .await;
        bar.finish_and_clear();
        written?;
        if let Err(e) = result {
            writeln!(out, "{}: FAILED: {e}", p.id)?;
            failed.push(p.id.clone());
        }
    }
    if !no_rollups {
        // After a failed job too: the others' rows deserve fresh rollups.
        super::rollup::print(&super::rollup::refresh(settings, quiet).await?, out)?;
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(AppError::Usage(format!("{} pipeline(s) failed: {}", failed.len(), failed.join(", "))))
    }
}

/// What one run did, for `homedoc ingest`.
fn run_line(r: &RunReport) -> String {
    let what = match r.outcome {
        RunOutcome::Committed => "committed",
        RunOutcome::Resumed => "finished an interrupted run",
        RunOutcome::NothingNew => return format!("{}: nothing new", r.pipeline),
    };
    let seconds = r.elapsed.as_secs_f64();
    format!(
        "{}: run {} {what}: {} read = {} accepted + {} quarantined ({seconds:.1} s, {:.0} rows/s)",
        r.pipeline,
        r.run,
        r.read,
        r.accepted,
        r.quarantined,
        r.read as f64 / seconds.max(1e-9)
    )
}

/// `homedoc pipelines`.
pub async fn pipelines(settings: &Settings, out: &mut impl Write) -> Result<(), AppError> {
    let ingest = open_ingest(settings).await?;
    let tz = settings.timezone;
    let local = |t: Option<DateTime<Utc>>| {
        t.map_or("-".to_string(), |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
    };
    let n = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    writeln!(
        out,
        "{:<14} {:<14} {:<22} {:<10} {:<16} {:>9} {:>9} {:>6} {:<16}",
        "pipeline", "schedule", "target", "last", "last run", "read", "accepted", "quar.", "next run"
    )?;
    for s in statuses(&ingest).await? {
        writeln!(
            out,
            "{:<14} {:<14} {:<22} {:<10} {:<16} {:>9} {:>9} {:>6} {:<16}",
            s.id,
            s.schedule,
            s.target,
            s.last_status.as_deref().unwrap_or("never"),
            local(s.last_run_at),
            n(s.last_rows_read),
            n(s.last_rows_accepted),
            n(s.last_rows_quarantined),
            local(s.next_run_at)
        )?;
        if let Some(e) = s.last_error.filter(|_| s.last_status.as_deref() == Some("failed")) {
            writeln!(out, "  last error: {e}")?;
        }
    }
    writeln!(out, "(times in {tz})")?;
    Ok(())
}

/// `homedoc schedule`: the scheduler alone, until SIGTERM or Ctrl-C.
pub async fn schedule(settings: &Settings, out: &mut impl Write) -> Result<(), AppError> {
    let ingest = Arc::new(open_ingest(settings).await?);
    writeln!(out, "homedoc: scheduling {} pipelines (times in {})", ingest.pipelines().len(), settings.timezone)?;
    out.flush()?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        super::serve::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let follower = super::rollup::follow(settings.clone(), ingest.committed(), stop.clone());
    ingest::schedule::run(ingest, stop).await?;
    let _ = follower.await;
    Ok(())
}

/// `homedoc lake optimize`.
pub async fn optimize(settings: &Settings, out: &mut impl Write) -> Result<(), AppError> {
    let lake = crate::lake::Lake::new(&settings.lake).map_err(IngestError::from)?;
    for r in maintain::optimize(&lake).await.map_err(IngestError::from)? {
        writeln!(out, "{}: {} small files compacted into {}", r.table, r.files_removed, r.files_added)?;
    }
    // Compaction gives the tables new versions: the rollups follow, or reports would
    // fall back to the raw tables until the next ingestion.
    super::rollup::print(&super::rollup::refresh(settings, true).await?, out)?;
    Ok(())
}

/// `homedoc lake vacuum`.
pub async fn vacuum(
    settings: &Settings,
    retention_days: u32,
    dry_run: bool,
    out: &mut impl Write,
) -> Result<(), AppError> {
    let lake = crate::lake::Lake::new(&settings.lake).map_err(IngestError::from)?;
    for r in maintain::vacuum(&lake, retention_days, dry_run).await.map_err(IngestError::from)? {
        let verb = if r.dry_run { "would remove" } else { "removed" };
        writeln!(
            out,
            "{}: {verb} {} files unreferenced for more than {retention_days} days",
            r.table, r.files_deleted
        )?;
    }
    Ok(())
}
