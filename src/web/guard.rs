//! The layer every API request passes before its handler: who is calling (bearer
//! token or session cookie), whether their role may call this route (deny by
//! default), the CSRF check for cookie sessions, idempotency keys, the audit of
//! denied requests, and the request metrics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::{ApiError, error_response};
use super::policy::{self, Access};
use super::{SESSION_COOKIE, Shared};
use crate::services::{Caller, IdemKey, Principal, ServiceError};

/// The caller's network address, from the trusted proxy header if one is configured.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

/// The session token of the request, for logout.
#[derive(Debug, Clone)]
pub struct Token(pub String);

/// Set on responses whose outcome the writer already put in the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

/// Requests in flight per (caller, idempotency key), with their body hash.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashMap<(String, String), String>>);

pub async fn guard(State(st): State<Shared>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map_or_else(String::new, |m| m.as_str().to_string());
    let addr = client_addr(&st, &req);
    req.extensions_mut().insert(ClientAddr(addr));
    let principal = match authorize(&st, &mut req, &method, &route).await {
        Ok(p) => p,
        Err(e) => return finish(&st, &method, &route, started, None, e.into_response()).await,
    };
    let response = match idempotent(&st, req, principal.as_ref()).await {
        Ok((req, guard)) => {
            let response = next.run(req).await;
            drop(guard);
            response
        }
        Err(response) => response,
    };
    finish(&st, &method, &route, started, principal.as_ref(), response).await
}

async fn finish(
    st: &Shared,
    method: &Method,
    route: &str,
    started: Instant,
    principal: Option<&Principal>,
    response: Response,
) -> Response {
    let status = response.status();
    let denied = matches!(status.as_u16(), 401 | 403 | 429);
    if denied && response.extensions().get::<Audited>().is_none() {
        let caller = principal.map_or(Caller::Anonymous, Caller::Principal);
        let mut entry = st.services.audit_entry(caller, &format!("{method} {route}"), None);
        entry.outcome = "denied".into();
        entry.status = status.as_u16();
        if let Err(e) = st.services.writer.audit(entry).await {
            eprintln!("homedoc: could not audit a denied request: {e}");
        }
    }
    let m = method.as_str();
    st.metrics.requests.with_label_values(&[m, route, status.as_str()]).inc();
    st.metrics.latency.with_label_values(&[m, route]).observe(started.elapsed().as_secs_f64());
    response
}

fn client_addr(st: &Shared, req: &Request) -> String {
    if let Some(name) = &st.web.trusted_proxy_header {
        // The proxy appends the address it saw: the last entry is the one it vouches for.
        let forwarded = req.headers().get(name).and_then(|v| v.to_str().ok());
        if let Some(addr) = forwarded.and_then(|v| v.rsplit(',').next()).map(str::trim).filter(|a| !a.is_empty()) {
            return addr.to_string();
        }
    }
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".into(), |c| c.0.ip().to_string())
}

fn token(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(|t| (t.trim().to_string(), false));
    }
    cookie_token(headers).map(|t| (t, true))
}

/// The session token of the session cookie, if the request carries one.
pub(super) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get_all(header::COOKIE).into_iter().filter_map(|v| v.to_str().ok());
    cookies
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value that gives a browser its session (`None` for a token that
/// is not a header value, which new_token never makes).
pub(super) fn session_cookie(st: &Shared, token: &str) -> Option<axum::http::HeaderValue> {
    let secure = if st.web.secure_cookies { "; Secure" } else { "" };
    axum::http::HeaderValue::from_str(&format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"))
        .ok()
}

async fn authorize(
    st: &Shared,
    req: &mut Request,
    method: &Method,
    route: &str,
) -> Result<Option<Principal>, ApiError> {
    let principal = match token(req.headers()) {
        Some((t, via_cookie)) => {
            let p = st.services.authenticate(&t, via_cookie).await?;
            req.extensions_mut().insert(Token(t));
            p
        }
        None => None,
    };
    let access = policy::access(method.as_str(), route)
        .ok_or_else(|| ServiceError::forbidden("this route is not open to anyone"))?;
    if let Access::Roles(roles) = access {
        let Some(p) = &principal else { return Err(ServiceError::Unauthenticated.into()) };
        if !roles.contains(&p.role) {
            return Err(ServiceError::forbidden(format!("a {} may not call {method} {route}", p.role)).into());
        }
    }
    if let Some(p) = &principal {
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if p.via_cookie && !safe {
            let sent = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok());
            if sent != Some(p.csrf.as_str()) {
                return Err(ServiceError::forbidden("missing or wrong X-CSRF-Token for a cookie session").into());
            }
        }
        req.extensions_mut().insert(p.clone());
    }
    Ok(principal)
}

/// Removes the key from the in-flight set when the request ends, however it ends.
pub struct InFlightGuard<'a> {
    set: &'a InFlight,
    key: (String, String),
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.0.lock() {
            set.remove(&self.key);
        }
    }
}

/// Handles an `Idempotency-Key` on a POST: a replay of a finished request returns its
/// first result; a different body under the same key is a 422; a duplicate while the
/// first is in flight is a 409. Otherwise the key goes to the handler's write.
async fn idempotent<'a>(
    st: &'a Shared,
    req: Request,
    principal: Option<&Principal>,
) -> Result<(Request, Option<InFlightGuard<'a>>), Response> {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(key), true) = (key, req.method() == Method::POST) else { return Ok((req, None)) };
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError(ServiceError::invalid("Idempotency-Key", "1 to 200 characters")).into_response());
    }
    let caller = match principal {
        Some(p) => p.subject.clone(),
        None => format!("address:{}", req.extensions().get::<ClientAddr>().map_or("unknown", |a| a.0.as_str())),
    };
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, st.web.body_limit)
        .await
        .map_err(|_| ApiError(ServiceError::TooLarge).into_response())?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let body_hash = hex::encode(hasher.finalize());
    let slot = (caller.clone(), key.clone());
    // In flight first, then the store: the first request leaves the in-flight set only
    // after its commit, so a duplicate sees one or the other, never neither.
    {
        let mut set = st.inflight.0.lock().map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        if let Some(hash) = set.get(&slot) {
            return Err(if *hash == body_hash {
                error_response(StatusCode::CONFLICT, "in_flight", "a request with this Idempotency-Key is in progress")
            } else {
                mismatch()
            });
        }
        set.insert(slot.clone(), body_hash.clone());
    }
    let guard = InFlightGuard { set: &st.inflight, key: slot };
    match st.services.store.idempotency(&caller, &key).await {
        Ok(Some(first)) if first.body_hash == body_hash => {
            let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK);
            let mut response = (status, [(header::CONTENT_TYPE, "application/json")], first.response).into_response();
            response.headers_mut().insert("idempotency-replayed", header::HeaderValue::from_static("true"));
            response.extensions_mut().insert(Audited);
            Err(response)
        }
        Ok(Some(_)) => Err(mismatch()),
        Ok(None) => {
            let mut req = Request::from_parts(parts, axum::body::Body::from(bytes));
            req.extensions_mut().insert(IdemKey { caller, key, body_hash });
            Ok((req, Some(guard)))
        }
        Err(e) => Err(ApiError(e.into()).into_response()),
    }
}

fn mismatch() -> Response {
    error_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was used with a different request",
    )
}
