//! The small tables a KPI request registers beside the lake: they carry the request's
//! structural choices (which periods, which reporting units) as data, so that KPI
//! SQL is fixed text and nothing from a request is ever pasted into it.
//!
//! - `periods(period, period_start, period_end)`: the requested periods.
//! - `calendar(day, period, period_end)`: every day of each period.
//! - `calendar_to_date(day, period, period_end)`: for each period, every day from the
//!   request's first day to the period's end, plus the day before the request
//!   (`$before`) standing for all earlier days. A to-date figure joins it on
//!   `greatest(event_day, $before)`.
//! - `units(facility, unit)`: every facility in scope and the unit it reports under.
//!
//! For the rollups, [`register_rollup_views`] adds `<rollup>_in_period` and
//! `<rollup>_to_date`: a rollup's rows with the period they count in, read from its
//! yearly table for whole calendar years, from its monthly table for the other whole
//! calendar months and from its daily table for the other days.

use std::sync::Arc;

use chrono::{Datelike, Days, Months, NaiveDate};
use datafusion::arrow::array::{ArrayRef, Date32Array, StringArray};
use datafusion::arrow::datatypes::{Date32Type, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::error::DataFusionError;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{Expr, cast, col, lit};
use datafusion::prelude::DataFrame;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::period::Period;
use crate::lake::schema::TableDef;

fn dates(days: impl IntoIterator<Item = NaiveDate>) -> ArrayRef {
    Arc::new(Date32Array::from_iter_values(days.into_iter().map(Date32Type::from_naive_date)))
}

fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn register(ctx: &SessionContext, name: &str, columns: Vec<(&str, ArrayRef)>) -> Result<(), DataFusionError> {
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), false)).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    Ok(())
}

/// Registers `periods`, `calendar` and `calendar_to_date` for `periods`. Periods may
/// overlap: a day then has a row for each period that holds it, and every KPI joins
/// on the day, so each period gets its own total. Returns the first and the last day
/// requested.
pub fn register_periods(ctx: &SessionContext, periods: &[Period]) -> Result<(NaiveDate, NaiveDate), DataFusionError> {
    let labels: Vec<String> = periods.iter().map(|p| p.to_string()).collect();
    let first = periods.iter().map(|p| p.start).min().expect("at least one period");
    let last = periods.iter().map(|p| p.end).max().expect("at least one period");
    let before = first - Days::new(1);
    register(
        ctx,
        "periods",
        vec![
            ("period", strings(labels.iter().map(String::as_str))),
            ("period_start", dates(periods.iter().map(|p| p.start))),
            ("period_end", dates(periods.iter().map(|p| p.end))),
        ],
    )?;
    let mut within = (Vec::new(), Vec::new(), Vec::new());
    let mut to_date = (Vec::new(), Vec::new(), Vec::new());
    for (p, label) in periods.iter().zip(&labels) {
        for day in p.start.iter_days().take(p.days() as usize) {
            within.0.push(day);
            within.1.push(label.as_str());
            within.2.push(p.end);
        }
        for day in before.iter_days().take_while(|d| *d <= p.end) {
            to_date.0.push(day);
            to_date.1.push(label.as_str());
            to_date.2.push(p.end);
        }
    }
    for (name, (days, labels, ends)) in [("calendar", within), ("calendar_to_date", to_date)] {
        register(ctx, name, vec![("day", dates(days)), ("period", strings(labels)), ("period_end", dates(ends))])?;
    }
    Ok((first, last))
}

/// A day as a literal of the `day` columns.
fn date_lit(day: NaiveDate) -> Expr {
    lit(ScalarValue::Date32(Some(Date32Type::from_naive_date(day))))
}

/// The first day of the month after `day`'s.
fn next_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("day 1") + Months::new(1)
}

/// 1 January of `day`'s year.
fn year_start(day: NaiveDate) -> NaiveDate {
    day.with_ordinal(1).expect("day 1 of the year")
}

/// 1 January of the year after `day`'s.
fn next_year(day: NaiveDate) -> NaiveDate {
    year_start(day) + Months::new(12)
}

