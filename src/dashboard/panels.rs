//! Each panel kind: the KPI requests it makes for the view's scope, the chart it
//! draws and the table behind it (the same figures, rounded as reports round).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{Context, PanelView, Scope, Unit, back, quality, station_province};
use crate::chart::{self, Bar, Chart, Equity, Kind, Line, Multiples, Series, Stacked, TileMap};
use crate::domain::BoundarySet;
use crate::kpi::targets::TargetRow;
use crate::kpi::{By, Disaggregation, Grain, KpiRequest, KpiResult, Period};
use crate::report::{Cell, ReportError, Table, small_cells};

use super::config::Panel;

/// At most this many small multiples: the units with the largest totals.
const MAX_MULTIPLES: usize = 36;

pub async fn build(cx: &Context<'_>, p: &Panel) -> Result<PanelView, ReportError> {
    let started = std::time::Instant::now();
    let title = match (p.title(), p.kpi()) {
        (Some(t), _) => t.get(cx.f.lang).to_string(),
        (None, Some(k)) => cx.kpi_title(k),
        (None, None) => p.id().to_string(),
    };
    let (chart, table) = match p {
        Panel::Line { kpi, grain, periods, .. } => line(cx, &title, kpi, *grain, *periods).await?,
        Panel::Bars { kpi, by, .. } => bars(cx, &title, kpi, *by).await?,
        Panel::Stacked { kpi, group, grain, periods, .. } => stacked(cx, &title, kpi, *group, *grain, *periods).await?,
        Panel::Equity { kpi, groups, .. } => equity(cx, &title, kpi, groups).await?,
        Panel::Multiples { kpi, by, grain, periods, .. } => multiples(cx, &title, kpi, *by, *grain, *periods).await?,
        Panel::Map { kpi, .. } => map(cx, &title, kpi).await?,
        Panel::Report { table, label, value, .. } => {
            report_table(cx, &title, table, label.as_deref(), value.as_deref()).await?
        }
        Panel::Targets { .. } => targets(cx, &title).await?,
        Panel::Quality { view, .. } => quality::build(cx, &title, *view).await?,
    };
    let table = Table { id: p.id().to_string(), title: title.clone(), ..table };
    Ok(PanelView { id: p.id().to_string(), title, chart, table, elapsed: started.elapsed() })
}

/// A KPI request for the view's scope: the province of a province dashboard, the
/// station's province (rows by station, kept to the station) for a station one.
fn request(cx: &Context<'_>, period: Period, by: By) -> KpiRequest {
    let f = cx.f;
    let mut req = KpiRequest { by, boundary: f.boundary, ..KpiRequest::new(period) };
    match cx.dashboard.scope {
        Scope::Province => req.province = f.province.clone(),
        Scope::Station => {
            req.province = f.station.as_deref().and_then(|s| station_province(cx.engine, f.boundary, s));
            req.by = By::Station;
        }
        _ => {}
    }
    req
}

/// A KPI as the view's audience may see it: small counts suppressed over the whole
/// request (a station's figures over its province's, as the API gives them) before a
/// station view keeps its own station.
async fn kpi(cx: &Context<'_>, id: &str, req: &KpiRequest) -> Result<KpiResult, ReportError> {
    let mut r = cx.engine.kpi(id, req).await?;
    if let Some(k) = cx.f.k() {
        r = small_cells::suppressed(r, k).await;
    }
    if cx.dashboard.scope == Scope::Station {
        let station = cx.f.station.as_deref().unwrap_or_default();
        r.rows.retain(|row| row.unit == station);
    }
    Ok(r)
}

/// A KPI by station has a row for every facility of the area (hospitals and
/// district centres included); station panels are about commune stations.
fn keep_stations(cx: &Context<'_>, by: By, rows: &mut Vec<crate::kpi::KpiRow>) {
    if by == By::Station {
        let stations: std::collections::HashSet<&str> = cx.engine.stations(cx.f.boundary).map(|s| s.code).collect();
        rows.retain(|r| stations.contains(r.unit.as_str()));
    }
}

fn start_of(label: &str) -> Option<NaiveDate> {
    label.parse::<Period>().ok().map(|p| p.start)
}

