//! The query engine: every lake table at one snapshot, the `sql/` views over them,
//! and KPI requests run against both. Each query gets a session of its own, so
//! concurrent requests never see each other's request tables; what every session
//! holds (the Delta tables, opened once, and the views, planned once) is shared.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono_tz::Tz;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use super::catalog::{Catalog, Disaggregation, Kpi};
use super::frame;
use super::options::{self, Use};
use super::period::Period;
use super::snapshot::Snapshot;
use super::udf;
use super::{By, KpiError, KpiRequest, KpiResult};
use crate::domain::BoundarySet;
use crate::lake::Lake;
use crate::lake::schema::{TABLES, TableDef};

mod run;

/// One facility as the request tables need it.
#[derive(Debug, Clone)]
struct FacilityRow {
    code: String,
    name: String,
    station: bool,
    province_63: String,
    province_34: String,
    go_live: Option<chrono::NaiveDate>,
    catchment: Option<i64>,
}

/// A commune station as the reports need it, provinces read in one boundary set.
#[derive(Debug, Clone)]
pub struct StationInfo<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub province: &'a str,
    pub go_live: Option<chrono::NaiveDate>,
    pub catchment: Option<i64>,
}

impl FacilityRow {
    fn province(&self, set: BoundarySet) -> &str {
        match set {
            BoundarySet::P34 => &self.province_34,
            BoundarySet::P63 => &self.province_63,
        }
    }
}

struct Table {
    def: &'static TableDef,
    delta: Option<DeltaTable>,
    provider: Arc<dyn TableProvider>,
}

/// The lake at one snapshot, ready for queries.
pub struct Engine {
    catalog: Arc<Catalog>,
    tz: Tz,
    tables: Vec<Table>,
    snapshot: Snapshot,
    facilities: Vec<FacilityRow>,
    /// Province names by (set, code).
    provinces: BTreeMap<(BoundarySet, String), String>,
    /// Every rollup reflects exactly the source versions this engine opened.
    rollups_fresh: bool,
    /// Every state table does (the rollup that joins them may still lag behind).
    states_fresh: bool,
    /// KPIs with a rollup query are served from the rollups when they are fresh.
    use_rollups: bool,
    /// Parquet files the queries of this engine have read, for the benchmark.
    files_read: AtomicU64,
    /// The object stores of the lake's tables, registered once for every session.
    runtime: Arc<RuntimeEnv>,
    /// What every session starts from, by name: the tables and the views over them.
    /// Planning the views took longer than many a KPI query.
    shared: tokio::sync::OnceCell<Vec<(String, Arc<dyn TableProvider>)>>,
}

/// A spawned task that is aborted when whoever awaits it goes away (a client that
/// leaves mid-page drops the page's futures), so that its query stops there instead
/// of running on to a result nobody reads.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        // A no-op once the task has finished.
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

fn df(e: DataFusionError) -> KpiError {
    KpiError::Query(e.to_string())
}

/// The Parquet files an executed plan's scans were given (after the Delta log's
/// pruning by partition and statistics).
fn files_scanned(plan: &dyn datafusion::physical_plan::ExecutionPlan) -> u64 {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::datasource::source::DataSourceExec;
    let own = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|d| d.data_source().downcast_ref::<FileScanConfig>())
        .map_or(0, |c| c.file_groups.iter().map(|g| g.len() as u64).sum());
    own + plan.children().into_iter().map(|c| files_scanned(c.as_ref())).sum::<u64>()
}

/// `HOMEDOC_EXPLAIN=1`: every KPI query writes its timings and its physical plan,
/// with each operator's metrics, to standard error, so that a slow page or report can
/// be taken apart query by query.
fn explain() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("HOMEDOC_EXPLAIN").is_some_and(|v| v != "0"))
}

