//! The /api/v1 handlers. Each one parses its input, calls one service operation and
//! shapes the answer; the `#[utoipa::path]` on it is where the OpenAPI document comes
//! from, so the document cannot drift from the router.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Shared;
use super::error::{ApiError, ApiResult};
use super::extract::{Auth, Body, Ctx, Query, id};
use super::guard::{Audited, ClientAddr, Token};
use crate::services::{
    AccountExport, ErrorBody, NewCall, NewSlot, Profile, ProfileUpdate, Registration, Reply, SessionInfo, StatusChange,
};
use crate::store::{AppointmentView, AreaSummary, AuditRecord, CallInfo, FacilityInfo, SlotInfo, WorkItem};

/// A write's reply as a response, marked as already audited.
fn reply(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Json(r.body)).into_response();
    response.extensions_mut().insert(Audited);
    response
}

/// A login reply, with the session also set as an HttpOnly cookie for browsers.
fn session_reply(st: &Shared, r: Reply) -> Response {
    let token = r.body.get("token").and_then(|t| t.as_str()).map(str::to_string);
    let mut response = reply(r);
    if let Some(v) = token.and_then(|t| super::guard::session_cookie(st, &t)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(request_code))
        .routes(routes!(login_citizen))
        .routes(routes!(login_staff))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(export_me))
        .routes(routes!(withdraw_me))
        .routes(routes!(my_appointments))
        .routes(routes!(stations))
        .routes(routes!(free_slots, publish_slot))
        .routes(routes!(worklist))
        .routes(routes!(book))
        .routes(routes!(cancel))
        .routes(routes!(reschedule))
        .routes(routes!(record_status))
        .routes(routes!(open_call))
        .routes(routes!(close_call))
        .routes(routes!(call_queue))
        .routes(routes!(province_summary))
        .routes(routes!(project_summary))
        .routes(routes!(add_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(reset_user))
        .routes(routes!(audit))
        .routes(routes!(pipelines))
        .merge(super::analytics::router())
}

