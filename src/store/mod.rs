//! The operational store: the database the core services write and ingestion reads.
//!
//! One trait, [`Store`], with its write side in [`StoreTx`]. The implementation,
//! [`SqlStore`], runs one code path over SQLite (the default; WAL, synchronous=FULL)
//! and PostgreSQL through sqlx's `Any` driver, picked by the database URL; each backend
//! has its own migrations embedded in the binary. Ingestion's feed pages are the one
//! exception: on SQLite they are read with rusqlite, with the same queries.
//!
//! The change feed: every insert and every update (each status change of an
//! appointment) appends a row to `change_feed` in the same transaction as the change,
//! and its sequence numbers are handed out in commit order, so a reader that remembers
//! the last number it saw never skips a change that committed late.

mod bulk;
pub mod feed;
mod reads;
mod records;
mod sql;
mod sqlite_feed;
mod tx;
mod writes;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{
    Account, Appointment, AppointmentStatus, BoundarySet, CallOutcome, DomainError, Facility, FacilityCode,
    HealthWorker, ReasonCategory, Slot, VideoCall,
};

pub use bulk::{AccountRow, AppointmentRow, Batch, CallRow, FacilityRow, SlotRow, StatusRow, WorkerRow};
pub use records::*;
pub use sql::{Durability, SqlStore};
pub use writes::{AccountUpdate, NewUser};

use crate::domain::codes::code_enum;

code_enum! {
    /// The kinds of row the change feed reports.
    Entity, field = "entity" {
        Facility = "facility",
        HealthWorker = "health_worker",
        Account = "account",
        Slot = "slot",
        Appointment = "appointment",
        VideoCall = "video_call",
    }
}

code_enum! {
    Op, field = "op" {
        Insert = "insert",
        Update = "update",
    }
}

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Url(url.to_string()))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} is neither sqlite:... nor postgres://...")]
    Url(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{entity} {key} not found")]
    NotFound { entity: &'static str, key: String },
    #[error("{0}")]
    Conflict(String),
    #[error("migrating the store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the feed reader stopped: {0}")]
    Reader(String),
}

impl StoreError {
    pub(crate) fn not_found(entity: &'static str, key: impl ToString) -> Self {
        StoreError::NotFound { entity, key: key.to_string() }
    }
}

/// One row of the change feed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub seq: i64,
    pub entity: Entity,
    pub entity_id: i64,
    pub version: i64,
    pub op: Op,
    pub at: DateTime<Utc>,
}

/// One status change of an appointment, with what ingestion needs to place it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AppointmentChange {
    pub seq: i64,
    pub appointment_id: i64,
    pub version: i64,
    pub status: AppointmentStatus,
    pub at: DateTime<Utc>,
    pub slot_id: i64,
    pub slot_start: DateTime<Utc>,
    pub station: String,
    pub citizen_id: i64,
    pub reason: ReasonCategory,
    pub booked_at: DateTime<Utc>,
    pub rescheduled_from: Option<i64>,
}

/// An appointment as stored now.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredAppointment {
    pub id: i64,
    pub slot_id: i64,
    pub citizen_id: i64,
    pub reason: ReasonCategory,
    pub status: AppointmentStatus,
    pub booked_at: DateTime<Utc>,
    pub rescheduled_from: Option<i64>,
    pub version: i64,
}

/// Row counts per table, for `homedoc db stats` and the simulator's report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TableCounts {
    pub facilities: i64,
    pub health_workers: i64,
    pub accounts: i64,
    pub slots: i64,
    pub appointments: i64,
    pub video_calls: i64,
    pub changes: i64,
}

/// Program figures measured by SQL over the store at a date, for a set of old (63)
/// provinces: what the published results are compared with.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Measured {
    pub accounts: i64,
    pub accounts_that_booked: i64,
    /// Booking requests: reschedule replacements and entries made in error not counted.
    pub appointments: i64,
    pub video_calls: i64,
}

