//! Fleet's HTTP API: a thin axum layer that authenticates callers, enqueues
//! work and reports on it. It never runs jobs; it meets the workers only
//! through the queue and the database.
//!
//! ```no_run
//! # async fn example(config: fleet_shared::Config, queues: fleet_shared::Queues, blobs: fleet_shared::blob::Blobs) -> Result<(), Box<dyn std::error::Error>> {
//! let state = fleet_api::AppState::new(config, queues, blobs).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! fleet_api::serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod state;

pub use error::{ApiError, ApiResult};
pub use state::AppState;

use axum::{
    Extension, Router,
    extract::DefaultBodyLimit,
    http::Request,
    middleware::{from_fn, from_fn_with_state},
    routing::get,
};
use std::future::Future;
use tower_http::{
    request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

/// The whole application: every route, with its middleware.
pub fn app(state: AppState) -> Router {
    let limit = state.config.api.body_limit_bytes;
    let v1 = routes::v1()
        .layer(from_fn_with_state(
            state.clone(),
            middleware::idempotency::idempotency,
        ))
        .layer(from_fn_with_state(state.clone(), middleware::authenticate));
    Router::new()
        .merge(v1)
        .merge(routes::public())
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(|| async { ApiError::NotFound("no such route".to_owned()) })
        .layer(from_fn(middleware::envelope_405))
        .layer(DefaultBodyLimit::max(limit))
        .layer(Extension(extract::BodyLimit(limit)))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or_default()
                .to_owned();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(middleware::MakeUlid))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
