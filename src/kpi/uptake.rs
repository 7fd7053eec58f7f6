//! Low-uptake stations: every live station ranked by bookings per 1,000 catchment
//! population over a recent window, and flagged with each reason that applies.
//!
//! The detector reads nothing but KPI figures (appointments booked, video calls,
//! facilities with a trained worker, by station) and the station register, and
//! judges each station against the other stations of its own province: the province
//! median absorbs what all of them share (the season, the program's maturity, the
//! province's size), so a threshold is a ratio to that median rather than a fixed
//! share of stations. The thresholds are read from `low_uptake.toml` in the SQL
//! folder (built in by default).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde::Deserialize;

use super::{By, Engine, KpiError, KpiRequest, Period};
use crate::domain::BoundarySet;

/// The built-in thresholds file.
pub const BUILT_IN: &str = include_str!("../../sql/low_uptake.toml");

/// When a station is flagged; see `sql/low_uptake.toml` for what each one means.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UptakeThresholds {
    pub window_weeks: u32,
    pub min_live_weeks: u32,
    pub no_bookings_weeks: u32,
    pub no_bookings_min_expected: f64,
    pub low_rate_ratio: f64,
    pub falling_ratio: f64,
    pub falling_min_before: f64,
    pub falling_significance: f64,
    pub baseline_skip_weeks: u32,
}

impl UptakeThresholds {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t: Self = toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
        let mut problems = Vec::new();
        if t.window_weeks == 0 {
            problems.push("window_weeks must be at least 1".to_string());
        }
        if t.no_bookings_weeks == 0 || t.no_bookings_weeks > t.window_weeks {
            problems.push(format!("no_bookings_weeks must be between 1 and window_weeks ({})", t.window_weeks));
        }
        for (name, v) in [("low_rate_ratio", t.low_rate_ratio), ("falling_ratio", t.falling_ratio)] {
            if !(v > 0.0 && v < 1.0) {
                problems.push(format!("{name} must be between 0 and 1 (a share of the province median), not {v}"));
            }
        }
        for (name, v) in
            [("no_bookings_min_expected", t.no_bookings_min_expected), ("falling_min_before", t.falling_min_before)]
        {
            if !(v >= 0.0) {
                problems.push(format!("{name} must not be negative"));
            }
        }
        if !(t.falling_significance > 0.0 && t.falling_significance <= 1.0) {
            problems.push(format!(
                "falling_significance must be above 0 and at most 1 (1 turns the test off), not {}",
                t.falling_significance
            ));
        }
        if problems.is_empty() { Ok(t) } else { Err(problems.join("; ")) }
    }
}

impl Default for UptakeThresholds {
    fn default() -> Self {
        Self::parse(BUILT_IN).expect("the built-in thresholds parse")
    }
}

/// Why a station is flagged. The names are those of the program's M&E plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NoBookings,
    LowRate,
    FallingTrend,
    NoTrainedWorker,
    NoVideoCalls,
}

impl Reason {
    pub const ALL: [Reason; 5] =
        [Reason::NoBookings, Reason::LowRate, Reason::FallingTrend, Reason::NoTrainedWorker, Reason::NoVideoCalls];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoBookings => "no_bookings",
            Reason::LowRate => "low_rate",
            Reason::FallingTrend => "falling_trend",
            Reason::NoTrainedWorker => "no_trained_worker",
            Reason::NoVideoCalls => "no_video_calls",
        }
    }
}

