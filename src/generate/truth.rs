//! The ground truth of a simulated history: every (station, reason) of low uptake
//! and the malformed rows planted in the drops. Written to the data dir for tests to
//! score detectors and quarantine against; nothing else in homedoc reads it.
//!
//! Definitions, over the evaluation window (the last 13 weeks up to the end date),
//! for stations live at least 26 weeks before it:
//! - `low_rate`: the expected booking multiplier (typical station = 1, all variation
//!   in account uptake aside) averages at most 0.4 over the window;
//! - `falling_trend`: it averages at most 0.6 times what it did two quarters earlier;
//! - `no_bookings`: the station has had no bookings for at least 4 weeks (planted);
//! - `no_trained_worker`: no worker of the station has completed a course;
//! - `no_video_calls`: the station made no video call in the window.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};

use super::drops::DropCounts;
use super::model::booking_multiplier;
use super::world::World;

pub const LOW_RATE_MAX: f64 = 0.4;
pub const FALLING_RATIO_MAX: f64 = 0.6;
pub const QUIET_WEEKS_MIN: u32 = 4;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Label {
    pub station: String,
    pub reason: String,
    /// Larger is more severe: 1 - multiplier, 1 - ratio, weeks quiet, or 1.
    pub severity: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GroundTruth {
    pub scale: String,
    pub seed: u64,
    pub until: NaiveDate,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub evaluated_stations: Vec<String>,
    pub low_uptake: Vec<Label>,
    pub drops: BTreeMap<String, serde_json::Value>,
}

fn mean_multiplier(world: &World, s: &super::world::Station, from: NaiveDate, to: NaiveDate) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    let mut day = from;
    while day <= to {
        sum += booking_multiplier(world, s, day);
        n += 1.0;
        day = day + Days::new(1);
    }
    if n > 0.0 { sum / n } else { 0.0 }
}

pub fn build(
    world: &World,
    scale: &str,
    seed: u64,
    trained: &BTreeSet<usize>,
    calls_in_window: &[u32],
    drops: BTreeMap<String, DropCounts>,
) -> GroundTruth {
    let (w0, w1) = world.window;
    let earlier = (w0 - Days::new(182), w1 - Days::new(182));
    let mut labels = Vec::new();
    let mut evaluated = Vec::new();
    for (i, s) in world.stations.iter().enumerate() {
        if !world.evaluated(s) {
            continue;
        }
        let code = world.facilities[s.facility].code.clone();
        evaluated.push(code.clone());
        let mut label = |reason: &str, severity: f64| {
            labels.push(Label { station: code.clone(), reason: reason.into(), severity });
        };
        let now = mean_multiplier(world, s, w0, w1);
        if now <= LOW_RATE_MAX {
            label("low_rate", 1.0 - now);
        }
        let before = mean_multiplier(world, s, earlier.0, earlier.1);
        if before > 0.0 && now / before <= FALLING_RATIO_MAX {
            label("falling_trend", 1.0 - now / before);
        }
        if let Some(weeks) = s.plant.quiet_weeks.filter(|w| *w >= QUIET_WEEKS_MIN) {
            label("no_bookings", f64::from(weeks));
        }
        if !trained.contains(&s.facility) {
            label("no_trained_worker", 1.0);
        }
        if calls_in_window[i] == 0 {
            label("no_video_calls", 1.0);
        }
    }
    GroundTruth {
        scale: scale.into(),
        seed,
        until: world.until,
        window_start: w0,
        window_end: w1,
        evaluated_stations: evaluated,
        low_uptake: labels,
        drops: drops.into_iter().map(|(k, v)| (k, serde_json::to_value(v).expect("serialisable"))).collect(),
    }
}
