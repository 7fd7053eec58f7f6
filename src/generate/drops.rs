//! External file drops written by the simulator: the training platform's attendance
//! exports (JSON lines, the source of truth for staff trained) and the national
//! hospital telemedicine scheme's session exports (CSV), one file per month, with a
//! small known share of malformed rows of each kind.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Datelike, Days, NaiveDate};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::events::local_ts;
use super::model::aim;
use super::world::World;
use crate::domain::FacilityLevel;
use crate::reference::Reference;

/// Share of valid rows followed by an injected malformed row.
const MALFORMED_SHARE: f64 = 0.006;
/// The national telemedicine scheme ran 2020-2025.
const SCHEME_START: (i32, u32, u32) = (2020, 9, 1);
const SCHEME_END: (i32, u32, u32) = (2025, 12, 31);
const SPECIALTIES: &[&str] = &[
    "Tim mạch",
    "Nhi khoa",
    "Sản khoa",
    "Nội tiết",
    "Hô hấp",
    "Chấn thương chỉnh hình",
    "Ung bướu",
    "Nội khoa, tổng hợp",
];
const TOPICS: &[&str] = &[
    "Quản lý tăng huyết áp",
    "Quản lý đái tháo đường",
    "Chăm sóc trước sinh",
    "Tiêm chủng mở rộng",
    "Sơ cứu ban đầu",
    "Sức khỏe tâm thần",
    "Dinh dưỡng trẻ em",
    "Khám chữa bệnh từ xa",
    "Kê đơn điện tử",
    "Phòng chống lao",
];

/// Counts per file kind, written to the ground truth.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DropCounts {
    pub files: usize,
    pub valid_rows: usize,
    pub malformed: BTreeMap<&'static str, usize>,
}

/// One completion or enrolment on the training platform.
#[derive(Debug, Clone)]
struct Attendance {
    worker: usize,
    course: usize,
    enrolled_at: i64,
    completed_at: Option<i64>,
}

struct Course {
    code: String,
    title: String,
    launched: NaiveDate,
}

/// The training history: which workers completed which courses, when.
pub struct Training {
    courses: Vec<Course>,
    records: Vec<Attendance>,
    /// Stations with at least one completion by the end: for the ground truth.
    pub trained_facilities: BTreeSet<usize>,
}

fn date(ymd: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(ymd.0, ymd.1, ymd.2).expect("valid date")
}

fn day_between(rng: &mut impl Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0) as u64;
    from + Days::new(rng.random_range(0..=span))
}

/// Efraimidis-Spirakis: `k` distinct items drawn with probability proportional to weight.
fn weighted_sample(rng: &mut impl Rng, items: &[(usize, f64)], k: usize) -> Vec<usize> {
    let mut keyed: Vec<(f64, usize)> = items.iter().map(|&(i, w)| (rng.random::<f64>().powf(1.0 / w), i)).collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    keyed.into_iter().take(k).map(|(_, i)| i).collect()
}

impl Training {
    /// Plans who is trained when. In the program scales the published figures (by the
    /// end of 2022: 1,978 workers from 736 facilities in 30 courses; by the end of 2024:
    /// nearly 3,000 workers) are met exactly in the provinces they describe; afterwards,
    /// and in other provinces, every facility gets a trained worker around its go-live
    /// (except the planted ones) and a third of the others follow.
    pub fn plan(world: &World, reference: &Reference, calibrate: bool, rng: &mut ChaCha8Rng) -> Training {
        let find = |indicator: &str| {
            reference.published.iter().filter(|p| p.indicator == indicator).min_by_key(|p| p.as_of).cloned()
        };
        let first_workers = find("health_workers_trained");
        let first_facilities = find("facilities_with_trained_worker");
        let first_courses = find("courses_completed");
        let later_workers = reference
            .published
            .iter()
            .filter(|p| p.indicator == "health_workers_trained")
            .max_by_key(|p| p.as_of)
            .cloned();
        let anchor_a = first_workers.as_ref().map(|p| p.as_of).unwrap_or(world.start);
        let anchor_b = later_workers.as_ref().map(|p| p.as_of).unwrap_or(anchor_a);
        let course_count_a = first_courses.as_ref().map_or(30, |p| p.value as usize);

        // Courses: the published number by the first calibration date, then one a month.
        let mut courses = Vec::new();
        let first_launch = world.start + Days::new(120);
        let last_launch_a = anchor_a - Days::new(30);
        for n in 0..course_count_a {
            let launched = if last_launch_a > first_launch {
                first_launch
                    + Days::new(((last_launch_a - first_launch).num_days() as u64) * n as u64 / course_count_a as u64)
            } else {
                first_launch
            };
            courses.push(Course { code: format!("KH{:03}", n + 1), title: String::new(), launched });
        }
        let mut launch = anchor_a + Days::new(15);
        while launch <= world.until {
            courses.push(Course {
                code: format!("KH{:03}", courses.len() + 1),
                title: String::new(),
                launched: launch,
            });
            launch = launch + Days::new(30);
        }
        for (n, c) in courses.iter_mut().enumerate() {
            c.title = format!("{} ({})", TOPICS[n % TOPICS.len()], n / TOPICS.len() + 1);
        }

        let station_of: BTreeMap<usize, usize> =
            world.stations.iter().enumerate().map(|(i, s)| (s.facility, i)).collect();
        let untrainable = |f: usize| station_of.get(&f).is_some_and(|&s| world.stations[s].plant.no_training);
        let train_start = |f: usize| world.facilities[f].go_live - Days::new(60);
        let published_provinces: BTreeSet<_> =
            first_workers.as_ref().map(|p| p.provinces_63.iter().copied().collect()).unwrap_or_default();
        let in_published = |f: usize| calibrate && published_provinces.contains(&world.facilities[f].province_63);

        let mut by_facility: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, w) in world.workers.iter().enumerate() {
            by_facility.entry(w.facility).or_default().push(i);
        }
        let mut trained_on: BTreeMap<usize, NaiveDate> = BTreeMap::new();

