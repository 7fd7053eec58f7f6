//! Rows the core services read and write beside the domain values: views joined for
//! the API, staff users, sessions, idempotency records and audit entries.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A facility as the services show it, with its code rather than internal ids.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FacilityInfo {
    #[serde(skip)]
    pub id: i64,
    pub code: String,
    pub name: String,
    pub level: String,
    pub province_63: String,
    pub province_34: String,
    pub commune_id: Option<String>,
    /// The upper-level facility this one refers to.
    pub refers_to: Option<String>,
}

/// A slot with the places taken in it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlotInfo {
    pub id: i64,
    pub station: String,
    #[serde(skip)]
    pub station_id: i64,
    pub start: DateTime<Utc>,
    pub duration_min: i64,
    pub capacity: i64,
    pub taken: i64,
}

/// An appointment with where and when it takes place.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub id: i64,
    pub slot_id: i64,
    pub station: String,
    pub start: DateTime<Utc>,
    pub citizen_id: i64,
    pub status: String,
    pub reason: String,
    pub booked_at: DateTime<Utc>,
    pub rescheduled_from: Option<i64>,
    pub version: i64,
}

/// One line of a station's worklist: the appointment and the citizen's name, which
/// the staff need at the desk (and which never leaves the operational store).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WorkItem {
    #[serde(flatten)]
    pub appointment: AppointmentView,
    pub citizen_name: Option<String>,
}

/// A citizen's account as stored: phone and name are `None` once erased.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccountInfo {
    pub id: i64,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub sex: String,
    pub birth_year: i64,
    pub ethnic_minority: bool,
    pub vulnerable: i64,
    pub home_station: String,
    pub consent_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// A video call with the codes of both ends.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallInfo {
    pub id: i64,
    pub caller_station: String,
    pub callee_facility: String,
    pub purpose: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

/// A staff or administrative user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub scope: Option<String>,
    pub disabled: bool,
}

/// Whose a session is: a citizen's account or a staff user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOwner {
    Account(i64),
    User(i64),
}

/// A session with what authorising a request needs of its owner, read in one query.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub owner: SessionOwner,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
    /// The account is open, or the user enabled.
    pub owner_active: bool,
    /// The user's role and scope (`None` for a citizen).
    pub user_role: Option<String>,
    pub user_scope: Option<String>,
}

/// The first result of an idempotent request.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub caller: String,
    pub key: String,
    pub body_hash: String,
    pub status: u16,
    pub response: String,
    pub at: DateTime<Utc>,
}

/// One line of the audit log. `actor` and `target` are ids and codes, never personal data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// An appointment due a reminder, with where the message goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    pub appointment_id: i64,
    pub phone: String,
    pub start: DateTime<Utc>,
    pub station_name: String,
}

/// Counts over an area, the only view donors and evaluators get of the services' data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AreaSummary {
    pub stations: i64,
    pub accounts: i64,
    pub appointments: i64,
    pub video_calls: i64,
}

/// A provincial manager's note on a station, shown beside its low-uptake flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationNote {
    pub station: String,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}
