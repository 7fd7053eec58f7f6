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

use super::engine::Engine;
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

/// The last day of the last month that is complete on `day`.
fn last_complete_month_end(day: NaiveDate) -> NaiveDate {
    let next = day + Days::new(1);
    if next.day() == 1 { day } else { day.with_day(1).expect("day 1") - Days::new(1) }
}

fn months_between(from: NaiveDate, to: NaiveDate) -> f64 {
    (to - from).num_days() as f64 / (365.25 / 12.0)
}

struct Evaluator<'a> {
    engine: &'a Engine,
    /// (KPI, period, boundary set) → unit → (numerator, denominator).
    cache: HashMap<(String, String, BoundarySet), BTreeMap<String, (f64, Option<f64>)>>,
}

impl Evaluator<'_> {
    /// The KPI's numerator and denominator over `period`, summed over the scope.
    async fn sum(&mut self, id: &str, period: &Period, scope: &Scope) -> Result<(f64, Option<f64>), KpiError> {
        let set = match scope {
            Scope::National => BoundarySet::P63,
            Scope::Provinces(set, _) => *set,
        };
        let key = (id.to_string(), period.to_string(), set);
        if !self.cache.contains_key(&key) {
            let req = KpiRequest { by: By::Province, boundary: set, ..KpiRequest::new(period.clone()) };
            let result = self.engine.kpi(id, &req).await?;
            let mut units = BTreeMap::new();
            for r in result.rows {
                let e: &mut (f64, Option<f64>) = units.entry(r.unit).or_default();
                e.0 += r.numerator;
                if let Some(d) = r.denominator {
                    e.1 = Some(e.1.unwrap_or(0.0) + d);
                }
            }
            self.cache.insert(key.clone(), units);
        }
        let mut total = (0.0, None);
        for (unit, (n, d)) in &self.cache[&key] {
            if let Scope::Provinces(_, codes) = scope {
                if !codes.contains(unit) {
                    continue;
                }
            }
            total.0 += n;
            if let Some(d) = d {
                total.1 = Some(total.1.unwrap_or(0.0) + d);
            }
        }
        Ok(total)
    }

    /// A flow's actual on `day`: the baseline plus the KPI since the baseline date.
    async fn flow_actual(
        &mut self,
        id: &str,
        baseline: f64,
        since: NaiveDate,
        day: NaiveDate,
        scope: &Scope,
    ) -> Result<f64, KpiError> {
        match Period::range(since + Days::new(1), day) {
            Some(p) => Ok(baseline + self.sum(id, &p, scope).await?.0),
            None => Ok(baseline),
        }
    }
}

impl Engine {
    /// Every target of the reference data (at this engine's snapshot) on `as_of`.
    pub async fn targets(&self, as_of: NaiveDate, thresholds: Thresholds) -> Result<Vec<TargetRow>, KpiError> {
        self.targets_of(as_of, thresholds, None).await
    }

    /// The targets of one (scope, scope id) only, or all of them: the others' KPIs
    /// are not computed.
    pub async fn targets_of(
        &self,
        as_of: NaiveDate,
        thresholds: Thresholds,
        only: Option<(&str, &str)>,
    ) -> Result<Vec<TargetRow>, KpiError> {
        let (_, batches) = self
            .query(
                "SELECT indicator, scope, scope_id, baseline, baseline_date, target, target_date, note \
                 FROM targets ORDER BY scope, scope_id, indicator, target_date",
            )
            .await?;
        let (_, projects) = self.query("SELECT id, province_63 FROM projects").await?;
        let mut project_provinces: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for b in &projects {
            let rows = super::engine::text_columns(b)?;
            for r in rows {
                project_provinces.entry(r[0].clone()).or_default().insert(r[1].clone());
            }
        }
        let mut eval = Evaluator { engine: self, cache: HashMap::new() };
        let mut out = Vec::new();
        for b in &batches {
            for r in super::engine::text_columns(b)? {
                let number =
                    |s: &str| s.parse::<f64>().map_err(|_| KpiError::Query(format!("targets: {s:?} is not a number")));
                let date = |s: &str| {
                    s.parse::<NaiveDate>().map_err(|_| KpiError::Query(format!("targets: {s:?} is not a date")))
                };
                let (indicator, scope, scope_id) = (r[0].clone(), r[1].clone(), r[2].clone());
                if only.is_some_and(|(s, i)| s != scope || i != scope_id) {
                    continue;
                }
                let (baseline, baseline_date, target, target_date) =
                    (number(&r[3])?, date(&r[4])?, number(&r[5])?, date(&r[6])?);
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
                let month_end = last_complete_month_end(as_of);
                let three_before = month_end + Days::new(1) - Months::new(3) - Days::new(1);
                let (actual, projected) = if kpi.meta.unit.is_ratio() {
                    let last = Grain::Month.containing(month_end);
                    let (n, d) = eval.sum(&indicator, &last, &area).await?;
                    let actual = kpi.meta.unit.value(n, d);
                    let window = Period::range(three_before + Days::new(1), month_end).expect("three months");
                    let mut values = Vec::new();
                    for m in window.split(Grain::Month) {
                        let (n, d) = eval.sum(&indicator, &m, &area).await?;
                        values.extend(kpi.meta.unit.value(n, d));
                    }
                    let projected = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
                    (actual, projected)
                } else {
                    let actual = eval.flow_actual(&indicator, baseline, baseline_date, as_of, &area).await?;
                    let end = eval.flow_actual(&indicator, baseline, baseline_date, month_end, &area).await?;
                    let start = eval.flow_actual(&indicator, baseline, baseline_date, three_before, &area).await?;
                    let per_month = (end - start) / 3.0;
                    let remaining = months_between(as_of, target_date).max(0.0);
                    (Some(actual), Some(actual + per_month * remaining))
                };
                let achieved_pct = actual.filter(|_| target != 0.0).map(|a| 100.0 * a / target);
                let status = projected.filter(|_| target != 0.0).map(|p| {
                    let reached = if kpi.meta.higher_is_better {
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
                    indicator,
                    scope,
                    scope_id,
                    baseline,
                    baseline_date,
                    target,
                    target_date,
                    as_of,
                    actual,
                    achieved_pct,
                    projected,
                    status,
                    note: r[7].clone(),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_complete_month_ends_on_or_before_the_day() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(last_complete_month_end(d("2026-10-31")), d("2026-10-31"));
        assert_eq!(last_complete_month_end(d("2026-10-30")), d("2026-09-30"));
        assert_eq!(last_complete_month_end(d("2024-03-01")), d("2024-02-29"));
    }
}
