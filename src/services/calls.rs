//! Video calls from stations to upper-level facilities, and the area summaries that
//! managers, evaluators and donors see of the services' data.

use serde::{Deserialize, Serialize};

use super::auth::{Principal, Role, Scope};
use super::{Caller, Reply, ServiceError, Services, WriteContext, work};
use crate::domain::{
    BoundarySet, CallOutcome, CallPurpose, DomainError, FacilityCode, FacilityLevel, ProvinceCode, VideoCall,
};
use crate::store::{AreaSummary, CallInfo};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCall {
    /// The upper-level facility called.
    pub to: String,
    /// `teleconsult`, `meeting` or `training`.
    pub purpose: String,
}

impl Services {
    pub async fn open_call(&self, p: &Principal, c: NewCall, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let station = match (p.role, p.facility()) {
            (Role::StationStaff, Some(code)) => code.to_string(),
            _ => return Err(ServiceError::forbidden("only station staff open a call")),
        };
        let purpose = CallPurpose::parse(&c.purpose)?;
        let to = FacilityCode::parse(&c.to)?;
        let callee = self
            .store
            .facility(to.as_str())
            .await?
            .ok_or_else(|| ServiceError::invalid("to", format!("no facility {to}")))?;
        let call = VideoCall::open(
            FacilityCode::parse(&station)?,
            FacilityLevel::CommuneStation,
            to,
            FacilityLevel::parse(&callee.level)?,
            purpose,
            self.now(),
        )
        .map_err(|e| match e {
            // The request calls the callee `to`.
            DomainError::Invalid { field: "callee_facility", reason } => ServiceError::invalid("to", reason),
            e => e.into(),
        })?;
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("facility:{}", callee.code)),
            work(move |tx| {
                Box::pin(async move {
                    let id = tx.open_call(&call).await?;
                    Ok(Reply::new(201, serde_json::json!({ "id": id })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    /// The open calls addressed to the doctor's own facility.
    pub async fn call_queue(&self, p: &Principal, facility: &str) -> Result<Vec<CallInfo>, ServiceError> {
        let code = FacilityCode::parse(facility)?;
        if !(p.role == Role::UpperDoctor && p.facility() == Some(code.as_str())) {
            return Err(ServiceError::forbidden(format!("only the doctors of {code} see its queue")));
        }
        let f = self
            .store
            .facility(code.as_str())
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("facility {code}")))?;
        Ok(self.store.call_queue(f.id).await?)
    }

    /// Either side closes a call: the calling station's staff or the called facility's doctors.
    pub async fn close_call(
        &self,
        p: &Principal,
        id: i64,
        outcome: Option<&str>,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let call = self.store.call(id).await?.ok_or_else(|| ServiceError::NotFound(format!("video call {id}")))?;
        let side = match p.role {
            Role::StationStaff => p.facility() == Some(call.caller_station.as_str()),
            Role::UpperDoctor => p.facility() == Some(call.callee_facility.as_str()),
            _ => false,
        };
        if !side {
            return Err(ServiceError::forbidden(format!("video call {id} is not yours to close")));
        }
        let outcome = outcome.map(CallOutcome::parse).transpose()?;
        let now = self.now();
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("video_call:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.close_call(id, now, outcome).await?;
                    Ok(Reply::new(200, serde_json::json!({ "id": id, "ended_at": now, "outcome": outcome })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    /// Counts over one province of either set: evaluators see all; a provincial
    /// manager their province (and the old provinces merged into it); a donor the old
    /// provinces of their project.
    pub async fn province_summary(&self, p: &Principal, set: &str, code: &str) -> Result<AreaSummary, ServiceError> {
        let set = BoundarySet::parse(set)?;
        let code = ProvinceCode::parse(code)?;
        let crosswalk = &self.reference.crosswalk;
        let allowed = match (&p.scope, set) {
            (Scope::National, _) => matches!(p.role, Role::Evaluator | Role::Admin),
            (Scope::Province34(own), BoundarySet::P34) => *own == code.to_string(),
            (Scope::Province34(own), BoundarySet::P63) => {
                crosswalk.new_of(code).is_some_and(|new| new.to_string() == *own)
            }
            (Scope::Project(id), BoundarySet::P63) => {
                self.reference.project(id).is_some_and(|proj| proj.provinces.contains(&code))
            }
            _ => false,
        };
        if !allowed {
            return Err(ServiceError::forbidden(format!("province {set}:{code} is outside your scope")));
        }
        Ok(self.store.area_summary(set, &[code.to_string()]).await?)
    }

    /// Counts over a donor project's provinces.
    pub async fn project_summary(&self, p: &Principal, project: &str) -> Result<AreaSummary, ServiceError> {
        let proj =
            self.reference.project(project).ok_or_else(|| ServiceError::NotFound(format!("project {project}")))?;
        let allowed = match &p.scope {
            Scope::National => matches!(p.role, Role::Evaluator | Role::Admin),
            Scope::Project(id) => id == project,
            _ => false,
        };
        if !allowed {
            return Err(ServiceError::forbidden(format!("project {project} is outside your scope")));
        }
        let provinces: Vec<String> = proj.provinces.iter().map(|c| c.to_string()).collect();
        Ok(self.store.area_summary(BoundarySet::P63, &provinces).await?)
    }
}
