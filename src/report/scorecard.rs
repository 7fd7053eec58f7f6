//! `national-scorecard`, for ministry evaluators: every target with its actual, %
//! achieved, projection and status on the last day of the period; each target
//! indicator by province for the period beside the period before (the trend); and
//! each one's national monthly series over the twelve months up to the period's end.

use std::collections::BTreeSet;

use chrono::{Days, Months};

use super::{Cell, ChartKind, Report, ReportError, Table, freshness, tr};
use crate::domain::BoundarySet;
use crate::kpi::targets::{TargetRow, Thresholds};
use crate::kpi::{By, Engine, Grain, KpiRequest, Lang, Period};

pub struct Options {
    pub period: Period,
    pub boundary: BoundarySet,
    pub lang: Lang,
    pub thresholds: Thresholds,
}

/// Targets as the scorecard (and the dashboards) show them.
pub fn targets_table(engine: &Engine, targets: &[TargetRow], lang: Lang) -> Table {
    let t = |vi: &str, en: &str| tr(lang, vi, en);
    let title = |id: &str| engine.catalog().kpi(id).map_or(id.to_string(), |k| k.meta.title.get(lang).to_string());
    let mut table = Table::new(
        "targets",
        t("Chỉ tiêu", "Targets"),
        &[
            ("indicator", t("Chỉ số", "Indicator")),
            ("indicator_title", t("Tên chỉ số", "Indicator title")),
            ("scope", t("Phạm vi", "Scope")),
            ("scope_id", t("Mã phạm vi", "Scope id")),
            ("baseline", t("Giá trị nền", "Baseline")),
            ("target", t("Chỉ tiêu", "Target")),
            ("target_date", t("Hạn", "Target date")),
            ("actual", t("Thực hiện", "Actual")),
            ("achieved_pct", t("% đạt", "% achieved")),
            ("projected", t("Dự báo tại hạn", "Projected at target date")),
            ("status", t("Tình trạng", "Status")),
        ],
    );
    for r in targets {
        table.rows.push(vec![
            Cell::Text(r.indicator.clone()),
            Cell::Text(title(&r.indicator)),
            Cell::Text(r.scope.clone()),
            Cell::Text(r.scope_id.clone()),
            Cell::number(Some(r.baseline)),
            Cell::number(Some(r.target)),
            Cell::Date(r.target_date),
            Cell::number(r.actual),
            Cell::number(r.achieved_pct),
            Cell::number(r.projected),
            r.status.map_or(Cell::Empty, |s| Cell::Text(s.as_str().into())),
        ]);
    }
    table
}

pub async fn build(engine: &Engine, o: &Options) -> Result<Report, ReportError> {
    let lang = o.lang;
    let t = |vi: &str, en: &str| tr(lang, vi, en);

    let targets = engine.targets(o.period.end, o.thresholds).await?;
    let table = targets_table(engine, &targets, lang);

    let indicators: BTreeSet<String> = targets.iter().map(|r| r.indicator.clone()).collect();
    let previous = o.period.previous();
    let mut provinces = Table::new(
        "provinces",
        t("Chỉ số theo tỉnh", "Indicators by province"),
        &[
            ("indicator", t("Chỉ số", "Indicator")),
            ("province", t("Mã tỉnh", "Province code")),
            ("province_name", t("Tỉnh", "Province")),
            ("value", o.period.to_string()),
            ("previous", previous.to_string()),
            ("change_pct", t("Thay đổi (%)", "Change (%)")),
        ],
    )
    .with_chart(ChartKind::Bar, Some("indicator"), "province_name", "value");
    let mut trend = Table::new(
        "trend",
        t("Diễn biến theo tháng (toàn quốc)", "Monthly trend (national)"),
        &[("indicator", t("Chỉ số", "Indicator")), ("month", t("Tháng", "Month")), ("value", t("Giá trị", "Value"))],
    )
    .with_chart(ChartKind::Line, Some("indicator"), "month", "value");
    let year_back = Period::range(o.period.end + Days::new(1) - Months::new(12), o.period.end).expect("a year");
    for id in &indicators {
        // The period and the one before in one query.
        let req = KpiRequest { by: By::Province, boundary: o.boundary, ..KpiRequest::new(o.period.clone()) };
        let both = engine.kpi_over(id, &req, &[previous.clone(), o.period.clone()]).await?;
        let (now_label, before_label) = (o.period.to_string(), previous.to_string());
        let prev_of = |unit: &str, group: &str| {
            both.rows.iter().find(|b| b.period == before_label && b.unit == unit && b.group == group)?.value
        };
        for row in both.rows.iter().filter(|r| r.period == now_label) {
            let prev = prev_of(&row.unit, &row.group);
            let change = match (row.value, prev) {
                (Some(v), Some(p)) if p != 0.0 => Some(100.0 * (v - p) / p),
                _ => None,
            };
            provinces.rows.push(vec![
                Cell::Text(id.clone()),
                Cell::Text(row.unit.clone()),
                Cell::Text(row.unit_name.clone()),
                Cell::number(row.value),
                Cell::number(prev),
                Cell::number(change),
            ]);
        }
        let series =
            engine.kpi(id, &KpiRequest { grain: Some(Grain::Month), ..KpiRequest::new(year_back.clone()) }).await?;
        for row in &series.rows {
            trend.rows.push(vec![Cell::Text(id.clone()), Cell::Text(row.period.clone()), Cell::number(row.value)]);
        }
    }
    Ok(Report {
        name: "national-scorecard".into(),
        title: t("Bảng điểm quốc gia", "National scorecard"),
        period: o.period.clone(),
        lang,
        snapshot: engine.snapshot().clone(),
        freshness: freshness(engine).await?,
        tables: vec![table, provinces, trend],
    })
}
