//! Dashboard files: `dashboards/<id>.toml`, one dashboard each: who may see it, what
//! it is scoped to, and its panels (a KPI or a report table, a chart kind and its
//! options). Parsed into tagged enums that reject unknown keys, then checked
//! against the SQL catalog; [`load`] reports every problem of every file at once.

use std::path::Path;

use serde::Deserialize;

use crate::kpi::{Catalog, Disaggregation, Grain, Text};
use crate::report::ReportName;
use crate::services::Role;

/// The dashboards shipped in the repository, built into the binary.
const BUILT_IN: &[(&str, &str)] = &[
    ("national", include_str!("../../dashboards/national.toml")),
    ("donor", include_str!("../../dashboards/donor.toml")),
    ("province", include_str!("../../dashboards/province.toml")),
    ("station", include_str!("../../dashboards/station.toml")),
    ("quality", include_str!("../../dashboards/quality.toml")),
];

/// The names of the built-in dashboard files (a test compares them with the folder).
pub fn built_in_ids() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(id, _)| *id).collect()
}

/// What a dashboard's figures are about, which decides the filters it takes and the
/// roles that may open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The whole country, by province.
    National,
    /// One donor project: drawn only from its donor-results report (suppressed).
    Project,
    /// One province of the 34 (or 63) set, by station.
    Province,
    /// One station.
    Station,
    /// The ingestion runs and the quarantine.
    Quality,
}

impl Scope {
    /// The roles that may ever see a dashboard of this scope: a dashboard file may
    /// narrow this, never widen it (a donor never sees unsuppressed figures).
    pub fn allowed_roles(self) -> &'static [Role] {
        match self {
            Scope::National | Scope::Quality => &[Role::Evaluator, Role::Admin],
            Scope::Project => &[Role::Donor, Role::Evaluator, Role::Admin],
            Scope::Province | Scope::Station => &[Role::ProvincialManager, Role::Evaluator, Role::Admin],
        }
    }

    /// The report whose tables a panel of this scope may show.
    pub fn report(self) -> Option<ReportName> {
        match self {
            Scope::National => Some(ReportName::NationalScorecard),
            Scope::Project => Some(ReportName::DonorResults),
            Scope::Province => Some(ReportName::ProvinceStations),
            Scope::Station | Scope::Quality => None,
        }
    }
}

/// The reporting unit of a bar or small-multiples panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Province,
    Station,
}

/// What a data-quality panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityView {
    /// Rows accepted and quarantined per pipeline over the period.
    Runs,
    /// Quarantined rows by reason over the period.
    QuarantineReasons,
    /// Live stations with no booking in the last weeks (the detector's threshold).
    QuietStations,
}

fn month() -> Grain {
    Grain::Month
}

fn twelve() -> u32 {
    12
}

/// A panel: an id (unique in its dashboard), an optional title (the KPI's title
/// otherwise) and what it draws.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(tag = "chart", rename_all = "snake_case", deny_unknown_fields)]
pub enum Panel {
    /// The KPI over the periods up to the chosen one, with its target line and the
    /// projection to the target date where the scope has a target.
    Line {
        id: String,
        title: Option<Text>,
        kpi: String,
        #[serde(default = "month")]
        grain: Grain,
        #[serde(default = "twelve")]
        periods: u32,
    },
    /// The KPI for the period by province or station, largest first, coloured by
    /// the status of the unit's target where it has one.
    Bars { id: String, title: Option<Text>, kpi: String, by: Unit },
    /// The KPI over time split by a group (for example call purpose), stacked.
    Stacked {
        id: String,
        title: Option<Text>,
        kpi: String,
        group: Disaggregation,
        #[serde(default = "month")]
        grain: Grain,
        #[serde(default = "twelve")]
        periods: u32,
    },
    /// The KPI by each group of each dimension, beside everyone's value.
    Equity { id: String, title: Option<Text>, kpi: String, groups: Vec<Disaggregation> },
    /// One small line chart per province or station, on one scale.
    Multiples {
        id: String,
        title: Option<Text>,
        kpi: String,
        by: Unit,
        #[serde(default = "month")]
        grain: Grain,
        #[serde(default = "twelve")]
        periods: u32,
    },
    /// The tile-grid map of the 34 provinces, shaded by the KPI.
    Map { id: String, title: Option<Text>, kpi: String },
    /// A table of the scope's report; drawn as bars of `value` by `label` when both
    /// are given (coloured by its `status` column if it has one).
    Report { id: String, title: Option<Text>, table: String, label: Option<String>, value: Option<String> },
    /// The targets of the scope (every target on a national dashboard, the province's
    /// on a province one) with % achieved drawn as bars coloured by status.
    Targets { id: String, title: Option<Text> },
    /// A view of the ingestion runs and the quarantine.
    Quality { id: String, title: Option<Text>, view: QualityView },
}