#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = Registration,
    responses((status = 201, description = "Account created"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn register(State(st): State<Shared>, Ctx(ctx): Ctx, Body(r): Body<Registration>) -> ApiResult<Response> {
    Ok(reply(st.services.register(r, &ctx).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    phone: String,
}

#[utoipa::path(post, path = "/api/v1/auth/code", tag = "auth", request_body = CodeRequest,
    responses((status = 202, description = "A code is sent if the number has an account"), (status = 429, body = ErrorBody)))]
async fn request_code(
    State(st): State<Shared>,
    Extension(addr): Extension<ClientAddr>,
    Ctx(ctx): Ctx,
    Body(r): Body<CodeRequest>,
) -> ApiResult<Response> {
    st.limits.check(&r.phone, &addr.0)?;
    Ok(reply(st.services.request_code(&r.phone, &ctx).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CitizenLogin {
    phone: String,
    code: String,
}

#[utoipa::path(post, path = "/api/v1/auth/citizen", tag = "auth", request_body = CitizenLogin,
    responses((status = 201, body = SessionInfo), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login_citizen(
    State(st): State<Shared>,
    Extension(addr): Extension<ClientAddr>,
    Ctx(ctx): Ctx,
    Body(r): Body<CitizenLogin>,
) -> ApiResult<Response> {
    st.limits.check(&r.phone, &addr.0)?;
    let r = st.services.login_citizen(&r.phone, &r.code, &ctx).await?;
    Ok(session_reply(&st, r))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StaffLogin {
    username: String,
    password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/staff", tag = "auth", request_body = StaffLogin,
    responses((status = 201, body = SessionInfo), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login_staff(
    State(st): State<Shared>,
    Extension(addr): Extension<ClientAddr>,
    Ctx(ctx): Ctx,
    Body(r): Body<StaffLogin>,
) -> ApiResult<Response> {
    st.limits.check(&r.username, &addr.0)?;
    let r = st.services.login_staff(&r.username, &r.password, &ctx).await?;
    Ok(session_reply(&st, r))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 200, description = "Session ended")))]
async fn logout(
    State(st): State<Shared>,
    Auth(p): Auth,
    Extension(token): Extension<Token>,
    Ctx(ctx): Ctx,
) -> ApiResult<Response> {
    Ok(reply(st.services.logout(&p, &token.0, &ctx).await?))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses((status = 200, body = Profile)))]
async fn me(State(st): State<Shared>, Auth(p): Auth) -> ApiResult<Json<Profile>> {
    Ok(Json(st.services.profile(&p).await?))
}

#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody)))]
async fn update_me(
    State(st): State<Shared>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Body(u): Body<ProfileUpdate>,
) -> ApiResult<Response> {
    Ok(reply(st.services.update_profile(&p, u, &ctx).await?))
}

#[utoipa::path(get, path = "/api/v1/me/export", tag = "accounts", responses((status = 200, body = AccountExport)))]
async fn export_me(State(st): State<Shared>, Auth(p): Auth) -> ApiResult<Response> {
    let export = st.services.export(&p).await?;
    let mut response = Json(export).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"homedoc-my-data.json\""));
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/me/withdraw", tag = "accounts",
    responses((status = 200, description = "Consent withdrawn: account closed, personal fields erased")))]
async fn withdraw_me(State(st): State<Shared>, Auth(p): Auth, Ctx(ctx): Ctx) -> ApiResult<Response> {
    Ok(reply(st.services.withdraw(&p, &ctx).await?))
}

#[utoipa::path(get, path = "/api/v1/me/appointments", tag = "appointments", responses((status = 200, body = [AppointmentView])))]
async fn my_appointments(State(st): State<Shared>, Auth(p): Auth) -> ApiResult<Json<Vec<AppointmentView>>> {
    Ok(Json(st.services.my_appointments(&p).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct StationQuery {
    /// A province code.
    province: String,
    /// The boundary set of the code: `34` (default) or `63`.
    set: Option<String>,
    commune: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/stations", tag = "stations", params(StationQuery),
    responses((status = 200, body = [FacilityInfo]), (status = 400, body = ErrorBody)))]
async fn stations(State(st): State<Shared>, Query(q): Query<StationQuery>) -> ApiResult<Json<Vec<FacilityInfo>>> {
    let set = q.set.as_deref().unwrap_or("34");
    Ok(Json(st.services.stations(set, &q.province, q.commune.as_deref()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct SlotQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/stations/{code}/slots", tag = "stations", params(("code" = String, Path), SlotQuery),
    responses((status = 200, body = [SlotInfo]), (status = 404, body = ErrorBody)))]
async fn free_slots(
    State(st): State<Shared>,
    Path(code): Path<String>,
    Query(q): Query<SlotQuery>,
) -> ApiResult<Json<Vec<SlotInfo>>> {
    Ok(Json(st.services.free_slots(&code, q.from, q.to).await?))
}

#[utoipa::path(post, path = "/api/v1/stations/{code}/slots", tag = "stations", params(("code" = String, Path)),
    request_body = NewSlot, responses((status = 201, description = "Slot published"), (status = 400, body = ErrorBody)))]
async fn publish_slot(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(code): Path<String>,
    Ctx(ctx): Ctx,
    Body(s): Body<NewSlot>,
) -> ApiResult<Response> {
    Ok(reply(st.services.publish_slot(&p, &code, s, &ctx).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct DayQuery {
    /// A local date (Asia/Ho_Chi_Minh); today by default.
    date: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/api/v1/stations/{code}/worklist", tag = "stations", params(("code" = String, Path), DayQuery),
    responses((status = 200, body = [WorkItem])))]
async fn worklist(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(code): Path<String>,
    Query(q): Query<DayQuery>,
) -> ApiResult<Json<Vec<WorkItem>>> {
    Ok(Json(st.services.worklist(&p, &code, q.date).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Booking {
    slot_id: i64,
    /// `general_checkup`, `chronic_care`, `maternal_child`, `immunisation`, `acute_illness` or `other`.
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/appointments", tag = "appointments", request_body = Booking,
    responses((status = 201, description = "Booked"), (status = 409, body = ErrorBody)))]
async fn book(State(st): State<Shared>, Auth(p): Auth, Ctx(ctx): Ctx, Body(b): Body<Booking>) -> ApiResult<Response> {
    Ok(reply(st.services.book(&p, b.slot_id, &b.reason, &ctx).await?))
}

#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "appointments", params(("id" = i64, Path)),
    responses((status = 200, description = "Cancelled"), (status = 409, body = ErrorBody)))]
async fn cancel(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(raw): Path<String>,
    Ctx(ctx): Ctx,
) -> ApiResult<Response> {
    Ok(reply(st.services.cancel(&p, id(&raw, "id")?, &ctx).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reschedule {
    slot_id: i64,
}

#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "appointments", params(("id" = i64, Path)),
    request_body = Reschedule, responses((status = 201, description = "Moved to the new slot"), (status = 409, body = ErrorBody)))]
async fn reschedule(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(raw): Path<String>,
    Ctx(ctx): Ctx,
    Body(r): Body<Reschedule>,
) -> ApiResult<Response> {
    Ok(reply(st.services.reschedule(&p, id(&raw, "id")?, r.slot_id, &ctx).await?))
}

#[utoipa::path(post, path = "/api/v1/appointments/{id}/status", tag = "appointments", params(("id" = i64, Path)),
    request_body = StatusChange, responses((status = 200, description = "Recorded"), (status = 409, body = ErrorBody)))]
async fn record_status(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(raw): Path<String>,
    Ctx(ctx): Ctx,
    Body(s): Body<StatusChange>,
) -> ApiResult<Response> {
    Ok(reply(st.services.record_status(&p, id(&raw, "id")?, &s.status, &ctx).await?))
}

#[utoipa::path(post, path = "/api/v1/calls", tag = "calls", request_body = NewCall,
    responses((status = 201, description = "Call opened"), (status = 400, body = ErrorBody)))]
async fn open_call(
    State(st): State<Shared>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Body(c): Body<NewCall>,
) -> ApiResult<Response> {
    Ok(reply(st.services.open_call(&p, c, &ctx).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CloseCall {
    /// `advice_given` or `referred_up`, for a teleconsult.
    outcome: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/calls/{id}/close", tag = "calls", params(("id" = i64, Path)), request_body = CloseCall,
    responses((status = 200, description = "Call closed"), (status = 400, body = ErrorBody)))]
async fn close_call(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(raw): Path<String>,
    Ctx(ctx): Ctx,
    Body(c): Body<CloseCall>,
) -> ApiResult<Response> {
    Ok(reply(st.services.close_call(&p, id(&raw, "id")?, c.outcome.as_deref(), &ctx).await?))
}

#[utoipa::path(get, path = "/api/v1/facilities/{code}/calls", tag = "calls", params(("code" = String, Path)),
    responses((status = 200, body = [CallInfo])))]
async fn call_queue(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(code): Path<String>,
) -> ApiResult<Json<Vec<CallInfo>>> {
    Ok(Json(st.services.call_queue(&p, &code).await?))
}

#[utoipa::path(get, path = "/api/v1/provinces/{set}/{code}/summary", tag = "summaries",
    params(("set" = String, Path), ("code" = String, Path)), responses((status = 200, body = AreaSummary)))]
async fn province_summary(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path((set, code)): Path<(String, String)>,
) -> ApiResult<Json<AreaSummary>> {
    Ok(Json(st.services.province_summary(&p, &set, &code).await?))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/summary", tag = "summaries", params(("id" = String, Path)),
    responses((status = 200, body = AreaSummary)))]