fn explain_query(
    id: &str,
    periods: &[Period],
    (logical, physical, done): (std::time::Duration, std::time::Duration, std::time::Duration),
    plan: &dyn datafusion::physical_plan::ExecutionPlan,
) {
    use datafusion::physical_plan::display::DisplayableExecutionPlan;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let first = periods.first().map(ToString::to_string).unwrap_or_default();
    eprintln!(
        "homedoc: explain {id} ({} period(s) from {first}): logical plan {:.1} ms, physical plan {:.1} ms, \
         execution {:.1} ms\n{}",
        periods.len(),
        ms(logical),
        ms(physical - logical),
        ms(done - physical),
        DisplayableExecutionPlan::with_metrics(plan).indent(true)
    );
}

/// Statements an analyst may run: queries only.
fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Plans a KPI's SQL with its parameters bound, and checks its columns.
async fn plan(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<(&str, ScalarValue)>,
) -> Result<datafusion::dataframe::DataFrame, String> {
    let frame = ctx.sql_with_options(sql, read_only()).await.map_err(|e| e.to_string())?;
    let frame = frame.with_param_values(params).map_err(|e| e.to_string())?;
    let names: Vec<&str> = frame.schema().fields().iter().map(|f| f.name().as_str()).collect();
    if names != ["period", "unit", "grp", "numerator", "denominator"] {
        return Err(format!("returns columns {names:?}, expected [period, unit, grp, numerator, denominator]"));
    }
    Ok(frame)
}

fn strings(batch: &RecordBatch, i: usize) -> Result<Vec<Option<String>>, KpiError> {
    let a = cast(batch.column(i), &DataType::Utf8).map_err(|e| KpiError::Query(e.to_string()))?;
    Ok(a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
}

/// Every row of a batch as text (nulls as empty strings), for small tables.
pub fn text_columns(batch: &RecordBatch) -> Result<Vec<Vec<String>>, KpiError> {
    let columns = (0..batch.num_columns()).map(|i| strings(batch, i)).collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows()).map(|r| columns.iter().map(|c| c[r].clone().unwrap_or_default()).collect()).collect())
}

fn floats(batch: &RecordBatch, i: usize) -> Result<Vec<Option<f64>>, KpiError> {
    let a = cast(batch.column(i), &DataType::Float64).map_err(|e| KpiError::Query(e.to_string()))?;
    let a = a.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    Ok((0..a.len()).map(|j| a.is_valid(j).then(|| a.value(j))).collect())
}

/// The breakdown a reporting unit asks of a KPI.
fn breakdown_of(by: By) -> Option<Disaggregation> {
    match by {
        By::National => None,
        By::Province => Some(Disaggregation::Province),
        By::Station => Some(Disaggregation::Station),
    }
}

/// A group dimension is not a reporting unit (province, station).
fn check_group(g: Disaggregation) -> Result<(), KpiError> {
    if g.is_group() {
        return Ok(());
    }
    Err(KpiError::Usage(format!("{} is a reporting unit, not a group: use by={}", g.as_str(), g.as_str())))
}

/// A unit of [`Engine::kpis_by_province_pair`] read in one boundary set.
pub(super) fn province_in(pair: &str, set: BoundarySet) -> &str {
    let (p63, p34) = pair.split_once('|').unwrap_or((pair, pair));
    match set {
        BoundarySet::P63 => p63,
        BoundarySet::P34 => p34,
    }
}

