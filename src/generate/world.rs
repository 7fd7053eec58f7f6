//! The simulated world: which stations exist, their catchments, go-live dates and
//! hidden propensities, the upper levels they call, and the health-worker registry.
//! Built deterministically from the reference data and the seed; the planted
//! low-uptake conditions are chosen here too.

use chrono::{Days, NaiveDate};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::Scale;
use crate::domain::{Cadre, FacilityLevel, ProvinceCode};
use crate::reference::{Reference, RolloutScale};

/// A facility of the world, with the ids it gets in the store.
#[derive(Debug, Clone)]
pub struct WFacility {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub level: FacilityLevel,
    pub province_63: ProvinceCode,
    pub province_34: ProvinceCode,
    pub commune_id: Option<String>,
    pub refers_to: Option<i64>,
    pub go_live: NaiveDate,
}

/// What the simulator knows of a station beyond the store's columns.
#[derive(Debug, Clone)]
pub struct Station {
    /// Index into `World::facilities`.
    pub facility: usize,
    pub catchment: u32,
    pub go_live: NaiveDate,
    pub remote: bool,
    pub minority_share: f64,
    /// Account uptake propensity (1 = typical).
    pub uptake: f64,
    /// Booking multiplier outside planted episodes (1 = typical).
    pub booking: f64,
    pub calls: f64,
    pub district: usize,
    pub hospital: usize,
    pub plant: Plant,
    /// A spell with no activity in the middle of the history (staff away, repairs).
    pub quiet_spell: Option<(NaiveDate, NaiveDate)>,
}

/// The low-uptake conditions planted at a station, with their severity.
#[derive(Debug, Clone, Default)]
pub struct Plant {
    /// Booking multiplier for the whole history (replaces `booking`).
    pub low_rate: Option<f64>,
    /// The multiplier falls linearly to this value over the last three quarters.
    pub falling_to: Option<f64>,
    /// No bookings at all in the last this many weeks.
    pub quiet_weeks: Option<u32>,
    pub no_training: bool,
    /// No video calls in the last this many weeks.
    pub no_calls_weeks: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub id: i64,
    pub staff_code: String,
    pub facility: usize,
    pub cadre: Cadre,
    pub female: bool,
    pub birth_year: i64,
}

pub struct World {
    pub facilities: Vec<WFacility>,
    pub stations: Vec<Station>,
    pub workers: Vec<Worker>,
    pub central: Vec<usize>,
    pub start: NaiveDate,
    pub until: NaiveDate,
    /// The evaluation window of the ground truth: the last 13 weeks up to `until`.
    pub window: (NaiveDate, NaiveDate),
}

/// The share of ethnic-minority people by region: a simulator assumption close to
/// the 2019 census, used only to draw account holders.
fn minority_share(region: &str) -> f64 {
    match region {
        "Northern Midlands and Mountains" => 0.72,
        "Central Highlands" => 0.35,
        "Mekong Delta" => 0.08,
        _ => 0.05,
    }
}

/// Stations per province in the sample scale.
const SAMPLE_STATIONS_PER_PROVINCE: usize = 20;
/// Provinces of the sample scale: the three pilot provinces.
const SAMPLE_PROVINCES: [&str; 3] = ["02", "06", "20"];

