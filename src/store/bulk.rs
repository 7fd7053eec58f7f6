//! Bulk writes for the simulator: many rows per statement, ids chosen by the caller.
//!
//! A bulk appointment row carries its final status and version, and its later
//! statuses arrive as [`StatusRow`]s (possibly in a later batch, at the time they
//! happened): the history and the feed get one row per version, in time order, while
//! the load avoids one UPDATE per status change. The feed rows of a batch are derived
//! here, never supplied by the caller, so nothing can be written without its change.

use sqlx::{Any, QueryBuilder};

use super::tx::{SqlTx, constraint};
use super::{Entity, Op, StoreError};

/// Keeps every multi-row statement below SQLite's limit of 32,766 bound values.
const MAX_BINDS: usize = 30_000;

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

/// Writes `rows` into `table` in multi-row INSERTs of as many rows as the bind limit allows.
async fn insert<T>(
    tx: &mut SqlTx,
    table: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl Fn(&mut sqlx::query_builder::Separated<'_, '_, Any, &'static str>, &T) + Copy,
) -> Result<(), StoreError> {
    let head = format!("INSERT INTO {table} ({}) ", columns.join(", "));
    for chunk in rows.chunks((MAX_BINDS / columns.len()).max(1)) {
        let mut q = QueryBuilder::<Any>::new(&head);
        q.push_values(chunk, |mut b, row| bind(&mut b, row));
        q.build().execute(&mut *tx.tx).await.map_err(constraint)?;
    }
    Ok(())
}

pub(super) async fn write(tx: &mut SqlTx, b: &Batch) -> Result<(), StoreError> {
    let mut changes: Vec<(i64, Entity, i64, i64, Op)> = Vec::with_capacity(b.rows() + b.calls.len());

    insert(
        tx,
        "facilities",
        &["id", "code", "name", "level", "province_63", "province_34", "commune_id", "refers_to", "go_live", "catchment_population"],
        &b.facilities,
        |q, r| {
            q.push_bind(r.id)
                .push_bind(r.code.clone())
                .push_bind(r.name.clone())
                .push_bind(r.level)
                .push_bind(r.province_63.clone())
                .push_bind(r.province_34.clone())
                .push_bind(r.commune_id.clone())
                .push_bind(r.refers_to)
                .push_bind(r.go_live.clone())
                .push_bind(r.catchment_population);
        },
    )
    .await?;
    changes.extend(b.facilities.iter().map(|r| (r.at, Entity::Facility, r.id, 1, Op::Insert)));

    insert(tx, "health_workers", &["id", "staff_code", "facility_id", "cadre", "sex", "birth_year"], &b.workers, |q, r| {
        q.push_bind(r.id)
            .push_bind(r.staff_code.clone())
            .push_bind(r.facility_id)
            .push_bind(r.cadre)
            .push_bind(r.sex)
            .push_bind(r.birth_year);
    })
    .await?;
    changes.extend(b.workers.iter().map(|r| (r.at, Entity::HealthWorker, r.id, 1, Op::Insert)));

    insert(
        tx,
        "accounts",
        &["id", "phone", "name", "sex", "birth_year", "ethnic_minority", "vulnerable", "home_station_id", "consent_at", "created_at"],
        &b.accounts,
        |q, r| {
            q.push_bind(r.id)
                .push_bind(r.phone.clone())
                .push_bind(r.name.clone())
                .push_bind(r.sex)
                .push_bind(r.birth_year)
                .push_bind(i64::from(r.ethnic_minority))
                .push_bind(r.vulnerable)
                .push_bind(r.home_station_id)
                .push_bind(r.consent_at)
                .push_bind(r.created_at);
        },
    )
    .await?;
    changes.extend(b.accounts.iter().map(|r| (r.created_at, Entity::Account, r.id, 1, Op::Insert)));

    insert(tx, "slots", &["id", "station_id", "start_at", "duration_min", "capacity"], &b.slots, |q, r| {
        q.push_bind(r.id).push_bind(r.station_id).push_bind(r.start_at).push_bind(r.duration_min).push_bind(r.capacity);
    })
    .await?;
    changes.extend(b.slots.iter().map(|r| (r.at, Entity::Slot, r.id, 1, Op::Insert)));

    insert(
        tx,
        "appointments",
        &["id", "slot_id", "citizen_id", "reason", "status", "booked_at", "rescheduled_from", "updated_at", "version"],
        &b.appointments,
        |q, r| {
            q.push_bind(r.id)
                .push_bind(r.slot_id)
                .push_bind(r.citizen_id)
                .push_bind(r.reason)
                .push_bind(r.status)
                .push_bind(r.booked_at)
                .push_bind(r.rescheduled_from)
                .push_bind(r.updated_at)
                .push_bind(r.version);
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
            q.push_bind(r.appointment_id).push_bind(r.version).push_bind(r.status).push_bind(r.at);
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
            q.push_bind(r.id)
                .push_bind(r.caller_station_id)
                .push_bind(r.callee_facility_id)
                .push_bind(r.purpose)
                .push_bind(r.started_at)
                .push_bind(r.ended_at)
                .push_bind(r.outcome)
                .push_bind(if r.ended_at.is_some() { 2i64 } else { 1 });
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
