//! Which roles may call each route. The auth layer looks every request's route up
//! here before any handler runs: a route missing from the table is refused (deny by
//! default). Scope (own station, own province, own project) is checked by the
//! services against the resource itself.

use crate::services::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Public,
    /// Logged-in callers with one of these roles.
    Roles(&'static [Role]),
}

use Role::*;

const ALL_ROLES: &[Role] = &[Citizen, StationStaff, UpperDoctor, ProvincialManager, Evaluator, Donor, Admin];

/// (method, route as the router spells it, access).
pub const POLICIES: &[(&str, &str, Access)] = &[
    ("GET", "/api/v1/openapi.json", Access::Public),
    ("POST", "/api/v1/accounts", Access::Public),
    ("POST", "/api/v1/auth/code", Access::Public),
    ("POST", "/api/v1/auth/citizen", Access::Public),
    ("POST", "/api/v1/auth/staff", Access::Public),
    ("POST", "/api/v1/auth/logout", Access::Roles(ALL_ROLES)),
    ("GET", "/api/v1/me", Access::Roles(&[Citizen])),
    ("PATCH", "/api/v1/me", Access::Roles(&[Citizen])),
    ("GET", "/api/v1/me/export", Access::Roles(&[Citizen])),
    ("POST", "/api/v1/me/withdraw", Access::Roles(&[Citizen])),
    ("GET", "/api/v1/me/appointments", Access::Roles(&[Citizen])),
    ("GET", "/api/v1/stations", Access::Public),
    ("GET", "/api/v1/stations/{code}/slots", Access::Public),
    ("POST", "/api/v1/stations/{code}/slots", Access::Roles(&[StationStaff])),
    ("GET", "/api/v1/stations/{code}/worklist", Access::Roles(&[StationStaff])),
    ("POST", "/api/v1/appointments", Access::Roles(&[Citizen])),
    ("POST", "/api/v1/appointments/{id}/cancel", Access::Roles(&[Citizen, StationStaff])),
    ("POST", "/api/v1/appointments/{id}/reschedule", Access::Roles(&[Citizen])),
    ("POST", "/api/v1/appointments/{id}/status", Access::Roles(&[StationStaff])),
    ("POST", "/api/v1/calls", Access::Roles(&[StationStaff])),
    ("POST", "/api/v1/calls/{id}/close", Access::Roles(&[StationStaff, UpperDoctor])),
    ("GET", "/api/v1/facilities/{code}/calls", Access::Roles(&[UpperDoctor])),
    ("GET", "/api/v1/provinces/{set}/{code}/summary", Access::Roles(&[ProvincialManager, Evaluator, Donor, Admin])),
    ("GET", "/api/v1/projects/{id}/summary", Access::Roles(&[Evaluator, Donor, Admin])),
    ("POST", "/api/v1/users", Access::Roles(&[Admin])),
    ("POST", "/api/v1/users/{username}/disable", Access::Roles(&[Admin])),
    ("POST", "/api/v1/users/{username}/enable", Access::Roles(&[Admin])),
    ("POST", "/api/v1/users/{username}/reset", Access::Roles(&[Admin])),
    ("GET", "/api/v1/audit", Access::Roles(&[Admin])),
    ("GET", "/api/v1/pipelines", Access::Roles(&[Evaluator, Admin])),
    // A manager's KPIs come with small counts suppressed; donors get their project's
    // donor-results instead.
    ("GET", "/api/v1/kpi/{id}", Access::Roles(&[ProvincialManager, Evaluator, Admin])),
    // Each report narrows this further by role and scope (see web::analytics).
    ("GET", "/api/v1/reports/{name}", Access::Roles(&[ProvincialManager, Evaluator, Donor, Admin])),
];

/// The access of a route, or `None`: refused.
pub fn access(method: &str, route: &str) -> Option<Access> {
    POLICIES.iter().find(|(m, r, _)| *m == method && *r == route).map(|(_, _, a)| *a)
}

/// Routes outside the API that anyone may call.
pub const OPEN_ROUTES: &[&str] = &["/healthz", "/metrics"];
