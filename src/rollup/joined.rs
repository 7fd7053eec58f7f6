//! A rollup that joins feeds (`holder_daily`: bookings by the account holder's home
//! station and group). Its rows for a day depend on every version of an account, not
//! only on the changes of that day's month: an account that moves home station moves
//! all its bookings. So it is recomputed whole, from the state tables, whenever any
//! of its sources has moved, and every month partition is replaced in one commit per
//! table; the rows are streamed into their months on the way, through scratch files
//! past the memory budget as a feed's changes are. The engine it reads through is opened after the feed rollups have brought
//! the states up to date, so its views scan the states rather than the feeds; the
//! versions it records are the ones that engine opened.

use std::sync::Arc;

use chrono_tz::Tz;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::error::DataFusionError;
use datafusion::functions::expr_fn::to_char;
use datafusion::prelude::{col, lit};
use deltalake::kernel::Transaction;
use futures::{StreamExt, TryFutureExt};

use super::spill::{Buckets, Spill};
use super::{
    RefreshReport, Rollup, RollupError, build_err, by_calendar_month, commit_monthly, conform, split_by_month,
    version_id,
};
use crate::kpi::{Catalog, Engine};
use crate::lake::{Appender, Lake};

pub(super) async fn refresh(
    lake: &Lake,
    catalog: Arc<Catalog>,
    tz: Tz,
    r: &Rollup,
    spill: &Spill,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RefreshReport, RollupError> {
    let engine = Engine::open(lake, catalog, tz, None).await?;
    let versions: Vec<(String, i64)> =
        r.sources().map(|s| (version_id(s), engine.snapshot().0.get(s.name).map_or(0, |v| *v as i64))).collect();
    let mut report = RefreshReport { table: r.table.name.into(), source_version: versions[0].1, ..Default::default() };
    let mut daily_table = lake.open(r.table).await?;
    let mut monthly_table = lake.open(r.monthly).await?;
    // A monthly table in the partitioning of an older release is rewritten too.
    let mut behind = !lake.layout_current(r.monthly, &monthly_table)?;
    for (id, version) in &versions {
        for (def, table) in [(r.table, &daily_table), (r.monthly, &monthly_table)] {
            behind |= lake.txn_version(def, table, id).await? != *version;
        }
    }
    if !behind {
        return Ok(report);
    }
    let sql = engine.catalog().rollup(r.table.name).ok_or_else(|| build_err(r.table, "no sql/rollups file"))?;
    let ctx = engine.session_over(None).await?;
    let query = |sql: String| {
        let ctx = ctx.clone();
        async move { ctx.sql(&sql).await?.collect().await }.map_err(|e: DataFusionError| build_err(r.table, e))
    };
    // What the join reads: the latest version of every entity of each source.
    for s in r.sources() {
        let counted = query(format!("SELECT count(*) FROM {}_latest", s.name)).await?;
        let n = counted.first().filter(|b| b.num_rows() > 0).and_then(|b| b.column(0).as_primitive_opt::<Int64Type>());
        report.rows_read += n.map_or(0, |a| a.value(0) as u64);
    }
    // The partition column is added in the same plan, so the rows are never copied
    // into a second session just to gain it; they are streamed into their months,
    // through the scratch directory past the budget (national scale is tens of
    // millions of rows).
    let err = |e: DataFusionError| build_err(r.table, e);
    let frame = ctx.sql(&sql.sql).await.map_err(err)?;
    let frame = frame.with_column("month", to_char(col("day"), lit("%Y-%m"))).map_err(err)?;
    let mut stream = frame.execute_stream().await.map_err(err)?;
    let mut buckets = Buckets::new(spill, r.table.name).map_err(|e| build_err(r.table, e))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(err)?;
        if batch.num_rows() == 0 {
            continue;
        }
        let batch = conform(r.table, &batch, None)?;
        let bytes = batch.get_array_memory_size();
        buckets.push(split_by_month(r.table, &batch)?, bytes).map_err(|e| build_err(r.table, e))?;
    }
    let mut pending = buckets.seal().map_err(|e| build_err(r.table, e))?;
    report.spilled_rows = pending.spilled_rows;
    // Every month: those the rollup held before, which may now be empty, and the new.
    let computed = pending.months();
    let mut months = computed.clone();
    months.extend(lake.partition_files(r.table, &daily_table)?.into_iter().map(|(_, m)| m));
    let (mut daily_adds, mut monthly) = (Vec::new(), Vec::new());
    for month in &computed {
        let rows = pending.take(month).map_err(|e| build_err(r.table, e))?;
        // One writer per month, closed before the next: it holds a file's last row
        // group in memory until the file is closed.
        let mut daily = Appender::new(r.table, &daily_table)?;
        for b in &rows {
            report.rollup_rows += b.num_rows() as u64;
            daily.write(b.clone()).await?;
        }
        daily_adds.extend(daily.finish().await?);
        monthly.extend(by_calendar_month(&engine, r, rows).await?);
        progress(&format!("{}: {month} computed", r.table.name));
    }
    let txns: Vec<Transaction> = versions.iter().map(|(id, v)| Transaction::new(id, *v)).collect();
    lake.commit_replace_partitions(r.table, &mut daily_table, &months, daily_adds, txns.clone()).await?;
    crate::ingest::failpoint::hit(crate::ingest::failpoint::ROLLUP_BEFORE_MONTHLY);
    commit_monthly(lake, r, &mut monthly_table, None, monthly, txns).await?;
    report.commits = 1;
    progress(&format!("{}: recomputed whole, {} month(s)", r.table.name, months.len()));
    report.months = months.into_iter().collect();
    Ok(report)
}
