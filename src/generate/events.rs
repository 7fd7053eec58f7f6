//! The day-by-day simulation of accounts, bookings and video calls, written out as
//! store batches in time order. Runs on its own thread and hands batches to the
//! writer through a bounded channel, so memory stays flat at any scale.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::model::{Calendar, ENTERED_IN_ERROR, FIRST_BOOKING_SHARE, Process, Scales, intensity, poisson};
use super::names;
use super::world::World;
use crate::store::{AccountRow, AppointmentRow, Batch, CallRow, SlotRow, StatusRow};

/// Vietnam is UTC+7 all year (no daylight saving).
const UTC_OFFSET: i64 = 7 * 3600;
/// Slot starts (minutes after local midnight): mornings are busier.
const SLOT_STARTS: [(i64, u32); 7] = [(450, 5), (510, 5), (570, 4), (630, 3), (810, 3), (870, 2), (930, 2)];
const SLOT_CAPACITY: i64 = 4;
const REASONS: [(&str, u32); 6] = [
    ("chronic_care", 35),
    ("general_checkup", 25),
    ("maternal_child", 15),
    ("immunisation", 10),
    ("acute_illness", 10),
    ("other", 5),
];
const CANCEL: f64 = 0.07;
const RESCHEDULE_OF_CANCEL: f64 = 0.3;
const NOSHOW: f64 = 0.09;
/// Rows after which a batch is handed over even before its week is done.
const BATCH_ROWS: usize = 120_000;

/// Seconds since the epoch of a local time `minutes` after midnight of `day`.
pub fn local_ts(day: NaiveDate, minutes: i64) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp() + minutes * 60 - UTC_OFFSET
}

fn weighted<'a, T>(rng: &mut impl Rng, items: &'a [(T, u32)]) -> &'a T {
    &items.choose_weighted(rng, |(_, w)| *w).expect("non-empty weights").0
}

/// A change waiting for its time, ordered by (time, order of scheduling).
struct Scheduled {
    at: i64,
    seq: u64,
    item: Pending,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

enum Pending {
    Status(StatusRow),
    /// A cancelled appointment's replacement, booked at the cancellation.
    Rebook {
        citizen: i64,
        station: usize,
        reason: &'static str,
        from: i64,
    },
}

/// What a day's work hands to the writer.
pub struct Step {
    pub batch: Batch,
    pub day: NaiveDate,
}

pub struct Simulation<'w> {
    world: &'w World,
    cal: Calendar,
    scales: [Scales; 3],
    volume: f64,
    rng: ChaCha8Rng,
    end_ts: i64,
    next_account: i64,
    next_slot: i64,
    next_appointment: i64,
    next_call: i64,
    /// Account ids (below 2^32 at any scale) per station, by whether they have booked:
    /// u32 halves the largest structure of a national run.
    unbooked: Vec<Vec<u32>>,
    booked: Vec<Vec<u32>>,
    /// Open slots by (station, start): id, places taken, and who took them (a citizen
    /// never holds two places in one slot; the store refuses it).
    slots: HashMap<(usize, i64), (i64, i64, [i64; SLOT_CAPACITY as usize])>,
    pending: BinaryHeap<Reverse<Scheduled>>,
    pending_seq: u64,
    batch: Batch,
    calls_in_window: Vec<u32>,
    forced_first: Vec<u32>,
}

impl<'w> Simulation<'w> {
    pub fn new(world: &'w World, cal: Calendar, scales: [Scales; 3], volume: f64, rng: ChaCha8Rng) -> Self {
        let n = world.stations.len();
        Simulation {
            world,
            cal,
            scales,
            volume,
            rng,
            end_ts: local_ts(world.until + Days::new(1), 0),
            next_account: 1,
            next_slot: 1,
            next_appointment: 1,
            next_call: 1,
            unbooked: vec![Vec::new(); n],
            booked: vec![Vec::new(); n],
            slots: HashMap::new(),
            pending: BinaryHeap::new(),
            pending_seq: 0,
            batch: Batch::default(),
            calls_in_window: vec![0; n],
            forced_first: vec![0; n],
        }
    }

    /// Runs every day from the world's start to `until`, handing over a batch at the
    /// end of each week (or when it grows large) through `emit`. Returns the number of
    /// calls each station made in the evaluation window, for the ground truth.
    pub fn run(mut self, mut emit: impl FnMut(Step) -> bool) -> Vec<u32> {
        let mut day = self.world.start;
        while day <= self.world.until {
            self.simulate_day(day);
            let week_done = day.weekday() == Weekday::Sun || day == self.world.until;
            if week_done || self.batch.rows() >= BATCH_ROWS {
                let batch = std::mem::take(&mut self.batch);
                if !emit(Step { batch, day }) {
                    break;
                }
            }
            day = day + Days::new(1);
        }
        self.calls_in_window
    }