/// One live station's uptake over the window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StationUptake {
    pub rank: usize,
    pub station: String,
    pub name: String,
    pub province: String,
    pub go_live: Option<NaiveDate>,
    pub catchment: Option<i64>,
    /// Live long enough to be judged (flags are raised only on these).
    pub judged: bool,
    pub bookings: f64,
    /// Bookings in the window per 1,000 catchment population.
    pub rate: Option<f64>,
    /// `rate` over the median of the judged stations of the province.
    pub rate_vs_median: Option<f64>,
    /// Bookings per window over the baseline: the twice-as-long stretch ending half a
    /// year earlier, its weeks from `baseline_skip_weeks` after go-live on.
    pub bookings_before: f64,
    /// How many weeks the baseline has (0: none, the trend is not judged).
    pub baseline_weeks: u32,
    /// `bookings / bookings_before` over the province's median of the same.
    pub trend_vs_median: Option<f64>,
    /// Bookings in the last `no_bookings_weeks` weeks.
    pub bookings_recent: f64,
    pub video_calls: f64,
    pub trained: bool,
    pub reasons: Vec<Reason>,
}

/// Half a year, in weeks: how far back the falling trend's baseline ends.
const BACK_WEEKS: u32 = 26;

/// The windows of a detection ending on `end`, all made of whole weeks counted back
/// from it: week 0 ends on `end`, week `i` ends `7 * i` days earlier.
#[derive(Debug, Clone)]
pub struct Windows {
    pub window: Period,
    pub earlier: Period,
    pub recent: Period,
    pub before_recent: Period,
    /// Every week the detection reads, newest first (week 0 ends on `end`).
    pub weeks: Vec<Period>,
}

impl Windows {
    pub fn new(end: NaiveDate, t: &UptakeThresholds) -> Self {
        let days = |weeks: u32| Days::new(7 * u64::from(weeks));
        let span = |from: NaiveDate, to: NaiveDate| Period::range(from, to).expect("start before end");
        let start = end + Days::new(1) - days(t.window_weeks);
        // Half a year back: the same season of the year before would mix in a year of
        // program growth; half a year is what the M&E plan calls "the last quarters".
        // The earlier stretch is twice the window, ending half a year before it ends:
        // its count (per window) is the baseline, with half the noise of one window's.
        let back = days(BACK_WEEKS);
        let recent_start = end + Days::new(1) - days(t.no_bookings_weeks);
        let earlier = span(start - back - days(t.window_weeks), end - back);
        let weeks = (0..BACK_WEEKS + 2 * t.window_weeks)
            .map(|i| {
                let last = end - days(i);
                span(last - Days::new(6), last)
            })
            .collect();
        Windows {
            window: span(start, end),
            earlier,
            recent: span(recent_start, end),
            before_recent: span(recent_start - days(t.window_weeks), recent_start - Days::new(1)),
            weeks,
        }
    }

    /// The indices in [`Windows::weeks`] of the weeks that make up `p`, one of the
    /// windows above (each is whole weeks ending on a week's end).
    pub fn weeks_in(&self, p: &Period) -> std::ops::Range<u32> {
        let first = ((self.weeks[0].end - p.end).num_days() / 7) as u32;
        first..first + (p.days() / 7) as u32
    }
}

/// One station's weekly bookings, newest first (as [`Windows::weeks`]).
struct Weekly<'a>(&'a [f64]);

impl Weekly<'_> {
    fn sum(&self, weeks: std::ops::Range<u32>) -> f64 {
        weeks.map(|i| self.0.get(i as usize).copied().unwrap_or(0.0)).sum()
    }

    /// How many of the newest weeks had no booking at all.
    fn silent_weeks(&self, most: u32) -> u32 {
        (0..most).take_while(|&i| self.sum(i..i + 1) == 0.0).count() as u32
    }
}

