//! The program simulator: a realistic, deterministic history of the program (stations,
//! health workers, accounts, bookings with every status change, video calls, training
//! and telemedicine drops) written into the operational store and the data dir, to
//! demo, test and benchmark on.
//!
//! Deterministic for a seed and an end date: every random choice comes from ChaCha
//! streams derived from the seed. Levels are calibrated so that the published results
//! come out (see `model`), and those figures are then measured back from the data by
//! SQL (see `measure`), never read from the simulator's own counters.

mod drops;
mod events;
pub mod measure;
mod model;
mod names;
pub mod truth;
mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::reference::Reference;
use crate::store::{Batch, FacilityRow, SqlStore, Store, StoreError, TableCounts, WorkerRow};
use model::{Anchor, Calendar, Process, Scales, aim, calibrate, expected_total};
use world::World;

pub use measure::Figure;
pub use truth::GroundTruth;

/// The file in the data dir that holds the ground truth.
pub const GROUND_TRUTH_FILE: &str = "ground_truth.json";
/// The folder in the data dir that holds the external file drops.
pub const DROPS_DIR: &str = "drops";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// 3 pilot provinces, 20 stations each, a tenth of the pilot's volume per station.
    Sample,
    /// The 8 pilot provinces from 2020, then the 9 expansion provinces from 2025.
    Pilot,
    /// All 63 old (34 new) provinces: at least 20 million accounts, 50 million appointments.
    National,
}

impl Scale {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "sample" => Ok(Scale::Sample),
            "pilot" => Ok(Scale::Pilot),
            "national" => Ok(Scale::National),
            _ => Err(format!("unknown scale {s:?} (sample, pilot, national)")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Sample => "sample",
            Scale::Pilot => "pilot",
            Scale::National => "national",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub scale: Scale,
    pub seed: u64,
    /// The last simulated day (the simulator's "now").
    pub until: NaiveDate,
}

impl Options {
    pub fn default_until() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date")
    }
}

/// National-scale totals over the whole history.
const NATIONAL_ACCOUNTS: f64 = 20_400_000.0;
const NATIONAL_BOOKINGS: f64 = 51_000_000.0;
const NATIONAL_CALLS: f64 = 2_000_000.0;
/// The sample keeps a tenth of the pilot's volume per station, to stay small.
const SAMPLE_VOLUME: f64 = 0.1;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "the store already holds data ({0} facilities): generate into a fresh data dir, or replace a SQLite store with `generate --force`"
    )]
    NotEmpty(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Measure(#[from] measure::MeasureError),
    #[error("the simulation thread failed")]
    Simulation,
}

/// What a run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub counts: TableCounts,
    pub rows_written: u64,
    pub seconds: f64,
    pub figures: Vec<Figure>,
    pub ground_truth: PathBuf,
    pub drops: PathBuf,
}

/// A ChaCha stream for one purpose, derived from the seed, so that adding draws for
/// one purpose never shifts the draws of another.
pub(crate) fn rng(seed: u64, purpose: &str) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    for (i, b) in purpose.bytes().enumerate() {
        key[8 + i % 24] ^= b;
    }
    ChaCha8Rng::from_seed(key)
}

/// Calibration scales for the three processes.
fn scales(world: &World, cal: &Calendar, reference: &Reference, scale: Scale) -> [Scales; 3] {
    if scale == Scale::National {
        let fit = |p, total| Scales::constant(total / expected_total(world, cal, p).max(1.0));
        return [
            fit(Process::Accounts, NATIONAL_ACCOUNTS),
            fit(Process::Bookings, NATIONAL_BOOKINGS),
            fit(Process::Calls, NATIONAL_CALLS),
        ];
    }
    let anchors = |indicator: &str, factor: f64| -> (Vec<usize>, Vec<Anchor>) {
        let mut rows: Vec<_> = reference.published.iter().filter(|p| p.indicator == indicator).collect();
        rows.sort_by_key(|p| p.as_of);
        let stations = rows.first().map_or_else(Vec::new, |p| {
            (0..world.stations.len())
                .filter(|&i| p.provinces_63.contains(&world.facilities[world.stations[i].facility].province_63))
                .collect()
        });
        let anchors =
            rows.iter().map(|p| Anchor { as_of: p.as_of, value: aim(p.value, p.qualifier) * factor }).collect();
        (stations, anchors)
    };
    let (acc_stations, acc) = anchors("accounts_registered", 1.0);
    // Bookings: the first anchor is set by how many citizens had booked, the second by
    // the appointments; requests include those later entered in error.
    let (bk_stations, mut bk) = anchors("accounts_that_booked", 1.0 / model::FIRST_BOOKING_SHARE);
    let (_, appts) = anchors("appointments_booked", 1.0);
    bk.extend(appts);
    bk.sort_by_key(|a| a.as_of);
    for a in &mut bk {
        a.value /= 1.0 - model::ENTERED_IN_ERROR;
    }
    let (call_stations, calls) = anchors("video_calls", 1.0);
    [
        calibrate(world, cal, Process::Accounts, &acc_stations, &acc),
        calibrate(world, cal, Process::Bookings, &bk_stations, &bk),
        calibrate(world, cal, Process::Calls, &call_stations, &calls),
    ]
}

