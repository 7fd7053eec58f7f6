//! Small-cell suppression for provincial managers (k = 5), over real HTTP on the
//! ingested sample: what an evaluator sees in full, a manager of the same province
//! sees with every count from 1 to 4 hidden, and with partners hidden so that the
//! province's total (which a manager may also ask for) gives no hidden station away.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::Value;

use crate::pages::{Browser, PageServer};

const K: f64 = 5.0;

fn small(v: f64) -> bool {
    (1.0..K).contains(&v)
}

async fn json(b: &Browser, path: &str) -> Value {
    let (status, mime, body) = b.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&body));
    assert!(mime.starts_with("application/json"), "{path}: {mime}");
    serde_json::from_slice(&body).unwrap()
}

async fn download(b: &Browser) -> String {
    let (status, _, csv) = b.get("/d/province/download/csv?province=08&period=2026-08&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    String::from_utf8(csv).unwrap()
}

#[tokio::test]
async fn a_manager_sees_no_small_count_and_cannot_work_one_out_from_the_total() {
    let s = PageServer::start("small-cells").await;
    let (eva, man) = (s.login("eva").await, s.login("man").await);

    // Bookings by station and month: the evaluator's figures hold small counts (so
    // that this test can fail), the manager's none.
    let path = "/api/v1/kpi/appointments_booked?period=2026-Q3&grain=month&by=station&province=08";
    let (full, shown) = (json(&eva, path).await, json(&man, path).await);
    let (full, shown) = (full["rows"].as_array().unwrap(), shown["rows"].as_array().unwrap());
    assert_eq!(full.len(), shown.len());
    assert!(full.iter().any(|r| small(r["numerator"].as_f64().unwrap())), "the sample has small station-months");
    let mut hidden_by_month: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (f, m) in full.iter().zip(shown) {
        assert_eq!((&f["period"], &f["unit"]), (&m["period"], &m["unit"]));
        let v = f["numerator"].as_f64().unwrap();
        if m["suppressed"] == true {
            assert!(m["numerator"].is_null() && m["value"].is_null(), "{m}");
            let e = hidden_by_month.entry(f["period"].as_str().unwrap().to_string()).or_default();
            (e.0, e.1) = (e.0 + v, e.1 + 1);
        } else {
            assert!(!small(v), "a small count shown to a manager: {m}");
            assert_eq!(m["numerator"], f["numerator"], "{m}");
        }
    }
    assert!(!hidden_by_month.is_empty());
    // The province's own figure for each month is published to the manager, so the
    // hidden stations of a month can only be known as a sum: at least two of them,
    // adding up to more than k.
    let total = json(&man, "/api/v1/kpi/appointments_booked?period=2026-Q3&grain=month&by=province&province=08").await;
    for (month, (sum, n)) in &hidden_by_month {
        assert!(*n >= 2 && *sum > K, "{month}: {n} hidden stations adding up to {sum}");
        let row = total["rows"].as_array().unwrap().iter().find(|r| r["period"] == month.as_str()).unwrap();
        assert!(row["suppressed"].is_null() && row["numerator"].as_f64().unwrap() >= *sum, "{row}");
    }

    // The province-stations report: a manager's league table hides small bookings
    // and what is computed from them, and says so in its own column.
    let report = "/api/v1/reports/province-stations?period=2026-Q3&province=08&lang=en";
    let league =
        |r: &Value| r["tables"].as_array().unwrap().iter().find(|t| t["id"] == "league").unwrap()["rows"].clone();
    let (full, shown) = (league(&json(&eva, report).await), league(&json(&man, report).await));
    let (full, shown) = (full.as_array().unwrap(), shown.as_array().unwrap());
    assert!(full.iter().any(|r| small(r["bookings"].as_f64().unwrap())), "the sample has small stations");
    assert!(full.iter().all(|r| r["suppressed"] == ""), "nothing is hidden from evaluators");
    for (f, m) in full.iter().zip(shown) {
        assert_eq!((&f["rank"], &f["station"], &f["flags"]), (&m["rank"], &m["station"], &m["flags"]));
        let hidden = m["suppressed"].as_str().unwrap().split_whitespace().collect::<Vec<_>>();
        for (column, derived) in [("bookings", &["bookings_per_1000", "vs_province_median"][..]), ("video_calls", &[])]
        {
            if hidden.contains(&column) {
                for c in std::iter::once(&column).chain(derived) {
                    assert!(m[*c].is_null(), "{c} of {m}");
                }
            } else {
                assert!(!small(m[column].as_f64().unwrap()), "{column} shown: {m}");
                assert_eq!(m[column], f[column]);
            }
        }
    }

    // The pages: the manager's province dashboard downloads without a small
    // station count; the evaluator's has them.
    let station_values = |csv: &str| -> Vec<Option<f64>> {
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let header = r.headers().unwrap().clone();
        let value = header.iter().position(|h| h == "value").unwrap();
        r.records()
            .map(|x| x.unwrap())
            .filter(|x| &x[0] == "bookings_by_station")
            .map(|x| x[value].parse().ok())
            .collect()
    };
    let (full, shown) = (station_values(&download(&eva).await), station_values(&download(&man).await));
    assert!(full.iter().flatten().any(|v| small(*v)), "{full:?}");
    assert!(shown.iter().flatten().all(|v| !small(*v)), "{shown:?}");
    assert!(shown.iter().filter(|v| v.is_none()).count() >= 2, "hidden in pairs at least: {shown:?}");
    s.shutdown().await;
}