fn unit_text(cx: &Context<'_>, id: &str) -> String {
    let Some(k) = cx.engine.catalog().kpi(id) else { return String::new() };
    use crate::kpi::ValueUnit::*;
    let (vi, en) = match k.meta.unit {
        Count => ("Số lượng", "Count"),
        Minutes => ("Phút", "Minutes"),
        Percent => ("%", "%"),
        Per1000 => ("Trên 1.000", "Per 1,000"),
    };
    cx.t(vi, en)
}

/// The target of the view's scope for this KPI, where the series is on the
/// target's scale: a rate's target for the rate, a cumulative count's for the flow
/// it accumulates. A flow's monthly values are not comparable with a total.
async fn target_of(cx: &Context<'_>, id: &str) -> Result<Option<TargetRow>, ReportError> {
    let Some(kpi) = cx.engine.catalog().kpi(id) else { return Ok(None) };
    let indicator = match id.strip_suffix("_cumulative") {
        Some(flow) => flow.to_string(),
        None if kpi.meta.unit.is_ratio() => id.to_string(),
        None => return Ok(None),
    };
    let (scope, scope_id) = match cx.dashboard.scope {
        Scope::National => ("national".to_string(), String::new()),
        Scope::Province => ("province".to_string(), cx.province_scope_id()),
        _ => return Ok(None),
    };
    let targets = cx.targets().await?;
    Ok(targets.iter().find(|t| t.indicator == indicator && t.scope == scope && t.scope_id == scope_id).cloned())
}

async fn line(
    cx: &Context<'_>,
    title: &str,
    id: &str,
    grain: Grain,
    periods: u32,
) -> Result<(Option<Chart>, Table), ReportError> {
    let range = back(cx.f.period.end, grain, periods);
    let req = KpiRequest { grain: Some(grain), ..request(cx, range, By::National) };
    let result = kpi(cx, id, &req).await?;
    let mut table =
        Table::new("", String::new(), &[("period", cx.t("Kỳ", "Period")), ("value", cx.t("Giá trị", "Value"))]);
    let mut points = Vec::new();
    for row in &result.rows {
        table.rows.push(vec![Cell::Text(row.period.clone()), Cell::number(row.value)]);
        if let Some(d) = start_of(&row.period) {
            points.push((d, row.value));
        }
    }
    let target = target_of(cx, id).await?;
    let series = vec![Series { name: cx.kpi_title(id), points }];
    let line = Line {
        series,
        target: target.as_ref().map(|t| (t.target_date, t.target)),
        projection: target.as_ref().and_then(|t| Some((t.target_date, t.projected?))),
    };
    let chart = Chart { title: title.to_string(), unit: unit_text(cx, id), kind: Kind::Line(line), lang: cx.f.lang };
    Ok((Some(chart), table))
}