impl Engine {
    /// Opens every lake table at `as_of` (or at its latest version); tables never
    /// created read as empty.
    pub async fn open(lake: &Lake, catalog: Arc<Catalog>, tz: Tz, as_of: Option<&Snapshot>) -> Result<Self, KpiError> {
        // Every table's log is read side by side: a page opens the lake on each request.
        let opened = futures::future::try_join_all(TABLES.iter().map(|def| async move {
            let wanted = as_of.map(|s| s.0.get(def.name).copied());
            let delta = match wanted {
                // The snapshot was taken before this table existed.
                Some(None) => None,
                Some(Some(version)) => {
                    let mut t = lake.open_existing(def).await?.ok_or_else(|| {
                        KpiError::Usage(format!("snapshot: table {} does not exist in this lake", def.name))
                    })?;
                    t.load_version(version).await.map_err(|e| {
                        KpiError::Usage(format!("snapshot: table {} has no version {version}: {e}", def.name))
                    })?;
                    Some(t)
                }
                None => lake.open_existing(def).await?,
            };
            let provider: Arc<dyn TableProvider> = match &delta {
                Some(t) => t.table_provider().await.map_err(df)?,
                None => Arc::new(MemTable::try_new(def.schema(), vec![vec![]]).map_err(df)?),
            };
            Ok::<_, KpiError>(Table { def, delta, provider })
        }))
        .await?;
        let mut tables = Vec::with_capacity(opened.len());
        let mut snapshot = Snapshot::default();
        for t in opened {
            if let Some(d) = &t.delta {
                snapshot.0.insert(t.def.name.to_string(), d.version().unwrap_or(0) as u64);
            }
            tables.push(t);
        }
        // Fresh: every rollup table, monthly and yearly twin and state table reflects exactly the
        // version opened of each of its sources (the views read the state tables too).
        let delta = |def: &TableDef| tables.iter().find(|t| t.def.name == def.name).and_then(|t| t.delta.as_ref());
        let checks: Vec<(&TableDef, &TableDef, bool)> = crate::rollup::ROLLUPS
            .iter()
            .flat_map(|r| {
                let states = r.state.map(|s| (s.table, true));
                let tables = [(r.table, false), (r.monthly, false), (r.yearly, false)].into_iter().chain(states);
                tables.flat_map(move |(t, state)| r.sources().map(move |source| (t, source, state)))
            })
            .collect();
        let reflected =
            futures::future::try_join_all(checks.iter().map(|&(table, source, _)| {
                let version = snapshot.0.get(source.name).map_or(0, |v| *v as i64);
                let delta = delta(table);
                async move {
                    Ok::<_, KpiError>(crate::rollup::reflected_version(lake, table, source, delta).await? == version)
                }
            }))
            .await?;
        let rollups_fresh = reflected.iter().all(|fresh| *fresh);
        let states_fresh = checks.iter().zip(&reflected).filter(|((_, _, state), _)| *state).all(|(_, fresh)| *fresh);
        let mut engine = Engine {
            catalog,
            tz,
            tables,
            snapshot,
            facilities: Vec::new(),
            provinces: BTreeMap::new(),
            rollups_fresh,
            states_fresh,
            use_rollups: true,
            files_read: AtomicU64::new(0),
            runtime: Arc::new(RuntimeEnv::default()),
            shared: tokio::sync::OnceCell::new(),
        };
        engine.load_dimensions().await?;
        Ok(engine)
    }

    /// Whether every table this engine opened is still at the latest version in its
    /// log, and every table it found missing still is: a server keeps one engine
    /// open across requests while this holds, so that a request lists the Delta logs
    /// for new commits instead of reading every table's log again.
    pub async fn is_latest(&self, lake: &Lake) -> Result<bool, KpiError> {
        let checks = self.tables.iter().map(|t| async move {
            Ok::<_, KpiError>(match &t.delta {
                Some(d) => {
                    let latest = d
                        .get_latest_version()
                        .await
                        .map_err(|source| crate::lake::LakeError::Delta { table: t.def.name.to_string(), source })?;
                    d.version() == Some(latest)
                }
                None => lake.open_existing(t.def).await?.is_none(),
            })
        });
        Ok(futures::future::try_join_all(checks).await?.into_iter().all(|same| same))
    }

    /// Serve KPIs from the rollups where possible (the default), or always compute
    /// them from the raw tables.
    pub fn with_rollups(mut self, on: bool) -> Self {
        self.use_rollups = on;
        // The feeds' `_latest` views depend on it.
        self.shared = tokio::sync::OnceCell::new();
        self
    }

    /// Whether every rollup is up to date with the tables this engine opened.
    pub fn rollups_fresh(&self) -> bool {
        self.rollups_fresh
    }

