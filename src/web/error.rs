//! The one HTTP error type: a [`ServiceError`] as a status and a JSON [`ErrorBody`],
//! with internals logged and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::services::{ErrorBody, ServiceError};

#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl<E: Into<ServiceError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ServiceError::Internal(detail) = &self.0 {
            eprintln!("homedoc: internal error: {detail}");
        }
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0.body())).into_response();
        if let ServiceError::RateLimited { retry_after_s } = self.0 {
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// An error response built directly, for the layers below the handlers.
pub fn error_response(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody { error: error.to_string(), message: message.into(), field: None };
    (status, axum::Json(body)).into_response()
}

pub type ApiResult<T> = Result<T, ApiError>;
