//! The SQL catalog: `sql/views/<name>.sql` (cleaned views over the lake tables) and
//! `sql/kpi/<id>.sql` (one KPI per file). A KPI file opens with a metadata header,
//! TOML written in `--` comment lines, parsed into [`KpiMeta`] (unknown keys are
//! errors); the rest of the file is the query. [`Catalog::load`] reports every
//! problem of every file at once. Whether each query plans against the lake's
//! schemas is checked by the engine ([`super::Engine::check`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The views and KPIs shipped in the repository, built into the binary. A test
/// compares these lists with the folders, so a new file cannot be left out.
const BUILT_IN_VIEWS: &[(&str, &str)] = &[
    ("facility_current", include_str!("../../sql/views/facility_current.sql")),
    ("stations", include_str!("../../sql/views/stations.sql")),
    ("account_current", include_str!("../../sql/views/account_current.sql")),
    ("appointment_current", include_str!("../../sql/views/appointment_current.sql")),
    ("video_call_current", include_str!("../../sql/views/video_call_current.sql")),
    ("telemedicine_session", include_str!("../../sql/views/telemedicine_session.sql")),
    ("training_completion", include_str!("../../sql/views/training_completion.sql")),
];

const BUILT_IN_KPIS: &[(&str, &str)] = &[
    ("accounts_registered", include_str!("../../sql/kpi/accounts_registered.sql")),
    ("accounts_registered_cumulative", include_str!("../../sql/kpi/accounts_registered_cumulative.sql")),
    ("accounts_per_1000_population", include_str!("../../sql/kpi/accounts_per_1000_population.sql")),
    ("accounts_that_booked", include_str!("../../sql/kpi/accounts_that_booked.sql")),
    ("booking_conversion_rate", include_str!("../../sql/kpi/booking_conversion_rate.sql")),
    ("appointments_booked", include_str!("../../sql/kpi/appointments_booked.sql")),
    ("appointments_completed", include_str!("../../sql/kpi/appointments_completed.sql")),
    ("no_show_rate", include_str!("../../sql/kpi/no_show_rate.sql")),
    ("cancellation_rate", include_str!("../../sql/kpi/cancellation_rate.sql")),
    ("video_calls", include_str!("../../sql/kpi/video_calls.sql")),
    ("video_call_minutes", include_str!("../../sql/kpi/video_call_minutes.sql")),
    ("teleconsults_resolved_share", include_str!("../../sql/kpi/teleconsults_resolved_share.sql")),
    ("telemedicine_sessions", include_str!("../../sql/kpi/telemedicine_sessions.sql")),
    ("live_station_activity_share", include_str!("../../sql/kpi/live_station_activity_share.sql")),
    ("health_workers_trained", include_str!("../../sql/kpi/health_workers_trained.sql")),
    ("facilities_with_trained_worker", include_str!("../../sql/kpi/facilities_with_trained_worker.sql")),
    ("course_completions", include_str!("../../sql/kpi/course_completions.sql")),
    ("bookings_per_1000_accounts", include_str!("../../sql/kpi/bookings_per_1000_accounts.sql")),
];

/// How each rollup table is computed from its source (`sql/rollups/<table>.sql`).
const BUILT_IN_ROLLUPS: &[(&str, &str)] = &[
    ("account_daily", include_str!("../../sql/rollups/account_daily.sql")),
    ("appointment_daily", include_str!("../../sql/rollups/appointment_daily.sql")),
    ("video_call_daily", include_str!("../../sql/rollups/video_call_daily.sql")),
    ("telemedicine_daily", include_str!("../../sql/rollups/telemedicine_daily.sql")),
    ("training_daily", include_str!("../../sql/rollups/training_daily.sql")),
    ("holder_daily", include_str!("../../sql/rollups/holder_daily.sql")),
];

