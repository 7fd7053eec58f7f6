//! The services' queries: stations, slots, worklists, accounts, calls, users,
//! sessions, idempotency records and the audit log. Shared by both backends.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::records::*;
use super::{StoreError, from_ts, ts};
use crate::domain::BoundarySet;

const FACILITY_COLUMNS: &str = "f.id, f.code, f.name, f.level, f.province_63, f.province_34, f.commune_id, \
     (SELECT u.code FROM facilities u WHERE u.id = f.refers_to)";

fn facility(r: &AnyRow) -> Result<FacilityInfo, StoreError> {
    Ok(FacilityInfo {
        id: r.try_get(0)?,
        code: r.try_get(1)?,
        name: r.try_get(2)?,
        level: r.try_get(3)?,
        province_63: r.try_get(4)?,
        province_34: r.try_get(5)?,
        commune_id: r.try_get(6)?,
        refers_to: r.try_get(7)?,
    })
}

pub(super) async fn facility_by_code(pool: &AnyPool, code: &str) -> Result<Option<FacilityInfo>, StoreError> {
    let sql = format!("SELECT {FACILITY_COLUMNS} FROM facilities f WHERE f.code = $1");
    sqlx::query(&sql).bind(code).fetch_optional(pool).await?.as_ref().map(facility).transpose()
}

/// Commune stations of a province in either boundary set, optionally of one commune.
pub(super) async fn stations(
    pool: &AnyPool,
    set: BoundarySet,
    province: &str,
    commune: Option<&str>,
) -> Result<Vec<FacilityInfo>, StoreError> {
    let column = match set {
        BoundarySet::P63 => "province_63",
        BoundarySet::P34 => "province_34",
    };
    let sql = format!(
        "SELECT {FACILITY_COLUMNS} FROM facilities f WHERE f.level = 'commune_station' AND f.{column} = $1 \
         AND ($2 IS NULL OR f.commune_id = $2) ORDER BY f.code"
    );
    let rows = sqlx::query(&sql).bind(province).bind(commune).fetch_all(pool).await?;
    rows.iter().map(facility).collect()
}

const SLOT_COLUMNS: &str = "s.id, f.code, s.station_id, s.start_at, s.duration_min, s.capacity, \
     (SELECT COUNT(*) FROM appointments a WHERE a.slot_id = s.id AND a.status IN ('booked', 'arrived'))";

fn slot(r: &AnyRow) -> Result<SlotInfo, StoreError> {
    Ok(SlotInfo {
        id: r.try_get(0)?,
        station: r.try_get(1)?,
        station_id: r.try_get(2)?,
        start: from_ts(r.try_get(3)?),
        duration_min: r.try_get(4)?,
        capacity: r.try_get(5)?,
        taken: r.try_get(6)?,
    })
}

pub(super) async fn slot_by_id(pool: &AnyPool, id: i64) -> Result<Option<SlotInfo>, StoreError> {
    let sql = format!("SELECT {SLOT_COLUMNS} FROM slots s JOIN facilities f ON f.id = s.station_id WHERE s.id = $1");
    sqlx::query(&sql).bind(id).fetch_optional(pool).await?.as_ref().map(slot).transpose()
}

/// A station's slots starting in `[from, to)`; with `free_only`, those with a place left.
pub(super) async fn slots(
    pool: &AnyPool,
    station_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    free_only: bool,
) -> Result<Vec<SlotInfo>, StoreError> {
    let sql = format!(
        "SELECT {SLOT_COLUMNS} FROM slots s JOIN facilities f ON f.id = s.station_id \
         WHERE s.station_id = $1 AND s.start_at >= $2 AND s.start_at < $3 {} ORDER BY s.start_at, s.id",
        if free_only {
            "AND s.capacity > (SELECT COUNT(*) FROM appointments a WHERE a.slot_id = s.id AND a.status IN ('booked', 'arrived'))"
        } else {
            ""
        }
    );
    let rows = sqlx::query(&sql).bind(station_id).bind(ts(from)).bind(ts(to)).fetch_all(pool).await?;
    rows.iter().map(slot).collect()
}

