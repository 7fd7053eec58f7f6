//! Small-cell suppression of KPI results, for the audiences that see figures below
//! what they are trusted with in full (provincial managers: k = 5 by default).
//!
//! A result is suppressed period by period. Its units by its groups form a grid
//! whose margins (each unit's figure, each group's, the area's) are published
//! elsewhere: another request returns them. So the margins are never hidden, and
//! every hidden cell needs partners in its own lines until no cell can be worked out
//! from the margins (see [`super::suppress`]). A ratio is hidden where its
//! numerator or its denominator is, each suppressed as counts: the rows carry both.
//! Minutes are not counts of people and are published as they are.
//!
//! What one result cannot see is a sum over periods: a quarter beside its three
//! months can give away a month hidden alone. Each request is protected against its
//! own margins, not against every other request.

use std::collections::BTreeMap;

use super::suppress::{self, Grid, Margins};
use crate::kpi::{KpiResult, ValueUnit};

/// What suppression did to one result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Rows hidden, for being small or for giving a small one away.
    pub hidden: usize,
    /// Of which small themselves.
    pub primary: usize,
    /// The narrowest feasible range of a hidden figure (infinite when none is hidden).
    pub narrowest: f64,
}

/// Which rows of `result` an audience with suppression `k` may not see.
pub fn hidden_rows(result: &KpiResult, k: u32) -> (Vec<bool>, Summary) {
    let mut hidden = vec![false; result.rows.len()];
    let mut summary = Summary { hidden: 0, primary: 0, narrowest: f64::INFINITY };
    let unit = result.meta.unit;
    if unit == ValueUnit::Minutes {
        return (hidden, summary);
    }
    let mut periods: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in result.rows.iter().enumerate() {
        periods.entry(r.period.as_str()).or_default().push(i);
    }
    for rows in periods.values() {
        let index = |key: fn(&crate::kpi::KpiRow) -> &str| -> BTreeMap<&str, usize> {
            let mut keys: Vec<&str> = rows.iter().map(|&i| key(&result.rows[i])).collect();
            keys.sort_unstable();
            keys.dedup();
            keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect()
        };
        let units = index(|r| r.unit.as_str());
        let groups = index(|r| r.group.as_str());
        let at = |i: usize| (units[result.rows[i].unit.as_str()], groups[result.rows[i].group.as_str()]);
        let measures: &[fn(&crate::kpi::KpiRow) -> f64] =
            if unit.is_ratio() { &[|r| r.numerator, |r| r.denominator.unwrap_or(0.0)] } else { &[|r| r.numerator] };
        for measure in measures {
            let mut cells = vec![vec![0.0; groups.len()]; units.len()];
            for &i in rows {
                let (u, g) = at(i);
                cells[u][g] += measure(&result.rows[i]);
            }
            let s = suppress::suppress_with(&Grid::from_cells(cells), k, Margins::Published);
            summary.narrowest = summary.narrowest.min(s.narrowest);
            for &i in rows {
                let cell = at(i);
                if s.is_hidden(cell) && !hidden[i] {
                    hidden[i] = true;
                    summary.hidden += 1;
                    if suppress::is_small(measure(&result.rows[i]), k) {
                        summary.primary += 1;
                    }
                }
            }
        }
    }
    (hidden, summary)
}

/// Hides what [`hidden_rows`] finds: no value, numerator or denominator (JSON
/// `null`), and the row says it was suppressed.
pub fn suppress_result(result: &mut KpiResult, k: u32) -> Summary {
    let (hidden, summary) = hidden_rows(result, k);
    for (row, hide) in result.rows.iter_mut().zip(hidden) {
        if hide {
            row.value = None;
            row.numerator = f64::NAN;
            row.denominator = None;
            row.suppressed = true;
        }
    }
    summary
}

/// Whether a rate is hidden on its own: either count it is made of is small.
pub fn hides_ratio(numerator: f64, denominator: Option<f64>, k: u32) -> bool {
    suppress::is_small(numerator, k) || denominator.is_some_and(|d| suppress::is_small(d, k))
}

/// Whether a target's achievement is hidden: the actual is a small count (a rate's
/// actual is published, its counts are not).
pub fn hides_target(catalog: &crate::kpi::Catalog, row: &crate::kpi::targets::TargetRow, k: u32) -> bool {
    let is_count = catalog.kpi(&row.indicator).is_some_and(|x| !x.meta.unit.is_ratio());
    is_count && row.actual.is_some_and(|a| suppress::is_small(a, k))
}

