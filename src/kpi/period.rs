//! Reporting periods: one syntax everywhere (CLI, HTTP, dashboards) for a day, an
//! ISO week, a month, a quarter, a year, a USAID fiscal year (October to September,
//! named by the year it ends in) or any range of days:
//! `2024`, `2024-Q3`, `2024-07`, `2024-W27`, `2024-07-15`, `FY2025`,
//! `2024-01-01..2024-06-30`.
//!
//! Periods are calendar days in the configured timezone; turning instants into those
//! days is the query engine's business (its `local_date` function), so that a period
//! never depends on the machine's own timezone.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "period {text:?}: {message} (expected 2024, 2024-Q3, 2024-07, 2024-W27, 2024-07-15, FY2025 or 2024-01-01..2024-06-30)"
)]
pub struct PeriodError {
    pub text: String,
    pub message: String,
}

/// The size of a period, which is also how a longer period is split into a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Day,
    Week,
    Month,
    Quarter,
    Year,
    FiscalYear,
}

impl Grain {
    pub const ALL: [Grain; 6] = [Grain::Day, Grain::Week, Grain::Month, Grain::Quarter, Grain::Year, Grain::FiscalYear];

    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
            Grain::Year => "year",
            Grain::FiscalYear => "fiscal_year",
        }
    }

    /// The period of this grain that holds `day`.
    pub fn containing(self, day: NaiveDate) -> Period {
        let (y, m) = (day.year(), day.month());
        match self {
            Grain::Day => Period::day(day),
            Grain::Week => {
                let w = day.iso_week();
                Period::week(w.year(), w.week()).expect("an existing ISO week")
            }
            Grain::Month => Period::month(y, m).expect("an existing month"),
            Grain::Quarter => Period::quarter(y, (m - 1) / 3 + 1).expect("quarters 1 to 4"),
            Grain::Year => Period::year(y).expect("a year chrono knows"),
            Grain::FiscalYear => Period::fiscal_year(if m >= 10 { y + 1 } else { y }).expect("a year chrono knows"),
        }
    }
}

impl FromStr for Grain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Grain::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| {
            format!("unknown grain {s:?} (expected one of: {})", Grain::ALL.map(|g| g.as_str()).join(", "))
        })
    }
}

impl fmt::Display for Grain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A closed range of days with the label it is written as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
    /// The grain when the period is exactly one calendar unit; `None` for a range.
    pub grain: Option<Grain>,
}

fn err(text: &str, message: impl Into<String>) -> PeriodError {
    PeriodError { text: text.to_string(), message: message.into() }
}

impl Period {
    pub fn day(day: NaiveDate) -> Self {
        Period { start: day, end: day, grain: Some(Grain::Day) }
    }

    pub fn week(iso_year: i32, week: u32) -> Option<Self> {
        let start = NaiveDate::from_isoywd_opt(iso_year, week, Weekday::Mon)?;
        Some(Period { start, end: start + Days::new(6), grain: Some(Grain::Week) })
    }

    pub fn month(year: i32, month: u32) -> Option<Self> {
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        Some(Period { start, end: start + Months::new(1) - Days::new(1), grain: Some(Grain::Month) })
    }

    pub fn quarter(year: i32, quarter: u32) -> Option<Self> {
        if !(1..=4).contains(&quarter) {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, (quarter - 1) * 3 + 1, 1)?;
        Some(Period { start, end: start + Months::new(3) - Days::new(1), grain: Some(Grain::Quarter) })
    }

    pub fn year(year: i32) -> Option<Self> {
        Some(Period {
            start: NaiveDate::from_ymd_opt(year, 1, 1)?,
            end: NaiveDate::from_ymd_opt(year, 12, 31)?,
            grain: Some(Grain::Year),
        })
    }

    /// The USAID fiscal year `fy`: 1 October of the year before to 30 September.
    pub fn fiscal_year(fy: i32) -> Option<Self> {
        Some(Period {
            start: NaiveDate::from_ymd_opt(fy - 1, 10, 1)?,
            end: NaiveDate::from_ymd_opt(fy, 9, 30)?,
            grain: Some(Grain::FiscalYear),
        })
    }

