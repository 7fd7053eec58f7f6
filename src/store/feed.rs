//! What ingestion reads: the change feed of one entity joined to the rows it names,
//! in commit order, a page at a time. The joins are LEFT joins so that a feed row
//! whose entity cannot be found still comes back (with its fields empty) and is
//! counted and quarantined rather than silently skipped.

use chrono::{DateTime, Utc};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{CallInfo, StoreError, from_ts};

/// The fields every feed row has.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedHead {
    pub seq: i64,
    pub entity_id: i64,
    pub version: i64,
    pub op: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountFeedRow {
    pub head: FeedHead,
    /// `None` when the account row is missing.
    pub account: Option<AccountFields>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountFields {
    pub sex: String,
    pub birth_year: i64,
    pub ethnic_minority: bool,
    pub vulnerable: i64,
    pub home_station: Option<String>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppointmentFeedRow {
    pub head: FeedHead,
    pub appointment: Option<AppointmentFields>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppointmentFields {
    /// The status this version set, from the appointment's history.
    pub status: Option<String>,
    pub status_at: Option<DateTime<Utc>>,
    pub slot_id: i64,
    pub slot_start: Option<DateTime<Utc>>,
    pub station: Option<String>,
    pub citizen_id: i64,
    pub reason: String,
    pub booked_at: DateTime<Utc>,
    pub rescheduled_from: Option<i64>,
    pub citizen_sex: Option<String>,
    pub citizen_birth_year: Option<i64>,
    pub citizen_ethnic_minority: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallFeedRow {
    pub head: FeedHead,
    pub call: Option<CallInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FacilityFeedRow {
    pub head: FeedHead,
    pub facility: Option<FacilityFields>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FacilityFields {
    pub code: String,
    pub name: String,
    pub level: String,
    pub province_63: String,
    pub province_34: String,
    pub commune_id: Option<String>,
    pub refers_to: Option<String>,
    pub go_live: Option<String>,
    pub catchment_population: Option<i64>,
}

fn head(r: &AnyRow) -> Result<FeedHead, StoreError> {
    Ok(FeedHead {
        seq: r.try_get(0)?,
        entity_id: r.try_get(1)?,
        version: r.try_get(2)?,
        op: r.try_get(3)?,
        at: from_ts(r.try_get(4)?),
    })
}

const HEAD: &str = "f.seq, f.entity_id, f.version, f.op, f.at";
const PAGE: &str = "f.seq > $1 ORDER BY f.seq LIMIT $2";

async fn page(pool: &AnyPool, sql: &str, after: i64, limit: u32) -> Result<Vec<AnyRow>, StoreError> {
    Ok(sqlx::query(sql).bind(after).bind(i64::from(limit)).fetch_all(pool).await?)
}

pub(super) async fn accounts(pool: &AnyPool, after: i64, limit: u32) -> Result<Vec<AccountFeedRow>, StoreError> {
    let sql = format!(
        "SELECT {HEAD}, a.id, a.sex, a.birth_year, a.ethnic_minority, a.vulnerable, s.code, a.created_at, a.closed_at \
         FROM change_feed f LEFT JOIN accounts a ON a.id = f.entity_id \
         LEFT JOIN facilities s ON s.id = a.home_station_id \
         WHERE f.entity = 'account' AND {PAGE}"
    );
    page(pool, &sql, after, limit)
        .await?
        .iter()
        .map(|r| {
            let account = match r.try_get::<Option<i64>, _>(5)? {
                None => None,
                Some(_) => Some(AccountFields {
                    sex: r.try_get(6)?,
                    birth_year: r.try_get(7)?,
                    ethnic_minority: r.try_get::<i64, _>(8)? != 0,
                    vulnerable: r.try_get(9)?,
                    home_station: r.try_get(10)?,
                    created_at: from_ts(r.try_get(11)?),
                    closed_at: r.try_get::<Option<i64>, _>(12)?.map(from_ts),
                }),
            };
            Ok(AccountFeedRow { head: head(r)?, account })
        })
        .collect()
}

pub(super) async fn appointments(
    pool: &AnyPool,
    after: i64,
    limit: u32,
) -> Result<Vec<AppointmentFeedRow>, StoreError> {
    let sql = format!(
        "SELECT {HEAD}, a.id, h.status, h.at, a.slot_id, s.start_at, st.code, a.citizen_id, a.reason, a.booked_at, \
                a.rescheduled_from, c.sex, c.birth_year, c.ethnic_minority \
         FROM change_feed f LEFT JOIN appointments a ON a.id = f.entity_id \
         LEFT JOIN appointment_history h ON h.appointment_id = f.entity_id AND h.version = f.version \
         LEFT JOIN slots s ON s.id = a.slot_id \
         LEFT JOIN facilities st ON st.id = s.station_id \
         LEFT JOIN accounts c ON c.id = a.citizen_id \
         WHERE f.entity = 'appointment' AND {PAGE}"
    );
    page(pool, &sql, after, limit)
        .await?
        .iter()
        .map(|r| {
            let appointment = match r.try_get::<Option<i64>, _>(5)? {
                None => None,
                Some(_) => Some(AppointmentFields {
                    status: r.try_get(6)?,
                    status_at: r.try_get::<Option<i64>, _>(7)?.map(from_ts),
                    slot_id: r.try_get(8)?,
                    slot_start: r.try_get::<Option<i64>, _>(9)?.map(from_ts),
                    station: r.try_get(10)?,
                    citizen_id: r.try_get(11)?,
                    reason: r.try_get(12)?,
                    booked_at: from_ts(r.try_get(13)?),
                    rescheduled_from: r.try_get(14)?,
                    citizen_sex: r.try_get(15)?,
                    citizen_birth_year: r.try_get(16)?,
                    citizen_ethnic_minority: r.try_get::<Option<i64>, _>(17)?.map(|v| v != 0),
                }),
            };
            Ok(AppointmentFeedRow { head: head(r)?, appointment })
        })
        .collect()
}

pub(super) async fn calls(pool: &AnyPool, after: i64, limit: u32) -> Result<Vec<CallFeedRow>, StoreError> {
    let sql = format!(
        "SELECT {HEAD}, v.id, cs.code, cf.code, v.purpose, v.started_at, v.ended_at, v.outcome \
         FROM change_feed f LEFT JOIN video_calls v ON v.id = f.entity_id \
         LEFT JOIN facilities cs ON cs.id = v.caller_station_id \
         LEFT JOIN facilities cf ON cf.id = v.callee_facility_id \
         WHERE f.entity = 'video_call' AND {PAGE}"
    );
    page(pool, &sql, after, limit)
        .await?
        .iter()
        .map(|r| {
            let call = match r.try_get::<Option<i64>, _>(5)? {
                None => None,
                Some(id) => Some(CallInfo {
                    id,
                    caller_station: r.try_get(6)?,
                    callee_facility: r.try_get(7)?,
                    purpose: r.try_get(8)?,
                    started_at: from_ts(r.try_get(9)?),
                    ended_at: r.try_get::<Option<i64>, _>(10)?.map(from_ts),
                    outcome: r.try_get(11)?,
                }),
            };
            Ok(CallFeedRow { head: head(r)?, call })
        })
        .collect()
}

pub(super) async fn facilities(pool: &AnyPool, after: i64, limit: u32) -> Result<Vec<FacilityFeedRow>, StoreError> {
    let sql = format!(
        "SELECT {HEAD}, x.id, x.code, x.name, x.level, x.province_63, x.province_34, x.commune_id, p.code, \
                x.go_live, x.catchment_population \
         FROM change_feed f LEFT JOIN facilities x ON x.id = f.entity_id \
         LEFT JOIN facilities p ON p.id = x.refers_to \
         WHERE f.entity = 'facility' AND {PAGE}"
    );
    page(pool, &sql, after, limit)
        .await?
        .iter()
        .map(|r| {
            let facility = match r.try_get::<Option<i64>, _>(5)? {
                None => None,
                Some(_) => Some(FacilityFields {
                    code: r.try_get(6)?,
                    name: r.try_get(7)?,
                    level: r.try_get(8)?,
                    province_63: r.try_get(9)?,
                    province_34: r.try_get(10)?,
                    commune_id: r.try_get(11)?,
                    refers_to: r.try_get(12)?,
                    go_live: r.try_get(13)?,
                    catchment_population: r.try_get(14)?,
                }),
            };
            Ok(FacilityFeedRow { head: head(r)?, facility })
        })
        .collect()
}

/// Every facility code: what drops are checked against.
pub(super) async fn facility_codes(pool: &AnyPool) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT code FROM facilities").fetch_all(pool).await?)
}