async fn project_summary(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(project): Path<String>,
) -> ApiResult<Json<AreaSummary>> {
    Ok(Json(st.services.project_summary(&p, &project).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserRequest {
    username: String,
    password: String,
    role: String,
    /// A facility code, a 34-set province code or a project id, as the role needs.
    scope: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, description = "User created"), (status = 400, body = ErrorBody)))]
async fn add_user(
    State(st): State<Shared>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Body(u): Body<NewUserRequest>,
) -> ApiResult<Response> {
    Ok(reply(st.services.add_user(Some(&p), &u.username, &u.password, &u.role, u.scope.as_deref(), &ctx).await?))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "users", params(("username" = String, Path)),
    responses((status = 200, description = "Disabled; its sessions ended")))]
async fn disable_user(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(username): Path<String>,
    Ctx(ctx): Ctx,
) -> ApiResult<Response> {
    Ok(reply(st.services.change_user(Some(&p), &username, Some(true), None, &ctx).await?))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "users", params(("username" = String, Path)),
    responses((status = 200, description = "Enabled")))]
async fn enable_user(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(username): Path<String>,
    Ctx(ctx): Ctx,
) -> ApiResult<Response> {
    Ok(reply(st.services.change_user(Some(&p), &username, Some(false), None, &ctx).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordReset {
    password: String,
}

#[utoipa::path(post, path = "/api/v1/users/{username}/reset", tag = "users", params(("username" = String, Path)),
    request_body = PasswordReset, responses((status = 200, description = "Password set; its sessions ended")))]
async fn reset_user(
    State(st): State<Shared>,
    Auth(p): Auth,
    Path(username): Path<String>,
    Ctx(ctx): Ctx,
    Body(r): Body<PasswordReset>,
) -> ApiResult<Response> {
    Ok(reply(st.services.change_user(Some(&p), &username, None, Some(&r.password), &ctx).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery), responses((status = 200, description = "Audit entries")))]
async fn audit(State(st): State<Shared>, Auth(_admin): Auth, Query(q): Query<AuditQuery>) -> ApiResult<Response> {
    let records: Vec<AuditRecord> = st
        .services
        .store
        .audit(q.after.unwrap_or(0), q.limit.unwrap_or(1000).min(10_000))
        .await
        .map_err(ApiError::from)?;
    Ok(Json(records).into_response())
}

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "ingestion",
    responses((status = 200, body = [crate::ingest::status::PipelineStatus])))]
async fn pipelines(
    State(st): State<Shared>,
    Auth(_p): Auth,
) -> ApiResult<Json<Vec<crate::ingest::status::PipelineStatus>>> {
    // Without pipelines (serve started without them) there is nothing to list.
    let Some(ingest) = &st.ingest else { return Ok(Json(Vec::new())) };
    let statuses = crate::ingest::status::statuses(ingest)
        .await
        .map_err(|e| ApiError::from(crate::services::ServiceError::Internal(e.to_string())))?;
    Ok(Json(statuses))
}
