//! What the benchmarks share: the data dir (HOMEDOC_BENCH_DIR, or a temporary
//! one), the history generated and ingested into it once, and the peak memory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use homedoc::config::Settings;
use homedoc::generate::{Options, Scale};
use homedoc::kpi::Period;

pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// HOMEDOC_BENCH_DIR, or a temporary dir kept alive by the returned guard.
pub fn bench_dir() -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    Ok(match std::env::var_os("HOMEDOC_BENCH_DIR") {
        Some(d) => (None, PathBuf::from(d)),
        None => {
            let t = tempfile::tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    })
}

/// The history of `scale` generated and ingested into `dir`, unless already there.
pub async fn prepare(dir: &Path, scale: Scale) -> anyhow::Result<Settings> {
    let settings = Settings::load(dir, None)?;
    if !dir.join("homedoc.db").exists() {
        eprintln!("generating the {} history into {}", scale.as_str(), dir.display());
        let opts = Options { scale, seed: 1, until: Options::default_until() };
        homedoc::app::generate(&settings, &opts, true, &mut std::io::sink()).await?;
    }
    if !dir.join("lake").exists() {
        eprintln!("ingesting it");
        homedoc::app::ingest::ingest(&settings, &[], true, false, &mut std::io::sink()).await?;
    }
    // A lake ingested before the rollups existed gets them now.
    homedoc::app::rollup::refresh(&settings, true).await?;
    Ok(settings)
}

/// What `cargo bench` passes on: `[sample|pilot|national] [--period P] [--trials N]`.
pub struct BenchArgs {
    pub scale: Scale,
    pub period: Period,
    /// Timed runs of each measurement (the best or median is kept); one is enough
    /// where a national raw path takes minutes.
    pub trials: usize,
}

pub fn args(default_period: &str, default_trials: usize) -> anyhow::Result<BenchArgs> {
    let mut out = BenchArgs { scale: Scale::Pilot, period: default_period.parse()?, trials: default_trials };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--period" => out.period = it.next().context("--period needs a period")?.parse()?,
            "--trials" => {
                let n: usize = it.next().context("--trials needs a number")?.parse().context("--trials")?;
                out.trials = n.max(1);
            }
            s if !s.starts_with("--") => out.scale = Scale::parse(s).map_err(anyhow::Error::msg)?,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(out)
}