    /// Any range of days; `start` may equal `end`.
    pub fn range(start: NaiveDate, end: NaiveDate) -> Option<Self> {
        (start <= end).then_some(Period { start, end, grain: None })
    }

    pub fn days(&self) -> u64 {
        (self.end - self.start).num_days() as u64 + 1
    }

    /// Whether every day of `other` is in this period.
    pub fn covers(&self, other: &Period) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    /// The periods of `grain` that overlap this one, in order, each cut to this one's
    /// days (so a series over a range starting mid-month begins with a partial month,
    /// labelled as that month's days).
    pub fn split(&self, grain: Grain) -> Vec<Period> {
        let mut out = Vec::new();
        let mut day = self.start;
        while day <= self.end {
            let whole = grain.containing(day);
            let part = Period { start: whole.start.max(self.start), end: whole.end.min(self.end), grain: whole.grain };
            let next = part.end + Days::new(1);
            out.push(if part.start == whole.start && part.end == whole.end {
                whole
            } else {
                Period { grain: None, ..part }
            });
            day = next;
        }
        out
    }

    /// The period of the same grain just before this one; for a range, the range of
    /// the same length that ends the day before it starts.
    pub fn previous(&self) -> Period {
        let before = self.start - Days::new(1);
        match self.grain {
            Some(g) => g.containing(before),
            None => Period { start: self.start - Days::new(self.days()), end: before, grain: None },
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.start;
        match self.grain {
            Some(Grain::Day) => write!(f, "{}", s.format("%Y-%m-%d")),
            Some(Grain::Week) => {
                let w = s.iso_week();
                write!(f, "{}-W{:02}", w.year(), w.week())
            }
            Some(Grain::Month) => write!(f, "{}", s.format("%Y-%m")),
            Some(Grain::Quarter) => write!(f, "{}-Q{}", s.year(), (s.month() - 1) / 3 + 1),
            Some(Grain::Year) => write!(f, "{}", s.year()),
            Some(Grain::FiscalYear) => write!(f, "FY{}", self.end.year()),
            None => write!(f, "{}..{}", s.format("%Y-%m-%d"), self.end.format("%Y-%m-%d")),
        }
    }
}

fn number<T: FromStr>(text: &str, part: &str, what: &str) -> Result<T, PeriodError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(text, format!("{part:?} is not a {what}")));
    }
    part.parse().map_err(|_| err(text, format!("{part:?} is not a {what}")))
}

fn year(text: &str, part: &str) -> Result<i32, PeriodError> {
    if part.len() != 4 {
        return Err(err(text, format!("{part:?} is not a four-digit year")));
    }
    number(text, part, "year")
}

