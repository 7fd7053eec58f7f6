//! `/api/v1/kpi/{id}` and `/api/v1/reports/{name}`: the KPI engine and the reports
//! over HTTP, with the same parameters as `homedoc kpi` and `homedoc report`, scoped
//! by the caller's role: evaluators and admins see everything; a provincial manager
//! only their province (or the old provinces merged into it) and never the national
//! scorecard, and with small counts suppressed (k for managers); a donor only their
//! project's donor-results, suppressed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Shared;
use super::error::{ApiError, ApiResult};
use super::extract::{Auth, Query};
use crate::config::{Audience, Settings};
use crate::domain::{BoundarySet, ProvinceCode};
use crate::kpi::{Catalog, Engine, KpiError, KpiRequest, Snapshot};
use crate::lake::Lake;
use crate::report::{ReportArgs, ReportError, ReportName};
use crate::services::{Principal, Role, Scope, ServiceError};

/// What the analytics routes and the dashboards need: the lake, the SQL catalog
/// and the dashboard files.
pub struct Analytics {
    pub settings: Settings,
    pub catalog: Arc<Catalog>,
    pub dashboards: Vec<crate::dashboard::Dashboard>,
    /// The engine over the lake's latest versions, kept open between requests (see
    /// [`Analytics::engine`]); none when `keep_open` is off.
    open: std::sync::Mutex<Option<Arc<Engine>>>,
    keep_open: bool,
}

impl Analytics {
    /// Loads the dashboards of the settings against the catalog.
    pub fn new(settings: Settings, catalog: Arc<Catalog>) -> Result<Self, String> {
        let dashboards = crate::dashboard::config::load(settings.dashboards_dir.as_deref(), &catalog)
            .map_err(|problems| problems.join("; "))?;
        Ok(Analytics { settings, catalog, dashboards, open: std::sync::Mutex::new(None), keep_open: true })
    }

    /// Whether the engine is kept open between requests (the default); off, every
    /// request opens the lake afresh (the benchmark measures both).
    pub fn keep_open(mut self, on: bool) -> Self {
        self.keep_open = on;
        self
    }

    /// The engine a request reads the lake through. At the latest versions, the
    /// engine of an earlier request serves while no table has had a commit since it
    /// was opened, which costs a listing of each Delta log instead of reading them
    /// all. Only the open tables and the facility list are kept: every figure is
    /// computed from the lake on each request.
    pub async fn engine(&self, as_of: Option<&Snapshot>) -> Result<Arc<Engine>, ServiceError> {
        let lake = Lake::new(&self.settings.lake).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let keep = self.keep_open && as_of.is_none();
        if keep {
            // A poisoned lock only means another request panicked: the engine is whole.
            let kept = self.open.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(engine) = kept {
                if engine.is_latest(&lake).await.map_err(kpi_error)? {
                    return Ok(engine);
                }
            }
        }
        let engine = Arc::new(
            Engine::open(&lake, self.catalog.clone(), self.settings.timezone, as_of).await.map_err(kpi_error)?,
        );
        if keep {
            *self.open.lock().unwrap_or_else(|p| p.into_inner()) = Some(engine.clone());
        }
        Ok(engine)
    }
}

/// Whom a role's outputs are for, as far as small-cell suppression goes.
pub(crate) fn audience(role: Role) -> Audience {
    match role {
        Role::ProvincialManager => Audience::ProvincialManager,
        Role::Donor => Audience::Donor,
        _ => Audience::Open,
    }
}

fn kpi_error(e: KpiError) -> ServiceError {
    match e {
        KpiError::Usage(m) => ServiceError::invalid("request", m),
        other => ServiceError::Internal(other.to_string()),
    }
}

fn report_error(e: ReportError) -> ServiceError {
    match e {
        ReportError::Kpi(k) => kpi_error(k),
        ReportError::Usage(m) => ServiceError::invalid("request", m),
        ReportError::Io(e) => ServiceError::Internal(e.to_string()),
    }
}

fn parse<T: std::str::FromStr>(field: &str, v: Option<&str>) -> Result<Option<T>, ServiceError>
where
    T::Err: std::fmt::Display,
{
    v.map(|s| s.parse::<T>().map_err(|e| ServiceError::invalid(field, e.to_string()))).transpose()
}

fn analytics(st: &Shared) -> Result<&Analytics, ServiceError> {
    st.analytics.as_deref().ok_or(ServiceError::Unavailable)
}

