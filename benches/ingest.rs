//! Benchmark of ingestion, three parts in one run:
//!
//! 1. the file drops: rows/s of the telemedicine CSV and training JSON-lines
//!    pipelines (parsing, validation, quarantine and the Delta commit included), beside
//!    DuckDB reading the same files into Parquet with the same thread count;
//! 2. the store's change feed: rows/s of the accounts, appointments and video-call
//!    pipelines over the generated store, beside the same DuckDB figure;
//! 3. incremental cost: one day on top of the whole history against the same day
//!    into an empty lake (skip with `--no-incremental`; it copies the store twice).
//!
//! `cargo bench -p homedoc-benches --bench ingest -- [pilot|national] [--drop-rows N] [--feed-seconds S] [--no-incremental]`
//!
//! `--feed-seconds` stops each feed pipeline after S seconds and counts only the rows
//! of the runs it committed by then, over the S seconds (a national feed takes about
//! an hour in full).
//!
//! The store is generated at the given scale into HOMEDOC_BENCH_DIR (or a temporary
//! dir); a dir that already holds a generated store is reused, so a national store made
//! by the `generate` bench serves here too. Prints one JSON line with every figure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use homedoc::app::{self, ingest::open_ingest};
use homedoc::config::Settings;
use homedoc::generate::{Options, Scale};
use indicatif::ProgressBar;
use serde_json::{Value, json};
use sqlx::Connection;

/// Worker threads for homedoc and DuckDB alike: the machine's two cores.
const THREADS: usize = 2;
/// Rows per synthesized drop file (the simulator writes one file a month).
const FILE_ROWS: usize = 100_000;
const FEED_PIPELINES: [&str; 3] = ["accounts", "appointments", "video_calls"];
const DROP_PIPELINES: [&str; 2] = ["telemedicine", "training"];
/// Trials of each side of the incremental comparison.
const TRIALS: usize = 3;

