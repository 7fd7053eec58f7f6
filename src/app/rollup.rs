//! `homedoc lake rollup`, and the rollup refresh that follows ingestion (after
//! `homedoc ingest`, and in the background after each scheduled job that committed
//! rows). One refresh at a time across processes: they share a lock in the data dir.

use std::io::Write;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{Notify, watch};

use super::AppError;
use crate::config::Settings;
use crate::ingest::IngestError;
use crate::ingest::lock::PipelineLock;
use crate::lake::Lake;
use crate::rollup::{self, RefreshReport};

/// The lock's name among the pipelines' (not a valid pipeline id, so never shared).
const LOCK: &str = "rollup refresh";

/// Brings every rollup up to date with the lake.
pub async fn refresh(settings: &Settings, quiet: bool) -> Result<Vec<RefreshReport>, AppError> {
    let lake = Lake::new(&settings.lake).map_err(IngestError::from)?;
    let catalog = Arc::new(super::kpi::catalog(settings)?);
    let _lock = PipelineLock::acquire(&settings.data_dir, LOCK).await?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    bar.set_style(ProgressStyle::with_template("{spinner} rollups: {msg} ({elapsed})").expect("valid template"));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    // Where stderr is no terminal (a log, CI) the spinner draws nothing: each step is
    // a line there instead, since a national refresh runs for many minutes.
    let plain = !quiet && bar.is_hidden();
    let progress = |m: &str| {
        if plain {
            eprintln!("homedoc: rollups: {m}");
        }
        bar.set_message(m.to_string())
    };
    // A long backlog (a first build) sorts its changes by month through files here.
    let spill = rollup::Spill::in_dir(settings.data_dir.join("scratch").join("rollups"));
    let reports = rollup::refresh(&lake, catalog, settings.timezone, &spill, &progress).await;
    bar.finish_and_clear();
    Ok(reports?)
}

/// Prints what a refresh did, one line per rollup.
pub fn print(reports: &[RefreshReport], out: &mut impl Write) -> std::io::Result<()> {
    for r in reports {
        let yearly = match r.yearly_rows {
            0 => String::new(),
            n => format!(", yearly table recomputed ({n} rows)"),
        };
        let spilled = match r.spilled_rows {
            0 => String::new(),
            n => format!(" ({n} through scratch files)"),
        };
        if r.commits == 0 {
            writeln!(out, "{}: up to date{yearly}", r.table)?;
        } else {
            writeln!(
                out,
                "{}: {} source rows read{spilled}, {} month(s) recomputed, {} rollup rows written{yearly}, now at source version {} \
                 ({:.1} s)",
                r.table,
                r.rows_read,
                r.months.len(),
                r.rollup_rows,
                r.source_version,
                r.seconds
            )?;
        }
    }
    Ok(())
}

/// `homedoc lake rollup`.
pub async fn run(settings: &Settings, quiet: bool, out: &mut impl Write) -> Result<(), AppError> {
    let reports = refresh(settings, quiet).await?;
    print(&reports, out)?;
    Ok(())
}

/// Refreshes the rollups each time `committed` is told, until `stop` turns true. A
/// failed refresh is reported and left to the next one (reports fall back to the
/// raw tables meanwhile, since the rollups no longer match them).
pub fn follow(
    settings: Settings,
    committed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = committed.notified() => {}
                _ = stop.changed() => return,
            }
            match refresh(&settings, true).await {
                Ok(reports) => {
                    let months: usize = reports.iter().map(|r| r.months.len()).sum();
                    eprintln!("homedoc: rollups refreshed ({months} month(s) recomputed)");
                }
                Err(e) => eprintln!("homedoc: rollup refresh failed: {e}"),
            }
        }
    })
}
