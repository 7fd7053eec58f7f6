//! Rollups: day-, month- and year-level tables the KPIs read instead of the event feeds, kept
//! up to date after each ingestion so that a report's cost follows the number of
//! facilities and months (or days), not the number of events.
//!
//! A change feed holds every version of every entity, so its rollup goes through a
//! state table (the latest version of each entity) partitioned by the entity's birth
//! month (booked, created, started). A refresh reads only the feed rows past its
//! watermark, in one stream sorted into birth months (through scratch files when
//! they pass a memory budget, [`spill`]), merges each month it touches once, and
//! recomputes those months' rollup rows from their merged state: a late status
//! change rewrites the old month it belongs to and nothing else, and a first build
//! over years of history writes each month once, in one commit per table. The file drops are immutable rows already
//! partitioned by month, so their rollup recomputes the months that got new files.
//!
//! The rollup rows are computed by `sql/rollups/<table>.sql` over the same views the
//! raw KPIs use (with the source table standing for the rows of one month), so the
//! cleaning rules live in one place; the monthly table sums those day rows per
//! calendar month and is committed right after the daily one, with the same months;
//! the yearly table sums the monthly rows per calendar year and is recomputed whole
//! from it, after it, whenever the monthly table moved.
//! Each commit records, as Delta application transactions, the source version it
//! reflects (`version:<source>`) and for feeds the highest feed number merged
//! (`seq:<source>`); the engine serves a KPI from rollups
//! only when every rollup reflects exactly the source versions it opened.
//!
//! A crash between the state, daily, monthly and yearly commits is repaired by the next
//! refresh: it starts from the lowest of the watermarks, the merge keeps each
//! entity's highest feed number (so merging twice changes nothing), and a month's
//! rollup rows are always recomputed whole.
//!
//! One rollup joins two feeds: bookings and first bookings by the account holder's
//! home station and group (`holder_daily`). An account's change moves every booking
//! of its holder, whatever month it fell in, so that rollup is recomputed whole from
//! the two state tables whenever either feed has moved ([`joined`]), after the
//! others have brought those states up to date.

mod joined;
mod spill;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{cast, interleave_record_batch, take_record_batch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::catalog::MemTable;
use datafusion::prelude::{col, lit};
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use futures::StreamExt;

use crate::kpi::{Catalog, Engine, KpiError};
use crate::lake::schema::{
    ACCOUNT_DAILY, ACCOUNT_MONTHLY, ACCOUNT_STATE, ACCOUNT_YEARLY, ACCOUNTS, APPOINTMENT_DAILY, APPOINTMENT_MONTHLY,
    APPOINTMENT_STATE, APPOINTMENT_YEARLY, APPOINTMENTS, HOLDER_DAILY, HOLDER_MONTHLY, HOLDER_YEARLY,
    TELEMEDICINE_DAILY, TELEMEDICINE_MONTHLY, TELEMEDICINE_SESSIONS, TELEMEDICINE_YEARLY, TRAINING_ATTENDANCE,
    TRAINING_DAILY, TRAINING_MONTHLY, TRAINING_YEARLY, TableDef, VIDEO_CALL_DAILY, VIDEO_CALL_MONTHLY,
    VIDEO_CALL_STATE, VIDEO_CALL_YEARLY, VIDEO_CALLS,
};
use crate::lake::{Appender, Lake, LakeError};
use spill::Buckets;
pub use spill::Spill;

#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Kpi(#[from] KpiError),
    #[error("rollup {table}: {message}")]
    Build { table: String, message: String },
}

/// The latest version of each entity of a change feed.
#[derive(Debug, Clone, Copy)]
pub struct State {
    pub table: &'static TableDef,
    /// The entity's id column.
    pub key: &'static str,
    /// The instant that fixes the entity's month; it never changes between versions.
    pub born: &'static str,
    /// Other columns that never change between versions and that KPIs filter their
    /// period on (an appointment's slot), so the raw path can group by them too.
    pub fixed: &'static [&'static str],
}

