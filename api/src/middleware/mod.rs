//! Request middleware: authentication with rate limits, Idempotency-Key replay,
//! request ids, and JSON bodies for axum's own 404/405.

pub mod idempotency;
pub mod rate_limit;

use crate::{error::ApiError, state::AppState};
use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Authenticates the caller, applies its rate limit, and records it for handlers.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match state.auth.authenticate(&state, req.headers()).await {
        Ok(p) => p,
        Err(err) => return err.into_response(),
    };
    let decision = state.limiter.check(&principal.credential()).await;
    let mut response = if decision.allowed {
        req.extensions_mut().insert(principal);
        next.run(req).await
    } else {
        ApiError::RateLimited {
            retry_after_secs: decision.retry_after_secs,
        }
        .into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", decision.limit as u64),
        ("ratelimit-remaining", decision.remaining as u64),
        ("ratelimit-reset", decision.reset_secs),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    response
}

/// Gives axum's bodiless 405 the API's error envelope.
pub async fn envelope_405(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allow = response.headers().get("allow").cloned();
        let mut replaced = ApiError::MethodNotAllowed.into_response();
        if let Some(allow) = allow {
            replaced.headers_mut().insert("allow", allow);
        }
        return replaced;
    }
    response
}

/// Makes request ids: a ULID unless the client sent `x-request-id`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeUlid;

impl tower_http::request_id::MakeRequestId for MakeUlid {
    fn make_request_id<B>(
        &mut self,
        _req: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&ulid::Ulid::new().to_string().to_lowercase())
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}
