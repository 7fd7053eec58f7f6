//! Running KPI queries: one KPI or several in one plan, over request tables of
//! periods and units, and the rows each KPI reports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;

use super::{AbortOnDrop, Engine, df, explain, explain_query, files_scanned, floats, plan, strings};
use crate::kpi::catalog::{Disaggregation, Kpi};
use crate::kpi::frame;
use crate::kpi::options::Use;
use crate::kpi::period::Period;
use crate::kpi::{KpiError, KpiResult, KpiRow};

impl Engine {
    /// Runs KPIs, each broken down by its own group or none, over `periods` with
    /// `pairs` as the `units` table (facility, the unit it counts under), in one
    /// plan; a result for each, in order. Each reports every unit of `report_units`
    /// (code → name), with zeros where nothing was found, beside any other unit that
    /// has figures.
    pub(super) async fn run_kpis(
        &self,
        asks: &[(&Kpi, Option<Disaggregation>)],
        pairs: &[(String, String)],
        report_units: &BTreeMap<String, String>,
        periods: &[Period],
    ) -> Result<Vec<KpiResult>, KpiError> {
        let ids: Vec<&str> = asks.iter().map(|(k, _)| k.id.as_str()).collect();
        if periods.is_empty() {
            return Err(KpiError::Usage(format!("{}: no period to compute", ids.join(", "))));
        }
        if asks.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = self.session(Use::Small).await?;
        let days = frame::register_periods(&ctx, periods).map_err(df)?;
        frame::register_units(&ctx, pairs).map_err(df)?;
        // (id, SQL, whether it reads the rollups, its parameters)
        let queries: Vec<_> = asks
            .iter()
            .map(|(k, group)| {
                let params = self.params(*group, days);
                match &k.rollup_sql {
                    Some(sql) if self.served_from_rollups(&k.id) => (k.id.clone(), sql.clone(), true, params),
                    _ => (k.id.clone(), k.sql.clone(), false, params),
                }
            })
            .collect();
        let (periods_owned, label) = (periods.to_vec(), ids.join("+"));
        // Planning is CPU work that DataFusion does on the calling task: a task of its
        // own lets the KPIs a page asks for side by side plan on every core, where
        // futures joined in one task would plan one after another.
        let (batches, files) = AbortOnDrop(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let from_rollups: Vec<&str> = queries.iter().filter(|q| q.2).map(|q| q.1.as_str()).collect();
            if !from_rollups.is_empty() {
                frame::register_rollup_views(&ctx, &periods_owned, Some(&from_rollups.join("\n"))).await.map_err(df)?;
            }
            let mut frames = Vec::new();
            for (id, sql, _, params) in queries {
                let frame = plan(&ctx, &sql, params).await.map_err(|e| KpiError::Query(format!("{id}: {e}")))?;
                frames.push(frame);
            }
            let frame = tagged_union(frames).map_err(df)?;
            let planned = started.elapsed();
            let plan = frame.create_physical_plan().await.map_err(df)?;
            let physical = started.elapsed();
            let batches = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx()).await.map_err(df)?;
            if explain() {
                explain_query(&label, &periods_owned, (planned, physical, started.elapsed()), plan.as_ref());
            }
            Ok::<_, KpiError>((batches, files_scanned(plan.as_ref())))
        }))
        .await
        .map_err(|e| KpiError::Query(format!("{}: {e}", ids.join(", "))))??;
        self.files_read.fetch_add(files, Ordering::Relaxed);

        let mut found: Vec<Found> = asks.iter().map(|_| Found::default()).collect();
        for b in &batches {
            let (period, unit, grp) = (strings(b, 0)?, strings(b, 1)?, strings(b, 2)?);
            let (num, den) = (floats(b, 3)?, floats(b, 4)?);
            // One KPI alone is planned untagged.
            let which = if asks.len() == 1 { vec![Some(0); b.num_rows()] } else { tags(b, 5)? };
            for i in 0..b.num_rows() {
                let Some(k) = which[i].filter(|k| *k < found.len()) else {
                    return Err(KpiError::Query(format!("{}: a row of no KPI asked", ids.join(", "))));
                };
                let grp = grp[i].clone().unwrap_or_else(|| "unknown".into());
                found[k].groups.insert(grp.clone());
                let key = (period[i].clone().unwrap_or_default(), unit[i].clone().unwrap_or_default(), grp);
                found[k].figures.insert(key, (num[i].unwrap_or(0.0), den[i]));
            }
        }
        Ok(asks
            .iter()
            .zip(found)
            .map(|((kpi, group), mut found)| {
                if group.is_none() {
                    found.groups.insert("all".into());
                }
                KpiResult {
                    id: kpi.id.clone(),
                    meta: kpi.meta.clone(),
                    rows: found.rows(kpi, report_units, periods),
                    snapshot: self.snapshot.clone(),
                }
            })
            .collect())
    }
}

