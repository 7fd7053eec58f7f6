//! One run of a pipeline, and how it stays exactly-once across three tables.
//!
//! Delta commits are atomic per table, so a run commits in a fixed order, each
//! commit carrying a Delta application transaction (`txn`) with the run's number:
//!
//! 1. `ingest_runs`: the *planned* record with the plan (feed range, files with their
//!    hashes, reference file hash), `txn(<id>, N)`;
//! 2. the target table: the accepted rows, `txn(<id>, N)`;
//! 3. `quarantine`: the refused rows, `txn(<id>, N)`;
//! 4. `ingest_runs`: the *succeeded* record, `txn(<id>/done, N)`.
//!
//! The Parquet files are written before step 1 and only become visible with their
//! commit. A run starts by comparing `<id>` and `<id>/done` in the history: if a
//! planned run is not done, it re-reads exactly its plan and repeats only the
//! commits whose table has not yet seen `txn(<id>, N)`. So a crash anywhere leaves
//! no table with a duplicate or a gap once the next run has finished.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::prelude::{col, lit};
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::config::{DropSource, Pipeline, Source};
use super::drops::{self, FileParser, FileStamp};
use super::failpoint;
use super::feed::{self, FeedCheck};
use super::history::{self, Plan, RunRecord, Status};
use super::lock::PipelineLock;
use super::pseudo::Pseudonymiser;
use super::{IngestError, Quarantined, StrSet};
use crate::clock::Clock;
use crate::config::Settings;
use crate::lake::rows::{Rows, Val};
use crate::lake::schema::{INGEST_RUNS, QUARANTINE, TableDef, TableKind};
use crate::lake::{Appender, Lake, maintain};
use crate::reference::Reference;
use crate::store::{Entity, Store};

/// Rows per Arrow batch handed to the Parquet writer.
const BATCH_ROWS: usize = 64 * 1024;
/// The run history and the quarantine are compacted once they hold more files: a
/// run reads its pipeline's history, one file at a time.
const COMPACT_OVER_FILES: usize = 8;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// A new run committed its rows.
    Committed,
    /// A run cut off earlier was finished.
    Resumed,
    /// Nothing new: nothing was committed.
    NothingNew,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub pipeline: String,
    pub run: i64,
    pub outcome: RunOutcome,
    pub read: u64,
    pub accepted: u64,
    pub quarantined: u64,
    pub elapsed: Duration,
}

/// Ingestion over one store, one lake and the loaded pipelines.
pub struct Ingest {
    pub lake: Lake,
    store: Arc<dyn Store>,
    pipelines: Vec<Pipeline>,
    tz: Tz,
    data_dir: PathBuf,
    reference_dir: Option<PathBuf>,
    pseudo: Pseudonymiser,
    clock: Clock,
    /// Told after every job that committed rows: what follows the lake (the rollup
    /// refresh) waits on it. A permit is kept when nobody waits, so bursts coalesce.
    committed: Arc<tokio::sync::Notify>,
}

/// What staging a run produced, before any commit.
struct Staged {
    plan: Plan,
    /// The data files written, or `None` when the target already has this run.
    data: Option<Vec<deltalake::kernel::Add>>,
    quarantine: Vec<Quarantined>,
    read: u64,
    accepted: u64,
    /// The source has more than this run took.
    more: bool,
}

/// The tables a job writes, each opened once per job: an open replays the table's
/// Delta log, and a commit leaves the handle at the version it made (having caught
/// up with other writers' commits if there were any).
struct Tables {
    runs: DeltaTable,
    target: DeltaTable,
    /// Opened when the job first quarantines a row.
    quarantine: Option<DeltaTable>,
}

fn done_id(p: &Pipeline) -> String {
    format!("{}/done", p.id)
}