/// P(X <= k) for X ~ Binomial(n, p), summed in log space so that long counts neither
/// overflow the binomial coefficients nor underflow the first terms.
fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 || k >= n {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    let mut log_pmf = n as f64 * lq; // P(X = 0)
    let mut total = log_pmf.exp();
    for i in 0..k {
        log_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + lp - lq;
        total += log_pmf.exp();
    }
    total.min(1.0)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Whether a judged station's bookings fell to at most `falling_ratio` of what its
/// province's change predicts. Either its window against its baseline says so and
/// chance alone would rarely give so low a count (a one-sided binomial test: given
/// both counts together, how often would the window take so small a share if the
/// station had moved with its province's median), or its newest weeks were silent
/// where its earlier rate made silence unlikely, and the silent share of the window
/// is itself a fall that large.
fn falling(s: &StationUptake, province_median: Option<f64>, weeks: &Weekly, t: &UptakeThresholds) -> bool {
    let ww = f64::from(t.window_weeks);
    let by_count = s.trend_vs_median.zip(province_median).is_some_and(|(r, m)| {
        let base_count = s.bookings_before * f64::from(s.baseline_weeks) / ww;
        let share = ww * m / (ww * m + f64::from(s.baseline_weeks));
        let (now, all) = (s.bookings.round() as u64, (s.bookings + base_count).round() as u64);
        r <= t.falling_ratio && binomial_cdf(now, all, share) <= t.falling_significance
    });
    let silent = weeks.silent_weeks(t.window_weeks);
    let by_silence = silent > 0 && {
        let weekly_rate = weeks.sum(silent..silent + t.window_weeks) / ww;
        // P(no booking in the silent weeks) for a station booking at its earlier rate.
        let chance = (-weekly_rate * f64::from(silent)).exp();
        chance <= t.falling_significance && (ww - f64::from(silent)) / ww <= t.falling_ratio
    };
    by_count || by_silence
}

impl Engine {
    /// Each station's figure of one count KPI over each of `periods` (0 where it has
    /// none), in one query.
    async fn by_station(
        &self,
        id: &str,
        periods: &[Period],
        boundary: BoundarySet,
        province: Option<&str>,
    ) -> Result<Vec<BTreeMap<String, f64>>, KpiError> {
        let req = KpiRequest {
            by: By::Station,
            boundary,
            province: province.map(str::to_string),
            ..KpiRequest::new(periods[0].clone())
        };
        // Equal windows (a threshold file may make them so) are computed once.
        let distinct: Vec<Period> =
            periods.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let mut by_period: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for r in self.kpi_over(id, &req, &distinct).await?.rows {
            by_period.entry(r.period).or_default().insert(r.unit, r.numerator);
        }
        Ok(periods.iter().map(|p| by_period.get(&p.to_string()).cloned().unwrap_or_default()).collect())
    }

    /// Every station live on `end` (of `province` in `boundary`, or all), ranked by
    /// uptake (highest first) and flagged.
    pub async fn low_uptake(
        &self,
        end: NaiveDate,
        boundary: BoundarySet,
        province: Option<&str>,
        t: &UptakeThresholds,
    ) -> Result<Vec<StationUptake>, KpiError> {
        let w = Windows::new(end, t);
        let weekly = self.by_station("appointments_booked", &w.weeks, boundary, province).await?;
        let calls = self.by_station("video_calls", std::slice::from_ref(&w.window), boundary, province).await?;
        // Trained at any time up to the end: a worker trained years ago still counts.
        let ever = Period::range(NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date"), end).expect("a range");
        let trained = self.by_station("facilities_with_trained_worker", &[ever], boundary, province).await?;

        let ww = t.window_weeks;
        let judged_from = w.window.start - Days::new(7 * u64::from(t.min_live_weeks));
        let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
        let mut out: Vec<StationUptake> = Vec::new();
        let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for s in self.stations(boundary) {
            if province.is_some_and(|p| p != s.province) || s.go_live.is_none_or(|g| g > end) {
                continue;
            }
            let counts: Vec<f64> = weekly.iter().map(|m| get(m, &s.code)).collect();
            let weeks = Weekly(&counts);
            // The baseline leaves out the weeks before go-live and the first weeks
            // after it: counting a station's launch as its normal level would make a
            // young station look as if it were climbing, and hide its fall.
            let settled = s.go_live.map(|g| g + Days::new(7 * u64::from(t.baseline_skip_weeks)));
            let base: Vec<u32> =
                w.weeks_in(&w.earlier).filter(|&i| settled.is_some_and(|d| w.weeks[i as usize].start >= d)).collect();
            let base_count: f64 = base.iter().map(|&i| weeks.sum(i..i + 1)).sum();
            let bookings = weeks.sum(w.weeks_in(&w.window));
            let rate = s.catchment.filter(|c| *c > 0).map(|c| 1000.0 * bookings / c as f64);
            out.push(StationUptake {
                rank: 0,
                station: s.code.to_string(),
                name: s.name.to_string(),
                province: s.province.to_string(),
                go_live: s.go_live,
                catchment: s.catchment,
                judged: s.go_live.is_some_and(|g| g <= judged_from),
                bookings,
                rate,
                rate_vs_median: None,
                bookings_before: if base.is_empty() { 0.0 } else { base_count * f64::from(ww) / base.len() as f64 },
                baseline_weeks: base.len() as u32,
                trend_vs_median: None,
                bookings_recent: weeks.sum(w.weeks_in(&w.recent)),
                video_calls: get(&calls[0], &s.code),
                trained: get(&trained[0], &s.code) > 0.0,
                reasons: Vec::new(),
            });
            series.insert(s.code.to_string(), counts);
        }

        // Province medians over the judged stations.
        let mut rates: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut trends: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let trend = |s: &StationUptake| {
            (s.baseline_weeks > 0 && s.bookings_before >= t.falling_min_before.max(1.0))
                .then(|| s.bookings / s.bookings_before)
        };
        for s in out.iter().filter(|s| s.judged) {
            if let Some(r) = s.rate {
                rates.entry(s.province.clone()).or_default().push(r);
            }
            if let Some(r) = trend(s) {
                trends.entry(s.province.clone()).or_default().push(r);
            }
        }
        let rate_median: BTreeMap<_, _> = rates.into_iter().filter_map(|(p, v)| Some((p, median(v)?))).collect();
        let trend_median: BTreeMap<_, _> = trends.into_iter().filter_map(|(p, v)| Some((p, median(v)?))).collect();
        for s in &mut out {
            let rm = rate_median.get(&s.province).copied().filter(|m| *m > 0.0);
            s.rate_vs_median = s.rate.zip(rm).map(|(r, m)| r / m);
            let tm = trend_median.get(&s.province).copied().filter(|m| *m > 0.0);
            s.trend_vs_median = trend(s).zip(tm).map(|(r, m)| r / m);
            if !s.judged {
                continue;
            }
            let weeks = Weekly(&series[&s.station]);
            // Silence is news only where bookings were expected: a station that books
            // once a month is not "quiet" after four weeks.
            let expected = weeks.sum(w.weeks_in(&w.before_recent)) * f64::from(t.no_bookings_weeks) / f64::from(ww);
            if s.bookings_recent == 0.0 && expected >= t.no_bookings_min_expected {
                s.reasons.push(Reason::NoBookings);
            }
            if s.rate_vs_median.is_some_and(|r| r <= t.low_rate_ratio) {
                s.reasons.push(Reason::LowRate);
            }
            if falling(s, tm, &weeks, t) {
                s.reasons.push(Reason::FallingTrend);
            }
            if !s.trained {
                s.reasons.push(Reason::NoTrainedWorker);
            }
            if s.video_calls == 0.0 {
                s.reasons.push(Reason::NoVideoCalls);
            }
        }
        // Highest uptake first; stations without a catchment last; ties by code.
        out.sort_by(|a, b| {
            b.rate
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&a.rate.unwrap_or(f64::NEG_INFINITY))
                .then(a.station.cmp(&b.station))
        });
        for (i, s) in out.iter_mut().enumerate() {
            s.rank = i + 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_thresholds_parse_and_bad_ones_are_all_reported() {
        let t = UptakeThresholds::default();
        assert_eq!(t.window_weeks, 13);
        let bad = BUILT_IN
            .replace("low_rate_ratio = 0.4", "low_rate_ratio = 1.5")
            .replace("no_bookings_weeks = 4", "no_bookings_weeks = 0");
        let e = UptakeThresholds::parse(&bad).unwrap_err();
        assert!(e.contains("low_rate_ratio") && e.contains("no_bookings_weeks"), "{e}");
        assert!(
            UptakeThresholds::parse(&format!("{BUILT_IN}\nwindow_week = 3\n")).unwrap_err().contains("window_week")
        );
    }

    #[test]
    fn windows_are_whole_weeks_ending_on_the_day() {
        let end = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let w = Windows::new(end, &UptakeThresholds::default());
        assert_eq!(w.window.days(), 91);
        assert_eq!(w.window.end, end);
        assert_eq!(w.earlier.end, end - Days::new(182));
        assert_eq!(w.earlier.days(), 182);
        assert_eq!(w.recent.days(), 28);
        assert_eq!(w.before_recent.end + Days::new(1), w.recent.start);
        assert_eq!(w.before_recent.days(), 91);
        // The weeks cover the window and the earlier stretch, newest first.
        assert_eq!(w.weeks.len(), 52);
        assert_eq!(w.weeks[0], Period::range(end - Days::new(6), end).unwrap());
        assert_eq!(w.weeks[12].start, w.window.start);
        assert_eq!(w.weeks[26].end, w.earlier.end);
        assert_eq!(w.weeks[51].start, w.earlier.start);
        assert_eq!(w.weeks_in(&w.window), 0..13);
        assert_eq!(w.weeks_in(&w.earlier), 26..52);
        assert_eq!(w.weeks_in(&w.recent), 0..4);
        assert_eq!(w.weeks_in(&w.before_recent), 4..17);
    }

    #[test]
    fn binomial_cdf_matches_small_cases_and_survives_long_counts() {
        // n = 4, p = 1/2: P(X <= 1) = (1 + 4) / 16.
        assert!((binomial_cdf(1, 4, 0.5) - 5.0 / 16.0).abs() < 1e-12);
        assert_eq!(binomial_cdf(4, 4, 0.3), 1.0);
        // 2,000 trials: the mean sits near the middle, a count far below is rare.
        let mid = binomial_cdf(1000, 2000, 0.5);
        assert!(mid > 0.5 && mid < 0.52, "{mid}");
        assert!(binomial_cdf(800, 2000, 0.5) < 1e-15);
    }

    #[test]
    fn silence_is_a_fall_only_where_bookings_were_expected() {
        let t = UptakeThresholds::default();
        let station = |bookings: f64| StationUptake {
            rank: 0,
            station: "S".into(),
            name: "S".into(),
            province: "P".into(),
            go_live: None,
            catchment: None,
            judged: true,
            bookings,
            rate: None,
            rate_vs_median: None,
            bookings_before: 0.0,
            baseline_weeks: 0,
            trend_vs_median: None,
            bookings_recent: 0.0,
            video_calls: 0.0,
            trained: true,
            reasons: Vec::new(),
        };
        // Seven silent weeks after 5 bookings a week: silence that long is no chance,
        // and 6 of 13 weeks left is below 55%.
        let busy: Vec<f64> = [vec![0.0; 7], vec![5.0; 45]].concat();
        assert!(falling(&station(30.0), None, &Weekly(&busy), &t));
        // The same silence after one booking every other week is what chance gives.
        let sparse: Vec<f64> = [vec![0.0; 7], vec![0.5; 45]].concat();
        assert!(!falling(&station(3.0), None, &Weekly(&sparse), &t));
        // Four silent weeks leave 9 of 13: not a fall of that size.
        let short: Vec<f64> = [vec![0.0; 4], vec![5.0; 48]].concat();
        assert!(!falling(&station(45.0), None, &Weekly(&short), &t));
    }

    #[test]
    fn median_of_odd_and_even_lists() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
