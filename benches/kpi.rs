//! Benchmark of the KPI engine beside DuckDB and polars, in one run, on the same
//! Parquet files with the same thread count (two):
//!
//! 1. the six KPIs the peers compute (`benches/peers/kpi_peers.py`) by province for
//!    one quarter: homedoc from the rollups and from the raw events, the peers from
//!    the raw events, each timed best of three (the peers' time includes reading the
//!    Delta logs, as the engine's includes opening the tables);
//! 2. the national scorecard (every target with its projection, every target KPI by
//!    province for the period and the one before, twelve months of trend), from the
//!    rollups and from the raw events, with the Parquet files each read;
//! 3. one day's changes (status changes of appointments still booked, made in the
//!    store now): their ingestion with the rollup refresh that follows it, and the
//!    files the scorecard reads afterwards;
//! 4. the peak resident memory of this process.
//!
//! `cargo bench -p homedoc-benches --bench kpi -- [pilot|national] [--period 2026-Q3] [--trials 3]`
//!
//! The history is generated and ingested into HOMEDOC_BENCH_DIR (or a temporary dir);
//! a dir that already holds them is reused (each run adds its day of changes to it).
//! Prints one JSON line.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use homedoc::config::Settings;
use homedoc::kpi::{By, Catalog, Engine, KpiRequest, Period};
use homedoc::report::{ReportArgs, ReportName};
use serde_json::{Value, json};

mod common;
use common::{args, bench_dir, peak_rss_mib, prepare};

const THREADS: usize = 2;
/// Timed runs of each measurement unless `--trials` says otherwise.
const TRIALS: usize = 3;

async fn engine(settings: &Settings, rollups: bool) -> anyhow::Result<Engine> {
    let lake = homedoc::lake::Lake::new(&settings.lake)?;
    let engine = Engine::open(&lake, Arc::new(Catalog::embedded()?), settings.timezone, None).await?;
    Ok(engine.with_rollups(rollups))
}

/// What is timed.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// The six KPIs of the peers, by province.
    SixKpis,
    NationalScorecard,
}

async fn work(engine: &Engine, settings: &Settings, period: &Period, what: Work) -> anyhow::Result<()> {
    match what {
        Work::SixKpis => {
            for id in SIX {
                let req = KpiRequest { by: By::Province, ..KpiRequest::new(period.clone()) };
                engine.kpi(id, &req).await?;
            }
        }
        Work::NationalScorecard => {
            let args = ReportArgs {
                period: period.clone(),
                province: None,
                project: None,
                boundary: homedoc::domain::BoundarySet::P34,
                lang: homedoc::kpi::Lang::En,
                targets: settings.targets,
                suppression: settings.suppression,
                audience: Default::default(),
            };
            homedoc::report::make(engine, ReportName::NationalScorecard, args).await?;
        }
    }
    Ok(())
}

