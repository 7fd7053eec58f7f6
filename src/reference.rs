//! Reference data: the provinces of both boundary sets and their crosswalk, the
//! program's projects and roll-out dates, central hospitals, holidays, published
//! results (the simulator's calibration points) and targets.
//!
//! Plain CSV and TOML that an evaluator can read and edit (`data-samples/reference/`).
//! The binary embeds a copy, so it runs from anywhere; `reference_dir` in the config
//! points it at an edited one. Loading checks everything and reports every problem
//! at once, each with its file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::{BoundarySet, Crosswalk, DomainError, FacilityCode, Province, ProvinceCode, ProvinceKey, nfc};

/// The files, in the order they are read, with the copy built into the binary.
const FILES: [(&str, &str); 8] = [
    ("provinces_63.csv", include_str!("../data-samples/reference/provinces_63.csv")),
    ("provinces_34.csv", include_str!("../data-samples/reference/provinces_34.csv")),
    ("projects.toml", include_str!("../data-samples/reference/projects.toml")),
    ("rollout.csv", include_str!("../data-samples/reference/rollout.csv")),
    ("central_hospitals.csv", include_str!("../data-samples/reference/central_hospitals.csv")),
    ("holidays.csv", include_str!("../data-samples/reference/holidays.csv")),
    ("published_results.csv", include_str!("../data-samples/reference/published_results.csv")),
    ("targets.csv", include_str!("../data-samples/reference/targets.csv")),
];

/// The indicators that published results and targets may name.
pub const INDICATORS: &[&str] = &[
    "accounts_registered",
    "accounts_that_booked",
    "appointments_booked",
    "appointments_completed",
    "video_calls",
    "health_workers_trained",
    "facilities_with_trained_worker",
    "courses_completed",
    "live_station_activity_share",
];

/// Every problem found, one line each (`file:line: field: reason`).
#[derive(Debug, thiserror::Error)]
#[error("reference data has {} problem(s):\n  {}", .0.len(), .0.join("\n  "))]
pub struct ReferenceErrors(pub Vec<String>);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub id: String,
    pub name_en: String,
    pub name_vi: String,
    pub donors: Vec<String>,
    #[serde(default)]
    pub budget_usd: Option<u64>,
    pub provinces: Vec<ProvinceCode>,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub dates_basis: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectsFile {
    project: Vec<Project>,
}