const APPOINTMENT_COLUMNS: &str = "a.id, a.slot_id, f.code, s.start_at, a.citizen_id, a.status, a.reason, \
     a.booked_at, a.rescheduled_from, a.version";
const APPOINTMENT_FROM: &str =
    "FROM appointments a JOIN slots s ON s.id = a.slot_id JOIN facilities f ON f.id = s.station_id";

fn appointment(r: &AnyRow) -> Result<AppointmentView, StoreError> {
    Ok(AppointmentView {
        id: r.try_get(0)?,
        slot_id: r.try_get(1)?,
        station: r.try_get(2)?,
        start: from_ts(r.try_get(3)?),
        citizen_id: r.try_get(4)?,
        status: r.try_get(5)?,
        reason: r.try_get(6)?,
        booked_at: from_ts(r.try_get(7)?),
        rescheduled_from: r.try_get(8)?,
        version: r.try_get(9)?,
    })
}

pub(super) async fn appointment_view(pool: &AnyPool, id: i64) -> Result<Option<AppointmentView>, StoreError> {
    let sql = format!("SELECT {APPOINTMENT_COLUMNS} {APPOINTMENT_FROM} WHERE a.id = $1");
    sqlx::query(&sql).bind(id).fetch_optional(pool).await?.as_ref().map(appointment).transpose()
}

pub(super) async fn citizen_appointments(pool: &AnyPool, citizen_id: i64) -> Result<Vec<AppointmentView>, StoreError> {
    let sql =
        format!("SELECT {APPOINTMENT_COLUMNS} {APPOINTMENT_FROM} WHERE a.citizen_id = $1 ORDER BY s.start_at, a.id");
    let rows = sqlx::query(&sql).bind(citizen_id).fetch_all(pool).await?;
    rows.iter().map(appointment).collect()
}

pub(super) async fn worklist(
    pool: &AnyPool,
    station_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<WorkItem>, StoreError> {
    let sql = format!(
        "SELECT {APPOINTMENT_COLUMNS}, c.name {APPOINTMENT_FROM} JOIN accounts c ON c.id = a.citizen_id \
         WHERE s.station_id = $1 AND s.start_at >= $2 AND s.start_at < $3 ORDER BY s.start_at, a.id"
    );
    let rows = sqlx::query(&sql).bind(station_id).bind(ts(from)).bind(ts(to)).fetch_all(pool).await?;
    rows.iter().map(|r| Ok(WorkItem { appointment: appointment(r)?, citizen_name: r.try_get(10)? })).collect()
}

const ACCOUNT_SQL: &str = "SELECT a.id, a.phone, a.name, a.sex, a.birth_year, a.ethnic_minority, a.vulnerable, f.code, \
     a.consent_at, a.created_at, a.closed_at, a.version FROM accounts a JOIN facilities f ON f.id = a.home_station_id";

fn account(r: &AnyRow) -> Result<AccountInfo, StoreError> {
    Ok(AccountInfo {
        id: r.try_get(0)?,
        phone: r.try_get(1)?,
        name: r.try_get(2)?,
        sex: r.try_get(3)?,
        birth_year: r.try_get(4)?,
        ethnic_minority: r.try_get::<i64, _>(5)? != 0,
        vulnerable: r.try_get(6)?,
        home_station: r.try_get(7)?,
        consent_at: from_ts(r.try_get(8)?),
        created_at: from_ts(r.try_get(9)?),
        closed_at: r.try_get::<Option<i64>, _>(10)?.map(from_ts),
        version: r.try_get(11)?,
    })
}

pub(super) async fn account_by_id(pool: &AnyPool, id: i64) -> Result<Option<AccountInfo>, StoreError> {
    let sql = format!("{ACCOUNT_SQL} WHERE a.id = $1");
    sqlx::query(&sql).bind(id).fetch_optional(pool).await?.as_ref().map(account).transpose()
}

pub(super) async fn account_by_phone(pool: &AnyPool, phone: &str) -> Result<Option<AccountInfo>, StoreError> {
    let sql = format!("{ACCOUNT_SQL} WHERE a.phone = $1");
    sqlx::query(&sql).bind(phone).fetch_optional(pool).await?.as_ref().map(account).transpose()
}

const CALL_SQL: &str = "SELECT c.id, a.code, b.code, c.purpose, c.started_at, c.ended_at, c.outcome FROM video_calls c \
     JOIN facilities a ON a.id = c.caller_station_id JOIN facilities b ON b.id = c.callee_facility_id";

fn call(r: &AnyRow) -> Result<CallInfo, StoreError> {
    Ok(CallInfo {
        id: r.try_get(0)?,
        caller_station: r.try_get(1)?,
        callee_facility: r.try_get(2)?,
        purpose: r.try_get(3)?,
        started_at: from_ts(r.try_get(4)?),
        ended_at: r.try_get::<Option<i64>, _>(5)?.map(from_ts),
        outcome: r.try_get(6)?,
    })
}

pub(super) async fn call_by_id(pool: &AnyPool, id: i64) -> Result<Option<CallInfo>, StoreError> {
    let sql = format!("{CALL_SQL} WHERE c.id = $1");
    sqlx::query(&sql).bind(id).fetch_optional(pool).await?.as_ref().map(call).transpose()
}

/// The open calls addressed to a facility, oldest first.
pub(super) async fn call_queue(pool: &AnyPool, facility_id: i64) -> Result<Vec<CallInfo>, StoreError> {
    let sql = format!("{CALL_SQL} WHERE c.callee_facility_id = $1 AND c.ended_at IS NULL ORDER BY c.started_at, c.id");
    let rows = sqlx::query(&sql).bind(facility_id).fetch_all(pool).await?;
    rows.iter().map(call).collect()
}

fn user(r: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        role: r.try_get(3)?,
        scope: r.try_get(4)?,
        disabled: r.try_get::<i64, _>(5)? != 0,
    })
}

