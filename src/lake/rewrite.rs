//! Small derived tables kept in one file and rewritten whole. A month-level rollup
//! is a few megabytes, but split by month it was 60 to 80 files, and a report over
//! the years since the baseline paid for opening every one of them (most of its
//! time). Rewriting it whole at each refresh costs a read and a write of those few
//! megabytes; a report then opens one file.
//!
//! Tables written by an older release in another partitioning are moved to the
//! layout of their definition by the same commit that rewrites them, so that earlier
//! versions stay readable (`--as-of`) and no reader ever sees a half-moved table.

use std::collections::{BTreeSet, HashMap};

use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{col, lit};
use deltalake::kernel::{Metadata, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};

use super::schema::TableDef;
use super::{Appender, Lake, LakeError};

/// Rows per row group of a rewritten table: a month of a pilot-scale rollup's
/// breakdown is a few thousand rows, so a one-month report reads a group or two.
pub const ROW_GROUP: usize = 32_768;

/// Rows per data page of a rewritten table. The page index then lets a scan decode
/// only the pages of a group whose `dim` and `day` can match: with one page per
/// group, a report of one month of one breakdown decoded tens of thousands of rows
/// to keep a few thousand.
pub const PAGE_ROWS: usize = 2_048;

/// The Parquet writer's own defaults but for the row group and page sizes.
fn layout() -> datafusion::parquet::file::properties::WriterProperties {
    use datafusion::parquet::{basic::Compression, file::properties::WriterProperties};
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .build()
}

impl Lake {
    /// Whether the table's files are partitioned as its definition says.
    pub fn layout_current(&self, def: &TableDef, table: &DeltaTable) -> Result<bool, LakeError> {
        layout_current(def, table)
    }

    /// The table's metadata with the partitioning of its definition, or `None` when
    /// it already has it.
    pub(super) fn relayout(&self, def: &TableDef, table: &DeltaTable) -> Result<Option<Metadata>, LakeError> {
        if self.layout_current(def, table)? {
            return Ok(None);
        }
        let generic = |e: serde_json::Error| Self::delta_err(def)(DeltaTableError::Generic(e.to_string()));
        let state = table.snapshot().map_err(Self::delta_err(def))?;
        // The kernel has no setter for the partition columns; its serialised form
        // keeps the table's id, schema and configuration as they are.
        let mut value = serde_json::to_value(state.metadata()).map_err(generic)?;
        value["partitionColumns"] = serde_json::json!(def.partition.iter().collect::<Vec<_>>());
        Ok(Some(serde_json::from_value(value).map_err(generic)?))
    }

    /// Rewrites an unpartitioned table whole, in one commit with `txns`: the rows
    /// whose `column` holds one of `replaced` (every row when `replaced` is `None`)
    /// give way to `rows`; the others are kept. The file is sorted by the columns
    /// `sort_by` and cut into row groups of [`ROW_GROUP`] rows and pages of
    /// [`PAGE_ROWS`], so that a reader filtering on those columns skips most groups
    /// and pages by their statistics. With nothing
    /// replaced and no rows, only the transactions are committed.
    pub async fn commit_rewrite(
        &self,
        def: &TableDef,
        table: &mut DeltaTable,
        replaced: Option<(&str, &BTreeSet<String>)>,
        rows: Vec<RecordBatch>,
        sort_by: &[&str],
        txns: Vec<Transaction>,
    ) -> Result<u64, LakeError> {
        let unchanged = replaced.is_some_and(|(_, values)| values.is_empty()) && rows.iter().all(|b| b.num_rows() == 0);
        if unchanged && self.layout_current(def, table)? {
            let operation = DeltaOperation::Write { mode: SaveMode::Append, partition_by: None, predicate: None };
            return self.commit(def, table, Vec::new(), txns, HashMap::new(), operation).await;
        }
        let mut all = match replaced {
            None => Vec::new(),
            Some((column, values)) => {
                let names: Vec<&str> = def.columns.iter().map(|c| c.name).collect();
                let keep = (!values.is_empty())
                    .then(|| col(column).in_list(values.iter().map(|v| lit(v.clone())).collect(), true));
                self.scan(def, table, &names, keep).await?
            }
        };
        all.extend(rows);
        let mut writer = Appender::with_properties(def, table, Some(layout()))?;
        if let Some(sorted) = sorted(def, all, sort_by)? {
            writer.write(sorted).await?;
        }
        let adds = writer.finish().await?;
        self.commit_replace(def, table, adds, txns, HashMap::new()).await
    }
}

pub(super) fn layout_current(def: &TableDef, table: &DeltaTable) -> Result<bool, LakeError> {
    let state = table.snapshot().map_err(Lake::delta_err(def))?;
    Ok(state.metadata().partition_columns().iter().map(String::as_str).eq(def.partition.iter().copied()))
}

/// All the rows in one batch, in the order of `columns`; `None` for no rows.
fn sorted(def: &TableDef, batches: Vec<RecordBatch>, columns: &[&str]) -> Result<Option<RecordBatch>, LakeError> {
    let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    if batches.is_empty() {
        return Ok(None);
    }
    let schema = def.schema();
    let one = concat_batches(&schema, &batches)?;
    let keys = columns
        .iter()
        .map(|c| {
            let at = schema.index_of(c).map_err(|_| {
                Lake::delta_err(def)(DeltaTableError::Generic(format!("no column {c} to sort the rewrite by")))
            })?;
            Ok(SortColumn { values: one.column(at).clone(), options: None })
        })
        .collect::<Result<Vec<_>, LakeError>>()?;
    let order = lexsort_to_indices(&keys, None)?;
    Ok(Some(take_record_batch(&one, &order)?))
}
