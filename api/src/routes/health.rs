//! Liveness and readiness.

use crate::{error::ApiError, state::AppState};
use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database, the queue backend and the blob store answer.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Every dependency answers"),
    (status = 503, description = "A dependency is down; details name it"),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let timeout = std::time::Duration::from_secs(3);
    let check = |r: Result<Result<(), String>, tokio::time::error::Elapsed>| match r {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => e,
        Err(_) => "timed out".to_owned(),
    };
    let (db, queue, blobs) = tokio::join!(
        tokio::time::timeout(timeout, async {
            state.db.ping().await.map_err(|e| e.to_string())
        }),
        tokio::time::timeout(timeout, async {
            state.queues.ping().await.map_err(|e| e.to_string())
        }),
        tokio::time::timeout(timeout, async {
            state.blobs.check().await.map_err(|e| e.to_string())
        }),
    );
    let checks = json!({"database": check(db), "queue": check(queue), "blob_store": check(blobs)});
    let all_ok = checks
        .as_object()
        .is_some_and(|m| m.values().all(|v| v == "ok"));
    if all_ok {
        Ok(Json(json!({"status": "ready", "checks": checks})))
    } else {
        Err(ApiError::Unavailable {
            message: "not ready: a dependency is unreachable".to_owned(),
            details: checks,
        })
    }
}