    fn expected(&self, process: Process, station: usize, day: NaiveDate) -> f64 {
        let s = &self.world.stations[station];
        let k = match process {
            Process::Accounts => 0,
            Process::Bookings => 1,
            Process::Calls => 2,
        };
        intensity(self.world, &self.cal, process, s, day) * self.scales[k].at(day) * self.volume
    }

    fn simulate_day(&mut self, day: NaiveDate) {
        let day_end = local_ts(day + Days::new(1), 0);
        self.release_pending(day_end);
        let mut new_accounts: Vec<(usize, u32)> = Vec::new();
        for st in 0..self.world.stations.len() {
            let mean = self.expected(Process::Accounts, st, day);
            let n = poisson(&mut self.rng, mean);
            for _ in 0..n {
                new_accounts.push((st, self.account(st, day) as u32));
            }
            let mean = self.expected(Process::Bookings, st, day);
            let n = poisson(&mut self.rng, mean);
            for _ in 0..n {
                self.booking(st, day);
            }
            let mean = self.expected(Process::Calls, st, day);
            let n = poisson(&mut self.rng, mean);
            for _ in 0..n {
                self.call(st, day);
            }
        }
        // Today's new accounts can book from tomorrow on.
        for (st, id) in new_accounts {
            self.unbooked[st].push(id);
        }
        // Slots that started before yesterday take no more bookings: forget them.
        self.slots.retain(|&(_, start), _| start >= day_end - 86_400);
        self.release_pending(day_end);
    }

    fn account(&mut self, st: usize, day: NaiveDate) -> i64 {
        let id = self.next_account;
        self.next_account += 1;
        let s = &self.world.stations[st];
        let rng = &mut self.rng;
        let sex = *weighted(rng, &[("female", 560), ("male", 435), ("other", 5)]);
        let minority = rng.random_bool(s.minority_share);
        let age = match rng.random_range(0..100) {
            0..12 => rng.random_range(16..25),
            12..62 => rng.random_range(25..50),
            62..87 => rng.random_range(50..65),
            _ => rng.random_range(65..90),
        };
        let poor = rng.random_bool(if minority { 0.25 } else { 0.08 });
        let disability = rng.random_bool(0.03);
        let created_at = local_ts(day, rng.random_range(360..1320)) + rng.random_range(0..60);
        self.batch.accounts.push(AccountRow {
            id,
            phone: names::phone(id),
            name: names::person(rng, sex == "female", minority),
            sex,
            birth_year: i64::from(day.year()) - age,
            ethnic_minority: minority,
            vulnerable: i64::from(poor) | i64::from(disability) << 1 | i64::from(s.remote) << 2,
            home_station_id: self.world.facilities[s.facility].id,
            consent_at: created_at - rng.random_range(5..120),
            created_at,
        });
        id
    }

    /// A citizen of the station: a first-time booker most of the time, else a repeat.
    /// A repeat that has to become a first booking (nobody has booked yet) is paid back
    /// by the station's next first booking, so the share holds where it is calibrated.
    fn citizen(&mut self, st: usize) -> Option<i64> {
        let mut first = self.rng.random_bool(FIRST_BOOKING_SHARE);
        if !first && self.booked[st].is_empty() {
            self.forced_first[st] += 1;
            first = true;
        } else if first && self.forced_first[st] > 0 && !self.booked[st].is_empty() {
            self.forced_first[st] -= 1;
            first = false;
        }
        if first && !self.unbooked[st].is_empty() {
            let i = self.rng.random_range(0..self.unbooked[st].len());
            let id = self.unbooked[st].swap_remove(i);
            self.booked[st].push(id);
            return Some(i64::from(id));
        }
        self.booked[st].choose(&mut self.rng).map(|&id| i64::from(id))
    }

    /// A slot at the station on `day` or after with a free place that `citizen` does
    /// not already hold: (id, start).
    fn slot(&mut self, st: usize, mut day: NaiveDate, booked_at: i64, citizen: i64) -> (i64, i64) {
        loop {
            if day.weekday() == Weekday::Sun {
                day = day + Days::new(1);
            }
            let first = self.rng.random_range(0..SLOT_STARTS.len());
            for k in 0..SLOT_STARTS.len() {
                let start = local_ts(day, SLOT_STARTS[(first + k) % SLOT_STARTS.len()].0);
                if start <= booked_at + 1800 {
                    continue;
                }
                let entry = self.slots.entry((st, start)).or_insert_with(|| {
                    let id = self.next_slot;
                    self.next_slot += 1;
                    self.batch.slots.push(SlotRow {
                        id,
                        station_id: self.world.facilities[self.world.stations[st].facility].id,
                        start_at: start,
                        duration_min: 60,
                        capacity: SLOT_CAPACITY,
                        at: booked_at - 60,
                    });
                    (id, 0, [0; SLOT_CAPACITY as usize])
                });
                let taken = entry.1 as usize;
                if taken < SLOT_CAPACITY as usize && !entry.2[..taken].contains(&citizen) {
                    entry.2[taken] = citizen;
                    entry.1 += 1;
                    return (entry.0, start);
                }
            }
            day = day + Days::new(1);
        }
    }

