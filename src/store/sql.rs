//! [`SqlStore`]: the [`Store`] over SQLite or PostgreSQL through sqlx's `Any` driver.
//! The SQL is shared; the backends differ only in their migrations, in how a write
//! transaction starts (`BEGIN IMMEDIATE` on SQLite) and in the feed lock (see `tx`).
//! On SQLite the change feed's pages are read with rusqlite instead (see `sqlite_feed`),
//! with the same queries.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use super::records::*;
use super::sqlite_feed::SqliteFeed;
use super::tx::SqlTx;
use super::{
    AppointmentChange, Backend, Change, Entity, Measured, Op, Store, StoreError, StoreTx, StoredAppointment,
    TableCounts, feed, from_ts, reads,
};
use crate::clock::Clock;
use crate::domain::{AppointmentStatus, BoundarySet, FacilityCode, ReasonCategory};

/// How commits reach the disk on SQLite (PostgreSQL keeps its server settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is synced: the services' setting.
    Full,
    /// No syncs, no foreign-key lookups, a 128 MiB page cache: for the simulator's bulk
    /// load, whose ids are consistent by construction (its tests check them) and which
    /// is rerun from scratch if it fails.
    BulkLoad,
}

/// The store on one database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the change feed's own reader (see `sqlite_feed`).
    feed: Option<Arc<SqliteFeed>>,
    clock: Clock,
}

impl SqlStore {
    /// Connects to `url`, creating a SQLite file (and its folder) if needed, and
    /// applies the backend's migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Durability::Full).await
    }

    /// Like [`SqlStore::connect`], choosing how hard SQLite syncs its commits.
    pub async fn connect_with(url: &str, durability: Durability) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let (url, feed) = match backend {
            Backend::Sqlite => {
                let (url, file) = sqlite_url(url)?;
                (url, Some(SqliteFeed::new(file)))
            }
            Backend::Postgres => (url.to_string(), None),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; FULL syncs the WAL on
                        // every commit, so an acknowledged booking survives a power cut.
                        // Reads of the change feed touch pages all over the file: memory
                        // mapping spares a copy of each page into SQLite's small cache.
                        conn.execute(sqlx::raw_sql(match durability {
                            Durability::Full => {
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000; PRAGMA temp_store = MEMORY; \
                                 PRAGMA mmap_size = 2147418112; PRAGMA cache_size = -32768;"
                            }
                            Durability::BulkLoad => {
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; \
                                 PRAGMA foreign_keys = OFF; PRAGMA busy_timeout = 30000; \
                                 PRAGMA cache_size = -131072; PRAGMA temp_store = MEMORY;"
                            }
                        }))
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(SqlStore { pool, backend, feed, clock: Clock::system() })
    }

    /// Uses `clock` for the times of changes that carry no time of their own.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// After a bulk load with explicit ids, moves PostgreSQL's identity sequences past
    /// them so that the services' inserts do not collide. SQLite needs nothing.
    pub async fn sync_id_sequences(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            for table in ["facilities", "health_workers", "accounts", "slots", "appointments", "video_calls"] {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     GREATEST((SELECT MAX(id) FROM {table}), 1))::BIGINT"
                );
                sqlx::query(&sql).execute(&self.pool).await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://PATH` with `mode=rwc` so that the file is created, and its folder too; and
/// the file's path.
fn sqlite_url(url: &str) -> Result<(String, PathBuf), StoreError> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let file = path.split('?').next().unwrap_or_default();
    if file.is_empty() || file == ":memory:" {
        return Err(StoreError::Url(format!("{url} (the store needs a file)")));
    }
    if let Some(dir) = std::path::Path::new(file).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Url(format!("{url}: cannot create {}: {e}", dir.display())))?;
    }
    let url = if path.contains("mode=") {
        format!("sqlite://{path}")
    } else if path.contains('?') {
        format!("sqlite://{path}&mode=rwc")
    } else {
        format!("sqlite://{path}?mode=rwc")
    };
    Ok((url, PathBuf::from(file)))
}

fn change_from_row(r: &AnyRow) -> Result<Change, StoreError> {
    Ok(Change {
        seq: r.try_get(0)?,
        entity: Entity::from_str(r.try_get::<&str, _>(1)?)?,
        entity_id: r.try_get(2)?,
        version: r.try_get(3)?,
        op: Op::from_str(r.try_get::<&str, _>(4)?)?,
        at: from_ts(r.try_get(5)?),
    })
}