/// [`suppress_result`] on the blocking pool: a province's stations by group over a
/// year is a few hundred milliseconds of flows, which must not hold up the server's
/// other requests.
pub async fn suppressed(mut result: KpiResult, k: u32) -> KpiResult {
    let done = tokio::task::spawn_blocking(move || {
        suppress_result(&mut result, k);
        result
    });
    done.await.expect("suppression does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::{KpiMeta, KpiRow};

    fn result(unit: ValueUnit, rows: &[(&str, &str, &str, f64, Option<f64>)]) -> KpiResult {
        let mut meta: KpiMeta = serde_json::from_value(serde_json::json!({
            "title": {"vi": "x", "en": "x"}, "definition": {"vi": "x", "en": "x"}, "unit": "count",
            "higher_is_better": true, "disaggregations": []
        }))
        .expect("a minimal header");
        meta.unit = unit;
        KpiResult {
            id: "x".into(),
            meta,
            rows: rows
                .iter()
                .map(|&(period, unit_code, group, numerator, denominator)| KpiRow {
                    period: period.into(),
                    unit: unit_code.into(),
                    unit_name: unit_code.into(),
                    group: group.into(),
                    numerator,
                    denominator,
                    value: unit.value(numerator, denominator),
                    suppressed: false,
                })
                .collect(),
            snapshot: Default::default(),
        }
    }

    #[test]
    fn a_small_station_hides_with_the_next_smallest_of_its_period_only() {
        let mut r = result(
            ValueUnit::Count,
            &[
                ("2026-09", "A", "all", 3.0, None),
                ("2026-09", "B", "all", 40.0, None),
                ("2026-09", "C", "all", 12.0, None),
                ("2026-10", "A", "all", 30.0, None),
                ("2026-10", "B", "all", 40.0, None),
                ("2026-10", "C", "all", 12.0, None),
            ],
        );
        let s = suppress_result(&mut r, 5);
        let hidden: Vec<(&str, &str)> =
            r.rows.iter().filter(|x| x.suppressed).map(|x| (x.period.as_str(), x.unit.as_str())).collect();
        // The province's September total is published elsewhere: 3 alone would be
        // 55 - 40 - 12, so the smallest other station goes too, and 3 + 12 > 5.
        assert_eq!(hidden, [("2026-09", "A"), ("2026-09", "C")]);
        assert_eq!((s.hidden, s.primary, s.narrowest), (2, 1, 15.0));
        assert!(r.rows[0].value.is_none() && r.rows[0].numerator.is_nan());
        let json = serde_json::to_value(&r.rows[0]).unwrap();
        assert_eq!((json["numerator"].is_null(), json["suppressed"].as_bool()), (true, Some(true)));
        assert!(serde_json::to_value(&r.rows[1]).unwrap().get("suppressed").is_none(), "only hidden rows say so");
    }

    #[test]
    fn partners_are_added_until_the_hidden_sum_passes_k() {
        let r = result(
            ValueUnit::Count,
            &[
                ("P", "A", "all", 1.0, None),
                ("P", "B", "all", 2.0, None),
                ("P", "C", "all", 2.0, None),
                ("P", "D", "all", 50.0, None),
            ],
        );
        let (hidden, s) = hidden_rows(&r, 5);
        // 1 + 2 + 2 = 5 is not wider than k; the next smallest (50) goes too.
        assert_eq!(hidden, [true, true, true, true]);
        assert_eq!(s.narrowest, 55.0);
    }

    #[test]
    fn a_grouped_grid_passes_the_audit_with_its_margins_fixed() {
        let cells = [[3.0, 40.0, 22.0], [30.0, 60.0, 2.0], [25.0, 35.0, 45.0], [8.0, 9.0, 70.0]];
        let mut rows = Vec::new();
        for (u, line) in ["A", "B", "C", "D"].iter().zip(cells) {
            for (g, v) in ["female", "male", "unknown"].iter().zip(line) {
                rows.push(("P", *u, *g, v, None));
            }
        }
        let r = result(ValueUnit::Count, &rows);
        let (hidden, s) = hidden_rows(&r, 5);
        let grid = Grid::from_cells(cells.iter().map(|l| l.to_vec()).collect());
        let mut mask = vec![vec![false; 4]; 5];
        for (i, h) in hidden.iter().enumerate() {
            mask[i / 3][i % 3] = *h;
        }
        assert!(mask[0][0] && mask[1][2], "the small cells");
        for ((row, col), lo, hi) in suppress::audit(&grid, &mask) {
            assert!(row < 4 && col < 3, "no margin hidden");
            assert!(hi - lo > 5.0, "({row},{col}) in [{lo}, {hi}]");
        }
        assert!(s.narrowest > 5.0);
    }

    #[test]
    fn a_rate_hides_with_its_small_numerator_and_minutes_are_not_counts() {
        let rows = [
            ("P", "A", "all", 2.0, Some(100.0)),
            ("P", "B", "all", 30.0, Some(90.0)),
            ("P", "C", "all", 40.0, Some(80.0)),
        ];
        let (hidden, _) = hidden_rows(&result(ValueUnit::Percent, &rows), 5);
        assert_eq!(hidden, [true, true, false]);
        let (hidden, s) = hidden_rows(&result(ValueUnit::Minutes, &rows), 5);
        assert_eq!((hidden, s.hidden), (vec![false; 3], 0));
    }
}