    /// Whether a KPI is computed from the rollups by this engine.
    pub fn served_from_rollups(&self, id: &str) -> bool {
        self.use_rollups && self.rollups_fresh && self.catalog.kpi(id).is_some_and(|k| k.rollup_sql.is_some())
    }

    /// Parquet files read by this engine's KPI queries so far.
    pub fn files_read(&self) -> u64 {
        self.files_read.load(Ordering::Relaxed)
    }

    /// The `local_date` function in this engine's timezone.
    pub fn local_date_udf(&self) -> datafusion::logical_expr::ScalarUDF {
        udf::local_date(self.tz)
    }

    /// An engine over empty tables: plans every view and KPI without reading data.
    pub fn empty(catalog: Arc<Catalog>, tz: Tz) -> Result<Self, KpiError> {
        let tables = TABLES
            .iter()
            .map(|def| {
                let provider: Arc<dyn TableProvider> =
                    Arc::new(MemTable::try_new(def.schema(), vec![vec![]]).map_err(df)?);
                Ok(Table { def, delta: None, provider })
            })
            .collect::<Result<_, KpiError>>()?;
        Ok(Engine {
            catalog,
            tz,
            tables,
            snapshot: Snapshot::default(),
            facilities: Vec::new(),
            provinces: BTreeMap::new(),
            rollups_fresh: false,
            states_fresh: false,
            use_rollups: true,
            files_read: AtomicU64::new(0),
            runtime: Arc::new(RuntimeEnv::default()),
            shared: tokio::sync::OnceCell::new(),
        })
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Every commune station, by code.
    pub fn stations(&self, set: BoundarySet) -> impl Iterator<Item = StationInfo<'_>> {
        self.facilities.iter().filter(|f| f.station).map(move |f| StationInfo {
            code: &f.code,
            name: &f.name,
            province: f.province(set),
            go_live: f.go_live,
            catchment: f.catchment,
        })
    }

    /// A province's name in a boundary set.
    pub fn province_name(&self, set: BoundarySet, code: &str) -> Option<&str> {
        self.provinces.get(&(set, code.to_string())).map(String::as_str)
    }

    /// A fresh session with the lake tables, `local_date` and the views.
    async fn session(&self, purpose: Use) -> Result<SessionContext, KpiError> {
        let shared = self
            .shared
            .get_or_try_init(|| async {
                // Whatever `session_over` registered, so that the two never drift apart.
                let ctx = self.session_over(None).await?;
                let options = ctx.state().config().options().catalog.clone();
                let schema = ctx
                    .catalog(&options.default_catalog)
                    .and_then(|c| c.schema(&options.default_schema))
                    .ok_or_else(|| KpiError::Query("the session has no default schema".into()))?;
                let mut out = Vec::new();
                for name in schema.table_names() {
                    let provider = schema.table(&name).await.map_err(df)?;
                    out.push((name, provider.ok_or_else(|| KpiError::Query("a table vanished".into()))?));
                }
                Ok::<_, KpiError>(out)
            })
            .await?;
        let ctx = self.context(purpose)?;
        ctx.register_udf(udf::local_date(self.tz));
        for (name, provider) in shared {
            ctx.register_table(name.as_str(), provider.clone()).map_err(df)?;
        }
        Ok(ctx)
    }

    /// An empty session on this engine's runtime.
    fn context(&self, purpose: Use) -> Result<SessionContext, KpiError> {
        Ok(SessionContext::new_with_config_rt(options::config(purpose)?, self.runtime.clone()))
    }

