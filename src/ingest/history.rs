//! The run history (`ingest_runs` in the lake): one row when a run is planned, one
//! when it is done or has failed. The planned row carries the run's plan, so the
//! history is also where a pipeline finds its position and its files.

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};

use super::IngestError;
use super::drops::FileStamp;
use crate::lake::Lake;
use crate::lake::rows::{Rows, Val};
use crate::lake::schema::INGEST_RUNS;

/// What a run reads: fixed before anything is committed, so that a run cut off
/// after its plan was recorded is finished on exactly the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Plan {
    /// Feed rows with `after < seq <= upto`.
    Feed {
        after: i64,
        upto: i64,
    },
    Drop {
        files: Vec<FileStamp>,
    },
    Reference {
        file: String,
        sha256: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Planned,
    Succeeded,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub pipeline: String,
    pub run: i64,
    pub status: Status,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub rows_read: i64,
    pub rows_accepted: i64,
    pub rows_quarantined: i64,
    pub plan: Option<Plan>,
    pub error: Option<String>,
}

impl RunRecord {
    pub fn rows(records: &[RunRecord]) -> Rows {
        let mut rows = Rows::new(&INGEST_RUNS);
        for r in records {
            let plan = r.plan.as_ref().map(|p| serde_json::to_string(p).expect("plans serialise")).unwrap_or_default();
            rows.push(&[
                Val::Str(&r.pipeline),
                Val::I64(r.run),
                Val::Str(r.status.as_str()),
                Val::ts(r.started_at),
                Val::ts(r.finished_at),
                Val::I64(r.rows_read),
                Val::I64(r.rows_accepted),
                Val::I64(r.rows_quarantined),
                Val::Str(&plan),
                Val::opt_str(r.error.as_deref()),
            ]);
        }
        rows
    }
}

fn at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Every run record, of one pipeline or of all, in the order they were written.
pub async fn read(lake: &Lake, pipeline: Option<&str>) -> Result<Vec<RunRecord>, IngestError> {
    Ok(records(&lake.read_all(&INGEST_RUNS).await?, pipeline))
}

/// The same from the run history already open as `runs`, at the version it holds.
pub async fn read_table(lake: &Lake, runs: &DeltaTable, pipeline: Option<&str>) -> Result<Vec<RunRecord>, IngestError> {
    Ok(records(&lake.scan_all(&INGEST_RUNS, runs).await?, pipeline))
}

fn records(batches: &[RecordBatch], pipeline: Option<&str>) -> Vec<RunRecord> {
    let mut out = Vec::new();
    for batch in batches {
        let col = |name: &str| batch.column(INGEST_RUNS.index(name).expect("ingest_runs column"));
        let (p, run, status, started, finished) = (
            col("pipeline").as_string::<i32>(),
            col("run").as_primitive::<Int64Type>(),
            col("status").as_string::<i32>(),
            col("started_at").as_primitive::<TimestampMicrosecondType>(),
            col("finished_at").as_primitive::<TimestampMicrosecondType>(),
        );
        let (read, accepted, quarantined) = (
            col("rows_read").as_primitive::<Int64Type>(),
            col("rows_accepted").as_primitive::<Int64Type>(),
            col("rows_quarantined").as_primitive::<Int64Type>(),
        );
        let (plan, error) = (col("plan").as_string::<i32>(), col("error").as_string::<i32>());
        for i in 0..batch.num_rows() {
            if pipeline.is_some_and(|id| id != p.value(i)) {
                continue;
            }
            let status = match status.value(i) {
                "planned" => Status::Planned,
                "succeeded" => Status::Succeeded,
                _ => Status::Failed,
            };
            out.push(RunRecord {
                pipeline: p.value(i).to_string(),
                run: run.value(i),
                status,
                started_at: at(started.value(i)),
                finished_at: at(finished.value(i)),
                rows_read: read.value(i),
                rows_accepted: accepted.value(i),
                rows_quarantined: quarantined.value(i),
                plan: serde_json::from_str(plan.value(i)).ok(),
                error: (!error.is_null(i)).then(|| error.value(i).to_string()),
            });
        }
    }
    out.sort_by_key(|r| (r.finished_at, r.run, r.status != Status::Planned));
    out
}