fn upper_rows(world: &World) -> Batch {
    let at = events::local_ts(world.start, 0) - 86_400;
    let catchment: BTreeMap<usize, i64> = world.stations.iter().map(|s| (s.facility, i64::from(s.catchment))).collect();
    let facilities = world
        .facilities
        .iter()
        .enumerate()
        .map(|(i, f)| FacilityRow {
            id: f.id,
            code: f.code.clone(),
            name: f.name.clone(),
            level: f.level.as_str(),
            province_63: f.province_63.to_string(),
            province_34: f.province_34.to_string(),
            commune_id: f.commune_id.clone(),
            refers_to: f.refers_to,
            go_live: Some(f.go_live.to_string()),
            catchment_population: catchment.get(&i).copied(),
            at,
        })
        .collect();
    let workers = world
        .workers
        .iter()
        .map(|w| WorkerRow {
            id: w.id,
            staff_code: w.staff_code.clone(),
            facility_id: world.facilities[w.facility].id,
            cadre: w.cadre.as_str(),
            sex: if w.female { "female" } else { "male" },
            birth_year: w.birth_year,
            at,
        })
        .collect();
    Batch { facilities, workers, ..Batch::default() }
}

/// Generates a whole program history into `store` (which must be empty) and writes
/// the drops and the ground truth into `data_dir`.
pub async fn generate(
    store: &SqlStore,
    reference: &Reference,
    opts: &Options,
    data_dir: &Path,
    progress: &ProgressBar,
) -> Result<Outcome, GenerateError> {
    let started = Instant::now();
    let existing = store.counts().await?.facilities;
    if existing > 0 {
        return Err(GenerateError::NotEmpty(existing));
    }
    progress.set_message("building the world and calibrating");
    let (world, scales) = {
        let (reference, opts) = (reference.clone(), opts.clone());
        tokio::task::spawn_blocking(move || {
            let world = World::build(&reference, opts.scale, opts.seed, opts.until);
            let cal = Calendar::new(&reference);
            let scales = scales(&world, &cal, &reference, opts.scale);
            let mut world = if opts.scale == Scale::Sample { world.sample(opts.seed) } else { world };
            world.hire(opts.seed);
            (world, scales)
        })
        .await
        .map_err(|_| GenerateError::Simulation)?
    };
    let world = std::sync::Arc::new(world);

    let upper = upper_rows(&world);
    let mut rows_written = upper.rows() as u64;
    let mut tx = store.begin().await?;
    tx.bulk(&upper).await?;
    tx.commit().await?;

    // The simulation runs on a thread of its own and hands weekly batches to this task,
    // which commits each in one transaction; the channel's bound keeps memory flat.
    let (send, mut recv) = tokio::sync::mpsc::channel::<events::Step>(1);
    let days = (world.until - world.start).num_days().max(1) as u64 + 1;
    progress.set_length(days);
    progress.set_message("simulating and writing");
    let sim = {
        let world = world.clone();
        let cal = Calendar::new(reference);
        let volume = if opts.scale == Scale::Sample { SAMPLE_VOLUME } else { 1.0 };
        let rng = rng(opts.seed, "events");
        std::thread::spawn(move || {
            events::Simulation::new(&world, cal, scales, volume, rng).run(|step| send.blocking_send(step).is_ok())
        })
    };
    while let Some(step) = recv.recv().await {
        rows_written += step.batch.rows() as u64;
        let mut tx = store.begin().await?;
        tx.bulk(&step.batch).await?;
        tx.commit().await?;
        progress.set_position((step.day - world.start).num_days() as u64 + 1);
    }
    let calls_in_window = sim.join().map_err(|_| GenerateError::Simulation)?;
    store.sync_id_sequences().await?;

    progress.set_message("writing the file drops");
    let drops_dir = data_dir.join(DROPS_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenerateError::Io { path, source }
    };
    let mut drng = rng(opts.seed, "drops");
    let training = drops::Training::plan(&world, reference, opts.scale == Scale::Pilot, &mut drng);
    let mut drop_counts = BTreeMap::new();
    drop_counts.insert("training".to_string(), training.write(&world, &drops_dir, &mut drng).map_err(io(&drops_dir))?);
    drop_counts.insert(
        "telemedicine".to_string(),
        drops::write_telemedicine(&world, &drops_dir, &mut drng).map_err(io(&drops_dir))?,
    );

    let truth = truth::build(
        &world,
        opts.scale.as_str(),
        opts.seed,
        &training.trained_facilities,
        &calls_in_window,
        drop_counts,
    );
    let truth_path = data_dir.join(GROUND_TRUTH_FILE);
    let json = serde_json::to_vec_pretty(&truth).expect("serialisable");
    std::fs::write(&truth_path, json).map_err(io(&truth_path))?;

    let mut tx = store.begin().await?;
    tx.set_meta(
        "generator",
        &serde_json::json!({"scale": opts.scale, "seed": opts.seed, "until": opts.until}).to_string(),
    )
    .await?;
    tx.commit().await?;

    // The published results describe the real program: only the pilot scale is
    // calibrated to them, so only there are they measured back (`db stats` measures
    // any store on demand).
    let figures = if opts.scale == Scale::Pilot {
        progress.set_message("measuring");
        measure::figures(store, reference, &drops_dir).await?
    } else {
        Vec::new()
    };
    progress.finish_and_clear();
    Ok(Outcome {
        counts: store.counts().await?,
        rows_written,
        seconds: started.elapsed().as_secs_f64(),
        figures,
        ground_truth: truth_path,
        drops: drops_dir,
    })
}