impl World {
    pub fn build(reference: &Reference, scale: Scale, seed: u64, until: NaiveDate) -> World {
        let mut rng = super::rng(seed, "world");
        let rollouts: Vec<_> = reference
            .rollout
            .iter()
            .filter(|r| scale == Scale::National || r.scale == RolloutScale::Program)
            .cloned()
            .collect();
        let start = rollouts.iter().map(|r| r.start).min().expect("a roll-out");
        let mut facilities = Vec::new();
        let mut stations = Vec::new();
        let mut central = Vec::new();
        for h in &reference.central_hospitals {
            central.push(facilities.len());
            facilities.push(WFacility {
                id: facilities.len() as i64 + 1,
                code: h.code.to_string(),
                name: h.name_vi.clone(),
                level: FacilityLevel::CentralHospital,
                province_63: h.province_63,
                province_34: reference.crosswalk.new_of(h.province_63).expect("crosswalk is complete"),
                commune_id: None,
                refers_to: None,
                go_live: start,
            });
        }
        let spread = LogNormal::new(0.0, 0.5).unwrap();
        for r in &rollouts {
            let p = reference
                .provinces_63
                .iter()
                .find(|p| p.key.code == r.province_63)
                .expect("roll-out provinces are checked");
            let code = p.key.code;
            let new_code = reference.crosswalk.new_of(code).expect("crosswalk is complete");
            let region = reference.regions.get(&code).map(String::as_str).unwrap_or_default();
            let province_name = p.name_vi.clone();
            let hospital = facilities.len();
            facilities.push(WFacility {
                id: facilities.len() as i64 + 1,
                code: format!("BVDK{code}"),
                name: format!("Bệnh viện Đa khoa tỉnh {province_name}"),
                level: FacilityLevel::ProvincialHospital,
                province_63: code,
                province_34: new_code,
                commune_id: None,
                refers_to: None,
                go_live: r.start,
            });
            // About 15 communes to a district centre (districts are gone since 2025; their
            // health centres remain, and stations still refer to them).
            let communes = p.communes as usize;
            let districts = communes.div_ceil(15).max(1);
            let first_district = facilities.len();
            for d in 0..districts {
                facilities.push(WFacility {
                    id: facilities.len() as i64 + 1,
                    code: format!("TTYT{code}-{:02}", d + 1),
                    name: format!("Trung tâm Y tế khu vực {} ({province_name})", d + 1),
                    level: FacilityLevel::DistrictCentre,
                    province_63: code,
                    province_34: new_code,
                    commune_id: None,
                    refers_to: Some(facilities[hospital].id),
                    go_live: r.start,
                });
            }
            let weights: Vec<f64> = (0..communes).map(|_| spread.sample(&mut rng)).collect();
            let total: f64 = weights.iter().sum();
            let rollout_days = u64::from(r.rollout_months) * 30;
            for n in 0..communes {
                let district = first_district + n * districts / communes;
                let commune = super::names::commune(n);
                let go_live = r.start + Days::new(rng.random_range(0..rollout_days));
                let facility = facilities.len();
                facilities.push(WFacility {
                    id: facilities.len() as i64 + 1,
                    code: format!("TYT{code}-{:04}", n + 1),
                    name: format!("Trạm Y tế xã {commune}"),
                    level: FacilityLevel::CommuneStation,
                    province_63: code,
                    province_34: new_code,
                    commune_id: Some(format!("{code}-{:04}", n + 1)),
                    refers_to: Some(facilities[district].id),
                    go_live,
                });
                let catchment = ((p.population_2019 as f64) * weights[n] / total).round().max(300.0) as u32;
                let mountain = region == "Northern Midlands and Mountains" || region == "Central Highlands";
                stations.push(Station {
                    facility,
                    catchment,
                    go_live,
                    remote: rng.random_bool(if mountain { 0.35 } else { 0.08 }),
                    minority_share: minority_share(region),
                    uptake: LogNormal::new(0.0, 0.25).unwrap().sample(&mut rng),
                    booking: f64::clamp(LogNormal::new(0.0, 0.15).unwrap().sample(&mut rng), 0.7, 1.6),
                    calls: LogNormal::new(0.0, 0.3).unwrap().sample(&mut rng),
                    district,
                    hospital,
                    plant: Plant::default(),
                    quiet_spell: None,
                });
            }
        }
        let window = (until - Days::new(90), until);
        let mut world = World { facilities, stations, workers: Vec::new(), central, start, until, window };
        world.plant(&mut rng);
        world
    }

    /// The sample scale: the pilot provinces' upper levels and a few stations each,
    /// keeping their parameters (and plants) from the full world.
    pub fn sample(self, seed: u64) -> World {
        let mut rng = super::rng(seed, "sample");
        let keep_province = |c: ProvinceCode| SAMPLE_PROVINCES.contains(&c.to_string().as_str());
        let mut chosen: Vec<usize> = Vec::new();
        for p in SAMPLE_PROVINCES {
            let mut of: Vec<usize> = (0..self.stations.len())
                .filter(|&i| self.facilities[self.stations[i].facility].province_63.to_string() == p)
                .collect();
            of.shuffle(&mut rng);
            of.truncate(SAMPLE_STATIONS_PER_PROVINCE);
            chosen.extend(of);
        }
        chosen.sort();
        let station_facilities: std::collections::BTreeSet<usize> =
            chosen.iter().map(|&i| self.stations[i].facility).collect();
        let mut index = vec![usize::MAX; self.facilities.len()];
        let mut facilities = Vec::new();
        for (i, f) in self.facilities.iter().enumerate() {
            let keep = match f.level {
                FacilityLevel::CentralHospital => true,
                FacilityLevel::CommuneStation => station_facilities.contains(&i),
                _ => keep_province(f.province_63),
            };
            if keep {
                index[i] = facilities.len();
                facilities.push(f.clone());
            }
        }
        let stations = chosen
            .into_iter()
            .map(|i| {
                let s = &self.stations[i];
                Station {
                    facility: index[s.facility],
                    district: index[s.district],
                    hospital: index[s.hospital],
                    ..s.clone()
                }
            })
            .collect();
        let central = self.central.iter().map(|&i| index[i]).collect();
        World { facilities, stations, central, workers: Vec::new(), ..self }
    }

