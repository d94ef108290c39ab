//! The API's error type and its one JSON envelope:
//! `{"error":{"code":"snake_case","message":"…","details":{…}}}`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// Everything a handler can fail with, each mapped to one status and code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, bad query).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credential, or one that is unknown, expired or badly signed.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the credential may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (or not visible to this credential).
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the current state (reused Idempotency-Key).
    #[error("{0}")]
    Conflict(String),
    /// 409 with a machine-readable reason in `details.reason` (an order event out of order).
    #[error("{message}")]
    Refused {
        /// snake_case reason.
        reason: &'static str,
        /// What is wrong, for humans.
        message: String,
    },
    /// 413: the body is larger than allowed.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid fields.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// 429: over the credential's rate limit.
    #[error("rate limit exceeded; retry in {retry_after_secs}s")]
    RateLimited {
        /// Seconds until a request would be allowed.
        retry_after_secs: u64,
    },
    /// 503: a dependency is down.
    #[error("{message}")]
    Unavailable {
        /// What is down.
        message: String,
        /// Per-dependency status.
        details: Value,
    },
    /// 500: a bug or an unexpected failure; details go to the log, not the client.
    #[error("internal error: {0}")]
    Internal(String),
}

/// One invalid field of a request.
#[derive(Debug, Clone, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ApiError {
    /// A 500 from any error; the message is logged, the client sees a generic one.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        ApiError::Internal(err.to_string())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) | ApiError::Refused { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<fleet_shared::DbError> for ApiError {
    fn from(err: fleet_shared::DbError) -> Self {
        ApiError::internal(err)
    }
}

impl From<fleet_shared::blob::BlobError> for ApiError {
    fn from(err: fleet_shared::blob::BlobError) -> Self {
        match err {
            fleet_shared::blob::BlobError::S3 { .. } => ApiError::Unavailable {
                message: "the blob store failed".to_owned(),
                details: json!({"blob_store": err.to_string()}),
            },
            other => ApiError::internal(other),
        }
    }
}

impl From<fleet_shared::QueueError> for ApiError {
    fn from(err: fleet_shared::QueueError) -> Self {
        match err {
            fleet_shared::QueueError::InvalidQueue(_) => {
                ApiError::Invalid(vec![FieldError::new("queue", err.to_string())])
            }
            fleet_shared::QueueError::Redis(e) => ApiError::Unavailable {
                message: "the queue backend is unreachable".to_owned(),
                details: json!({"queue": e.to_string()}),
            },
            other => ApiError::internal(other),
        }
    }
}

impl From<fleet_shared::ledger::LedgerError> for ApiError {
    fn from(err: fleet_shared::ledger::LedgerError) -> Self {
        use fleet_shared::ledger::LedgerError;
        match err {
            LedgerError::Rejected(rejection) => ApiError::Refused {
                reason: rejection.reason(),
                message: rejection.to_string(),
            },
            LedgerError::ConflictingReplay { .. } => ApiError::Refused {
                reason: "event_id_reused",
                message: err.to_string(),
            },
            LedgerError::Contended { .. } => ApiError::Unavailable {
                message: err.to_string(),
                details: json!({}),
            },
            LedgerError::Insufficient { .. } => ApiError::Refused {
                reason: "insufficient_funds",
                message: err.to_string(),
            },
            LedgerError::Excluded { .. } => ApiError::Refused {
                reason: "payout_settled",
                message: err.to_string(),
            },
            LedgerError::Queue(e) => ApiError::from(e),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let (message, details) = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                ("internal error".to_owned(), json!({}))
            }
            ApiError::Invalid(fields) => (self.to_string(), json!({ "fields": fields })),
            ApiError::Unavailable { details, .. } => (self.to_string(), details.clone()),
            ApiError::Refused { reason, .. } => (self.to_string(), json!({ "reason": reason })),
            ApiError::PayloadTooLarge { limit } => {
                (self.to_string(), json!({ "limit_bytes": limit }))
            }
            ApiError::RateLimited { retry_after_secs } => (
                self.to_string(),
                json!({ "retry_after_secs": retry_after_secs }),
            ),
            other => (other.to_string(), json!({})),
        };
        let body = json!({"error": {"code": code, "message": message, "details": details}});
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
