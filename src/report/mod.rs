//! Reports: named sets of tables made from KPIs and targets for one kind of user,
//! stamped with the snapshot they were read from and the data's freshness, and
//! written as JSON or CSV (the same rows in both). Figures are rounded to fixed
//! decimals so that a report made again `--as-of` its snapshot is byte-identical.

pub mod dhis2;
pub mod donor;
mod render;
pub mod scorecard;
pub mod small_cells;
pub mod stations;
pub mod suppress;

use std::io::Write;

use chrono::NaiveDate;

use crate::kpi::{Engine, KpiError, Lang, Period, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Kpi(#[from] KpiError),
    #[error("{0}")]
    Usage(String),
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}

/// The reports there are, for `homedoc report NAME` and `/api/v1/reports/NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportName {
    /// Evaluators: every target, by province, with trend.
    NationalScorecard,
    /// Donors: a project's results framework by sex, small cells suppressed.
    DonorResults,
    /// Provincial managers: the station league table and the low-uptake list.
    ProvinceStations,
}

impl std::str::FromStr for ReportName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "national-scorecard" => Ok(ReportName::NationalScorecard),
            "donor-results" => Ok(ReportName::DonorResults),
            "province-stations" => Ok(ReportName::ProvinceStations),
            _ => Err(format!("no report {s:?} (known: national-scorecard, donor-results, province-stations)")),
        }
    }
}

/// What a report is asked for; `province` and `project` only where the report takes one.
#[derive(Debug, Clone)]
pub struct ReportArgs {
    pub period: Period,
    pub province: Option<String>,
    pub project: Option<String>,
    pub boundary: crate::domain::BoundarySet,
    pub lang: Lang,
    pub targets: crate::kpi::targets::Thresholds,
    /// k per audience: donor outputs take the donors' k whoever reads them; other
    /// reports the k of `audience`, if it has one.
    pub suppression: crate::config::Suppression,
    pub audience: crate::config::Audience,
}

/// Makes a report from the engine's snapshot.
pub async fn make(engine: &Engine, name: ReportName, a: ReportArgs) -> Result<Report, ReportError> {
    match name {
        ReportName::NationalScorecard => {
            let o = scorecard::Options { period: a.period, boundary: a.boundary, lang: a.lang, thresholds: a.targets };
            scorecard::build(engine, &o).await
        }
        ReportName::DonorResults => {
            let project = a.project.ok_or_else(|| {
                ReportError::Usage("donor-results needs a project (an id of the reference data's projects)".into())
            })?;
            let o = donor::Options {
                period: a.period,
                project,
                boundary: a.boundary,
                lang: a.lang,
                thresholds: a.targets,
                k: a.suppression.donor,
            };
            donor::build(engine, &o).await
        }
        ReportName::ProvinceStations => {
            let province = a.province.ok_or_else(|| {
                ReportError::Usage("province-stations needs --province CODE (a code of the --boundary set)".into())
            })?;
            let thresholds = engine.catalog().uptake;
            let k = a.suppression.k_for(a.audience);
            let o = stations::Options { period: a.period, province, boundary: a.boundary, lang: a.lang, thresholds, k };
            stations::build(engine, &o).await
        }
    }
}

/// A cell of a report table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// Rounded to 2 decimals when stored.
    Number(f64),
    Date(NaiveDate),
    Empty,
}

impl Cell {
    pub fn number(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Number((v * 100.0).round() / 100.0),
            _ => Cell::Empty,
        }
    }

    pub fn count(v: f64) -> Cell {
        Cell::Int(v.round() as i64)
    }

    /// The cell as report text (numbers with two decimals, dates ISO).
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Number(v) => format!("{v:.2}"),
            Cell::Date(d) => d.to_string(),
            Cell::Empty => String::new(),
        }
    }

    /// The cell's number, if it holds one.
    pub fn value(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Number(v) => Some(*v),
            _ => None,
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(s) => s.clone().into(),
            Cell::Int(i) => (*i).into(),
            Cell::Number(v) => serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into),
            Cell::Date(d) => d.to_string().into(),
            Cell::Empty => serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Column {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Values over time, one point per row.
    Line,
    /// One horizontal bar per row.
    Bar,
}

