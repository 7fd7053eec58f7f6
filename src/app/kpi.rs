//! `homedoc query` (ad-hoc SQL for analysts) and `homedoc kpi` (one KPI for a
//! period, unit and group), over the lake at its latest snapshot or `--as-of` one.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::json::ArrayWriter;

use super::AppError;
use crate::config::Settings;
use crate::kpi::{Catalog, Engine, KpiError, KpiRequest, Snapshot};
use crate::lake::Lake;

/// How a table is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

pub fn catalog(settings: &Settings) -> Result<Catalog, KpiError> {
    Ok(Catalog::load(settings.sql_dir.as_deref())?)
}

pub async fn engine(settings: &Settings, as_of: Option<&Snapshot>) -> Result<Engine, AppError> {
    let lake = Lake::new(&settings.lake).map_err(KpiError::from)?;
    let engine = Engine::open(&lake, Arc::new(catalog(settings)?), settings.timezone, as_of).await?;
    Ok(engine.with_rollups(settings.rollups))
}

/// `homedoc query`: the rows of read-only SQL over the lake tables and views.
pub async fn query(
    settings: &Settings,
    sql: &str,
    as_of: Option<&Snapshot>,
    format: Format,
    out: &mut impl Write,
) -> Result<(), AppError> {
    let engine = engine(settings, as_of).await?;
    let (_, batches) = engine.query(sql).await?;
    let arrow = |e: datafusion::arrow::error::ArrowError| AppError::Kpi(KpiError::Query(e.to_string()));
    match format {
        Format::Csv => {
            let mut w = WriterBuilder::new().with_header(true).build(&mut *out);
            for b in &batches {
                w.write(b).map_err(arrow)?;
            }
        }
        Format::Json => {
            let mut w = ArrayWriter::new(&mut *out);
            for b in &batches {
                w.write(b).map_err(arrow)?;
            }
            w.finish().map_err(arrow)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `homedoc kpi`: one KPI's rows, with the snapshot they were read from.
pub async fn kpi(
    settings: &Settings,
    id: &str,
    request: &KpiRequest,
    as_of: Option<&Snapshot>,
    format: Format,
    out: &mut impl Write,
) -> Result<(), AppError> {
    let engine = engine(settings, as_of).await?;
    let result = engine.kpi(id, request).await?;
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&result).expect("serialisable"))?,
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(["kpi", "period", "unit", "unit_name", "group", "numerator", "denominator", "value"])
                .map_err(|e| AppError::Usage(e.to_string()))?;
            for r in &result.rows {
                let num = |v: Option<f64>| v.map(|v| format!("{}", round(v))).unwrap_or_default();
                w.write_record([
                    result.id.as_str(),
                    &r.period,
                    &r.unit,
                    &r.unit_name,
                    &r.group,
                    &num(Some(r.numerator)),
                    &num(r.denominator),
                    &num(r.value),
                ])
                .map_err(|e| AppError::Usage(e.to_string()))?;
            }
            w.flush()?;
            // CSV has no place for it: the snapshot goes to standard error.
            eprintln!("snapshot: {}", result.snapshot);
        }
    }
    Ok(())
}

/// Figures in files carry fixed decimals, so that two runs over one snapshot give
/// byte-identical output.
pub fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// How a report is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Csv,
    Json,
    /// One self-contained printable page with its charts inline.
    Html,
    /// One sheet per table, typed cells.
    Xlsx,
}

pub use crate::report::{ReportArgs, ReportName};

/// Writes a file whole or not at all (a temporary file renamed into place): a reader
/// never sees half a report.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// `homedoc report`: writes the report to `out` ("-" for standard output).
pub async fn report(
    settings: &Settings,
    name: ReportName,
    args: ReportArgs,
    as_of: Option<&Snapshot>,
    format: ReportFormat,
    out: &std::path::Path,
) -> Result<(), AppError> {
    let engine = engine(settings, as_of).await?;
    let report = crate::report::make(&engine, name, args).await?;
    let mut buffer = Vec::new();
    match format {
        ReportFormat::Csv => report.write_csv(&mut buffer),
        ReportFormat::Json => report.write_json(&mut buffer),
        ReportFormat::Html => report.write_html(&mut buffer),
        ReportFormat::Xlsx => report.xlsx().map(|bytes| buffer = bytes),
    }?;
    if out.as_os_str() == "-" {
        std::io::stdout().write_all(&buffer)?;
    } else {
        write_whole(out, &buffer)?;
        eprintln!("{} written: {} (snapshot {})", report.name, out.display(), report.snapshot);
    }
    Ok(())
}

/// `homedoc export dhis2`: writes `dhis2-PERIOD.json` and `adx-PERIOD.xml` into `dir`.
pub async fn export_dhis2(
    settings: &Settings,
    period: &crate::kpi::Period,
    as_of: Option<&Snapshot>,
    dir: &std::path::Path,
    out: &mut impl Write,
) -> Result<(), AppError> {
    use crate::report::dhis2;
    let mapping = dhis2::load(settings.sql_dir.as_deref()).map_err(AppError::Usage)?;
    // Refuse a range before reading anything.
    let (label, _) = dhis2::periods(period)?;
    let engine = engine(settings, as_of).await?;
    let values = dhis2::values(&engine, &mapping, period).await?;
    let json = dhis2::data_value_set(&mapping, period, &values)?;
    let xml = dhis2::adx(&mapping, period, &values, chrono::Utc::now())?;
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in [
        (format!("dhis2-{label}.json"), serde_json::to_vec_pretty(&json).expect("serialisable")),
        (format!("adx-{label}.xml"), xml.into_bytes()),
    ] {
        let path = dir.join(&name);
        write_whole(&path, &bytes)?;
        writeln!(out, "{}", path.display())?;
    }
    writeln!(out, "{} values of {} KPIs, snapshot {}", values.len(), mapping.data_elements.len(), engine.snapshot())?;
    Ok(())
}