/// A rollup table, its monthly and yearly twins and the lake table it follows.
#[derive(Debug, Clone, Copy)]
pub struct Rollup {
    pub table: &'static TableDef,
    pub monthly: &'static TableDef,
    pub yearly: &'static TableDef,
    pub source: &'static TableDef,
    /// Present for change feeds.
    pub state: Option<State>,
    /// Further tables joined to `source`: such a rollup is recomputed whole when any
    /// of its sources has moved.
    pub joins: &'static [&'static TableDef],
}

impl Rollup {
    /// What the rollup counts (`appointment`): its views are `<name>_in_period` and
    /// `<name>_to_date`.
    pub fn name(&self) -> &'static str {
        self.table.name.strip_suffix("_daily").unwrap_or(self.table.name)
    }

    /// Every table the rollup reflects: its source, then the tables joined to it.
    pub fn sources(&self) -> impl Iterator<Item = &'static TableDef> + use<> {
        std::iter::once(self.source).chain(self.joins.iter().copied())
    }
}

pub const ROLLUPS: &[Rollup] = &[
    Rollup {
        table: &ACCOUNT_DAILY,
        monthly: &ACCOUNT_MONTHLY,
        yearly: &ACCOUNT_YEARLY,
        source: &ACCOUNTS,
        state: Some(State { table: &ACCOUNT_STATE, key: "account_key", born: "created_at", fixed: &[] }),
        joins: &[],
    },
    Rollup {
        table: &APPOINTMENT_DAILY,
        monthly: &APPOINTMENT_MONTHLY,
        yearly: &APPOINTMENT_YEARLY,
        source: &APPOINTMENTS,
        state: Some(State {
            table: &APPOINTMENT_STATE,
            key: "appointment_id",
            born: "booked_at",
            fixed: &["slot_start"],
        }),
        joins: &[],
    },
    Rollup {
        table: &VIDEO_CALL_DAILY,
        monthly: &VIDEO_CALL_MONTHLY,
        yearly: &VIDEO_CALL_YEARLY,
        source: &VIDEO_CALLS,
        state: Some(State { table: &VIDEO_CALL_STATE, key: "call_id", born: "started_at", fixed: &[] }),
        joins: &[],
    },
    Rollup {
        table: &TELEMEDICINE_DAILY,
        monthly: &TELEMEDICINE_MONTHLY,
        yearly: &TELEMEDICINE_YEARLY,
        source: &TELEMEDICINE_SESSIONS,
        state: None,
        joins: &[],
    },
    Rollup {
        table: &TRAINING_DAILY,
        monthly: &TRAINING_MONTHLY,
        yearly: &TRAINING_YEARLY,
        source: &TRAINING_ATTENDANCE,
        state: None,
        joins: &[],
    },
    // Last: it reads the account and appointment states the refresh brought up to date.
    Rollup {
        table: &HOLDER_DAILY,
        monthly: &HOLDER_MONTHLY,
        yearly: &HOLDER_YEARLY,
        source: &APPOINTMENTS,
        state: None,
        joins: &[&ACCOUNTS],
    },
];

fn version_id(source: &TableDef) -> String {
    format!("version:{}", source.name)
}

fn seq_id(source: &TableDef) -> String {
    format!("seq:{}", source.name)
}

/// The version of `source` that a rollup or state table reflects (0 before its
/// first refresh).
pub async fn reflected_version(
    lake: &Lake,
    def: &TableDef,
    source: &TableDef,
    table: Option<&DeltaTable>,
) -> Result<i64, LakeError> {
    match table {
        Some(t) => lake.txn_version(def, t, &version_id(source)).await,
        None => Ok(0),
    }
}

/// What one rollup's refresh did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RefreshReport {
    pub table: String,
    /// The source version the rollup now reflects.
    pub source_version: i64,
    /// Source rows read (feed changes, or drop rows of the recomputed months).
    pub rows_read: u64,
    /// Birth months (feeds) or partitions (drops) recomputed.
    pub months: Vec<String>,
    pub rollup_rows: u64,
    /// Feed changes that went through the scratch directory (a long backlog).
    pub spilled_rows: u64,
    pub commits: u32,
    /// Rows of the yearly table when it was recomputed (0 when it was already in line).
    pub yearly_rows: u64,
    pub seconds: f64,
}

