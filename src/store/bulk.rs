//! Bulk writes for the simulator: many rows per statement, ids chosen by the caller.
//!
//! A bulk appointment row carries its final status and version, and its later
//! statuses arrive as [`StatusRow`]s (possibly in a later batch, at the time they
//! happened): the history and the feed get one row per version, in time order, while
//! the load avoids one UPDATE per status change. The feed rows of a batch are derived
//! here, never supplied by the caller, so nothing can be written without its change.

use sqlx::Any;

use super::tx::{SqlTx, constraint};
use super::{Backend, Entity, Op, StoreError};

/// Keeps every multi-row statement below SQLite's limit of 32,766 bound values.
const MAX_BINDS: usize = 30_000;
/// Rows per statement: larger statements cost more to prepare than they save.
const MAX_ROWS: usize = 500;

#[derive(Debug, Clone)]
pub struct FacilityRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub level: &'static str,
    pub province_63: String,
    pub province_34: String,
    pub commune_id: Option<String>,
    pub refers_to: Option<i64>,
    pub go_live: Option<String>,
    pub catchment_population: Option<i64>,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct WorkerRow {
    pub id: i64,
    pub staff_code: String,
    pub facility_id: i64,
    pub cadre: &'static str,
    pub sex: &'static str,
    pub birth_year: i64,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: i64,
    pub phone: String,
    pub name: String,
    pub sex: &'static str,
    pub birth_year: i64,
    pub ethnic_minority: bool,
    pub vulnerable: i64,
    pub home_station_id: i64,
    pub consent_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct SlotRow {
    pub id: i64,
    pub station_id: i64,
    pub start_at: i64,
    pub duration_min: i64,
    pub capacity: i64,
    /// When the station published it.
    pub at: i64,
}

/// An appointment as booked; `status`, `version` and `updated_at` are its final state.
#[derive(Debug, Clone)]
pub struct AppointmentRow {
    pub id: i64,
    pub slot_id: i64,
    pub citizen_id: i64,
    pub reason: &'static str,
    pub initial_status: &'static str,
    pub status: &'static str,
    pub version: i64,
    pub booked_at: i64,
    pub updated_at: i64,
    pub rescheduled_from: Option<i64>,
}

/// A later status of an appointment (version 2 and up).
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub appointment_id: i64,
    pub version: i64,
    pub status: &'static str,
    pub at: i64,
}

/// A call with its final state; a closed call reports two changes (open and close).
#[derive(Debug, Clone)]
pub struct CallRow {
    pub id: i64,
    pub caller_station_id: i64,
    pub callee_facility_id: i64,
    pub purpose: &'static str,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: Option<&'static str>,
}

/// Rows to write in one go; tables are written parents first.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub facilities: Vec<FacilityRow>,
    pub workers: Vec<WorkerRow>,
    pub accounts: Vec<AccountRow>,
    pub slots: Vec<SlotRow>,
    pub appointments: Vec<AppointmentRow>,
    pub statuses: Vec<StatusRow>,
    pub calls: Vec<CallRow>,
}

impl Batch {
    pub fn rows(&self) -> usize {
        self.facilities.len()
            + self.workers.len()
            + self.accounts.len()
            + self.slots.len()
            + self.appointments.len()
            + self.statuses.len()
            + self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }
}

type Q<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// `VALUES ($1, $2), ($3, $4), ...` for PostgreSQL, `VALUES (?, ?), (?, ?), ...` for
/// SQLite, for `rows` rows of `cols` columns. Written out by hand because the `Any`
/// driver's query builder only emits `?`, which PostgreSQL rejects, while SQLite
/// resolves each `$N` by a linear search, which makes a large statement quadratic.
pub(super) fn values_clause(backend: Backend, cols: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 6 + 8);
    sql.push_str("VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Writes `rows` into `table` in multi-row INSERTs of as many rows as the bind limit allows.
pub(super) async fn insert<T>(
    tx: &mut SqlTx,
    table: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl for<'q> Fn(Q<'q>, &T) -> Q<'q>,
) -> Result<(), StoreError> {
    insert_with(tx, table, columns, rows, "", bind).await
}

/// [`insert`] with a clause after the values, such as `ON CONFLICT DO NOTHING`.
pub(super) async fn insert_with<T>(
    tx: &mut SqlTx,
    table: &str,
    columns: &[&str],
    rows: &[T],
    tail: &str,
    bind: impl for<'q> Fn(Q<'q>, &T) -> Q<'q>,
) -> Result<(), StoreError> {
    let per_statement = (MAX_BINDS / columns.len()).clamp(1, MAX_ROWS);
    let backend = tx.backend;
    let head = format!("INSERT INTO {table} ({}) ", columns.join(", "));
    let mut full_sql: Option<String> = None;
    for chunk in rows.chunks(per_statement) {
        // Full chunks share one SQL text, so the driver prepares it once.
        let sql = if chunk.len() == per_statement {
            full_sql
                .get_or_insert_with(|| format!("{head}{}{tail}", values_clause(backend, columns.len(), per_statement)))
                .clone()
        } else {
            format!("{head}{}{tail}", values_clause(backend, columns.len(), chunk.len()))
        };
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = bind(q, row);
        }
        q.execute(&mut *tx.tx).await.map_err(constraint)?;
    }
    Ok(())
}

