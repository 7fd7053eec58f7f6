//! Video calls between a commune station and an upper-level facility. The stream
//! itself is out of scope; the record of the call is what the program measures.

use chrono::{DateTime, Utc};

use super::codes::code_enum;
use super::{DomainError, FacilityCode, FacilityLevel};

code_enum! {
    CallPurpose, field = "purpose" {
        /// Hội chẩn: a case discussed with an upper-level doctor.
        Teleconsult = "teleconsult",
        /// Giao ban: a professional meeting.
        Meeting = "meeting",
        Training = "training",
    }
}

code_enum! {
    /// How a teleconsult ended.
    CallOutcome, field = "outcome" {
        AdviceGiven = "advice_given",
        ReferredUp = "referred_up",
    }
}

/// A call from a station to a facility of a higher tier.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoCall {
    pub caller_station: FacilityCode,
    pub callee_facility: FacilityCode,
    pub purpose: CallPurpose,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<CallOutcome>,
}

impl VideoCall {
    /// Opens a call; the levels are checked so that a station never "calls up" a peer.
    pub fn open(
        caller_station: FacilityCode,
        caller_level: FacilityLevel,
        callee_facility: FacilityCode,
        callee_level: FacilityLevel,
        purpose: CallPurpose,
        started_at: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if caller_level != FacilityLevel::CommuneStation {
            return Err(DomainError::invalid("caller_station", "calls are opened by a commune health station"));
        }
        if callee_level.tier() <= caller_level.tier() {
            return Err(DomainError::invalid("callee_facility", "the callee must be an upper-level facility"));
        }
        Ok(VideoCall { caller_station, callee_facility, purpose, started_at, ended_at: None, outcome: None })
    }

    /// Closes the call. A teleconsult records its outcome; other purposes have none.
    pub fn close(&mut self, ended_at: DateTime<Utc>, outcome: Option<CallOutcome>) -> Result<(), DomainError> {
        if self.ended_at.is_some() {
            return Err(DomainError::invalid("ended_at", "the call is already closed"));
        }
        if ended_at < self.started_at {
            return Err(DomainError::invalid("ended_at", "a call cannot end before it starts"));
        }
        match (self.purpose, outcome) {
            (CallPurpose::Teleconsult, None) => {
                return Err(DomainError::invalid("outcome", "a teleconsult records advice given or referred up"));
            }
            (CallPurpose::Meeting | CallPurpose::Training, Some(_)) => {
                return Err(DomainError::invalid("outcome", "only a teleconsult has an outcome"));
            }
            _ => {}
        }
        self.ended_at = Some(ended_at);
        self.outcome = outcome;
        Ok(())
    }
}
