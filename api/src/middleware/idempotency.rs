//! `Idempotency-Key` on POST: the same key with the same request replays the
//! stored response; the same key with a different request is a 409.

use crate::{auth::Principal, error::ApiError, state::AppState};
use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use fleet_shared::db::idempotency::StoredResponse;
use sha2::{Digest, Sha256};

/// Longest accepted key.
const MAX_KEY_LEN: usize = 255;

/// Replays or records responses of POSTs that carry an `Idempotency-Key`.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match replay_or_run(state, req, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn replay_or_run(state: AppState, req: Request, next: Next) -> Result<Response, Response> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get("idempotency-key") else {
        return Ok(next.run(req).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1-{MAX_KEY_LEN} visible ASCII characters"
            ))
            .into_response()
        })?
        .to_owned();
    let credential = req
        .extensions()
        .get::<Principal>()
        .map(Principal::credential)
        .ok_or_else(|| {
            ApiError::Unauthorized("missing bearer credential".to_owned()).into_response()
        })?;
    let (parts, body) = req.into_parts();
    let limit = state.config.api.body_limit_bytes;
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit }.into_response())?;
    let path = parts.uri.path().to_owned();
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(&path);
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize());

    if let Some(stored) = state
        .db
        .stored_response(&credential, &key)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
    {
        if stored.request_hash != request_hash {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was already used with a different request".to_owned(),
            )
            .into_response());
        }
        let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
        let mut response =
            (status, [("content-type", "application/json")], stored.body).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, 16 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::internal(e).into_response())?;
    let stored = StoredResponse {
        request_hash,
        status: status.as_u16(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if let Err(err) = state
        .db
        .store_response(&credential, &key, "POST", &path, &stored)
        .await
    {
        tracing::warn!(error = %err, "cannot store idempotent response");
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}