/// How the rollup views read a set of periods: whole calendar years from the yearly
/// tables, other whole calendar months from the monthly tables, every other day from
/// the daily tables.
#[derive(Debug, Default, PartialEq)]
struct Spans<'a> {
    /// (1 January, period) for each year a period holds whole.
    years: Vec<(NaiveDate, &'a Period)>,
    /// (month's first day, period) for each other month a period holds whole.
    months: Vec<(NaiveDate, &'a Period)>,
    /// (day, period) for each day of a period outside those months.
    days: Vec<(NaiveDate, &'a Period)>,
    /// (first day not covered by whole months, period): to date, every month before it.
    to_date_months: Vec<(NaiveDate, &'a Period)>,
    /// (day, period) for the days of a period's last, partial month, up to its end.
    to_date_days: Vec<(NaiveDate, &'a Period)>,
}

impl<'a> Spans<'a> {
    fn of(periods: &'a [Period]) -> Self {
        let mut out = Spans::default();
        for p in periods {
            let mut day = p.start;
            while day <= p.end {
                let month_end = next_month(day) - Days::new(1);
                let year_end = next_year(day) - Days::new(1);
                if day.ordinal() == 1 && year_end <= p.end {
                    out.years.push((day, p));
                    day = year_end + Days::new(1);
                } else if day.day() == 1 && month_end <= p.end {
                    out.months.push((day, p));
                    day = month_end + Days::new(1);
                } else {
                    out.days.push((day, p));
                    day = day + Days::new(1);
                }
            }
            // Whole months reach the end of the period when it ends on a month's last day.
            let whole_until = if next_month(p.end) == p.end + Days::new(1) {
                p.end + Days::new(1)
            } else {
                p.end.with_day(1).expect("day 1")
            };
            out.to_date_months.push((whole_until, p));
            out.to_date_days.extend(whole_until.iter_days().take_while(|d| *d <= p.end).map(|d| (d, p)));
        }
        out
    }

    /// The days the daily tables are read for, as a filter on `day` (runs of
    /// consecutive days, so that the scan can skip files by their statistics).
    fn daily_filter(&self) -> Expr {
        let days = self.days.iter().chain(&self.to_date_days).map(|(d, _)| *d);
        runs_filter(days, |d| d + Days::new(1))
    }

    /// The whole months read from the monthly tables in a period, as a filter on
    /// `day` (a month's first day there). A monthly table is one file sorted by
    /// breakdown and `day`: this literal filter, which the scan checks against the
    /// statistics of its row groups, skips the months the period does not cover.
    fn monthly_filter(&self) -> Expr {
        runs_filter(self.months.iter().map(|(d, _)| *d), next_month)
    }

    /// The whole years read from the yearly tables, as a filter on `day` (1 January
    /// there), for the same reason.
    fn yearly_filter(&self) -> Expr {
        runs_filter(self.years.iter().map(|(d, _)| *d), next_year)
    }

    /// The earliest and the latest first uncovered day of the periods: every period
    /// counts the months before the earliest.
    fn to_date_bounds(&self) -> (NaiveDate, NaiveDate) {
        let untils = self.to_date_months.iter().map(|(d, _)| *d);
        let first = untils.clone().min().expect("every period has a to-date span");
        (first, untils.max().expect("every period has a to-date span"))
    }

    /// (month's first day, period) for each month from the earliest first uncovered
    /// day up to a period's own: the months a period counts to date beyond those every
    /// period counts. An equality join on these pairs replaces a join on `day <
    /// whole_until`, which DataFusion can only run as a nested loop.
    fn later_months(&self) -> Vec<(NaiveDate, &'a Period)> {
        let (first, _) = self.to_date_bounds();
        let mut out = Vec::new();
        for (until, p) in &self.to_date_months {
            let mut month = first;
            while month < *until {
                out.push((month, *p));
                month = next_month(month);
            }
        }
        out
    }
}

/// `day` within any run of consecutive values (`next` steps from one to the next), or
/// false for none.
fn runs_filter(values: impl Iterator<Item = NaiveDate>, next: impl Fn(NaiveDate) -> NaiveDate) -> Expr {
    let mut values: Vec<NaiveDate> = values.collect();
    values.sort();
    values.dedup();
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for d in values {
        match runs.last_mut() {
            Some((_, end)) if next(*end) == d => *end = d,
            _ => runs.push((d, d)),
        }
    }
    runs.into_iter()
        .map(|(a, b)| col("day").between(date_lit(a), date_lit(b)))
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false))
}

/// A monthly table's rows summed per key over all their months, as one row dated the
/// month before `until` (the months summed all come before it), in the table's
/// columns and types.
fn summed(frame: DataFrame, def: &TableDef, until: NaiveDate) -> Result<DataFrame, DataFusionError> {
    let schema = frame.schema().clone();
    let is_key = |c: &str| def.key.contains(&c) && c != "day" && c != "month";
    let keys: Vec<Expr> = def.columns.iter().filter(|c| is_key(c.name)).map(|c| col(c.name)).collect();
    let measures: Vec<Expr> =
        def.columns.iter().filter(|c| !def.key.contains(&c.name)).map(|c| sum(col(c.name)).alias(c.name)).collect();
    let day = until.checked_sub_months(Months::new(1)).unwrap_or(until);
    let frame = frame.aggregate(keys, measures)?;
    let columns: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name().as_str();
            let value = match name {
                "day" => date_lit(day),
                "month" => lit(day.format("%Y-%m").to_string()),
                _ => col(name),
            };
            cast(value, f.data_type().clone()).alias(name)
        })
        .collect();
    frame.select(columns)
}