        if calibrate && let (Some(pw), Some(pf)) = (&first_workers, &first_facilities) {
            // Phase A: exactly the published workers and facilities by the first date.
            let eligible: Vec<(usize, f64)> = by_facility
                .keys()
                .filter(|&&f| in_published(f) && !untrainable(f) && train_start(f) <= anchor_a)
                .map(|&f| (f, if world.facilities[f].go_live < anchor_a - Days::new(365) { 3.0 } else { 1.0 }))
                .collect();
            let chosen = weighted_sample(rng, &eligible, aim(pf.value, pf.qualifier).round() as usize);
            let mut pool = Vec::new();
            for &f in &chosen {
                let mut staff = by_facility[&f].clone();
                staff.shuffle(rng);
                let from = train_start(f).max(courses[0].launched);
                trained_on.insert(staff[0], day_between(rng, from, anchor_a));
                pool.extend(staff[1..].iter().map(|&w| (w, from)));
            }
            pool.shuffle(rng);
            let extra = (aim(pw.value, pw.qualifier).round() as usize).saturating_sub(trained_on.len());
            for (w, from) in pool.into_iter().take(extra) {
                trained_on.insert(w, day_between(rng, from, anchor_a));
            }
            // Phase B: up to the later published figure, new facilities first.
            if let Some(pb) = later_workers.as_ref().filter(|p| p.as_of > anchor_a) {
                let extra = (aim(pb.value, pb.qualifier).round() as usize).saturating_sub(trained_on.len());
                let covered: BTreeSet<usize> = trained_on.keys().map(|&w| world.workers[w].facility).collect();
                let mut firsts = Vec::new();
                let mut others = Vec::new();
                for (&f, staff) in &by_facility {
                    if !in_published(f) || untrainable(f) {
                        continue;
                    }
                    let untrained: Vec<usize> = staff.iter().copied().filter(|w| !trained_on.contains_key(w)).collect();
                    match untrained.split_first() {
                        Some((first, rest)) if !covered.contains(&f) => {
                            firsts.push(*first);
                            others.extend_from_slice(rest);
                        }
                        _ => others.extend(untrained),
                    }
                }
                firsts.shuffle(rng);
                others.shuffle(rng);
                let take_firsts = (extra * 6 / 10).min(firsts.len());
                let picks: Vec<usize> =
                    firsts.into_iter().take(take_firsts).chain(others.into_iter().take(extra - take_firsts)).collect();
                for w in picks {
                    let from = train_start(world.workers[w].facility).max(anchor_a + Days::new(1));
                    trained_on.insert(w, day_between(rng, from, anchor_b));
                }
            }
        }

        // Afterwards: every trainable facility gets a first trained worker around its
        // go-live, and a third of the remaining workers are trained at some point.
        for (&f, staff) in &by_facility {
            if untrainable(f) {
                continue;
            }
            let from = if in_published(f) { train_start(f).max(anchor_b + Days::new(1)) } else { train_start(f) };
            let to = world.until.min(from.max(world.facilities[f].go_live) + Days::new(120)).max(from);
            if from > world.until {
                continue;
            }
            if !staff.iter().any(|w| trained_on.contains_key(w)) {
                trained_on.insert(staff[0], day_between(rng, from, to));
            }
            for &w in &staff[1..] {
                if !trained_on.contains_key(&w) && rng.random_bool(0.33) {
                    trained_on.insert(w, day_between(rng, from, world.until));
                }
            }
        }