/// The province a provincial manager may ask for: their own 34-set code, or in the
/// 63 set one of the old provinces merged into it; none given means their own.
pub(crate) fn scoped_province(
    st: &Shared,
    p: &Principal,
    set: BoundarySet,
    asked: Option<String>,
) -> Result<Option<String>, ServiceError> {
    let Scope::Province34(own) = &p.scope else {
        return Ok(asked);
    };
    let Some(code) = asked else {
        return match set {
            BoundarySet::P34 => Ok(Some(own.clone())),
            BoundarySet::P63 => Err(ServiceError::invalid("province", "give one of your old (63-set) provinces")),
        };
    };
    let inside = match set {
        BoundarySet::P34 => code == *own,
        BoundarySet::P63 => ProvinceCode::parse(&code)
            .ok()
            .and_then(|c| st.services.reference.crosswalk.new_of(c))
            .is_some_and(|new| new.to_string() == *own),
    };
    if inside {
        Ok(Some(code))
    } else {
        Err(ServiceError::forbidden(format!("province {set}:{code} is outside your scope")))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    /// 2024, 2024-Q3, 2024-07, 2024-W27, 2024-07-15, FY2025 or 2024-01-01..2024-06-30.
    period: String,
    /// day, week, month, quarter, year, fiscal_year.
    grain: Option<String>,
    /// national (default), province or station.
    by: Option<String>,
    /// sex, age_band, ethnic_minority or purpose.
    group: Option<String>,
    province: Option<String>,
    /// 34 (default) or 63.
    boundary: Option<String>,
    /// A snapshot a report printed (table@version,...).
    as_of: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/kpi/{id}", tag = "kpi", params(("id" = String, Path), KpiQuery),
    responses((status = 200, description = "The KPI's rows and the snapshot they were read from")))]
pub async fn kpi(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(id): Path<String>,
    Query(q): Query<KpiQuery>,
) -> ApiResult<Response> {
    let a = analytics(&st)?;
    let period = parse("period", Some(&q.period))?.expect("given");
    let boundary = parse::<BoundarySet>("boundary", q.boundary.as_deref())?.unwrap_or_default();
    let province = scoped_province(&st, &p, boundary, q.province)?;
    let req = KpiRequest {
        period,
        grain: parse("grain", q.grain.as_deref())?,
        by: parse("by", q.by.as_deref())?.unwrap_or_default(),
        boundary,
        province,
        group: parse("group", q.group.as_deref())?,
    };
    let as_of: Option<Snapshot> = parse("as_of", q.as_of.as_deref())?;
    let engine = a.engine(as_of.as_ref()).await?;
    let mut result = engine.kpi(&id, &req).await.map_err(kpi_error)?;
    if let Some(k) = a.settings.suppression.k_for(audience(p.role)) {
        result = crate::report::small_cells::suppressed(result, k).await;
    }
    Ok(Json(result).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    period: String,
    province: Option<String>,
    project: Option<String>,
    boundary: Option<String>,
    /// vi (default) or en.
    lang: Option<String>,
    as_of: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/{name}", tag = "kpi", params(("name" = String, Path), ReportQuery),
    responses((status = 200, description = "The report's tables, snapshot and freshness")))]
pub async fn report(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(name): Path<String>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let a = analytics(&st)?;
    let name: ReportName = name.parse().map_err(|e: String| ServiceError::NotFound(e))?;
    let boundary = parse::<BoundarySet>("boundary", q.boundary.as_deref())?.unwrap_or_default();
    let national = matches!(p.role, Role::Evaluator | Role::Admin);
    let (province, project) = match name {
        ReportName::NationalScorecard if !national => {
            return Err(ApiError(ServiceError::forbidden("the national scorecard is for evaluators")));
        }
        ReportName::NationalScorecard => (None, None),
        ReportName::DonorResults => match (&p.scope, q.project) {
            (Scope::Project(own), None) => (None, Some(own.clone())),
            (Scope::Project(own), Some(asked)) if asked != *own => {
                return Err(ApiError(ServiceError::forbidden(format!("project {asked} is outside your scope"))));
            }
            (_, asked) if national || matches!(p.scope, Scope::Project(_)) => (None, asked),
            _ => return Err(ApiError(ServiceError::forbidden("donor results are for donors and evaluators"))),
        },
        ReportName::ProvinceStations if national || matches!(p.scope, Scope::Province34(_)) => {
            (scoped_province(&st, &p, boundary, q.province)?, None)
        }
        ReportName::ProvinceStations => {
            return Err(ApiError(ServiceError::forbidden("station tables are for provincial managers and evaluators")));
        }
    };
    let lang = match q.lang.as_deref() {
        None | Some("vi") => crate::kpi::Lang::Vi,
        Some("en") => crate::kpi::Lang::En,
        Some(other) => return Err(ApiError(ServiceError::invalid("lang", format!("{other:?}: expected vi or en")))),
    };
    let args = ReportArgs {
        period: parse("period", Some(&q.period))?.expect("given"),
        province,
        project,
        boundary,
        lang,
        targets: a.settings.targets,
        suppression: a.settings.suppression,
        audience: audience(p.role),
    };
    let as_of: Option<Snapshot> = parse("as_of", q.as_of.as_deref())?;
    let engine = a.engine(as_of.as_ref()).await?;
    let report = crate::report::make(&engine, name, args).await.map_err(report_error)?;
    Ok(Json(report.to_json()).into_response())
}

pub fn router() -> utoipa_axum::router::OpenApiRouter<Shared> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(kpi)).routes(utoipa_axum::routes!(report))
}
