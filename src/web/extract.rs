//! Extractors whose rejections are the API's JSON errors naming the field at fault,
//! instead of axum's plain-text ones: a JSON body, a query string, a numeric path
//! id, and the authenticated principal.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::services::{IdemKey, Principal, ServiceError, WriteContext};

/// A JSON body: malformed JSON, a wrong type or an unknown field is a 400 whose
/// `field` is the path to the offending value.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(ServiceError::TooLarge)
            } else {
                ApiError(ServiceError::invalid("body", e.body_text()))
            }
        })?;
        if !is_json {
            return Err(ApiError(ServiceError::invalid("body", "send Content-Type: application/json")));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let field = match (&path[..], unknown_field(&inner.to_string())) {
                // Broken JSON is the body's fault, wherever the parser stopped.
                _ if inner.is_syntax() || inner.is_eof() => "body".to_string(),
                (_, Some(name)) => name,
                (".", None) => "body".to_string(),
                (p, None) => p.to_string(),
            };
            ApiError(ServiceError::invalid(field, inner.to_string()))
        })?;
        Ok(Body(value))
    }
}

/// serde names an unknown or missing field in its message ("unknown field `x`,
/// expected ...", "missing field `y`").
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"))?;
    Some(rest.split('`').next()?.to_string())
}

/// A query string, with the same error shape as [`Body`].
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let field = unknown_field(&inner).unwrap_or(if path == "." { "query".into() } else { path });
            ApiError(ServiceError::invalid(field, inner))
        })
    }
}

/// A numeric id from the path.
pub fn id(raw: &str, field: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError(ServiceError::invalid(field.to_string(), format!("{raw:?} is not a positive id"))))
}

/// The authenticated caller; the auth layer has already refused anonymous requests
/// to routes that need one, so its absence here is a 401.
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().map(Auth).ok_or(ApiError(ServiceError::Unauthenticated))
    }
}

/// What a write handler passes to the services: its route (for the audit log) and
/// the request's idempotency key, if any.
pub struct Ctx(pub WriteContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map_or_else(|| parts.uri.path().to_string(), |m| m.as_str().to_string());
        let mut ctx = WriteContext::new(format!("{} {route}", parts.method));
        ctx.idempotency = parts.extensions.get::<IdemKey>().cloned();
        Ok(Ctx(ctx))
    }
}