    /// A fresh session in which one lake table reads the given rows instead (the
    /// rollup refresh computes a month through the views this way).
    pub async fn session_over(
        &self,
        replace: Option<(&TableDef, Vec<RecordBatch>)>,
    ) -> Result<SessionContext, KpiError> {
        let ctx = self.context(Use::Large)?;
        ctx.register_udf(udf::local_date(self.tz));
        for t in &self.tables {
            if let Some(delta) = &t.delta {
                delta.update_datafusion_session(&ctx.state()).map_err(|e| KpiError::Query(e.to_string()))?;
            }
            ctx.register_table(t.def.name, t.provider.clone()).map_err(df)?;
        }
        // The latest version of each entity of a change feed, which the views start
        // from: the state table the rollup refresh keeps, when this engine serves from
        // the rollups and the states reflect the feeds it opened; else worked out from
        // the feed (the raw path, and the refresh of a feed's month, which stands rows
        // in for the feed).
        let from_state = replace.is_none() && self.use_rollups && self.states_fresh;
        if let Some((def, rows)) = replace {
            let schema = rows.first().map_or_else(|| def.schema(), |b| b.schema());
            let table = MemTable::try_new(schema, vec![rows]).map_err(df)?;
            ctx.deregister_table(def.name).map_err(df)?;
            ctx.register_table(def.name, Arc::new(table)).map_err(df)?;
        }
        for r in crate::rollup::ROLLUPS {
            let Some(state) = r.state else { continue };
            let feed = r.source.name;
            let sql = if from_state {
                format!("CREATE VIEW {feed}_latest AS SELECT * FROM {}", state.table.name)
            } else {
                // The highest feed number is the latest change (the feed is in commit
                // order): a hash aggregate and a join, cheaper than a window. The
                // entity's birth instant (and its other fixed columns) never change
                // between its versions, so grouping by them too changes nothing but
                // lets a query's filter on them (bookings of a quarter) reach the scan
                // on both sides of the join before the aggregate, which then holds
                // only that period's entities.
                let group: Vec<&str> = [state.key, state.born].into_iter().chain(state.fixed.iter().copied()).collect();
                let on: Vec<String> = group.iter().map(|c| format!("l.{c} = f.{c}")).collect();
                format!(
                    "CREATE VIEW {feed}_latest AS SELECT f.* FROM {feed} f \
                     JOIN (SELECT {cols}, max(seq) AS latest FROM {feed} GROUP BY {cols}) l \
                     ON {on} AND l.latest = f.seq",
                    cols = group.join(", "),
                    on = on.join(" AND ")
                )
            };
            ctx.sql(&sql).await.map_err(df)?;
        }
        // Views may use other views: register in passes until none is left, so the
        // files need no order.
        let mut pending: Vec<_> = self.catalog.views.iter().collect();
        while !pending.is_empty() {
            let mut failed = Vec::new();
            let mut last_error = None;
            for view in &pending {
                match ctx.sql(&format!("CREATE VIEW {} AS {}", view.name, view.sql)).await {
                    Ok(_) => {}
                    Err(e) => {
                        last_error = Some(format!("views/{}.sql: {e}", view.name));
                        failed.push(*view);
                    }
                }
            }
            if failed.len() == pending.len() {
                return Err(KpiError::Query(last_error.expect("a failure")));
            }
            pending = failed;
        }
        Ok(ctx)
    }

