//! The lake: Delta Lake tables (through the `deltalake` crate) under the data dir,
//! or under any object-store URL. Every table is defined in [`schema`]; this module
//! opens and creates them, appends staged Parquet files with an application
//! transaction in one atomic commit, replaces reference tables whole, and reads
//! tables back through DataFusion.
//!
//! Appends happen in two steps, [`Appender::finish`] (the Parquet files are written
//! but no reader can see them) then [`Lake::commit_append`] (one Delta commit adds
//! them all with the writer's transaction id), so that ingestion can decide between
//! the two whether to publish at all.

pub mod maintain;
mod rewrite;
pub mod rows;
pub mod schema;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{Expr, SessionContext};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError, TableProperty};
use object_store::ObjectStoreExt as _;
use url::Url;

use schema::TableDef;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake location {0:?}: {1}")]
    Location(String, String),
    #[error("lake table {table}: {source}")]
    Delta { table: String, source: DeltaTableError },
    #[error("lake table {table}: {source}")]
    Query { table: String, source: datafusion::error::DataFusionError },
    #[error("lake: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("lake: {0}")]
    Io(#[from] std::io::Error),
}

/// The lake at one location.
#[derive(Debug, Clone)]
pub struct Lake {
    root: Url,
    local: Option<PathBuf>,
}

impl Lake {
    /// `location` is a directory (created if missing) or a URL (`file://`,
    /// `memory://`, and `s3://` when built with the `s3` feature).
    pub fn new(location: &str) -> Result<Self, LakeError> {
        let bad = |m: String| LakeError::Location(location.to_string(), m);
        let (root, local) = if location.contains("://") {
            let mut url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            let local =
                (url.scheme() == "file").then(|| url.to_file_path().map_err(|_| bad("not a local path".into())));
            (url, local.transpose()?)
        } else {
            std::fs::create_dir_all(location).map_err(|e| bad(e.to_string()))?;
            let abs = std::fs::canonicalize(location).map_err(|e| bad(e.to_string()))?;
            let url = Url::from_directory_path(&abs).map_err(|_| bad("not an absolute path".into()))?;
            (url, Some(abs))
        };
        #[cfg(feature = "s3")]
        deltalake::aws::register_handlers(None);
        Ok(Lake { root, local })
    }

    /// The lake's directory when it is on the local disk.
    pub fn local_dir(&self) -> Option<&PathBuf> {
        self.local.as_ref()
    }

    pub fn table_url(&self, def: &TableDef) -> Url {
        self.root.join(&format!("{}/", def.name)).expect("table names are URL-safe")
    }

