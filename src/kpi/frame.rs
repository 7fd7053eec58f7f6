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

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use datafusion::arrow::array::{ArrayRef, Date32Array, StringArray};
use datafusion::arrow::datatypes::{Date32Type, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use super::period::Period;

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
/// on the day, so each period gets its own total. Returns the value of `$before`.
pub fn register_periods(ctx: &SessionContext, periods: &[Period]) -> Result<NaiveDate, DataFusionError> {
    let labels: Vec<String> = periods.iter().map(|p| p.to_string()).collect();
    let first = periods.iter().map(|p| p.start).min().expect("at least one period");
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
    Ok(before)
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

/// The request tables' schemas, for planning KPIs with no request (`homedoc check`).
pub fn register_empty(ctx: &SessionContext) -> Result<(), DataFusionError> {
    register_periods(ctx, &[Period::day(NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date"))])?;
    register_units(ctx, &[])?;
    Ok(())
}