    async fn load_dimensions(&mut self) -> Result<(), KpiError> {
        let ctx = self.session(Use::Large).await?;
        let batches = ctx
            .sql(
                "SELECT facility, name, level = 'commune_station', province_63, province_34, \
                 go_live, catchment_population FROM facility_current",
            )
            .await
            .map_err(df)?
            .collect()
            .await
            .map_err(df)?;
        for b in &batches {
            let (code, name, p63, p34) = (strings(b, 0)?, strings(b, 1)?, strings(b, 3)?, strings(b, 4)?);
            let station = b.column(2).as_boolean();
            let go_live = b.column(5).as_primitive::<datafusion::arrow::datatypes::Date32Type>();
            let catchment = floats(b, 6)?;
            for i in 0..b.num_rows() {
                self.facilities.push(FacilityRow {
                    code: code[i].clone().unwrap_or_default(),
                    name: name[i].clone().unwrap_or_default(),
                    station: station.value(i),
                    province_63: p63[i].clone().unwrap_or_default(),
                    province_34: p34[i].clone().unwrap_or_default(),
                    go_live: go_live.is_valid(i).then(|| go_live.value_as_date(i)).flatten(),
                    catchment: catchment[i].map(|c| c as i64),
                });
            }
        }
        self.facilities.sort_by(|a, b| a.code.cmp(&b.code));
        for (set, table) in [(BoundarySet::P34, "provinces_34"), (BoundarySet::P63, "provinces_63")] {
            let batches = ctx
                .sql(&format!("SELECT code, name_vi FROM {table}"))
                .await
                .map_err(df)?
                .collect()
                .await
                .map_err(df)?;
            for b in &batches {
                for (code, name) in strings(b, 0)?.into_iter().zip(strings(b, 1)?) {
                    if let (Some(code), Some(name)) = (code, name) {
                        self.provinces.insert((set, code), name);
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs read-only SQL over the lake tables and views.
    pub async fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), KpiError> {
        let ctx = self.session(Use::Large).await?;
        let frame = ctx.sql_with_options(sql, read_only()).await.map_err(df)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(df)?;
        Ok((schema, batches))
    }

    /// Runs read-only SQL with `$name` placeholders bound to values: nothing from a
    /// request is pasted into the text. For the small tables of a page or a report.
    pub async fn query_with(
        &self,
        sql: &str,
        params: Vec<(&str, ScalarValue)>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), KpiError> {
        let ctx = self.session(Use::Small).await?;
        let frame = ctx.sql_with_options(sql, read_only()).await.map_err(df)?;
        let frame = frame.with_param_values(params).map_err(df)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(df)?;
        Ok((schema, batches))
    }

    /// The day `check` plans the KPIs for: any will do, nothing is read.
    const CHECK_DAY: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date");

    /// Plans every view and KPI; returns every problem found.
    pub async fn check(&self) -> Vec<String> {
        let ctx = match self.session(Use::Large).await {
            Ok(c) => c,
            Err(e) => return vec![e.to_string()],
        };
        if let Err(e) = frame::register_empty(&ctx).await {
            return vec![e.to_string()];
        }
        let mut problems = Vec::new();
        for kpi in self.catalog.kpis.values() {
            if let Err(e) = plan(&ctx, &kpi.sql, self.params(None, (Self::CHECK_DAY, Self::CHECK_DAY))).await {
                problems.push(format!("kpi/{}.sql: {e}", kpi.id));
            }
            if let Some(sql) = &kpi.rollup_sql {
                if let Err(e) = plan(&ctx, sql, self.params(None, (Self::CHECK_DAY, Self::CHECK_DAY))).await {
                    problems.push(format!("rollups/kpi/{}.sql: {e}", kpi.id));
                }
            }
        }
        for r in crate::rollup::ROLLUPS {
            let Some(view) = self.catalog.rollup(r.table.name) else { continue };
            let planned = match ctx.sql_with_options(&view.sql, read_only()).await {
                Ok(frame) => {
                    let names: Vec<String> = frame.schema().fields().iter().map(|f| f.name().clone()).collect();
                    let want: Vec<String> =
                        r.table.columns.iter().map(|c| c.name.to_string()).filter(|n| n != "month").collect();
                    if names == want { Ok(()) } else { Err(format!("returns columns {names:?}, expected {want:?}")) }
                }
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = planned {
                problems.push(format!("rollups/{}.sql: {e}", r.table.name));
            }
        }
        problems
    }

    /// The instant (UTC) at which a local day starts, as a KPI parameter. KPIs use
    /// it only to skip files, their local day deciding, so where midnight falls in a
    /// daylight-saving gap a day's margin does: `early` for a lower bound, else later.
    fn day_start(&self, day: chrono::NaiveDate, early: bool) -> ScalarValue {
        use chrono::TimeZone;
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        let at = match self.tz.from_local_datetime(&midnight).earliest() {
            Some(t) => t.to_utc(),
            None if early => midnight.checked_sub_days(chrono::Days::new(1)).unwrap_or(midnight).and_utc(),
            None => midnight.checked_add_days(chrono::Days::new(1)).unwrap_or(midnight).and_utc(),
        };
        ScalarValue::TimestampMicrosecond(Some(at.timestamp_micros()), Some("UTC".into()))
    }

    /// A KPI's parameters: `days` are the first and the last requested day.
    fn params(
        &self,
        group: Option<Disaggregation>,
        days: (chrono::NaiveDate, chrono::NaiveDate),
    ) -> Vec<(&'static str, ScalarValue)> {
        let (first, last) = days;
        let before = first.pred_opt().unwrap_or(first);
        vec![
            ("grp", ScalarValue::Utf8(Some(group.map_or("all", Disaggregation::as_str).to_string()))),
            ("before", ScalarValue::Date32(Some(datafusion::arrow::datatypes::Date32Type::from_naive_date(before)))),
            ("from_at", self.day_start(first, true)),
            ("until_at", self.day_start(last.succ_opt().unwrap_or(last), false)),
        ]
    }

    /// The (facility, unit) pairs of a request and the units to report, with names.
    fn units(&self, req: &KpiRequest) -> Result<(Vec<(String, String)>, BTreeMap<String, String>), KpiError> {
        let set = req.boundary;
        if let Some(p) = &req.province {
            if !self.provinces.contains_key(&(set, p.clone())) {
                return Err(KpiError::Usage(format!("province {p:?} is not a province code of the {set} set")));
            }
        }
        let name =
            |code: &str| self.provinces.get(&(set, code.to_string())).cloned().unwrap_or_else(|| code.to_string());
        let mut pairs = Vec::new();
        let mut report = BTreeMap::new();
        for f in &self.facilities {
            let province = f.province(set);
            if req.province.as_deref().is_some_and(|p| p != province) {
                continue;
            }
            let unit = match (req.by, &req.province) {
                (By::National, None) => "VN".to_string(),
                (By::National, Some(p)) | (By::Province, Some(p)) => p.clone(),
                (By::Province, None) => province.to_string(),
                (By::Station, _) => f.code.clone(),
            };
            // Every station and province in scope is reported, with zeros; other
            // facilities (hospitals) only where they have figures.
            if req.by != By::Station || f.station {
                let label = match req.by {
                    By::Station => f.name.clone(),
                    _ if unit == "VN" => "Việt Nam".to_string(),
                    _ => name(&unit),
                };
                report.insert(unit.clone(), label);
            } else {
                report.entry(unit.clone()).or_insert_with(|| f.name.clone());
            }
            pairs.push((f.code.clone(), unit));
        }
        if req.by == By::National && req.province.is_none() {
            report.insert("VN".into(), "Việt Nam".into());
        }
        Ok((pairs, report))
    }

    /// Runs one KPI for a request.
    pub async fn kpi(&self, id: &str, req: &KpiRequest) -> Result<KpiResult, KpiError> {
        self.kpi_over(id, req, &req.periods()).await
    }

    /// Runs one KPI for the request's units and group over any periods, which may
    /// overlap (a day counts in each period that holds it): one query answers
    /// what would otherwise take one per period. `req.period` and `req.grain` are
    /// not read.
    pub async fn kpi_over(&self, id: &str, req: &KpiRequest, periods: &[Period]) -> Result<KpiResult, KpiError> {
        let mut results = self.kpis_over(&[id], req, periods).await?;
        Ok(results.pop().expect("one result per KPI"))
    }

    /// Runs several KPIs for one request and the same periods in one plan, a result
    /// for each in the order asked: a page's queries cost mostly fixed work around
    /// small figures (a session, the request tables, the rollup views, planning), which
    /// they then share.
    pub async fn kpis_over(
        &self,
        ids: &[&str],
        req: &KpiRequest,
        periods: &[Period],
    ) -> Result<Vec<KpiResult>, KpiError> {
        let unit = breakdown_of(req.by);
        if let Some(g) = req.group {
            check_group(g)?;
        }
        let kpis = ids
            .iter()
            .map(|id| self.kpi_allowing(id, unit.into_iter().chain(req.group)))
            .collect::<Result<Vec<_>, _>>()?;
        let asks: Vec<_> = kpis.into_iter().map(|k| (k, req.group)).collect();
        let (pairs, report_units) = self.units(req)?;
        self.run_kpis(&asks, &pairs, &report_units, periods).await
    }

    /// Runs one KPI for a request once for each group dimension, in one plan: a
    /// result for each, in order (`req.group` is not read).
    pub async fn kpi_by_groups(
        &self,
        id: &str,
        req: &KpiRequest,
        groups: &[Disaggregation],
    ) -> Result<Vec<KpiResult>, KpiError> {
        let unit = breakdown_of(req.by);
        let mut asks = Vec::new();
        for g in groups {
            check_group(*g)?;
            asks.push((self.kpi_allowing(id, unit.into_iter().chain([*g]))?, Some(*g)));
        }
        let periods = req.periods();
        let (pairs, report_units) = self.units(req)?;
        self.run_kpis(&asks, &pairs, &report_units, &periods).await
    }

    /// KPIs by province in both boundary sets at once, for figures that add up over
    /// places: each row's unit is `<63 code>|<34 code>`, which [`province_in`] reads
    /// in either set. Only provinces with figures are reported.
    pub(super) async fn kpis_by_province_pair(
        &self,
        ids: &[&str],
        periods: &[Period],
    ) -> Result<Vec<KpiResult>, KpiError> {
        let asks = ids
            .iter()
            .map(|id| Ok((self.kpi_allowing(id, [Disaggregation::Province])?, None)))
            .collect::<Result<Vec<_>, KpiError>>()?;
        let pairs: Vec<(String, String)> =
            self.facilities.iter().map(|f| (f.code.clone(), format!("{}|{}", f.province_63, f.province_34))).collect();
        self.run_kpis(&asks, &pairs, &BTreeMap::new(), periods).await
    }

    /// A KPI of the catalog, if it allows every breakdown given.
    pub(super) fn kpi_allowing(
        &self,
        id: &str,
        breakdowns: impl IntoIterator<Item = Disaggregation>,
    ) -> Result<&Kpi, KpiError> {
        let kpi = self.catalog.kpi(id).ok_or_else(|| {
            KpiError::Usage(format!(
                "no KPI {id:?} (known: {})",
                self.catalog.kpis.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let allowed = &kpi.meta.disaggregations;
        if let Some(d) = breakdowns.into_iter().find(|d| !allowed.contains(d)) {
            return Err(KpiError::Usage(format!(
                "{id} cannot be broken down by {} (it allows: national{})",
                d.as_str(),
                allowed.iter().map(|a| format!(", {}", a.as_str())).collect::<String>()
            )));
        }
        Ok(kpi)
    }
}

#[cfg(test)]
mod tests {
    use super::AbortOnDrop;

    /// Sends on drop: tells the test that the task's future was dropped.
    struct Dropped(Option<tokio::sync::oneshot::Sender<()>>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    #[tokio::test]
    async fn a_query_task_stops_when_its_caller_goes_away() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let task = AbortOnDrop(tokio::spawn(async move {
            let _guard = Dropped(Some(tx));
            let _ = started_tx.send(());
            // A query that would never finish on its own.
            std::future::pending::<()>().await;
        }));
        started_rx.await.expect("the task started");
        drop(task);
        // Only an abort drops the pending future; without one this waits in vain.
        tokio::time::timeout(std::time::Duration::from_secs(10), rx)
            .await
            .expect("the task was aborted when its caller dropped it")
            .expect("the guard sent on drop");
    }

    #[tokio::test]
    async fn a_finished_query_task_gives_its_result() {
        let task = AbortOnDrop(tokio::spawn(async { 6 * 7 }));
        assert_eq!(task.await.expect("the task ran"), 42);
    }
}