/// What one KPI's query returned: (period, unit, group) → (numerator, denominator),
/// and the groups seen.
#[derive(Default)]
struct Found {
    figures: BTreeMap<(String, String, String), (f64, Option<f64>)>,
    groups: BTreeSet<String>,
}

impl Found {
    /// A row for every period, reported unit and group (zeros where nothing was
    /// found), and for any other unit with figures.
    fn rows(&self, kpi: &Kpi, report_units: &BTreeMap<String, String>, periods: &[Period]) -> Vec<KpiRow> {
        let mut rows = Vec::new();
        for p in periods {
            let label = p.to_string();
            let mut units: Vec<(&String, &String)> = report_units.iter().collect();
            let extra: BTreeSet<&String> = self
                .figures
                .keys()
                .filter(|(pl, u, _)| pl == &label && !report_units.contains_key(u))
                .map(|(_, u, _)| u)
                .collect();
            units.extend(extra.into_iter().map(|u| (u, u)));
            for (unit, unit_name) in units {
                for g in &self.groups {
                    // Nothing found: nothing counted, above the line or below it.
                    let empty = (0.0, kpi.meta.unit.is_ratio().then_some(0.0));
                    let (numerator, denominator) =
                        self.figures.get(&(label.clone(), unit.clone(), g.clone())).copied().unwrap_or(empty);
                    rows.push(KpiRow {
                        period: label.clone(),
                        unit: unit.clone(),
                        unit_name: unit_name.clone(),
                        group: g.clone(),
                        numerator,
                        denominator,
                        value: kpi.meta.unit.value(numerator, denominator),
                        suppressed: false,
                    });
                }
            }
        }
        rows
    }
}

/// The `kpi` tags of a batch of several KPIs' rows.
fn tags(batch: &RecordBatch, i: usize) -> Result<Vec<Option<usize>>, KpiError> {
    let a = cast(batch.column(i), &DataType::UInt64).map_err(|e| KpiError::Query(e.to_string()))?;
    Ok(a.as_primitive::<UInt64Type>().iter().map(|v| v.map(|v| v as usize)).collect())
}

/// One KPI's frame as it is, or several in one plan: each cast to the same column
/// types and tagged with its place in the list (`kpi`), then stacked.
fn tagged_union(mut frames: Vec<DataFrame>) -> Result<DataFrame, DataFusionError> {
    use datafusion::logical_expr::{cast as cast_expr, col, lit};
    if frames.len() == 1 {
        return Ok(frames.pop().expect("one frame"));
    }
    let mut out: Option<DataFrame> = None;
    for (i, frame) in frames.into_iter().enumerate() {
        let text = |name: &str| cast_expr(col(name), DataType::Utf8).alias(name);
        let number = |name: &str| cast_expr(col(name), DataType::Float64).alias(name);
        let tagged = frame.select(vec![
            text("period"),
            text("unit"),
            text("grp"),
            number("numerator"),
            number("denominator"),
            lit(i as u64).alias("kpi"),
        ])?;
        out = Some(match out {
            None => tagged,
            Some(stacked) => stacked.union(tagged)?,
        });
    }
    Ok(out.expect("at least two frames"))
}
