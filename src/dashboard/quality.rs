//! The data-quality panels: what the ingestion runs of the period read, accepted
//! and quarantined per pipeline, the quarantine's reasons, and the live stations
//! that have gone quiet (bookings before, none in the detector's recent weeks).

use std::collections::BTreeMap;

use datafusion::common::ScalarValue;

use super::{Context, QualityView};
use crate::chart::{Bar, Chart, Kind, Stacked};
use crate::domain::BoundarySet;
use crate::kpi::engine::text_columns;
use crate::kpi::uptake::Windows;
use crate::kpi::{By, KpiRequest, Period};
use crate::report::{Cell, ReportError, Table};

/// A run's history has a `planned` row (written with its data) and then its outcome:
/// only outcomes count, and only succeeded runs' rows (a failed run commits none).
const RUNS: &str = "SELECT pipeline, count(*) AS runs, \
       sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, \
       sum(CASE WHEN status = 'succeeded' THEN rows_read ELSE 0 END) AS rows_read, \
       sum(CASE WHEN status = 'succeeded' THEN rows_accepted ELSE 0 END) AS rows_accepted, \
       sum(CASE WHEN status = 'succeeded' THEN rows_quarantined ELSE 0 END) AS rows_quarantined \
     FROM ingest_runs \
     WHERE status IN ('succeeded', 'failed') AND local_date(finished_at) BETWEEN $start AND $end \
     GROUP BY pipeline ORDER BY pipeline";

const REASONS: &str = "SELECT pipeline, reason, count(*) AS n FROM quarantine \
     WHERE local_date(quarantined_at) BETWEEN $start AND $end \
     GROUP BY pipeline, reason ORDER BY n DESC, pipeline, reason";

fn dates(p: &Period) -> Vec<(&'static str, ScalarValue)> {
    let d = |d| ScalarValue::Date32(Some(datafusion::arrow::datatypes::Date32Type::from_naive_date(d)));
    vec![("start", d(p.start)), ("end", d(p.end))]
}

fn int(s: &str) -> i64 {
    s.parse().unwrap_or(0)
}

pub async fn build(cx: &Context<'_>, title: &str, view: QualityView) -> Result<(Option<Chart>, Table), ReportError> {
    match view {
        QualityView::Runs => runs(cx, title).await,
        QualityView::QuarantineReasons => reasons(cx, title).await,
        QualityView::QuietStations => quiet(cx, title).await,
    }
}

async fn runs(cx: &Context<'_>, title: &str) -> Result<(Option<Chart>, Table), ReportError> {
    let (_, batches) = cx.engine.query_with(RUNS, dates(&cx.f.period)).await?;
    let mut table = Table::new(
        "",
        String::new(),
        &[
            ("pipeline", cx.t("Luồng nạp", "Pipeline")),
            ("runs", cx.t("Số lần chạy", "Runs")),
            ("failed", cx.t("Thất bại", "Failed")),
            ("rows_read", cx.t("Dòng đọc", "Rows read")),
            ("rows_accepted", cx.t("Dòng nhận", "Rows accepted")),
            ("rows_quarantined", cx.t("Dòng cách ly", "Rows quarantined")),
        ],
    );
    let (mut categories, mut accepted, mut quarantined) = (Vec::new(), Vec::new(), Vec::new());
    for b in &batches {
        for r in text_columns(b)? {
            categories.push(r[0].clone());
            accepted.push(int(&r[4]) as f64);
            quarantined.push(int(&r[5]) as f64);
            let mut row = vec![Cell::Text(r[0].clone())];
            row.extend(r[1..].iter().map(|v| Cell::Int(int(v))));
            table.rows.push(row);
        }
    }
    let series = vec![(cx.t("Nhận", "Accepted"), accepted), (cx.t("Cách ly", "Quarantined"), quarantined)];
    let kind = Kind::Stacked(Stacked { categories, series });
    let unit = cx.t("Dòng", "Rows");
    Ok((Some(Chart { title: title.to_string(), unit, kind, lang: cx.f.lang }), table))
}

