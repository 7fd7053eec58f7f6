//! [`SqlTx`]: a write transaction that buffers its feed rows and appends them last.
//!
//! Why last: on PostgreSQL the feed's numbers come from an identity sequence, which
//! hands out numbers in call order, not commit order. Appending the feed rows at
//! commit time, after taking a transaction-scoped advisory lock that is only released
//! by the commit, makes "took a number" and "committed" happen in the same order for
//! every writer, while the lock is held only for the last statement and the commit.
//! On SQLite `BEGIN IMMEDIATE` already serialises writers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

use super::{
    AccountUpdate, AuditEntry, Backend, Batch, Entity, IdempotencyRecord, NewUser, Op, SessionOwner, StoreError,
    StoreTx, ts,
};
use crate::clock::Clock;
use crate::domain::{
    Account, Appointment, AppointmentStatus, CallOutcome, CallPurpose, Facility, FacilityCode, FacilityLevel,
    HealthWorker, Slot, VideoCall,
};

/// The advisory lock key that orders feed appends on PostgreSQL ("homedoc" in ASCII).
const FEED_LOCK: i64 = 0x686f_6d65_646f_63;

#[derive(Debug, Clone, Copy)]
pub(super) struct FeedRow {
    pub entity: Entity,
    pub entity_id: i64,
    pub version: i64,
    pub op: Op,
    pub at: i64,
}

pub(crate) struct SqlTx {
    pub(super) tx: Transaction<'static, Any>,
    pub(super) backend: Backend,
    clock: Clock,
    pub(super) feed: Vec<FeedRow>,
    /// Feed lengths at each open savepoint, so a rollback to it drops its feed rows too.
    pub(super) feed_marks: Vec<usize>,
}

impl SqlTx {
    pub(super) fn new(tx: Transaction<'static, Any>, backend: Backend, clock: Clock) -> Self {
        SqlTx { tx, backend, clock, feed: Vec::new(), feed_marks: Vec::new() }
    }

    pub(super) fn record(&mut self, entity: Entity, entity_id: i64, version: i64, op: Op, at: i64) {
        self.feed.push(FeedRow { entity, entity_id, version, op, at });
    }

    async fn facility_id(&mut self, code: &FacilityCode) -> Result<i64, StoreError> {
        sqlx::query_scalar(super::FACILITY_ID_SQL)
            .bind(code.as_str())
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::not_found("facility", code))
    }

    async fn facility_level(&mut self, id: i64) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("SELECT level FROM facilities WHERE id = $1").bind(id).fetch_one(&mut *self.tx).await?)
    }

    async fn append_feed(&mut self) -> Result<(), StoreError> {
        if self.feed.is_empty() {
            return Ok(());
        }
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(FEED_LOCK).execute(&mut *self.tx).await?;
        }
        let feed = std::mem::take(&mut self.feed);
        super::bulk::insert(self, "change_feed", &["entity", "entity_id", "version", "op", "at"], &feed, |q, r| {
            q.bind(r.entity.as_str()).bind(r.entity_id).bind(r.version).bind(r.op.as_str()).bind(r.at)
        })
        .await
    }
}

/// Constraint violations the services explain in their own words: a needle found in
/// the database's message (SQLite and PostgreSQL word them differently) and the text
/// the caller gets, which names the rule and no table.
const KNOWN_CONFLICTS: &[(&str, &str)] = &[
    ("slot_full", "slot_full: the slot has no free place"),
    ("appointments_one_active_per_citizen", "already_booked: the citizen already holds a place in this slot"),
    ("appointments.slot_id, appointments.citizen_id", "already_booked: the citizen already holds a place in this slot"),
    ("accounts_phone_key", "phone_taken: an account with this phone number exists"),
    ("accounts.phone", "phone_taken: an account with this phone number exists"),
    ("users_username_key", "username_taken: a user with this name exists"),
    ("users.username", "username_taken: a user with this name exists"),
    ("idempotency_keys", "idempotency_key_taken: the key was used concurrently"),
];

/// Maps constraint violations to the store's own errors, so callers can answer 409.
pub(super) fn constraint(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        use sqlx::error::ErrorKind::*;
        let message = db.message();
        let known = KNOWN_CONFLICTS
            .iter()
            .find(|(needle, _)| message.contains(needle) || db.constraint().is_some_and(|c| c.contains(needle)));
        if let Some((_, text)) = known {
            return StoreError::Conflict((*text).to_string());
        }
        match db.kind() {
            UniqueViolation => return StoreError::Conflict(format!("already exists: {message}")),
            ForeignKeyViolation => {
                return StoreError::Conflict(format!("refers to a row that does not exist: {message}"));
            }
            CheckViolation => return StoreError::Conflict(format!("violates a rule of the store: {message}")),
            _ => {}
        }
    }
    StoreError::Db(e)
}

