//! Reports made with the binary on the sample lake: donor-results with small-cell
//! suppression checked against the unsuppressed KPI and audited by linear
//! programming from the published cells alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use homedoc::domain::BoundarySet;
use homedoc::kpi::{By, Catalog, Disaggregation, Engine, KpiRequest};
use homedoc::lake::Lake;
use homedoc::report::suppress::{Grid, audit};
use serde_json::Value;

use crate::cli::homedoc;
use crate::kpi::sample;

type Pairs = BTreeSet<(String, String)>;

fn rows(report: &Value, table: &str) -> Vec<Value> {
    report["tables"].as_array().unwrap().iter().find(|t| t["id"] == table).unwrap()["rows"].as_array().unwrap().clone()
}

#[test]
fn donor_results_hides_small_counts_and_whatever_would_reveal_them() {
    let s = sample();
    let out = s.dir.join("donor.json");
    let (ok, _, err) = homedoc(
        &s.dir,
        &[
            "report",
            "donor-results",
            "--project",
            "kofih-10-provinces",
            "--period",
            "2026-Q3",
            "--lang",
            "en",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let k = 10.0;

    // The unsuppressed figures: every sample station is in the project, so they are
    // the KPI by province and sex.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let truth: BTreeMap<(String, String, String), f64> = rt.block_on(async {
        let lake = Lake::new(&s.settings.lake).unwrap();
        let engine =
            Engine::open(&lake, Arc::new(Catalog::embedded().unwrap()), s.settings.timezone, None).await.unwrap();
        let mut out = BTreeMap::new();
        for id in ["appointments_booked", "accounts_registered", "appointments_completed"] {
            let req = KpiRequest {
                by: By::Province,
                boundary: BoundarySet::P34,
                group: Some(Disaggregation::Sex),
                ..KpiRequest::new("2026-Q3".parse().unwrap())
            };
            for r in engine.kpi(id, &req).await.unwrap().rows {
                out.insert((id.to_string(), r.unit, r.group), r.numerator);
            }
        }
        out
    });

    let counts = rows(&report, "counts_by_sex");
    let mut small_seen = 0;
    for ((id, province, sex), v) in &truth {
        let Some(row) = counts
            .iter()
            .find(|r| r["indicator"] == id.as_str() && r["province"] == province.as_str() && r["sex"] == sex.as_str())
        else {
            // Provinces with hospitals only have no station in the project.
            assert_eq!(*v, 0.0, "{id} {province} {sex} is missing from the report");
            continue;
        };
        let hidden = row["suppressed"] == "true";
        if *v >= 1.0 && *v < k {
            small_seen += 1;
            assert!(hidden && row["value"].is_null(), "a small count is published: {row}");
        } else if !hidden {
            assert_eq!(row["value"].as_f64(), Some(*v), "{row}");
        }
    }
    assert!(small_seen > 0, "the sample has small cells in 2026-Q3, so suppression is exercised");

    // The audit from the published cells only: for each table, every hidden cell's
    // feasible range under the margins is wider than k.
    let indicators: BTreeSet<String> = counts.iter().map(|r| r["indicator"].as_str().unwrap().to_string()).collect();
    for id in &indicators {
        let cells: Vec<&Value> = counts.iter().filter(|r| r["indicator"] == id.as_str()).collect();
        let provinces: Vec<String> =
            cells.iter().map(|r| r["province"].as_str().unwrap().to_string()).fold(Vec::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p)
                }
                v
            });
        let sexes: Vec<String> =
            cells.iter().map(|r| r["sex"].as_str().unwrap().to_string()).fold(Vec::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p)
                }
                v
            });
        assert_eq!(provinces.last().map(String::as_str), Some("project"), "{id}: the project total is last");
        assert_eq!(sexes.last().map(String::as_str), Some("all"), "{id}: the both-sexes total is last");
        let mut values = vec![vec![0.0; sexes.len()]; provinces.len()];
        let mut hidden = vec![vec![false; sexes.len()]; provinces.len()];
        for r in &cells {
            let i = provinces.iter().position(|p| r["province"] == p.as_str()).unwrap();
            let j = sexes.iter().position(|x| r["sex"] == x.as_str()).unwrap();
            hidden[i][j] = r["suppressed"] == "true";
            values[i][j] = r["value"].as_f64().unwrap_or(0.0);
        }
        for ((r, c), lo, hi) in audit(&Grid { values }, &hidden) {
            assert!(hi - lo > k, "{id}: {} {} can be narrowed to [{lo}, {hi}]", provinces[r], sexes[c]);
            if let Some(v) = truth.get(&(id.clone(), provinces[r].clone(), sexes[c].clone())) {
                assert!(lo - 1e-6 <= *v && *v <= hi + 1e-6, "{id}: the true {v} lies in [{lo}, {hi}]");
            }
        }
    }
    for r in rows(&report, "suppression_audit") {
        assert_eq!(r["passed"], "true", "{r}");
    }
    // Rates made from a small count are hidden too.
    for r in rows(&report, "rates_by_sex") {
        assert!(r["suppressed"] == "true" || r["value"].is_number() || r["value"].is_null(), "{r}");
    }

    let (ok, _, err) =
        homedoc(&s.dir, &["report", "donor-results", "--project", "nope", "--period", "2026-Q3", "--out", "-"]);
    assert!(!ok && err.contains("no project \"nope\"") && err.contains("kofih-10-provinces"), "{err}");
}

