//! The checks every incoming row goes through, whatever its source: known facilities,
//! numeric ranges and time order. A row that fails is quarantined with the first reason
//! found. Duplicate keys, which only file drops can send, are checked after, in line
//! order ([`super::drops::FileParser::settle`]).

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::config::Validation;
use super::{Reason, StrSet};
use crate::lake::rows::Val;
use crate::lake::schema::TableDef;

/// One parsed value before it becomes an Arrow value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    /// Text the row does not own: a month's name, an age band (one allocation fewer
    /// per row, on every row).
    Text(&'static str),
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
            Cell::Text(s) => Val::Str(s),
            Cell::I64(x) => Val::I64(*x),
            Cell::F64(x) => Val::F64(*x),
            Cell::Bool(x) => Val::Bool(*x),
            Cell::Micros(x) => Val::Micros(*x),
            Cell::Date(d) => Val::Date(*d),
        }
    }
}

impl Cell {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Str(s) => Some(s),
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Why a row was refused, and in what words.
pub type Rejection = (Reason, String);

/// Checks a row (`cells` in table column order).
pub fn validate(
    table: &TableDef,
    validation: &Validation,
    facilities: &StrSet,
    cells: &[Cell],
) -> Result<(), Rejection> {
    for &i in &validation.facilities {
        if let Some(code) = cells[i].as_str() {
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
        other => match other.as_str() {
            Some(s) => s.to_string(),
            None => format!("{other:?}"),
        },
    };
    match table.key {
        [one] => part(one),
        many => many.iter().map(|k| part(k)).collect::<Vec<_>>().join("\u{1f}"),
    }
}

/// The first year of [`MONTHS`], and how many years it holds.
const FIRST_YEAR: i32 = 1900;
const YEARS: usize = 300;

/// `YYYY-MM` of every month from 1900 to 2199, made once.
static MONTHS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..YEARS * 12).map(|i| format!("{:04}-{:02}", FIRST_YEAR + (i / 12) as i32, i % 12 + 1)).collect()
});

/// The month partition value of an instant: `YYYY-MM` in the configured timezone.
pub fn month(t: DateTime<Utc>, tz: Tz) -> Cell {
    let local = t.with_timezone(&tz);
    let at = usize::try_from(local.year() - FIRST_YEAR).ok().filter(|&y| y < YEARS);
    match at {
        Some(y) => Cell::Text(&MONTHS[y * 12 + local.month0() as usize]),
        None => Cell::Str(format!("{:04}-{:02}", local.year(), local.month())),
    }
}

fn instant(c: &Cell) -> Option<i64> {
    match c {
        Cell::Micros(t) => Some(*t),
        Cell::Date(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros()),
        _ => None,
    }
}
