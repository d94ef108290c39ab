//! Jobs: enqueue any job (backend and ops), and read a job's status.

use super::rfc3339;
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate, invalid_seller_id},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use fleet_jobs::WorkerKind;
use fleet_shared::db::{
    api_keys::Role,
    jobs::{JobRecord, NewJob},
    now_ms,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `/v1/jobs` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", post(create_job))
        .route("/v1/jobs/{id}", get(get_job))
}

/// Longest delay a job may be scheduled ahead.
const MAX_DELAY_SECS: u64 = 30 * 24 * 3600;

/// A job to enqueue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// Queue name (`media`, `export.shopify`, …).
    pub queue: String,
    /// Job type name, matched to a handler by the worker.
    pub kind: String,
    /// The job's payload, a JSON object.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Attempts before the job goes dead (default: its kind's setting).
    pub max_attempts: Option<i32>,
    /// Seconds to wait before the first attempt.
    pub delay_secs: Option<u64>,
    /// A second job with the same key is not created; the first is returned.
    pub idempotency_key: Option<String>,
    /// The seller the job belongs to, who may then read it.
    pub seller_id: Option<String>,
}

impl Validate for CreateJob {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !fleet_jobs::queues::is_valid_name(&self.queue) {
            errors.push(FieldError::new(
                "queue",
                "use 1-64 characters of a-z, 0-9, `.`, `_` and `-`",
            ));
        }
        if !fleet_jobs::queues::is_valid_name(&self.kind) {
            errors.push(FieldError::new(
                "kind",
                "use 1-64 characters of a-z, 0-9, `.`, `_` and `-`",
            ));
        }
        if !self.payload.is_object() {
            errors.push(FieldError::new("payload", "must be a JSON object"));
        }
        if let Some(n) = self.max_attempts
            && !(1..=100).contains(&n)
        {
            errors.push(FieldError::new("max_attempts", "must be between 1 and 100"));
        }
        if self.delay_secs.is_some_and(|d| d > MAX_DELAY_SECS) {
            errors.push(FieldError::new(
                "delay_secs",
                format!("must be at most {MAX_DELAY_SECS}"),
            ));
        }
        if self
            .idempotency_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > 255)
        {
            errors.push(FieldError::new(
                "idempotency_key",
                "must be 1-255 characters",
            ));
        }
        errors.extend(invalid_seller_id(self.seller_id.as_deref()));
        errors
    }
}

/// Progress of a job that reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Units done.
    pub done: i64,
    /// Units in total, when known.
    pub total: Option<i64>,
}

/// A job as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// Job type name.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// `queued`, `running`, `succeeded`, `failed` (retry scheduled), `dead` or `cancelled`.
    pub status: String,
    /// Attempts started.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Progress, when the job reports it.
    pub progress: Option<Progress>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When the job is next due.
    pub run_at: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Start of the latest attempt.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Where to poll its status.
    pub status_url: String,
}

impl From<&JobRecord> for JobView {
    fn from(job: &JobRecord) -> Self {
        JobView {
            id: job.id.clone(),
            kind: job.kind.clone(),
            queue: job.queue.clone(),
            status: job.status.to_string(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            progress: job.progress_done.map(|done| Progress {
                done,
                total: job.progress_total,
            }),
            last_error: job.last_error.clone(),
            run_at: rfc3339(job.run_at),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            started_at: job.started_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
            status_url: format!("/v1/jobs/{}", job.id),
        }
    }
}

/// Enqueues a job; answers 202 with the job and its status URL.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = CreateJob,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for the same key and body")),
    responses(
        (status = 202, description = "Queued (or the existing job for its idempotency key)", body = JobView),
        (status = 401, description = "No valid credential"), (status = 403, description = "Not a backend or ops key"),
        (status = 409, description = "Idempotency-Key reused with another body"), (status = 422, description = "Invalid fields"),
    ),
    security(("bearer" = [])))]
pub async fn create_job(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<CreateJob>,
) -> ApiResult<impl IntoResponse> {
    principal.require(&[Role::Backend, Role::Ops])?;
    let max_attempts = req.max_attempts.unwrap_or_else(|| {
        WorkerKind::of_queue(&req.queue)
            .map(|k| state.config.kinds.of(k).max_attempts as i32)
            .unwrap_or(5)
    });
    let job = NewJob {
        id: ulid::Ulid::new().to_string().to_lowercase(),
        kind: req.kind,
        queue: req.queue,
        payload: req.payload.to_string(),
        idempotency_key: req.idempotency_key,
        seller_id: req.seller_id,
        priority: 0,
        max_attempts,
        run_at: now_ms() + req.delay_secs.unwrap_or(0) as i64 * 1000,
    };
    let enqueued = state.queues.enqueue(vec![job.clone()]).await?;
    let slot = enqueued
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("enqueue returned nothing"))?;
    // A new job is exactly what was sent; an existing one (same idempotency key) is read back.
    let record =
        if slot.created {
            JobRecord::queued(&job, now_ms())
        } else {
            state.db.job(&slot.id).await?.ok_or_else(|| {
                ApiError::internal(format!("job {} vanished after enqueue", slot.id))
            })?
        };
    let view = JobView::from(&record);
    let location = view.status_url.clone();
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(view),
    ))
}

/// A job's status, attempts, progress and last error.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, description = "No such job visible to this credential")),
    security(("bearer" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    let not_found = || ApiError::NotFound(format!("no job {id}"));
    let job = state.db.job(&id).await?.ok_or_else(not_found)?;
    if !principal.can_see(job.seller_id.as_deref()) {
        return Err(not_found());
    }
    Ok(Json(JobView::from(&job)))
}