struct Args {
    scale: Scale,
    drop_rows: usize,
    feed_limit: Option<Duration>,
    incremental: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args { scale: Scale::Pilot, drop_rows: 2_000_000, feed_limit: None, incremental: true };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--no-incremental" => args.incremental = false,
            "--drop-rows" => args.drop_rows = it.next().context("--drop-rows needs a number")?.parse()?,
            "--feed-seconds" => {
                args.feed_limit =
                    Some(Duration::from_secs(it.next().context("--feed-seconds needs a number")?.parse()?))
            }
            s if !s.starts_with("--") => args.scale = Scale::parse(s).map_err(anyhow::Error::msg)?,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let temp = tempfile::tempdir()?;
    let root = std::env::var("HOMEDOC_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| temp.path().into());
    let work = root.join("ingest-bench");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(THREADS).enable_all().build()?;
    runtime.block_on(async {
        let store = ensure_store(&root, args.scale).await?;
        let drops = drops(&store, &work.join("drops"), args.drop_rows).await?;
        let feed = feed(&store, &work.join("feed"), args.feed_limit).await?;
        let incremental = if args.incremental { incremental(&store, &work.join("incremental")).await? } else { Value::Null };
        let peer = peer(&work.join("drops"))?;
        // Rates over the lines given, as for homedoc: DuckDB writes fewer rows than it
        // reads, skipping what it cannot parse.
        let rate = |v: &Value| v["seconds"].as_f64().map(|s| args.drop_rows as f64 / s);
        let duck_csv = rate(&peer["duckdb_csv"]);
        let ratio = |ours: f64, theirs: Option<f64>| theirs.map(|t| ours / t);
        println!(
            "{}",
            json!({
                "bench": "ingest",
                "scale": args.scale.as_str(),
                "threads": THREADS,
                "drops": drops,
                "feed": feed,
                "feed_seconds_limit": args.feed_limit.map(|d| d.as_secs()),
                "duckdb": peer,
                "duckdb_rows_per_second": { "csv": duck_csv, "jsonl": rate(&peer["duckdb_jsonl"]) },
                "ratios_vs_duckdb": {
                    "telemedicine_csv": ratio(drops["telemedicine"]["rows_per_second"].as_f64().unwrap_or(0.0), duck_csv),
                    "training_jsonl": ratio(drops["training"]["rows_per_second"].as_f64().unwrap_or(0.0), rate(&peer["duckdb_jsonl"])),
                    "store_feed_vs_duckdb_csv": ratio(feed["total"]["rows_per_second"].as_f64().unwrap_or(0.0), duck_csv),
                },
                "incremental": incremental,
            })
        );
        anyhow::Ok(())
    })?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// The generated store under `root`, generating it first if needed.
async fn ensure_store(root: &Path, scale: Scale) -> anyhow::Result<Settings> {
    let settings = Settings::load(root, None)?;
    if !root.join("ground_truth.json").exists() {
        eprintln!("generating the {} store in {}", scale.as_str(), root.display());
        let opts = Options { scale, seed: 1, until: Options::default_until() };
        app::generate(&settings, &opts, true, &mut std::io::stderr()).await?;
    }
    Ok(settings)
}

/// Settings for a work dir whose lake is fresh and whose store is `db`.
fn work_settings(dir: &Path, db: &Path) -> anyhow::Result<Settings> {
    for d in ["drops/telemedicine", "drops/training"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let mut s = Settings::load(dir, None)?;
    s.database_url = format!("sqlite://{}", db.display());
    Ok(s)
}

/// Runs pipelines once each, in order, and returns their figures. A job still
/// running after `limit` is stopped, and only its committed runs count.
async fn run(settings: &Settings, ids: &[&str], limit: Option<Duration>) -> anyhow::Result<Value> {
    let ingest = open_ingest(settings).await?;
    let mut out = serde_json::Map::new();
    for id in ids {
        let p = ingest.pipeline(id)?;
        let started = Instant::now();
        let bar = ProgressBar::hidden();
        let job = ingest.run_job(p, false, &bar);
        let (reports, stopped) = match limit {
            None => (job.await?, false),
            Some(limit) => match tokio::time::timeout(limit, job).await {
                Ok(reports) => (reports?, false),
                Err(_) => (committed(&ingest, id).await?, true),
            },
        };
        let seconds = if stopped { limit.unwrap_or_default().as_secs_f64() } else { started.elapsed().as_secs_f64() };
        let sum = |f: fn(&homedoc::ingest::RunReport) -> u64| reports.iter().map(f).sum::<u64>();
        let read = sum(|r| r.read);
        out.insert(
            id.to_string(),
            json!({
                "stopped_at_limit": stopped,
                "runs": reports.len(),
                "read": read,
                "accepted": sum(|r| r.accepted),
                "quarantined": sum(|r| r.quarantined),
                "seconds": seconds,
                "rows_per_second": read as f64 / seconds,
            }),
        );
    }
    Ok(Value::Object(out))
}

/// The runs of `id` that a stopped job committed, as reports.
async fn committed(ingest: &homedoc::ingest::Ingest, id: &str) -> anyhow::Result<Vec<homedoc::ingest::RunReport>> {
    use homedoc::ingest::history::{self, Status};
    let runs = history::read(&ingest.lake, Some(id)).await?;
    Ok(runs
        .iter()
        .filter(|r| r.status == Status::Succeeded)
        .map(|r| homedoc::ingest::RunReport {
            pipeline: id.to_string(),
            run: r.run,
            outcome: homedoc::ingest::RunOutcome::Committed,
            read: r.rows_read as u64,
            accepted: r.rows_accepted as u64,
            quarantined: r.rows_quarantined as u64,
            elapsed: Duration::ZERO,
        })
        .collect())
}

fn total(figures: &mut Value) {
    let (read, seconds) = figures.as_object().unwrap().values().fold((0.0, 0.0), |(r, s), v| {
        (r + v["read"].as_f64().unwrap_or(0.0), s + v["seconds"].as_f64().unwrap_or(0.0))
    });
    figures["total"] = json!({ "read": read, "seconds": seconds, "rows_per_second": read / seconds });
}

fn store_db(store: &Settings) -> PathBuf {
    store.data_dir.join("homedoc.db")
}

/// Part 1: drops of `rows` rows each, made from the generated drops' own lines.
async fn drops(store: &Settings, dir: &Path, rows: usize) -> anyhow::Result<Value> {
    let settings = work_settings(dir, &store_db(store))?;
    let from = store.data_dir.join("drops");
    synthesize(&from.join("telemedicine"), &dir.join("drops/telemedicine"), "csv", rows, renumber_csv)?;
    synthesize(&from.join("training"), &dir.join("drops/training"), "jsonl", rows, renumber_jsonl)?;
    eprintln!("ingesting {rows} telemedicine and {rows} training rows");
    let figures = run(&settings, &DROP_PIPELINES, None).await?;
    eprintln!("{figures}");
    Ok(figures)
}

/// Writes `rows` lines cycled from the template files in `from`, each well-formed
/// key renumbered so that only the templates' own malformed lines are refused.
fn synthesize(
    from: &Path,
    to: &Path,
    ext: &str,
    rows: usize,
    renumber: fn(&str, usize) -> String,
) -> anyhow::Result<()> {
    let mut header = None;
    let mut lines = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(from)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f)?;
        let mut it = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        if ext == "csv" {
            header = it.next().map(<[u8]>::to_vec);
        }
        lines.extend(it.map(<[u8]>::to_vec));
    }
    if lines.is_empty() {
        bail!("no template lines in {}", from.display());
    }
    for (file, start) in (0..rows).step_by(FILE_ROWS).enumerate() {
        let mut out = Vec::new();
        if let Some(h) = &header {
            out.extend_from_slice(h);
            out.push(b'\n');
        }
        for n in start..(start + FILE_ROWS).min(rows) {
            let line = &lines[n % lines.len()];
            match std::str::from_utf8(line) {
                Ok(text) => out.extend_from_slice(renumber(text, n).as_bytes()),
                Err(_) => out.extend_from_slice(line),
            }
            out.push(b'\n');
        }
        std::fs::write(
            to.join(format!("{}_bench_{file:05}.{ext}", if ext == "csv" { "sessions" } else { "attendance" })),
            out,
        )?;
    }
    Ok(())
}

fn renumber_csv(line: &str, n: usize) -> String {
    match line.split_once(',') {
        Some((id, rest)) if id.starts_with("TM") => format!("TB{n:010},{rest}"),
        _ => line.to_string(),
    }
}

fn renumber_jsonl(line: &str, n: usize) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(mut m)) if m.get("record_id").is_some_and(Value::is_string) => {
            m.insert("record_id".into(), json!(format!("AB{n:010}")));
            Value::Object(m).to_string()
        }
        _ => line.to_string(),
    }
}

