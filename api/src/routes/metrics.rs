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
    match fleet_shared::queue::report(&state.queues, &state.config.kinds).await {
        Ok(report) => publish(&report),
        Err(err) => tracing::warn!(error = %err, "cannot read queue figures for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Sets the per-queue and per-kind gauges from `report`.
fn publish(report: &fleet_shared::queue::OpsReport) {
    for q in &report.queues {
        let labels = [("queue", q.queue.clone()), ("kind", q.kind.clone())];
        metrics::gauge!("fleet_queue_waiting", &labels).set(q.waiting as f64);
        metrics::gauge!("fleet_queue_scheduled", &labels).set(q.scheduled as f64);
        metrics::gauge!("fleet_queue_in_flight", &labels).set(q.in_flight as f64);
        metrics::gauge!("fleet_queue_dead", &labels).set(q.dead as f64);
        metrics::gauge!("fleet_queue_oldest_waiting_seconds", &labels)
            .set(q.oldest_waiting_secs.unwrap_or(0.0));
        metrics::counter!("fleet_queue_processed_total", &labels).absolute(q.processed);
        metrics::counter!("fleet_queue_failed_total", &labels).absolute(q.failed);
        metrics::gauge!("fleet_queue_processed_per_minute", &labels)
            .set(q.processed_per_min as f64);
        metrics::gauge!("fleet_queue_failed_per_minute", &labels).set(q.failed_per_min as f64);
        metrics::gauge!("fleet_queue_job_duration_p50_seconds", &labels)
            .set(q.duration_p50_ms.unwrap_or(0) as f64 / 1000.0);
        metrics::gauge!("fleet_queue_job_duration_p95_seconds", &labels)
            .set(q.duration_p95_ms.unwrap_or(0) as f64 / 1000.0);
        metrics::gauge!("fleet_queue_live_workers", &labels).set(q.live_workers as f64);
        metrics::gauge!("fleet_queue_recommended_replicas", &labels)
            .set(f64::from(q.recommended_replicas));
    }
    for k in &report.kinds {
        let labels = [("kind", k.kind.clone())];
        metrics::gauge!("fleet_kind_waiting", &labels).set(k.waiting as f64);
        metrics::gauge!("fleet_kind_live_workers", &labels).set(k.live_workers as f64);
        metrics::gauge!("fleet_kind_recommended_replicas", &labels)
            .set(f64::from(k.recommended_replicas));
    }
}