impl Ingest {
    pub fn new(
        settings: &Settings,
        store: Arc<dyn Store>,
        pipelines: Vec<Pipeline>,
        clock: Clock,
    ) -> Result<Self, IngestError> {
        let key = settings.pseudonymisation_key().map_err(|e| IngestError::Source(e.to_string()))?;
        Ok(Ingest {
            lake: Lake::new(&settings.lake)?,
            store,
            pipelines,
            tz: settings.timezone,
            data_dir: settings.data_dir.clone(),
            reference_dir: settings.reference_dir.clone(),
            pseudo: Pseudonymiser::new(&key),
            clock,
            committed: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Notified after each job that committed rows.
    pub fn committed(&self) -> Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    pub fn pipelines(&self) -> &[Pipeline] {
        &self.pipelines
    }

    pub fn pipeline(&self, id: &str) -> Result<&Pipeline, IngestError> {
        self.pipelines.iter().find(|p| p.id == id).ok_or_else(|| IngestError::UnknownPipeline(id.to_string()))
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Runs a pipeline until it has nothing new, holding its lock throughout. With
    /// `wait`, waits for another process's run to end; otherwise returns `Locked`.
    pub async fn run_job(
        &self,
        p: &Pipeline,
        wait: bool,
        progress: &ProgressBar,
    ) -> Result<Vec<RunReport>, IngestError> {
        self.run_job_observed(p, wait, progress, |_| {}).await
    }

    /// [`Ingest::run_job`], telling `on_run` of each run as soon as it is committed
    /// (a national feed job is many runs over a quarter of an hour; a log should show
    /// them as they land, not all at the end).
    pub async fn run_job_observed(
        &self,
        p: &Pipeline,
        wait: bool,
        progress: &ProgressBar,
        mut on_run: impl FnMut(&RunReport),
    ) -> Result<Vec<RunReport>, IngestError> {
        let _lock = if wait {
            match PipelineLock::try_acquire(&self.data_dir, &p.id) {
                Err(IngestError::Locked(_)) => {
                    progress.set_message(format!("{}: waiting for another process's run", p.id));
                    PipelineLock::acquire(&self.data_dir, &p.id).await?
                }
                other => other?,
            }
        } else {
            PipelineLock::try_acquire(&self.data_dir, &p.id)?
        };
        progress.set_message(p.id.clone());
        // Opened under the lock, so that a run of this pipeline cut off earlier is seen.
        let mut tables = Tables {
            runs: self.lake.open(&INGEST_RUNS).await?,
            target: self.lake.open(p.target).await?,
            quarantine: None,
        };
        let reports = self.run_until_done(p, &mut tables, progress, &mut on_run).await?;
        if reports.iter().any(|r| r.outcome != RunOutcome::NothingNew) {
            let written = [(&INGEST_RUNS, Some(tables.runs)), (&QUARANTINE, tables.quarantine)];
            for (def, table) in written.into_iter().filter_map(|(d, t)| t.map(|t| (d, t))) {
                // Best effort: a failed compaction leaves the files as they were.
                if let Err(e) = maintain::compact_if_over(def, table, COMPACT_OVER_FILES).await {
                    eprintln!("homedoc: {}: compacting {} failed: {e}", p.id, def.name);
                }
            }
            self.committed.notify_one();
        }
        Ok(reports)
    }

    /// Runs until the source has nothing new.
    async fn run_until_done(
        &self,
        p: &Pipeline,
        tables: &mut Tables,
        progress: &ProgressBar,
        on_run: &mut impl FnMut(&RunReport),
    ) -> Result<Vec<RunReport>, IngestError> {
        let mut reports = Vec::new();
        loop {
            let (report, more) = self.run_once(p, tables, progress).await?;
            let outcome = report.outcome.clone();
            if outcome != RunOutcome::NothingNew || reports.is_empty() {
                on_run(&report);
                reports.push(report);
            }
            // After a run that was finished for an earlier process, look again for
            // new data; otherwise go on while the source has more than a run takes.
            if outcome == RunOutcome::NothingNew || (outcome == RunOutcome::Committed && !more) {
                return Ok(reports);
            }
        }
    }

    /// One run: finishes a run cut off earlier, or plans and commits a new one.
    async fn run_once(
        &self,
        p: &Pipeline,
        tables: &mut Tables,
        progress: &ProgressBar,
    ) -> Result<(RunReport, bool), IngestError> {
        let started = Instant::now();
        let started_at = self.clock.now();
        let planned = self.lake.txn_version(&INGEST_RUNS, &tables.runs, &p.id).await?;
        let done = self.lake.txn_version(&INGEST_RUNS, &tables.runs, &done_id(p)).await?;
        let history = history::read_table(&self.lake, &tables.runs, Some(&p.id)).await?;
        let report = |run, outcome, s: &Staged| RunReport {
            pipeline: p.id.clone(),
            run,
            outcome,
            read: s.read,
            accepted: s.accepted,
            quarantined: s.quarantine.len() as u64,
            elapsed: started.elapsed(),
        };

        if planned > done {
            let record = history.iter().find(|r| r.run == planned && r.status == Status::Planned).ok_or_else(|| {
                IngestError::Source(format!("{}: run {planned} is planned but its record is missing", p.id))
            })?;
            let plan = record
                .plan
                .clone()
                .ok_or_else(|| IngestError::Source(format!("{}: run {planned} has no plan", p.id)))?;
            let data_done = self.lake.txn_version(p.target, &tables.target, &p.id).await? >= planned;
            let staged = self.stage(p, &tables.target, Some(plan), &history, !data_done, progress).await?;
            failpoint::hit(failpoint::FILES_WRITTEN);
            let report = report(planned, RunOutcome::Resumed, &staged);
            self.commit(p, tables, planned, false, staged, started_at).await?;
            return Ok((report, true));
        }

        let run = planned + 1;
        let staged = match self.stage(p, &tables.target, None, &history, true, progress).await {
            Ok(s) => s,
            Err(e) => {
                if matches!(e, IngestError::ChangedFiles { .. } | IngestError::Reference(_) | IngestError::Source(_)) {
                    self.record_failure(p, &mut tables.runs, run, started_at, 0, 0, 0, &e).await?;
                }
                return Err(e);
            }
        };
        if staged.read == 0 {
            return Ok((report(run, RunOutcome::NothingNew, &staged), false));
        }
        let quarantined = staged.quarantine.len() as u64;
        let share = quarantined as f64 / staged.read as f64;
        if share > p.validation.max_quarantine_share {
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            for q in &staged.quarantine {
                *reasons.entry(q.reason.to_string()).or_default() += 1;
            }
            let reasons = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", ");
            let e = IngestError::Threshold {
                pipeline: p.id.clone(),
                read: staged.read,
                quarantined,
                share: share * 100.0,
                threshold: p.validation.max_quarantine_share * 100.0,
                reasons,
            };
            self.record_failure(p, &mut tables.runs, run, started_at, staged.read, staged.accepted, quarantined, &e)
                .await?;
            return Err(e);
        }
        failpoint::hit(failpoint::FILES_WRITTEN);
        let record = RunRecord {
            pipeline: p.id.clone(),
            run,
            status: Status::Planned,
            started_at,
            finished_at: self.clock.now(),
            rows_read: staged.read as i64,
            rows_accepted: staged.accepted as i64,
            rows_quarantined: quarantined as i64,
            plan: Some(staged.plan.clone()),
            error: None,
        };
        self.append(&INGEST_RUNS, &mut tables.runs, RunRecord::rows(&[record]), Some(Transaction::new(&p.id, run)))
            .await?;
        let (report, more) = (report(run, RunOutcome::Committed, &staged), staged.more);
        self.commit(p, tables, run, true, staged, started_at).await?;
        Ok((report, more))
    }

    /// Steps 2 to 4 of the protocol, each skipped if its table already has the run.
    /// A `fresh` run (planned by this process just now) is in no table yet: planning
    /// is the first commit of every run, so the checks are skipped.
    async fn commit(
        &self,
        p: &Pipeline,
        tables: &mut Tables,
        run: i64,
        fresh: bool,
        staged: Staged,
        started_at: DateTime<Utc>,
    ) -> Result<(), IngestError> {
        failpoint::hit(failpoint::BEFORE_COMMIT);
        let quarantine = &staged.quarantine;
        if let Some(adds) = staged.data {
            let table = &mut tables.target;
            if fresh || self.lake.txn_version(p.target, table, &p.id).await? < run {
                let txn = Transaction::new(&p.id, run);
                let meta = HashMap::from([("homedoc.run".to_string(), serde_json::json!(run))]);
                if p.target.kind == TableKind::Reference {
                    self.lake.commit_replace(p.target, table, adds, vec![txn], meta).await?;
                } else {
                    self.lake.commit_append(p.target, table, adds, Some(txn), meta).await?;
                }
            }
        }
        failpoint::hit(failpoint::AFTER_COMMIT);
        if !quarantine.is_empty() {
            let table = match &mut tables.quarantine {
                Some(t) => t,
                slot => slot.insert(self.lake.open(&QUARANTINE).await?),
            };
            if fresh || self.lake.txn_version(&QUARANTINE, table, &p.id).await? < run {
                let mut rows = Rows::new(&QUARANTINE);
                let at = Val::ts(started_at);
                for q in quarantine {
                    rows.push(&[
                        Val::Str(&p.id),
                        Val::I64(run),
                        Val::Str(&q.source),
                        Val::Str(&q.location),
                        Val::Str(q.reason.as_str()),
                        Val::Str(&q.detail),
                        Val::Str(&q.raw),
                        at,
                    ]);
                }
                self.append(&QUARANTINE, table, rows, Some(Transaction::new(&p.id, run))).await?;
            }
        }
        failpoint::hit(failpoint::BETWEEN_TABLES);
        let record = RunRecord {
            pipeline: p.id.clone(),
            run,
            status: Status::Succeeded,
            started_at,
            finished_at: self.clock.now(),
            rows_read: staged.read as i64,
            rows_accepted: staged.accepted as i64,
            rows_quarantined: staged.quarantine.len() as i64,
            plan: None,
            error: None,
        };
        self.append(
            &INGEST_RUNS,
            &mut tables.runs,
            RunRecord::rows(&[record]),
            Some(Transaction::new(done_id(p), run)),
        )
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_failure(
        &self,
        p: &Pipeline,
        runs: &mut DeltaTable,
        run: i64,
        started_at: DateTime<Utc>,
        read: u64,
        accepted: u64,
        quarantined: u64,
        e: &IngestError,
    ) -> Result<(), IngestError> {
        let record = RunRecord {
            pipeline: p.id.clone(),
            run,
            status: Status::Failed,
            started_at,
            finished_at: self.clock.now(),
            rows_read: read as i64,
            rows_accepted: accepted as i64,
            rows_quarantined: quarantined as i64,
            plan: None,
            error: Some(e.to_string()),
        };
        self.append(&INGEST_RUNS, runs, RunRecord::rows(&[record]), None).await
    }

    /// Writes and commits a small table's rows in one go.
    async fn append(
        &self,
        def: &'static TableDef,
        table: &mut DeltaTable,
        mut rows: Rows,
        txn: Option<Transaction>,
    ) -> Result<(), IngestError> {
        let mut appender = Appender::new(def, table)?;
        appender.write(rows.finish().map_err(crate::lake::LakeError::from)?).await?;
        let adds = appender.finish().await?;
        self.lake.commit_append(def, table, adds, txn, HashMap::new()).await?;
        Ok(())
    }

    /// Reads the source (per `plan` when finishing a run, else whatever is new) and
    /// writes the accepted rows as Parquet files if `write_data`.
    async fn stage(
        &self,
        p: &Pipeline,
        table: &DeltaTable,
        plan: Option<Plan>,
        history: &[RunRecord],
        write_data: bool,
        progress: &ProgressBar,
    ) -> Result<Staged, IngestError> {
        let mut appender = if write_data { Some(Appender::new(p.target, table)?) } else { None };
        let mut rows = Rows::new(p.target);
        let mut quarantine = Vec::new();
        let last_plan = history.iter().rev().find(|r| r.status == Status::Planned).and_then(|r| r.plan.clone());
        let (plan, read, more) = match &p.source {
            Source::Feed(entity) => {
                let (after, upto) = match (&plan, &last_plan) {
                    (Some(Plan::Feed { after, upto }), _) => (*after, Some(*upto)),
                    (None, Some(Plan::Feed { upto, .. })) => (*upto, None),
                    (None, _) => (0, None),
                    (Some(other), _) => {
                        return Err(IngestError::Source(format!("{}: plan {other:?} is not a feed plan", p.id)));
                    }
                };
                let facilities = self.facility_codes().await?;
                let check = FeedCheck { tz: self.tz, facilities: &facilities, pseudo: &self.pseudo };
                let (last, read, more) = self
                    .stage_feed(p, *entity, after, upto, &check, &mut rows, &mut quarantine, &mut appender, progress)
                    .await?;
                (Plan::Feed { after, upto: last.unwrap_or(after) }, read, more)
            }
            Source::Drop(src) => {
                let ledger: HashMap<String, FileStamp> = history
                    .iter()
                    .filter(|r| r.status == Status::Planned)
                    .filter_map(|r| match &r.plan {
                        Some(Plan::Drop { files }) => Some(files.clone()),
                        _ => None,
                    })
                    .flatten()
                    .map(|f| (f.name.clone(), f))
                    .collect();
                let exact = match plan {
                    Some(Plan::Drop { files }) => Some(files),
                    None => None,
                    Some(other) => {
                        return Err(IngestError::Source(format!("{}: plan {other:?} is not a drop plan", p.id)));
                    }
                };
                let facilities = Arc::new(self.facility_codes().await?);
                let own: HashSet<&str> = exact.iter().flatten().map(|f| f.name.as_str()).collect();
                let position = progress.position();
                // A drop row whose key the table already holds is a duplicate. Reading
                // every key of the table would make a day's run cost as much as the
                // history, so the run first assumes none is there (a file re-sending
                // rows is rare), then looks up the keys it accepted; only if some were
                // there already are the files parsed again, refusing those.
                // The second pass reads exactly the first pass's files: one dropped in
                // between was not looked up.
                let mut known: Option<(StrSet, Vec<FileStamp>, bool)> = None;
                loop {
                    let mut seen = known.as_ref().map(|k| k.0.clone()).unwrap_or_default();
                    let files = exact.as_deref().or(known.as_ref().map(|k| k.1.as_slice()));
                    let (files, read, more) = self
                        .stage_drop(
                            p,
                            src,
                            files,
                            &ledger,
                            &facilities,
                            &mut seen,
                            &mut quarantine,
                            &mut appender,
                            progress,
                        )
                        .await?;
                    if let Some((_, _, more)) = known {
                        break (Plan::Drop { files }, read, more);
                    }
                    let held = self.keys_in_table(p.target, table, &own, &seen).await?;
                    if held.is_empty() {
                        break (Plan::Drop { files }, read, more);
                    }
                    known = Some((held, files, more));
                    quarantine.clear();
                    progress.set_position(position);
                    if let Some(a) = appender.take() {
                        self.lake.discard(p.target, table, &a.finish().await?).await?;
                        appender = Some(Appender::new(p.target, table)?);
                    }
                }
            }
            Source::Reference(file) => {
                let text = Reference::file_text(self.reference_dir.as_deref(), file).map_err(IngestError::Source)?;
                let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
                let expected = match &plan {
                    Some(Plan::Reference { sha256, .. }) => Some(sha256.clone()),
                    _ => None,
                };
                let last = match &last_plan {
                    Some(Plan::Reference { sha256, .. }) => Some(sha256.clone()),
                    _ => None,
                };
                if let Some(expected) = expected {
                    if expected != sha256 {
                        return Err(IngestError::ChangedFiles {
                            pipeline: p.id.clone(),
                            files: vec![format!("{file} changed since run was planned")],
                        });
                    }
                } else if last.as_deref() == Some(sha256.as_str()) {
                    return Ok(Staged {
                        plan: Plan::Reference { file: file.clone(), sha256 },
                        data: None,
                        quarantine,
                        read: 0,
                        accepted: 0,
                        more: false,
                    });
                }
                let reference = Reference::load(self.reference_dir.as_deref())?;
                rows = super::reference::rows(p.target, &reference);
                let read = rows.len() as u64;
                progress.inc(read);
                (Plan::Reference { file: file.clone(), sha256 }, read, false)
            }
        };
        let accepted = read - quarantine.len() as u64;
        let data = match appender {
            Some(mut a) => {
                if !rows.is_empty() {
                    a.write(rows.finish().map_err(crate::lake::LakeError::from)?).await?;
                }
                Some(a.finish().await?)
            }
            None => None,
        };
        Ok(Staged { plan, data, quarantine, read, accepted, more })
    }

    #[allow(clippy::too_many_arguments)]
    async fn stage_feed(
        &self,
        p: &Pipeline,
        entity: Entity,
        after: i64,
        upto: Option<i64>,
        check: &FeedCheck<'_>,
        rows: &mut Rows,
        quarantine: &mut Vec<Quarantined>,
        appender: &mut Option<Appender>,
        progress: &ProgressBar,
    ) -> Result<(Option<i64>, u64, bool), IngestError> {
        let max = p.validation.max_rows_per_run;
        // How many rows the page after `read` rows may take.
        let limit = |read: u64| match upto {
            Some(_) => feed::PAGE,
            None => feed::PAGE.min(u32::try_from(max.saturating_sub(read)).unwrap_or(u32::MAX)),
        };
        let fetch = |after: i64, limit: u32| tokio::spawn(feed::fetch(self.store.clone(), entity, after, limit));
        // Whether a page starting after `start`, with `asked` rows asked for before it, is
        // part of this run.
        let wanted = |start: i64, asked: u64| match upto {
            Some(u) => start < u,
            None => asked < max,
        };
        // The store reads the next pages while this one is converted: where the page
        // just asked for will end is looked up in the feed's index, and the page after
        // it asked for at once, so that both cores read.
        let mut pending = std::collections::VecDeque::new();
        let (mut next_start, mut asked) = (Some(after), 0u64);
        let (mut last, mut read) = (None, 0u64);
        loop {
            while pending.len() < feed::PAGES_AHEAD {
                let Some(start) = next_start.filter(|&s| wanted(s, asked)) else { break };
                let n = limit(asked);
                pending.push_back(fetch(start, n));
                asked += u64::from(n);
                next_start = self.store.feed_page_end(entity, start, n).await?;
            }
            let Some(first) = pending.pop_front() else { break };
            let fetched = first.await.map_err(|e| IngestError::Source(format!("feed reader: {e}")))??;
            if fetched.is_empty() {
                break;
            }
            let page = feed::process(fetched, p.target, &p.validation, upto, check, rows, quarantine);
            last = page.last_seq.or(last);
            read += page.read;
            progress.inc(page.read);
            if rows.len() >= BATCH_ROWS {
                flush(rows, appender).await?;
            }
        }
        let more = upto.is_none() && read >= max;
        Ok((last, read, more))
    }

    #[allow(clippy::too_many_arguments)]
    async fn stage_drop(
        &self,
        p: &Pipeline,
        src: &DropSource,
        exact: Option<&[FileStamp]>,
        ledger: &HashMap<String, FileStamp>,
        facilities: &Arc<StrSet>,
        seen: &mut StrSet,
        quarantine: &mut Vec<Quarantined>,
        appender: &mut Option<Appender>,
        progress: &ProgressBar,
    ) -> Result<(Vec<FileStamp>, u64, bool), IngestError> {
        // Which files: exactly the plan's, or every new one in name order.
        let mut todo: Vec<(PathBuf, Option<FileStamp>)> = Vec::new();
        let mut changed = Vec::new();
        match &exact {
            Some(files) => todo.extend(files.iter().map(|f| (src.folder.join(&f.name), Some(f.clone())))),
            None => {
                for path in drops::list(src)? {
                    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    let Some(known) = ledger.get(&name) else {
                        todo.push((path, None));
                        continue;
                    };
                    // A file already ingested is hashed again only if its size is the
                    // same: a different size is a change without reading it.
                    let size = std::fs::metadata(&path).map_err(|e| IngestError::Io(path.clone(), e))?.len();
                    if known.size != size {
                        changed.push(format!("{name} was ingested with {} bytes and now has {size}", known.size));
                        continue;
                    }
                    let bytes = std::fs::read(&path).map_err(|e| IngestError::Io(path.clone(), e))?;
                    let now = drops::stamp(&path, &bytes);
                    if now != *known {
                        changed.push(format!("{name} changed after it was ingested (SHA-256 now {})", now.sha256));
                    }
                }
            }
        }
        if !changed.is_empty() {
            return Err(IngestError::ChangedFiles { pipeline: p.id.clone(), files: changed });
        }
        // Files are read, fingerprinted and parsed on the blocking pool, a group of
        // spans ahead, while this task settles the duplicate keys of the group before
        // and the Parquet writer encodes the one before that.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let reader = Parse {
            table: p.target,
            src: src.clone(),
            validation: p.validation.clone(),
            tz: self.tz,
            facilities: facilities.clone(),
            pipeline: p.id.clone(),
        };
        let producer = AbortOnDrop(tokio::spawn(reader.run(todo, tx)));
        let (mut read, mut stamps, mut more) = (0u64, Vec::new(), false);
        while let Some(group) = rx.recv().await {
            let group = group?;
            if let Some(stamp) = group.stamp {
                // The group starts a file: a run that has read its fill stops before it.
                if exact.is_none() && read >= p.validation.max_rows_per_run {
                    more = true;
                    break;
                }
                stamps.push(stamp);
            }
            let Some((parser, bytes)) = group.parsed else { continue };
            let settled = parser.settle(group.parts, &bytes, seen)?;
            read += settled.read;
            progress.inc(settled.read);
            quarantine.extend(settled.quarantine);
            if let Some(a) = appender.as_mut() {
                for batch in settled.batches {
                    a.write(batch).await?;
                }
            }
        }
        drop(producer);
        Ok((stamps, read, more))
    }

    async fn facility_codes(&self) -> Result<StrSet, IngestError> {
        Ok(self.store.facility_codes().await?.into_iter().collect())
    }

    /// Which of `keys` a drop table already holds, except in rows from `files` (a run
    /// being finished must not see its own rows as duplicates). Only the files whose
    /// key range (from the Delta log's statistics) meets the keys' range are read.
    async fn keys_in_table(
        &self,
        def: &'static TableDef,
        table: &DeltaTable,
        files: &HashSet<&str>,
        keys: &StrSet,
    ) -> Result<StrSet, IngestError> {
        let mut held = StrSet::default();
        let (Some(lo), Some(hi)) = (keys.iter().min(), keys.iter().max()) else { return Ok(held) };
        let key = def.key[0];
        let range = col(key).between(lit(lo.as_str()), lit(hi.as_str()));
        for batch in self.lake.scan(def, table, &[key, "source_file"], Some(range)).await? {
            let (k, f) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
            for i in 0..batch.num_rows() {
                if !k.is_null(i) && keys.contains(k.value(i)) && !files.contains(f.value(i)) {
                    held.insert(k.value(i).to_string());
                }
            }
        }
        Ok(held)
    }
}

/// Consecutive spans of one drop file, parsed: what the run's task settles next.
struct Group {
    /// The file's stamp, on its first group only.
    stamp: Option<FileStamp>,
    /// The file's parser and bytes; `None` for an empty file.
    parsed: Option<(Arc<FileParser>, Arc<Vec<u8>>)>,
    parts: Vec<drops::Part>,
}

/// What the drop files are parsed with, off the run's task.
struct Parse {
    table: &'static TableDef,
    src: DropSource,
    validation: super::config::Validation,
    tz: Tz,
    facilities: Arc<StrSet>,
    pipeline: String,
}

impl Parse {
    /// Sends each file's groups in order, then stops; at the first error it sends the
    /// error and stops. It stops as well when the receiver is gone.
    async fn run(
        self,
        todo: Vec<(PathBuf, Option<FileStamp>)>,
        tx: tokio::sync::mpsc::Sender<Result<Group, IngestError>>,
    ) {
        if let Err(e) = self.send_all(todo, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    }

    async fn send_all(
        &self,
        todo: Vec<(PathBuf, Option<FileStamp>)>,
        tx: &tokio::sync::mpsc::Sender<Result<Group, IngestError>>,
    ) -> Result<(), IngestError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let blocking = |e: tokio::task::JoinError| IngestError::Source(format!("drop parser: {e}"));
        for (path, planned) in todo {
            let (bytes, stamp) = tokio::task::spawn_blocking(move || {
                let bytes = std::fs::read(&path).map_err(|e| IngestError::Io(path.clone(), e))?;
                let stamp = drops::stamp(&path, &bytes);
                Ok::<_, IngestError>((Arc::new(bytes), stamp))
            })
            .await
            .map_err(blocking)??;
            if planned.as_ref().is_some_and(|f| *f != stamp) {
                return Err(IngestError::ChangedFiles {
                    pipeline: self.pipeline.clone(),
                    files: vec![format!("{} changed after its run was planned", stamp.name)],
                });
            }
            let parser = FileParser::new(
                self.table,
                &self.src,
                &self.validation,
                &stamp.name,
                &bytes,
                self.tz,
                self.facilities.clone(),
            )?;
            let Some(parser) = parser.map(Arc::new) else {
                let empty = Group { stamp: Some(stamp), parsed: None, parts: Vec::new() };
                if tx.send(Ok(empty)).await.is_err() {
                    return Ok(());
                }
                continue;
            };
            // One span a thread: a file smaller than a span a thread is cut in as many.
            let target = drops::SPAN_BYTES.min(bytes.len().div_ceil(threads).max(1));
            let spans = parser.spans(&bytes, target);
            let mut stamp = Some(stamp);
            for group in spans.chunks(threads).map(<[drops::Span]>::to_vec) {
                let (p, b) = (parser.clone(), bytes.clone());
                let parts = tokio::task::spawn_blocking(move || p.parse_all(&b, &group)).await.map_err(blocking)??;
                let group = Group { stamp: stamp.take(), parsed: Some((parser.clone(), bytes.clone())), parts };
                if tx.send(Ok(group)).await.is_err() {
                    return Ok(());
                }
            }
            // A file with a header and no lines has no spans, but was read all the same.
            if let Some(stamp) = stamp {
                if tx.send(Ok(Group { stamp: Some(stamp), parsed: None, parts: Vec::new() })).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// A spawned task that is aborted when its owner is dropped (a run that failed or
/// stopped early does not leave its reader running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn flush(rows: &mut Rows, appender: &mut Option<Appender>) -> Result<(), IngestError> {
    let batch = rows.finish().map_err(crate::lake::LakeError::from)?;
    if let Some(a) = appender {
        a.write(batch).await?;
    }
    Ok(())
}