/// The KPIs that can be served from the rollups, each computed from them
/// (`sql/rollups/kpi/<id>.sql`, the same output as `sql/kpi/<id>.sql`).
const BUILT_IN_ROLLUP_KPIS: &[(&str, &str)] = &[
    ("accounts_registered", include_str!("../../sql/rollups/kpi/accounts_registered.sql")),
    ("accounts_registered_cumulative", include_str!("../../sql/rollups/kpi/accounts_registered_cumulative.sql")),
    ("accounts_per_1000_population", include_str!("../../sql/rollups/kpi/accounts_per_1000_population.sql")),
    ("appointments_booked", include_str!("../../sql/rollups/kpi/appointments_booked.sql")),
    ("appointments_completed", include_str!("../../sql/rollups/kpi/appointments_completed.sql")),
    ("no_show_rate", include_str!("../../sql/rollups/kpi/no_show_rate.sql")),
    ("cancellation_rate", include_str!("../../sql/rollups/kpi/cancellation_rate.sql")),
    ("video_calls", include_str!("../../sql/rollups/kpi/video_calls.sql")),
    ("video_call_minutes", include_str!("../../sql/rollups/kpi/video_call_minutes.sql")),
    ("teleconsults_resolved_share", include_str!("../../sql/rollups/kpi/teleconsults_resolved_share.sql")),
    ("telemedicine_sessions", include_str!("../../sql/rollups/kpi/telemedicine_sessions.sql")),
    ("live_station_activity_share", include_str!("../../sql/rollups/kpi/live_station_activity_share.sql")),
    ("health_workers_trained", include_str!("../../sql/rollups/kpi/health_workers_trained.sql")),
    ("facilities_with_trained_worker", include_str!("../../sql/rollups/kpi/facilities_with_trained_worker.sql")),
    ("course_completions", include_str!("../../sql/rollups/kpi/course_completions.sql")),
    ("bookings_per_1000_accounts", include_str!("../../sql/rollups/kpi/bookings_per_1000_accounts.sql")),
    ("booking_conversion_rate", include_str!("../../sql/rollups/kpi/booking_conversion_rate.sql")),
    ("accounts_that_booked", include_str!("../../sql/rollups/kpi/accounts_that_booked.sql")),
];

/// The names of the built-in files by folder (`views`, `kpi`, `rollups`,
/// `rollups/kpi`), for the test that compares them with `sql/`.
pub fn built_in_names() -> Vec<(&'static str, Vec<&'static str>)> {
    let names = |list: &[(&'static str, &str)]| list.iter().map(|(n, _)| *n).collect();
    vec![
        ("views", names(BUILT_IN_VIEWS)),
        ("kpi", names(BUILT_IN_KPIS)),
        ("rollups", names(BUILT_IN_ROLLUPS)),
        ("rollups/kpi", names(BUILT_IN_ROLLUP_KPIS)),
    ]
}

/// Every problem found in the SQL files, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct CatalogErrors(pub Vec<String>);

/// A text in both languages of the reports.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub vi: String,
    pub en: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

/// What a KPI's value measures, which decides how it is computed from the query's
/// numerator and denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueUnit {
    /// A count of events, people or places: the numerator itself.
    Count,
    /// A sum of call minutes: the numerator itself.
    Minutes,
    /// 100 × numerator ÷ denominator.
    Percent,
    /// 1,000 × numerator ÷ denominator.
    #[serde(rename = "per_1000")]
    Per1000,
}

impl ValueUnit {
    pub fn is_ratio(self) -> bool {
        matches!(self, ValueUnit::Percent | ValueUnit::Per1000)
    }

    /// The value from a numerator and denominator (`None` when the denominator is 0).
    pub fn value(self, numerator: f64, denominator: Option<f64>) -> Option<f64> {
        match self {
            ValueUnit::Count | ValueUnit::Minutes => Some(numerator),
            ValueUnit::Percent => denominator.filter(|d| *d > 0.0).map(|d| 100.0 * numerator / d),
            ValueUnit::Per1000 => denominator.filter(|d| *d > 0.0).map(|d| 1000.0 * numerator / d),
        }
    }
}

/// How a KPI may be broken down beyond the national figure. The reporting unit
/// (province or station) and one group dimension can be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disaggregation {
    Province,
    Station,
    Sex,
    AgeBand,
    EthnicMinority,
    Purpose,
}