    fn delta_err(def: &TableDef) -> impl Fn(DeltaTableError) -> LakeError + '_ {
        move |source| LakeError::Delta { table: def.name.to_string(), source }
    }

    /// Opens a table, or `None` if it was never created.
    pub async fn open_existing(&self, def: &TableDef) -> Result<Option<DeltaTable>, LakeError> {
        if let Some(dir) = &self.local {
            if !dir.join(def.name).join("_delta_log").exists() {
                return Ok(None);
            }
        }
        let table = DeltaTable::try_from_url(self.table_url(def)).await.map_err(Self::delta_err(def))?;
        Ok(table.version().is_some().then_some(table))
    }

    /// Opens a table, creating it (empty, with its schema and partitioning) if needed.
    pub async fn open(&self, def: &TableDef) -> Result<DeltaTable, LakeError> {
        if let Some(t) = self.open_existing(def).await? {
            return Ok(t);
        }
        if let Some(dir) = &self.local {
            std::fs::create_dir_all(dir.join(def.name))?;
        }
        let table = DeltaTable::try_from_url(self.table_url(def)).await.map_err(Self::delta_err(def))?;
        let schema: StructType = def.schema().as_ref().try_into_kernel().map_err(|e| LakeError::Delta {
            table: def.name.into(),
            source: DeltaTableError::Generic(e.to_string()),
        })?;
        let mut create = table
            .create()
            .with_table_name(def.name)
            .with_columns(schema.fields().cloned())
            .with_partition_columns(def.partition.iter().copied())
            .with_save_mode(SaveMode::Ignore);
        if def.kind.internal() {
            // Ingestion and the rollup refresh commit to these several times a run and
            // open them at every job: a checkpoint every 10 commits (instead of 100)
            // keeps the log that an open replays short.
            create = create.with_configuration_property(TableProperty::CheckpointInterval, Some("10"));
        }
        let created = create.await;
        match created {
            Ok(t) => Ok(t),
            // Another process may have created it first: use theirs.
            Err(e) => self.open_existing(def).await?.ok_or_else(|| Self::delta_err(def)(e)),
        }
    }

    /// The last version `app_id` committed to the table, from its Delta `txn` actions.
    pub async fn txn_version(&self, def: &TableDef, table: &DeltaTable, app_id: &str) -> Result<i64, LakeError> {
        let state = table.snapshot().map_err(Self::delta_err(def))?;
        Ok(state
            .transaction_version(table.log_store().as_ref(), app_id)
            .await
            .map_err(Self::delta_err(def))?
            .unwrap_or(0))
    }

    /// Commits staged files, or none, with the transaction `txn` and `metadata`.
    pub async fn commit_append(
        &self,
        def: &TableDef,
        table: &mut DeltaTable,
        adds: Vec<Add>,
        txn: Option<Transaction>,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<u64, LakeError> {
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: def.partition.map(|p| vec![p.to_string()]),
            predicate: None,
        };
        self.commit(
            def,
            table,
            adds.into_iter().map(Action::Add).collect(),
            txn.into_iter().collect(),
            metadata,
            operation,
        )
        .await
    }

    /// Replaces the whole content of a table with `adds`, in one commit; a table
    /// laid out in another partitioning takes that of `def` in the same commit (the
    /// files of `adds` must be written in it, as [`Appender`] does).
    pub async fn commit_replace(
        &self,
        def: &TableDef,
        table: &mut DeltaTable,
        adds: Vec<Add>,
        txns: Vec<Transaction>,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<u64, LakeError> {
        let mut actions: Vec<Action> = self.relayout(def, table)?.map(Action::Metadata).into_iter().collect();
        let state = table.snapshot().map_err(Self::delta_err(def))?;
        actions.extend(state.log_data().into_iter().map(|f| Action::Remove(f.remove_action(true))));
        actions.extend(adds.into_iter().map(Action::Add));
        let partition_by = def.partition.map(|p| vec![p.to_string()]);
        let operation = DeltaOperation::Write { mode: SaveMode::Overwrite, partition_by, predicate: None };
        self.commit(def, table, actions, txns, metadata, operation).await
    }

    /// Replaces the content of some partitions of a partitioned table with `adds`
    /// (which must belong to those partitions), in one commit with `txns`. With no
    /// partitions and no files it commits the transactions alone.
    pub async fn commit_replace_partitions(
        &self,
        def: &TableDef,
        table: &mut DeltaTable,
        partitions: &BTreeSet<String>,
        adds: Vec<Add>,
        txns: Vec<Transaction>,
    ) -> Result<u64, LakeError> {
        let column = def.partition.expect("a partitioned table");
        let mut actions: Vec<Action> = Vec::new();
        if !partitions.is_empty() {
            let state = table.snapshot().map_err(Self::delta_err(def))?;
            for f in state.log_data() {
                let value = f.partition_values_map().remove(column).flatten();
                if value.is_some_and(|v| partitions.contains(&v)) {
                    actions.push(Action::Remove(f.remove_action(true)));
                }
            }
        }
        actions.extend(adds.into_iter().map(Action::Add));
        let list = partitions.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(", ");
        let operation = DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: Some(vec![column.to_string()]),
            predicate: Some(format!("{column} IN ({list})")),
        };
        self.commit(def, table, actions, txns, HashMap::new(), operation).await
    }

    /// The highest value of an integer column, from the Delta log's file statistics
    /// (no data file is read); a scan where a file has none. `None` for no rows.
    pub async fn max_of(&self, def: &TableDef, table: &DeltaTable, column: &str) -> Result<Option<i64>, LakeError> {
        let mut best: Option<i64> = None;
        let mut complete = true;
        for f in table.snapshot().map_err(Self::delta_err(def))?.log_data() {
            let max = f.stats().and_then(|s| {
                let stats: serde_json::Value = serde_json::from_str(&s).ok()?;
                stats.get("maxValues")?.get(column)?.as_i64()
            });
            match max {
                Some(m) => best = best.max(Some(m)),
                None if f.num_records() == Some(0) => {}
                None => complete = false,
            }
        }
        if complete { Ok(best) } else { self.max_by_scan(def, table, column).await }
    }

    async fn max_by_scan(&self, def: &TableDef, table: &DeltaTable, column: &str) -> Result<Option<i64>, LakeError> {
        use datafusion::arrow::array::{Array, AsArray};
        let ctx = SessionContext::new();
        self.register(&ctx, def, table).await?;
        let q = |source| LakeError::Query { table: def.name.to_string(), source };
        let sql = format!("SELECT CAST(max({column}) AS BIGINT) FROM {}", def.name);
        let batches = ctx.sql(&sql).await.map_err(q)?.collect().await.map_err(q)?;
        let b = batches.first().filter(|b| b.num_rows() > 0);
        Ok(b.and_then(|b| {
            let a = b.column(0).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            a.is_valid(0).then(|| a.value(0))
        }))
    }

    /// The partition values of the files a table holds at the version it is open at.
    pub fn partition_files(&self, def: &TableDef, table: &DeltaTable) -> Result<Vec<(String, String)>, LakeError> {
        let column = def.partition.expect("a partitioned table");
        let state = table.snapshot().map_err(Self::delta_err(def))?;
        Ok(state
            .log_data()
            .into_iter()
            .map(|f| (f.path().to_string(), f.partition_values_map().remove(column).flatten().unwrap_or_default()))
            .collect())
    }

    async fn commit(
        &self,
        def: &TableDef,
        table: &mut DeltaTable,
        actions: Vec<Action>,
        txns: Vec<Transaction>,
        metadata: HashMap<String, serde_json::Value>,
        operation: DeltaOperation,
    ) -> Result<u64, LakeError> {
        let properties = CommitProperties::default().with_metadata(metadata).with_application_transactions(txns);
        let state = table.snapshot().map_err(Self::delta_err(def))?;
        let finalized = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(state), table.log_store(), operation)
            .await
            .map_err(Self::delta_err(def))?;
        let version = finalized.version();
        table.state = Some(finalized.snapshot());
        Ok(version)
    }

    /// A DataFusion session with `tables` registered under their names (at their
    /// latest versions); tables never created are skipped.
    pub async fn session(&self, tables: &[&TableDef]) -> Result<SessionContext, LakeError> {
        let ctx = SessionContext::new();
        for def in tables {
            if let Some(table) = self.open_existing(def).await? {
                self.register(&ctx, def, &table).await?;
            }
        }
        Ok(ctx)
    }

    pub async fn register(&self, ctx: &SessionContext, def: &TableDef, table: &DeltaTable) -> Result<(), LakeError> {
        let q = |source| LakeError::Query { table: def.name.to_string(), source };
        table.update_datafusion_session(&ctx.state()).map_err(Self::delta_err(def))?;
        let provider = table.table_provider().await.map_err(q)?;
        ctx.register_table(def.name, provider).map_err(q)?;
        Ok(())
    }

    /// Every row of a table (empty if it was never created).
    pub async fn read_all(&self, def: &TableDef) -> Result<Vec<RecordBatch>, LakeError> {
        let Some(table) = self.open_existing(def).await? else { return Ok(Vec::new()) };
        self.scan_all(def, &table).await
    }

    /// Every row of a table already open, at the version it holds.
    pub async fn scan_all(&self, def: &TableDef, table: &DeltaTable) -> Result<Vec<RecordBatch>, LakeError> {
        let names: Vec<&str> = def.columns.iter().map(|c| c.name).collect();
        self.scan(def, table, &names, None).await
    }

    /// Some columns of every row of a table (nothing if it was never created).
    pub async fn read_columns(&self, def: &TableDef, columns: &[&str]) -> Result<Vec<RecordBatch>, LakeError> {
        let Some(table) = self.open_existing(def).await? else { return Ok(Vec::new()) };
        self.scan(def, &table, columns, None).await
    }

    /// Some columns of the rows of a table already open (at the version it holds)
    /// that pass `filter`. The filter also skips whole files by the column statistics
    /// of the Delta log.
    pub async fn scan(
        &self,
        def: &TableDef,
        table: &DeltaTable,
        columns: &[&str],
        filter: Option<Expr>,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        let ctx = SessionContext::new();
        self.register(&ctx, def, table).await?;
        let q = |source| LakeError::Query { table: def.name.to_string(), source };
        let mut frame = ctx.table(def.name).await.map_err(q)?;
        if let Some(filter) = filter {
            frame = frame.filter(filter).map_err(q)?;
        }
        let batches = frame.select_columns(columns).map_err(q)?.collect().await.map_err(q)?;
        batches.iter().map(|b| conform(def, columns, b)).collect()
    }

    /// Deletes files written for a table but never committed (no reader knows them).
    pub async fn discard(&self, def: &TableDef, table: &DeltaTable, adds: &[Add]) -> Result<(), LakeError> {
        let store = table.object_store();
        for add in adds {
            let path = deltalake::Path::from_url_path(&add.path).map_err(|e| LakeError::Delta {
                table: def.name.to_string(),
                source: DeltaTableError::Generic(e.to_string()),
            })?;
            store
                .delete(&path)
                .await
                .map_err(|e| LakeError::Delta { table: def.name.to_string(), source: e.into() })?;
        }
        Ok(())
    }

    /// The table's current Delta version, or `None` if it was never created.
    pub async fn version(&self, def: &TableDef) -> Result<Option<u64>, LakeError> {
        Ok(self.open_existing(def).await?.and_then(|t| t.version()))
    }
}

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;

