//! Group commit: every write of the services goes through one [`Writer`], which runs
//! the requests waiting at that moment in one transaction, each inside its own
//! savepoint, and commits them together.
//!
//! Why: SQLite with synchronous=FULL syncs the WAL at every commit and this class of
//! machine manages a few hundred syncs a second, so one commit per booking caps the
//! service there. Sharing the commit keeps durability per request: a reply goes out
//! only after the commit that holds its change has returned, and a request that fails
//! is rolled back to its savepoint without touching the others.
//!
//! A job's audit entry and idempotency record are written in the same transaction as
//! its change, so after a crash either all three are there or none is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::error::ServiceError;
use crate::clock::Clock;
use crate::store::{AuditEntry, IdempotencyRecord, Store, StoreTx};

/// The result of a write: the HTTP status and JSON body the caller gets (and a replay
/// of its idempotency key gets again).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn new(status: u16, body: impl serde::Serialize) -> Self {
        Reply { status, body: serde_json::to_value(body).unwrap_or(serde_json::Value::Null) }
    }
}

pub type WorkFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, ServiceError>> + Send + 'a>>;
pub type Work = Box<dyn for<'a> FnOnce(&'a mut dyn StoreTx) -> WorkFuture<'a> + Send>;

/// Builds a job's work from a closure; spelling out the higher-ranked type here lets
/// callers write `work(move |tx| Box::pin(async move { ... }))`.
pub fn work<F>(f: F) -> Work
where
    F: for<'a> FnOnce(&'a mut dyn StoreTx) -> WorkFuture<'a> + Send + 'static,
{
    Box::new(f)
}

/// The idempotency key a job answers for, with the hash of its request.
#[derive(Debug, Clone, PartialEq)]
pub struct IdemKey {
    pub caller: String,
    pub key: String,
    pub body_hash: String,
}

/// One write: what it does, who asked (for the audit log) and its idempotency key.
pub struct Job {
    pub work: Option<Work>,
    pub audit: AuditEntry,
    pub idempotency: Option<IdemKey>,
    /// Counted in the metrics as a booking (a new appointment).
    pub is_booking: bool,
}

impl Job {
    /// A write with its audit entry, no idempotency key, not a booking.
    pub fn new(work: Work, audit: AuditEntry) -> Self {
        Job { work: Some(work), audit, idempotency: None, is_booking: false }
    }

    /// Counts the job as a booking in the metrics.
    pub fn booking(mut self) -> Self {
        self.is_booking = true;
        self
    }
}

struct Queued {
    job: Job,
    reply: oneshot::Sender<Result<Reply, ServiceError>>,
}

/// Counters of the group commit, for /metrics.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub bookings: AtomicU64,
    pub failed_commits: AtomicU64,
}

/// The handle the services use; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Queued>,
    pub stats: Arc<WriterStats>,
}

/// At most this many requests share a commit: enough to amortise a sync, few enough
/// that one transaction stays short.
const MAX_BATCH: usize = 256;

impl Writer {
    /// Starts the writer task. It ends when every handle is dropped, after finishing
    /// the jobs already queued.
    pub fn start(store: Arc<dyn Store>, clock: Clock) -> Self {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(run(store, clock, rx, stats.clone()));
        Writer { queue, stats }
    }

    /// Queues a job and waits until its commit is durable (or has failed).
    pub async fn submit(&self, job: Job) -> Result<Reply, ServiceError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Queued { job, reply }).await.map_err(|_| ServiceError::Unavailable)?;
        answer.await.map_err(|_| ServiceError::Unavailable)?
    }

    /// Appends an audit entry on its own (a denied request writes nothing else).
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), ServiceError> {
        self.submit(Job { work: None, audit: entry, idempotency: None, is_booking: false }).await.map(|_| ())
    }
}