fn date(text: &str, part: &str) -> Result<NaiveDate, PeriodError> {
    NaiveDate::parse_from_str(part, "%Y-%m-%d")
        .ok()
        .filter(|_| part.len() == 10)
        .ok_or_else(|| err(text, format!("{part:?} is not a date (YYYY-MM-DD)")))
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(text: &str) -> Result<Self, PeriodError> {
        let t = text.trim();
        if let Some((a, b)) = t.split_once("..") {
            let (start, end) = (date(text, a)?, date(text, b)?);
            return Period::range(start, end).ok_or_else(|| err(text, "the range ends before it starts"));
        }
        if let Some(fy) = t.strip_prefix("FY") {
            return Period::fiscal_year(year(text, fy)?).ok_or_else(|| err(text, "no such fiscal year"));
        }
        // Every form but the bare year has a dash after its four-digit year.
        let dash = t.as_bytes().get(4) == Some(&b'-');
        match t.len() {
            4 => Period::year(year(text, t)?).ok_or_else(|| err(text, "no such year")),
            7 if dash && t.as_bytes()[5] == b'Q' => {
                let (y, q) = (year(text, &t[..4])?, number::<u32>(text, &t[6..], "quarter")?);
                Period::quarter(y, q).ok_or_else(|| err(text, format!("quarter {q} does not exist")))
            }
            7 if dash => {
                let (y, m) = (year(text, &t[..4])?, number::<u32>(text, &t[5..], "month")?);
                Period::month(y, m).ok_or_else(|| err(text, format!("month {m} does not exist")))
            }
            8 if dash && t.as_bytes()[5] == b'W' => {
                let (y, w) = (year(text, &t[..4])?, number::<u32>(text, &t[6..], "week")?);
                Period::week(y, w).ok_or_else(|| err(text, format!("{y} has no ISO week {w}")))
            }
            10 => Ok(Period::day(date(text, t)?)),
            _ => Err(err(text, "not a period")),
        }
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn p(s: &str) -> Period {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_syntax_parses_to_its_days_and_prints_back() {
        let cases = [
            ("2024", "2024-01-01", "2024-12-31"),
            ("2024-Q3", "2024-07-01", "2024-09-30"),
            ("2024-07", "2024-07-01", "2024-07-31"),
            ("2024-02", "2024-02-01", "2024-02-29"),
            ("2024-W27", "2024-07-01", "2024-07-07"),
            ("2026-W01", "2025-12-29", "2026-01-04"),
            ("2024-07-15", "2024-07-15", "2024-07-15"),
            ("FY2025", "2024-10-01", "2025-09-30"),
            ("2024-01-01..2024-06-30", "2024-01-01", "2024-06-30"),
        ];
        for (text, start, end) in cases {
            let period = p(text);
            assert_eq!((period.start, period.end), (d(start), d(end)), "{text}");
            assert_eq!(period.to_string(), text);
        }
    }

    #[test]
    fn malformed_periods_say_what_is_wrong() {
        for bad in [
            "",
            "24",
            "2024-13",
            "2024-Q5",
            "2024-Q0",
            "2024-W54",
            "2021-W53",
            "2024-02-30",
            "FY24",
            "2024/07",
            "2024-06-30..2024-01-01",
            "2024-7",
            "20x4",
            "2024-07-1",
            "2024Q3x",
            "+2024",
            "2024 07",
        ] {
            let e = bad.parse::<Period>().expect_err(bad);
            assert_eq!(e.text, bad);
            assert!(e.to_string().contains("expected 2024"), "{e}");
        }
        // 2020 has an ISO week 53, 2021 does not.
        assert_eq!(p("2020-W53").end, d("2021-01-03"));
    }

    #[test]
    fn the_fiscal_year_is_named_by_the_year_it_ends_in() {
        assert_eq!(Grain::FiscalYear.containing(d("2024-09-30")).to_string(), "FY2024");
        assert_eq!(Grain::FiscalYear.containing(d("2024-10-01")).to_string(), "FY2025");
        assert_eq!(Grain::Quarter.containing(d("2024-12-31")).to_string(), "2024-Q4");
        assert_eq!(Grain::Week.containing(d("2024-12-30")).to_string(), "2025-W01");
    }

    #[test]
    fn split_cuts_partial_periods_at_the_range_edges() {
        let parts = p("2024-01-15..2024-03-10").split(Grain::Month);
        let labels: Vec<String> = parts.iter().map(|x| x.to_string()).collect();
        assert_eq!(labels, ["2024-01-15..2024-01-31", "2024-02", "2024-03-01..2024-03-10"]);
        assert_eq!(parts.iter().map(Period::days).sum::<u64>(), p("2024-01-15..2024-03-10").days());
        assert_eq!(p("FY2025").split(Grain::Quarter).len(), 4);
        assert_eq!(p("2024").split(Grain::Week).len(), 53);
        assert_eq!(p("2024").split(Grain::Day).len(), 366);
    }

    #[test]
    fn previous_steps_back_one_period_of_the_same_kind() {
        assert_eq!(p("2024-01").previous().to_string(), "2023-12");
        assert_eq!(p("2024-Q1").previous().to_string(), "2023-Q4");
        assert_eq!(p("FY2025").previous().to_string(), "FY2024");
        assert_eq!(p("2024-01-11..2024-01-20").previous().to_string(), "2024-01-01..2024-01-10");
    }
}