    fn booking(&mut self, st: usize, day: NaiveDate) {
        let Some(citizen) = self.citizen(st) else { return };
        let booked_at = local_ts(day, self.rng.random_range(360..1290));
        let reason = *weighted(&mut self.rng, &REASONS);
        self.appointment(st, citizen, reason, booked_at, None);
    }

    fn appointment(&mut self, st: usize, citizen: i64, reason: &'static str, booked_at: i64, from: Option<i64>) {
        let rng = &mut self.rng;
        let lead = if rng.random_bool(0.15) { 0 } else { 1 + (rng.random::<f64>().ln() / (2.0f64 / 3.0).ln()) as u64 };
        let day = chrono::DateTime::from_timestamp(booked_at + UTC_OFFSET, 0).expect("valid").date_naive();
        let (slot_id, start) = self.slot(st, day + Days::new(lead.min(21)), booked_at, citizen);
        let id = self.next_appointment;
        self.next_appointment += 1;
        let rng = &mut self.rng;

        let mut life: Vec<(i64, &'static str)> = Vec::new();
        let mut rebook_at = None;
        let u: f64 = rng.random();
        if u < CANCEL {
            let at = booked_at + rng.random_range(60..(start - booked_at).max(120));
            life.push((at, "cancelled"));
            if from.is_none() && rng.random_bool(RESCHEDULE_OF_CANCEL) {
                rebook_at = Some(at);
            }
        } else if u < CANCEL + NOSHOW {
            life.push((start + 2 * 3600, "noshow"));
        } else {
            let arrived = start + rng.random_range(-900..3000);
            life.push((arrived, "arrived"));
            life.push((arrived + rng.random_range(600..2400), "fulfilled"));
        }
        if rng.random_bool(ENTERED_IN_ERROR) {
            let last = life.last().expect("a status").0;
            life.push((last + 86_400, "entered-in-error"));
        }
        life.retain(|(at, _)| *at < self.end_ts);
        let (status, updated_at) = life.last().map_or(("booked", booked_at), |(at, s)| (*s, *at));
        self.batch.appointments.push(AppointmentRow {
            id,
            slot_id,
            citizen_id: citizen,
            reason,
            initial_status: "booked",
            status,
            version: 1 + life.len() as i64,
            booked_at,
            updated_at,
            rescheduled_from: from,
        });
        for (v, (at, status)) in life.into_iter().enumerate() {
            self.schedule(at, Pending::Status(StatusRow { appointment_id: id, version: v as i64 + 2, status, at }));
        }
        if let Some(at) = rebook_at.filter(|at| *at < self.end_ts) {
            self.schedule(at, Pending::Rebook { citizen, station: st, reason, from: id });
        }
    }

    fn schedule(&mut self, at: i64, item: Pending) {
        self.pending_seq += 1;
        self.pending.push(Reverse(Scheduled { at, seq: self.pending_seq, item }));
    }

    /// Writes every pending change that happens before `until_ts`, in time order.
    fn release_pending(&mut self, until_ts: i64) {
        while self.pending.peek().is_some_and(|Reverse(s)| s.at < until_ts) {
            let Reverse(Scheduled { at, item, .. }) = self.pending.pop().expect("peeked");
            match item {
                Pending::Status(row) => self.batch.statuses.push(row),
                Pending::Rebook { citizen, station, reason, from } => {
                    self.appointment(station, citizen, reason, at + 30, Some(from))
                }
            }
        }
    }

    fn call(&mut self, st: usize, day: NaiveDate) {
        let s = &self.world.stations[st];
        let rng = &mut self.rng;
        let callee = match rng.random_range(0..100) {
            0..70 => s.district,
            70..95 => s.hospital,
            _ => *self.world.central.choose(rng).expect("central hospitals"),
        };
        let purpose = *weighted(rng, &[("teleconsult", 55), ("meeting", 30), ("training", 15)]);
        let median = match purpose {
            "teleconsult" => 20.0,
            "meeting" => 45.0,
            _ => 60.0,
        };
        let minutes = LogNormal::new(f64::ln(median), 0.4).unwrap().sample(rng).clamp(3.0, 240.0);
        let started_at = local_ts(day, rng.random_range(450..990));
        let ended_at = started_at + (minutes * 60.0) as i64;
        let outcome =
            (purpose == "teleconsult").then(|| if rng.random_bool(0.2) { "referred_up" } else { "advice_given" });
        let closed = ended_at < self.end_ts;
        let id = self.next_call;
        self.next_call += 1;
        if day >= self.world.window.0 && day <= self.world.window.1 {
            self.calls_in_window[st] += 1;
        }
        self.batch.calls.push(CallRow {
            id,
            caller_station_id: self.world.facilities[s.facility].id,
            callee_facility_id: self.world.facilities[callee].id,
            purpose,
            started_at,
            ended_at: closed.then_some(ended_at),
            outcome: if closed { outcome } else { None },
        });
    }
}