pub(super) async fn write(tx: &mut SqlTx, b: &Batch) -> Result<(), StoreError> {
    let mut changes: Vec<(i64, Entity, i64, i64, Op)> = Vec::with_capacity(b.rows() + b.calls.len());

    insert(
        tx,
        "facilities",
        &[
            "id",
            "code",
            "name",
            "level",
            "province_63",
            "province_34",
            "commune_id",
            "refers_to",
            "go_live",
            "catchment_population",
        ],
        &b.facilities,
        |q, r| {
            q.bind(r.id)
                .bind(r.code.clone())
                .bind(r.name.clone())
                .bind(r.level)
                .bind(r.province_63.clone())
                .bind(r.province_34.clone())
                .bind(r.commune_id.clone())
                .bind(r.refers_to)
                .bind(r.go_live.clone())
                .bind(r.catchment_population)
        },
    )
    .await?;
    changes.extend(b.facilities.iter().map(|r| (r.at, Entity::Facility, r.id, 1, Op::Insert)));

    insert(
        tx,
        "health_workers",
        &["id", "staff_code", "facility_id", "cadre", "sex", "birth_year"],
        &b.workers,
        |q, r| q.bind(r.id).bind(r.staff_code.clone()).bind(r.facility_id).bind(r.cadre).bind(r.sex).bind(r.birth_year),
    )
    .await?;
    changes.extend(b.workers.iter().map(|r| (r.at, Entity::HealthWorker, r.id, 1, Op::Insert)));

    insert(
        tx,
        "accounts",
        &[
            "id",
            "phone",
            "name",
            "sex",
            "birth_year",
            "ethnic_minority",
            "vulnerable",
            "home_station_id",
            "consent_at",
            "created_at",
        ],
        &b.accounts,
        |q, r| {
            q.bind(r.id)
                .bind(r.phone.clone())
                .bind(r.name.clone())
                .bind(r.sex)
                .bind(r.birth_year)
                .bind(i64::from(r.ethnic_minority))
                .bind(r.vulnerable)
                .bind(r.home_station_id)
                .bind(r.consent_at)
                .bind(r.created_at)
        },
    )
    .await?;
    changes.extend(b.accounts.iter().map(|r| (r.created_at, Entity::Account, r.id, 1, Op::Insert)));

    insert(tx, "slots", &["id", "station_id", "start_at", "duration_min", "capacity"], &b.slots, |q, r| {
        q.bind(r.id).bind(r.station_id).bind(r.start_at).bind(r.duration_min).bind(r.capacity)
    })
    .await?;
    changes.extend(b.slots.iter().map(|r| (r.at, Entity::Slot, r.id, 1, Op::Insert)));

    insert(
        tx,
        "appointments",
        &["id", "slot_id", "citizen_id", "reason", "status", "booked_at", "rescheduled_from", "updated_at", "version"],
        &b.appointments,
        |q, r| {
            q.bind(r.id)
                .bind(r.slot_id)
                .bind(r.citizen_id)
                .bind(r.reason)
                .bind(r.status)
                .bind(r.booked_at)
                .bind(r.rescheduled_from)
                .bind(r.updated_at)
                .bind(r.version)
        },
    )
    .await?;
    // Version 1 of each appointment's history is its booking; later ones come as statuses.
    let firsts: Vec<StatusRow> = b
        .appointments
        .iter()
        .map(|r| StatusRow { appointment_id: r.id, version: 1, status: r.initial_status, at: r.booked_at })
        .collect();
    for rows in [&firsts, &b.statuses] {
        insert(tx, "appointment_history", &["appointment_id", "version", "status", "at"], rows, |q, r| {
            q.bind(r.appointment_id).bind(r.version).bind(r.status).bind(r.at)
        })
        .await?;
    }
    changes.extend(firsts.iter().map(|r| (r.at, Entity::Appointment, r.appointment_id, 1, Op::Insert)));
    changes.extend(b.statuses.iter().map(|r| (r.at, Entity::Appointment, r.appointment_id, r.version, Op::Update)));

    insert(
        tx,
        "video_calls",
        &["id", "caller_station_id", "callee_facility_id", "purpose", "started_at", "ended_at", "outcome", "version"],
        &b.calls,
        |q, r| {
            q.bind(r.id)
                .bind(r.caller_station_id)
                .bind(r.callee_facility_id)
                .bind(r.purpose)
                .bind(r.started_at)
                .bind(r.ended_at)
                .bind(r.outcome)
                .bind(if r.ended_at.is_some() { 2i64 } else { 1 })
        },
    )
    .await?;
    for r in &b.calls {
        changes.push((r.started_at, Entity::VideoCall, r.id, 1, Op::Insert));
        if let Some(end) = r.ended_at {
            changes.push((end, Entity::VideoCall, r.id, 2, Op::Update));
        }
    }

    // Within a batch the feed follows the time of each change; a stable sort keeps an
    // entity's versions in order when two share a second.
    changes.sort_by_key(|c| c.0);
    for (at, entity, id, version, op) in changes {
        tx.record(entity, id, version, op, at);
    }
    Ok(())
}