#[async_trait]
impl StoreTx for SqlTx {
    async fn add_facility(&mut self, f: &Facility) -> Result<i64, StoreError> {
        let refers_to = match &f.refers_to {
            Some(code) => Some(self.facility_id(code).await?),
            None => None,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO facilities (code, name, level, province_63, province_34, commune_id, refers_to, go_live, catchment_population) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(f.code.as_str())
        .bind(f.name.as_str())
        .bind(f.level.as_str())
        .bind(f.province_63.to_string())
        .bind(f.province_34.to_string())
        .bind(f.commune_id.clone())
        .bind(refers_to)
        .bind(f.go_live.map(|d| d.to_string()))
        .bind(f.catchment_population.map(i64::from))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(constraint)?;
        let now = ts(self.clock.now());
        self.record(Entity::Facility, id, 1, Op::Insert, now);
        Ok(id)
    }

    async fn add_health_worker(&mut self, w: &HealthWorker) -> Result<i64, StoreError> {
        let facility_id = self.facility_id(&w.facility).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO health_workers (staff_code, facility_id, cadre, sex, birth_year) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(w.staff_code.as_str())
        .bind(facility_id)
        .bind(w.cadre.as_str())
        .bind(w.sex.as_str())
        .bind(i64::from(w.birth_year.get()))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(constraint)?;
        let now = ts(self.clock.now());
        self.record(Entity::HealthWorker, id, 1, Op::Insert, now);
        Ok(id)
    }

    async fn add_account(&mut self, a: &Account) -> Result<i64, StoreError> {
        let station = self.facility_id(&a.home_station).await?;
        if self.facility_level(station).await? != "commune_station" {
            return Err(crate::domain::DomainError::invalid("home_station", "must be a commune health station").into());
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (phone, name, sex, birth_year, ethnic_minority, vulnerable, home_station_id, consent_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(a.phone.as_str())
        .bind(a.name.as_str())
        .bind(a.sex.as_str())
        .bind(i64::from(a.birth_year.get()))
        .bind(i64::from(a.ethnic_minority))
        .bind(a.vulnerable.bits())
        .bind(station)
        .bind(ts(a.consent_at))
        .bind(ts(a.created_at))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(constraint)?;
        self.record(Entity::Account, id, 1, Op::Insert, ts(a.created_at));
        Ok(id)
    }

    async fn add_slot(&mut self, s: &Slot) -> Result<i64, StoreError> {
        let station = self.facility_id(&s.station).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO slots (station_id, start_at, duration_min, capacity) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(station)
        .bind(ts(s.start))
        .bind(i64::from(s.duration_min))
        .bind(i64::from(s.capacity))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(constraint)?;
        let now = ts(self.clock.now());
        self.record(Entity::Slot, id, 1, Op::Insert, now);
        Ok(id)
    }

    async fn book(&mut self, a: &Appointment) -> Result<i64, StoreError> {
        let at = ts(a.booked_at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO appointments (slot_id, citizen_id, reason, status, booked_at, rescheduled_from, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $5) RETURNING id",
        )
        .bind(a.slot_id)
        .bind(a.citizen_id)
        .bind(a.reason.as_str())
        .bind(a.status.as_str())
        .bind(at)
        .bind(a.rescheduled_from)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(constraint)?;
        sqlx::query("INSERT INTO appointment_history (appointment_id, version, status, at) VALUES ($1, 1, $2, $3)")
            .bind(id)
            .bind(a.status.as_str())
            .bind(at)
            .execute(&mut *self.tx)
            .await?;
        self.record(Entity::Appointment, id, 1, Op::Insert, at);
        Ok(id)
    }

    async fn set_status(
        &mut self,
        appointment_id: i64,
        to: AppointmentStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT status, version FROM appointments WHERE id = $1")
            .bind(appointment_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::not_found("appointment", appointment_id))?;
        let from = AppointmentStatus::parse(row.try_get::<&str, _>(0)?)?;
        let version: i64 = row.try_get(1)?;
        from.transition(to)?;
        let at = ts(at);
        // The version check turns a concurrent change into a conflict, not a lost update.
        let done = sqlx::query(
            "UPDATE appointments SET status = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4",
        )
        .bind(to.as_str())
        .bind(at)
        .bind(appointment_id)
        .bind(version)
        .execute(&mut *self.tx)
        .await
        .map_err(constraint)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "changed_concurrently: appointment {appointment_id} was changed concurrently"
            )));
        }
        sqlx::query("INSERT INTO appointment_history (appointment_id, version, status, at) VALUES ($1, $2, $3, $4)")
            .bind(appointment_id)
            .bind(version + 1)
            .bind(to.as_str())
            .bind(at)
            .execute(&mut *self.tx)
            .await?;
        self.record(Entity::Appointment, appointment_id, version + 1, Op::Update, at);
        Ok(())
    }

    async fn open_call(&mut self, c: &VideoCall) -> Result<i64, StoreError> {
        let caller = self.facility_id(&c.caller_station).await?;
        let callee = self.facility_id(&c.callee_facility).await?;
        // The levels come from the store, not from the caller's word.
        let caller_level = FacilityLevel::parse(&self.facility_level(caller).await?)?;
        let callee_level = FacilityLevel::parse(&self.facility_level(callee).await?)?;
        VideoCall::open(
            c.caller_station.clone(),
            caller_level,
            c.callee_facility.clone(),
            callee_level,
            c.purpose,
            c.started_at,
        )?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO video_calls (caller_station_id, callee_facility_id, purpose, started_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(caller)
        .bind(callee)
        .bind(c.purpose.as_str())
        .bind(ts(c.started_at))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(constraint)?;
        self.record(Entity::VideoCall, id, 1, Op::Insert, ts(c.started_at));
        Ok(id)
    }

    async fn close_call(
        &mut self,
        call_id: i64,
        ended_at: DateTime<Utc>,
        outcome: Option<CallOutcome>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT purpose, started_at, ended_at, version FROM video_calls WHERE id = $1")
            .bind(call_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::not_found("video call", call_id))?;
        // Rebuild the domain value so that its rules (one close, outcome per purpose) apply.
        let placeholder = FacilityCode::parse("XXX").expect("valid code");
        let mut call = VideoCall {
            caller_station: placeholder.clone(),
            callee_facility: placeholder,
            purpose: CallPurpose::parse(row.try_get::<&str, _>(0)?)?,
            started_at: super::from_ts(row.try_get(1)?),
            ended_at: row.try_get::<Option<i64>, _>(2)?.map(super::from_ts),
            outcome: None,
        };
        let version: i64 = row.try_get(3)?;
        call.close(ended_at, outcome)?;
        let done = sqlx::query(
            "UPDATE video_calls SET ended_at = $1, outcome = $2, version = version + 1 WHERE id = $3 AND version = $4",
        )
        .bind(ts(ended_at))
        .bind(outcome.map(|o| o.as_str()))
        .bind(call_id)
        .bind(version)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "changed_concurrently: video call {call_id} was changed concurrently"
            )));
        }
        self.record(Entity::VideoCall, call_id, version + 1, Op::Update, ts(ended_at));
        Ok(())
    }

    async fn bulk(&mut self, batch: &Batch) -> Result<(), StoreError> {
        super::bulk::write(self, batch).await
    }

    async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn flush_feed(&mut self) -> Result<(), StoreError> {
        self.append_feed().await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.append_feed().await?;
        self.tx.commit().await?;
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    async fn savepoint(&mut self) -> Result<(), StoreError> {
        SqlTx::savepoint(self).await
    }

    async fn release_savepoint(&mut self) -> Result<(), StoreError> {
        SqlTx::release_savepoint(self).await
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        SqlTx::rollback_to_savepoint(self).await
    }

    async fn update_account(&mut self, id: i64, update: &AccountUpdate, at: DateTime<Utc>) -> Result<i64, StoreError> {
        SqlTx::update_account(self, id, update, at).await
    }

    async fn close_account(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        SqlTx::close_account(self, id, at).await
    }

    async fn add_user(&mut self, user: &NewUser, at: DateTime<Utc>) -> Result<i64, StoreError> {
        SqlTx::add_user(self, user, at).await
    }

    async fn change_user(
        &mut self,
        username: &str,
        disabled: Option<bool>,
        password_hash: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        SqlTx::change_user(self, username, disabled, password_hash, at).await
    }

    async fn create_session(
        &mut self,
        token_hash: &str,
        owner: SessionOwner,
        csrf: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        SqlTx::create_session(self, token_hash, owner, csrf, at, expires_at).await
    }

    async fn delete_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        SqlTx::delete_session(self, token_hash).await
    }

    async fn set_login_code(
        &mut self,
        account_id: i64,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        SqlTx::set_login_code(self, account_id, code_hash, expires_at).await
    }

    async fn use_login_code(
        &mut self,
        account_id: i64,
        code_hash: &str,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<bool, StoreError> {
        SqlTx::use_login_code(self, account_id, code_hash, now, max_attempts).await
    }

    async fn put_idempotency(&mut self, records: &[IdempotencyRecord]) -> Result<(), StoreError> {
        SqlTx::put_idempotency(self, records).await
    }

    async fn prune_idempotency(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        SqlTx::prune_idempotency(self, before).await
    }

    async fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        SqlTx::append_audit(self, entries).await
    }

    async fn mark_reminded(&mut self, appointment_id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        SqlTx::mark_reminded(self, appointment_id, at).await
    }

    async fn add_station_note(
        &mut self,
        station: &str,
        author: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        SqlTx::add_station_note(self, station, author, body, at).await
    }
}
