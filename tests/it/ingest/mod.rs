//! Ingestion into the lake: pipeline files, complete and incremental runs on both
//! backends, quarantine against the simulator's ground truth, pseudonymisation,
//! crash safety with the real binary, and the lake read back by another Delta reader.

mod crash;
mod runs;
mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use homedoc::clock::Clock;
use homedoc::config::{FileConfig, Settings};
use homedoc::ingest::{self, Ingest};
use homedoc::lake::Lake;
use homedoc::lake::schema::{self, TableDef};
use homedoc::store::{Entity, SqlStore, Store};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A data dir holding a copy of the committed sample: its SQLite store, drops and
/// ground truth.
pub fn sample_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("data-samples/sample"), dir.path());
    dir
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

pub fn settings(dir: &Path, database_url: &str) -> Settings {
    let file = FileConfig { database_url: Some(database_url.to_string()), ..FileConfig::default() };
    Settings::resolve(dir, file, |_| None).unwrap()
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("homedoc.db").display())
}

pub fn open(settings: &Settings, store: &SqlStore) -> Ingest {
    let pipelines = ingest::config::load(None, &settings.data_dir).expect("the built-in pipelines load");
    Ingest::new(settings, Arc::new(store.clone()), pipelines, Clock::system()).unwrap()
}

/// Runs every pipeline once; panics on a failure.
pub async fn ingest_all(ingest: &Ingest) -> Vec<ingest::RunReport> {
    let mut all = Vec::new();
    for p in ingest.pipelines() {
        let reports = ingest.run_job(p, true, &indicatif::ProgressBar::hidden()).await;
        all.extend(reports.unwrap_or_else(|e| panic!("{}: {e}", p.id)));
    }
    all
}

/// Rows of one column of a table, as text (nulls as "").
pub async fn column(lake: &Lake, def: &TableDef, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in lake.read_columns(def, &[name]).await.unwrap() {
        let col = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
        let col = col.as_string::<i32>();
        out.extend((0..col.len()).map(|i| if col.is_null(i) { String::new() } else { col.value(i).to_string() }));
    }
    out
}

pub async fn count(lake: &Lake, def: &TableDef) -> usize {
    column(lake, def, def.columns[0].name).await.len()
}

/// Row counts per table and Delta versions, to compare before and after a run.
pub async fn versions(lake: &Lake) -> BTreeMap<&'static str, Option<u64>> {
    let mut out = BTreeMap::new();
    for t in schema::TABLES {
        out.insert(t.name, lake.version(t).await.unwrap());
    }
    out
}

/// Feed rows per entity in the store.
pub async fn feed_count(store: &SqlStore, entity: Entity) -> usize {
    let mut n = 0;
    let mut after = 0;
    loop {
        let page = store.changes(after, Some(entity), 50_000).await.unwrap();
        let Some(last) = page.last() else { return n };
        after = last.seq;
        n += page.len();
    }
}

/// Every feed table has exactly the store's feed, once.
pub async fn assert_feed_tables_match(lake: &Lake, store: &SqlStore, label: &str) {
    for (def, entity) in [
        (&schema::FACILITIES, Entity::Facility),
        (&schema::ACCOUNTS, Entity::Account),
        (&schema::APPOINTMENTS, Entity::Appointment),
        (&schema::VIDEO_CALLS, Entity::VideoCall),
    ] {
        let seqs = column(lake, def, "seq").await;
        let distinct: std::collections::HashSet<&String> = seqs.iter().collect();
        assert_eq!(distinct.len(), seqs.len(), "{label}: {} has duplicate rows", def.name);
        assert_eq!(
            seqs.len(),
            feed_count(store, entity).await,
            "{label}: {} rows = the store's {entity} feed",
            def.name
        );
    }
}

/// The ground truth's drop counts: (valid rows, malformed rows per kind) per drop.
pub fn truth_drops(dir: &Path) -> BTreeMap<String, (usize, BTreeMap<String, usize>)> {
    let text = std::fs::read_to_string(dir.join("ground_truth.json")).unwrap();
    let truth: homedoc::generate::GroundTruth = serde_json::from_str(&text).unwrap();
    truth
        .drops
        .into_iter()
        .map(|(k, v)| {
            let valid = v["valid_rows"].as_u64().unwrap() as usize;
            let malformed = v["malformed"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(r, n)| (r.clone(), n.as_u64().unwrap() as usize))
                .collect();
            (k, (valid, malformed))
        })
        .collect()
}
