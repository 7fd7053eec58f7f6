//! People: citizens holding accounts, and health workers in the registry.
//!
//! Personal fields (name, phone, birth year) are typed so that they can be found and
//! kept inside the operational store; the lake only ever sees derived values.

use chrono::{DateTime, Datelike, Utc};

use super::codes::code_enum;
use super::{DomainError, FacilityCode, nfc};

code_enum! {
    /// Administrative sex as recorded at registration.
    Sex, field = "sex" {
        Female = "female",
        Male = "male",
        Other = "other",
    }
}

code_enum! {
    /// A health worker's cadre.
    Cadre, field = "cadre" {
        Doctor = "doctor",
        /// Y sĩ: the assistant doctor who staffs many commune stations.
        AssistantDoctor = "assistant_doctor",
        Nurse = "nurse",
        Midwife = "midwife",
        Pharmacist = "pharmacist",
        Other = "other",
    }
}

/// A Vietnamese mobile number, kept in the national form `0XXXXXXXXX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Phone(String);

impl Phone {
    /// Accepts `0XXXXXXXXX`, `+84XXXXXXXXX` or `84XXXXXXXXX`, with spaces, dots or dashes.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '.' | '-')).collect();
        let national = if let Some(rest) = digits.strip_prefix("+84") {
            format!("0{rest}")
        } else if digits.len() == 11 && digits.starts_with("84") {
            format!("0{}", &digits[2..])
        } else {
            digits
        };
        let valid = national.len() == 10
            && national.bytes().all(|b| b.is_ascii_digit())
            && matches!(national.as_bytes()[1], b'3' | b'5' | b'7' | b'8' | b'9');
        if !valid {
            return Err(DomainError::invalid("phone", "not a Vietnamese mobile number (10 digits, 03/05/07/08/09)"));
        }
        Ok(Phone(national))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's full name, NFC-normalised.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = nfc(s);
        if s.is_empty() {
            return Err(DomainError::invalid("name", "must not be empty"));
        }
        if s.chars().count() > 100 {
            return Err(DomainError::invalid("name", "must be at most 100 characters"));
        }
        if s.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
            return Err(DomainError::invalid("name", "must not contain digits or control characters"));
        }
        Ok(PersonName(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A birth year between 1900 and the current year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct BirthYear(u16);

impl BirthYear {
    pub fn new(year: i32, now: DateTime<Utc>) -> Result<Self, DomainError> {
        if year < 1900 || year > now.year() {
            return Err(DomainError::invalid("birth_year", format!("{year} is not between 1900 and {}", now.year())));
        }
        Ok(BirthYear(year as u16))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Vulnerable-group flags, stored as one small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Vulnerability {
    /// Hộ nghèo / cận nghèo.
    pub poor_household: bool,
    pub disability: bool,
    /// Lives in an extremely difficult commune (xã đặc biệt khó khăn).
    pub remote_area: bool,
}

impl Vulnerability {
    pub fn bits(self) -> i64 {
        (self.poor_household as i64) | (self.disability as i64) << 1 | (self.remote_area as i64) << 2
    }

    pub fn from_bits(bits: i64) -> Result<Self, DomainError> {
        if !(0..8).contains(&bits) {
            return Err(DomainError::invalid("vulnerable", format!("{bits} is not a flag set")));
        }
        Ok(Vulnerability { poor_household: bits & 1 != 0, disability: bits & 2 != 0, remote_area: bits & 4 != 0 })
    }
}

/// A health worker in the program's registry; training exports refer to `staff_code`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HealthWorker {
    pub staff_code: String,
    pub facility: FacilityCode,
    pub cadre: Cadre,
    pub sex: Sex,
    pub birth_year: BirthYear,
}

impl HealthWorker {
    pub fn new(
        staff_code: &str,
        facility: FacilityCode,
        cadre: Cadre,
        sex: Sex,
        birth_year: BirthYear,
    ) -> Result<Self, DomainError> {
        let ok = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-';
        if !(3..=24).contains(&staff_code.len()) || !staff_code.chars().all(ok) {
            return Err(DomainError::invalid("staff_code", format!("{staff_code:?} is not a staff code")));
        }
        Ok(HealthWorker { staff_code: staff_code.to_string(), facility, cadre, sex, birth_year })
    }
}

/// A citizen's account. There is no account without consent to the processing of
/// health data, so `consent_at` is required and cannot follow registration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Account {
    pub phone: Phone,
    pub name: PersonName,
    pub sex: Sex,
    pub birth_year: BirthYear,
    pub ethnic_minority: bool,
    pub vulnerable: Vulnerability,
    pub home_station: FacilityCode,
    pub consent_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Account {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        phone: Phone,
        name: PersonName,
        sex: Sex,
        birth_year: BirthYear,
        ethnic_minority: bool,
        vulnerable: Vulnerability,
        home_station: FacilityCode,
        consent_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let consent_at = consent_at
            .ok_or_else(|| DomainError::invalid("consent", "consent to processing of health data is required"))?;
        if consent_at > created_at {
            return Err(DomainError::invalid("consent", "consent must be given before the account is created"));
        }
        if i32::from(birth_year.get()) > created_at.year() {
            return Err(DomainError::invalid("birth_year", "born after the account was created"));
        }
        Ok(Account { phone, name, sex, birth_year, ethnic_minority, vulnerable, home_station, consent_at, created_at })
    }
}

/// The lake's age band for a birth year at a date: the only age the lake ever holds.
pub fn age_band(birth_year: u16, year: i32) -> &'static str {
    match year - i32::from(birth_year) {
        ..=4 => "0-4",
        5..=14 => "5-14",
        15..=24 => "15-24",
        25..=49 => "25-49",
        50..=64 => "50-64",
        _ => "65+",
    }
}