/// Part 2: the change feed of the generated store into an empty lake.
async fn feed(store: &Settings, dir: &Path, limit: Option<Duration>) -> anyhow::Result<Value> {
    let settings = work_settings(dir, &store_db(store))?;
    eprintln!("ingesting the store's change feed");
    let mut figures = run(&settings, &FEED_PIPELINES, limit).await?;
    total(&mut figures);
    eprintln!("{figures}");
    Ok(figures)
}

/// DuckDB on the drop files of part 1.
fn peer(dir: &Path) -> anyhow::Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/ingest_peers.py");
    let out = tempfile::tempdir()?;
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(THREADS.to_string())
        .arg(dir.join("drops/telemedicine/*.csv"))
        .arg(dir.join("drops/training/*.jsonl"))
        .arg(out.path())
        .output()
        .context("running python3 (pip install duckdb pyarrow)")?;
    if !output.status.success() {
        bail!("the DuckDB peer failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Part 3: the store's last local day, ingested on top of everything before it and
/// into an empty lake. Two copies of the store split the feed at the day's start: one
/// without the day (the history), one with only the day; the history lake then reads
/// the day from the full store. The drops get one new file of a day's rows.
async fn incremental(store: &Settings, dir: &Path) -> anyhow::Result<Value> {
    std::fs::create_dir_all(dir)?;
    let full = store_db(store);
    let url = |p: &Path| format!("sqlite://{}", p.display());
    let mut conn = sqlx::SqliteConnection::connect(&url(&full)).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    let last: i64 = sqlx::query_scalar("SELECT MAX(at) FROM change_feed").fetch_one(&mut conn).await?;
    let tz = store.timezone;
    let day = chrono::DateTime::from_timestamp(last, 0).context("feed time")?.with_timezone(&tz).date_naive();
    let day_start = day.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(tz).earliest().unwrap().timestamp();
    let first_of_day: i64 = sqlx::query_scalar("SELECT MIN(seq) FROM change_feed WHERE at >= ?")
        .bind(day_start)
        .fetch_one(&mut conn)
        .await?;
    let out_of_order: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM change_feed WHERE at < ? AND seq > ?")
        .bind(day_start)
        .bind(first_of_day)
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    let (hist_db, day_db) = (dir.join("history.db"), dir.join("day.db"));
    for (copy, keep) in [(&hist_db, "at < ?"), (&day_db, "at >= ?")] {
        std::fs::copy(&full, copy)?;
        let mut c = sqlx::SqliteConnection::connect(&url(copy)).await?;
        sqlx::query(&format!("DELETE FROM change_feed WHERE NOT ({keep})")).bind(day_start).execute(&mut c).await?;
        c.close().await?;
    }

    // The history lake: every drop file and the feed before the day.
    let ids: Vec<&str> = FEED_PIPELINES.iter().chain(&DROP_PIPELINES).copied().collect();
    let hist_dir = dir.join("history");
    let mut hist = work_settings(&hist_dir, &hist_db)?;
    for d in ["telemedicine", "training"] {
        copy_dir(&store.data_dir.join("drops").join(d), &hist_dir.join("drops").join(d))?;
    }
    eprintln!("ingesting the history before {day}");
    let history = run(&hist, &ids, None).await?;
    hist.database_url = url(&full);

    // Runs of a fraction of a second are noisy: each side runs on fresh copies
    // TRIALS times, and the medians are compared.
    let (mut on_history, mut into_empty) = (Vec::new(), Vec::new());
    for k in 0..TRIALS {
        let (h_dir, e_dir) = (dir.join(format!("history-{k}")), dir.join(format!("empty-{k}")));
        copy_dir(&hist_dir, &h_dir)?;
        let mut h = hist.clone();
        h.data_dir = h_dir.clone();
        h.lake = h_dir.join("lake").display().to_string();
        let e = work_settings(&e_dir, &day_db)?;
        for d in ["telemedicine", "training"] {
            day_file(&store.data_dir.join("drops").join(d), &[&h_dir, &e_dir].map(|p| p.join("drops").join(d)))?;
        }
        eprintln!("ingesting {day} on top of the history and into an empty lake ({}/{TRIALS})", k + 1);
        into_empty.push(run(&e, &ids, None).await?);
        on_history.push(run(&h, &ids, None).await?);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let seconds =
        |trials: &[Value], id: &str| median(trials.iter().map(|t| t[id]["seconds"].as_f64().unwrap_or(0.0)).collect());
    let totals = |trials: &[Value]| {
        median(trials.iter().map(|t| ids.iter().map(|id| t[*id]["seconds"].as_f64().unwrap_or(0.0)).sum()).collect())
    };
    let mut ratios = serde_json::Map::new();
    for id in &ids {
        if on_history[0][id]["read"] != into_empty[0][id]["read"] {
            eprintln!(
                "warning: {id} read {} rows on the history and {} into the empty lake",
                on_history[0][id]["read"], into_empty[0][id]["read"]
            );
        }
        ratios.insert(id.to_string(), json!(seconds(&on_history, id) / seconds(&into_empty, id)));
    }
    ratios.insert("all".into(), json!(totals(&on_history) / totals(&into_empty)));
    Ok(json!({
        "day": day.to_string(),
        "day_rows": ids.iter().map(|id| on_history[0][*id]["read"].as_u64().unwrap_or(0)).sum::<u64>(),
        "history_rows": history.as_object().unwrap().values().map(|v| v["read"].as_u64().unwrap_or(0)).sum::<u64>(),
        "feed_rows_out_of_day_order": out_of_order,
        "trials": TRIALS,
        "median_seconds_on_history": totals(&on_history),
        "median_seconds_into_empty": totals(&into_empty),
        "on_history": on_history,
        "into_empty": into_empty,
        "ratio_on_history_to_empty": ratios,
    }))
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// A new file holding a day's worth of the last file's lines (a thirtieth), with
/// fresh keys, written to each of `to`.
fn day_file(from: &Path, to: &[PathBuf]) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(from)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let last = files.last().context("no drop files")?;
    let bytes = std::fs::read(last)?;
    let csv = last.extension().is_some_and(|e| e == "csv");
    let mut lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let header = if csv { lines.next() } else { None };
    let body: Vec<&[u8]> = lines.collect();
    let mut out: Vec<u8> = Vec::new();
    if let Some(h) = header {
        out.extend_from_slice(h);
        out.push(b'\n');
    }
    for (n, l) in body.iter().take(body.len().div_ceil(30)).enumerate() {
        match std::str::from_utf8(l) {
            Ok(l) if csv => out.extend_from_slice(renumber_csv(l, n).replacen("TB", "TD", 1).as_bytes()),
            Ok(l) => out.extend_from_slice(renumber_jsonl(l, n).replacen("\"AB", "\"AD", 1).as_bytes()),
            Err(_) => out.extend_from_slice(l),
        }
        out.push(b'\n');
    }
    let name = last.file_name().unwrap().to_string_lossy().replace(".csv", "_day.csv").replace(".jsonl", "_day.jsonl");
    for dir in to {
        std::fs::write(dir.join(&name), &out)?;
    }
    Ok(())
}
