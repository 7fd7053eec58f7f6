//! Targets: for every target of the reference data (national, per donor project, per
//! province), the actual value on a date, % achieved, the value projected at the
//! target date from the run-rate of the last 3 complete months, and a status.
//!
//! A count or minutes KPI is a flow: its actual is the baseline plus the KPI over the
//! days after the baseline date, and its run-rate is how much that actual grew per
//! month over the last 3 complete months (so distinct counts, which do not add up
//! month by month, are projected right too). A ratio is a level: its actual is the
//! last complete month's value and its projection the mean of the last 3 months.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, Days, Months, NaiveDate};

use super::catalog::ValueUnit;
use super::engine::{Engine, province_in};
use super::period::{Grain, Period};
use super::{By, KpiError, KpiRequest};
use crate::domain::BoundarySet;

/// Where on track ends and off track begins, as shares of the target that the
/// projection reaches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Projection at least this share of the target: on track.
    pub on_track: f64,
    /// Projection at least this share (and below `on_track`): at risk; below: off track.
    pub at_risk: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { on_track: 1.0, at_risk: 0.8 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnTrack,
    AtRisk,
    OffTrack,
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Status::OnTrack, Status::AtRisk, Status::OffTrack]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::OffTrack => "off_track",
        }
    }
}

/// One target as it stands on `as_of`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TargetRow {
    pub indicator: String,
    pub scope: String,
    pub scope_id: String,
    pub baseline: f64,
    pub baseline_date: NaiveDate,
    pub target: f64,
    pub target_date: NaiveDate,
    pub as_of: NaiveDate,
    pub actual: Option<f64>,
    /// actual ÷ target, in percent.
    pub achieved_pct: Option<f64>,
    pub projected: Option<f64>,
    pub status: Option<Status>,
    pub note: String,
}

/// The provinces a target covers, in the set its scope is written in.
#[derive(Debug, Clone)]
enum Scope {
    National,
    Provinces(BoundarySet, BTreeSet<String>),
}

impl Scope {
    /// The boundary set its figures are read in (national totals in the 63 set).
    fn set(&self) -> BoundarySet {
        match self {
            Scope::National => BoundarySet::P63,
            Scope::Provinces(set, _) => *set,
        }
    }
}

/// The last day of the last month that is complete on `day`.
fn last_complete_month_end(day: NaiveDate) -> NaiveDate {
    let next = day + Days::new(1);
    if next.day() == 1 { day } else { day.with_day(1).expect("day 1") - Days::new(1) }
}

/// The end of the last complete month on `as_of` and the day 3 months before it:
/// the run-rate window.
fn run_rate_window(as_of: NaiveDate) -> (NaiveDate, NaiveDate) {
    let month_end = last_complete_month_end(as_of);
    (month_end, month_end + Days::new(1) - Months::new(3) - Days::new(1))
}

/// Adds a numerator and an optional denominator into a running total.
fn add(total: &mut (f64, Option<f64>), n: f64, d: Option<f64>) {
    total.0 += n;
    if let Some(d) = d {
        total.1 = Some(total.1.unwrap_or(0.0) + d);
    }
}

fn months_between(from: NaiveDate, to: NaiveDate) -> f64 {
    (to - from).num_days() as f64 / (365.25 / 12.0)
}

/// One target row of the reference data, parsed.
struct Spec {
    indicator: String,
    scope: String,
    scope_id: String,
    area: Scope,
    baseline: f64,
    baseline_date: NaiveDate,
    target: f64,
    target_date: NaiveDate,
    note: String,
    unit: ValueUnit,
    higher_is_better: bool,
}

/// The periods a target's figures are sums over: for a ratio, the last 3 complete
/// months; for a flow, the days since the baseline up to `as_of`, to the end of the
/// last complete month and to 3 months before it.
fn windows(spec: &Spec, as_of: NaiveDate) -> Vec<Period> {
    let (month_end, three_before) = run_rate_window(as_of);
    if spec.unit.is_ratio() {
        Period::range(three_before + Days::new(1), month_end).expect("three months").split(Grain::Month)
    } else {
        [as_of, month_end, three_before]
            .into_iter()
            .filter_map(|day| Period::range(spec.baseline_date + Days::new(1), day))
            .collect()
    }
}