        // Completions: the first on the training day, then up to two more later. The
        // first completions before the first calibration date cover every early course.
        let mut records = Vec::new();
        let mut early_course = 0usize;
        for (&w, &day) in &trained_on {
            let launched: Vec<usize> = (0..courses.len()).filter(|&c| courses[c].launched <= day).collect();
            let Some(&latest) = launched.last() else { continue };
            let first = if day <= anchor_a && early_course < course_count_a.min(latest + 1) {
                early_course += 1;
                early_course - 1
            } else {
                *launched.choose(rng).expect("some course")
            };
            let completed = local_ts(day, rng.random_range(480..1260));
            records.push(Attendance {
                worker: w,
                course: first,
                enrolled_at: completed - 86_400 * rng.random_range(3..30),
                completed_at: Some(completed),
            });
            for _ in 0..rng.random_range(0..=2) {
                let later = day_between(rng, day, world.until);
                let open: Vec<usize> =
                    (0..courses.len()).filter(|&c| courses[c].launched <= later && c != first).collect();
                if let Some(&c) = open.choose(rng) {
                    let done = local_ts(later, rng.random_range(480..1260));
                    // Later courses cannot change what was published for the first date.
                    if later > anchor_a || !calibrate {
                        records.push(Attendance {
                            worker: w,
                            course: c,
                            enrolled_at: done - 86_400 * 7,
                            completed_at: Some(done),
                        });
                    }
                }
            }
        }
        // Enrolments never completed.
        let workers: Vec<usize> =
            by_facility.iter().filter(|(f, _)| !untrainable(**f)).flat_map(|(_, s)| s.iter().copied()).collect();
        for _ in 0..records.len() / 5 {
            let w = *workers.choose(rng).expect("workers");
            let day = day_between(rng, courses[0].launched, world.until);
            let open: Vec<usize> = (0..courses.len()).filter(|&c| courses[c].launched <= day).collect();
            if let Some(&c) = open.choose(rng) {
                records.push(Attendance { worker: w, course: c, enrolled_at: local_ts(day, 600), completed_at: None });
            }
        }
        records.sort_by_key(|r| (r.enrolled_at, r.worker, r.course));
        let trained_facilities = trained_on.keys().map(|&w| world.workers[w].facility).collect();
        Training { courses, records, trained_facilities }
    }

    /// Writes `training/attendance_YYYY-MM.jsonl` files under `dir`.
    pub fn write(&self, world: &World, dir: &Path, rng: &mut ChaCha8Rng) -> std::io::Result<DropCounts> {
        let dir = dir.join("training");
        std::fs::create_dir_all(&dir)?;
        let mut counts = DropCounts::default();
        let mut by_month: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (n, r) in self.records.iter().enumerate() {
            let w = &world.workers[r.worker];
            let c = &self.courses[r.course];
            let row = serde_json::json!({
                "record_id": format!("AT{:08}", n + 1),
                "staff_code": w.staff_code,
                "facility_code": world.facilities[w.facility].code,
                "course_code": c.code,
                "course_title": c.title,
                "enrolled_at": iso(r.enrolled_at),
                "completed_at": r.completed_at.map(iso),
                "score": r.completed_at.map(|_| rng.random_range(60..=100)),
            });
            let month = iso(r.enrolled_at)[..7].to_string();
            let out = by_month.entry(month).or_default();
            let line = row.to_string();
            writeln!(out, "{line}")?;
            counts.valid_rows += 1;
            if rng.random_bool(MALFORMED_SHARE) {
                let kind =
                    *["bad_date", "unknown_facility", "invalid_utf8", "duplicate", "broken_json"].choose(rng).unwrap();
                let mut bad = row.clone();
                bad["record_id"] = format!("AX{:08}", n + 1).into();
                match kind {
                    "bad_date" => bad["completed_at"] = "2023-02-30T25:00:00+07:00".into(),
                    "unknown_facility" => bad["facility_code"] = "TYT00-0000".into(),
                    "duplicate" => {
                        writeln!(out, "{line}")?;
                        *counts.malformed.entry(kind).or_default() += 1;
                        continue;
                    }
                    "invalid_utf8" => {
                        out.extend_from_slice(&bad.to_string().into_bytes()[..40]);
                        out.extend_from_slice(b"\xff\xfe invalid \xc3\x28\n");
                        *counts.malformed.entry(kind).or_default() += 1;
                        continue;
                    }
                    _ => {
                        let text = bad.to_string();
                        writeln!(out, "{}", &text[..text.len() / 2])?;
                        *counts.malformed.entry(kind).or_default() += 1;
                        continue;
                    }
                }
                writeln!(out, "{bad}")?;
                *counts.malformed.entry(kind).or_default() += 1;
            }
        }
        for (month, bytes) in by_month {
            std::fs::write(dir.join(format!("attendance_{month}.jsonl")), bytes)?;
            counts.files += 1;
        }
        Ok(counts)
    }
}