async fn reasons(cx: &Context<'_>, title: &str) -> Result<(Option<Chart>, Table), ReportError> {
    let (_, batches) = cx.engine.query_with(REASONS, dates(&cx.f.period)).await?;
    let mut table = Table::new(
        "",
        String::new(),
        &[
            ("pipeline", cx.t("Luồng nạp", "Pipeline")),
            ("reason", cx.t("Lý do", "Reason")),
            ("rows", cx.t("Số dòng", "Rows")),
        ],
    );
    let mut bars = Vec::new();
    for b in &batches {
        for r in text_columns(b)? {
            let n = int(&r[2]);
            bars.push(Bar { label: format!("{}: {}", r[0], r[1]), value: Some(n as f64), status: None });
            table.rows.push(vec![Cell::Text(r[0].clone()), Cell::Text(r[1].clone()), Cell::Int(n)]);
        }
    }
    let unit = cx.t("Dòng bị cách ly", "Quarantined rows");
    Ok((Some(Chart { title: title.to_string(), unit, kind: Kind::Bars(bars), lang: cx.f.lang }), table))
}

/// Live stations with bookings in the weeks before the detector's recent window and
/// none inside it, counted by province (34 set) for the chart.
async fn quiet(cx: &Context<'_>, title: &str) -> Result<(Option<Chart>, Table), ReportError> {
    let w = Windows::new(cx.f.period.end, &cx.f.uptake);
    let by_station =
        |p: &Period| KpiRequest { by: By::Station, boundary: BoundarySet::P34, ..KpiRequest::new(p.clone()) };
    let count =
        |rows: Vec<crate::kpi::KpiRow>| rows.into_iter().map(|r| (r.unit, r.numerator)).collect::<BTreeMap<_, _>>();
    let recent = count(cx.engine.kpi("appointments_booked", &by_station(&w.recent)).await?.rows);
    let before = count(cx.engine.kpi("appointments_booked", &by_station(&w.before_recent)).await?.rows);
    let mut table = Table::new(
        "",
        String::new(),
        &[
            ("station", cx.t("Mã trạm", "Station code")),
            ("station_name", cx.t("Trạm y tế", "Station")),
            ("province", cx.t("Tỉnh", "Province")),
            ("bookings_before", format!("{} {}", cx.t("Lượt đặt lịch", "Bookings"), w.before_recent)),
            ("bookings_recent", format!("{} {}", cx.t("Lượt đặt lịch", "Bookings"), w.recent)),
        ],
    );
    let mut per_province: BTreeMap<String, f64> = BTreeMap::new();
    for s in cx.engine.stations(BoundarySet::P34) {
        let live = s.go_live.is_some_and(|d| d <= w.before_recent.start);
        let had = before.get(s.code).copied().unwrap_or(0.0);
        if !live || had <= 0.0 || recent.get(s.code).copied().unwrap_or(0.0) > 0.0 {
            continue;
        }
        let province = cx.engine.province_name(BoundarySet::P34, s.province).unwrap_or(s.province).to_string();
        *per_province.entry(province.clone()).or_default() += 1.0;
        table.rows.push(vec![
            Cell::Text(s.code.into()),
            Cell::Text(s.name.into()),
            Cell::Text(province),
            Cell::count(had),
            Cell::Int(0),
        ]);
    }
    let mut bars: Vec<Bar> =
        per_province.into_iter().map(|(label, n)| Bar { label, value: Some(n), status: None }).collect();
    bars.sort_by(|a, b| b.value.unwrap_or(0.0).total_cmp(&a.value.unwrap_or(0.0)).then(a.label.cmp(&b.label)));
    let unit = cx.t("Số trạm", "Stations");
    Ok((Some(Chart { title: title.to_string(), unit, kind: Kind::Bars(bars), lang: cx.f.lang }), table))
}
