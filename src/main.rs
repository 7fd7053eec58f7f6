//! The `homedoc` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use homedoc::app;
use homedoc::app::kpi::{Format, ReportArgs, ReportFormat, ReportName};
use homedoc::config::{DEFAULT_DATA_DIR, Settings};
use homedoc::domain::BoundarySet;
use homedoc::generate::{Options, Scale};
use homedoc::kpi::{By, Disaggregation, Grain, KpiRequest, Lang, Period, Snapshot};

/// homedoc: monitoring, evaluation and core services of the "Bác sĩ cho mọi nhà" telehealth program.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Where the store, the lake, the drops and the keys live.
    #[arg(long, global = true, env = "HOMEDOC_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// A homedoc.toml to read (default: DATA_DIR/homedoc.toml if it exists).
    #[arg(long, global = true, env = "HOMEDOC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration and the reference data, reporting every problem at once.
    Check,
    /// Simulate a whole program history into the store, plus file drops and ground truth.
    Generate {
        /// sample (3 provinces, ~60 stations), pilot (the 17 program provinces) or national.
        #[arg(long, default_value = "sample", value_parser = Scale::parse)]
        scale: Scale,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The last simulated day.
        #[arg(long, value_parser = app::parse_date, default_value_t = Options::default_until())]
        until: chrono::NaiveDate,
        /// Remove an earlier generation from a SQLite data dir first.
        #[arg(long)]
        force: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Operate on the operational store.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// From nothing to a running system: generate the pilot history into an empty data
    /// dir, ingest it, create one user per role, print their logins and serve the
    /// dashboards (run again, it reuses the demo and serves at once).
    Demo {
        #[arg(long, default_value = "pilot", value_parser = Scale::parse)]
        scale: Scale,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = app::demo::DEFAULT_BIND)]
        bind: std::net::SocketAddr,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Run the core services (HTTP API) until SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on (default: the configured bind, 127.0.0.1:8080); port 0 picks a free one.
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
    },
    /// Manage staff users (the password is read from HOMEDOC_PASSWORD or standard input).
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Print the store's change feed as JSON lines.
    Feed {
        /// Only changes of this entity (account, appointment, slot, video_call, facility, health_worker).
        #[arg(long)]
        entity: Option<String>,
        /// Print changes after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Run ingestion pipelines once, now (all of them, or those named), with progress.
    Ingest {
        pipelines: Vec<String>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Leave the rollups as they are (`homedoc lake rollup` brings them up to date).
        #[arg(long)]
        no_rollups: bool,
    },
    /// List the pipelines: schedule, last run with its row counts, next run.
    Pipelines,
    /// Run the pipelines on their schedules until SIGTERM or Ctrl-C (`serve` does it too).
    Schedule,
    /// Maintain the lake.
    Lake {
        #[command(subcommand)]
        command: LakeCommand,
    },
    /// Run read-only SQL over the lake tables and the sql/ views, for analysts.
    Query {
        sql: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Read the lake as of a snapshot (table@version,...) that a report printed.
        #[arg(long)]
        as_of: Option<Snapshot>,
    },
    /// Compute one KPI (sql/kpi/ID.sql) for a period.
    Kpi {
        id: String,
        /// 2024, 2024-Q3, 2024-07, 2024-W27, 2024-07-15, FY2025 or 2024-01-01..2024-06-30.
        #[arg(long)]
        period: Period,
        /// Split the period into a series: day, week, month, quarter, year, fiscal_year.
        #[arg(long)]
        grain: Option<Grain>,
        /// Reporting unit: national, province or station.
        #[arg(long, default_value = "national")]
        by: By,
        /// Break down by sex, age_band, ethnic_minority or purpose.
        #[arg(long)]
        group: Option<Disaggregation>,
        /// Only this province, a code of the --boundary set.
        #[arg(long)]
        province: Option<String>,
        /// Provinces as the 34 of today or the 63 before July 2025.
        #[arg(long, default_value = "34", value_parser = parse_boundary)]
        boundary: BoundarySet,
        #[arg(long)]
        as_of: Option<Snapshot>,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Compute from the raw tables even where the rollups could serve.
        #[arg(long)]
        raw: bool,
    },
    /// Make a report for its readers: national-scorecard (evaluators), donor-results
    /// (donors), province-stations (provincial managers).
    Report {
        #[arg(value_enum)]
        name: ReportName,
        #[arg(long)]
        period: Period,
        /// The province of province-stations, a code of the --boundary set.
        #[arg(long)]
        province: Option<String>,
        /// The project of donor-results (an id of the reference data's projects).
        #[arg(long)]
        project: Option<String>,
        #[arg(long, default_value = "34", value_parser = parse_boundary)]
        boundary: BoundarySet,
        #[arg(long, value_enum, default_value = "vi")]
        lang: Lang,
        #[arg(long)]
        as_of: Option<Snapshot>,
        #[arg(long, value_enum, default_value = "json")]
        format: ReportFormat,
        /// The file to write ("-": standard output).
        #[arg(long)]
        out: PathBuf,
        /// Compute from the raw tables even where the rollups could serve.
        #[arg(long)]
        raw: bool,
    },
    /// Export the KPIs for another system.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The KPIs of a period by province as DHIS2 dataValueSets JSON and ADX XML, with the
    /// ids of sql/dhis2.toml.
    Dhis2 {
        /// A day, ISO week, month, quarter, year or FY (DHIS2 has no free ranges).
        #[arg(long)]
        period: Period,
        #[arg(long)]
        as_of: Option<Snapshot>,
        /// The folder to write dhis2-PERIOD.json and adx-PERIOD.xml into.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
}

fn parse_boundary(s: &str) -> Result<BoundarySet, String> {
    BoundarySet::parse(s).map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum LakeCommand {
    /// Compact small files into larger ones (readers see the same rows).
    Optimize,
    /// Bring the rollups up to date with the lake (`ingest` and the scheduler do it
    /// after committing rows).
    Rollup {
        /// No progress: no spinner on a terminal, no step lines elsewhere.
        #[arg(long)]
        quiet: bool,
    },
    /// Remove files that no current table version references.
    Vacuum {
        /// Keep every file removed less than this many days ago (default: 10 years, the
        /// telemedicine record retention).
        #[arg(long, default_value_t = homedoc::lake::maintain::DEFAULT_RETENTION_DAYS)]
        retention_days: u32,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create the store or bring its schema up to date.
    Migrate,
    /// Row counts, and the published results measured against the store now.
    Stats,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user: station_staff and upper_doctor need a facility code, provincial_manager a
    /// 34-set province code, donor a project id; evaluator and admin have no scope.
    Add {
        username: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        scope: Option<String>,
    },
    /// Disable a user and end their sessions.
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
    /// Set a new password and end the user's sessions.
    Reset { username: String },
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(&cli.data_dir, cli.config.as_deref()).context("loading settings")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Check => runtime.block_on(app::check(&settings, &mut out))?,
        Command::Generate { scale, seed, until, force, quiet } => {
            if force {
                app::clear_generated(&settings)?;
            }
            let opts = Options { scale, seed, until };
            runtime.block_on(app::generate(&settings, &opts, quiet, &mut out))?;
        }
        Command::Db { command: DbCommand::Migrate } => {
            let store = runtime.block_on(app::open_store(&settings))?;
            runtime.block_on(store.close());
            println!("store at {} is up to date", app::redact(&settings.database_url));
        }
        Command::Db { command: DbCommand::Stats } => runtime.block_on(app::stats(&settings, &mut out))?,
        Command::Demo { scale, seed, bind, quiet } => {
            let o = app::demo::DemoOptions { scale, seed, bind, quiet };
            runtime.block_on(app::demo::demo(&settings, &o, &mut out))?
        }
        Command::Serve { bind } => runtime.block_on(app::serve(&settings, bind, &mut out))?,
        Command::User { command } => {
            let command = match command {
                UserCmd::Add { username, role, scope } => app::UserCommand::Add { username, role, scope },
                UserCmd::Disable { username } => app::UserCommand::Disable { username },
                UserCmd::Enable { username } => app::UserCommand::Enable { username },
                UserCmd::Reset { username } => app::UserCommand::Reset { username },
            };
            runtime.block_on(app::user(&settings, command, &mut out))?
        }
        Command::Feed { entity, after, limit } => {
            runtime.block_on(app::feed(&settings, entity.as_deref(), after, limit, &mut out))?
        }
        Command::Ingest { pipelines, quiet, no_rollups } => {
            runtime.block_on(app::ingest::ingest(&settings, &pipelines, quiet, no_rollups, &mut out))?
        }
        Command::Pipelines => runtime.block_on(app::ingest::pipelines(&settings, &mut out))?,
        Command::Schedule => runtime.block_on(app::ingest::schedule(&settings, &mut out))?,
        Command::Lake { command: LakeCommand::Optimize } => {
            runtime.block_on(app::ingest::optimize(&settings, &mut out))?
        }
        Command::Lake { command: LakeCommand::Rollup { quiet } } => {
            runtime.block_on(app::rollup::run(&settings, quiet, &mut out))?
        }
        Command::Lake { command: LakeCommand::Vacuum { retention_days, dry_run } } => {
            runtime.block_on(app::ingest::vacuum(&settings, retention_days, dry_run, &mut out))?
        }
        Command::Query { sql, format, as_of } => {
            runtime.block_on(app::kpi::query(&settings, &sql, as_of.as_ref(), format, &mut out))?
        }
        Command::Kpi { id, period, grain, by, group, province, boundary, as_of, format, raw } => {
            settings.rollups = !raw;
            let request = KpiRequest { period, grain, by, boundary, province, group };
            runtime.block_on(app::kpi::kpi(&settings, &id, &request, as_of.as_ref(), format, &mut out))?
        }
        Command::Export { command: ExportCommand::Dhis2 { period, as_of, out_dir } } => {
            runtime.block_on(app::kpi::export_dhis2(&settings, &period, as_of.as_ref(), &out_dir, &mut out))?
        }
        Command::Report { name, period, province, project, boundary, lang, as_of, format, out: path, raw } => {
            settings.rollups = !raw;
            let args = ReportArgs {
                period,
                province,
                project,
                boundary,
                lang,
                targets: settings.targets,
                suppression: settings.suppression,
                audience: Default::default(),
            };
            runtime.block_on(app::kpi::report(&settings, name, args, as_of.as_ref(), format, &path))?
        }
    }
    Ok(())
}
