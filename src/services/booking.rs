//! Stations, slots and appointments: staff publish slots, citizens book, cancel and
//! reschedule their own appointments, staff run the day's worklist.
//!
//! The capacity of a slot and "one active place per citizen per slot" are enforced by
//! the database (see the migrations); the checks here only give better messages first.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{Principal, Role};
use super::{Caller, Reply, ServiceError, Services, WriteContext, work};
use crate::domain::{Appointment, AppointmentStatus, BoundarySet, FacilityCode, ProvinceCode, ReasonCategory, Slot};
use crate::store::{AppointmentView, FacilityInfo, SlotInfo, WorkItem};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSlot {
    pub start: DateTime<Utc>,
    pub duration_min: i64,
    pub capacity: i64,
}

/// A status recorded by station staff.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `arrived`, `fulfilled`, `cancelled`, `noshow` or `entered-in-error`.
    pub status: String,
}

impl Services {
    pub async fn stations(
        &self,
        set: &str,
        province: &str,
        commune: Option<&str>,
    ) -> Result<Vec<FacilityInfo>, ServiceError> {
        let set = BoundarySet::parse(set)?;
        let province = ProvinceCode::parse(province)?;
        Ok(self.store.stations(set, &province.to_string(), commune.map(str::trim)).await?)
    }

    pub(super) async fn station(&self, code: &str) -> Result<FacilityInfo, ServiceError> {
        let code = FacilityCode::parse(code)?;
        match self.facility(code.as_str()).await? {
            Some(f) if f.level == "commune_station" => Ok(f),
            _ => Err(ServiceError::NotFound(format!("station {code}"))),
        }
    }

