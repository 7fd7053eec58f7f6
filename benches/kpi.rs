//! Benchmark of the KPI engine beside DuckDB and polars, in one run, on the same
//! Parquet files with the same thread count (two):
//!
//! 1. the six KPIs the peers compute (`benches/peers/kpi_peers.py`) by province for
//!    one quarter, from raw events, each side timed best of three (the peers' time
//!    includes reading the Delta logs, as the engine's includes opening the tables);
//! 2. the national scorecard (every target with its projection, every target KPI by
//!    province for the period and the one before, twelve months of trend);
//! 3. the peak resident memory of this process.
//!
//! `cargo bench -p homedoc-benches --bench kpi -- [pilot|national] [--period 2026-Q3]`
//!
//! The history is generated and ingested into HOMEDOC_BENCH_DIR (or a temporary dir);
//! a dir that already holds them is reused. Prints one JSON line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use homedoc::config::Settings;
use homedoc::generate::{Options, Scale};
use homedoc::kpi::{By, Catalog, Engine, KpiRequest, Period};
use homedoc::report::{ReportArgs, ReportName};
use serde_json::{Value, json};

const THREADS: usize = 2;
const TRIALS: usize = 3;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn prepare(dir: &Path, scale: Scale) -> anyhow::Result<Settings> {
    let settings = Settings::load(dir, None)?;
    if !dir.join("homedoc.db").exists() {
        eprintln!("generating the {} history into {}", scale.as_str(), dir.display());
        let opts = Options { scale, seed: 1, until: Options::default_until() };
        homedoc::app::generate(&settings, &opts, true, &mut std::io::sink()).await?;
    }
    if !dir.join("lake").exists() {
        eprintln!("ingesting it");
        homedoc::app::ingest::ingest(&settings, &[], true, &mut std::io::sink()).await?;
    }
    Ok(settings)
}

async fn engine(settings: &Settings) -> anyhow::Result<Engine> {
    let lake = homedoc::lake::Lake::new(&settings.lake)?;
    Ok(Engine::open(&lake, Arc::new(Catalog::embedded()?), settings.timezone, None).await?)
}

fn main() -> anyhow::Result<()> {
    let mut scale = Scale::Pilot;
    let mut period: Period = "2026-Q3".parse()?;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--period" => period = it.next().context("--period needs a period")?.parse()?,
            s if !s.starts_with("--") => scale = Scale::parse(s).map_err(anyhow::Error::msg)?,
            other => bail!("unknown argument {other}"),
        }
    }
    let (_keep, dir) = match std::env::var_os("HOMEDOC_BENCH_DIR") {
        Some(d) => (None, PathBuf::from(d)),
        None => {
            let t = tempfile::tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(THREADS).enable_all().build()?;
    let settings = runtime.block_on(prepare(&dir, scale))?;

    // 1. The peers' six KPIs, by province, from raw events.
    let kpis = ["accounts_registered", "appointments_booked", "appointments_completed", "no_show_rate", "video_calls",
        "health_workers_trained"];
    let mut ours = f64::INFINITY;
    for _ in 0..TRIALS {
        let started = Instant::now();
        runtime.block_on(async {
            let engine = engine(&settings).await?;
            for id in kpis {
                let req = KpiRequest { by: By::Province, ..KpiRequest::new(period.clone()) };
                engine.kpi(id, &req).await?;
            }
            anyhow::Ok(())
        })?;
        ours = ours.min(started.elapsed().as_secs_f64());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/kpi_peers.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir.join("lake"))
        .arg(period.start.to_string())
        .arg(period.end.to_string())
        .args(["--threads", &THREADS.to_string(), "--timing", "--trials", &TRIALS.to_string()])
        .output()?;
    if !out.status.success() {
        bail!("peers: {}", String::from_utf8_lossy(&out.stderr));
    }
    let peers: Value = serde_json::from_slice(&out.stdout)?;
    let duckdb = peers["seconds"]["duckdb"].as_f64().context("duckdb seconds")?;
    let polars = peers["seconds"]["polars"].as_f64().context("polars seconds")?;

    // 2. The national scorecard.
    let mut scorecard = f64::INFINITY;
    for _ in 0..TRIALS {
        let started = Instant::now();
        runtime.block_on(async {
            let engine = engine(&settings).await?;
            let args = ReportArgs {
                period: period.clone(),
                province: None,
                project: None,
                boundary: homedoc::domain::BoundarySet::P34,
                lang: homedoc::kpi::Lang::En,
                targets: settings.targets,
                k: settings.suppression.donor,
            };
            homedoc::report::make(&engine, ReportName::NationalScorecard, args).await?;
            anyhow::Ok(())
        })?;
        scorecard = scorecard.min(started.elapsed().as_secs_f64());
    }
    let fastest = duckdb.min(polars);
    println!(
        "{}",
        json!({
            "scale": scale.as_str(),
            "period": period.to_string(),
            "threads": THREADS,
            "peers": peers["versions"],
            "six_kpis_by_province_s": { "homedoc_raw": ours, "duckdb": duckdb, "polars": polars },
            "homedoc_raw_over_duckdb": ours / duckdb,
            "homedoc_raw_over_fastest_peer": ours / fastest,
            "national_scorecard_s": scorecard,
            "served_from_rollups": Vec::<String>::new(),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
