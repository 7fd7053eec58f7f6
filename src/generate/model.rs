//! The simulator's model of activity: the expected number of accounts, booking
//! requests and video calls at a station on a day, and the calibration that scales
//! them so that the published results come out.
//!
//! Shapes (adoption after go-live, weekly rhythm, Tết, seasons, planted episodes)
//! are the model; levels are set by calibration against `published_results.csv`,
//! one scale per period between calibration points.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::Rng;

use super::world::{Station, World};
use crate::reference::{Qualifier, Reference};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Accounts,
    Bookings,
    Calls,
}

/// Share of booking requests that are the citizen's first booking: fixes how many
/// distinct citizens have booked for a given number of requests.
pub const FIRST_BOOKING_SHARE: f64 = 0.75;
/// Appointments later marked entered-in-error, which the published count excludes.
pub const ENTERED_IN_ERROR: f64 = 0.003;

/// Days around each Lunar New Year when activity drops.
const TET_BEFORE: i64 = 7;
const TET_AFTER: i64 = 9;

pub struct Calendar {
    tet: Vec<NaiveDate>,
}

impl Calendar {
    pub fn new(reference: &Reference) -> Self {
        Calendar { tet: reference.holidays.iter().map(|h| h.date).collect() }
    }

    /// Multiplier for the day: Tết, then a mild winter-spring season.
    fn season(&self, day: NaiveDate) -> f64 {
        let tet = self.tet.iter().any(|t| {
            let d = (day - *t).num_days();
            (-TET_BEFORE..=TET_AFTER).contains(&d)
        });
        let doy = f64::from(day.ordinal());
        let seasonal = 1.0 + 0.1 * (2.0 * std::f64::consts::PI * (doy - 30.0) / 365.25).cos();
        if tet { 0.25 * seasonal } else { seasonal }
    }
}

fn weekday(process: Process, day: NaiveDate) -> f64 {
    use Weekday::*;
    let w = day.weekday();
    match process {
        Process::Accounts => match w {
            Sat => 0.8,
            Sun => 0.6,
            _ => 1.0,
        },
        Process::Bookings => match w {
            Mon => 1.25,
            Tue => 1.1,
            Wed | Thu => 1.0,
            Fri => 0.9,
            Sat => 0.6,
            Sun => 0.4,
        },
        Process::Calls => match w {
            Sat => 0.3,
            Sun => 0.05,
            _ => 1.0,
        },
    }
}

/// Program maturity after the calibrated years: from 2025 the expansion phase makes
/// booking and calling routine (an assumption; nothing is published after 2024): by
/// late 2026 a typical station takes about 70 bookings a quarter (about 0.3 a year per
/// account), enough for low uptake to be told apart from chance.
fn maturity(process: Process, day: NaiveDate) -> f64 {
    let base = NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date");
    let years = ((day - base).num_days() as f64 / 365.25).max(0.0);
    match process {
        Process::Accounts => 1.0,
        Process::Bookings => 1.0 + 9.5 * years.min(2.0),
        Process::Calls => 1.0 + 1.0 * years.min(2.0),
    }
}

/// The booking multiplier of a station on a day, planted episodes included: the
/// quantity the ground truth of low uptake is defined on.
pub fn booking_multiplier(world: &World, s: &Station, day: NaiveDate) -> f64 {
    if let Some(weeks) = s.plant.quiet_weeks
        && day > world.until - Days::new(7 * u64::from(weeks))
    {
        return 0.0;
    }
    let mut m = s.plant.low_rate.unwrap_or(s.booking);
    if let Some(to) = s.plant.falling_to {
        let fall_start = world.until - Days::new(273);
        if day > fall_start {
            let f = (day - fall_start).num_days() as f64 / 273.0;
            m *= 1.0 - f * (1.0 - to);
        }
    }
    m
}

fn quiet(s: &Station, day: NaiveDate) -> bool {
    s.quiet_spell.is_some_and(|(a, b)| day >= a && day < b)
}

