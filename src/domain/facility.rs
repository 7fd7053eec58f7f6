//! Health facilities: commune health stations and the upper levels they call.
//!
//! A station is one per pre-2025 commune and outlives the 2025 merger, so it carries
//! its province under both boundary sets.

use chrono::NaiveDate;
use std::fmt;

use super::codes::code_enum;
use super::{DomainError, ProvinceCode, nfc};

code_enum! {
    /// The tiers of the health system, from the commune up.
    FacilityLevel, field = "level" {
        /// Trạm y tế xã.
        CommuneStation = "commune_station",
        /// Trung tâm y tế huyện (district centre, kept as a facility after districts were abolished).
        DistrictCentre = "district_centre",
        ProvincialHospital = "provincial_hospital",
        CentralHospital = "central_hospital",
    }
}

impl FacilityLevel {
    /// 0 for a station, 3 for a central hospital: a call goes to a higher tier.
    pub fn tier(self) -> u8 {
        match self {
            FacilityLevel::CommuneStation => 0,
            FacilityLevel::DistrictCentre => 1,
            FacilityLevel::ProvincialHospital => 2,
            FacilityLevel::CentralHospital => 3,
        }
    }
}

/// A facility's public code, for example `TYT02-0001` or `BVTW-BACHMAI`: the key that
/// external exports (training, hospital telemedicine) use to refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FacilityCode(String);

impl FacilityCode {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let ok_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-';
        if !(3..=24).contains(&s.len()) || !s.chars().all(ok_char) {
            return Err(DomainError::invalid(
                "facility",
                format!("{s:?} is not a facility code (3-24 of A-Z, 0-9, '-')"),
            ));
        }
        Ok(FacilityCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FacilityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FacilityCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FacilityCode::parse(&s)
    }
}

impl From<FacilityCode> for String {
    fn from(c: FacilityCode) -> String {
        c.0
    }
}

/// A pre-2025 commune (xã, phường, thị trấn): the catchment of one station.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Commune {
    /// `PP-NNNN`: old province code and a running number.
    pub id: String,
    pub name: String,
    pub province_63: ProvinceCode,
    pub province_34: ProvinceCode,
    pub population: u32,
}

/// A facility of any level. Build it with [`Facility::new`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Facility {
    pub code: FacilityCode,
    pub name: String,
    pub level: FacilityLevel,
    pub province_63: ProvinceCode,
    pub province_34: ProvinceCode,
    /// The commune a station serves; none for upper levels.
    pub commune_id: Option<String>,
    /// The upper-level facility a station (or a district centre) refers to.
    pub refers_to: Option<FacilityCode>,
    /// The day the facility joined the program; none if it has not (yet).
    pub go_live: Option<NaiveDate>,
    /// People served; required for a station (the denominator of uptake rates).
    pub catchment_population: Option<u32>,
}

impl Facility {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        code: FacilityCode,
        name: &str,
        level: FacilityLevel,
        province_63: ProvinceCode,
        province_34: ProvinceCode,
        commune_id: Option<String>,
        refers_to: Option<FacilityCode>,
        go_live: Option<NaiveDate>,
        catchment_population: Option<u32>,
    ) -> Result<Self, DomainError> {
        let name = nfc(name);
        if name.is_empty() || name.chars().count() > 200 {
            return Err(DomainError::invalid("name", "must be 1 to 200 characters"));
        }
        let is_station = level == FacilityLevel::CommuneStation;
        if is_station && commune_id.is_none() {
            return Err(DomainError::invalid("commune_id", "a commune health station serves one commune"));
        }
        if !is_station && commune_id.is_some() {
            return Err(DomainError::invalid("commune_id", "only a commune health station has a commune"));
        }
        if is_station && refers_to.is_none() {
            return Err(DomainError::invalid("refers_to", "a station must refer to an upper-level facility"));
        }
        if refers_to.as_ref() == Some(&code) {
            return Err(DomainError::invalid("refers_to", "a facility cannot refer to itself"));
        }
        match catchment_population {
            Some(0) => return Err(DomainError::invalid("catchment_population", "must be positive")),
            None if is_station => {
                return Err(DomainError::invalid("catchment_population", "a station needs its catchment population"));
            }
            _ => {}
        }
        Ok(Facility {
            code,
            name,
            level,
            province_63,
            province_34,
            commune_id,
            refers_to,
            go_live,
            catchment_population,
        })
    }

    /// Whether the facility is in the program on `day`.
    pub fn is_live(&self, day: NaiveDate) -> bool {
        self.go_live.is_some_and(|d| d <= day)
    }
}
