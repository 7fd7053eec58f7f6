//! The checks every incoming row goes through, whatever its source: known facilities,
//! numeric ranges and time order. A row that fails is quarantined with the first reason
//! found. Duplicate keys, which only file drops can send, are checked after, in line
//! order ([`super::drops::FileParser::settle`]).

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::Reason;
use super::config::Validation;
use crate::lake::rows::Val;
use crate::lake::schema::TableDef;

/// One parsed value before it becomes an Arrow value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    I64(i64),
    F64(f64),
    Bool(bool),
    Micros(i64),
    Date(NaiveDate),
}

impl Cell {
    pub fn val(&self) -> Val<'_> {
        match self {
            Cell::Null => Val::Null,
            Cell::Str(s) => Val::Str(s),
            Cell::I64(x) => Val::I64(*x),
            Cell::F64(x) => Val::F64(*x),
            Cell::Bool(x) => Val::Bool(*x),
            Cell::Micros(x) => Val::Micros(*x),
            Cell::Date(d) => Val::Date(*d),
        }
    }
}

/// Why a row was refused, and in what words.
pub type Rejection = (Reason, String);

/// Checks a row (`cells` in table column order).
pub fn validate(
    table: &TableDef,
    validation: &Validation,
    facilities: &HashSet<String>,
    cells: &[Cell],
) -> Result<(), Rejection> {
    for &i in &validation.facilities {
        if let Cell::Str(code) = &cells[i] {
            if !facilities.contains(code) {
                return Err((Reason::UnknownFacility, format!("{}: no facility {code:?}", table.columns[i].name)));
            }
        }
    }
    for &(i, lo, hi) in &validation.ranges {
        let v = match cells[i] {
            Cell::I64(x) => x as f64,
            Cell::F64(x) => x,
            _ => continue,
        };
        if !(lo..=hi).contains(&v) {
            return Err((Reason::OutOfRange, format!("{} = {v} is outside [{lo}, {hi}]", table.columns[i].name)));
        }
    }
    for &(a, b) in &validation.order {
        if let (Some(x), Some(y)) = (instant(&cells[a]), instant(&cells[b])) {
            if y < x {
                return Err((
                    Reason::TimeOrder,
                    format!("{} is before {}", table.columns[b].name, table.columns[a].name),
                ));
            }
        }
    }
    Ok(())
}

/// A row's key as one string (parts joined by U+001F).
pub fn key(table: &TableDef, cells: &[Cell]) -> String {
    let part = |k: &str| match &cells[table.index(k).expect("key columns exist")] {
        Cell::Str(s) => s.clone(),
        other => format!("{other:?}"),
    };
    match table.key {
        [one] => part(one),
        many => many.iter().map(|k| part(k)).collect::<Vec<_>>().join("\u{1f}"),
    }
}

/// The month partition value of an instant: `YYYY-MM` in the configured timezone.
pub fn month(t: DateTime<Utc>, tz: Tz) -> Cell {
    let local = t.with_timezone(&tz);
    Cell::Str(format!("{:04}-{:02}", local.year(), local.month()))
}

fn instant(c: &Cell) -> Option<i64> {
    match c {
        Cell::Micros(t) => Some(*t),
        Cell::Date(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros()),
        _ => None,
    }
}