    pub async fn publish_slot(
        &self,
        p: &Principal,
        station: &str,
        s: NewSlot,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let f = self.station(station).await?;
        p.require_staff_of(&f.code)?;
        let slot = Slot::new(FacilityCode::parse(&f.code)?, s.start, s.duration_min, s.capacity)?;
        slot.ensure_future(self.now())?;
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("station:{}", f.code)),
            work(move |tx| {
                Box::pin(async move {
                    let id = tx.add_slot(&slot).await?;
                    Ok(Reply::new(201, serde_json::json!({ "id": id })))
                })
            }),
        );
        let reply = self.writer.submit(job).await;
        self.changed_station(&f.code);
        reply
    }

    /// Slots of a station in `[from, to)` (default: the next 14 days) with a free place.
    pub async fn free_slots(
        &self,
        station: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<SlotInfo>, ServiceError> {
        let f = self.station(station).await?;
        let now = self.now();
        if from.is_none() && to.is_none() {
            // The default window, which nearly every caller asks for, is served from
            // a listing at most a second old, minus the slots that have started since.
            let list = match self.cached_listing(&f.code) {
                Some(list) => list,
                None => {
                    let list = Arc::new(self.store.slots(f.id, now, now + chrono::Duration::days(14), true).await?);
                    self.cache_listing(&f.code, list.clone());
                    list
                }
            };
            return Ok(list.iter().filter(|s| s.start >= now).cloned().collect());
        }
        let from = from.unwrap_or(now).max(now);
        let to = to.unwrap_or(from + chrono::Duration::days(14));
        if to <= from {
            return Err(ServiceError::invalid("to", "must be after from"));
        }
        if to - from > chrono::Duration::days(92) {
            return Err(ServiceError::invalid("to", "at most 92 days after from"));
        }
        Ok(self.store.slots(f.id, from, to, true).await?)
    }

    async fn bookable_slot(&self, slot_id: i64) -> Result<SlotInfo, ServiceError> {
        let slot = self.slot_place(slot_id).await?.ok_or_else(|| ServiceError::NotFound(format!("slot {slot_id}")))?;
        if slot.start <= self.now() {
            return Err(ServiceError::invalid("slot_id", "the slot has already started"));
        }
        Ok(slot)
    }

    pub async fn book(
        &self,
        p: &Principal,
        slot_id: i64,
        reason: &str,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let citizen = p.account_id().ok_or_else(|| ServiceError::forbidden("only a citizen books"))?;
        let reason = ReasonCategory::parse(reason)?;
        let slot = self.bookable_slot(slot_id).await?;
        let a = Appointment::new(slot.id, citizen, reason, AppointmentStatus::Booked, self.now(), None)?;
        let job = self
            .job(
                Caller::Principal(p),
                ctx,
                Some(format!("slot:{slot_id}")),
                work(move |tx| {
                    Box::pin(async move {
                        let id = tx.book(&a).await?;
                        Ok(Reply::new(201, serde_json::json!({ "id": id, "slot_id": a.slot_id, "status": "booked" })))
                    })
                }),
            )
            .booking();
        let reply = self.writer.submit(job).await;
        self.changed_station(&slot.station);
        reply
    }

    async fn appointment(&self, id: i64) -> Result<AppointmentView, ServiceError> {
        self.store.appointment_view(id).await?.ok_or_else(|| ServiceError::NotFound(format!("appointment {id}")))
    }

    /// The citizen who holds the appointment, or the staff of its station.
    fn may_act_on(p: &Principal, a: &AppointmentView) -> Result<(), ServiceError> {
        match p.role {
            Role::Citizen if p.account_id() == Some(a.citizen_id) => Ok(()),
            Role::StationStaff if p.facility() == Some(a.station.as_str()) => Ok(()),
            _ => Err(ServiceError::forbidden(format!("appointment {} is not yours to change", a.id))),
        }
    }

    pub async fn cancel(&self, p: &Principal, id: i64, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let a = self.appointment(id).await?;
        Self::may_act_on(p, &a)?;
        self.change_status(p, a, AppointmentStatus::Cancelled, ctx).await
    }

    /// Staff record arrival, completion, cancellation, no-show or an entry made in error.
    pub async fn record_status(
        &self,
        p: &Principal,
        id: i64,
        status: &str,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let to = AppointmentStatus::parse(status)?;
        if matches!(to, AppointmentStatus::Booked | AppointmentStatus::Waitlist) {
            return Err(ServiceError::invalid("status", format!("staff do not set {to}; citizens book")));
        }
        let a = self.appointment(id).await?;
        p.require_staff_of(&a.station)?;
        self.change_status(p, a, to, ctx).await
    }

    async fn change_status(
        &self,
        p: &Principal,
        a: AppointmentView,
        to: AppointmentStatus,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let now = self.now();
        let id = a.id;
        let station = a.station.clone();
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("appointment:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.set_status(id, to, now).await?;
                    Ok(Reply::new(200, serde_json::json!({ "id": id, "status": to })))
                })
            }),
        );
        let reply = self.writer.submit(job).await;
        self.changed_station(&station);
        reply
    }

    /// Moves a citizen's booking to another slot: the old one is cancelled and the new
    /// one linked to it, in one step, so a full new slot leaves the old booking as it was.
    pub async fn reschedule(
        &self,
        p: &Principal,
        id: i64,
        new_slot: i64,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let old = self.appointment(id).await?;
        if p.role != Role::Citizen {
            return Err(ServiceError::forbidden("only the citizen reschedules their appointment"));
        }
        Self::may_act_on(p, &old)?;
        let slot = self.bookable_slot(new_slot).await?;
        let reason = ReasonCategory::parse(&old.reason)?;
        let now = self.now();
        let a = Appointment::new(slot.id, old.citizen_id, reason, AppointmentStatus::Booked, now, Some(id))?;
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("appointment:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.set_status(id, AppointmentStatus::Cancelled, now).await?;
                    let new_id = tx.book(&a).await?;
                    Ok(Reply::new(
                        201,
                        serde_json::json!({ "id": new_id, "slot_id": a.slot_id, "status": "booked", "rescheduled_from": id }),
                    ))
                })
            }),
        ).booking();
        let reply = self.writer.submit(job).await;
        self.changed_station(&old.station);
        self.changed_station(&slot.station);
        reply
    }

    pub async fn my_appointments(&self, p: &Principal) -> Result<Vec<AppointmentView>, ServiceError> {
        let id = p.account_id().ok_or_else(|| ServiceError::forbidden("only a citizen has appointments"))?;
        Ok(self.store.citizen_appointments(id).await?)
    }

    /// A station's appointments on a local day (default: today).
    pub async fn worklist(
        &self,
        p: &Principal,
        station: &str,
        day: Option<NaiveDate>,
    ) -> Result<Vec<WorkItem>, ServiceError> {
        let f = self.station(station).await?;
        p.require_staff_of(&f.code)?;
        let tz = self.settings.timezone;
        let day = day.unwrap_or_else(|| self.now().with_timezone(&tz).date_naive());
        let start = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| ServiceError::invalid("date", "no such local day"))
        };
        let next = day.succ_opt().ok_or_else(|| ServiceError::invalid("date", "out of range"))?;
        Ok(self.store.worklist(f.id, start(day)?, start(next)?).await?)
    }
}