/// `2024-03-05T09:12:00+07:00`.
fn iso(ts: i64) -> String {
    let local = DateTime::from_timestamp(ts, 0)
        .expect("valid time")
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap());
    local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// Writes `telemedicine/sessions_YYYY-MM.csv` under `dir`: sessions between central
/// hospitals and the provincial hospitals and district centres in scope.
pub fn write_telemedicine(world: &World, dir: &Path, rng: &mut ChaCha8Rng) -> std::io::Result<DropCounts> {
    let dir = dir.join("telemedicine");
    std::fs::create_dir_all(&dir)?;
    let mut counts = DropCounts::default();
    let spokes: Vec<usize> = (0..world.facilities.len())
        .filter(|&f| {
            matches!(world.facilities[f].level, FacilityLevel::ProvincialHospital | FacilityLevel::DistrictCentre)
        })
        .collect();
    let header = "session_id,hub_code,spoke_code,started_at,duration_min,specialty,cases_discussed\n";
    let end = world.until.min(date(SCHEME_END));
    let mut month_start = date(SCHEME_START).max(world.start);
    let mut session = 0usize;
    while month_start <= end {
        let next = if month_start.month() == 12 {
            NaiveDate::from_ymd_opt(month_start.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(month_start.year(), month_start.month() + 1, 1)
        }
        .expect("valid month");
        let mut rows: Vec<(i64, Vec<String>)> = Vec::new();
        for &f in &spokes {
            let per_month = if world.facilities[f].level == FacilityLevel::ProvincialHospital { 4.0 } else { 1.0 };
            for _ in 0..super::model::poisson(rng, per_month) {
                let day = day_between(rng, month_start, (next - Days::new(1)).min(end));
                let hub = &world.facilities[*world.central.choose(rng).expect("central")];
                rows.push((
                    local_ts(day, rng.random_range(420..960)),
                    vec![
                        hub.code.clone(),
                        world.facilities[f].code.clone(),
                        String::new(),
                        rng.random_range(30..=150).to_string(),
                        SPECIALTIES.choose(rng).unwrap().to_string(),
                        rng.random_range(1..=6).to_string(),
                    ],
                ));
            }
        }
        rows.sort_by_key(|r| r.0);
        let mut out = header.as_bytes().to_vec();
        for (ts, mut fields) in rows {
            session += 1;
            fields[2] = iso(ts)[..16].replace('T', " ");
            fields.insert(0, format!("TM{session:07}"));
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
            w.write_record(&fields)?;
            let line = w.into_inner().map_err(|e| e.into_error())?;
            out.extend_from_slice(&line);
            counts.valid_rows += 1;
            if rng.random_bool(MALFORMED_SHARE) {
                let kind = *[
                    "bad_date",
                    "unknown_facility",
                    "broken_quoting",
                    "invalid_utf8",
                    "duplicate",
                    "wrong_column_count",
                ]
                .choose(rng)
                .unwrap();
                let bad_id = format!("TX{session:07}");
                let text = match kind {
                    "duplicate" => String::from_utf8(line.clone()).expect("csv of UTF-8 is UTF-8"),
                    "bad_date" => format!(
                        "{bad_id},{},{},31/02/2023 9h,{},{},{}\n",
                        fields[1],
                        fields[2],
                        fields[4],
                        fields[5].replace(',', ""),
                        fields[6]
                    ),
                    "unknown_facility" => {
                        format!("{bad_id},{},BVX99-99,{},{},Nhi khoa,{}\n", fields[1], fields[3], fields[4], fields[6])
                    }
                    "broken_quoting" => format!(
                        "{bad_id},{},{},{},{},\"Nội khoa, tổng hợp,{}\n",
                        fields[1], fields[2], fields[3], fields[4], fields[6]
                    ),
                    "wrong_column_count" => format!("{bad_id},{},{},{}\n", fields[1], fields[2], fields[3]),
                    _ => String::new(),
                };
                if kind == "invalid_utf8" {
                    out.extend_from_slice(
                        format!("{bad_id},{},{},{},{},", fields[1], fields[2], fields[3], fields[4]).as_bytes(),
                    );
                    out.extend_from_slice(b"Nhi khoa \xff\xfe,2\n");
                } else {
                    out.extend_from_slice(text.as_bytes());
                }
                *counts.malformed.entry(kind).or_default() += 1;
            }
        }
        std::fs::write(dir.join(format!("sessions_{}.csv", &month_start.to_string()[..7])), out)?;
        counts.files += 1;
        month_start = next;
    }
    Ok(counts)
}
