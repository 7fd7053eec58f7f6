//! [`ServiceError`]: what a request can fail with, each with its HTTP status and a
//! JSON body that names the field or rule and never the internals.

use serde::Serialize;

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    /// A rule of the program refused the change (slot full, illegal transition...).
    #[error("{code}: {message}")]
    Conflict { code: String, message: String },
    /// The request is well-formed but cannot be applied as sent (idempotency key reuse).
    #[error("{code}: {message}")]
    Unprocessable { code: String, message: String },
    #[error("the request body is too large")]
    TooLarge,
    #[error("too many requests; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("the service is busy; retry")]
    Unavailable,
    /// Logged in full, answered as a bare 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `invalid`, `slot_full`, `illegal_transition`.
    pub error: String,
    pub message: String,
    /// The request field at fault, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServiceError::Invalid { field: field.into(), reason: reason.into() }
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        ServiceError::Forbidden(why.into())
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ServiceError::Conflict { code: code.to_string(), message: message.into() }
    }

    pub fn status(&self) -> u16 {
        match self {
            ServiceError::Invalid { .. } => 400,
            ServiceError::NotFound(_) => 404,
            ServiceError::Unauthenticated => 401,
            ServiceError::Forbidden(_) => 403,
            ServiceError::Conflict { .. } => 409,
            ServiceError::Unprocessable { .. } => 422,
            ServiceError::TooLarge => 413,
            ServiceError::RateLimited { .. } => 429,
            ServiceError::Unavailable => 503,
            ServiceError::Internal(_) => 500,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (error, message, field) = match self {
            ServiceError::Invalid { field, reason } => ("invalid".to_string(), reason.clone(), Some(field.clone())),
            ServiceError::NotFound(what) => ("not_found".into(), format!("{what} not found"), None),
            ServiceError::Unauthenticated => ("unauthenticated".into(), self.to_string(), None),
            ServiceError::Forbidden(why) => ("forbidden".into(), why.clone(), None),
            ServiceError::Conflict { code, message } | ServiceError::Unprocessable { code, message } => {
                (code.clone(), message.clone(), None)
            }
            ServiceError::TooLarge => ("too_large".into(), self.to_string(), Some("body".into())),
            ServiceError::RateLimited { .. } => ("rate_limited".into(), self.to_string(), None),
            ServiceError::Unavailable => ("unavailable".into(), self.to_string(), None),
            ServiceError::Internal(_) => ("internal".into(), "internal error".into(), None),
        };
        ErrorBody { error, message, field }
    }
}

impl From<DomainError> for ServiceError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, reason } => ServiceError::Invalid { field: field.to_string(), reason },
            DomainError::IllegalTransition { from, to } => ServiceError::Conflict {
                code: "illegal_transition".into(),
                message: format!("an appointment cannot go from {from} to {to}"),
            },
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::NotFound { entity, key } => ServiceError::NotFound(format!("{entity} {key}")),
            StoreError::Conflict(text) => match text.split_once(": ") {
                Some((code, message)) if !code.contains(' ') => ServiceError::conflict(code, message),
                // The store's generic wording carries the database's message: log it, do not send it.
                _ => {
                    eprintln!("homedoc: conflict: {text}");
                    ServiceError::conflict("conflict", "the change conflicts with what is stored")
                }
            },
            other => ServiceError::Internal(other.to_string()),
        }
    }
}