/// Disjoint periods, each within a window, whose unions are the windows: cut at
/// every window's first day and at the day after its last.
fn pieces(windows: &[Period]) -> Vec<Period> {
    let cuts: BTreeSet<NaiveDate> = windows.iter().flat_map(|w| [w.start, w.end + Days::new(1)]).collect();
    let cuts: Vec<NaiveDate> = cuts.into_iter().collect();
    cuts.windows(2)
        .filter_map(|c| Period::range(c[0], c[1] - Days::new(1)))
        .filter(|p| windows.iter().any(|w| w.covers(p)))
        .collect()
}

/// The figures every target needs: one query for every KPI that adds up (in both
/// boundary sets), and one for each other set of KPIs asked in the same set over the
/// same windows, whatever the number of targets and periods.
struct Figures {
    /// (KPI, set, period) → unit → (numerator, denominator).
    sums: HashMap<(String, BoundarySet, Period), BTreeMap<String, (f64, Option<f64>)>>,
}

impl Figures {
    async fn compute(engine: &Engine, specs: &[Spec], as_of: NaiveDate) -> Result<Self, KpiError> {
        let mut wanted: BTreeMap<(String, BoundarySet), BTreeSet<Period>> = BTreeMap::new();
        for spec in specs {
            wanted.entry((spec.indicator.clone(), spec.area.set())).or_default().extend(windows(spec, as_of));
        }
        // A KPI that adds up over time and places is asked by province in both sets
        // at once, for disjoint pieces of every window, and each window summed from
        // the pieces it holds: every day is read once, where windows from several
        // baselines to three end days would read most days nine times, and each set
        // once. Any other KPI is asked for each window itself (a distinct count over
        // a shorter window says nothing of a longer one), together with the KPIs of
        // its set asked over the same windows.
        let mut flows: BTreeMap<String, Vec<(BoundarySet, Vec<Period>)>> = BTreeMap::new();
        let mut others: BTreeMap<(BoundarySet, Vec<Period>), Vec<String>> = BTreeMap::new();
        for ((id, set), periods) in wanted {
            let periods: Vec<Period> = periods.into_iter().collect();
            if periods.is_empty() {
                continue;
            }
            if engine.catalog().kpi(&id).is_some_and(|k| k.meta.additive) {
                flows.entry(id).or_default().push((set, periods));
            } else {
                others.entry((set, periods)).or_default().push(id);
            }
        }
        let all_windows: Vec<Period> = flows.values().flatten().flat_map(|(_, w)| w.iter().cloned()).collect();
        let flow_pieces = pieces(&all_windows);
        let flow_ids: Vec<&str> = flows.keys().map(String::as_str).collect();
        // The queries are independent: run side by side, they keep both cores busy.
        let flow_query = async {
            if flow_ids.is_empty() {
                Ok(Vec::new())
            } else {
                engine.kpis_by_province_pair(&flow_ids, &flow_pieces).await
            }
        };
        let other_queries = futures::future::try_join_all(others.iter().map(|((set, periods), ids)| {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let req = KpiRequest { by: By::Province, boundary: *set, ..KpiRequest::new(periods[0].clone()) };
            async move { engine.kpis_over(&ids, &req, periods).await }
        }));
        let (flow_results, other_results) = futures::try_join!(flow_query, other_queries)?;

        let mut sums: HashMap<_, BTreeMap<String, (f64, Option<f64>)>> = HashMap::new();
        let labels: HashMap<String, &Period> = flow_pieces.iter().map(|p| (p.to_string(), p)).collect();
        for result in flow_results {
            let Some(asked) = flows.get(&result.id) else { continue };
            for r in result.rows {
                let Some(piece) = labels.get(&r.period) else { continue };
                for (set, windows) in asked {
                    let province = province_in(&r.unit, *set);
                    for window in windows.iter().filter(|w| w.covers(piece)) {
                        let units = sums.entry((result.id.clone(), *set, window.clone())).or_default();
                        add(units.entry(province.to_string()).or_default(), r.numerator, r.denominator);
                    }
                }
            }
        }
        for (((set, windows), _), results) in others.iter().zip(other_results) {
            let labels: HashMap<String, &Period> = windows.iter().map(|p| (p.to_string(), p)).collect();
            for result in results {
                for r in result.rows {
                    let Some(window) = labels.get(&r.period) else { continue };
                    let units = sums.entry((result.id.clone(), *set, (*window).clone())).or_default();
                    add(units.entry(r.unit.clone()).or_default(), r.numerator, r.denominator);
                }
            }
        }
        Ok(Figures { sums })
    }