async fn bars(cx: &Context<'_>, title: &str, id: &str, by: Unit) -> Result<(Option<Chart>, Table), ReportError> {
    let by = match by {
        Unit::Province => By::Province,
        Unit::Station => By::Station,
    };
    let req = request(cx, cx.f.period.clone(), by);
    let mut rows = kpi(cx, id, &req).await?.rows;
    keep_stations(cx, by, &mut rows);
    rows.sort_by(|a, b| b.value.unwrap_or(f64::MIN).total_cmp(&a.value.unwrap_or(f64::MIN)).then(a.unit.cmp(&b.unit)));
    // Province targets colour the bars; stations have none.
    let set = cx.f.boundary;
    let statuses: BTreeMap<String, crate::kpi::targets::Status> = if by == By::Province {
        let targets = cx.targets().await?;
        targets
            .iter()
            .filter(|t| t.indicator == id && t.scope == "province")
            .filter_map(|t| Some((t.scope_id.strip_prefix(&format!("{set}:"))?.to_string(), t.status?)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut table = Table::new(
        "",
        String::new(),
        &[
            ("unit", cx.t("Mã", "Code")),
            ("unit_name", cx.t("Tên", "Name")),
            ("value", cx.t("Giá trị", "Value")),
            ("status", cx.t("Tình trạng chỉ tiêu", "Target status")),
        ],
    );
    let mut drawn = Vec::new();
    for r in &rows {
        let status = statuses.get(&r.unit).copied();
        table.rows.push(vec![
            Cell::Text(r.unit.clone()),
            Cell::Text(r.unit_name.clone()),
            Cell::number(r.value),
            status.map_or(Cell::Empty, |s| Cell::Text(s.as_str().into())),
        ]);
        drawn.push(Bar { label: r.unit_name.clone(), value: r.value, status });
    }
    let chart = Chart { title: title.to_string(), unit: unit_text(cx, id), kind: Kind::Bars(drawn), lang: cx.f.lang };
    Ok((Some(chart), table))
}

async fn stacked(
    cx: &Context<'_>,
    title: &str,
    id: &str,
    group: Disaggregation,
    grain: Grain,
    periods: u32,
) -> Result<(Option<Chart>, Table), ReportError> {
    let range = back(cx.f.period.end, grain, periods);
    let req = KpiRequest { grain: Some(grain), group: Some(group), ..request(cx, range.clone(), By::National) };
    let result = kpi(cx, id, &req).await?;
    let categories: Vec<String> = range.split(grain).iter().map(|p| p.to_string()).collect();
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut table = Table::new(
        "",
        String::new(),
        &[("period", cx.t("Kỳ", "Period")), ("group", cx.t("Nhóm", "Group")), ("value", cx.t("Giá trị", "Value"))],
    );
    for row in &result.rows {
        table.rows.push(vec![Cell::Text(row.period.clone()), Cell::Text(row.group.clone()), Cell::number(row.value)]);
        if let Some(i) = categories.iter().position(|c| *c == row.period) {
            series.entry(group_label(cx, &row.group)).or_insert_with(|| vec![0.0; categories.len()])[i] +=
                row.value.unwrap_or(0.0);
        }
    }
    let kind = Kind::Stacked(Stacked { categories, series: series.into_iter().collect() });
    Ok((Some(Chart { title: title.to_string(), unit: unit_text(cx, id), kind, lang: cx.f.lang }), table))
}

/// A group's code as charts label it, in the page's language; tables keep the code.
fn group_label(cx: &Context<'_>, code: &str) -> String {
    let (vi, en) = match code {
        "female" => ("Nữ", "Female"),
        "male" => ("Nam", "Male"),
        "other" => ("Khác", "Other"),
        "minority" => ("Dân tộc thiểu số", "Ethnic minority"),
        "majority" => ("Không thuộc dân tộc thiểu số", "Not an ethnic minority"),
        "teleconsult" => ("Hội chẩn từ xa", "Teleconsultation"),
        "meeting" => ("Họp giao ban", "Meeting"),
        "training" => ("Đào tạo", "Training"),
        "all" => ("Tất cả", "Everyone"),
        other => return other.to_string(),
    };
    cx.t(vi, en)
}

fn dimension_title(cx: &Context<'_>, d: Disaggregation) -> String {
    match d {
        Disaggregation::Sex => cx.t("Giới tính", "Sex"),
        Disaggregation::AgeBand => cx.t("Nhóm tuổi", "Age band"),
        Disaggregation::EthnicMinority => cx.t("Dân tộc thiểu số", "Ethnic minority"),
        Disaggregation::Purpose => cx.t("Mục đích", "Purpose"),
        Disaggregation::Province => cx.t("Tỉnh", "Province"),
        Disaggregation::Station => cx.t("Trạm", "Station"),
    }
}

async fn equity(
    cx: &Context<'_>,
    title: &str,
    id: &str,
    groups: &[Disaggregation],
) -> Result<(Option<Chart>, Table), ReportError> {
    let base = request(cx, cx.f.period.clone(), By::National);
    // Every breakdown in one plan: the fixed work of a query (session, request
    // tables, planning) is most of what each would cost alone.
    let found = cx.engine.kpi_by_groups(id, &base, groups).await?;
    let mut results: Vec<_> = groups.iter().copied().zip(found).collect();
    // Everyone's figure is the sum of any breakdown's parts (each person is in one
    // group of each, "unknown" included), which saves a query; with no breakdown
    // it is asked for. It is taken before the parts are suppressed, and suppressed
    // as the one figure it is.
    let overall = match results.first() {
        Some((_, r)) => {
            let numerator: f64 = r.rows.iter().map(|x| x.numerator).sum();
            let denominator = r.rows.iter().map(|x| x.denominator).sum::<Option<f64>>();
            let hidden = cx.f.k().is_some_and(|k| small_cells::hides_ratio(numerator, denominator, k));
            if hidden { None } else { r.meta.unit.value(numerator, denominator) }
        }
        None => kpi(cx, id, &base).await?.rows.first().and_then(|r| r.value),
    };
    if let Some(k) = cx.f.k() {
        let mut shown = Vec::with_capacity(results.len());
        for (g, r) in results {
            shown.push((g, small_cells::suppressed(r, k).await));
        }
        results = shown;
    }
    let mut table = Table::new(
        "",
        String::new(),
        &[
            ("dimension", cx.t("Chiều", "Dimension")),
            ("group", cx.t("Nhóm", "Group")),
            ("value", cx.t("Giá trị", "Value")),
        ],
    );
    table.rows.push(vec![Cell::Text("all".into()), Cell::Text("all".into()), Cell::number(overall)]);
    let mut dimensions = Vec::new();
    for (g, result) in results {
        let mut bars = Vec::new();
        for r in result.rows {
            table.rows.push(vec![Cell::Text(g.as_str().into()), Cell::Text(r.group.clone()), Cell::number(r.value)]);
            bars.push((group_label(cx, &r.group), r.value));
        }
        dimensions.push((dimension_title(cx, g), bars));
    }
    let kind = Kind::Equity(Equity { dimensions, overall });
    Ok((Some(Chart { title: title.to_string(), unit: unit_text(cx, id), kind, lang: cx.f.lang }), table))
}

async fn multiples(
    cx: &Context<'_>,
    title: &str,
    id: &str,
    by: Unit,
    grain: Grain,
    periods: u32,
) -> Result<(Option<Chart>, Table), ReportError> {
    let range = back(cx.f.period.end, grain, periods);
    let by = match by {
        Unit::Province => By::Province,
        Unit::Station => By::Station,
    };
    let req = KpiRequest { grain: Some(grain), ..request(cx, range, by) };
    let mut rows = kpi(cx, id, &req).await?.rows;
    keep_stations(cx, by, &mut rows);
    let mut table = Table::new(
        "",
        String::new(),
        &[
            ("unit", cx.t("Mã", "Code")),
            ("unit_name", cx.t("Tên", "Name")),
            ("period", cx.t("Kỳ", "Period")),
            ("value", cx.t("Giá trị", "Value")),
        ],
    );
    let mut units: BTreeMap<(String, String), Vec<(NaiveDate, Option<f64>)>> = BTreeMap::new();
    for r in &rows {
        table.rows.push(vec![
            Cell::Text(r.unit.clone()),
            Cell::Text(r.unit_name.clone()),
            Cell::Text(r.period.clone()),
            Cell::number(r.value),
        ]);
        if let Some(d) = start_of(&r.period) {
            units.entry((r.unit.clone(), r.unit_name.clone())).or_default().push((d, r.value));
        }
    }
    let mut panels: Vec<(f64, String, Vec<(NaiveDate, Option<f64>)>)> =
        units.into_iter().map(|((_, name), pts)| (pts.iter().filter_map(|p| p.1).sum::<f64>(), name, pts)).collect();
    if panels.len() > MAX_MULTIPLES {
        panels.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        panels.truncate(MAX_MULTIPLES);
    }
    panels.sort_by(|a, b| a.1.cmp(&b.1));
    let kind = Kind::Multiples(Multiples { panels: panels.into_iter().map(|(_, n, p)| (n, p)).collect() });
    Ok((Some(Chart { title: title.to_string(), unit: unit_text(cx, id), kind, lang: cx.f.lang }), table))
}

/// The map is drawn in the 34 set whatever the filters say: its tiles are the 34.
async fn map(cx: &Context<'_>, title: &str, id: &str) -> Result<(Option<Chart>, Table), ReportError> {
    let req = KpiRequest { by: By::Province, boundary: BoundarySet::P34, ..KpiRequest::new(cx.f.period.clone()) };
    let rows = kpi(cx, id, &req).await?.rows;
    let mut table = Table::new(
        "",
        String::new(),
        &[
            ("unit", cx.t("Mã tỉnh (34)", "Province code (34)")),
            ("unit_name", cx.t("Tỉnh", "Province")),
            ("value", cx.t("Giá trị", "Value")),
        ],
    );
    let mut values = Vec::new();
    for (code, _, _, _) in chart::tiles::TILES {
        let row = rows.iter().find(|r| r.unit == code);
        let name = cx.engine.province_name(BoundarySet::P34, code).unwrap_or(code).to_string();
        let value = row.and_then(|r| r.value);
        table.rows.push(vec![Cell::Text(code.into()), Cell::Text(name.clone()), Cell::number(value)]);
        values.push((code.to_string(), name, value));
    }
    let kind = Kind::TileMap(TileMap { values });
    Ok((Some(Chart { title: title.to_string(), unit: unit_text(cx, id), kind, lang: cx.f.lang }), table))
}

/// A table of the scope's report, made once per view (with the view's filters).
async fn report_table(
    cx: &Context<'_>,
    title: &str,
    table: &str,
    label: Option<&str>,
    value: Option<&str>,
) -> Result<(Option<Chart>, Table), ReportError> {
    let report = cx
        .report
        .get_or_try_init(|| async {
            let name =
                cx.dashboard.scope.report().ok_or_else(|| ReportError::Usage("this dashboard has no report".into()))?;
            let f = cx.f;
            let args = crate::report::ReportArgs {
                period: f.period.clone(),
                province: f.province.clone(),
                project: f.project.clone(),
                boundary: f.boundary,
                lang: f.lang,
                targets: f.targets,
                suppression: f.suppression,
                audience: f.audience,
            };
            crate::report::make(cx.engine, name, args).await
        })
        .await?;
    let t = report
        .tables
        .iter()
        .find(|t| t.id == table)
        .ok_or_else(|| ReportError::Usage(format!("the report has no table {table:?}")))?;
    let mut t = Table { chart: None, ..t.clone() };
    let col = |id: &str| t.columns.iter().position(|c| c.id == id);
    let chart = match (label.and_then(col), value.and_then(col)) {
        (Some(l), Some(v)) => {
            let status = col("status");
            let bars = t
                .rows
                .iter()
                .map(|r| Bar {
                    label: r[l].text(),
                    value: r[v].value(),
                    status: status.and_then(|s| r[s].text().parse().ok()),
                })
                .collect();
            let unit = t.columns[v].title.clone();
            Some(Chart { title: title.to_string(), unit, kind: Kind::Bars(bars), lang: cx.f.lang })
        }
        _ => None,
    };
    t.title = title.to_string();
    Ok((chart, t))
}

/// The scope's targets (all of them nationally, the province's own in a province)
/// as the scorecard states them, with % achieved as bars coloured by status.
async fn targets(cx: &Context<'_>, title: &str) -> Result<(Option<Chart>, Table), ReportError> {
    // The context computed the scope's targets only.
    let mut rows: Vec<TargetRow> = cx.targets().await?.to_vec();
    // A small count achieved is hidden from an audience with a k, as in donor results.
    if let Some(k) = cx.f.k() {
        for r in rows.iter_mut().filter(|r| small_cells::hides_target(cx.engine.catalog(), r, k)) {
            (r.actual, r.achieved_pct, r.projected) = (None, None, None);
        }
    }
    let table = crate::report::scorecard::targets_table(cx.engine, &rows, cx.f.lang);
    let bars = rows
        .iter()
        .map(|r| {
            let name = cx.kpi_title(&r.indicator);
            let label = if r.scope_id.is_empty() { name } else { format!("{name} ({})", r.scope_id) };
            Bar { label, value: r.achieved_pct, status: r.status }
        })
        .collect();
    let unit = cx.t("% chỉ tiêu đã đạt", "% of target achieved");
    Ok((Some(Chart { title: title.to_string(), unit, kind: Kind::Bars(bars), lang: cx.f.lang }), table))
}
