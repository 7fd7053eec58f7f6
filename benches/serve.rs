//! Load benchmark of `homedoc serve`: a real HTTP load generator on loopback against
//! the release build of the services, on SQLite (synchronous=FULL) and, when
//! HOMEDOC_BENCH_POSTGRES_URL names a server, on PostgreSQL.
//!
//! `cargo bench -p homedoc-benches --bench serve [-- --seconds 10 --clients 64]`
//!
//! The server runs in a child process (this binary re-executed in server mode, so it
//! is the same optimised build of the library that `homedoc serve` runs). Reported,
//! as one JSON line per backend: durable bookings/s with p50/p99 latency, free-slot
//! reads/s with p50/p99, the server's PRAGMA synchronous, bookings per group commit,
//! and the peer figure: how many fsyncs a second this disk manages in the same run,
//! which is what one commit per booking would be capped at.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use homedoc::domain::*;
use homedoc::services::auth::token_hash;
use homedoc::store::{SessionOwner, SqlStore, Store};
use serde_json::{Value, json};

const SERVE_ENV: &str = "HOMEDOC_BENCH_SERVE";
const PG_ENV: &str = "HOMEDOC_BENCH_POSTGRES_URL";
const STATION: &str = "TYT02-0001";
const READ_STATION: &str = "TYT02-0002";
const CITIZENS: usize = 4096;
const SLOTS: usize = 400;
const CAPACITY: i64 = 200;

struct Args {
    seconds: u64,
    clients: usize,
}

fn args() -> Args {
    let mut a = Args { seconds: 10, clients: 64 };
    let argv: Vec<String> = std::env::args().collect();
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--seconds" => a.seconds = w[1].parse().expect("--seconds N"),
            "--clients" => a.clients = w[1].parse().expect("--clients N"),
            _ => {}
        }
    }
    a
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os(SERVE_ENV).is_some() {
        return serve_mode();
    }
    let a = args();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("homedoc.db").display());
    runtime.block_on(run("sqlite", &sqlite, dir.path(), &a))?;
    if let Ok(admin) = std::env::var(PG_ENV) {
        let pg_dir = tempfile::tempdir()?;
        runtime.block_on(async {
            let db = format!("homedoc_bench_{}", std::process::id());
            sqlx::any::install_default_drivers();
            let admin_store = sqlx::AnyPool::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {db}")).execute(&admin_store).await?;
            let url = format!("{}/{db}", admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b));
            let result = run("postgres", &url, pg_dir.path(), &a).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).execute(&admin_store).await?;
            result
        })?;
    } else {
        eprintln!("PostgreSQL skipped: set {PG_ENV} (e.g. postgres://postgres@127.0.0.1:5432/postgres)");
    }
    Ok(())
}

/// The child: `homedoc serve` on an ephemeral port, as the CLI runs it.
fn serve_mode() -> anyhow::Result<()> {
    let dir = std::env::var("HOMEDOC_DATA_DIR")?;
    let settings = homedoc::config::Settings::load(Path::new(&dir), None)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut out = std::io::stdout().lock();
    runtime.block_on(homedoc::app::serve(&settings, Some("127.0.0.1:0".parse()?), &mut out))?;
    Ok(())
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, url: &str) -> anyhow::Result<Server> {
    let mut child = Command::new(std::env::current_exe()?)
        .env(SERVE_ENV, "1")
        .env("HOMEDOC_DATA_DIR", dir)
        .env("HOMEDOC_DATABASE_URL", url)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line)?;
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let base = line.trim().rsplit(' ').next().unwrap_or_default().to_string();
    anyhow::ensure!(base.starts_with("http://"), "server said {line:?}");
    Ok(Server(child, base))
}

/// Stations, citizens with sessions and slots, written straight into the store.
async fn seed(url: &str) -> anyhow::Result<Vec<String>> {
    let store = SqlStore::connect(url).await?;
    let now = Utc::now();
    let code = |s: &str| FacilityCode::parse(s).expect("code");
    let p = |s: &str| ProvinceCode::parse(s).expect("province");
    let mut tx = store.begin().await?;
    for (c, level, refers) in [
        ("TTYT02-01", FacilityLevel::DistrictCentre, None),
        (STATION, FacilityLevel::CommuneStation, Some("TTYT02-01")),
        (READ_STATION, FacilityLevel::CommuneStation, Some("TTYT02-01")),
    ] {
        let station = level == FacilityLevel::CommuneStation;
        let f = Facility::new(
            code(c),
            c,
            level,
            p("02"),
            p("08"),
            station.then(|| c.trim_start_matches("TYT").to_string()),
            refers.map(code),
            station.then(|| now.date_naive()),
            station.then_some(5000),
        )?;
        tx.add_facility(&f).await?;
    }
    let mut tokens = Vec::with_capacity(CITIZENS);
    for i in 0..CITIZENS {
        let account = Account::new(
            Phone::parse(&format!("09{i:08}"))?,
            PersonName::parse("Nguyễn Văn An")?,
            Sex::Male,
            BirthYear::new(1980, now)?,
            false,
            Vulnerability::default(),
            code(STATION),
            Some(now),
            now,
        )?;
        let id = tx.add_account(&account).await?;
        let token = format!("bench-{i:06}-{}", std::process::id());
        tx.create_session(&token_hash(&token), SessionOwner::Account(id), "csrf", now, now + chrono::Duration::days(1))
            .await?;
        tokens.push(token);
    }
    let day = Utc.from_utc_datetime(&(now.date_naive() + chrono::Days::new(2)).and_hms_opt(1, 0, 0).expect("time"));
    for i in 0..SLOTS {
        let start = day + chrono::Duration::minutes(10 * i as i64);
        tx.add_slot(&Slot::new(code(STATION), start, 10, CAPACITY)?).await?;
    }
    for i in 0..8 {
        let start = day + chrono::Duration::minutes(30 * i);
        tx.add_slot(&Slot::new(code(READ_STATION), start, 30, 4)?).await?;
    }
    tx.commit().await?;
    store.close().await;
    Ok(tokens)
}

