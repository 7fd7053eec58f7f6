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

/// A result row of a feed query, read by column position, whichever driver ran it:
/// sqlx's (PostgreSQL) or rusqlite's (the SQLite reader in [`super::sqlite_feed`]).
pub(super) trait Columns {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
}

impl Columns for AnyRow {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

fn head(r: &impl Columns) -> Result<FeedHead, StoreError> {
    Ok(FeedHead { seq: r.int(0)?, entity_id: r.int(1)?, version: r.int(2)?, op: r.text(3)?, at: from_ts(r.int(4)?) })
}

// Each query returns the feed head in columns 0-4, then the entity's id (NULL when the
// row is missing) and its fields; `$1` is the feed number to read after, `$2` the limit.
macro_rules! feed_sql {
    ($select:literal, $from:literal, $entity:literal) => {
        concat!(
            "SELECT f.seq, f.entity_id, f.version, f.op, f.at, ",
            $select,
            " FROM change_feed f ",
            $from,
            " WHERE f.entity = '",
            $entity,
            "' AND f.seq > $1 ORDER BY f.seq LIMIT $2"
        )
    };
}

pub(super) const ACCOUNTS_SQL: &str = feed_sql!(
    "a.id, a.sex, a.birth_year, a.ethnic_minority, a.vulnerable, s.code, a.created_at, a.closed_at",
    "LEFT JOIN accounts a ON a.id = f.entity_id LEFT JOIN facilities s ON s.id = a.home_station_id",
    "account"
);

pub(super) const APPOINTMENTS_SQL: &str = feed_sql!(
    "a.id, h.status, h.at, a.slot_id, s.start_at, st.code, a.citizen_id, a.reason, a.booked_at, \
     a.rescheduled_from, c.sex, c.birth_year, c.ethnic_minority",
    "LEFT JOIN appointments a ON a.id = f.entity_id \
     LEFT JOIN appointment_history h ON h.appointment_id = f.entity_id AND h.version = f.version \
     LEFT JOIN slots s ON s.id = a.slot_id \
     LEFT JOIN facilities st ON st.id = s.station_id \
     LEFT JOIN accounts c ON c.id = a.citizen_id",
    "appointment"
);

pub(super) const CALLS_SQL: &str = feed_sql!(
    "v.id, cs.code, cf.code, v.purpose, v.started_at, v.ended_at, v.outcome",
    "LEFT JOIN video_calls v ON v.id = f.entity_id \
     LEFT JOIN facilities cs ON cs.id = v.caller_station_id \
     LEFT JOIN facilities cf ON cf.id = v.callee_facility_id",
    "video_call"
);

pub(super) const FACILITIES_SQL: &str = feed_sql!(
    "x.id, x.code, x.name, x.level, x.province_63, x.province_34, x.commune_id, p.code, \
     x.go_live, x.catchment_population",
    "LEFT JOIN facilities x ON x.id = f.entity_id LEFT JOIN facilities p ON p.id = x.refers_to",
    "facility"
);

/// The feed number of the `n`th feed row of `entity` after `after` (1 is the next one):
/// where a page of `n` rows ends, found from the feed's index alone, so that the page
/// after it can be read at the same time.
pub(super) const PAGE_END_SQL: &str =
    "SELECT seq FROM change_feed WHERE entity = $1 AND seq > $2 ORDER BY seq LIMIT 1 OFFSET $3";

pub(super) fn account_row(r: &impl Columns) -> Result<AccountFeedRow, StoreError> {
    let account = match r.opt_int(5)? {
        None => None,
        Some(_) => Some(AccountFields {
            sex: r.text(6)?,
            birth_year: r.int(7)?,
            ethnic_minority: r.int(8)? != 0,
            vulnerable: r.int(9)?,
            home_station: r.opt_text(10)?,
            created_at: from_ts(r.int(11)?),
            closed_at: r.opt_int(12)?.map(from_ts),
        }),
    };
    Ok(AccountFeedRow { head: head(r)?, account })
}

pub(super) fn appointment_row(r: &impl Columns) -> Result<AppointmentFeedRow, StoreError> {
    let appointment = match r.opt_int(5)? {
        None => None,
        Some(_) => Some(AppointmentFields {
            status: r.opt_text(6)?,
            status_at: r.opt_int(7)?.map(from_ts),
            slot_id: r.int(8)?,
            slot_start: r.opt_int(9)?.map(from_ts),
            station: r.opt_text(10)?,
            citizen_id: r.int(11)?,
            reason: r.text(12)?,
            booked_at: from_ts(r.int(13)?),
            rescheduled_from: r.opt_int(14)?,
            citizen_sex: r.opt_text(15)?,
            citizen_birth_year: r.opt_int(16)?,
            citizen_ethnic_minority: r.opt_int(17)?.map(|v| v != 0),
        }),
    };
    Ok(AppointmentFeedRow { head: head(r)?, appointment })
}

pub(super) fn call_row(r: &impl Columns) -> Result<CallFeedRow, StoreError> {
    let call = match r.opt_int(5)? {
        None => None,
        Some(id) => Some(CallInfo {
            id,
            caller_station: r.text(6)?,
            callee_facility: r.text(7)?,
            purpose: r.text(8)?,
            started_at: from_ts(r.int(9)?),
            ended_at: r.opt_int(10)?.map(from_ts),
            outcome: r.opt_text(11)?,
        }),
    };
    Ok(CallFeedRow { head: head(r)?, call })
}

pub(super) fn facility_row(r: &impl Columns) -> Result<FacilityFeedRow, StoreError> {
    let facility = match r.opt_int(5)? {
        None => None,
        Some(_) => Some(FacilityFields {
            code: r.text(6)?,
            name: r.text(7)?,
            level: r.text(8)?,
            province_63: r.text(9)?,
            province_34: r.text(10)?,
            commune_id: r.opt_text(11)?,
            refers_to: r.opt_text(12)?,
            go_live: r.opt_text(13)?,
            catchment_population: r.opt_int(14)?,
        }),
    };
    Ok(FacilityFeedRow { head: head(r)?, facility })
}

/// One page of a feed query through sqlx, each row mapped by `map`.
pub(super) async fn page<T>(
    pool: &AnyPool,
    sql: &str,
    after: i64,
    limit: u32,
    map: fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    sqlx::query(sql).bind(after).bind(i64::from(limit)).fetch_all(pool).await?.iter().map(map).collect()
}

/// See [`PAGE_END_SQL`]; `None` when fewer than `n` rows follow.
pub(super) async fn page_end(pool: &AnyPool, entity: &str, after: i64, n: u32) -> Result<Option<i64>, StoreError> {
    let offset = i64::from(n.max(1)) - 1;
    Ok(sqlx::query_scalar(PAGE_END_SQL).bind(entity).bind(after).bind(offset).fetch_optional(pool).await?)
}

/// Every facility code: what drops are checked against.
pub(super) async fn facility_codes(pool: &AnyPool) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT code FROM facilities").fetch_all(pool).await?)
}