    /// Stations old enough at the window's start to be judged on uptake.
    pub fn evaluated(&self, s: &Station) -> bool {
        s.go_live + Days::new(182) <= self.window.0
    }

    /// Chooses the planted low-uptake stations (about 3% per reason among the judged
    /// ones, with graded severity), decoys that look close to a condition without
    /// having it, and quiet spells in the middle of the history.
    fn plant(&mut self, rng: &mut ChaCha8Rng) {
        let mut judged: Vec<usize> = (0..self.stations.len()).filter(|&i| self.evaluated(&self.stations[i])).collect();
        judged.shuffle(rng);
        let per_reason = (judged.len() * 3 / 100).max(1);
        let mut take = judged.into_iter();
        for i in take.by_ref().take(per_reason) {
            self.stations[i].plant.low_rate = Some(*[0.08, 0.15, 0.22, 0.3].choose(rng).unwrap());
        }
        for i in take.by_ref().take(per_reason) {
            self.stations[i].plant.falling_to = Some(*[0.1, 0.2, 0.3].choose(rng).unwrap());
        }
        for i in take.by_ref().take(per_reason) {
            self.stations[i].plant.quiet_weeks = Some(*[4, 6, 8, 12].choose(rng).unwrap());
        }
        for i in take.by_ref().take(per_reason) {
            self.stations[i].plant.no_training = true;
        }
        for i in take.by_ref().take(per_reason) {
            self.stations[i].plant.no_calls_weeks = Some(*[26, 52, 520].choose(rng).unwrap());
        }
        // Decoys: a short gap, a mild dip, a mildly low rate. None of these is a condition.
        for i in take.by_ref().take(per_reason) {
            self.stations[i].plant.quiet_weeks = Some(1);
        }
        for i in take.by_ref().take(per_reason) {
            self.stations[i].plant.falling_to = Some(0.8);
        }
        for i in take.by_ref().take(per_reason) {
            self.stations[i].booking = rng.random_range(0.7..0.75);
        }
        // Quiet spells of 3 to 8 weeks, well before the window.
        for s in &mut self.stations {
            let first = s.go_live + Days::new(120);
            let last = self.window.0 - Days::new(120);
            if first < last && rng.random_bool(0.05) {
                let span = (last - first).num_days() as u64;
                let from = first + Days::new(rng.random_range(0..span));
                s.quiet_spell = Some((from, from + Days::new(7 * rng.random_range(3..=8))));
            }
        }
    }

    /// The health-worker registry: a few workers per station, more above.
    pub fn hire(&mut self, seed: u64) {
        let rng = &mut super::rng(seed, "workers");
        for (i, f) in self.facilities.iter().enumerate() {
            let (n, cadres): (u32, &[Cadre]) = match f.level {
                FacilityLevel::CommuneStation => (
                    rng.random_range(3..=6),
                    &[Cadre::AssistantDoctor, Cadre::Nurse, Cadre::Midwife, Cadre::Doctor, Cadre::Pharmacist],
                ),
                FacilityLevel::DistrictCentre => {
                    (rng.random_range(12..=25), &[Cadre::Doctor, Cadre::Nurse, Cadre::Other])
                }
                FacilityLevel::ProvincialHospital => (rng.random_range(25..=45), &[Cadre::Doctor, Cadre::Nurse]),
                FacilityLevel::CentralHospital => (rng.random_range(10..=20), &[Cadre::Doctor]),
            };
            for k in 0..n {
                let id = self.workers.len() as i64 + 1;
                self.workers.push(Worker {
                    id,
                    staff_code: format!("NV{id:07}"),
                    facility: i,
                    // The first worker of a station is its head, most often an assistant doctor.
                    cadre: if k == 0 { cadres[0] } else { *cadres.choose(rng).unwrap() },
                    female: rng.random_bool(0.62),
                    birth_year: rng.random_range(1965..=1998),
                });
            }
        }
    }
}
