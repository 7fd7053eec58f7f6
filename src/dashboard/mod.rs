//! Dashboards: what each panel of a dashboard file shows for a set of filters
//! (period, boundary set, language, and the province, project or station the
//! scope needs), as a chart and the data table behind it. A built view is also a
//! [`Report`], so that what a user sees downloads as CSV, XLSX or HTML.

pub mod config;
mod panels;
mod quality;

use chrono::NaiveDate;

pub use config::{Dashboard, Panel, QualityView, Scope, Unit};

use crate::chart::Chart;
use crate::domain::BoundarySet;
use crate::kpi::targets::{TargetRow, Thresholds};
use crate::kpi::uptake::UptakeThresholds;
use crate::kpi::{Engine, KpiError, Lang, Period, Snapshot};
use crate::report::{Freshness, Report, ReportError, Table};

/// What a view is asked for. The caller has already narrowed `province`,
/// `project` and `station` to the user's scope.
#[derive(Debug, Clone)]
pub struct Filters {
    pub period: Period,
    pub boundary: BoundarySet,
    pub lang: Lang,
    /// Province scope: a code of `boundary`.
    pub province: Option<String>,
    /// Project scope: a project id.
    pub project: Option<String>,
    /// Station scope: a facility code.
    pub station: Option<String>,
    pub targets: Thresholds,
    pub uptake: UptakeThresholds,
    /// k per audience, and whom the view is for: a manager's panels hide small
    /// counts; donor reports are suppressed whoever reads them.
    pub suppression: crate::config::Suppression,
    pub audience: crate::config::Audience,
}

impl Filters {
    /// The k the view's KPI panels suppress with, if its audience has one.
    pub fn k(&self) -> Option<u32> {
        self.suppression.k_for(self.audience)
    }
}

/// One panel as drawn: its chart (none for a table-only panel or when there is
/// nothing to draw) and its data table.
#[derive(Debug, Clone)]
pub struct PanelView {
    pub id: String,
    pub title: String,
    pub chart: Option<Chart>,
    pub table: Table,
    /// How long computing and drawing the panel took (pages send it as
    /// Server-Timing, the benchmark reads it). Panels are built side by side, so
    /// their times overlap, and a panel waiting for the targets or the report
    /// another panel computes includes that wait.
    pub elapsed: std::time::Duration,
}

/// A dashboard built for one set of filters.
#[derive(Debug, Clone)]
pub struct View {
    pub dashboard: String,
    pub title: String,
    /// What the scope reads as, for the heading: "Hà Nội", a project id, a station.
    pub subject: Option<String>,
    pub period: Period,
    pub lang: Lang,
    pub snapshot: Snapshot,
    pub freshness: Vec<Freshness>,
    pub panels: Vec<PanelView>,
}

impl View {
    /// The view's tables as a report, for downloads.
    pub fn report(&self) -> Report {
        let title = match &self.subject {
            Some(s) => format!("{}: {s}", self.title),
            None => self.title.clone(),
        };
        Report {
            name: format!("dashboard-{}", self.dashboard),
            title,
            period: self.period.clone(),
            lang: self.lang,
            snapshot: self.snapshot.clone(),
            freshness: self.freshness.clone(),
            tables: self
                .panels
                .iter()
                .map(|p| Table { figures: p.chart.iter().cloned().collect(), ..p.table.clone() })
                .collect(),
        }
    }
}

/// What building a view may need more than once, computed at most once: the panels
/// are built side by side, and the first to need the targets or the report computes
/// them while any other waits.
struct Context<'a> {
    engine: &'a Engine,
    dashboard: &'a Dashboard,
    f: &'a Filters,
    targets: tokio::sync::OnceCell<Vec<TargetRow>>,
    report: tokio::sync::OnceCell<Report>,
}

impl Context<'_> {
    /// The `scope_id` a province target of the view's province carries ("34:08").
    fn province_scope_id(&self) -> String {
        format!("{}:{}", self.f.boundary, self.f.province.as_deref().unwrap_or_default())
    }

    async fn targets(&self) -> Result<&[TargetRow], KpiError> {
        let rows = self
            .targets
            .get_or_try_init(|| async {
                // Only the targets the dashboard's scope shows are computed.
                let f = self.f;
                let province = self.province_scope_id();
                let project = f.project.clone().unwrap_or_default();
                let scope = self.dashboard.scope;
                let keep = |s: &str, id: &str| match scope {
                    Scope::National => true,
                    Scope::Province => s == "province" && id == province,
                    Scope::Project => s == "project" && id == project,
                    Scope::Station | Scope::Quality => false,
                };
                self.engine.targets_where(f.period.end, f.targets, keep).await
            })
            .await?;
        Ok(rows)
    }

    fn t(&self, vi: &str, en: &str) -> String {
        crate::report::tr(self.f.lang, vi, en)
    }

    fn kpi_title(&self, id: &str) -> String {
        self.engine.catalog().kpi(id).map_or(id.to_string(), |k| k.meta.title.get(self.f.lang).to_string())
    }
}

/// Checks the filters against the dashboard's scope: each scope needs its subject.
fn subject(engine: &Engine, d: &Dashboard, f: &Filters) -> Result<Option<String>, ReportError> {
    let need = |what: &str| ReportError::Usage(format!("the {} dashboard needs {what}", d.id));
    match d.scope {
        Scope::National | Scope::Quality => Ok(None),
        Scope::Project => f.project.clone().map(Some).ok_or_else(|| need("a project")),
        Scope::Province => {
            let code = f.province.as_deref().ok_or_else(|| need("a province"))?;
            let name = engine.province_name(f.boundary, code).ok_or_else(|| {
                ReportError::Usage(format!("{code:?} is not a province code of the {} set", f.boundary))
            })?;
            Ok(Some(name.to_string()))
        }
        Scope::Station => {
            let code = f.station.as_deref().ok_or_else(|| need("a station"))?;
            let s = engine
                .stations(f.boundary)
                .find(|s| s.code == code)
                .ok_or_else(|| ReportError::Usage(format!("{code:?} is not a commune health station")))?;
            Ok(Some(format!("{} ({code})", s.name)))
        }
    }
}

/// The province of a station, in the filters' boundary set.
pub fn station_province(engine: &Engine, set: BoundarySet, station: &str) -> Option<String> {
    engine.stations(set).find(|s| s.code == station).map(|s| s.province.to_string())
}

/// Builds every panel of `d` for `f`.
pub async fn build(engine: &Engine, d: &Dashboard, f: &Filters) -> Result<View, ReportError> {
    let subject = subject(engine, d, f)?;
    let cx = Context {
        engine,
        dashboard: d,
        f,
        targets: tokio::sync::OnceCell::new(),
        report: tokio::sync::OnceCell::new(),
    };
    // Side by side: a panel's queries leave a core idle much of the time (planning,
    // single-threaded join builds), which another panel's can use.
    let panels = futures::future::try_join_all(d.panels.iter().map(|p| panels::build(&cx, p))).await?;
    Ok(View {
        dashboard: d.id.clone(),
        title: d.title.get(f.lang).to_string(),
        subject,
        period: f.period.clone(),
        lang: f.lang,
        snapshot: engine.snapshot().clone(),
        freshness: crate::report::freshness(engine).await?,
        panels,
    })
}

/// The last `n` periods of `grain` up to the one holding `end`, as one range.
fn back(end: NaiveDate, grain: crate::kpi::Grain, n: u32) -> Period {
    let last = grain.containing(end);
    let mut first = last.clone();
    for _ in 1..n {
        first = first.previous();
    }
    Period::range(first.start, last.end).expect("first before last")
}
