//! The one clock. Everything that depends on "now" (no-show marking, catch-up runs,
//! "no bookings for N weeks", run-rate projections, the simulator's end) asks a
//! [`Clock`], so that tests, the simulator and the demo can fix time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The environment variable that fixes the clock, e.g. `2026-10-31T09:00:00+07:00`
/// or a bare date (midnight in the configured timezone).
pub const NOW_ENV: &str = "HOMEDOC_NOW";

#[derive(Debug, thiserror::Error)]
#[error("{NOW_ENV}: {0:?} is neither an RFC 3339 time nor a YYYY-MM-DD date")]
pub struct ClockError(String);

/// The system clock, or a fixed instant that a test can move.
#[derive(Debug, Clone)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Self {
        Clock(None)
    }

    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Some(Arc::new(AtomicI64::new(at.timestamp_micros()))))
    }

    /// The system clock unless `HOMEDOC_NOW` is set.
    pub fn from_env(tz: Tz) -> Result<Self, ClockError> {
        match std::env::var(NOW_ENV) {
            Ok(v) if !v.trim().is_empty() => Ok(Clock::fixed(parse_instant(&v, tz)?)),
            _ => Ok(Clock::system()),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(t) => DateTime::from_timestamp_micros(t.load(Ordering::SeqCst)).expect("stored from a valid time"),
        }
    }

    /// Today's date in `tz`.
    pub fn today(&self, tz: Tz) -> NaiveDate {
        self.now().with_timezone(&tz).date_naive()
    }

    /// Moves a fixed clock; a system clock cannot be moved and ignores this.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(t) = &self.0 {
            t.store(at.timestamp_micros(), Ordering::SeqCst);
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.set(self.now() + by);
    }

    pub fn is_fixed(&self) -> bool {
        self.0.is_some()
    }
}

/// Parses an RFC 3339 instant, or a date taken as local midnight in `tz`.
pub fn parse_instant(s: &str, tz: Tz) -> Result<DateTime<Utc>, ClockError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).earliest())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ClockError(s.to_string()))
}
