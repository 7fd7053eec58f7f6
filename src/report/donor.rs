//! `donor-results --project ID`, for donors: the project's targets (its results
//! framework) and every KPI that can be split by sex, for the project's provinces and
//! the period, by province and sex with totals, small cells suppressed.
//!
//! Project coverage is kept per old (63-set) province, and an old province may be
//! only part of a new one, so figures are summed from the project's own stations up
//! to the provinces of the chosen boundary set: a 34-set row then holds only the
//! part of the new province that is in the project.

use std::collections::{BTreeMap, BTreeSet};

use super::small_cells;
use super::suppress::{self, Grid};
use super::{Cell, ChartKind, Report, ReportError, Table, freshness, tr};
use crate::domain::BoundarySet;
use crate::kpi::targets::Thresholds;
use crate::kpi::{By, Disaggregation, Engine, KpiRequest, Lang, Period};

pub struct Options {
    pub period: Period,
    pub project: String,
    pub boundary: BoundarySet,
    pub lang: Lang,
    pub thresholds: Thresholds,
    /// Counts from 1 to k-1 are suppressed.
    pub k: u32,
}

/// The project's old provinces, or the list of known projects as the error.
async fn project_provinces(engine: &Engine, id: &str) -> Result<BTreeSet<String>, ReportError> {
    let (_, batches) = engine.query("SELECT id, province_63 FROM projects").await?;
    let mut all: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for b in &batches {
        for r in crate::kpi::engine::text_columns(b)? {
            all.entry(r[0].clone()).or_default().insert(r[1].clone());
        }
    }
    let known = all.keys().cloned().collect::<Vec<_>>().join(", ");
    all.remove(id).ok_or_else(|| ReportError::Usage(format!("no project {id:?} (known: {known})")))
}

/// Sums of numerator and denominator by (province, sex) over the project's stations.
type Sums = BTreeMap<(String, String), (f64, f64)>;