/// Which roll-out a province belongs to in a simulated scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutScale {
    /// The real program (pilot and expansion provinces).
    Program,
    /// Only in the national-scale simulation.
    National,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    pub province_63: ProvinceCode,
    pub scale: RolloutScale,
    pub start: NaiveDate,
    pub rollout_months: u32,
    pub basis: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralHospital {
    pub code: FacilityCode,
    pub name_vi: String,
    pub province_63: ProvinceCode,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name_vi: String,
    pub name_en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedResult {
    pub indicator: String,
    pub as_of: NaiveDate,
    #[serde(deserialize_with = "codes")]
    pub provinces_63: Vec<ProvinceCode>,
    pub value: f64,
    pub qualifier: Qualifier,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    Exactly,
    MoreThan,
    Nearly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetScope {
    National,
    Project,
    Province,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub indicator: String,
    pub scope: TargetScope,
    /// Empty for national; a project id; or a province key such as `63:02` or `34:08`.
    pub scope_id: String,
    pub baseline: f64,
    pub baseline_date: NaiveDate,
    pub target: f64,
    pub target_date: NaiveDate,
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Province63Row {
    code: ProvinceCode,
    name_vi: String,
    slug: String,
    region: String,
    population_2019: u64,
    population_approximate: YesNo,
    communes: u32,
    province_34: ProvinceCode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Province34Row {
    code: ProvinceCode,
    name_vi: String,
    slug: String,
    #[serde(deserialize_with = "codes")]
    old_codes: Vec<ProvinceCode>,
    population_2019: u64,
    population_approximate: YesNo,
    communes: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum YesNo {
    Yes,
    No,
}

/// Space-separated province codes in one CSV field.
fn codes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ProvinceCode>, D::Error> {
    let s = String::deserialize(d)?;
    s.split_whitespace().map(|c| ProvinceCode::parse(c).map_err(serde::de::Error::custom)).collect()
}

/// All reference data, checked.
#[derive(Debug, Clone)]
pub struct Reference {
    pub provinces_63: Vec<Province>,
    pub provinces_34: Vec<Province>,
    pub regions: BTreeMap<ProvinceCode, String>,
    pub crosswalk: Crosswalk,
    pub projects: Vec<Project>,
    pub rollout: Vec<Rollout>,
    pub central_hospitals: Vec<CentralHospital>,
    pub holidays: Vec<Holiday>,
    pub published: Vec<PublishedResult>,
    pub targets: Vec<Target>,
    /// Where it was read from, for messages: a folder, or "built-in".
    pub origin: String,
}

impl Reference {
    /// The copy built into the binary.
    pub fn embedded() -> Result<Self, ReferenceErrors> {
        Self::parse("built-in", |name| {
            FILES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| text.to_string())
                .ok_or_else(|| format!("{name}: not built in"))
        })
    }

    /// The files of `dir`, or the built-in copy when `dir` is `None`.
    pub fn load(dir: Option<&Path>) -> Result<Self, ReferenceErrors> {
        match dir {
            None => Self::embedded(),
            Some(dir) => Self::parse(&dir.display().to_string(), |name| {
                let path: PathBuf = dir.join(name);
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
            }),
        }
    }

    /// The text of one reference file, from `dir` or the built-in copy.
    pub fn file_text(dir: Option<&Path>, name: &str) -> Result<String, String> {
        match dir {
            None => FILES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| text.to_string())
                .ok_or_else(|| format!("{name}: not a reference file")),
            Some(dir) => {
                std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
            }
        }
    }

    pub fn province(&self, key: ProvinceKey) -> Option<&Province> {
        let list = match key.set {
            BoundarySet::P63 => &self.provinces_63,
            BoundarySet::P34 => &self.provinces_34,
        };
        list.iter().find(|p| p.key == key)
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    fn parse(origin: &str, read: impl Fn(&str) -> Result<String, String>) -> Result<Self, ReferenceErrors> {
        let mut errors = Vec::new();
        let mut text = |name: &str| match read(name) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let files: Vec<Option<String>> = FILES.iter().map(|(name, _)| text(name)).collect();
        let mut cx = Checker { errors };

        let rows63: Vec<(usize, Province63Row)> = cx.csv("provinces_63.csv", files[0].as_deref());
        let rows34: Vec<(usize, Province34Row)> = cx.csv("provinces_34.csv", files[1].as_deref());
        let projects = files[2].as_deref().map_or_else(Vec::new, |t| match toml::from_str::<ProjectsFile>(t) {
            Ok(f) => f.project,
            Err(e) => {
                cx.errors.push(format!("projects.toml: {e}"));
                Vec::new()
            }
        });
        let rollout: Vec<(usize, Rollout)> = cx.csv("rollout.csv", files[3].as_deref());
        let central_hospitals: Vec<(usize, CentralHospital)> = cx.csv("central_hospitals.csv", files[4].as_deref());
        let holidays: Vec<(usize, Holiday)> = cx.csv("holidays.csv", files[5].as_deref());
        let published: Vec<(usize, PublishedResult)> = cx.csv("published_results.csv", files[6].as_deref());
        let targets: Vec<(usize, Target)> = cx.csv("targets.csv", files[7].as_deref());

        let mut provinces_63 = Vec::new();
        let mut regions = BTreeMap::new();
        for (line, r) in &rows63 {
            let key = ProvinceKey { set: BoundarySet::P63, code: r.code };
            let approx = matches!(r.population_approximate, YesNo::Yes);
            match Province::new(key, &r.name_vi, &r.slug, r.population_2019, approx, r.communes) {
                Ok(p) => provinces_63.push(p),
                Err(e) => cx.at("provinces_63.csv", *line, e),
            }
            regions.insert(r.code, nfc(&r.region));
        }
        let mut provinces_34 = Vec::new();
        for (line, r) in &rows34 {
            let key = ProvinceKey { set: BoundarySet::P34, code: r.code };
            let approx = matches!(r.population_approximate, YesNo::Yes);
            match Province::new(key, &r.name_vi, &r.slug, r.population_2019, approx, r.communes) {
                Ok(p) => provinces_34.push(p),
                Err(e) => cx.at("provinces_34.csv", *line, e),
            }
        }
        cx.unique("provinces_63.csv", rows63.iter().map(|(l, r)| (*l, r.code.to_string())));
        cx.unique("provinces_34.csv", rows34.iter().map(|(l, r)| (*l, r.code.to_string())));

        // The crosswalk is stated twice (each old province's new one, each new one's
        // old ones); the two statements must agree, and populations must add up.
        let crosswalk = match Crosswalk::new(rows63.iter().map(|(_, r)| (r.code, r.province_34))) {
            Ok(c) => c,
            Err(e) => {
                cx.errors.push(format!("provinces_63.csv: {e}"));
                Crosswalk::default()
            }
        };
        let new_codes: BTreeSet<_> = rows34.iter().map(|(_, r)| r.code).collect();
        let old_codes: BTreeSet<_> = rows63.iter().map(|(_, r)| r.code).collect();
        for (line, r) in &rows63 {
            if !new_codes.contains(&r.province_34) {
                cx.line(
                    "provinces_63.csv",
                    *line,
                    "province_34",
                    format!("{} is not in provinces_34.csv", r.province_34),
                );
            }
        }
        for (line, r) in &rows34 {
            let mut stated: Vec<_> = r.old_codes.clone();
            stated.sort();
            let mapped: Vec<_> = crosswalk.olds_of(r.code).collect();
            if stated != mapped {
                cx.line(
                    "provinces_34.csv",
                    *line,
                    "old_codes",
                    format!("{stated:?} but provinces_63.csv maps {mapped:?} here"),
                );
            }
            let sum: u64 =
                rows63.iter().filter(|(_, o)| stated.contains(&o.code)).map(|(_, o)| o.population_2019).sum();
            if sum != r.population_2019 {
                cx.line(
                    "provinces_34.csv",
                    *line,
                    "population_2019",
                    format!("{} but its old provinces sum to {sum}", r.population_2019),
                );
            }
        }

        let mut project_ids = BTreeSet::new();
        for p in &projects {
            if !project_ids.insert(p.id.clone()) {
                cx.errors.push(format!("projects.toml: project {:?} is listed twice", p.id));
            }
            if p.end < p.start {
                cx.errors.push(format!("projects.toml: {}: end {} is before start {}", p.id, p.end, p.start));
            }
            if p.donors.is_empty() {
                cx.errors.push(format!("projects.toml: {}: donors: at least one", p.id));
            }
            for c in p.provinces.iter().filter(|c| !old_codes.contains(c)) {
                cx.errors.push(format!("projects.toml: {}: provinces: {c} is not a 63-set province", p.id));
            }
            for c in p
                .provinces
                .iter()
                .filter(|c| !rollout.iter().any(|(_, r)| r.province_63 == **c && r.scale == RolloutScale::Program))
            {
                cx.errors.push(format!("projects.toml: {}: province {c} has no program row in rollout.csv", p.id));
            }
        }
        for (line, r) in &rollout {
            if !old_codes.contains(&r.province_63) {
                cx.line("rollout.csv", *line, "province_63", format!("{} is not a 63-set province", r.province_63));
            }
            if !(1..=36).contains(&r.rollout_months) {
                cx.line(
                    "rollout.csv",
                    *line,
                    "rollout_months",
                    format!("{} is not between 1 and 36", r.rollout_months),
                );
            }
        }
        cx.unique("rollout.csv", rollout.iter().map(|(l, r)| (*l, r.province_63.to_string())));
        for (line, h) in &central_hospitals {
            if !old_codes.contains(&h.province_63) {
                cx.line(
                    "central_hospitals.csv",
                    *line,
                    "province_63",
                    format!("{} is not a 63-set province", h.province_63),
                );
            }
        }
        cx.unique("central_hospitals.csv", central_hospitals.iter().map(|(l, h)| (*l, h.code.to_string())));
        for (line, p) in &published {
            cx.indicator("published_results.csv", *line, &p.indicator);
            for c in p.provinces_63.iter().filter(|c| !old_codes.contains(c)) {
                cx.line("published_results.csv", *line, "provinces_63", format!("{c} is not a 63-set province"));
            }
        }
        for (line, t) in &targets {
            cx.indicator("targets.csv", *line, &t.indicator);
            let scope_ok = match t.scope {
                TargetScope::National => t.scope_id.is_empty(),
                TargetScope::Project => project_ids.contains(&t.scope_id),
                TargetScope::Province => parse_key(&t.scope_id).is_some_and(|k| match k.set {
                    BoundarySet::P63 => old_codes.contains(&k.code),
                    BoundarySet::P34 => new_codes.contains(&k.code),
                }),
            };
            if !scope_ok {
                cx.line(
                    "targets.csv",
                    *line,
                    "scope_id",
                    format!("{:?} is not a valid {:?} scope", t.scope_id, t.scope),
                );
            }
            if t.target_date <= t.baseline_date {
                cx.line("targets.csv", *line, "target_date", "must follow the baseline date".into());
            }
            if t.target == t.baseline {
                cx.line("targets.csv", *line, "target", "equals the baseline".into());
            }
        }

        if !cx.errors.is_empty() {
            return Err(ReferenceErrors(cx.errors));
        }
        Ok(Reference {
            provinces_63,
            provinces_34,
            regions,
            crosswalk,
            projects,
            rollout: rollout.into_iter().map(|(_, r)| r).collect(),
            central_hospitals: central_hospitals.into_iter().map(|(_, r)| r).collect(),
            holidays: holidays.into_iter().map(|(_, r)| r).collect(),
            published: published.into_iter().map(|(_, r)| r).collect(),
            targets: targets.into_iter().map(|(_, r)| r).collect(),
            origin: origin.to_string(),
        })
    }
}

/// `63:02` or `34:08`.
pub fn parse_key(s: &str) -> Option<ProvinceKey> {
    let (set, code) = s.split_once(':')?;
    Some(ProvinceKey { set: BoundarySet::parse(set).ok()?, code: ProvinceCode::parse(code).ok()? })
}

/// Collects problems while reading.
struct Checker {
    errors: Vec<String>,
}

impl Checker {
    /// Parses CSV rows into `T`, keeping the good rows with their line numbers.
    fn csv<T: serde::de::DeserializeOwned>(&mut self, file: &str, text: Option<&str>) -> Vec<(usize, T)> {
        let Some(text) = text else { return Vec::new() };
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for record in reader.deserialize::<T>() {
            match record {
                Ok(row) => rows.push((rows.len() + 2, row)),
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    let message = match e.kind() {
                        csv::ErrorKind::Deserialize { err, .. } => {
                            format!(
                                "{}: {}",
                                err.field().map_or("row".to_string(), |f| format!("column {}", f + 1)),
                                err.kind()
                            )
                        }
                        _ => e.to_string(),
                    };
                    self.errors.push(format!("{file}:{line}: {message}"));
                }
            }
        }
        rows
    }

    fn at(&mut self, file: &str, line: usize, e: DomainError) {
        self.errors.push(format!("{file}:{line}: {e}"));
    }

    fn line(&mut self, file: &str, line: usize, field: &str, message: String) {
        self.errors.push(format!("{file}:{line}: {field}: {message}"));
    }

    fn unique(&mut self, file: &str, keys: impl Iterator<Item = (usize, String)>) {
        let mut seen = BTreeSet::new();
        for (line, key) in keys {
            if !seen.insert(key.clone()) {
                self.line(file, line, "key", format!("{key} is listed twice"));
            }
        }
    }

    fn indicator(&mut self, file: &str, line: usize, indicator: &str) {
        if !INDICATORS.contains(&indicator) {
            self.line(file, line, "indicator", format!("{indicator:?} is not one of {}", INDICATORS.join(", ")));
        }
    }
}
