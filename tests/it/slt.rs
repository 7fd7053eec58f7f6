//! The SQL test files (`tests/slt/*.slt`, DataFusion's sqllogictest format) over the
//! lake ingested from the committed sample. A record is either SQL, run as
//! `homedoc query` runs it, or a KPI request written
//! `kpi ID period=P [grain=G] [by=B] [boundary=34|63] [province=C] [group=D]`, which
//! returns `period unit group numerator denominator value` rows (NULL where empty,
//! four decimals).
//!
//! `HOMEDOC_REGENERATE=1 cargo test slt` rewrites the expected results from the
//! engine's output; the hand-worked files (`*_by_hand.slt`) must then be checked by
//! hand again before they are committed.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use homedoc::domain::BoundarySet;
use homedoc::kpi::{Catalog, Engine, KpiRequest};
use homedoc::lake::Lake;
use sqllogictest::{DBOutput, DefaultColumnType, Runner};

use crate::kpi::sample;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SltError(String);

struct Lakehouse(Arc<Engine>);

fn kpi_request(words: &[&str]) -> Result<(String, KpiRequest), SltError> {
    let bad = |m: String| SltError(m);
    let (id, args) = words.split_first().ok_or_else(|| bad("kpi needs an id".into()))?;
    let mut period = None;
    let mut req = KpiRequest::new("2026".parse().expect("a period"));
    for a in args {
        let (k, v) = a.split_once('=').ok_or_else(|| bad(format!("{a:?} is not key=value")))?;
        match k {
            "period" => period = Some(v.parse().map_err(|e| bad(format!("{e}")))?),
            "grain" => req.grain = Some(v.parse().map_err(|e| bad(format!("{e}")))?),
            "by" => req.by = v.parse().map_err(bad)?,
            "boundary" => req.boundary = BoundarySet::parse(v).map_err(|e| bad(e.to_string()))?,
            "province" => req.province = Some(v.to_string()),
            "group" => req.group = Some(v.parse().map_err(bad)?),
            _ => return Err(bad(format!("unknown key {k:?}"))),
        }
    }
    req.period = period.ok_or_else(|| bad("kpi needs period=".into()))?;
    Ok((id.to_string(), req))
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "NULL".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.4}"),
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for Lakehouse {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let words: Vec<&str> = sql.split_whitespace().collect();
        if words.first() == Some(&"kpi") {
            let (id, req) = kpi_request(&words[1..])?;
            let result = self.0.kpi(&id, &req).await.map_err(|e| SltError(e.to_string()))?;
            let rows = result
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.period.clone(),
                        r.unit.clone(),
                        r.group.clone(),
                        number(Some(r.numerator)),
                        number(r.denominator),
                        number(r.value),
                    ]
                })
                .collect();
            let types =
                vec![DefaultColumnType::Text; 3].into_iter().chain(vec![DefaultColumnType::FloatingPoint; 3]).collect();
            return Ok(DBOutput::Rows { types, rows });
        }
        let (schema, batches) = self.0.query(sql).await.map_err(|e| SltError(e.to_string()))?;
        let mut rows = Vec::new();
        for b in &batches {
            for r in homedoc::kpi::engine::text_columns(b).map_err(|e| SltError(e.to_string()))? {
                rows.push(r.into_iter().map(|v| if v.is_empty() { "NULL".to_string() } else { v }).collect());
            }
        }
        Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; schema.fields().len()], rows })
    }

    async fn shutdown(&mut self) {}
}

fn files() -> Vec<PathBuf> {
    let dir = crate::ingest::repo().join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_test_files() {
    let s = sample();
    let lake = Lake::new(&s.settings.lake).unwrap();
    let engine =
        Arc::new(Engine::open(&lake, Arc::new(Catalog::embedded().unwrap()), s.settings.timezone, None).await.unwrap());
    let regenerate = std::env::var_os("HOMEDOC_REGENERATE").is_some();
    let files = files();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in &files {
        let e = engine.clone();
        let mut runner = Runner::new(move || {
            let e = e.clone();
            async move { Ok::<_, SltError>(Lakehouse(e)) }
        });
        if regenerate {
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        } else if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {}", file.display(), e.display(false)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every KPI of the catalog is pinned by at least one file.
#[test]
fn every_kpi_is_pinned_by_a_test_file() {
    let text: String = files().iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let missing: Vec<String> =
        Catalog::embedded().unwrap().kpis.keys().filter(|id| !text.contains(&format!("kpi {id} "))).cloned().collect();
    assert!(missing.is_empty(), "KPIs without a sqllogictest record: {missing:?}");
}