fn register_spans(
    ctx: &SessionContext,
    name: &str,
    first: &str,
    rows: &[(NaiveDate, &Period)],
) -> Result<(), DataFusionError> {
    let labels: Vec<String> = rows.iter().map(|(_, p)| p.to_string()).collect();
    register(
        ctx,
        name,
        vec![
            (first, dates(rows.iter().map(|(d, _)| *d))),
            ("period", strings(labels.iter().map(String::as_str))),
            ("period_end", dates(rows.iter().map(|(_, p)| p.end))),
        ],
    )
}

/// Registers, for each rollup that `sql` names (every rollup for `None`), `<rollup>_in_period` and
/// `<rollup>_to_date`: its rows with `period` and `period_end`, each row once per
/// period it counts in. Whole years come from the yearly table, other whole months
/// from the monthly table; the daily table is read only for the other days, so a
/// request of whole months never opens it. Only
/// the rollups a query names are planned, and a view leaves out a branch with no
/// rows: a page runs a dozen KPIs, and planning is much of each one's cost.
pub async fn register_rollup_views(
    ctx: &SessionContext,
    periods: &[Period],
    sql: Option<&str>,
) -> Result<(), DataFusionError> {
    let spans = Spans::of(periods);
    register_spans(ctx, "rollup_years", "day", &spans.years)?;
    register_spans(ctx, "rollup_months", "day", &spans.months)?;
    register_spans(ctx, "rollup_days", "day", &spans.days)?;
    register_spans(ctx, "rollup_to_date_months", "whole_until", &spans.to_date_months)?;
    register_spans(ctx, "rollup_to_date_days", "day", &spans.to_date_days)?;
    let later_months = spans.later_months();
    register_spans(ctx, "rollup_later_months", "day", &later_months)?;
    let (filter, months_filter, years_filter) = (spans.daily_filter(), spans.monthly_filter(), spans.yearly_filter());
    // To date, the months before the earliest period's first uncovered day count in
    // every period (the years before its year from the yearly table, that year's
    // months from the monthly one); those between it and the latest one's are joined
    // per period.
    let (first_until, last_until) = spans.to_date_bounds();
    let early_years = col("day").lt(date_lit(year_start(first_until)));
    let (early_filter, later_filter) = (
        col("day").gt_eq(date_lit(year_start(first_until))).and(col("day").lt(date_lit(first_until))),
        col("day").gt_eq(date_lit(first_until)).and(col("day").lt(date_lit(last_until))),
    );
    for r in crate::rollup::ROLLUPS {
        let name = r.name();
        let (in_period, to_date) = (format!("{name}_in_period"), format!("{name}_to_date"));
        if sql.is_some_and(|sql| !sql.contains(&in_period) && !sql.contains(&to_date)) {
            continue;
        }
        let (daily, monthly, yearly) = (r.table.name, r.monthly.name, r.yearly.name);
        let edges = ctx.table(daily).await?.filter(filter.clone())?;
        ctx.register_table(format!("{name}_edge_days"), edges.into_view())?;
        let whole = ctx.table(monthly).await?.filter(months_filter.clone())?;
        ctx.register_table(format!("{name}_whole_months"), whole.into_view())?;
        let whole = ctx.table(yearly).await?.filter(years_filter.clone())?;
        ctx.register_table(format!("{name}_whole_years"), whole.into_view())?;
        // The early months are summed per breakdown first: one row per key instead of
        // one per key and month, each repeated for every period.
        let early = ctx.table(monthly).await?.filter(early_filter.clone())?;
        let early = ctx.table(yearly).await?.filter(early_years.clone())?.union(early)?;
        ctx.register_table(format!("{name}_months_early"), summed(early, r.monthly, first_until)?.into_view())?;
        let later = ctx.table(monthly).await?.filter(later_filter.clone())?;
        ctx.register_table(format!("{name}_months_later"), later.into_view())?;
        // Table names are the rollups' own constants: no request text reaches the SQL.
        let years = format!(
            "SELECT c.period, c.period_end, r.* FROM {name}_whole_years r JOIN rollup_years c ON c.day = r.day"
        );
        let months = format!(
            "SELECT c.period, c.period_end, r.* FROM {name}_whole_months r JOIN rollup_months c ON c.day = r.day"
        );
        let days =
            format!("SELECT c.period, c.period_end, r.* FROM {name}_edge_days r JOIN rollup_days c ON c.day = r.day");
        let early =
            format!("SELECT c.period, c.period_end, r.* FROM {name}_months_early r CROSS JOIN rollup_to_date_months c");
        let later = format!(
            "SELECT c.period, c.period_end, r.* FROM {name}_months_later r JOIN rollup_later_months c ON c.day = r.day"
        );
        let last_days = format!(
            "SELECT c.period, c.period_end, r.* FROM {name}_edge_days r JOIN rollup_to_date_days c ON c.day = r.day"
        );
        let to_date_parts =
            [(early, true), (later, !later_months.is_empty()), (last_days, !spans.to_date_days.is_empty())];
        for (view, parts) in [
            (
                &in_period,
                vec![
                    (years, !spans.years.is_empty()),
                    (months, !spans.months.is_empty()),
                    (days, !spans.days.is_empty()),
                ],
            ),
            (&to_date, to_date_parts.to_vec()),
        ] {
            // One branch at least is kept: every period has a day, in a whole month or
            // not, and every to-date figure reads the months before.
            let kept: Vec<String> = parts.into_iter().filter(|(_, rows)| *rows).map(|(q, _)| q).collect();
            ctx.sql(&format!("CREATE VIEW {view} AS {}", kept.join(" UNION ALL "))).await?;
        }
    }
    Ok(())
}

