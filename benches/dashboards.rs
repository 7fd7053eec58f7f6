//! Benchmark of the dashboard pages: the server time of each page (every panel
//! computed from the lake, its charts drawn; no figure is cached between requests)
//! over real HTTP on loopback, logged in as a user who may open it. Target: under
//! 200 ms at pilot scale, under 1 s at national scale.
//!
//! `cargo bench -p homedoc-benches --bench dashboards -- [pilot|national] [--period 2026-10] [--trials 5]`
//!
//! The history is generated and ingested into HOMEDOC_BENCH_DIR (or a temporary dir)
//! unless already there. Every page is timed twice over: with the lake opened afresh
//! on each request (`reopened`), then as the server runs, its Delta tables kept open
//! between requests and checked against their logs (`kept`). Prints one JSON line:
//! per mode and dashboard the best and the median of five requests, and the peak
//! memory.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use homedoc::clock::Clock;
use homedoc::generate::Scale;
use homedoc::kpi::Catalog;
use homedoc::services::{Outbox, ServiceSettings, Services, WriteContext};
use homedoc::store::SqlStore;
use homedoc::web::{self, AppState, WebSettings};
use serde_json::json;

mod common;
use common::{args, bench_dir, peak_rss_mib, prepare};

/// Requests of each page unless `--trials` says otherwise.
const TRIALS: usize = 5;
const PASSWORD: &str = "bench password 1234";

fn main() -> anyhow::Result<()> {
    let common::BenchArgs { scale, period, trials } = args("2026-10", TRIALS)?;
    let (_keep, dir) = bench_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let settings = prepare(&dir, scale).await?;
        let clock = Clock::system();
        let store = SqlStore::connect(&settings.database_url).await?.with_clock(clock.clone());
        let services = Services::new(
            Arc::new(store.clone()),
            clock,
            Arc::new(Outbox::new(dir.join(Outbox::FILE))),
            Arc::new(homedoc::app::reference(&settings)?),
            ServiceSettings::default(),
        );
        // A province and a station with data: the first commune station's.
        let station = {
            use homedoc::store::Store as _;
            let mut codes = store.facility_codes().await?;
            codes.sort();
            let mut found = None;
            for c in codes {
                if let Some(f) = store.facility(&c).await? {
                    if f.level == "commune_station" {
                        found = Some(f);
                        break;
                    }
                }
            }
            found.context("no commune station")?
        };
        let project = services.reference.projects.first().map(|p| p.id.clone()).context("no project")?;
        let stamp = std::process::id();
        let eva = format!("bench-eva-{stamp}");
        for (user, role, scope) in [(&eva, "evaluator", None)] {
            let r = services.add_user(None, user, PASSWORD, role, scope, &WriteContext::new("bench")).await?;
            if r.status >= 400 {
                bail!("bench user: {}", r.body);
            }
        }
        let catalog = Arc::new(Catalog::load(settings.sql_dir.as_deref())?);
        let mut modes = serde_json::Map::new();
        for (mode, keep_open) in [("reopened", false), ("kept", true)] {
            let analytics = web::analytics::Analytics::new(settings.clone(), catalog.clone())
                .map_err(anyhow::Error::msg)?
                .keep_open(keep_open);
            let web_settings =
                WebSettings { background_every: std::time::Duration::from_secs(86_400), ..WebSettings::default() };
            let state =
                AppState::with_parts(services.clone(), store.clone(), web_settings, None, Some(Arc::new(analytics)));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let base = format!("http://{}", listener.local_addr()?);
            let (stop, rx) = tokio::sync::watch::channel(false);
            let server = tokio::spawn(web::serve(listener, state, rx));

            let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
            let login = http
                .post(format!("{base}/login"))
                .form(&[("username", eva.as_str()), ("password", PASSWORD)])
                .send()
                .await?;
            let cookie = login
                .headers()
                .get("set-cookie")
                .context("no session cookie")?
                .to_str()?
                .split(';')
                .next()
                .unwrap()
                .to_string();
            let p = period.to_string();
            let pages = [
                ("national", format!("/d/national?period={p}")),
                ("donor", format!("/d/donor?period={p}&project={project}")),
                ("province", format!("/d/province?period={p}&province={}", station.province_34)),
                ("station", format!("/d/station?period={p}&station={}", station.code)),
                ("quality", format!("/d/quality?period={p}")),
            ];
            let mut results = serde_json::Map::new();
            for (id, path) in pages {
                let mut times = Vec::new();
                // The server's own split (Server-Timing) of the fastest request.
                let mut split = (f64::MAX, String::new());
                for _ in 0..trials {
                    let started = Instant::now();
                    let r = http.get(format!("{base}{path}")).header("cookie", &cookie).send().await?;
                    let status = r.status();
                    let timing =
                        r.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let body = r.text().await?;
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    if ms < split.0 {
                        split = (ms, timing);
                    }
                    times.push(ms);
                    if !status.is_success() {
                        bail!("{path}: {status}: {}", body.chars().take(300).collect::<String>());
                    }
                }
                times.sort_by(f64::total_cmp);
                eprintln!("{mode} {id}: best {:.0} ms, median {:.0} ms ({})", times[0], times[trials / 2], split.1);
                results.insert(
                    id.into(),
                    json!({ "best_ms": times[0], "median_ms": times[trials / 2], "server_timing": split.1 }),
                );
            }
            stop.send(true)?;
            server.await??;
            modes.insert(mode.into(), results.into());
        }
        store.close().await;
        println!(
            "{}",
            json!({
                "scale": scale.as_str(),
                "period": period.to_string(),
                "pages": modes,
                "trials": trials,
                "target_ms": if scale == Scale::National { 1000 } else { 200 },
                "peak_rss_mib": peak_rss_mib(),
            })
        );
        anyhow::Ok(())
    })
}