    /// The KPI's numerator and denominator over `period`, summed over the scope.
    fn sum(&self, id: &str, period: &Period, scope: &Scope) -> (f64, Option<f64>) {
        let mut total = (0.0, None);
        let Some(units) = self.sums.get(&(id.to_string(), scope.set(), period.clone())) else { return total };
        for (unit, (n, d)) in units {
            if let Scope::Provinces(_, codes) = scope {
                if !codes.contains(unit) {
                    continue;
                }
            }
            add(&mut total, *n, *d);
        }
        total
    }

    /// A flow's actual on `day`: the baseline plus the KPI since the baseline date.
    fn flow_actual(&self, spec: &Spec, day: NaiveDate) -> f64 {
        match Period::range(spec.baseline_date + Days::new(1), day) {
            Some(p) => spec.baseline + self.sum(&spec.indicator, &p, &spec.area).0,
            None => spec.baseline,
        }
    }
}

impl Engine {
    /// Every target of the reference data (at this engine's snapshot) on `as_of`.
    pub async fn targets(&self, as_of: NaiveDate, thresholds: Thresholds) -> Result<Vec<TargetRow>, KpiError> {
        self.targets_where(as_of, thresholds, |_, _| true).await
    }

    /// The targets of one (scope, scope id) only, or all of them: the others' KPIs
    /// are not computed.
    pub async fn targets_of(
        &self,
        as_of: NaiveDate,
        thresholds: Thresholds,
        only: Option<(&str, &str)>,
    ) -> Result<Vec<TargetRow>, KpiError> {
        self.targets_where(as_of, thresholds, |scope, id| only.is_none_or(|(s, i)| s == scope && i == id)).await
    }

    /// The targets whose (scope, scope id) `keep` accepts; the others' KPIs are not
    /// computed.
    pub async fn targets_where(
        &self,
        as_of: NaiveDate,
        thresholds: Thresholds,
        keep: impl Fn(&str, &str) -> bool,
    ) -> Result<Vec<TargetRow>, KpiError> {
        let specs = self.target_specs(&keep).await?;
        let figures = Figures::compute(self, &specs, as_of).await?;
        let (month_end, three_before) = run_rate_window(as_of);
        let mut out = Vec::new();
        for spec in specs {
            let (actual, projected) = if spec.unit.is_ratio() {
                let value = |(n, d): (f64, Option<f64>)| spec.unit.value(n, d);
                let last = Grain::Month.containing(month_end);
                let actual = value(figures.sum(&spec.indicator, &last, &spec.area));
                let months = windows(&spec, as_of);
                let values: Vec<f64> =
                    months.iter().filter_map(|m| value(figures.sum(&spec.indicator, m, &spec.area))).collect();
                let projected = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
                (actual, projected)
            } else {
                let actual = figures.flow_actual(&spec, as_of);
                let end = figures.flow_actual(&spec, month_end);
                let start = figures.flow_actual(&spec, three_before);
                let per_month = (end - start) / 3.0;
                let remaining = months_between(as_of, spec.target_date).max(0.0);
                (Some(actual), Some(actual + per_month * remaining))
            };
            let target = spec.target;
            let achieved_pct = actual.filter(|_| target != 0.0).map(|a| 100.0 * a / target);
            let status = projected.filter(|_| target != 0.0).map(|p| {
                let reached = if spec.higher_is_better {
                    p / target
                } else if p > 0.0 {
                    target / p
                } else {
                    f64::INFINITY
                };
                if reached >= thresholds.on_track {
                    Status::OnTrack
                } else if reached >= thresholds.at_risk {
                    Status::AtRisk
                } else {
                    Status::OffTrack
                }
            });
            out.push(TargetRow {
                indicator: spec.indicator,
                scope: spec.scope,
                scope_id: spec.scope_id,
                baseline: spec.baseline,
                baseline_date: spec.baseline_date,
                target,
                target_date: spec.target_date,
                as_of,
                actual,
                achieved_pct,
                projected,
                status,
                note: spec.note,
            });
        }
        Ok(out)
    }