async fn run(store: Arc<dyn Store>, clock: Clock, mut rx: mpsc::Receiver<Queued>, stats: Arc<WriterStats>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let n = jobs.len() as u64;
        match commit_batch(store.as_ref(), &clock, jobs).await {
            Ok((answers, bookings)) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.jobs.fetch_add(n, Ordering::Relaxed);
                stats.bookings.fetch_add(bookings, Ordering::Relaxed);
                for (reply, result) in answers {
                    let _ = reply.send(result);
                }
            }
            Err((replies, e)) => {
                // Nothing of the batch is durable, so nobody gets a success.
                stats.failed_commits.fetch_add(1, Ordering::Relaxed);
                eprintln!("homedoc: a group commit of {n} writes failed: {e}");
                for reply in replies {
                    let _ = reply.send(Err(ServiceError::Unavailable));
                }
            }
        }
    }
}

type Answers = Vec<(oneshot::Sender<Result<Reply, ServiceError>>, Result<Reply, ServiceError>)>;
type Unanswered = Vec<oneshot::Sender<Result<Reply, ServiceError>>>;

async fn commit_batch(
    store: &dyn Store,
    clock: &Clock,
    jobs: Vec<Queued>,
) -> Result<(Answers, u64), (Unanswered, ServiceError)> {
    let mut answers: Answers = Vec::with_capacity(jobs.len());
    let mut audit = Vec::with_capacity(jobs.len());
    let mut keys = Vec::new();
    let mut bookings = 0;
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(e) => return Err((jobs.into_iter().map(|q| q.reply).collect(), e.into())),
    };
    let now = clock.now();
    let mut queue = jobs.into_iter();
    while let Some(Queued { job, reply }) = queue.next() {
        match run_job(tx.as_mut(), job.work).await {
            Ok(result) => {
                if result.is_ok() && job.is_booking {
                    bookings += 1;
                }
                audit.push(audited(job.audit, &result));
                if let Some(k) = job.idempotency {
                    if let Some(record) = idempotency_record(k, &result, now) {
                        keys.push(record);
                    }
                }
                answers.push((reply, result));
            }
            Err(e) => {
                // The transaction itself broke: give up on the whole batch.
                let mut unanswered: Unanswered = answers.into_iter().map(|(r, _)| r).collect();
                unanswered.push(reply);
                unanswered.extend(queue.map(|q| q.reply));
                let _ = tx.rollback().await;
                return Err((unanswered, e));
            }
        }
    }
    let finish = async {
        tx.put_idempotency(&keys).await?;
        tx.append_audit(&audit).await?;
        tx.commit().await
    };
    match finish.await {
        Ok(()) => Ok((answers, bookings)),
        Err(e) => Err((answers.into_iter().map(|(r, _)| r).collect(), e.into())),
    }
}

/// Runs one job in a savepoint. The outer `Err` is a broken transaction; the inner
/// result is the job's own outcome, rolled back to its savepoint if it failed.
async fn run_job(tx: &mut dyn StoreTx, work: Option<Work>) -> Result<Result<Reply, ServiceError>, ServiceError> {
    let Some(work) = work else {
        return Ok(Ok(Reply { status: 204, body: serde_json::Value::Null }));
    };
    tx.savepoint().await?;
    let result = work(tx).await;
    match &result {
        Ok(_) => tx.release_savepoint().await?,
        Err(_) => tx.rollback_to_savepoint().await?,
    }
    Ok(result)
}

fn audited(mut entry: AuditEntry, result: &Result<Reply, ServiceError>) -> AuditEntry {
    match result {
        Ok(reply) => {
            entry.status = reply.status;
            if entry.outcome.is_empty() {
                entry.outcome = if reply.status >= 400 { "refused" } else { "ok" }.into();
            }
        }
        Err(e) => {
            entry.status = e.status();
            entry.outcome = e.body().error;
        }
    }
    entry
}

/// What a replay of the key gets: the first result, unless it was a server-side
/// failure, which a retry should be free to redo.
fn idempotency_record(
    k: IdemKey,
    result: &Result<Reply, ServiceError>,
    at: DateTime<Utc>,
) -> Option<IdempotencyRecord> {
    let (status, body) = match result {
        Ok(reply) => (reply.status, reply.body.clone()),
        Err(e) if e.status() < 500 => (e.status(), serde_json::to_value(e.body()).ok()?),
        Err(_) => return None,
    };
    Some(IdempotencyRecord {
        caller: k.caller,
        key: k.key,
        body_hash: k.body_hash,
        status,
        response: body.to_string(),
        at,
    })
}
