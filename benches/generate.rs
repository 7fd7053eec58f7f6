//! Benchmark of `homedoc generate`: rows written per second and peak memory, at the
//! scale given on the command line (default: pilot).
//!
//! `cargo bench -p homedoc-benches --bench generate -- national`
//!
//! Writes into a temporary data dir (or HOMEDOC_BENCH_DIR, kept afterwards) and
//! prints one JSON line with the figures, plus the published-results table.

use std::time::Instant;

use homedoc::app;
use homedoc::config::Settings;
use homedoc::generate::{Options, Scale};

/// Peak resident memory of this process, from the kernel's own accounting.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; the scale is the first other argument.
    let scale = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_else(|| "pilot".into());
    let scale = Scale::parse(&scale).map_err(anyhow::Error::msg)?;
    let temp = tempfile::tempdir()?;
    let dir = std::env::var("HOMEDOC_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| temp.path().into());
    let settings = Settings::load(&dir, None)?;
    let opts = Options { scale, seed: 1, until: Options::default_until() };
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    let mut out = std::io::stdout();
    let outcome = runtime.block_on(app::generate(&settings, &opts, false, &mut out))?;
    let seconds = started.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(dir.join("homedoc.db")).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "bench": "generate",
            "scale": scale.as_str(),
            "rows_written": outcome.rows_written,
            "feed_rows": outcome.counts.changes,
            "seconds": seconds,
            "rows_per_second": outcome.rows_written as f64 / seconds,
            "rows_per_second_with_feed": (outcome.rows_written as f64 + outcome.counts.changes as f64) / seconds,
            "peak_rss_mib": peak_rss_mib(),
            "store_bytes": db_bytes,
        })
    );
    Ok(())
}