    /// The targets of the reference data that `keep` accepts, parsed.
    async fn target_specs(&self, keep: &impl Fn(&str, &str) -> bool) -> Result<Vec<Spec>, KpiError> {
        let (_, batches) = self
            .query(
                "SELECT indicator, scope, scope_id, baseline, baseline_date, target, target_date, note \
                 FROM targets ORDER BY scope, scope_id, indicator, target_date",
            )
            .await?;
        let (_, projects) = self.query("SELECT id, province_63 FROM projects").await?;
        let mut project_provinces: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for b in &projects {
            for r in super::engine::text_columns(b)? {
                project_provinces.entry(r[0].clone()).or_default().insert(r[1].clone());
            }
        }
        let number = |s: &str| s.parse::<f64>().map_err(|_| KpiError::Query(format!("targets: {s:?} is not a number")));
        let date =
            |s: &str| s.parse::<NaiveDate>().map_err(|_| KpiError::Query(format!("targets: {s:?} is not a date")));
        let mut specs = Vec::new();
        for b in &batches {
            for r in super::engine::text_columns(b)? {
                let (indicator, scope, scope_id) = (r[0].clone(), r[1].clone(), r[2].clone());
                if !keep(&scope, &scope_id) {
                    continue;
                }
                let kpi = self.catalog().kpi(&indicator).ok_or_else(|| {
                    KpiError::Usage(format!("target for {indicator:?}: there is no such KPI in sql/kpi"))
                })?;
                let area = match scope.as_str() {
                    "national" => Scope::National,
                    "project" => Scope::Provinces(
                        BoundarySet::P63,
                        project_provinces.get(&scope_id).cloned().unwrap_or_default(),
                    ),
                    _ => {
                        let (set, code) = scope_id.split_once(':').unwrap_or(("34", &scope_id));
                        let set = BoundarySet::parse(set).map_err(|e| KpiError::Usage(e.to_string()))?;
                        Scope::Provinces(set, BTreeSet::from([code.to_string()]))
                    }
                };
                specs.push(Spec {
                    unit: kpi.meta.unit,
                    higher_is_better: kpi.meta.higher_is_better,
                    indicator,
                    scope,
                    scope_id,
                    area,
                    baseline: number(&r[3])?,
                    baseline_date: date(&r[4])?,
                    target: number(&r[5])?,
                    target_date: date(&r[6])?,
                    note: r[7].clone(),
                });
            }
        }
        Ok(specs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_cut_into_disjoint_pieces_that_rebuild_each_one() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let range = |a: &str, b: &str| Period::range(d(a), d(b)).unwrap();
        // Two baselines, three end days each, and a window apart from the others.
        let windows = [
            range("2020-07-02", "2026-10-20"),
            range("2020-07-02", "2026-09-30"),
            range("2020-07-02", "2026-06-30"),
            range("2023-01-02", "2026-10-20"),
            range("2023-01-02", "2026-09-30"),
            range("2023-01-02", "2026-06-30"),
            range("2019-01-01", "2019-01-31"),
        ];
        let parts = pieces(&windows);
        assert_eq!(
            parts,
            [
                range("2019-01-01", "2019-01-31"),
                range("2020-07-02", "2023-01-01"),
                range("2023-01-02", "2026-06-30"),
                range("2026-07-01", "2026-09-30"),
                range("2026-10-01", "2026-10-20"),
            ]
        );
        for w in &windows {
            let days: u64 = parts.iter().filter(|p| w.covers(p)).map(|p| p.days()).sum();
            assert_eq!(days, w.days(), "{w}");
        }
    }

    #[test]
    fn the_last_complete_month_ends_on_or_before_the_day() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(last_complete_month_end(d("2026-10-31")), d("2026-10-31"));
        assert_eq!(last_complete_month_end(d("2026-10-30")), d("2026-09-30"));
        assert_eq!(last_complete_month_end(d("2024-03-01")), d("2024-02-29"));
    }
}