/// The unscaled expected count of `process` at station `s` on `day`.
pub fn intensity(world: &World, cal: &Calendar, process: Process, s: &Station, day: NaiveDate) -> f64 {
    if day < s.go_live || quiet(s, day) {
        return 0.0;
    }
    let tau = (day - s.go_live).num_days() as f64;
    let ramp = |days: f64| ((tau + 1.0) / days).min(1.0);
    let common = weekday(process, day) * cal.season(day) * maturity(process, day);
    match process {
        // A launch campaign, then a lower steady state.
        Process::Accounts => {
            f64::from(s.catchment) * s.uptake * ramp(45.0) * (0.35 + 0.65 * (-tau / 300.0).exp()) * common
        }
        Process::Bookings => f64::from(s.catchment) * booking_multiplier(world, s, day) * ramp(90.0) * common,
        Process::Calls => {
            if let Some(weeks) = s.plant.no_calls_weeks
                && day > world.until - Days::new(7 * u64::from(weeks))
            {
                return 0.0;
            }
            (1.0 + f64::from(s.catchment) / 5000.0) * s.calls * ramp(60.0) * common
        }
    }
}

/// Scales for one process: `scale(day)` multiplies the intensity.
#[derive(Debug, Clone)]
pub struct Scales {
    /// (last day of the period, scale); after the last period the last scale holds.
    periods: Vec<(NaiveDate, f64)>,
}

impl Scales {
    pub fn constant(scale: f64) -> Self {
        Scales { periods: vec![(NaiveDate::MAX, scale)] }
    }

    pub fn at(&self, day: NaiveDate) -> f64 {
        self.periods.iter().find(|(end, _)| day <= *end).or(self.periods.last()).map_or(1.0, |p| p.1)
    }
}

/// A cumulative figure the process must reach by a date, in a set of stations.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub as_of: NaiveDate,
    pub value: f64,
}

/// The value the simulator aims at for a published figure: a little above "more
/// than", a little below "nearly".
pub fn aim(value: f64, q: Qualifier) -> f64 {
    match q {
        Qualifier::Exactly => value,
        Qualifier::MoreThan => value * 1.01,
        Qualifier::Nearly => value * 0.99,
    }
}

/// Per-period scales so that the expected cumulative count over `stations` meets
/// each anchor. Periods run from the world's start to each anchor in turn.
pub fn calibrate(world: &World, cal: &Calendar, process: Process, stations: &[usize], anchors: &[Anchor]) -> Scales {
    let mut periods = Vec::new();
    let mut from = world.start;
    let mut reached = 0.0;
    for a in anchors {
        let mut expected = 0.0;
        let mut day = from;
        while day <= a.as_of {
            expected += stations.iter().map(|&i| intensity(world, cal, process, &world.stations[i], day)).sum::<f64>();
            day = day + Days::new(1);
        }
        let scale = if expected > 0.0 { ((a.value - reached) / expected).max(0.0) } else { 0.0 };
        periods.push((a.as_of, scale));
        reached = a.value;
        from = a.as_of + Days::new(1);
    }
    if periods.is_empty() {
        periods.push((NaiveDate::MAX, 1.0));
    }
    Scales { periods }
}

/// The expected total of `process` over all stations and days of the world.
pub fn expected_total(world: &World, cal: &Calendar, process: Process) -> f64 {
    let mut total = 0.0;
    let mut day = world.start;
    while day <= world.until {
        total += world.stations.iter().map(|s| intensity(world, cal, process, s, day)).sum::<f64>();
        day = day + Days::new(1);
    }
    total
}

/// A Poisson draw: inversion for small means, the normal approximation for large ones
/// (whose counts are far too large for the difference to show).
pub fn poisson(rng: &mut impl Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let mut p = (-mean).exp();
        let mut cdf = p;
        let u: f64 = rng.random();
        let mut k = 0u32;
        while u > cdf && k < 1000 {
            k += 1;
            p *= mean / f64::from(k);
            cdf += p;
        }
        k
    } else {
        let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng);
        (mean + z * mean.sqrt()).round().max(0.0) as u32
    }
}