/// How the HTML output draws a table: one chart of column `y` against column `x`
/// per value of column `by` (small multiples), or one chart for the whole table.
#[derive(Debug, Clone)]
pub struct Chart {
    pub kind: ChartKind,
    pub by: Option<&'static str>,
    pub x: &'static str,
    pub y: &'static str,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub chart: Option<Chart>,
    /// Charts already drawn from the rows (dashboards); when empty, the HTML output
    /// draws `chart`.
    pub figures: Vec<crate::chart::Chart>,
}

impl Table {
    pub fn new(id: &str, title: String, columns: &[(&str, String)]) -> Self {
        Table {
            id: id.into(),
            title,
            columns: columns.iter().map(|(id, t)| Column { id: id.to_string(), title: t.clone() }).collect(),
            rows: Vec::new(),
            chart: None,
            figures: Vec::new(),
        }
    }

    pub fn with_chart(mut self, kind: ChartKind, by: Option<&'static str>, x: &'static str, y: &'static str) -> Self {
        self.chart = Some(Chart { kind, by, x, y });
        self
    }
}

/// When each pipeline last succeeded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Freshness {
    pub pipeline: String,
    pub last_success: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub title: String,
    pub period: Period,
    pub lang: Lang,
    pub snapshot: Snapshot,
    pub freshness: Vec<Freshness>,
    pub tables: Vec<Table>,
}

/// A text in the report's language.
pub fn tr(lang: Lang, vi: &str, en: &str) -> String {
    match lang {
        Lang::Vi => vi.to_string(),
        Lang::En => en.to_string(),
    }
}

/// The last successful run of every pipeline, from the run history at the snapshot.
pub async fn freshness(engine: &Engine) -> Result<Vec<Freshness>, KpiError> {
    let (_, batches) = engine
        .query(
            "SELECT pipeline, CAST(max(finished_at) AS VARCHAR) FROM ingest_runs \
             WHERE status = 'succeeded' GROUP BY pipeline ORDER BY pipeline",
        )
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        for r in crate::kpi::engine::text_columns(b)? {
            out.push(Freshness { pipeline: r[0].clone(), last_success: Some(r[1].clone()).filter(|s| !s.is_empty()) });
        }
    }
    Ok(out)
}

impl Report {
    pub fn to_json(&self) -> serde_json::Value {
        let tables: Vec<serde_json::Value> = self
            .tables
            .iter()
            .map(|t| {
                let rows: Vec<serde_json::Value> = t
                    .rows
                    .iter()
                    .map(|r| {
                        t.columns
                            .iter()
                            .zip(r)
                            .map(|(c, v)| (c.id.clone(), v.json()))
                            .collect::<serde_json::Map<_, _>>()
                            .into()
                    })
                    .collect();
                serde_json::json!({ "id": t.id, "title": t.title, "columns": t.columns, "rows": rows })
            })
            .collect();
        serde_json::json!({
            "report": self.name,
            "title": self.title,
            "period": self.period.to_string(),
            "lang": self.lang,
            "snapshot": self.snapshot.to_string(),
            "freshness": self.freshness,
            "tables": tables,
        })
    }

    pub fn write_json(&self, out: &mut impl Write) -> Result<(), ReportError> {
        serde_json::to_writer_pretty(&mut *out, &self.to_json()).map_err(std::io::Error::from)?;
        writeln!(out)?;
        Ok(())
    }

    /// One CSV for all tables: a `table` column, then the union of the tables'
    /// columns in order of appearance (empty where a table has no such column).
    pub fn write_csv(&self, out: &mut impl Write) -> Result<(), ReportError> {
        let mut header: Vec<&str> = vec!["table"];
        for t in &self.tables {
            for c in &t.columns {
                if !header.contains(&c.id.as_str()) {
                    header.push(&c.id);
                }
            }
        }
        let mut w = csv::Writer::from_writer(&mut *out);
        let csv_err = |e: csv::Error| ReportError::Io(std::io::Error::other(e));
        w.write_record(&header).map_err(csv_err)?;
        for t in &self.tables {
            for r in &t.rows {
                let mut record = vec![String::new(); header.len()];
                record[0] = t.id.clone();
                for (c, v) in t.columns.iter().zip(r) {
                    let at = header.iter().position(|h| *h == c.id).expect("in the header");
                    record[at] = v.text();
                }
                w.write_record(&record).map_err(csv_err)?;
            }
        }
        w.flush()?;
        Ok(())
    }
}