const USER_SQL: &str = "SELECT id, username, password_hash, role, scope, disabled FROM users";

pub(super) async fn user_by_name(pool: &AnyPool, username: &str) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("{USER_SQL} WHERE username = $1");
    sqlx::query(&sql).bind(username).fetch_optional(pool).await?.as_ref().map(user).transpose()
}

pub(super) async fn user_by_id(pool: &AnyPool, id: i64) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("{USER_SQL} WHERE id = $1");
    sqlx::query(&sql).bind(id).fetch_optional(pool).await?.as_ref().map(user).transpose()
}

pub(super) async fn session(pool: &AnyPool, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
    let Some(r) = sqlx::query(
        "SELECT s.account_id, s.user_id, s.csrf, s.expires_at, \
                CASE WHEN s.account_id IS NOT NULL THEN (CASE WHEN a.closed_at IS NULL THEN 1 ELSE 0 END) \
                     ELSE (CASE WHEN u.disabled = 0 THEN 1 ELSE 0 END) END, \
                u.role, u.scope \
         FROM sessions s LEFT JOIN accounts a ON a.id = s.account_id LEFT JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let owner = match (r.try_get::<Option<i64>, _>(0)?, r.try_get::<Option<i64>, _>(1)?) {
        (Some(a), _) => SessionOwner::Account(a),
        (None, Some(u)) => SessionOwner::User(u),
        (None, None) => return Ok(None),
    };
    Ok(Some(SessionRecord {
        owner,
        csrf: r.try_get(2)?,
        expires_at: from_ts(r.try_get(3)?),
        owner_active: r.try_get::<i64, _>(4)? == 1,
        user_role: r.try_get(5)?,
        user_scope: r.try_get(6)?,
    }))
}

pub(super) async fn idempotency(
    pool: &AnyPool,
    caller: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let Some(r) = sqlx::query(
        "SELECT body_hash, status, response, created_at FROM idempotency_keys WHERE caller = $1 AND key = $2",
    )
    .bind(caller)
    .bind(key)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(IdempotencyRecord {
        caller: caller.to_string(),
        key: key.to_string(),
        body_hash: r.try_get(0)?,
        status: u16::try_from(r.try_get::<i64, _>(1)?).unwrap_or(500),
        response: r.try_get(2)?,
        at: from_ts(r.try_get(3)?),
    }))
}

