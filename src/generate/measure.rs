//! Measures the program figures from the generated data, the way an evaluator would:
//! SQL over the operational store for accounts, bookings and calls, and a strict read
//! of the training platform's exports for staff trained. Nothing here looks at the
//! simulator's own counters; the figures are set beside the published ones.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use sqlx::Row;

use crate::reference::{PublishedResult, Reference};
use crate::store::{SqlStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the training drops in {path}: {source}")]
    Drops { path: std::path::PathBuf, source: std::io::Error },
}

impl From<sqlx::Error> for MeasureError {
    fn from(e: sqlx::Error) -> Self {
        MeasureError::Store(e.into())
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub indicator: String,
    pub as_of: NaiveDate,
    pub published: f64,
    pub qualifier: crate::reference::Qualifier,
    pub measured: f64,
}

impl Figure {
    /// Measured relative to published, in percent (+1.0 = one percent above).
    pub fn deviation_pct(&self) -> f64 {
        (self.measured / self.published - 1.0) * 100.0
    }
}

#[derive(serde::Deserialize)]
struct AttendanceRow {
    record_id: String,
    staff_code: String,
    facility_code: String,
    course_code: String,
    completed_at: Option<String>,
}

/// Valid completions in the training drops: (staff, facility, course, completion day).
/// Lines that are not UTF-8, not JSON, carry a bad date or an unknown facility or
/// worker, or repeat a record id, are left out.
pub fn completions(
    drops: &Path,
    facilities: &HashMap<String, String>,
    workers: &HashMap<String, String>,
) -> std::io::Result<Vec<(String, String, String, NaiveDate)>> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let dir = drops.join("training");
    if !dir.exists() {
        return Ok(out);
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<Vec<_>, _>>()?;
    files.sort_by_key(|e| e.file_name());
    for file in files {
        let bytes = std::fs::read(file.path())?;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(row) = serde_json::from_slice::<AttendanceRow>(line) else { continue };
            let Some(done) = row.completed_at.as_deref() else { continue };
            let Ok(done) = DateTime::parse_from_rfc3339(done) else { continue };
            if !facilities.contains_key(&row.facility_code)
                || workers.get(&row.staff_code) != Some(&row.facility_code)
                || !seen.insert(row.record_id.clone())
            {
                continue;
            }
            out.push((row.staff_code, row.facility_code, row.course_code, done.date_naive()));
        }
    }
    Ok(out)
}

/// Every published result beside its measured value.
pub async fn figures(store: &SqlStore, reference: &Reference, drops: &Path) -> Result<Vec<Figure>, MeasureError> {
    let facilities: HashMap<String, String> = sqlx::query("SELECT code, province_63 FROM facilities")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let workers: HashMap<String, String> =
        sqlx::query("SELECT w.staff_code, f.code FROM health_workers w JOIN facilities f ON f.id = w.facility_id")
            .fetch_all(store.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let done =
        completions(drops, &facilities, &workers).map_err(|e| StoreError::Conflict(format!("reading drops: {e}")))?;

    let mut out = Vec::new();
    let mut cache: BTreeMap<(NaiveDate, Vec<String>), crate::store::Measured> = BTreeMap::new();
    for p in &reference.published {
        let provinces: Vec<String> = p.provinces_63.iter().map(|c| c.to_string()).collect();
        let measured = match p.indicator.as_str() {
            "health_workers_trained" | "facilities_with_trained_worker" | "courses_completed" => {
                training_figure(p, &done, &facilities, &provinces)
            }
            _ => {
                let key = (p.as_of, provinces.clone());
                if !cache.contains_key(&key) {
                    let m = store.measure(p.as_of, &provinces).await?;
                    cache.insert(key.clone(), m);
                }
                let m = &cache[&key];
                match p.indicator.as_str() {
                    "accounts_registered" => m.accounts as f64,
                    "accounts_that_booked" => m.accounts_that_booked as f64,
                    "appointments_booked" => m.appointments as f64,
                    "video_calls" => m.video_calls as f64,
                    _ => continue,
                }
            }
        };
        out.push(Figure {
            indicator: p.indicator.clone(),
            as_of: p.as_of,
            published: p.value,
            qualifier: p.qualifier,
            measured,
        });
    }
    Ok(out)
}

fn training_figure(
    p: &PublishedResult,
    done: &[(String, String, String, NaiveDate)],
    facilities: &HashMap<String, String>,
    provinces: &[String],
) -> f64 {
    let rows = done
        .iter()
        .filter(|(_, f, _, day)| *day <= p.as_of && facilities.get(f).is_some_and(|prov| provinces.contains(prov)));
    let distinct: BTreeSet<&str> = match p.indicator.as_str() {
        "health_workers_trained" => rows.map(|r| r.0.as_str()).collect(),
        "facilities_with_trained_worker" => rows.map(|r| r.1.as_str()).collect(),
        _ => rows.map(|r| r.2.as_str()).collect(),
    };
    distinct.len() as f64
}