/// Registers `units` from (facility, unit) pairs.
pub fn register_units(ctx: &SessionContext, units: &[(String, String)]) -> Result<(), DataFusionError> {
    register(
        ctx,
        "units",
        vec![
            ("facility", strings(units.iter().map(|(f, _)| f.as_str()))),
            ("unit", strings(units.iter().map(|(_, u)| u.as_str()))),
        ],
    )
}

/// The request tables' schemas and the rollup views, for planning KPIs with no
/// request (`homedoc check`).
pub async fn register_empty(ctx: &SessionContext) -> Result<(), DataFusionError> {
    let periods = [Period::day(NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date"))];
    register_periods(ctx, &periods)?;
    register_rollup_views(ctx, &periods, None).await?;
    register_units(ctx, &[])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn whole_months_come_from_the_monthly_tables_and_the_rest_day_by_day() {
        let p: Period = "2024-01-30..2024-04-02".parse().unwrap();
        let periods = [p];
        let s = Spans::of(&periods);
        let months: Vec<NaiveDate> = s.months.iter().map(|(m, _)| *m).collect();
        assert_eq!(months, [d("2024-02-01"), d("2024-03-01")]);
        let days: Vec<NaiveDate> = s.days.iter().map(|(m, _)| *m).collect();
        assert_eq!(days, [d("2024-01-30"), d("2024-01-31"), d("2024-04-01"), d("2024-04-02")]);
        // To date: every month before April, then April's first two days.
        assert_eq!(s.to_date_months[0].0, d("2024-04-01"));
        assert_eq!(s.to_date_days.iter().map(|(x, _)| *x).collect::<Vec<_>>(), [d("2024-04-01"), d("2024-04-02")]);
    }

    #[test]
    fn a_period_of_whole_months_reads_no_day() {
        let periods: Vec<Period> =
            ["2024", "2024-Q3", "2024-02", "FY2025"].iter().map(|p| p.parse().unwrap()).collect();
        let s = Spans::of(&periods);
        assert!(s.days.is_empty() && s.to_date_days.is_empty(), "{s:?}");
        // 2024 is a whole year; its Q3 and February, and FY2025 (October 2024 to
        // September 2025), are months.
        assert_eq!(s.years, [(d("2024-01-01"), &periods[0])]);
        assert_eq!(s.months.len(), 3 + 1 + 12);
        assert_eq!(s.to_date_months[1].0, d("2024-10-01"));
        assert_eq!(s.daily_filter(), lit(false));
        assert_eq!(s.yearly_filter(), col("day").between(date_lit(d("2024-01-01")), date_lit(d("2024-01-01"))));
        // February alone, then July 2024 to September 2025 in one run.
        assert_eq!(
            s.monthly_filter(),
            col("day")
                .between(date_lit(d("2024-02-01")), date_lit(d("2024-02-01")))
                .or(col("day").between(date_lit(d("2024-07-01")), date_lit(d("2025-09-01"))))
        );
        // Every day of every period counted exactly once.
        for p in &periods {
            let months: u64 =
                s.months.iter().filter(|(_, q)| *q == p).map(|(m, _)| (next_month(*m) - *m).num_days() as u64).sum();
            let years: u64 =
                s.years.iter().filter(|(_, q)| *q == p).map(|(y, _)| (next_year(*y) - *y).num_days() as u64).sum();
            assert_eq!(months + years, p.days());
        }
    }

    #[test]
    fn a_long_window_reads_its_whole_years_from_the_yearly_tables() {
        // A target's window from its baseline: days of July 2020, the rest of 2020 by
        // month, 2021 to 2025 by year, then 2026 by month up to its end.
        let periods = ["2020-07-02..2026-07-31".parse::<Period>().unwrap()];
        let s = Spans::of(&periods);
        let years: Vec<NaiveDate> = s.years.iter().map(|(y, _)| *y).collect();
        assert_eq!(years, ["2021-01-01", "2022-01-01", "2023-01-01", "2024-01-01", "2025-01-01"].map(d));
        assert_eq!(s.months.len(), 5 + 7);
        assert_eq!(s.days.len(), 30);
        assert_eq!(s.yearly_filter(), col("day").between(date_lit(d("2021-01-01")), date_lit(d("2025-01-01"))));
    }

    #[test]
    fn a_monthly_series_to_date_counts_each_later_month_in_the_periods_after_it() {
        // Twelve months to date: everything before December 2025 counts in all of
        // them; December counts from the second period on, October 2026 in the last.
        let periods = Period::split(&"2025-11-01..2026-10-31".parse().unwrap(), crate::kpi::Grain::Month);
        let s = Spans::of(&periods);
        assert_eq!(s.to_date_bounds(), (d("2025-12-01"), d("2026-11-01")));
        let later = s.later_months();
        assert_eq!(later.len(), (1..=11).sum::<usize>());
        assert!(later.iter().all(|(m, p)| *m >= d("2025-12-01") && *m <= p.end));
        assert_eq!(later.iter().filter(|(m, _)| *m == d("2025-12-01")).count(), 11);
        assert_eq!(later.iter().filter(|(m, _)| *m == d("2026-10-01")).count(), 1);
    }

    #[test]
    fn a_week_is_read_day_by_day_in_one_run() {
        let periods = ["2026-W27".parse::<Period>().unwrap()];
        let s = Spans::of(&periods);
        assert!(s.months.is_empty());
        assert_eq!(s.days.len(), 7);
        // 29 June to 5 July; to date, 1 to 5 July: one run.
        assert_eq!(s.to_date_months[0].0, d("2026-07-01"));
        assert_eq!(s.daily_filter(), col("day").between(date_lit(d("2026-06-29")), date_lit(d("2026-07-05"))));
    }
}
