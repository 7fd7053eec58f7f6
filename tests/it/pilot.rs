//! The pilot history (17 provinces, 2020 to October 2026), generated and ingested
//! once with the binary as a user would (which builds the rollups too): the
//! low-uptake detector against the simulator's ground truth (which it never reads),
//! per (station, reason); the KPIs, from the rollups and from the raw tables, against
//! DuckDB and polars computing them from the Parquet files the Delta log lists; and
//! every rollup-served KPI against its raw computation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use homedoc::domain::BoundarySet;
use homedoc::generate::truth::GroundTruth;
use homedoc::kpi::uptake::Reason;
use homedoc::kpi::{By, Catalog, Engine, KpiRequest};
use homedoc::lake::Lake;

use crate::cli::homedoc;

type Pairs = BTreeSet<(String, String)>;

/// Precision and recall of each reason: the flags raised against the labels.
fn score(flags: &Pairs, truth: &Pairs, judged: &BTreeSet<String>) -> BTreeMap<&'static str, (f64, f64, usize, usize)> {
    let mut out = BTreeMap::new();
    for r in Reason::ALL {
        let reason = r.as_str();
        let f: Pairs = flags.iter().filter(|(s, x)| x == reason && judged.contains(s)).cloned().collect();
        let t: Pairs = truth.iter().filter(|(_, x)| x == reason).cloned().collect();
        let hits = f.intersection(&t).count() as f64;
        let precision = if f.is_empty() { 1.0 } else { hits / f.len() as f64 };
        let recall = if t.is_empty() { 1.0 } else { hits / t.len() as f64 };
        out.insert(reason, (precision, recall, f.len(), t.len()));
    }
    out
}

async fn detect(dir: &std::path::Path, end: chrono::NaiveDate) -> (Pairs, BTreeSet<String>) {
    let settings = crate::ingest::settings(dir, &crate::ingest::sqlite_url(dir));
    let lake = Lake::new(&settings.lake).unwrap();
    let catalog = Arc::new(Catalog::embedded().unwrap());
    let thresholds = catalog.uptake;
    let engine = Engine::open(&lake, catalog, settings.timezone, None).await.unwrap();
    let stations = engine.low_uptake(end, BoundarySet::P34, None, &thresholds).await.unwrap();
    let judged = stations.iter().filter(|s| s.judged).map(|s| s.station.clone()).collect();
    let flags =
        stations.iter().flat_map(|s| s.reasons.iter().map(|r| (s.station.clone(), r.as_str().to_string()))).collect();
    (flags, judged)
}

fn truth(dir: &std::path::Path) -> GroundTruth {
    serde_json::from_str(&std::fs::read_to_string(dir.join("ground_truth.json")).unwrap()).unwrap()
}

/// The pilot history's data dir, made once for every test of this module.
fn pilot() -> &'static PathBuf {
    static PILOT: OnceLock<PathBuf> = OnceLock::new();
    PILOT.get_or_init(|| {
        let dir = crate::kpi::scratch("pilot");
        let started = std::time::Instant::now();
        let (ok, _, err) = homedoc(&dir, &["generate", "--scale", "pilot", "--until", "2026-10-31", "--quiet"]);
        assert!(ok, "{err}");
        let (ok, _, err) = homedoc(&dir, &["ingest", "--quiet"]);
        assert!(ok, "{err}");
        eprintln!("pilot generated and ingested in {:.0?}", started.elapsed());
        dir
    })
}

/// Every station of the country judged: at least 0.9 precision and recall for each
/// reason.
#[test]
fn the_detector_finds_the_planted_low_uptake_stations_of_the_pilot() {
    let dir = pilot();
    let truth = truth(dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (flags, judged) = rt.block_on(detect(dir, truth.until));
    let evaluated: BTreeSet<String> = truth.evaluated_stations.iter().cloned().collect();
    assert_eq!(judged, evaluated, "the detector judges the stations the ground truth labels");
    let labels: Pairs = truth.low_uptake.iter().map(|l| (l.station.clone(), l.reason.clone())).collect();
    let scores = score(&flags, &labels, &judged);
    for (reason, (p, r, flagged, labelled)) in &scores {
        eprintln!("{reason}: precision {p:.3} recall {r:.3} ({flagged} flagged, {labelled} labelled)");
    }
    for (reason, (p, r, _, labelled)) in &scores {
        assert!(*labelled > 0, "{reason}: the pilot plants some");
        assert!(*p >= 0.9 && *r >= 0.9, "{reason}: precision {p:.3}, recall {r:.3}");
    }
}

/// The peers' figures for a quarter and a whole year, against the engine's.
#[test]
fn kpis_equal_duckdb_and_polars_over_the_files_of_the_delta_log() {
    crate::support::python_peers();
    let dir = pilot();
    let settings = crate::ingest::settings(dir, &crate::ingest::sqlite_url(dir));
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (first, last) in [("2026-07-01", "2026-09-30"), ("2025-01-01", "2025-12-31")] {
        let out = std::process::Command::new("python3")
            .arg(crate::ingest::repo().join("benches/peers/kpi_peers.py"))
            .arg(dir.join("lake"))
            .args([first, last])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let peers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        eprintln!("peers: {}", peers["versions"]);
        for rollups in [true, false] {
            let ours: BTreeMap<String, BTreeMap<String, f64>> = rt.block_on(async {
                let lake = Lake::new(&settings.lake).unwrap();
                let engine = Engine::open(&lake, Arc::new(Catalog::embedded().unwrap()), settings.timezone, None)
                    .await
                    .unwrap()
                    .with_rollups(rollups);
                assert!(engine.rollups_fresh(), "ingest built the rollups");
                let mut all = BTreeMap::new();
                for id in peers["duckdb"].as_object().unwrap().keys() {
                    let req =
                        KpiRequest { by: By::Province, ..KpiRequest::new(format!("{first}..{last}").parse().unwrap()) };
                    let rows = engine.kpi(id, &req).await.unwrap().rows;
                    all.insert(id.clone(), rows.into_iter().filter_map(|r| Some((r.unit, r.value?))).collect());
                }
                all
            });
            for peer in ["duckdb", "polars"] {
                for (id, theirs) in peers[peer].as_object().unwrap() {
                    let mine = &ours[id];
                    for (province, v) in theirs.as_object().unwrap() {
                        let v = v.as_f64().unwrap();
                        let m = mine.get(province).copied().unwrap_or(0.0);
                        assert!(
                            (m - v).abs() < 1e-6 * v.abs().max(1.0),
                            "{first}..{last} {id} {province}: ours {m} (rollups {rollups}), {peer} {v}"
                        );
                    }
                    // And nothing the peer found nothing for.
                    for (province, m) in mine {
                        if theirs.get(province).is_none() {
                            assert_eq!(*m, 0.0, "{first}..{last} {id} {province}: ours {m}, {peer} none");
                        }
                    }
                }
            }
        }
    }
}

/// Every KPI with fresh rollups (from the rollup tables, or the others from the state
/// tables), for a year by province (in both boundary sets), by station and month, and
/// by each group, equals its raw computation.
#[test]
fn kpis_from_rollups_equal_the_raw_computation_on_the_pilot() {
    let dir = pilot();
    let settings = crate::ingest::settings(dir, &crate::ingest::sqlite_url(dir));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let compared = rt.block_on(async {
        let lake = Lake::new(&settings.lake).unwrap();
        crate::rollups::assert_rollups_match(&lake, &["2025", "2026-07-01..2026-10-31"]).await
    });
    eprintln!("{compared} rows equal from rollups and raw");
}