/// `$first, $first+1, ...`: placeholders for an IN list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let tx = match self.backend {
            // IMMEDIATE takes the write lock now rather than at the first write, so a
            // transaction that reads then writes cannot fail with SQLITE_BUSY midway.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Box::new(SqlTx::new(tx, self.backend, self.clock.clone())))
    }

    async fn changes(&self, after: i64, entity: Option<Entity>, limit: u32) -> Result<Vec<Change>, StoreError> {
        let rows = match entity {
            None => {
                sqlx::query(
                    "SELECT seq, entity, entity_id, version, op, at FROM change_feed \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            Some(e) => {
                sqlx::query(
                    "SELECT seq, entity, entity_id, version, op, at FROM change_feed \
                     WHERE entity = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(e.as_str())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(change_from_row).collect()
    }

    async fn appointment_changes(&self, after: i64, limit: u32) -> Result<Vec<AppointmentChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.seq, f.entity_id, f.version, h.status, h.at, a.slot_id, s.start_at, fa.code, \
                    a.citizen_id, a.reason, a.booked_at, a.rescheduled_from \
             FROM change_feed f \
             JOIN appointment_history h ON h.appointment_id = f.entity_id AND h.version = f.version \
             JOIN appointments a ON a.id = f.entity_id \
             JOIN slots s ON s.id = a.slot_id \
             JOIN facilities fa ON fa.id = s.station_id \
             WHERE f.entity = 'appointment' AND f.seq > $1 ORDER BY f.seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AppointmentChange {
                    seq: r.try_get(0)?,
                    appointment_id: r.try_get(1)?,
                    version: r.try_get(2)?,
                    status: AppointmentStatus::from_str(r.try_get::<&str, _>(3)?)?,
                    at: from_ts(r.try_get(4)?),
                    slot_id: r.try_get(5)?,
                    slot_start: from_ts(r.try_get(6)?),
                    station: r.try_get(7)?,
                    citizen_id: r.try_get(8)?,
                    reason: ReasonCategory::from_str(r.try_get::<&str, _>(9)?)?,
                    booked_at: from_ts(r.try_get(10)?),
                    rescheduled_from: r.try_get(11)?,
                })
            })
            .collect()
    }

    async fn account_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::AccountFeedRow>, StoreError> {
        match &self.feed {
            Some(f) => f.page(feed::ACCOUNTS_SQL, after, limit, |r| feed::account_row(r)).await,
            None => feed::page(&self.pool, feed::ACCOUNTS_SQL, after, limit, feed::account_row).await,
        }
    }

    async fn appointment_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::AppointmentFeedRow>, StoreError> {
        match &self.feed {
            Some(f) => f.page(feed::APPOINTMENTS_SQL, after, limit, |r| feed::appointment_row(r)).await,
            None => feed::page(&self.pool, feed::APPOINTMENTS_SQL, after, limit, feed::appointment_row).await,
        }
    }

    async fn call_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::CallFeedRow>, StoreError> {
        match &self.feed {
            Some(f) => f.page(feed::CALLS_SQL, after, limit, |r| feed::call_row(r)).await,
            None => feed::page(&self.pool, feed::CALLS_SQL, after, limit, feed::call_row).await,
        }
    }

    async fn facility_feed(&self, after: i64, limit: u32) -> Result<Vec<feed::FacilityFeedRow>, StoreError> {
        match &self.feed {
            Some(f) => f.page(feed::FACILITIES_SQL, after, limit, |r| feed::facility_row(r)).await,
            None => feed::page(&self.pool, feed::FACILITIES_SQL, after, limit, feed::facility_row).await,
        }
    }

    async fn feed_page_end(&self, entity: Entity, after: i64, n: u32) -> Result<Option<i64>, StoreError> {
        match &self.feed {
            Some(f) => f.page_end(entity.as_str(), after, n).await,
            None => feed::page_end(&self.pool, entity.as_str(), after, n).await,
        }
    }

    async fn facility_codes(&self) -> Result<Vec<String>, StoreError> {
        feed::facility_codes(&self.pool).await
    }

    async fn appointment(&self, id: i64) -> Result<Option<StoredAppointment>, StoreError> {
        let row = sqlx::query(
            "SELECT id, slot_id, citizen_id, reason, status, booked_at, rescheduled_from, version \
             FROM appointments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredAppointment {
                id: r.try_get(0)?,
                slot_id: r.try_get(1)?,
                citizen_id: r.try_get(2)?,
                reason: ReasonCategory::from_str(r.try_get::<&str, _>(3)?)?,
                status: AppointmentStatus::from_str(r.try_get::<&str, _>(4)?)?,
                booked_at: from_ts(r.try_get(5)?),
                rescheduled_from: r.try_get(6)?,
                version: r.try_get(7)?,
            })
        })
        .transpose()
    }

    async fn facility_id(&self, code: &FacilityCode) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(super::FACILITY_ID_SQL).bind(code.as_str()).fetch_optional(&self.pool).await?)
    }

    async fn counts(&self) -> Result<TableCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM facilities), (SELECT COUNT(*) FROM health_workers), \
                    (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM slots), \
                    (SELECT COUNT(*) FROM appointments), (SELECT COUNT(*) FROM video_calls), \
                    (SELECT COUNT(*) FROM change_feed)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(TableCounts {
            facilities: row.try_get(0)?,
            health_workers: row.try_get(1)?,
            accounts: row.try_get(2)?,
            slots: row.try_get(3)?,
            appointments: row.try_get(4)?,
            video_calls: row.try_get(5)?,
            changes: row.try_get(6)?,
        })
    }

    async fn measure(&self, as_of: NaiveDate, provinces_63: &[String]) -> Result<Measured, StoreError> {
        if provinces_63.is_empty() {
            return Ok(Measured::default());
        }
        // The end of `as_of` in Vietnam (UTC+7): the program reports in local days.
        let end = chrono::FixedOffset::east_opt(7 * 3600)
            .expect("valid offset")
            .from_local_datetime(&(as_of + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight"))
            .single()
            .expect("fixed offsets are unambiguous")
            .timestamp();
        let inlist = placeholders(2, provinces_63.len());
        let queries = [
            format!(
                "SELECT COUNT(*) FROM accounts a JOIN facilities f ON f.id = a.home_station_id \
                 WHERE a.created_at < $1 AND f.province_63 IN ({inlist})"
            ),
            format!(
                "SELECT COUNT(DISTINCT ap.citizen_id) FROM appointments ap \
                 JOIN accounts a ON a.id = ap.citizen_id JOIN facilities f ON f.id = a.home_station_id \
                 WHERE ap.booked_at < $1 AND a.created_at < $1 AND f.province_63 IN ({inlist})"
            ),
            format!(
                "SELECT COUNT(*) FROM appointments ap JOIN slots s ON s.id = ap.slot_id \
                 JOIN facilities f ON f.id = s.station_id \
                 WHERE ap.booked_at < $1 AND ap.rescheduled_from IS NULL \
                   AND ap.status <> 'entered-in-error' AND f.province_63 IN ({inlist})"
            ),
            format!(
                "SELECT COUNT(*) FROM video_calls c JOIN facilities f ON f.id = c.caller_station_id \
                 WHERE c.started_at < $1 AND f.province_63 IN ({inlist})"
            ),
        ];
        let mut values = [0i64; 4];
        for (sql, value) in queries.iter().zip(values.iter_mut()) {
            let mut q = sqlx::query_scalar(sql).bind(end);
            for p in provinces_63 {
                q = q.bind(p.as_str());
            }
            *value = q.fetch_one(&self.pool).await?;
        }
        let [accounts, accounts_that_booked, appointments, video_calls] = values;
        Ok(Measured { accounts, accounts_that_booked, appointments, video_calls })
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM store_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn facility(&self, code: &str) -> Result<Option<FacilityInfo>, StoreError> {
        reads::facility_by_code(&self.pool, code).await
    }

    async fn stations(
        &self,
        set: BoundarySet,
        province: &str,
        commune: Option<&str>,
    ) -> Result<Vec<FacilityInfo>, StoreError> {
        reads::stations(&self.pool, set, province, commune).await
    }

    async fn slot(&self, id: i64) -> Result<Option<SlotInfo>, StoreError> {
        reads::slot_by_id(&self.pool, id).await
    }

    async fn slots(
        &self,
        station_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        free_only: bool,
    ) -> Result<Vec<SlotInfo>, StoreError> {
        reads::slots(&self.pool, station_id, from, to, free_only).await
    }

    async fn appointment_view(&self, id: i64) -> Result<Option<AppointmentView>, StoreError> {
        reads::appointment_view(&self.pool, id).await
    }

    async fn citizen_appointments(&self, citizen_id: i64) -> Result<Vec<AppointmentView>, StoreError> {
        reads::citizen_appointments(&self.pool, citizen_id).await
    }

    async fn worklist(
        &self,
        station_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<WorkItem>, StoreError> {
        reads::worklist(&self.pool, station_id, from, to).await
    }

    async fn account(&self, id: i64) -> Result<Option<AccountInfo>, StoreError> {
        reads::account_by_id(&self.pool, id).await
    }

    async fn account_by_phone(&self, phone: &str) -> Result<Option<AccountInfo>, StoreError> {
        reads::account_by_phone(&self.pool, phone).await
    }

    async fn call(&self, id: i64) -> Result<Option<CallInfo>, StoreError> {
        reads::call_by_id(&self.pool, id).await
    }

    async fn call_queue(&self, facility_id: i64) -> Result<Vec<CallInfo>, StoreError> {
        reads::call_queue(&self.pool, facility_id).await
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        reads::user_by_name(&self.pool, username).await
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        reads::user_by_id(&self.pool, id).await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        reads::session(&self.pool, token_hash).await
    }

    async fn idempotency(&self, caller: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        reads::idempotency(&self.pool, caller, key).await
    }

    async fn audit(&self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        reads::audit(&self.pool, after, limit).await
    }

    async fn due_noshows(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<i64>, StoreError> {
        reads::due_noshows(&self.pool, before, limit).await
    }

    async fn due_reminders(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Reminder>, StoreError> {
        reads::due_reminders(&self.pool, from, to, limit).await
    }

    async fn area_summary(&self, set: BoundarySet, provinces: &[String]) -> Result<AreaSummary, StoreError> {
        reads::area_summary(&self.pool, set, provinces).await
    }

    async fn station_notes(&self) -> Result<Vec<StationNote>, StoreError> {
        reads::station_notes(&self.pool).await
    }
}