/// Best time of `trials` (opening the tables included), and the Parquet files the
/// last trial read.
fn best_of(
    runtime: &tokio::runtime::Runtime,
    settings: &Settings,
    period: &Period,
    (what, trials): (Work, usize),
    rollups: bool,
) -> anyhow::Result<(f64, u64)> {
    let mut best = f64::INFINITY;
    let mut files = 0;
    eprintln!("{what:?} from {}, best of {trials}", if rollups { "rollups" } else { "raw events" });
    for _ in 0..trials {
        let started = Instant::now();
        files = runtime.block_on(async {
            let engine = engine(settings, rollups).await?;
            work(&engine, settings, period, what).await?;
            anyhow::Ok(engine.files_read())
        })?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok((best, files))
}

/// One day's changes: up to `n` appointments still booked are cancelled now, in the
/// store; then the appointments pipeline runs, and the rollup refresh after it.
async fn one_day(settings: &Settings, n: i64) -> anyhow::Result<Value> {
    use homedoc::store::Store as _;
    let store = homedoc::app::open_store(settings).await?;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM appointments WHERE status = 'booked' ORDER BY id DESC LIMIT $1")
            .bind(n)
            .fetch_all(store.pool())
            .await?;
    let mut tx = store.begin().await?;
    for id in &ids {
        tx.set_status(*id, homedoc::domain::AppointmentStatus::Cancelled, chrono::Utc::now()).await?;
    }
    tx.commit().await?;
    store.close().await;
    let started = Instant::now();
    homedoc::app::ingest::ingest(settings, &["appointments".to_string()], true, true, &mut std::io::sink()).await?;
    let ingest_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let reports = homedoc::app::rollup::refresh(settings, true).await?;
    let refresh_s = started.elapsed().as_secs_f64();
    let months: Vec<String> =
        reports.iter().flat_map(|r| r.months.iter().map(move |m| format!("{}:{m}", r.table))).collect();
    Ok(json!({
        "status_changes": ids.len(),
        "ingest_s": ingest_s,
        "rollup_refresh_s": refresh_s,
        "rollup_months_recomputed": months,
        "feed_rows_read_by_refresh": reports.iter().map(|r| r.rows_read).sum::<u64>(),
    }))
}

const SIX: [&str; 6] = [
    "accounts_registered",
    "appointments_booked",
    "appointments_completed",
    "no_show_rate",
    "video_calls",
    "health_workers_trained",
];

fn main() -> anyhow::Result<()> {
    let common::BenchArgs { scale, period, trials } = args("2026-Q3", TRIALS)?;
    let (_keep, dir) = bench_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(THREADS).enable_all().build()?;
    let settings = runtime.block_on(prepare(&dir, scale))?;

    // 1. The peers' six KPIs, by province.
    let (rolled, rolled_files) = best_of(&runtime, &settings, &period, (Work::SixKpis, trials), true)?;
    let (raw, raw_files) = best_of(&runtime, &settings, &period, (Work::SixKpis, trials), false)?;
    eprintln!("peers: DuckDB and polars from the raw events, best of {trials}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/kpi_peers.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir.join("lake"))
        .arg(period.start.to_string())
        .arg(period.end.to_string())
        .args(["--threads", &THREADS.to_string(), "--timing", "--trials", &trials.to_string()])
        .output()?;
    if !out.status.success() {
        bail!("peers: {}", String::from_utf8_lossy(&out.stderr));
    }
    let peers: Value = serde_json::from_slice(&out.stdout)?;
    let duckdb = peers["seconds"]["duckdb"].as_f64().context("duckdb seconds")?;
    let polars = peers["seconds"]["polars"].as_f64().context("polars seconds")?;
    let fastest = duckdb.min(polars);
    eprintln!("peers: DuckDB {duckdb:.2} s, polars {polars:.2} s");

    // 2. The national scorecard.
    let (card_rolled, card_rolled_files) =
        best_of(&runtime, &settings, &period, (Work::NationalScorecard, trials), true)?;
    let (card_raw, card_raw_files) = best_of(&runtime, &settings, &period, (Work::NationalScorecard, trials), false)?;
    let served: Vec<String> = runtime.block_on(async {
        let engine = engine(&settings, true).await?;
        anyhow::Ok(engine.catalog().kpis.keys().filter(|id| engine.served_from_rollups(id)).cloned().collect())
    })?;

    // 3. One day's changes, then the scorecard again.
    eprintln!("one day's changes: ingestion and rollup refresh");
    let day = runtime.block_on(one_day(&settings, 2_000))?;
    let (card_after, card_after_files) =
        best_of(&runtime, &settings, &period, (Work::NationalScorecard, trials), true)?;
    let (_, card_after_raw_files) = best_of(&runtime, &settings, &period, (Work::NationalScorecard, trials), false)?;
    println!(
        "{}",
        json!({
            "scale": scale.as_str(),
            "period": period.to_string(),
            "threads": THREADS,
            "trials": trials,
            "peers": peers["versions"],
            "six_kpis_by_province_s": { "homedoc_rollups": rolled, "homedoc_raw": raw, "duckdb": duckdb, "polars": polars },
            "six_kpis_files_read": { "homedoc_rollups": rolled_files, "homedoc_raw": raw_files },
            "fastest_peer_over_homedoc_rollups": fastest / rolled,
            "homedoc_raw_over_duckdb": raw / duckdb,
            "national_scorecard_s": { "rollups": card_rolled, "raw": card_raw },
            "national_scorecard_files_read": { "rollups": card_rolled_files, "raw": card_raw_files },
            "fastest_peer_six_kpis_over_scorecard_from_rollups": fastest / card_rolled,
            "served_from_rollups": served,
            "one_day": day,
            "after_one_day": {
                "national_scorecard_s": card_after,
                "files_read": { "rollups": card_after_files, "raw": card_after_raw_files },
            },
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
