//! Pipeline files: `pipelines/<id>.toml`, one ingestion job each. They are parsed into
//! tagged enums that reject unknown keys, then checked against the lake's tables, the
//! data dir and the cron syntax; [`load`] reports every problem of every file at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::Deserialize;

use crate::lake::schema::{self, Origin, TableDef, TableKind};
use crate::store::Entity;

/// The pipelines shipped in the repository, built into the binary.
const BUILT_IN: &[(&str, &str)] = &[
    ("facilities", include_str!("../../pipelines/facilities.toml")),
    ("accounts", include_str!("../../pipelines/accounts.toml")),
    ("appointments", include_str!("../../pipelines/appointments.toml")),
    ("video_calls", include_str!("../../pipelines/video_calls.toml")),
    ("telemedicine", include_str!("../../pipelines/telemedicine.toml")),
    ("training", include_str!("../../pipelines/training.toml")),
    ("provinces_63", include_str!("../../pipelines/provinces_63.toml")),
    ("provinces_34", include_str!("../../pipelines/provinces_34.toml")),
    ("phases", include_str!("../../pipelines/phases.toml")),
    ("targets", include_str!("../../pipelines/targets.toml")),
    ("projects", include_str!("../../pipelines/projects.toml")),
];

/// The names of the built-in pipeline files (a test compares them with the folder).
pub fn built_in_ids() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(id, _)| *id).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    #[serde(default)]
    description: String,
    /// Five-field crontab syntax, or six with seconds first.
    schedule: String,
    target: String,
    source: SourceFile,
    #[serde(default)]
    validation: ValidationFile,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum SourceFile {
    /// The operational store's change feed for one entity.
    Feed { entity: String },
    /// Files in a folder (relative to the data dir) that match a glob.
    Drop {
        folder: PathBuf,
        glob: String,
        format: DropFormat,
        /// Target column = source field (CSV header or JSON key).
        columns: BTreeMap<String, String>,
        /// Source fields masked in the raw text kept with a quarantined row.
        #[serde(default)]
        personal: Vec<String>,
    },
    /// One file of the reference data.
    Reference { file: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ValidationFile {
    /// A run that would quarantine more than this share of its rows fails.
    max_quarantine_share: f64,
    /// Target columns that must name a known facility.
    facilities: Vec<String>,
    /// Inclusive bounds of numeric target columns.
    ranges: BTreeMap<String, [f64; 2]>,
    /// Pairs of time columns `[earlier, later]` (a later left empty is allowed).
    order: Vec<[String; 2]>,
    /// At most this many source rows per run (a long backlog takes several runs).
    max_rows_per_run: u64,
}

impl Default for ValidationFile {
    fn default() -> Self {
        ValidationFile {
            max_quarantine_share: 0.05,
            facilities: Vec::new(),
            ranges: BTreeMap::new(),
            order: Vec::new(),
            max_rows_per_run: 2_000_000,
        }
    }
}

/// A checked pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: String,
    pub description: String,
    pub schedule_text: String,
    pub schedule: Cron,
    pub target: &'static TableDef,
    pub source: Source,
    pub validation: Validation,
}

#[derive(Debug, Clone)]
pub enum Source {
    Feed(Entity),
    Drop(DropSource),
    Reference(String),
}

#[derive(Debug, Clone)]
pub struct DropSource {
    /// Absolute, or relative to the data dir.
    pub folder: PathBuf,
    pub glob: String,
    pub format: DropFormat,
    /// Per target column (in table order, mapped columns only): the source field.
    pub columns: Vec<(&'static str, String)>,
    pub personal: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub max_quarantine_share: f64,
    pub facilities: Vec<usize>,
    pub ranges: Vec<(usize, f64, f64)>,
    pub order: Vec<(usize, usize)>,
    pub max_rows_per_run: u64,
}

impl Pipeline {
    /// The next time the schedule fires after `after`, in `tz`.
    pub fn next_run(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.schedule.find_next_occurrence(&after.with_timezone(&tz), false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The time between the last two firings before `at`: what "one period" means
    /// for catching up.
    pub fn period(&self, at: DateTime<Utc>, tz: Tz) -> Option<chrono::Duration> {
        let local = at.with_timezone(&tz);
        let prev = self.schedule.find_previous_occurrence(&local, false).ok()?;
        let before = self.schedule.find_previous_occurrence(&prev, false).ok()?;
        Some(prev - before)
    }
}

/// Where pipeline files are read from: a folder, or the built-in copy.
pub fn load(dir: Option<&Path>, data_dir: &Path) -> Result<Vec<Pipeline>, Vec<String>> {
    let (files, mut errors) = crate::config::toml_files(dir, BUILT_IN);
    let mut pipelines = Vec::new();
    for f in files {
        match parse(&f.id, &f.text, data_dir) {
            Ok(p) => pipelines.push(p),
            Err(es) => errors.extend(es.into_iter().map(|e| format!("{}: {e}", f.origin))),
        }
    }
    let mut targets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in &pipelines {
        if p.target.kind != TableKind::Drop {
            targets.entry(p.target.name).or_default().push(&p.id);
        }
    }
    for (table, ids) in targets {
        if ids.len() > 1 {
            errors.push(format!("pipelines {} all write table {table}: one pipeline per table", ids.join(", ")));
        }
    }
    if errors.is_empty() { Ok(pipelines) } else { Err(errors) }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Parses and checks one file; every problem found is returned.
pub fn parse(id: &str, text: &str, data_dir: &Path) -> Result<Pipeline, Vec<String>> {
    let mut errors = Vec::new();
    if !valid_id(id) {
        errors.push(format!("the file name {id:?} is not an id (lower-case letters, digits, _ and -)"));
    }
    let file: PipelineFile = toml::from_str(text).map_err(|e| {
        let mut es = errors.clone();
        es.push(e.message().to_string() + &e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default());
        es
    })?;
    let schedule = match parse_schedule(&file.schedule) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(format!("schedule {:?}: {e}", file.schedule));
            None
        }
    };
    let target = schema::table(&file.target);
    match target {
        None => errors.push(format!(
            "target {:?} is not a lake table (one of: {})",
            file.target,
            schema::TABLES.iter().filter(|t| !t.kind.internal()).map(|t| t.name).collect::<Vec<_>>().join(", ")
        )),
        Some(t) if t.kind.internal() => errors.push(format!("target {:?} is written by homedoc itself", t.name)),
        _ => {}
    }
    let source = target.and_then(|t| check_source(file.source, t, data_dir, &mut errors));
    let validation = target.map(|t| check_validation(&file.validation, t, &mut errors));
    match (schedule, target, source, validation) {
        (Some(schedule), Some(target), Some(source), Some(validation)) if errors.is_empty() => Ok(Pipeline {
            id: id.to_string(),
            description: file.description,
            schedule_text: file.schedule,
            schedule,
            target,
            source,
            validation,
        }),
        _ => Err(errors),
    }
}

/// Standard crontab (five fields) or with seconds (six); weekdays 0-7 with Sunday as
/// 0 or 7, as in crontab(5).
pub fn parse_schedule(text: &str) -> Result<Cron, String> {
    let fields = text.split_whitespace().count();
    if !(fields == 5 || fields == 6) {
        return Err(format!("has {fields} fields; expected 5 (minute hour day month weekday) or 6 (seconds first)"));
    }
    CronParser::builder().seconds(Seconds::Optional).build().parse(text).map_err(|e| e.to_string())
}

fn check_source(
    source: SourceFile,
    target: &'static TableDef,
    data_dir: &Path,
    errors: &mut Vec<String>,
) -> Option<Source> {
    match source {
        SourceFile::Feed { entity } => {
            let Ok(entity) = entity.parse::<Entity>() else {
                errors.push(format!("source.entity {entity:?} is not a feed entity"));
                return None;
            };
            let expected = match entity {
                Entity::Account => Some("accounts"),
                Entity::Appointment => Some("appointments"),
                Entity::VideoCall => Some("video_calls"),
                Entity::Facility => Some("facilities"),
                _ => None,
            };
            if expected != Some(target.name) {
                errors.push(format!(
                    "source.entity {:?} cannot fill table {:?}{}",
                    entity.as_str(),
                    target.name,
                    expected.map(|e| format!(" (it fills {e:?})")).unwrap_or_else(|| " (no table takes it)".into())
                ));
                return None;
            }
            Some(Source::Feed(entity))
        }
        SourceFile::Drop { folder, glob, format, columns, personal } => {
            if target.kind != TableKind::Drop {
                errors.push(format!("a file drop cannot fill table {:?}", target.name));
                return None;
            }
            let full = if folder.is_absolute() { folder.clone() } else { data_dir.join(&folder) };
            if !full.is_dir() {
                errors.push(format!("source.folder {}: no such folder", full.display()));
            }
            if glob.is_empty() || glob.contains('/') {
                errors.push(format!("source.glob {glob:?} must be a file-name pattern (* and ?)"));
            }
            let mut mapped = Vec::new();
            for c in target.columns.iter().filter(|c| c.origin == Origin::Mapped) {
                match columns.get(c.name) {
                    Some(field) => mapped.push((c.name, field.clone())),
                    None => errors.push(format!("source.columns has no source field for column {:?}", c.name)),
                }
            }
            for name in columns.keys() {
                if !target.column(name).is_some_and(|c| c.origin == Origin::Mapped) {
                    errors.push(format!("source.columns.{name}: table {:?} has no such column", target.name));
                }
            }
            Some(Source::Drop(DropSource { folder: full, glob, format, columns: mapped, personal }))
        }
        SourceFile::Reference { file } => {
            let expected = match file.as_str() {
                "provinces_63.csv" => Some("provinces_63"),
                "provinces_34.csv" => Some("provinces_34"),
                "rollout.csv" => Some("phases"),
                "targets.csv" => Some("targets"),
                "projects.toml" => Some("projects"),
                _ => None,
            };
            if expected != Some(target.name) {
                errors.push(format!(
                    "source.file {file:?} cannot fill table {:?}{}",
                    target.name,
                    expected
                        .map(|e| format!(" (it fills {e:?})"))
                        .unwrap_or_else(|| " (not a reference table file)".into())
                ));
                return None;
            }
            Some(Source::Reference(file))
        }
    }
}

fn check_validation(v: &ValidationFile, target: &TableDef, errors: &mut Vec<String>) -> Validation {
    let mut index = |what: &str, name: &str, types: &[schema::ColType]| -> Option<usize> {
        match target.index(name) {
            Some(i) if types.contains(&target.columns[i].ty) => Some(i),
            Some(_) => {
                errors.push(format!("validation.{what}: column {name:?} has the wrong type"));
                None
            }
            None => {
                errors.push(format!("validation.{what}: table {:?} has no column {name:?}", target.name));
                None
            }
        }
    };
    use schema::ColType::*;
    let facilities = v.facilities.iter().filter_map(|c| index("facilities", c, &[Str])).collect();
    let ranges =
        v.ranges.iter().filter_map(|(c, [lo, hi])| index("ranges", c, &[I64, F64]).map(|i| (i, *lo, *hi))).collect();
    let order = v
        .order
        .iter()
        .filter_map(|[a, b]| Some((index("order", a, &[Timestamp, Date])?, index("order", b, &[Timestamp, Date])?)))
        .collect();
    if !(0.0..=1.0).contains(&v.max_quarantine_share) {
        errors.push(format!("validation.max_quarantine_share {} is not between 0 and 1", v.max_quarantine_share));
    }
    if v.max_rows_per_run == 0 {
        errors.push("validation.max_rows_per_run must be at least 1".into());
    }
    for (c, [lo, hi]) in &v.ranges {
        if lo > hi {
            errors.push(format!("validation.ranges.{c}: {lo} > {hi}"));
        }
    }
    Validation {
        max_quarantine_share: v.max_quarantine_share,
        facilities,
        ranges,
        order,
        max_rows_per_run: v.max_rows_per_run,
    }
}

/// `*` (any run of characters) and `?` (one character) in a file name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
