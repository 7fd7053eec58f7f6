//! What `homedoc pipelines` and `/api/v1/pipelines` show: each pipeline's schedule,
//! its last run with the row counts, its last success and its next run.

use chrono::{DateTime, Utc};

use super::history::{self, RunRecord, Status};
use super::{Ingest, IngestError};

/// One line of `homedoc pipelines` and of `/api/v1/pipelines`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PipelineStatus {
    pub id: String,
    pub description: String,
    pub schedule: String,
    pub target: String,
    /// succeeded, failed or planned (cut off, finished by the next run).
    pub last_status: Option<String>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_rows_read: Option<i64>,
    pub last_rows_accepted: Option<i64>,
    pub last_rows_quarantined: Option<i64>,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
}

pub async fn statuses(ingest: &Ingest) -> Result<Vec<PipelineStatus>, IngestError> {
    let runs = history::read(&ingest.lake, None).await?;
    let now = ingest.clock().now();
    Ok(ingest
        .pipelines()
        .iter()
        .map(|p| {
            let mine: Vec<&RunRecord> = runs.iter().filter(|r| r.pipeline == p.id).collect();
            let last = mine.last();
            PipelineStatus {
                id: p.id.clone(),
                description: p.description.clone(),
                schedule: p.schedule_text.clone(),
                target: p.target.name.to_string(),
                last_status: last.map(|r| r.status.as_str().to_string()),
                last_run_at: last.map(|r| r.finished_at),
                last_rows_read: last.map(|r| r.rows_read),
                last_rows_accepted: last.map(|r| r.rows_accepted),
                last_rows_quarantined: last.map(|r| r.rows_quarantined),
                last_error: last.and_then(|r| r.error.clone()),
                last_success_at: mine.iter().filter(|r| r.status == Status::Succeeded).map(|r| r.finished_at).max(),
                next_run_at: p.next_run(now, ingest.timezone()),
            }
        })
        .collect())
}