impl Disaggregation {
    pub const ALL: [Disaggregation; 6] = [
        Disaggregation::Province,
        Disaggregation::Station,
        Disaggregation::Sex,
        Disaggregation::AgeBand,
        Disaggregation::EthnicMinority,
        Disaggregation::Purpose,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disaggregation::Province => "province",
            Disaggregation::Station => "station",
            Disaggregation::Sex => "sex",
            Disaggregation::AgeBand => "age_band",
            Disaggregation::EthnicMinority => "ethnic_minority",
            Disaggregation::Purpose => "purpose",
        }
    }

    /// A group dimension (as opposed to a reporting unit).
    pub fn is_group(self) -> bool {
        !matches!(self, Disaggregation::Province | Disaggregation::Station)
    }
}

impl std::str::FromStr for Disaggregation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Disaggregation::ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| {
            format!(
                "unknown disaggregation {s:?} (expected one of: {})",
                Disaggregation::ALL.map(|d| d.as_str()).join(", ")
            )
        })
    }
}

/// A KPI file's header.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct KpiMeta {
    pub title: Text,
    pub definition: Text,
    pub unit: ValueUnit,
    /// What is counted above the line, for ratios.
    #[serde(default)]
    pub numerator: Option<Text>,
    /// What is counted below the line, for ratios.
    #[serde(default)]
    pub denominator: Option<Text>,
    pub higher_is_better: bool,
    /// Whether the figure over two adjacent periods is the sum of the figures over
    /// each (counts of events and minutes; not distinct people or places, nor
    /// ratios or to-date stocks). Targets then read each day once, in disjoint
    /// pieces, rather than once per overlapping window.
    #[serde(default)]
    pub additive: bool,
    /// Breakdowns the query supports besides the national figure.
    #[serde(default)]
    pub disaggregations: Vec<Disaggregation>,
}

#[derive(Debug, Clone)]
pub struct Kpi {
    pub id: String,
    pub meta: KpiMeta,
    pub sql: String,
    /// The same figures computed from the rollups, where the KPI has such a file.
    pub rollup_sql: Option<String>,
}

#[derive(Debug, Clone)]
pub struct View {
    pub name: String,
    pub sql: String,
}

/// Every view and KPI, checked for form (not yet planned).
#[derive(Debug, Clone)]
pub struct Catalog {
    pub views: Vec<View>,
    pub kpis: BTreeMap<String, Kpi>,
    /// How each rollup table is computed (`rollups/<table>.sql`).
    pub rollups: Vec<View>,
    /// The low-uptake thresholds (`low_uptake.toml`; the built-in ones where a
    /// folder has no such file).
    pub uptake: super::uptake::UptakeThresholds,
    /// Where it was read from, for messages: a folder, or "built-in".
    pub origin: String,
}