/// Brings every rollup up to date with its source. `progress` hears about each
/// commit. Nothing is committed for a rollup already up to date.
pub async fn refresh(
    lake: &Lake,
    catalog: Arc<Catalog>,
    tz: Tz,
    spill: &Spill,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<RefreshReport>, RollupError> {
    let engine = Engine::open(lake, catalog.clone(), tz, None).await?;
    let mut out = Vec::new();
    for r in ROLLUPS {
        let started = Instant::now();
        let mut report = match r.state {
            _ if !r.joins.is_empty() => joined::refresh(lake, catalog.clone(), tz, r, spill, progress).await?,
            Some(state) => refresh_feed(lake, &engine, r, state, spill, progress).await?,
            None => refresh_drop(lake, &engine, r, progress).await?,
        };
        report.yearly_rows = refresh_yearly(lake, r, progress).await?;
        report.seconds = started.elapsed().as_secs_f64();
        out.push(report);
    }
    Ok(out)
}

fn build_err(def: &TableDef, message: impl ToString) -> RollupError {
    RollupError::Build { table: def.name.to_string(), message: message.to_string() }
}

/// An empty report, and the source table if it exists (its version in the report).
async fn start(lake: &Lake, r: &Rollup) -> Result<(RefreshReport, Option<DeltaTable>), RollupError> {
    let source = lake.open_existing(r.source).await?;
    let source_version = source.as_ref().map_or(0, |s| s.version().unwrap_or(0) as i64);
    Ok((RefreshReport { table: r.table.name.into(), source_version, ..Default::default() }, source))
}

async fn refresh_feed(
    lake: &Lake,
    engine: &Engine,
    r: &Rollup,
    state: State,
    spill: &Spill,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RefreshReport, RollupError> {
    let (mut report, source) = start(lake, r).await?;
    let Some(source) = source else { return Ok(report) };
    let version = report.source_version;
    let mut state_table = lake.open(state.table).await?;
    let mut rollup_table = lake.open(r.table).await?;
    let mut monthly_table = lake.open(r.monthly).await?;
    let (vid, sid) = (version_id(r.source), seq_id(r.source));
    let state_version = lake.txn_version(state.table, &state_table, &vid).await?;
    let rollup_version = lake.txn_version(r.table, &rollup_table, &vid).await?;
    let monthly_version = lake.txn_version(r.monthly, &monthly_table, &vid).await?;
    let current = state_version == version && rollup_version == version && monthly_version == version;
    if current && lake.layout_current(r.monthly, &monthly_table)? {
        return Ok(report);
    }
    let from = lake
        .txn_version(state.table, &state_table, &sid)
        .await?
        .min(lake.txn_version(r.table, &rollup_table, &sid).await?)
        .min(lake.txn_version(r.monthly, &monthly_table, &sid).await?);
    let last = lake.max_of(r.source, &source, "seq").await?.unwrap_or(0).max(from);
    let names: Vec<&str> = r.source.columns.iter().map(|c| c.name).collect();
    let mut months = BTreeSet::new();
    let (mut state_adds, mut rollup_adds, mut monthly_rows) = (Vec::new(), Vec::new(), Vec::new());
    if last > from {
        let (rows, mut pending) =
            pending_by_month(lake, engine, r, state, &source, (from, last), spill, progress).await?;
        report.rows_read = rows;
        report.spilled_rows = pending.spilled_rows;
        months = pending.months();
        // Each birth month is merged once and its files closed before the next: the
        // writer keeps a file's last row group in memory until the file is closed.
        for (i, month) in months.iter().enumerate() {
            let filter = col("month").eq(lit(month.clone()));
            let mut rows = lake.scan(state.table, &state_table, &names, Some(filter)).await?;
            rows.extend(pending.take(month).map_err(|e| build_err(r.table, e))?);
            // Merging the same change twice keeps one copy: a repaired refresh re-reads
            // changes its state already holds.
            let newest = newest_per_key(r.source, state, &rows)?;
            let merged: Vec<RecordBatch> =
                newest.map(|b| conform(r.source, &b, None)).transpose()?.into_iter().collect();
            drop(rows);
            let mut writer = Appender::new(state.table, &state_table)?;
            for b in &merged {
                writer.write(b.clone()).await?;
            }
            state_adds.extend(writer.finish().await?);
            let mut writer = Appender::new(r.table, &rollup_table)?;
            report.rollup_rows += write_month(engine, r, month, merged, &mut writer, &mut monthly_rows).await?;
            rollup_adds.extend(writer.finish().await?);
            progress(&format!("{}: birth month {month} merged, {} of {}", r.table.name, i + 1, months.len()));
        }
    }
    // One commit per table for the whole backlog: a crash before the last of them is
    // repaired by the next refresh, which starts again from the lowest watermark.
    let txns = vec![Transaction::new(&sid, last), Transaction::new(&vid, version)];
    lake.commit_replace_partitions(state.table, &mut state_table, &months, state_adds, txns.clone()).await?;
    crate::ingest::failpoint::hit(crate::ingest::failpoint::ROLLUP_BETWEEN_TABLES);
    lake.commit_replace_partitions(r.table, &mut rollup_table, &months, rollup_adds, txns.clone()).await?;
    crate::ingest::failpoint::hit(crate::ingest::failpoint::ROLLUP_BEFORE_MONTHLY);
    commit_monthly(lake, r, &mut monthly_table, Some(&months), monthly_rows, txns).await?;
    report.commits = 1;
    progress(&format!("{}: feed up to {last}, {} month(s) recomputed", r.table.name, months.len()));
    report.months = months.into_iter().collect();
    Ok(report)
}

/// The feed's changes numbered in `(from, to]`, read in one stream and sorted into
/// their entity's birth month (set in `month`), spilled to disk past the budget; and
/// how many were read.
#[allow(clippy::too_many_arguments)]
async fn pending_by_month(
    lake: &Lake,
    engine: &Engine,
    r: &Rollup,
    state: State,
    source: &DeltaTable,
    (from, to): (i64, i64),
    spill: &Spill,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(u64, spill::Sealed), RollupError> {
    let err = |e: datafusion::error::DataFusionError| build_err(r.source, e);
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_udf(engine.local_date_udf());
    lake.register(&ctx, r.source, source).await?;
    let born = format!("to_char(local_date({}), '%Y-%m') AS month", state.born);
    let exprs: Vec<&str> =
        r.source.columns.iter().map(|c| if c.name == "month" { born.as_str() } else { c.name }).collect();
    let frame = ctx.table(r.source.name).await.map_err(err)?;
    let frame = frame.filter(col("seq").gt(lit(from)).and(col("seq").lt_eq(lit(to)))).map_err(err)?;
    let mut stream = frame.select_exprs(&exprs).map_err(err)?.execute_stream().await.map_err(err)?;
    let mut buckets = Buckets::new(spill, r.table.name).map_err(|e| build_err(r.table, e))?;
    let (mut rows, mut told) = (0u64, 0u64);
    while let Some(batch) = stream.next().await {
        let batch = conform(r.source, &batch.map_err(err)?, None)?;
        rows += batch.num_rows() as u64;
        let bytes = batch.get_array_memory_size();
        buckets.push(split_by_month(r.source, &batch)?, bytes).map_err(|e| build_err(r.table, e))?;
        if rows - told >= 10_000_000 {
            told = rows;
            progress(&format!("{}: {rows} feed changes read and sorted by birth month", r.table.name));
        }
    }
    Ok((rows, buckets.seal().map_err(|e| build_err(r.table, e))?))
}

/// The rows of `rows` that hold their entity's highest feed number, ordered by entity.
/// A hash from key to row, not SQL `DISTINCT ON`: DataFusion plans that as one
/// `first_value` aggregate per column, and a national first build of the account
/// rollups, which had not finished in 6.5 min that way, takes 3 min this way. The rows
/// are picked from the batches where they lie (no copy of the input is made first).
fn newest_per_key(def: &TableDef, state: State, rows: &[RecordBatch]) -> Result<Option<RecordBatch>, RollupError> {
    if rows.iter().all(|b| b.num_rows() == 0) {
        return Ok(None);
    }
    let column = |batch: &RecordBatch, name: &str| {
        def.index(name)
            .and_then(|i| batch.column(i).as_primitive_opt::<Int64Type>().cloned())
            .ok_or_else(|| build_err(def, format!("no Int64 column {name}")))
    };
    let mut columns = Vec::with_capacity(rows.len());
    for b in rows {
        columns.push((column(b, state.key)?, column(b, "seq")?));
    }
    let total = rows.iter().map(|b| b.num_rows()).sum();
    // Key to (batch, row) of its newest change.
    let mut newest: HashMap<i64, (usize, usize), foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(total, Default::default());
    for (at, (key, seq)) in columns.iter().enumerate() {
        for i in 0..key.len() {
            newest
                .entry(key.value(i))
                .and_modify(|(b, r)| {
                    if seq.value(i) > columns[*b].1.value(*r) {
                        (*b, *r) = (at, i);
                    }
                })
                .or_insert((at, i));
        }
    }
    let mut keep: Vec<(i64, (usize, usize))> = newest.into_iter().collect();
    keep.sort_unstable_by_key(|(key, _)| *key);
    let picks: Vec<(usize, usize)> = keep.into_iter().map(|(_, at)| at).collect();
    let batches: Vec<&RecordBatch> = rows.iter().collect();
    interleave_record_batch(&batches, &picks).map(Some).map_err(|e| build_err(def, e))
}

/// A batch conformed to `def` (which has a `month` column) split by month: one sort
/// and one take, then a slice per month.
fn split_by_month(def: &TableDef, batch: &RecordBatch) -> Result<Vec<(String, RecordBatch)>, RollupError> {
    use datafusion::arrow::compute::{partition, sort_to_indices};
    let month_at = def.index("month").ok_or_else(|| build_err(def, "no month column"))?;
    let order = sort_to_indices(batch.column(month_at), None, None).map_err(|e| build_err(def, e))?;
    let sorted = take_record_batch(batch, &order).map_err(|e| build_err(def, e))?;
    let months = sorted.column(month_at).as_string::<i32>();
    let ranges = partition(std::slice::from_ref(sorted.column(month_at))).map_err(|e| build_err(def, e))?.ranges();
    ranges
        .into_iter()
        .map(|at| {
            if months.is_null(at.start) {
                return Err(build_err(def, "a row without a month"));
            }
            Ok((months.value(at.start).to_string(), sorted.slice(at.start, at.len())))
        })
        .collect()
}

/// Runs `sql` over `rows` registered as `incoming`; the result has the table's types.
async fn run(
    engine: &Engine,
    def: &TableDef,
    rows: Vec<RecordBatch>,
    sql: &str,
) -> Result<Vec<RecordBatch>, RollupError> {
    let schema = rows.first().map_or_else(|| def.schema(), |b| b.schema());
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_udf(engine.local_date_udf());
    let table = MemTable::try_new(schema, vec![rows]).map_err(|e| build_err(def, e))?;
    ctx.register_table("incoming", Arc::new(table)).map_err(|e| build_err(def, e))?;
    let batches = ctx.sql(sql).await.map_err(|e| build_err(def, e))?.collect().await.map_err(|e| build_err(def, e))?;
    batches.iter().map(|b| conform(def, b, None)).collect()
}

/// A month's rollup rows, from its source rows standing in for the whole source table.
async fn build_month(
    engine: &Engine,
    r: &Rollup,
    month: &str,
    rows: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, RollupError> {
    let sql = engine.catalog().rollup(r.table.name).ok_or_else(|| build_err(r.table, "no sql/rollups file"))?;
    let ctx = engine.session_over(Some((r.source, rows))).await?;
    let frame = ctx.sql(&sql.sql).await.map_err(|e| build_err(r.table, e))?;
    let batches = frame.collect().await.map_err(|e| build_err(r.table, e))?;
    batches.iter().map(|b| conform(r.table, b, Some(month))).collect()
}

/// Writes a month's rollup rows, from its source rows, and their monthly sums;
/// returns the day rows written.
async fn write_month(
    engine: &Engine,
    r: &Rollup,
    month: &str,
    rows: Vec<RecordBatch>,
    daily: &mut Appender,
    monthly: &mut Vec<RecordBatch>,
) -> Result<u64, RollupError> {
    let days = build_month(engine, r, month, rows).await?;
    let mut written = 0;
    for b in &days {
        written += b.num_rows() as u64;
        daily.write(b.clone()).await?;
    }
    monthly.extend(by_calendar_month(engine, r, days).await?);
    Ok(written)
}

/// Rewrites a rollup's monthly table with `rows` in place of the rows of the
/// `replaced` months (of every month when `None`). Its rows are ordered by
/// breakdown, then by month: most reports read one breakdown (`all`, mostly) over a
/// span of months, which are then a few row groups of the file.
async fn commit_monthly(
    lake: &Lake,
    r: &Rollup,
    table: &mut DeltaTable,
    replaced: Option<&BTreeSet<String>>,
    rows: Vec<RecordBatch>,
    txns: Vec<Transaction>,
) -> Result<(), RollupError> {
    let order: &[&str] = if r.monthly.index("dim").is_some() { &["dim", "day"] } else { &["day"] };
    lake.commit_rewrite(r.monthly, table, replaced.map(|m| ("month", m)), rows, order, txns).await?;
    Ok(())
}

/// A rollup's day rows summed per calendar month: the key columns stay (`day`
/// becomes its month's first day), the measures are summed.
async fn by_calendar_month(
    engine: &Engine,
    r: &Rollup,
    days: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, RollupError> {
    if days.is_empty() {
        return Ok(days);
    }
    let def = r.monthly;
    let mut select = Vec::new();
    let mut group = Vec::new();
    for (i, c) in def.columns.iter().enumerate() {
        if c.name == "day" {
            select.push("CAST(date_trunc('month', CAST(day AS TIMESTAMP)) AS DATE) AS day".to_string());
            group.push((i + 1).to_string());
        } else if def.key.contains(&c.name) {
            select.push(c.name.to_string());
            group.push((i + 1).to_string());
        } else {
            select.push(format!("sum({0}) AS {0}", c.name));
        }
    }
    let sql = format!("SELECT {} FROM incoming GROUP BY {}", select.join(", "), group.join(", "));
    run(engine, def, days, &sql).await
}

/// The source versions (and, for a feed, the feed number) a rollup's tables record.
fn watermark_ids(r: &Rollup) -> Vec<String> {
    let mut ids: Vec<String> = r.sources().map(version_id).collect();
    if r.state.is_some() {
        ids.push(seq_id(r.source));
    }
    ids
}

/// Brings a rollup's yearly table in line with its monthly twin: whenever the
/// monthly table records other watermarks than the yearly one (after a refresh that
/// changed it, or a crash before the yearly commit), the yearly table is recomputed
/// whole from it and committed with its watermarks. Returns the rows written, 0 when
/// it was in line already.
async fn refresh_yearly(lake: &Lake, r: &Rollup, progress: &(dyn Fn(&str) + Sync)) -> Result<u64, RollupError> {
    let Some(monthly) = lake.open_existing(r.monthly).await? else { return Ok(0) };
    let mut yearly = lake.open(r.yearly).await?;
    let mut txns = Vec::new();
    let mut behind = false;
    for id in watermark_ids(r) {
        let version = lake.txn_version(r.monthly, &monthly, &id).await?;
        behind |= lake.txn_version(r.yearly, &yearly, &id).await? != version;
        txns.push(Transaction::new(&id, version));
    }
    if !behind {
        return Ok(0);
    }
    crate::ingest::failpoint::hit(crate::ingest::failpoint::ROLLUP_BEFORE_YEARLY);
    let rows = by_calendar_year(lake, r, &monthly).await?;
    let written = rows.iter().map(|b| b.num_rows() as u64).sum();
    let order: &[&str] = if r.yearly.index("dim").is_some() { &["dim", "day"] } else { &["day"] };
    lake.commit_rewrite(r.yearly, &mut yearly, None, rows, order, txns).await?;
    progress(&format!("{}: recomputed whole, {written} row(s)", r.yearly.name));
    Ok(written)
}

/// A rollup's monthly rows summed per calendar year, streamed from its table: the
/// key columns stay but `month` (`day` becomes 1 January, `month` the year), the
/// measures are summed.
async fn by_calendar_year(lake: &Lake, r: &Rollup, monthly: &DeltaTable) -> Result<Vec<RecordBatch>, RollupError> {
    let def = r.yearly;
    let (mut inner, mut outer, mut group) = (Vec::new(), Vec::new(), Vec::new());
    for c in def.columns {
        match c.name {
            "day" => {
                inner.push("CAST(date_trunc('year', CAST(day AS TIMESTAMP)) AS DATE) AS day".to_string());
                outer.push("day".to_string());
                group.push("day");
            }
            "month" => outer.push("to_char(day, '%Y') AS month".to_string()),
            name if def.key.contains(&name) => {
                inner.push(name.to_string());
                outer.push(name.to_string());
                group.push(name);
            }
            name => {
                inner.push(name.to_string());
                outer.push(format!("sum({name}) AS {name}"));
            }
        }
    }
    // Table names are the rollups' own constants: no request text reaches the SQL.
    let sql = format!(
        "SELECT {} FROM (SELECT {} FROM {}) GROUP BY {}",
        outer.join(", "),
        inner.join(", "),
        r.monthly.name,
        group.join(", ")
    );
    let ctx = datafusion::prelude::SessionContext::new();
    lake.register(&ctx, r.monthly, monthly).await?;
    let batches = ctx.sql(&sql).await.map_err(|e| build_err(def, e))?.collect().await.map_err(|e| build_err(def, e))?;
    batches.iter().filter(|b| b.num_rows() > 0).map(|b| conform(def, b, None)).collect()
}

/// A batch with exactly the table's columns and types; `month` fills the partition
/// column when the query does not return it.
fn conform(def: &TableDef, batch: &RecordBatch, month: Option<&str>) -> Result<RecordBatch, RollupError> {
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut at = 0;
    for c in def.columns {
        if c.name == "month" && month.is_some() {
            let m = month.expect("checked");
            arrays.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(m, batch.num_rows()))));
            continue;
        }
        let field = batch
            .schema_ref()
            .fields()
            .get(at)
            .cloned()
            .ok_or_else(|| build_err(def, format!("no column {}", c.name)))?;
        if field.name() != c.name {
            return Err(build_err(def, format!("column {} is {:?}, expected {}", at + 1, field.name(), c.name)));
        }
        arrays.push(cast(batch.column(at), &c.ty.arrow()).map_err(|e| build_err(def, e))?);
        at += 1;
    }
    if at != batch.num_columns() {
        return Err(build_err(def, format!("the query returns {} columns, the table has {at}", batch.num_columns())));
    }
    RecordBatch::try_new(def.schema(), arrays).map_err(|e| build_err(def, e))
}

async fn refresh_drop(
    lake: &Lake,
    engine: &Engine,
    r: &Rollup,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RefreshReport, RollupError> {
    let (mut report, source) = start(lake, r).await?;
    let Some(source) = source else { return Ok(report) };
    let version = report.source_version;
    let mut rollup_table = lake.open(r.table).await?;
    let mut monthly_table = lake.open(r.monthly).await?;
    let vid = version_id(r.source);
    // The monthly table is committed second: a crash between the two leaves it behind.
    let seen = lake
        .txn_version(r.table, &rollup_table, &vid)
        .await?
        .min(lake.txn_version(r.monthly, &monthly_table, &vid).await?);
    if seen == version && lake.layout_current(r.monthly, &monthly_table)? {
        return Ok(report);
    }
    // The months whose files changed since the version the rollup reflects; all of
    // them when that version cannot be read any more.
    let now: BTreeSet<(String, String)> = lake.partition_files(r.source, &source)?.into_iter().collect();
    let mut then = BTreeSet::new();
    if seen > 0 {
        let mut old = source.clone();
        if old.load_version(seen as u64).await.is_ok() {
            then = lake.partition_files(r.source, &old)?.into_iter().collect();
        }
    }
    let months: BTreeSet<String> = now.symmetric_difference(&then).map(|(_, m)| m.clone()).collect();
    let names: Vec<&str> = r.source.columns.iter().map(|c| c.name).collect();
    let mut writer = Appender::new(r.table, &rollup_table)?;
    let mut monthly_rows = Vec::new();
    for month in &months {
        let rows = lake.scan(r.source, &source, &names, Some(col("month").eq(lit(month.clone())))).await?;
        report.rows_read += rows.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        report.rollup_rows += write_month(engine, r, month, rows, &mut writer, &mut monthly_rows).await?;
    }
    let adds = writer.finish().await?;
    let txns = vec![Transaction::new(&vid, version)];
    lake.commit_replace_partitions(r.table, &mut rollup_table, &months, adds, txns.clone()).await?;
    crate::ingest::failpoint::hit(crate::ingest::failpoint::ROLLUP_BEFORE_MONTHLY);
    commit_monthly(lake, r, &mut monthly_table, Some(&months), monthly_rows, txns).await?;
    report.commits = 1;
    progress(&format!("{}: {} month(s) recomputed", r.table.name, months.len()));
    report.months = months.into_iter().collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;

    use super::*;

    /// Video-call feed rows with the given (seq, call_id), every other column null.
    fn calls(rows: &[(i64, i64)]) -> RecordBatch {
        let def = &VIDEO_CALLS;
        let columns: Vec<ArrayRef> = def
            .columns
            .iter()
            .map(|c| match c.name {
                "seq" => Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
                "call_id" => Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                _ => datafusion::arrow::array::new_null_array(&c.ty.arrow(), rows.len()),
            })
            .collect();
        let fields: Vec<_> =
            def.columns.iter().map(|c| datafusion::arrow::datatypes::Field::new(c.name, c.ty.arrow(), true)).collect();
        RecordBatch::try_new(Arc::new(datafusion::arrow::datatypes::Schema::new(fields)), columns).unwrap()
    }

    fn ints(batch: &RecordBatch, name: &str) -> Vec<i64> {
        let a = batch.column(VIDEO_CALLS.index(name).unwrap()).as_primitive::<Int64Type>();
        (0..a.len()).map(|i| a.value(i)).collect()
    }

    #[test]
    fn newest_per_key_keeps_each_entitys_highest_seq_once_ordered_by_entity() {
        let state = ROLLUPS.iter().find_map(|r| r.state.filter(|s| s.key == "call_id")).unwrap();
        // Call 7 changed three times across two batches, call 3 once but merged
        // twice (a refresh repaired after a crash), call 5 once.
        let rows = [calls(&[(10, 7), (11, 3), (14, 7)]), calls(&[(11, 3), (12, 5), (13, 7)])];
        let newest = newest_per_key(&VIDEO_CALLS, state, &rows).unwrap().unwrap();
        assert_eq!(ints(&newest, "call_id"), [3, 5, 7]);
        assert_eq!(ints(&newest, "seq"), [11, 12, 14]);
        assert!(newest_per_key(&VIDEO_CALLS, state, &[]).unwrap().is_none());
    }
}
