//! Dashboards on the sample lake: every built-in dashboard builds for its scope, its
//! panels agree with the KPIs and reports they are drawn from, and each chart's SVG
//! equals its golden file under `tests/golden/charts/` (`HOMEDOC_REGENERATE=1
//! cargo test dashboards` rewrites them, to be reviewed). PNG exports decode.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use homedoc::dashboard::{self, Dashboard, Filters, View};
use homedoc::domain::BoundarySet;
use homedoc::kpi::uptake::UptakeThresholds;
use homedoc::kpi::{By, Catalog, Engine, KpiRequest, Lang};
use homedoc::lake::Lake;
use homedoc::report::{Cell, ReportArgs, ReportName};

use crate::ingest::repo;
use crate::kpi::sample;

async fn engine() -> Engine {
    let s = sample();
    let lake = Lake::new(&s.settings.lake).unwrap();
    Engine::open(&lake, Arc::new(Catalog::embedded().unwrap()), s.settings.timezone, None).await.unwrap()
}

fn dashboards(engine: &Engine) -> BTreeMap<String, Dashboard> {
    let all = dashboard::config::load(None, engine.catalog()).unwrap();
    all.into_iter().map(|d| (d.id.clone(), d)).collect()
}

fn filters(period: &str, lang: Lang) -> Filters {
    Filters {
        period: period.parse().unwrap(),
        boundary: BoundarySet::P34,
        lang,
        province: None,
        project: None,
        station: None,
        targets: Default::default(),
        uptake: UptakeThresholds::parse(homedoc::kpi::uptake::BUILT_IN).unwrap(),
        suppression: Default::default(),
        audience: Default::default(),
    }
}

/// A station of province 08 with bookings in October 2026.
async fn busy_station(engine: &Engine) -> String {
    let req =
        KpiRequest { by: By::Station, province: Some("08".into()), ..KpiRequest::new("2026-10".parse().unwrap()) };
    let rows = engine.kpi("appointments_booked", &req).await.unwrap().rows;
    rows.iter().max_by(|a, b| a.numerator.total_cmp(&b.numerator).then(b.unit.cmp(&a.unit))).unwrap().unit.clone()
}

/// Every dashboard for one subject each: (dashboard id, view).
async fn views(engine: &Engine, lang: Lang) -> Vec<(String, View)> {
    let ds = dashboards(engine);
    let station = busy_station(engine).await;
    let mut out = Vec::new();
    for (id, d) in &ds {
        let mut f = filters("2026-Q3", lang);
        match id.as_str() {
            "donor" => f.project = Some("kofih-10-provinces".into()),
            "province" => f.province = Some("08".into()),
            "station" => f.station = Some(station.clone()),
            "quality" => f.period = "2026-10".parse().unwrap(),
            _ => {}
        }
        out.push((id.clone(), dashboard::build(engine, d, &f).await.unwrap_or_else(|e| panic!("{id}: {e}"))));
    }
    out
}

fn golden_dir() -> PathBuf {
    repo().join("tests/golden/charts")
}

#[tokio::test]
async fn every_chart_kind_draws_its_golden_svg_on_the_sample() {
    let engine = engine().await;
    let regenerate = std::env::var_os("HOMEDOC_REGENERATE").is_some();
    let dir = golden_dir();
    let mut kinds = std::collections::BTreeSet::new();
    let mut differ = Vec::new();
    for (id, view) in views(&engine, Lang::En).await {
        for p in &view.panels {
            // The run history's panels depend on when the sample was ingested.
            if id == "quality" && p.id != "quiet_stations" {
                continue;
            }
            let Some(chart) = &p.chart else { continue };
            kinds.insert(format!("{:?}", std::mem::discriminant(&chart.kind)));
            let svg = chart.svg().unwrap();
            assert!(svg.contains("font-family=\"homedoc-sans\""), "{id}/{}: text not in the bundled font", p.id);
            assert!(!svg.contains("font-family=\"sans-serif\""), "{id}/{}: text in the machine's font", p.id);
            let path = dir.join(format!("{id}__{}.svg", p.id));
            if regenerate {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &svg).unwrap();
                continue;
            }
            let golden = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (HOMEDOC_REGENERATE=1 writes it)", path.display()));
            if golden != svg {
                differ.push(path.display().to_string());
            }
        }
    }
    assert!(
        differ.is_empty(),
        "charts differ from their golden files (HOMEDOC_REGENERATE=1 rewrites them):\n{}",
        differ.join("\n")
    );
    assert_eq!(kinds.len(), 6, "line, bars, stacked, equity, multiples and map are all drawn");
}

