//! The store's change feed into the lake: one row per feed row of one entity, in
//! commit order, pseudonymised on the way. Rows come a page at a time and leave as
//! Arrow batches, so a backlog of any size runs in bounded memory.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::check::{Cell, Rejection, month, validate};
use super::config::Validation;
use super::pseudo::{Pseudonymiser, age_band};
use super::{IngestError, Quarantined, Reason, StrSet};
use crate::lake::rows::Rows;
use crate::lake::schema::TableDef;
use crate::store::feed::{AccountFeedRow, AppointmentFeedRow, CallFeedRow, FacilityFeedRow};
use crate::store::{Entity, Store};

/// Feed rows read per query.
pub const PAGE: u32 = 20_000;
/// Pages read at a time, each on a thread of the store's (one per core).
pub const PAGES_AHEAD: usize = 2;

/// What the feed rows are checked and transformed with.
pub struct FeedCheck<'a> {
    pub tz: Tz,
    pub facilities: &'a StrSet,
    pub pseudo: &'a Pseudonymiser,
}

/// One page: how far it reached and how many feed rows it read.
pub struct Page {
    /// The last feed number read, or `None` if the page was empty.
    pub last_seq: Option<i64>,
    pub read: u64,
}

fn ts(t: DateTime<Utc>) -> Cell {
    Cell::Micros(t.timestamp_micros())
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Cell {
    t.map_or(Cell::Null, ts)
}

fn s(v: impl Into<String>) -> Cell {
    Cell::Str(v.into())
}

fn opt_s(v: Option<String>) -> Cell {
    v.map_or(Cell::Null, Cell::Str)
}

/// One page of one entity's feed, as the store returned it.
pub enum Fetched {
    Accounts(Vec<AccountFeedRow>),
    Appointments(Vec<AppointmentFeedRow>),
    Calls(Vec<CallFeedRow>),
    Facilities(Vec<FacilityFeedRow>),
}

impl Fetched {
    pub fn len(&self) -> usize {
        match self {
            Fetched::Accounts(v) => v.len(),
            Fetched::Appointments(v) => v.len(),
            Fetched::Calls(v) => v.len(),
            Fetched::Facilities(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn entity(&self) -> Entity {
        match self {
            Fetched::Accounts(_) => Entity::Account,
            Fetched::Appointments(_) => Entity::Appointment,
            Fetched::Calls(_) => Entity::VideoCall,
            Fetched::Facilities(_) => Entity::Facility,
        }
    }

    /// The feed number of the page's last row.
    pub fn last_seq(&self) -> Option<i64> {
        match self {
            Fetched::Accounts(v) => v.last().map(|r| r.head.seq),
            Fetched::Appointments(v) => v.last().map(|r| r.head.seq),
            Fetched::Calls(v) => v.last().map(|r| r.head.seq),
            Fetched::Facilities(v) => v.last().map(|r| r.head.seq),
        }
    }
}

/// Reads one page of `entity`'s feed after `after`. It owns its store handle so that
/// the next page can be read while this one is being converted.
pub async fn fetch(store: Arc<dyn Store>, entity: Entity, after: i64, limit: u32) -> Result<Fetched, IngestError> {
    Ok(match entity {
        Entity::Account => Fetched::Accounts(store.account_feed(after, limit).await?),
        Entity::Appointment => Fetched::Appointments(store.appointment_feed(after, limit).await?),
        Entity::VideoCall => Fetched::Calls(store.call_feed(after, limit).await?),
        Entity::Facility => Fetched::Facilities(store.facility_feed(after, limit).await?),
        other => return Err(IngestError::Source(format!("no lake table takes the {other} feed"))),
    })
}

/// Converts a fetched page, stopping at `upto` when given, into `rows` and
/// `quarantine`.
pub fn process(
    fetched: Fetched,
    table: &'static TableDef,
    validation: &Validation,
    upto: Option<i64>,
    check: &FeedCheck<'_>,
    rows: &mut Rows,
    quarantine: &mut Vec<Quarantined>,
) -> Page {
    // Each source row becomes (seq, cells or the reason it was refused, raw text).
    let mut out: Vec<(i64, Result<Vec<Cell>, Rejection>, String)> = Vec::with_capacity(fetched.len());
    let tz = check.tz;
    let entity = fetched.entity();
    match fetched {
        Fetched::Accounts(page) => {
            for r in page {
                let h = &r.head;
                let raw = format!("account {} version {} {}", h.entity_id, h.version, h.op);
                let cells = match r.account {
                    None => Err((Reason::DanglingChange, format!("account {} is not in the store", h.entity_id))),
                    Some(a) => Ok(vec![
                        Cell::I64(h.seq),
                        Cell::I64(check.pseudo.citizen_key(h.entity_id)),
                        Cell::I64(h.version),
                        s(&h.op),
                        ts(h.at),
                        month(h.at, tz),
                        s(a.sex),
                        Cell::Text(age_band(a.birth_year, i64::from(h.at.with_timezone(&tz).year()))),
                        Cell::Bool(a.ethnic_minority),
                        Cell::I64(a.vulnerable),
                        opt_s(a.home_station),
                        ts(a.created_at),
                        opt_ts(a.closed_at),
                    ]),
                };
                out.push((h.seq, cells, raw));
            }
        }
        Fetched::Appointments(page) => {
            for r in page {
                let h = &r.head;
                let raw = format!("appointment {} version {}", h.entity_id, h.version);
                let cells = match r.appointment {
                    None => Err((Reason::DanglingChange, format!("appointment {} is not in the store", h.entity_id))),
                    Some(a) => match (a.status, a.status_at, a.slot_start, a.citizen_sex, a.citizen_birth_year) {
                        (Some(status), Some(at), Some(slot_start), Some(sex), Some(birth_year)) => Ok(vec![
                            Cell::I64(h.seq),
                            Cell::I64(h.entity_id),
                            Cell::I64(h.version),
                            s(status),
                            ts(at),
                            month(at, tz),
                            Cell::I64(a.slot_id),
                            ts(slot_start),
                            opt_s(a.station),
                            Cell::I64(check.pseudo.citizen_key(a.citizen_id)),
                            s(sex),
                            Cell::Text(age_band(birth_year, i64::from(at.with_timezone(&tz).year()))),
                            Cell::Bool(a.citizen_ethnic_minority.unwrap_or(false)),
                            s(a.reason),
                            ts(a.booked_at),
                            a.rescheduled_from.map_or(Cell::Null, Cell::I64),
                        ]),
                        _ => Err((
                            Reason::DanglingChange,
                            format!("appointment {} lacks its history, slot or citizen", h.entity_id),
                        )),
                    },
                };
                out.push((h.seq, cells, raw));
            }
        }
        Fetched::Calls(page) => {
            for r in page {
                let h = &r.head;
                let raw = format!("video_call {} version {} {}", h.entity_id, h.version, h.op);
                let cells = match r.call {
                    None => Err((Reason::DanglingChange, format!("video call {} is not in the store", h.entity_id))),
                    Some(c) => Ok(vec![
                        Cell::I64(h.seq),
                        Cell::I64(h.entity_id),
                        Cell::I64(h.version),
                        s(&h.op),
                        ts(h.at),
                        month(h.at, tz),
                        s(c.caller_station),
                        s(c.callee_facility),
                        s(c.purpose),
                        ts(c.started_at),
                        opt_ts(c.ended_at),
                        opt_s(c.outcome),
                    ]),
                };
                out.push((h.seq, cells, raw));
            }
        }
        Fetched::Facilities(page) => {
            for r in page {
                let h = &r.head;
                let raw = format!("facility {} version {} {}", h.entity_id, h.version, h.op);
                let cells = match r.facility {
                    None => Err((Reason::DanglingChange, format!("facility {} is not in the store", h.entity_id))),
                    Some(f) => {
                        let go_live = match f.go_live.as_deref().map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d")) {
                            None => Ok(Cell::Null),
                            Some(Ok(d)) => Ok(Cell::Date(d)),
                            Some(Err(_)) => Err((Reason::BadDate, format!("go_live {:?}", f.go_live))),
                        };
                        go_live.map(|go_live| {
                            vec![
                                Cell::I64(h.seq),
                                s(f.code),
                                Cell::I64(h.version),
                                ts(h.at),
                                s(f.name),
                                s(f.level),
                                s(f.province_63),
                                s(f.province_34),
                                opt_s(f.commune_id),
                                opt_s(f.refers_to),
                                go_live,
                                f.catchment_population.map_or(Cell::Null, Cell::I64),
                            ]
                        })
                    }
                };
                out.push((h.seq, cells, raw));
            }
        }
    }
    let mut page = Page { last_seq: None, read: 0 };
    for (seq, cells, raw) in out {
        if upto.is_some_and(|u| seq > u) {
            break;
        }
        page.last_seq = Some(seq);
        page.read += 1;
        let checked = cells.and_then(|c| {
            // A missing facility code means the feed row names a facility that is gone.
            for &i in &validation.facilities {
                if c[i] == Cell::Null {
                    return Err((Reason::UnknownFacility, format!("{} is missing", table.columns[i].name)));
                }
            }
            validate(table, validation, check.facilities, &c).map(|()| c)
        });
        match checked {
            Ok(c) => {
                rows.push_values(c.iter().map(Cell::val));
            }
            Err((reason, detail)) => quarantine.push(Quarantined {
                source: format!("feed:{entity}"),
                location: format!("seq {seq}"),
                reason,
                detail,
                raw,
            }),
        }
    }
    page
}
