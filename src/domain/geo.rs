//! Provinces under the two boundary sets and the crosswalk between them.
//!
//! A province code alone is ambiguous (seven new provinces reuse an old code), so a
//! province is keyed by (boundary set, code) everywhere.

use std::collections::BTreeMap;
use std::fmt;

use super::codes::code_enum;
use super::{DomainError, nfc};

code_enum! {
    /// The provinces in force before 1 July 2025 (`63`) or from then on (`34`).
    BoundarySet, field = "boundary" {
        P34 = "34",
        P63 = "63",
    }
}

impl Default for BoundarySet {
    fn default() -> Self {
        BoundarySet::P34
    }
}

/// A two-digit GSO province code ("01" .. "96").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProvinceCode(u8);

impl ProvinceCode {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid("province", format!("{s:?} is not a two-digit province code")));
        }
        let n: u8 = s.parse().expect("two ASCII digits");
        if n == 0 {
            return Err(DomainError::invalid("province", "code 00 does not exist"));
        }
        Ok(ProvinceCode(n))
    }

    pub fn number(self) -> u8 {
        self.0
    }
}

impl fmt::Display for ProvinceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

impl TryFrom<String> for ProvinceCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ProvinceCode::parse(&s)
    }
}

impl From<ProvinceCode> for String {
    fn from(c: ProvinceCode) -> String {
        c.to_string()
    }
}

/// The unambiguous name of a province: its boundary set and its code in that set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ProvinceKey {
    pub set: BoundarySet,
    pub code: ProvinceCode,
}

impl fmt::Display for ProvinceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.set, self.code)
    }
}

/// One province of one boundary set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Province {
    pub key: ProvinceKey,
    pub name_vi: String,
    pub slug: String,
    /// 2019 census population (summed over the old provinces for the 34 set).
    pub population_2019: u64,
    /// The population is an estimate (for example a residual of the census total).
    pub population_approximate: bool,
    /// Communes (xã, phường, thị trấn / đặc khu) in this boundary set.
    pub communes: u32,
}

impl Province {
    pub fn new(
        key: ProvinceKey,
        name_vi: &str,
        slug: &str,
        population_2019: u64,
        population_approximate: bool,
        communes: u32,
    ) -> Result<Self, DomainError> {
        let name_vi = nfc(name_vi);
        if name_vi.is_empty() {
            return Err(DomainError::invalid("name_vi", "must not be empty"));
        }
        if slug.is_empty() || !slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(DomainError::invalid("slug", format!("{slug:?} must be lowercase ASCII letters and '_'")));
        }
        if population_2019 == 0 {
            return Err(DomainError::invalid("population_2019", "must be positive"));
        }
        if communes == 0 {
            return Err(DomainError::invalid("communes", "must be positive"));
        }
        Ok(Province { key, name_vi, slug: slug.to_string(), population_2019, population_approximate, communes })
    }
}

/// Which new (34) province each old (63) province merged into. Every old province
/// maps to exactly one new one; a new one covers one or more old ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Crosswalk {
    old_to_new: BTreeMap<ProvinceCode, ProvinceCode>,
}

impl Crosswalk {
    /// Builds the crosswalk from (old, new) pairs; an old code listed twice is an error.
    pub fn new(pairs: impl IntoIterator<Item = (ProvinceCode, ProvinceCode)>) -> Result<Self, DomainError> {
        let mut old_to_new = BTreeMap::new();
        for (old, new) in pairs {
            if let Some(prev) = old_to_new.insert(old, new)
                && prev != new
            {
                return Err(DomainError::invalid(
                    "crosswalk",
                    format!("old province {old} is mapped to both {prev} and {new}"),
                ));
            }
        }
        Ok(Crosswalk { old_to_new })
    }

    pub fn new_of(&self, old: ProvinceCode) -> Option<ProvinceCode> {
        self.old_to_new.get(&old).copied()
    }

    pub fn olds_of(&self, new: ProvinceCode) -> impl Iterator<Item = ProvinceCode> + '_ {
        self.old_to_new.iter().filter(move |(_, n)| **n == new).map(|(o, _)| *o)
    }

    pub fn pairs(&self) -> impl Iterator<Item = (ProvinceCode, ProvinceCode)> + '_ {
        self.old_to_new.iter().map(|(o, n)| (*o, *n))
    }

    /// The province of `old` (a 63-set code) expressed in `set`.
    pub fn in_set(&self, old: ProvinceCode, set: BoundarySet) -> Option<ProvinceCode> {
        match set {
            BoundarySet::P63 => Some(old),
            BoundarySet::P34 => self.new_of(old),
        }
    }
}
