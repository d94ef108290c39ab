//! Prometheus metrics: this process's counters and histograms, plus per-queue
//! gauges read from the queue backend at scrape time.

use crate::state::AppState;
use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};

/// `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The endpoints of a worker process: its own metrics (job attempts and
/// durations) and liveness, for Prometheus and Kubernetes probes.
pub fn worker_endpoints(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let body = handle.render();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
            }),
        )
        .route("/healthz", get(super::health::healthz))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    for queue in fleet_jobs::queues::ALL {
        match state.queues.stats(queue).await {
            Ok(s) => {
                let q = queue.to_owned();
                metrics::gauge!("fleet_queue_waiting", "queue" => q.clone()).set(s.waiting as f64);
                metrics::gauge!("fleet_queue_scheduled", "queue" => q.clone())
                    .set(s.scheduled as f64);
                metrics::gauge!("fleet_queue_in_flight", "queue" => q.clone())
                    .set(s.in_flight as f64);
                metrics::gauge!("fleet_queue_dead", "queue" => q.clone()).set(s.dead as f64);
                metrics::gauge!("fleet_queue_oldest_waiting_seconds", "queue" => q.clone())
                    .set(s.oldest_waiting_ms.unwrap_or(0) as f64 / 1000.0);
                metrics::counter!("fleet_queue_processed_total", "queue" => q.clone())
                    .absolute(s.processed);
                metrics::counter!("fleet_queue_failed_total", "queue" => q).absolute(s.failed);
            }
            Err(err) => tracing::warn!(queue, error = %err, "cannot read queue stats for /metrics"),
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
