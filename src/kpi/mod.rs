//! The KPI engine: DataFusion SQL over the lake. [`catalog`] reads the `sql/` views
//! and KPI files, [`period`] the reporting periods, [`engine`] opens the lake at one
//! [`snapshot`] and runs KPI requests (period × reporting unit × group) whose
//! structural choices come from closed sets here and reach the SQL only as request
//! tables ([`frame`]) and bound parameters.

pub mod catalog;
pub mod engine;
pub mod frame;
mod options;
pub mod period;
pub mod snapshot;
pub mod targets;
mod udf;
pub mod uptake;

pub use catalog::{Catalog, Disaggregation, KpiMeta, Lang, Text, ValueUnit};
pub use engine::Engine;
pub use period::{Grain, Period};
pub use snapshot::Snapshot;

use crate::domain::BoundarySet;

#[derive(Debug, thiserror::Error)]
pub enum KpiError {
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogErrors),
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    #[error("query: {0}")]
    Query(String),
    #[error("{0}")]
    Usage(String),
}

/// The reporting unit of a KPI's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// One row per period (or the province given as scope).
    #[default]
    National,
    Province,
    Station,
}

impl std::str::FromStr for By {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "national" => Ok(By::National),
            "province" => Ok(By::Province),
            "station" => Ok(By::Station),
            _ => Err(format!("unknown unit {s:?} (expected national, province or station)")),
        }
    }
}

/// What to compute: a period (split into a series by `grain`), the reporting unit,
/// the boundary set provinces are read in, an optional province scope, and an
/// optional group dimension (sex, age band, ethnic minority, call purpose).
#[derive(Debug, Clone)]
pub struct KpiRequest {
    pub period: Period,
    pub grain: Option<Grain>,
    pub by: By,
    pub boundary: BoundarySet,
    pub province: Option<String>,
    pub group: Option<Disaggregation>,
}

impl KpiRequest {
    pub fn new(period: Period) -> Self {
        KpiRequest { period, grain: None, by: By::National, boundary: BoundarySet::P34, province: None, group: None }
    }

    /// The periods asked: the period split by the grain, or the period itself.
    pub fn periods(&self) -> Vec<Period> {
        match self.grain {
            Some(g) => self.period.split(g),
            None => vec![self.period.clone()],
        }
    }
}

/// One figure: a period, a unit (`VN`, a province code or a facility code), a group
/// (`all` when not broken down) and the value computed from numerator and
/// denominator as the KPI's unit says (`None` when the denominator is 0 or absent).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KpiRow {
    pub period: String,
    pub unit: String,
    pub unit_name: String,
    pub group: String,
    pub numerator: f64,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    /// Hidden from this audience (small-cell suppression): value, numerator and
    /// denominator are then absent (`null`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct KpiResult {
    pub id: String,
    pub meta: KpiMeta,
    pub rows: Vec<KpiRow>,
    pub snapshot: Snapshot,
}