pub(super) async fn audit(pool: &AnyPool, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, role, action, target, outcome, status FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditRecord {
                seq: r.try_get(0)?,
                entry: AuditEntry {
                    at: from_ts(r.try_get(1)?),
                    actor: r.try_get(2)?,
                    role: r.try_get(3)?,
                    action: r.try_get(4)?,
                    target: r.try_get(5)?,
                    outcome: r.try_get(6)?,
                    status: u16::try_from(r.try_get::<i64, _>(7)?).unwrap_or(0),
                },
            })
        })
        .collect()
}

/// Booked appointments whose slot started before `before`: the no-show candidates.
pub(super) async fn due_noshows(pool: &AnyPool, before: DateTime<Utc>, limit: u32) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT a.id FROM appointments a JOIN slots s ON s.id = a.slot_id \
         WHERE a.status = 'booked' AND s.start_at < $1 ORDER BY s.start_at, a.id LIMIT $2",
    )
    .bind(ts(before))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?)
}

/// Booked appointments starting in `[from, to)` not yet reminded, whose citizen has a phone.
pub(super) async fn due_reminders(
    pool: &AnyPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Reminder>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.id, c.phone, s.start_at, f.name FROM appointments a JOIN slots s ON s.id = a.slot_id \
         JOIN facilities f ON f.id = s.station_id JOIN accounts c ON c.id = a.citizen_id \
         WHERE a.status = 'booked' AND a.reminded_at IS NULL AND s.start_at >= $1 AND s.start_at < $2 \
         AND c.phone IS NOT NULL ORDER BY s.start_at, a.id LIMIT $3",
    )
    .bind(ts(from))
    .bind(ts(to))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Reminder {
                appointment_id: r.try_get(0)?,
                phone: r.try_get(1)?,
                start: from_ts(r.try_get(2)?),
                station_name: r.try_get(3)?,
            })
        })
        .collect()
}

/// Counts over the stations of some provinces of one boundary set.
pub(super) async fn area_summary(
    pool: &AnyPool,
    set: BoundarySet,
    provinces: &[String],
) -> Result<AreaSummary, StoreError> {
    if provinces.is_empty() {
        return Ok(AreaSummary::default());
    }
    let column = match set {
        BoundarySet::P63 => "province_63",
        BoundarySet::P34 => "province_34",
    };
    let list = super::sql::placeholders(1, provinces.len());
    let sql = format!(
        "WITH st AS (SELECT id FROM facilities WHERE level = 'commune_station' AND {column} IN ({list})) \
         SELECT (SELECT COUNT(*) FROM st), \
                (SELECT COUNT(*) FROM accounts WHERE home_station_id IN (SELECT id FROM st)), \
                (SELECT COUNT(*) FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE s.station_id IN (SELECT id FROM st)), \
                (SELECT COUNT(*) FROM video_calls WHERE caller_station_id IN (SELECT id FROM st))"
    );
    let mut q = sqlx::query(&sql);
    for p in provinces {
        q = q.bind(p.as_str());
    }
    let r = q.fetch_one(pool).await?;
    Ok(AreaSummary {
        stations: r.try_get(0)?,
        accounts: r.try_get(1)?,
        appointments: r.try_get(2)?,
        video_calls: r.try_get(3)?,
    })
}

/// The latest note of every station that has one.
pub(super) async fn station_notes(pool: &AnyPool) -> Result<Vec<StationNote>, StoreError> {
    let rows = sqlx::query(
        "SELECT n.station, n.author, n.body, n.created_at FROM station_notes n \
         WHERE n.id = (SELECT max(m.id) FROM station_notes m WHERE m.station = n.station) ORDER BY n.station",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StationNote {
                station: r.try_get(0)?,
                author: r.try_get(1)?,
                body: r.try_get(2)?,
                created_at: from_ts(r.try_get(3)?),
            })
        })
        .collect()
}