#[tokio::test]
async fn panels_show_the_figures_of_the_kpis_and_reports_they_name() {
    let engine = engine().await;
    let views: BTreeMap<String, View> = views(&engine, Lang::En).await.into_iter().collect();
    let cell = |v: &View, panel: &str, col: &str| -> Vec<Cell> {
        let p = v.panels.iter().find(|p| p.id == panel).unwrap();
        let i = p.table.columns.iter().position(|c| c.id == col).unwrap();
        p.table.rows.iter().map(|r| r[i].clone()).collect()
    };

    // The map: one tile per province of the 34 set, the KPI's own values.
    let national = &views["national"];
    let req = KpiRequest { by: By::Province, ..KpiRequest::new("2026-Q3".parse().unwrap()) };
    let kpi = engine.kpi("accounts_per_1000_population", &req).await.unwrap();
    let map: Vec<Cell> = cell(national, "accounts_map", "value");
    assert_eq!(map.len(), 34);
    let expected: f64 = kpi.rows.iter().filter_map(|r| r.value).map(|v| (v * 100.0).round() / 100.0).sum();
    let shown: f64 = map.iter().filter_map(Cell::value).sum();
    assert!((expected - shown).abs() < 1e-6, "map {shown} vs KPI {expected}");

    // Bars by province: largest first, adding up to the national figure.
    let bars: Vec<f64> = cell(national, "bookings_by_province", "value").iter().filter_map(Cell::value).collect();
    assert!(bars.windows(2).all(|w| w[0] >= w[1]), "{bars:?}");
    let all = engine.kpi("appointments_booked", &KpiRequest::new("2026-Q3".parse().unwrap())).await.unwrap();
    assert_eq!(bars.iter().sum::<f64>(), all.rows[0].numerator);

    // Equity: everyone's rate (made from a breakdown's parts) is the KPI's own
    // national figure, and each group's rate is the KPI's for that group.
    let equity = national.panels.iter().find(|p| p.id == "booking_equity").unwrap();
    let rate = |dimension: &str, group: &str| {
        equity
            .table
            .rows
            .iter()
            .find(|r| r[0] == Cell::Text(dimension.into()) && r[1] == Cell::Text(group.into()))
            .and_then(|r| r[2].value())
    };
    let whole = engine.kpi("bookings_per_1000_accounts", &KpiRequest::new("2026-Q3".parse().unwrap())).await.unwrap();
    let round = |v: f64| (v * 100.0).round() / 100.0;
    assert_eq!(rate("all", "all").map(round), whole.rows[0].value.map(round));
    let by_sex =
        KpiRequest { group: Some(homedoc::kpi::Disaggregation::Sex), ..KpiRequest::new("2026-Q3".parse().unwrap()) };
    for r in engine.kpi("bookings_per_1000_accounts", &by_sex).await.unwrap().rows {
        assert_eq!(rate("sex", &r.group).map(round), r.value.map(round), "sex {}", r.group);
    }

    // The station's monthly line adds up to its row of the KPI by station.
    let station = &views["station"];
    let months: f64 = cell(station, "bookings", "value").iter().filter_map(Cell::value).sum();
    let code = busy_station(&engine).await;
    let year = KpiRequest {
        by: By::Station,
        province: Some("08".into()),
        ..KpiRequest::new("2025-10-01..2026-09-30".parse().unwrap())
    };
    let by_station = engine.kpi("appointments_booked", &year).await.unwrap();
    let own = by_station.rows.iter().find(|r| r.unit == code).unwrap().numerator;
    assert_eq!(months, own, "twelve months to 2026-Q3 of station {code}");

    // The donor dashboard shows the donor-results tables as they are: suppressed.
    let args = ReportArgs {
        period: "2026-Q3".parse().unwrap(),
        province: None,
        project: Some("kofih-10-provinces".into()),
        boundary: BoundarySet::P34,
        lang: Lang::En,
        targets: Default::default(),
        suppression: Default::default(),
        audience: Default::default(),
    };
    let report = homedoc::report::make(&engine, ReportName::DonorResults, args).await.unwrap();
    let counts = report.tables.iter().find(|t| t.id == "counts_by_sex").unwrap();
    let shown = &views["donor"].panels.iter().find(|p| p.id == "counts_by_sex").unwrap().table;
    assert_eq!(shown.rows, counts.rows);
    assert!(counts.rows.iter().any(|r| r.iter().any(|c| *c == Cell::Empty)), "the sample has suppressed cells");
}

#[tokio::test]
async fn labels_follow_the_language_and_png_exports_decode() {
    let engine = engine().await;
    let vi = views(&engine, Lang::Vi).await;
    let (_, national) = vi.iter().find(|(id, _)| id == "national").unwrap();
    let line = national.panels.iter().find(|p| p.id == "accounts_trend").unwrap();
    let chart = line.chart.as_ref().unwrap();
    let svg = chart.svg().unwrap();
    assert!(svg.contains("Số lượng"), "the unit in Vietnamese");
    assert!(national.title == "Toàn quốc");
    let png = chart.png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), chart.size());
    // Text and lines were drawn: far from a blank image.
    let dark = pixels.chunks(3).filter(|p| p.iter().all(|c| *c < 100)).count();
    assert!(dark > 500, "{dark} dark pixels");
}

#[tokio::test]
async fn the_quality_dashboard_accounts_for_every_row_read() {
    let engine = engine().await;
    let d = dashboards(&engine).remove("quality").unwrap();
    let wide = filters("2020-01-01..2035-12-31", Lang::En);
    let view = dashboard::build(&engine, &d, &wide).await.unwrap();
    let runs = &view.panels.iter().find(|p| p.id == "runs").unwrap().table;
    assert!(!runs.rows.is_empty());
    let mut quarantined = 0.0;
    for r in &runs.rows {
        let (read, accepted, q) = (r[3].value().unwrap(), r[4].value().unwrap(), r[5].value().unwrap());
        assert_eq!(read, accepted + q, "{:?}", r[0]);
        quarantined += q;
    }
    let reasons = &view.panels.iter().find(|p| p.id == "quarantine_reasons").unwrap().table;
    let by_reason: f64 = reasons.rows.iter().map(|r| r[2].value().unwrap()).sum();
    assert!(quarantined > 0.0, "the sample's drops have malformed rows");
    assert_eq!(by_reason, quarantined);
}

#[test]
fn the_dashboards_folder_holds_the_built_in_files() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("dashboards"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "toml").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = dashboard::config::built_in_ids().iter().map(|s| s.to_string()).collect();
    built_in.sort();
    assert_eq!(on_disk, built_in);
}