/// Splits a KPI file into its header (the leading `--` lines, prefix removed) and
/// the query.
fn split_header(text: &str) -> (String, String) {
    let mut header = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.peek() {
        let Some(rest) = line.trim_start().strip_prefix("--") else { break };
        header.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        header.push('\n');
        lines.next();
    }
    (header, lines.collect::<Vec<_>>().join("\n"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase()
}

impl Catalog {
    pub fn embedded() -> Result<Self, CatalogErrors> {
        Self::load(None)
    }

    /// The files of `dir` (`views/*.sql`, `kpi/*.sql`, `rollups/*.sql`,
    /// `rollups/kpi/*.sql`), or the built-in copy.
    pub fn load(dir: Option<&Path>) -> Result<Self, CatalogErrors> {
        match Self::load_partial(dir) {
            (c, e) if e.is_empty() => Ok(c),
            (_, e) => Err(CatalogErrors(e)),
        }
    }

    /// Like [`Catalog::load`], but also returns the files that did parse beside the
    /// problems, so that `homedoc check` can plan those too and report everything.
    pub fn load_partial(dir: Option<&Path>) -> (Self, Vec<String>) {
        let Some(dir) = dir else {
            let own = |list: &[(&str, &str)]| list.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
            let files = [own(BUILT_IN_VIEWS), own(BUILT_IN_KPIS), own(BUILT_IN_ROLLUPS), own(BUILT_IN_ROLLUP_KPIS)];
            return Self::parse("built-in".into(), files);
        };
        let mut errors = Vec::new();
        let mut read = |sub: &str| -> Vec<(String, String)> {
            let folder = dir.join(sub);
            let entries = match std::fs::read_dir(&folder) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(format!("{}: {e}", folder.display()));
                    return Vec::new();
                }
            };
            let mut files = Vec::new();
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("sql") {
                    continue;
                }
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                match std::fs::read_to_string(&path) {
                    Ok(text) => files.push((stem, text)),
                    Err(e) => errors.push(format!("{}: {e}", path.display())),
                }
            }
            files.sort();
            files
        };
        let files = [read("views"), read("kpi"), read("rollups"), read("rollups/kpi")];
        let (mut catalog, more) = Self::parse(dir.display().to_string(), files);
        errors.extend(more);
        let thresholds = dir.join("low_uptake.toml");
        match std::fs::read_to_string(&thresholds) {
            Ok(text) => match super::uptake::UptakeThresholds::parse(&text) {
                Ok(t) => catalog.uptake = t,
                Err(e) => errors.push(format!("low_uptake.toml: {e}")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(format!("{}: {e}", thresholds.display())),
        }
        (catalog, errors)
    }

    /// The catalog of the files that parsed, and the problems of the others.
    /// `files`: views, KPIs, rollups and KPIs from rollups, as (stem, text).
    fn parse(origin: String, files: [Vec<(String, String)>; 4]) -> (Self, Vec<String>) {
        let [views, kpis, rollups, rollup_kpis] = files;
        let mut errors = Vec::new();
        let mut out = Catalog {
            views: Vec::new(),
            kpis: BTreeMap::new(),
            rollups: Vec::new(),
            uptake: Default::default(),
            origin,
        };
        for (name, sql) in views {
            if !valid_name(&name) {
                errors.push(format!("views/{name}.sql: a view name is lower-case letters, digits and _"));
            } else if crate::lake::schema::table(&name).is_some() {
                errors.push(format!("views/{name}.sql: {name:?} is already a lake table"));
            }
            out.views.push(View { name, sql });
        }
        for (id, text) in kpis {
            let file = format!("kpi/{id}.sql");
            if !valid_name(&id) {
                errors.push(format!("{file}: a KPI id is lower-case letters, digits and _"));
            }
            let (header, sql) = split_header(&text);
            let meta: KpiMeta = match toml::from_str(&header) {
                Ok(m) => m,
                Err(e) => {
                    errors.push(format!("{file}: header: {}", e.to_string().trim_end().replace('\n', " ")));
                    continue;
                }
            };
            let ratio = meta.unit.is_ratio();
            if ratio != (meta.numerator.is_some() && meta.denominator.is_some()) {
                errors.push(if ratio {
                    format!("{file}: a ratio (unit {:?}) names its numerator and denominator", meta.unit)
                } else {
                    format!("{file}: only ratios name a numerator and denominator")
                });
            }
            if sql.trim().is_empty() {
                errors.push(format!("{file}: no query after the header"));
            }
            if out.views.iter().any(|v| v.name == id) {
                errors.push(format!("{file}: {id:?} is also a view"));
            }
            out.kpis.insert(id.clone(), Kpi { id, meta, sql, rollup_sql: None });
        }
        for (name, sql) in rollups {
            let derived =
                crate::lake::schema::table(&name).is_some_and(|t| t.kind == crate::lake::schema::TableKind::Derived);
            if crate::rollup::ROLLUPS.iter().all(|r| r.table.name != name) || !derived {
                errors.push(format!("rollups/{name}.sql: {name:?} is not a rollup table"));
            }
            out.rollups.push(View { name, sql });
        }
        for r in crate::rollup::ROLLUPS {
            if out.rollups.iter().all(|v| v.name != r.table.name) {
                errors.push(format!("rollups/{}.sql: missing (it computes the rollup table)", r.table.name));
            }
        }
        for (id, sql) in rollup_kpis {
            match out.kpis.get_mut(&id) {
                Some(kpi) => kpi.rollup_sql = Some(sql),
                None => errors.push(format!("rollups/kpi/{id}.sql: there is no kpi/{id}.sql")),
            }
        }
        (out, errors)
    }

    pub fn rollup(&self, table: &str) -> Option<&View> {
        self.rollups.iter().find(|v| v.name == table)
    }

    pub fn kpi(&self, id: &str) -> Option<&Kpi> {
        self.kpis.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_leading_comment_lines() {
        let (h, q) = split_header("-- unit = \"count\"\n--title = 1\n\nSELECT 1 -- trailing\n-- not header");
        assert_eq!(h, "unit = \"count\"\ntitle = 1\n");
        assert_eq!(q, "\nSELECT 1 -- trailing\n-- not header");
    }

    #[test]
    fn every_header_problem_of_every_file_is_reported() {
        let good = "-- title = { vi = \"a\", en = \"b\" }\n-- definition = { vi = \"a\", en = \"b\" }\n\
                    -- unit = \"count\"\n-- higher_is_better = true\nSELECT 1";
        let kpis = vec![
            ("ok".to_string(), good.to_string()),
            ("Bad-Name".to_string(), good.to_string()),
            ("typo".to_string(), good.replace("higher_is_better", "higher_is_beter")),
            ("ratio".to_string(), good.replace("\"count\"", "\"percent\"")),
            ("empty".to_string(), good.replace("SELECT 1", "")),
            ("disagg".to_string(), good.replace("SELECT 1", "-- disaggregations = [\"district\"]\nSELECT 1")),
        ];
        let rollups = vec![("facilities".to_string(), "SELECT 1".to_string())];
        let rollup_kpis = vec![("nosuch".to_string(), "SELECT 1".to_string())];
        let views = vec![("accounts".into(), "SELECT 1".into())];
        let (catalog, e) = Catalog::parse("test".into(), [views, kpis, rollups, rollup_kpis]);
        let text = e.join("\n");
        for needle in [
            "views/accounts.sql: \"accounts\" is already a lake table",
            "kpi/Bad-Name.sql: a KPI id",
            "kpi/typo.sql: header: ",
            "kpi/ratio.sql: a ratio",
            "kpi/empty.sql: no query",
            "kpi/disagg.sql: header: ",
            "rollups/facilities.sql: \"facilities\" is not a rollup table",
            "rollups/appointment_daily.sql: missing",
            "rollups/kpi/nosuch.sql: there is no kpi/nosuch.sql",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        // Every rollup file is missing: one error each.
        assert_eq!(e.len(), 8 + crate::rollup::ROLLUPS.len(), "{text}");
        // The files that parsed are kept, so that they can still be planned.
        assert!(catalog.kpis.contains_key("ok"));
    }

    #[test]
    fn the_built_in_catalog_parses() {
        let c = Catalog::embedded().unwrap_or_else(|e| panic!("{e}"));
        assert!(c.kpis.len() >= 18);
        assert!(c.kpis.values().all(|k| !k.meta.title.vi.is_empty() && !k.meta.title.en.is_empty()));
    }
}
