//! The commands behind the CLI, as library functions that take settings and write
//! their report to a writer, so that `main.rs` only parses arguments.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Settings;
use crate::generate::{self, Options, Outcome};
use crate::reference::Reference;
use crate::store::{self, Entity, SqlStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceErrors),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Generate(#[from] generate::GenerateError),
    #[error(transparent)]
    Measure(#[from] generate::measure::MeasureError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Clock(#[from] crate::clock::ClockError),
    #[error(transparent)]
    Service(#[from] crate::services::ServiceError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Kpi(#[from] crate::kpi::KpiError),
    #[error(transparent)]
    Rollup(#[from] crate::rollup::RollupError),
}

/// A report's own failures (a missing project, a range DHIS2 has no period for, a
/// file that cannot be written) are told as they are; the engine's keep their kind.
impl From<crate::report::ReportError> for AppError {
    fn from(e: crate::report::ReportError) -> Self {
        match e {
            crate::report::ReportError::Kpi(k) => AppError::Kpi(k),
            other => AppError::Usage(other.to_string()),
        }
    }
}

pub fn reference(settings: &Settings) -> Result<Reference, AppError> {
    Ok(Reference::load(settings.reference_dir.as_deref())?)
}

pub async fn open_store(settings: &Settings) -> Result<SqlStore, AppError> {
    Ok(SqlStore::connect(&settings.database_url).await?)
}

/// `homedoc check`: everything that can be checked before anything runs (reference
/// data, pipelines, the SQL views and KPIs planned against the lake's schemas),
/// every problem at once.
pub async fn check(settings: &Settings, out: &mut impl Write) -> Result<(), AppError> {
    let mut problems = Vec::new();
    let reference = reference(settings);
    match &reference {
        Ok(r) => writeln!(
            out,
            "reference data ({}): ok: {} + {} provinces, {} projects, {} targets, {} published results",
            r.origin,
            r.provinces_63.len(),
            r.provinces_34.len(),
            r.projects.len(),
            r.targets.len(),
            r.published.len()
        )?,
        Err(e) => problems.push(e.to_string()),
    }
    match ingest::load_pipelines(settings) {
        Ok(ps) => writeln!(
            out,
            "pipelines ({}): ok: {}",
            settings.pipelines_dir.as_ref().map_or("built-in".to_string(), |d| d.display().to_string()),
            ps.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        )?,
        Err(e) => problems.push(e.to_string()),
    }
    let (catalog, unparsed) = crate::kpi::Catalog::load_partial(settings.sql_dir.as_deref());
    let (views, kpis, origin) = (catalog.views.len(), catalog.kpis.len(), catalog.origin.clone());
    let engine = crate::kpi::Engine::empty(std::sync::Arc::new(catalog), settings.timezone)?;
    let planned = engine.check().await;
    if unparsed.is_empty() && planned.is_empty() {
        writeln!(out, "sql ({origin}): ok: {views} views, {kpis} KPIs planned against the lake's tables")?;
    }
    problems.extend(unparsed);
    problems.extend(planned);
    match crate::dashboard::config::load(settings.dashboards_dir.as_deref(), engine.catalog()) {
        Ok(ds) => writeln!(
            out,
            "dashboards ({}): ok: {}",
            settings.dashboards_dir.as_ref().map_or("built-in".to_string(), |d| d.display().to_string()),
            ds.iter().map(|d| d.id.as_str()).collect::<Vec<_>>().join(", ")
        )?,
        Err(e) => problems.extend(e),
    }
    match crate::report::dhis2::load(settings.sql_dir.as_deref()) {
        Ok(m) => problems.extend(m.problems(engine.catalog())),
        Err(e) => problems.push(e),
    }
    // Every target must name a KPI, or the scorecard could not compute it.
    if let Ok(r) = &reference {
        let unknown: BTreeSet<&str> =
            r.targets.iter().map(|t| t.indicator.as_str()).filter(|i| engine.catalog().kpi(i).is_none()).collect();
        for i in unknown {
            problems.push(format!("targets.csv: indicator {i:?} has no KPI file sql/kpi/{i}.sql"));
        }
    }
    if !problems.is_empty() {
        return Err(AppError::Usage(problems.join("\n")));
    }
    writeln!(
        out,
        "config: ok: database {}, lake {}, timezone {}",
        redact(&settings.database_url),
        settings.lake,
        settings.timezone
    )?;
    Ok(())
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Removes a previous generation from a SQLite data dir (`generate --force`).
pub fn clear_generated(settings: &Settings) -> Result<(), AppError> {
    let Some(path) = settings.database_url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p)) else {
        return Err(AppError::Usage(
            "--force only clears a SQLite store; drop and recreate a PostgreSQL database yourself".into(),
        ));
    };
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        if Path::new(&file).exists() {
            std::fs::remove_file(&file)?;
        }
    }
    let drops = settings.data_dir.join(generate::DROPS_DIR);
    if drops.exists() {
        std::fs::remove_dir_all(drops)?;
    }
    let truth = settings.data_dir.join(generate::GROUND_TRUTH_FILE);
    if truth.exists() {
        std::fs::remove_file(truth)?;
    }
    Ok(())
}

pub fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} days ({elapsed}, about {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// `homedoc generate`.
pub async fn generate(
    settings: &Settings,
    opts: &Options,
    quiet: bool,
    out: &mut impl Write,
) -> Result<Outcome, AppError> {
    let reference = reference(settings)?;
    std::fs::create_dir_all(&settings.data_dir)?;
    let store = SqlStore::connect_with(&settings.database_url, store::Durability::BulkLoad).await?;
    let bar = progress_bar(quiet);
    let outcome = generate::generate(&store, &reference, opts, &settings.data_dir, &bar).await?;
    store.close().await;
    print_outcome(&outcome, out)?;
    Ok(outcome)
}

pub fn print_outcome(o: &Outcome, out: &mut impl Write) -> std::io::Result<()> {
    let c = &o.counts;
    writeln!(
        out,
        "wrote {} rows in {:.1} s ({:.0} rows/s): {} facilities, {} health workers, {} accounts, {} slots, {} appointments, {} video calls, {} changes",
        o.rows_written,
        o.seconds,
        o.rows_written as f64 / o.seconds.max(1e-9),
        c.facilities,
        c.health_workers,
        c.accounts,
        c.slots,
        c.appointments,
        c.video_calls,
        c.changes
    )?;
    print_figures(&o.figures, out)?;
    writeln!(out, "drops: {}\nground truth: {}", o.drops.display(), o.ground_truth.display())
}

pub fn print_figures(figures: &[generate::Figure], out: &mut impl Write) -> std::io::Result<()> {
    if figures.is_empty() {
        return Ok(());
    }
    writeln!(out, "\npublished results beside the data (measured by SQL over the store and a read of the drops):")?;
    writeln!(out, "{:<32} {:>10} {:>12} {:>12} {:>8}", "indicator", "as of", "published", "measured", "diff")?;
    for f in figures {
        writeln!(
            out,
            "{:<32} {:>10} {:>12} {:>12} {:>+7.2}%",
            f.indicator,
            f.as_of,
            f.published,
            f.measured,
            f.deviation_pct()
        )?;
    }
    Ok(())
}

/// `homedoc db stats`: row counts and the published figures measured now.
pub async fn stats(settings: &Settings, out: &mut impl Write) -> Result<(), AppError> {
    let reference = reference(settings)?;
    let store = open_store(settings).await?;
    let c = store.counts().await?;
    writeln!(out, "{}", serde_json::to_string_pretty(&c).expect("serialisable"))?;
    if let Some(meta) = store.meta("generator").await? {
        writeln!(out, "generated with {meta}")?;
    }
    let figures = generate::measure::figures(&store, &reference, &settings.data_dir.join(generate::DROPS_DIR)).await?;
    print_figures(&figures, out)?;
    store.close().await;
    Ok(())
}

/// `homedoc feed`: the change feed as JSON lines.
pub async fn feed(
    settings: &Settings,
    entity: Option<&str>,
    after: i64,
    limit: u32,
    out: &mut impl Write,
) -> Result<(), AppError> {
    let entity = entity.map(Entity::parse).transpose().map_err(|e| AppError::Usage(e.to_string()))?;
    let store = open_store(settings).await?;
    for c in store.changes(after, entity, limit).await? {
        writeln!(out, "{}", serde_json::to_string(&c).expect("serialisable"))?;
    }
    store.close().await;
    Ok(())
}

pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

pub mod demo;
pub mod ingest;
pub mod kpi;
pub mod rollup;
mod serve;
pub use serve::{UserCommand, serve, user};