/// A batch read back with the column types of the table's definition: the scan may
/// hand out equivalent types (string views for text, for one), and callers rely on
/// the schema that was written.
fn conform(def: &TableDef, columns: &[&str], batch: &RecordBatch) -> Result<RecordBatch, LakeError> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (i, name) in columns.iter().enumerate() {
        let col = def.column(name).expect("a column of the table");
        let ty = col.ty.arrow();
        let array = batch.column(i);
        arrays.push(if array.data_type() == &ty {
            array.clone()
        } else {
            datafusion::arrow::compute::cast(array, &ty)?
        });
        fields.push(Field::new(*name, ty, true));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Writes batches of one table as Parquet files that no reader sees until they are
/// committed. The Parquet encoding runs on a task of its own, so that the caller
/// reads and checks the next rows meanwhile (on another core).
pub struct Appender {
    table: String,
    batches: Option<tokio::sync::mpsc::Sender<RecordBatch>>,
    writer: Option<tokio::task::JoinHandle<Result<Vec<Add>, LakeError>>>,
}

impl Appender {
    pub fn new(def: &TableDef, table: &DeltaTable) -> Result<Self, LakeError> {
        Self::with_properties(def, table, None)
    }

    /// An appender whose Parquet files are written with `properties` (the Delta
    /// writer's own when `None`); the rewrite of a whole table sets its row group and
    /// page sizes this way.
    pub fn with_properties(
        def: &TableDef,
        table: &DeltaTable,
        properties: Option<datafusion::parquet::file::properties::WriterProperties>,
    ) -> Result<Self, LakeError> {
        let writer = if rewrite::layout_current(def, table)? {
            RecordBatchWriter::for_table(table)
        } else {
            // Files for a table being moved to the partitioning of its definition,
            // committed with the new layout by `Lake::commit_replace`.
            let partitions = def.partition.iter().map(|p| p.to_string()).collect();
            RecordBatchWriter::try_new(table.table_url().as_str(), def.schema(), Some(partitions), None)
        };
        let mut writer = writer.map_err(Lake::delta_err(def))?;
        if let Some(properties) = properties {
            writer = writer.with_writer_properties(properties);
        }
        let name = def.name.to_string();
        // Two batches in flight at most: memory stays bounded when the writer lags.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let task = tokio::spawn(async move {
            let err = |source| LakeError::Delta { table: name.clone(), source };
            while let Some(batch) = rx.recv().await {
                writer.write(batch).await.map_err(err)?;
            }
            writer.flush().await.map_err(err)
        });
        Ok(Appender { table: def.name.to_string(), batches: Some(tx), writer: Some(task) })
    }

    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), LakeError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let sent = match &self.batches {
            Some(tx) => tx.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped: its own error says why.
        self.join().await.map(|_| ())
    }

    /// Closes the files and returns their `add` actions, to be committed.
    pub async fn finish(mut self) -> Result<Vec<Add>, LakeError> {
        self.join().await
    }

    async fn join(&mut self) -> Result<Vec<Add>, LakeError> {
        self.batches = None;
        let Some(task) = self.writer.take() else {
            return Err(self.stopped("the Parquet writer already stopped".into()));
        };
        match task.await {
            Ok(result) => result,
            Err(e) => Err(self.stopped(format!("the Parquet writer failed: {e}"))),
        }
    }

    fn stopped(&self, message: String) -> LakeError {
        LakeError::Delta { table: self.table.clone(), source: DeltaTableError::Generic(message) }
    }
}

impl Drop for Appender {
    /// An appender given up before `finish` (the run failed) writes no files.
    fn drop(&mut self) {
        if let Some(task) = self.writer.take() {
            task.abort();
        }
    }
}
