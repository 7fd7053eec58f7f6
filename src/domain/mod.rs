//! The program's vocabulary: provinces under both boundary sets, facilities, people,
//! appointments and video calls. Every type here is built through a validating
//! constructor, so a value that exists is a valid one; a bad input is a
//! [`DomainError`] naming the field, never a panic. Nothing here does I/O.

mod booking;
mod call;
pub(crate) mod codes;
mod error;
mod facility;
mod geo;
mod people;

pub use booking::{Appointment, AppointmentStatus, ReasonCategory, Slot};
pub use call::{CallOutcome, CallPurpose, VideoCall};
pub use error::DomainError;
pub use facility::{Commune, Facility, FacilityCode, FacilityLevel};
pub use geo::{BoundarySet, Crosswalk, Province, ProvinceCode, ProvinceKey};
pub use people::{Account, BirthYear, Cadre, HealthWorker, PersonName, Phone, Sex, Vulnerability, age_band};

/// Normalises text to Unicode NFC: GSO data mixes composed and decomposed Vietnamese
/// (and old and new tone placement), and names must compare equal across sources.
pub fn nfc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.trim().nfc().collect()
}
