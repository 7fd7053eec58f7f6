//! Lake upkeep: compacting the small files that frequent small commits leave, and
//! removing files that no kept version needs. Both are Delta operations, so readers
//! (ours or any other Delta reader) see the same rows before and after.

use deltalake::DeltaTable;
use deltalake::operations::vacuum::VacuumMode;

use super::schema::{TABLES, TableDef};
use super::{Lake, LakeError};

/// Data younger than this is never removed: the telemedicine record retention.
pub const DEFAULT_RETENTION_DAYS: u32 = 3653;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OptimizeReport {
    pub table: String,
    pub files_removed: u64,
    pub files_added: u64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VacuumReport {
    pub table: String,
    pub files_deleted: usize,
    pub dry_run: bool,
}

/// Compacts every table's small files (bin-packing within each partition).
pub async fn optimize(lake: &Lake) -> Result<Vec<OptimizeReport>, LakeError> {
    let mut out = Vec::new();
    for def in TABLES {
        let Some(table) = lake.open_existing(def).await? else { continue };
        let (_, metrics) =
            table.optimize().await.map_err(|source| LakeError::Delta { table: def.name.to_string(), source })?;
        out.push(OptimizeReport {
            table: def.name.to_string(),
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
        });
    }
    Ok(out)
}

/// Removes files that the current version of each table does not reference and that
/// were dropped (or, for files never committed, written) more than
/// `retention_days` ago.
pub async fn vacuum(lake: &Lake, retention_days: u32, dry_run: bool) -> Result<Vec<VacuumReport>, LakeError> {
    let mut out = Vec::new();
    for def in TABLES {
        let Some(table) = lake.open_existing(def).await? else { continue };
        let (_, metrics) = table
            .vacuum()
            .with_retention_period(chrono::Duration::days(i64::from(retention_days)))
            .with_mode(VacuumMode::Full)
            .with_dry_run(dry_run)
            .await
            .map_err(|source| LakeError::Delta { table: def.name.to_string(), source })?;
        out.push(VacuumReport { table: def.name.to_string(), files_deleted: metrics.files_deleted.len(), dry_run });
    }
    Ok(out)
}

/// Compacts one open table if it holds more than `max_files` files. Every ingestion
/// run adds one-row files to the run history and reads it all back, so without this
/// the cost of a run would grow with the number of runs before it.
pub async fn compact_if_over(
    def: &TableDef,
    table: DeltaTable,
    max_files: usize,
) -> Result<Option<OptimizeReport>, LakeError> {
    let err = |source| LakeError::Delta { table: def.name.to_string(), source };
    if table.snapshot().map_err(err)?.log_data().into_iter().count() <= max_files {
        return Ok(None);
    }
    let (_, metrics) = table.optimize().await.map_err(err)?;
    Ok(Some(OptimizeReport {
        table: def.name.to_string(),
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
    }))
}