impl Panel {
    pub fn id(&self) -> &str {
        match self {
            Panel::Line { id, .. }
            | Panel::Bars { id, .. }
            | Panel::Stacked { id, .. }
            | Panel::Equity { id, .. }
            | Panel::Multiples { id, .. }
            | Panel::Map { id, .. }
            | Panel::Report { id, .. }
            | Panel::Targets { id, .. }
            | Panel::Quality { id, .. } => id,
        }
    }

    pub fn title(&self) -> Option<&Text> {
        match self {
            Panel::Line { title, .. }
            | Panel::Bars { title, .. }
            | Panel::Stacked { title, .. }
            | Panel::Equity { title, .. }
            | Panel::Multiples { title, .. }
            | Panel::Map { title, .. }
            | Panel::Report { title, .. }
            | Panel::Targets { title, .. }
            | Panel::Quality { title, .. } => title.as_ref(),
        }
    }

    pub fn kpi(&self) -> Option<&str> {
        match self {
            Panel::Line { kpi, .. }
            | Panel::Bars { kpi, .. }
            | Panel::Stacked { kpi, .. }
            | Panel::Equity { kpi, .. }
            | Panel::Multiples { kpi, .. }
            | Panel::Map { kpi, .. } => Some(kpi),
            Panel::Report { .. } | Panel::Targets { .. } | Panel::Quality { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardFile {
    title: Text,
    description: Text,
    scope: Scope,
    roles: Vec<Role>,
    panels: Vec<Panel>,
}

/// A checked dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dashboard {
    pub id: String,
    pub title: Text,
    pub description: Text,
    pub scope: Scope,
    pub roles: Vec<Role>,
    pub panels: Vec<Panel>,
}

impl Dashboard {
    pub fn visible_to(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The tables each report makes, for checking `report` panels.
fn report_tables(r: ReportName) -> &'static [&'static str] {
    match r {
        ReportName::NationalScorecard => &["targets", "provinces", "trend"],
        ReportName::DonorResults => &["targets", "counts_by_sex", "rates_by_sex", "suppression_audit"],
        ReportName::ProvinceStations => &["league", "low_uptake"],
    }
}

/// Parses and checks one file; every problem is returned, prefixed by `origin`.
fn parse(id: &str, origin: &str, text: &str, catalog: &Catalog) -> Result<Dashboard, Vec<String>> {
    let file: DashboardFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => return Err(vec![format!("{origin}: {}", e.to_string().trim_end())]),
    };
    let mut problems = Vec::new();
    let mut say = |m: String| problems.push(format!("{origin}: {m}"));
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
        say(format!("the file stem {id:?} is the dashboard's id: use lowercase letters, digits, '_' and '-'"));
    }
    let allowed = file.scope.allowed_roles();
    if file.roles.is_empty() {
        say("roles: name at least one role that may open the dashboard".into());
    }
    for r in &file.roles {
        if !allowed.contains(r) {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            say(format!("roles: a {r} may not see a {:?} dashboard (allowed: {})", file.scope, names.join(", ")));
        }
    }
    if file.panels.is_empty() {
        say("panels: a dashboard needs at least one panel".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &file.panels {
        let pid = p.id();
        if !seen.insert(pid.to_string()) {
            say(format!("panel {pid:?}: two panels with this id"));
        }
        for m in check_panel(p, file.scope, catalog) {
            say(format!("panel {pid:?}: {m}"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Dashboard {
        id: id.to_string(),
        title: file.title,
        description: file.description,
        scope: file.scope,
        roles: file.roles,
        panels: file.panels,
    })
}

fn check_panel(p: &Panel, scope: Scope, catalog: &Catalog) -> Vec<String> {
    let mut out = Vec::new();
    // Donors see only their suppressed report; the quality dashboard has no KPI.
    if p.kpi().is_some() && matches!(scope, Scope::Project | Scope::Quality) {
        out.push(format!("a {scope:?} dashboard draws from its report or the runs, not from a KPI"));
        return out;
    }
    if let Some(id) = p.kpi() {
        let Some(kpi) = catalog.kpi(id) else {
            out.push(format!("no KPI {id:?} (sql/kpi/{id}.sql)"));
            return out;
        };
        let has = |d: Disaggregation| kpi.meta.disaggregations.contains(&d);
        let unit_ok = |u: Unit| match u {
            Unit::Province => has(Disaggregation::Province),
            Unit::Station => has(Disaggregation::Station),
        };
        match p {
            Panel::Line { periods, .. } | Panel::Stacked { periods, .. } | Panel::Multiples { periods, .. }
                if !(2..=60).contains(periods) =>
            {
                out.push(format!("periods = {periods}: between 2 and 60"));
            }
            _ => {}
        }
        match p {
            Panel::Bars { by, .. } | Panel::Multiples { by, .. } => {
                if !unit_ok(*by) {
                    out.push(format!("KPI {id} has no {by:?} breakdown"));
                }
                if *by == Unit::Province && matches!(scope, Scope::Province | Scope::Station) {
                    out.push("a province or station dashboard breaks down by station, not province".into());
                }
                if *by == Unit::Station && scope == Scope::National {
                    out.push("a national dashboard breaks down by province (stations are thousands)".into());
                }
            }
            Panel::Map { .. } if !has(Disaggregation::Province) => {
                out.push(format!("KPI {id} has no province breakdown"))
            }
            Panel::Map { .. } if scope != Scope::National => out.push("the map is for national dashboards".into()),
            Panel::Stacked { group, .. } if !group.is_group() || !has(*group) => {
                out.push(format!("KPI {id} has no {} group", group.as_str()))
            }
            Panel::Equity { groups, .. } => {
                if groups.is_empty() {
                    out.push("groups: name at least one".into());
                }
                for g in groups.iter().filter(|g| !g.is_group() || !has(**g)) {
                    out.push(format!("KPI {id} has no {} group", g.as_str()));
                }
            }
            _ => {}
        }
    }
    match p {
        Panel::Report { table, label, value, .. } => match scope.report() {
            None => out.push(format!("a {scope:?} dashboard has no report to take tables from")),
            Some(r) if !report_tables(r).contains(&table.as_str()) => {
                out.push(format!("report {r:?} has no table {table:?} (it has: {})", report_tables(r).join(", ")))
            }
            Some(_) if label.is_some() != value.is_some() => {
                out.push("label and value go together (bars), or neither (a table)".into())
            }
            Some(_) => {}
        },
        Panel::Quality { .. } if scope != Scope::Quality => {
            out.push("quality views belong on the quality dashboard".into())
        }
        Panel::Targets { .. } if !matches!(scope, Scope::National | Scope::Province) => {
            out.push("targets are shown on national and province dashboards (donors get their report's)".into())
        }
        _ => {}
    }
    out
}

/// The dashboards from a folder, or the built-in ones; every problem of every file.
pub fn load(dir: Option<&Path>, catalog: &Catalog) -> Result<Vec<Dashboard>, Vec<String>> {
    let (files, mut problems) = crate::config::toml_files(dir, BUILT_IN);
    let mut out = Vec::new();
    for f in files {
        match parse(&f.id, &f.origin, &f.text, catalog) {
            Ok(d) => out.push(d),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().expect("the built-in SQL parses")
    }

    #[test]
    fn the_built_in_dashboards_check() {
        let all = load(None, &catalog()).unwrap_or_else(|p| panic!("{}", p.join("\n")));
        assert_eq!(all.len(), BUILT_IN.len());
    }

    #[test]
    fn every_problem_of_a_file_is_reported_at_once() {
        let text = r#"
            title = { vi = "X", en = "X" }
            description = { vi = "X", en = "X" }
            scope = "national"
            roles = ["donor"]
            [[panels]]
            chart = "line"
            id = "a"
            kpi = "no_such_kpi"
            [[panels]]
            chart = "stacked"
            id = "a"
            kpi = "video_calls"
            group = "sex"
            [[panels]]
            chart = "bars"
            id = "b"
            kpi = "appointments_booked"
            by = "station"
        "#;
        let problems = parse("x", "x.toml", text, &catalog()).unwrap_err();
        let all = problems.join("\n");
        for expected in [
            "a donor may not see",
            "no KPI \"no_such_kpi\"",
            "two panels with this id",
            "no sex group",
            "breaks down by province",
        ] {
            assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
        }
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        let base = "title = { vi = \"X\", en = \"X\" }\ndescription = { vi = \"X\", en = \"X\" }\nscope = \"national\"\nroles = [\"evaluator\"]\n";
        let unknown_key =
            format!("{base}[[panels]]\nchart = \"map\"\nid = \"m\"\nkpi = \"accounts_registered\"\ncolour = \"red\"\n");
        assert!(parse("x", "x.toml", &unknown_key, &catalog()).unwrap_err()[0].contains("unknown field `colour`"));
        let unknown_kind = format!("{base}[[panels]]\nchart = \"pie\"\nid = \"m\"\n");
        assert!(parse("x", "x.toml", &unknown_kind, &catalog()).unwrap_err()[0].contains("unknown variant `pie`"));
        let top_level =
            format!("{base}colour = 1\n[[panels]]\nchart = \"map\"\nid = \"m\"\nkpi = \"accounts_registered\"\n");
        assert!(parse("x", "x.toml", &top_level, &catalog()).unwrap_err()[0].contains("unknown field `colour`"));
    }
}