#[test]
fn html_is_one_self_contained_page_and_xlsx_has_a_typed_sheet_per_table() {
    let s = sample();
    let make = |format: &str| -> std::path::PathBuf {
        let out = s.dir.join(format!("scorecard.{format}"));
        let (ok, _, err) = homedoc(
            &s.dir,
            &[
                "report",
                "national-scorecard",
                "--period",
                "2026-Q3",
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(ok, "{err}");
        out
    };
    let json: Value = serde_json::from_str(&std::fs::read_to_string(make("json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(make("html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("<html lang=\"vi\">"));
    // Charts inline; nothing fetched from elsewhere (the only URL is the SVG namespace).
    assert!(html.matches("<svg").count() >= 2, "trend and province charts");
    // The font is inlined as a data URL: the page's one url(), cut out before the checks
    // (its base64 text could spell anything).
    let font = html.find("url(data:font/ttf;base64,").expect("the bundled font inlined");
    let html = format!("{}{}", &html[..font], &html[font + html[font..].find(')').unwrap() + 1..]);
    for needle in ["<script", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(needle), "{needle} in the page");
    }
    let urls: BTreeSet<&str> = html.match_indices("http").map(|(i, _)| &html[i..(i + 26).min(html.len())]).collect();
    assert!(urls.iter().all(|u| u.starts_with("http://www.w3.org/2000/svg")), "{urls:?}");
    assert!(html.contains(json["snapshot"].as_str().unwrap()), "the page states its snapshot");
    // Every table's every row is in the page.
    let tables = json["tables"].as_array().unwrap();
    let rows_in_json: usize = tables.iter().map(|t| t["rows"].as_array().unwrap().len()).sum();
    assert_eq!(html.matches("<tr>").count(), rows_in_json + tables.len(), "a header row per table");

    let file = std::fs::File::open(make("xlsx")).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut read = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let workbook = read("xl/workbook.xml");
    for t in tables {
        assert!(workbook.contains(&format!("name=\"{}\"", t["id"].as_str().unwrap())), "{workbook}");
    }
    // The targets sheet (the second) holds numbers as numbers and dates as dates.
    let sheet = read("xl/worksheets/sheet2.xml");
    assert!(sheet.contains("<v>") && sheet.matches("t=\"s\"").count() < sheet.matches("<c ").count(), "numeric cells");
    let styles = read("xl/styles.xml");
    assert!(styles.contains("yyyy-mm-dd"), "a date format");
}

/// Validates an XML file against an XSD with the Python xmlschema package, so the
/// check does not share code with the writer.
fn xsd_problems(xml: &std::path::Path, xsd: &std::path::Path) -> Option<String> {
    crate::support::python_peers();
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])"])
        .arg(xsd)
        .arg(xml)
        .output()
        .expect("python3 runs");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn dhis2_export_writes_data_value_sets_and_adx_that_validates() {
    let s = sample();
    let dir = s.dir.join("dhis2");
    let (ok, out, err) =
        homedoc(&s.dir, &["export", "dhis2", "--period", "2026-Q3", "--out-dir", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("dhis2-2026Q3.json") && out.contains("adx-2026Q3.xml"), "{out}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("dhis2-2026Q3.json")).unwrap()).unwrap();
    let values = json["dataValues"].as_array().unwrap();
    let mapping = homedoc::report::dhis2::Dhis2Mapping::default();
    // Every mapped KPI, for the provinces of the sample's stations at least (the
    // central hospitals' provinces report what they have, ratios with no denominator
    // are left out).
    for (kpi, element) in &mapping.data_elements {
        let provinces = values.iter().filter(|v| v["dataElement"] == element.as_str()).count();
        assert!(provinces >= 1, "{kpi}: {provinces} provinces");
    }
    let counted = |id: &str| values.iter().filter(|v| v["dataElement"] == mapping.data_elements[id].as_str()).count();
    assert!(counted("appointments_booked") >= 3 && counted("accounts_registered") >= 3);
    let booked = values
        .iter()
        .filter(|v| v["dataElement"] == mapping.data_elements["appointments_booked"].as_str())
        .map(|v| v["value"].as_str().unwrap().parse::<f64>().unwrap())
        .sum::<f64>();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let national = rt.block_on(async {
        let lake = Lake::new(&s.settings.lake).unwrap();
        let engine =
            Engine::open(&lake, Arc::new(Catalog::embedded().unwrap()), s.settings.timezone, None).await.unwrap();
        engine.kpi("appointments_booked", &KpiRequest::new("2026-Q3".parse().unwrap())).await.unwrap().rows[0].numerator
    });
    assert_eq!(booked, national, "the provinces add up to the national figure");
    assert!(values.iter().all(|v| v["period"] == "2026Q3" && v["orgUnit"].as_str().unwrap().len() == 11));

    let xml = dir.join("adx-2026Q3.xml");
    let xsd = crate::ingest::repo().join("tests/schema/adx.xsd");
    assert_eq!(xsd_problems(&xml, &xsd), None);
    let text = std::fs::read_to_string(&xml).unwrap();
    assert_eq!(text.matches("<dataValue ").count(), values.len());
    assert!(text.contains("period=\"2026-07-01/P3M\""));
    // The schema does reject what ADX forbids: a group without its period.
    let broken = dir.join("broken.xml");
    std::fs::write(&broken, text.replacen(" period=\"2026-07-01/P3M\"", "", 1)).unwrap();
    assert!(xsd_problems(&broken, &xsd).is_some());

    // A range has no DHIS2 period: refused before anything is written.
    let (ok, _, err) = homedoc(&s.dir, &["export", "dhis2", "--period", "2026-07-01..2026-07-10", "--out-dir", "x"]);
    assert!(!ok && err.contains("no period for the range"), "{err}");
}

#[test]
fn province_stations_ranks_every_live_station_and_lists_each_reason() {
    let s = sample();
    let dir = &s.dir;
    let out = dir.join("stations.json");
    let args = ["report", "province-stations", "--period", "2026-10", "--province", "08", "--lang", "en"];
    let (ok, _, err) = homedoc(dir, &[&args[..], &["--format", "json", "--out", out.to_str().unwrap()]].concat());
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let table = |id: &str| report["tables"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()["rows"].clone();
    let league = table("league");
    let league = league.as_array().unwrap();
    assert!(!league.is_empty());
    // Ranked by bookings per 1,000 population, highest first, ranks 1..n.
    let rates: Vec<f64> = league.iter().map(|r| r["bookings_per_1000"].as_f64().unwrap_or(-1.0)).collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
    let ranks: Vec<i64> = league.iter().map(|r| r["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, (1..=league.len() as i64).collect::<Vec<_>>());
    // Every flag of the league table is a row of the low-uptake list, and back.
    let from_league: Pairs = league
        .iter()
        .flat_map(|r| {
            let station = r["station"].as_str().unwrap().to_string();
            let flags = r["flags"].as_str().unwrap().to_string();
            flags
                .split_whitespace()
                .filter(|f| !f.contains("recently"))
                .map(move |f| (station.clone(), f.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let listed: Pairs = table("low_uptake")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["station"].as_str().unwrap().to_string(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(from_league, listed);
    // A flag matches the figures beside it.
    for r in league {
        let flags = r["flags"].as_str().unwrap();
        assert_eq!(flags.contains("no_video_calls"), r["video_calls"] == 0, "{r}");
        assert_eq!(flags.contains("no_trained_worker"), r["trained_worker"] == "no", "{r}");
    }
    // The sample's labels that the detector can see at a tenth of the volume.
    let truth: homedoc::generate::truth::GroundTruth =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ground_truth.json")).unwrap()).unwrap();
    let in_province: BTreeSet<String> = league.iter().map(|r| r["station"].as_str().unwrap().to_string()).collect();
    for l in truth.low_uptake.iter().filter(|l| l.reason == "no_video_calls" && in_province.contains(&l.station)) {
        assert!(listed.contains(&(l.station.clone(), l.reason.clone())), "{l:?}");
    }

    // A province of the other set, or none, is refused with the reason.
    let (ok, _, err) =
        homedoc(dir, &["report", "province-stations", "--period", "2026-10", "--province", "99", "--out", "-"]);
    assert!(!ok && err.contains("\"99\" is not a province code of the 34"), "{err}");
    let (ok, _, err) = homedoc(dir, &["report", "province-stations", "--period", "2026-10", "--out", "-"]);
    assert!(!ok && err.contains("needs --province"), "{err}");
}