/// The read side of the operational store, and the door to its write side.
#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// Starts a write transaction. Nothing it writes, feed included, is visible
    /// until [`StoreTx::commit`].
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError>;

    /// Changes after `after` in commit order, optionally of one entity.
    async fn changes(&self, after: i64, entity: Option<Entity>, limit: u32) -> Result<Vec<Change>, StoreError>;

    /// Appointment status changes after `after`, in commit order, one per version.
    async fn appointment_changes(&self, after: i64, limit: u32) -> Result<Vec<AppointmentChange>, StoreError>;

    async fn appointment(&self, id: i64) -> Result<Option<StoredAppointment>, StoreError>;

    // Ingestion's reads: one entity's feed rows after `after`, joined to their rows.

    async fn account_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::AccountFeedRow>, StoreError>;
    async fn appointment_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::AppointmentFeedRow>, StoreError>;
    async fn call_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::CallFeedRow>, StoreError>;
    async fn facility_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::FacilityFeedRow>, StoreError>;
    /// The feed number of the `n`th feed row of `entity` after `after` (where a page of
    /// `n` rows from `after` ends), or `None` if fewer rows follow: lets a reader ask
    /// for the page after the one it is reading before that one is in.
    async fn feed_page_end(&self, entity: Entity, after: i64, n: u32) -> Result<Option<i64>, StoreError>;
    async fn facility_codes(&self) -> Result<Vec<String>, StoreError>;

    async fn facility_id(&self, code: &FacilityCode) -> Result<Option<i64>, StoreError>;

    async fn counts(&self) -> Result<TableCounts, StoreError>;

    /// Figures as of the end of `as_of` (in UTC+7) for stations in `provinces_63`.
    async fn measure(&self, as_of: NaiveDate, provinces_63: &[String]) -> Result<Measured, StoreError>;

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;

    // The core services' reads.

    async fn facility(&self, code: &str) -> Result<Option<FacilityInfo>, StoreError>;
    /// Commune stations of a province of `set`, optionally of one commune.
    async fn stations(
        &self,
        set: BoundarySet,
        province: &str,
        commune: Option<&str>,
    ) -> Result<Vec<FacilityInfo>, StoreError>;
    async fn slot(&self, id: i64) -> Result<Option<SlotInfo>, StoreError>;
    /// A station's slots starting in `[from, to)`; with `free_only`, those with a place left.
    async fn slots(
        &self,
        station_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        free_only: bool,
    ) -> Result<Vec<SlotInfo>, StoreError>;
    async fn appointment_view(&self, id: i64) -> Result<Option<AppointmentView>, StoreError>;
    async fn citizen_appointments(&self, citizen_id: i64) -> Result<Vec<AppointmentView>, StoreError>;
    /// The appointments of a station's slots starting in `[from, to)`.
    async fn worklist(
        &self,
        station_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<WorkItem>, StoreError>;
    async fn account(&self, id: i64) -> Result<Option<AccountInfo>, StoreError>;
    async fn account_by_phone(&self, phone: &str) -> Result<Option<AccountInfo>, StoreError>;
    async fn call(&self, id: i64) -> Result<Option<CallInfo>, StoreError>;
    /// Open calls addressed to a facility, oldest first.
    async fn call_queue(&self, facility_id: i64) -> Result<Vec<CallInfo>, StoreError>;
    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn idempotency(&self, caller: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
    async fn audit(&self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// Booked appointments whose slot started before `before`.
    async fn due_noshows(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<i64>, StoreError>;
    /// Booked, not yet reminded appointments starting in `[from, to)`.
    async fn due_reminders(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Reminder>, StoreError>;
    async fn area_summary(&self, set: BoundarySet, provinces: &[String]) -> Result<AreaSummary, StoreError>;
    /// The latest note of every station that has one.
    async fn station_notes(&self) -> Result<Vec<StationNote>, StoreError>;
}

/// A write transaction. Each method records its change for the feed; `commit`
/// appends the feed rows and commits them with the data.
#[async_trait]
pub trait StoreTx: Send {
    async fn add_facility(&mut self, f: &Facility) -> Result<i64, StoreError>;
    async fn add_health_worker(&mut self, w: &HealthWorker) -> Result<i64, StoreError>;
    async fn add_account(&mut self, a: &Account) -> Result<i64, StoreError>;
    async fn add_slot(&mut self, s: &Slot) -> Result<i64, StoreError>;
    async fn book(&mut self, a: &Appointment) -> Result<i64, StoreError>;
    /// Moves an appointment to `to` if the domain allows it from its current status.
    async fn set_status(
        &mut self,
        appointment_id: i64,
        to: AppointmentStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn open_call(&mut self, c: &VideoCall) -> Result<i64, StoreError>;
    async fn close_call(
        &mut self,
        call_id: i64,
        ended_at: DateTime<Utc>,
        outcome: Option<CallOutcome>,
    ) -> Result<(), StoreError>;
    /// Writes many rows with ids chosen by the caller, in multi-row statements.
    async fn bulk(&mut self, batch: &Batch) -> Result<(), StoreError>;
    async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Appends the changes recorded so far to the feed now. This takes their feed
    /// numbers, and with them the feed lock until the transaction ends; `commit` does
    /// it anyway, so calling it early only serves to hold a place (tests interleave
    /// transactions with it).
    async fn flush_feed(&mut self) -> Result<(), StoreError>;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;

    // The core services' writes.

    /// Opens a savepoint: what follows can be undone alone by `rollback_to_savepoint`,
    /// so that many requests share one commit and each still fails on its own.
    async fn savepoint(&mut self) -> Result<(), StoreError>;
    async fn release_savepoint(&mut self) -> Result<(), StoreError>;
    async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError>;
    /// Returns the account's new version.
    async fn update_account(&mut self, id: i64, update: &AccountUpdate, at: DateTime<Utc>) -> Result<i64, StoreError>;
    /// Closes an account and erases its personal fields.
    async fn close_account(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn add_user(&mut self, user: &NewUser, at: DateTime<Utc>) -> Result<i64, StoreError>;
    /// Disables/enables a user or sets its password hash, ending its sessions.
    async fn change_user(
        &mut self,
        username: &str,
        disabled: Option<bool>,
        password_hash: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn create_session(
        &mut self,
        token_hash: &str,
        owner: SessionOwner,
        csrf: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn delete_session(&mut self, token_hash: &str) -> Result<(), StoreError>;
    async fn set_login_code(
        &mut self,
        account_id: i64,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// True if the code matches (and is consumed); misses count towards `max_attempts`.
    async fn use_login_code(
        &mut self,
        account_id: i64,
        code_hash: &str,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<bool, StoreError>;
    async fn put_idempotency(&mut self, records: &[IdempotencyRecord]) -> Result<(), StoreError>;
    async fn prune_idempotency(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    async fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<(), StoreError>;
    async fn mark_reminded(&mut self, appointment_id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn add_station_note(
        &mut self,
        station: &str,
        author: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Looks a facility's id up by its code; shared by reads and write transactions.
pub(crate) const FACILITY_ID_SQL: &str = "SELECT id FROM facilities WHERE code = $1";

pub(crate) fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub(crate) fn from_ts(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap_or_default()
}
