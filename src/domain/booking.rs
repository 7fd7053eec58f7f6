//! Appointment slots and appointments.
//!
//! Statuses are a subset of FHIR R4 AppointmentStatus; the transitions allowed between
//! them live here, once, so the store, the services and the simulator agree. A
//! reschedule is a cancellation linked to a new appointment (`rescheduled_from`).

use chrono::{DateTime, Utc};

use super::codes::code_enum;
use super::{DomainError, FacilityCode};

code_enum! {
    /// FHIR R4 AppointmentStatus codes used by the program.
    AppointmentStatus, field = "status" {
        Booked = "booked",
        Arrived = "arrived",
        Fulfilled = "fulfilled",
        Cancelled = "cancelled",
        Noshow = "noshow",
        Waitlist = "waitlist",
        EnteredInError = "entered-in-error",
    }
}

impl AppointmentStatus {
    /// Whether an appointment in this status holds a place in its slot.
    pub fn holds_place(self) -> bool {
        matches!(self, AppointmentStatus::Booked | AppointmentStatus::Arrived)
    }

    /// Whether `self -> to` is an allowed change. Every recorded status can be marked
    /// entered-in-error (the correction of a mistaken entry), and nothing leaves that.
    pub fn can_become(self, to: AppointmentStatus) -> bool {
        use AppointmentStatus::*;
        match (self, to) {
            (EnteredInError, _) => false,
            (_, EnteredInError) => true,
            (Waitlist, Booked | Cancelled) => true,
            (Booked, Arrived | Cancelled | Noshow) => true,
            (Arrived, Fulfilled) => true,
            // A late arrival recorded after the automatic no-show.
            (Noshow, Arrived) => true,
            _ => false,
        }
    }

    /// `Ok(to)` if the change is allowed, else the error that names both statuses.
    pub fn transition(self, to: AppointmentStatus) -> Result<AppointmentStatus, DomainError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(DomainError::IllegalTransition { from: self.as_str(), to: to.as_str() })
        }
    }
}

code_enum! {
    /// Why a citizen books, at a granularity that reveals no diagnosis.
    ReasonCategory, field = "reason" {
        GeneralCheckup = "general_checkup",
        ChronicCare = "chronic_care",
        MaternalChild = "maternal_child",
        Immunisation = "immunisation",
        AcuteIllness = "acute_illness",
        Other = "other",
    }
}

/// A bookable period at a station with a capacity.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slot {
    pub station: FacilityCode,
    pub start: DateTime<Utc>,
    pub duration_min: u16,
    pub capacity: u16,
}

impl Slot {
    pub const MAX_DURATION_MIN: u16 = 480;
    pub const MAX_CAPACITY: u16 = 200;

    pub fn new(
        station: FacilityCode,
        start: DateTime<Utc>,
        duration_min: i64,
        capacity: i64,
    ) -> Result<Self, DomainError> {
        if !(5..=i64::from(Self::MAX_DURATION_MIN)).contains(&duration_min) {
            return Err(DomainError::invalid(
                "duration_min",
                format!("{duration_min} is not between 5 and 480 minutes"),
            ));
        }
        if !(1..=i64::from(Self::MAX_CAPACITY)).contains(&capacity) {
            return Err(DomainError::invalid("capacity", format!("{capacity} is not between 1 and 200")));
        }
        Ok(Slot { station, start, duration_min: duration_min as u16, capacity: capacity as u16 })
    }

    /// Rejects a slot that starts before `now`: one cannot publish the past.
    pub fn ensure_future(&self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.start < now {
            return Err(DomainError::invalid("start", "the slot starts in the past"));
        }
        Ok(())
    }
}

/// A citizen's appointment on a slot.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Appointment {
    pub slot_id: i64,
    pub citizen_id: i64,
    pub reason: ReasonCategory,
    pub status: AppointmentStatus,
    pub booked_at: DateTime<Utc>,
    /// The cancelled appointment this one replaces, for a reschedule.
    pub rescheduled_from: Option<i64>,
}

impl Appointment {
    /// A new appointment starts `booked`, or `waitlist` when the slot is full.
    pub fn new(
        slot_id: i64,
        citizen_id: i64,
        reason: ReasonCategory,
        status: AppointmentStatus,
        booked_at: DateTime<Utc>,
        rescheduled_from: Option<i64>,
    ) -> Result<Self, DomainError> {
        if slot_id <= 0 {
            return Err(DomainError::invalid("slot_id", "must be a positive id"));
        }
        if citizen_id <= 0 {
            return Err(DomainError::invalid("citizen_id", "must be a positive id"));
        }
        if !matches!(status, AppointmentStatus::Booked | AppointmentStatus::Waitlist) {
            return Err(DomainError::invalid("status", "a new appointment is booked or waitlisted"));
        }
        if rescheduled_from.is_some_and(|id| id <= 0) {
            return Err(DomainError::invalid("rescheduled_from", "must be a positive id"));
        }
        Ok(Appointment { slot_id, citizen_id, reason, status, booked_at, rescheduled_from })
    }
}