pub async fn build(engine: &Engine, o: &Options) -> Result<Report, ReportError> {
    let lang = o.lang;
    let t = |vi: &str, en: &str| tr(lang, vi, en);
    let provinces_63 = project_provinces(engine, &o.project).await?;
    // Station -> province of the chosen set, for the project's stations.
    let in_project: BTreeSet<String> = engine
        .stations(BoundarySet::P63)
        .filter(|s| provinces_63.contains(s.province))
        .map(|s| s.code.to_string())
        .collect();
    let province_of: BTreeMap<String, String> = engine
        .stations(o.boundary)
        .filter(|s| in_project.contains(s.code))
        .map(|s| (s.code.to_string(), s.province.to_string()))
        .collect();
    let provinces: BTreeSet<String> = province_of.values().cloned().collect();
    let province_name = |p: &str| engine.province_name(o.boundary, p).unwrap_or(p).to_string();

    // The results framework: the project's own targets.
    let mut targets = Table::new(
        "targets",
        t("Khung kết quả của dự án", "Project results framework"),
        &[
            ("indicator", t("Chỉ số", "Indicator")),
            ("indicator_title", t("Tên chỉ số", "Indicator title")),
            ("baseline", t("Giá trị nền", "Baseline")),
            ("target", t("Chỉ tiêu", "Target")),
            ("target_date", t("Hạn", "Target date")),
            ("actual", t("Thực hiện", "Actual")),
            ("achieved_pct", t("% đạt", "% achieved")),
            ("projected", t("Dự báo tại hạn", "Projected at target date")),
            ("status", t("Tình trạng", "Status")),
            ("suppressed", t("Ẩn (số nhỏ)", "Suppressed (small count)")),
        ],
    )
    .with_chart(ChartKind::Bar, None, "indicator_title", "achieved_pct");
    let title = |id: &str| engine.catalog().kpi(id).map_or(id.to_string(), |k| k.meta.title.get(lang).to_string());
    for r in engine.targets_of(o.period.end, o.thresholds, Some(("project", &o.project))).await? {
        let hide = small_cells::hides_target(engine.catalog(), &r, o.k);
        let shown = |v: Option<f64>| if hide { Cell::Empty } else { Cell::number(v) };
        targets.rows.push(vec![
            Cell::Text(r.indicator.clone()),
            Cell::Text(title(&r.indicator)),
            Cell::number(Some(r.baseline)),
            Cell::number(Some(r.target)),
            Cell::Date(r.target_date),
            shown(r.actual),
            shown(r.achieved_pct),
            shown(r.projected),
            r.status.map_or(Cell::Empty, |s| Cell::Text(s.as_str().into())),
            Cell::Text(hide.to_string()),
        ]);
    }

    let by_sex_columns = [
        ("indicator", t("Chỉ số", "Indicator")),
        ("province", t("Mã tỉnh", "Province code")),
        ("province_name", t("Tỉnh", "Province")),
        ("sex", t("Giới tính", "Sex")),
        ("value", t("Giá trị", "Value")),
        ("suppressed", t("Ẩn (số nhỏ)", "Suppressed (small count)")),
    ];
    let mut counts = Table::new("counts_by_sex", t("Số lượng theo giới tính", "Counts by sex"), &by_sex_columns);
    let mut rates = Table::new("rates_by_sex", t("Tỷ lệ theo giới tính", "Rates by sex"), &by_sex_columns);
    let mut audit = Table::new(
        "suppression_audit",
        t("Kiểm tra ẩn số nhỏ", "Small-cell suppression audit"),
        &[
            ("indicator", t("Chỉ số", "Indicator")),
            ("k", "k".to_string()),
            ("cells", t("Số ô", "Cells")),
            ("primary", t("Ẩn vì nhỏ", "Hidden as small")),
            ("complementary", t("Ẩn bổ sung", "Hidden to protect others")),
            ("narrowest_range", t("Khoảng khả dĩ hẹp nhất", "Narrowest feasible range")),
            ("passed", t("Đạt", "Passed")),
        ],
    );

    let ids: Vec<String> = engine
        .catalog()
        .kpis
        .values()
        .filter(|k| k.meta.disaggregations.contains(&Disaggregation::Sex))
        .map(|k| k.id.clone())
        .collect();
    // The KPIs are independent queries: run side by side (see `Engine::targets`).
    let req = KpiRequest { by: By::Station, group: Some(Disaggregation::Sex), ..KpiRequest::new(o.period.clone()) };
    let results = futures::future::try_join_all(ids.iter().map(|id| engine.kpi(id, &req))).await?;
    for (id, result) in ids.iter().zip(results) {
        let mut sums: Sums = BTreeMap::new();
        let mut sexes = BTreeSet::new();
        for r in &result.rows {
            let Some(p) = province_of.get(&r.unit) else { continue };
            sexes.insert(r.group.clone());
            let e = sums.entry((p.clone(), r.group.clone())).or_default();
            e.0 += r.numerator;
            e.1 += r.denominator.unwrap_or(0.0);
        }
        let sexes: Vec<String> = sexes.into_iter().collect();
        let rows: Vec<String> = provinces.iter().cloned().collect();
        let cell = |p: &str, s: &str| sums.get(&(p.to_string(), s.to_string())).copied().unwrap_or_default();
        let labels = |r: usize, c: usize| {
            let (code, name) = match rows.get(r) {
                Some(p) => (p.clone(), province_name(p)),
                None => ("project".to_string(), t("Toàn dự án", "Whole project")),
            };
            (code, name, sexes.get(c).cloned().unwrap_or_else(|| "all".into()))
        };
        let unit = result.meta.unit;
        if !unit.is_ratio() {
            let grid = Grid::from_cells(rows.iter().map(|p| sexes.iter().map(|s| cell(p, s).0).collect()).collect());
            let s = suppress::suppress(&grid, o.k);
            for (r, line) in grid.values.iter().enumerate() {
                for (c, v) in line.iter().enumerate() {
                    let (code, name, sex) = labels(r, c);
                    let hidden = s.is_hidden((r, c));
                    counts.rows.push(vec![
                        Cell::Text(id.clone()),
                        Cell::Text(code),
                        Cell::Text(name),
                        Cell::Text(sex),
                        if hidden { Cell::Empty } else { Cell::count(*v) },
                        Cell::Text(hidden.to_string()),
                    ]);
                }
            }
            audit.rows.push(vec![
                Cell::Text(id.clone()),
                Cell::Int(i64::from(o.k)),
                Cell::Int((grid.values.len() * grid.values[0].len()) as i64),
                Cell::Int(s.primary as i64),
                Cell::Int(s.complementary as i64),
                if s.narrowest.is_finite() { Cell::number(Some(s.narrowest)) } else { Cell::Empty },
                Cell::Text((s.narrowest > f64::from(o.k)).to_string()),
            ]);
        } else {
            // Rates publish no additive totals; a rate is hidden when either of the
            // counts it is made of is small.
            let totals = |p: Option<&str>, s: Option<&str>| -> (f64, f64) {
                sums.iter()
                    .filter(|((pp, ss), _)| p.is_none_or(|p| p == pp) && s.is_none_or(|s| s == ss))
                    .fold((0.0, 0.0), |a, (_, v)| (a.0 + v.0, a.1 + v.1))
            };
            for r in 0..=rows.len() {
                for c in 0..=sexes.len() {
                    let (n, d) = totals(rows.get(r).map(String::as_str), sexes.get(c).map(String::as_str));
                    let (code, name, sex) = labels(r, c);
                    let hidden = small_cells::hides_ratio(n, Some(d), o.k);
                    rates.rows.push(vec![
                        Cell::Text(id.clone()),
                        Cell::Text(code),
                        Cell::Text(name),
                        Cell::Text(sex),
                        if hidden { Cell::Empty } else { Cell::number(unit.value(n, Some(d))) },
                        Cell::Text(hidden.to_string()),
                    ]);
                }
            }
        }
    }
    Ok(Report {
        name: "donor-results".into(),
        title: t(&format!("Kết quả dự án {}", o.project), &format!("Results of project {}", o.project)),
        period: o.period.clone(),
        lang,
        snapshot: engine.snapshot().clone(),
        freshness: freshness(engine).await?,
        tables: vec![targets, counts, rates, audit],
    })
}