/// The peer figure: synced 4 KiB writes a second on the store's own disk.
fn fsyncs_per_second(dir: &Path) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let block = [7u8; 4096];
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(2) {
        f.write_all(&block)?;
        f.sync_data()?;
        n += 1;
    }
    std::fs::remove_file(path)?;
    Ok(f64::from(n) / started.elapsed().as_secs_f64())
}

struct Phase {
    ok: usize,
    refused: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
}

impl Phase {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// Runs `clients` workers for `seconds`; worker `w` sends request number `k` built by `make`.
async fn phase<F>(clients: usize, seconds: u64, make: F) -> Phase
where
    F: Fn(&reqwest::Client, usize, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().expect("client");
    let make = Arc::new(make);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        let (http, make, stop) = (http.clone(), make.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut refused, mut lat) = (0usize, 0usize, Vec::new());
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let resp = make(&http, w, k).send().await.expect("request");
                let status = resp.status();
                let _ = resp.bytes().await;
                lat.push(t.elapsed().as_micros() as u64);
                if status.is_success() {
                    ok += 1;
                } else if status.as_u16() == 409 {
                    refused += 1;
                } else {
                    panic!("unexpected status {status}");
                }
                k += 1;
            }
            (ok, refused, lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = Phase { ok: 0, refused: 0, seconds: 0.0, latencies_us: Vec::new() };
    for t in tasks {
        let (ok, refused, lat) = t.await.expect("worker");
        out.ok += ok;
        out.refused += refused;
        out.latencies_us.extend(lat);
    }
    out.seconds = started.elapsed().as_secs_f64();
    out.latencies_us.sort_unstable();
    out
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

async fn run(backend: &str, url: &str, dir: &Path, a: &Args) -> anyhow::Result<()> {
    eprintln!("{backend}: seeding {CITIZENS} citizens with sessions and {SLOTS} slots of {CAPACITY} places");
    let tokens = Arc::new(seed(url).await?);
    let fsyncs = fsyncs_per_second(dir)?;
    let server = start(dir, url)?;
    let base = server.1.clone();
    let http = reqwest::Client::new();
    let health: Value = http.get(format!("{base}/healthz")).send().await?.json().await?;

    eprintln!("{backend}: booking with {} clients for {} s", a.clients, a.seconds);
    let (clients, b) = (a.clients, base.clone());
    let per_worker = CITIZENS / clients;
    let toks = tokens.clone();
    let bookings = phase(clients, a.seconds, move |http, w, k| {
        // Worker w owns its citizens and walks the slots from its own offset, so that
        // every request is a new (citizen, slot) pair and the workers spread over slots.
        let citizen = w * per_worker + k % per_worker;
        let slot = 1 + (w * (SLOTS / clients) + k / per_worker) % SLOTS;
        http.post(format!("{b}/api/v1/appointments"))
            .bearer_auth(&toks[citizen])
            .json(&json!({ "slot_id": slot, "reason": "general_checkup" }))
    })
    .await;
    let metrics = http.get(format!("{base}/metrics")).send().await?.text().await?;
    let commits = metric(&metrics, "homedoc_write_commits");
    let booked = metric(&metrics, "homedoc_bookings_committed");

    eprintln!("{backend}: reading free slots with {} clients for {} s", a.clients, a.seconds.min(5));
    let b = base.clone();
    let reads = phase(clients, a.seconds.min(5), move |http, _, _| {
        http.get(format!("{b}/api/v1/stations/{READ_STATION}/slots"))
    })
    .await;
    drop(server);

    let bookings_per_s = bookings.ok as f64 / bookings.seconds;
    println!(
        "{}",
        json!({
            "bench": "serve",
            "backend": backend,
            "clients": clients,
            "bookings_per_second": bookings_per_s,
            "booking_p50_ms": bookings.pct(0.50),
            "booking_p99_ms": bookings.pct(0.99),
            "bookings_refused_full": bookings.refused,
            "slot_reads_per_second": reads.ok as f64 / reads.seconds,
            "read_p50_ms": reads.pct(0.50),
            "read_p99_ms": reads.pct(0.99),
            "sqlite_synchronous": health["sqlite_synchronous"],
            "group_commits": commits,
            "bookings_per_commit": booked / commits,
            "peer_fsyncs_per_second": fsyncs,
            "bookings_per_second_over_fsyncs_per_second": bookings_per_s / fsyncs,
        })
    );
    Ok(())
}
