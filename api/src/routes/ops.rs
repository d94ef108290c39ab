//! Operations: queue figures and dead jobs (list, retry, purge). Ops keys only.

use super::jobs::JobView;
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::{delete, get, post},
};
use fleet_shared::{db::api_keys::Role, queue::QueueStats};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `/v1/ops` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ops/queues", get(list_queues))
        .route(
            "/v1/ops/queues/{queue}/dead",
            get(list_dead).delete(purge_all_dead),
        )
        .route("/v1/ops/queues/{queue}/dead/retry", post(retry_all_dead))
        .route("/v1/ops/queues/{queue}/dead/{id}/retry", post(retry_dead))
        .route("/v1/ops/queues/{queue}/dead/{id}", delete(purge_dead))
}

/// Figures of one queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Queue name.
    pub queue: String,
    /// Worker kind that consumes it.
    pub kind: Option<String>,
    /// Due and not leased.
    pub waiting: u64,
    /// Due later (delayed jobs, retries in backoff).
    pub scheduled: u64,
    /// Leased by workers.
    pub in_flight: u64,
    /// Out of attempts.
    pub dead: u64,
    /// Seconds the oldest waiting job has been due.
    pub oldest_waiting_secs: Option<f64>,
    /// Attempts succeeded, ever.
    pub processed: u64,
    /// Attempts failed, ever.
    pub failed: u64,
}

impl From<QueueStats> for QueueView {
    fn from(s: QueueStats) -> Self {
        QueueView {
            kind: fleet_jobs::WorkerKind::of_queue(&s.queue).map(|k| k.to_string()),
            queue: s.queue,
            waiting: s.waiting,
            scheduled: s.scheduled,
            in_flight: s.in_flight,
            dead: s.dead,
            oldest_waiting_secs: s.oldest_waiting_ms.map(|ms| ms as f64 / 1000.0),
            processed: s.processed,
            failed: s.failed,
        }
    }
}

/// Every queue's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueList {
    /// One entry per queue.
    pub queues: Vec<QueueView>,
}

/// A page of dead jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadPage {
    /// Dead jobs, oldest first.
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Cursor pagination.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// How many jobs an operation touched.
#[derive(Debug, Serialize, ToSchema)]
pub struct Affected {
    /// Count.
    pub count: usize,
}

/// Lets only ops keys through, to a well-formed queue name.
fn authorize(principal: &Principal, queue: &str) -> ApiResult<()> {
    principal.require(&[Role::Ops])?;
    if fleet_jobs::queues::is_valid_name(queue) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no queue `{queue}`")))
    }
}

/// The answer to an operation on one dead job: 404 when there was none.
fn one_dead(count: usize, queue: &str, id: &str) -> ApiResult<Json<Affected>> {
    match count {
        0 => Err(ApiError::NotFound(format!("no dead job {id} in {queue}"))),
        count => Ok(Json(Affected { count })),
    }
}

/// Every queue with waiting, scheduled, in-flight and dead counts and the oldest waiting age.
#[utoipa::path(get, path = "/v1/ops/queues", tag = "ops", responses((status = 200, body = QueueList)), security(("bearer" = [])))]
pub async fn list_queues(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<QueueList>> {
    principal.require(&[Role::Ops])?;
    let mut queues = Vec::new();
    for queue in fleet_jobs::queues::ALL {
        queues.push(QueueView::from(state.queues.stats(queue).await?));
    }
    Ok(Json(QueueList { queues }))
}

/// Dead jobs of a queue, oldest first.
#[utoipa::path(get, path = "/v1/ops/queues/{queue}/dead", tag = "ops",
    params(("queue" = String, Path), PageQuery),
    responses((status = 200, body = DeadPage)), security(("bearer" = [])))]
pub async fn list_dead(
    State(state): State<AppState>,
    principal: Principal,
    Path(queue): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<DeadPage>> {
    authorize(&principal, &queue)?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".to_owned(),
        ));
    }
    let jobs = state
        .queues
        .dead(&queue, page.cursor.as_deref(), limit + 1)
        .await?;
    let more = jobs.len() as i64 > limit;
    let items: Vec<JobView> = jobs
        .iter()
        .take(limit as usize)
        .map(JobView::from)
        .collect();
    let next_cursor = if more {
        items.last().map(|j| j.id.clone())
    } else {
        None
    };
    Ok(Json(DeadPage { items, next_cursor }))
}

/// Requeues one dead job with fresh attempts.
#[utoipa::path(post, path = "/v1/ops/queues/{queue}/dead/{id}/retry", tag = "ops",
    params(("queue" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Affected), (status = 404, description = "No such dead job")), security(("bearer" = [])))]
pub async fn retry_dead(
    State(state): State<AppState>,
    principal: Principal,
    Path((queue, id)): Path<(String, String)>,
) -> ApiResult<Json<Affected>> {
    authorize(&principal, &queue)?;
    one_dead(
        state.queues.retry_dead(&queue, Some(&id)).await?,
        &queue,
        &id,
    )
}

/// Requeues every dead job of a queue.
#[utoipa::path(post, path = "/v1/ops/queues/{queue}/dead/retry", tag = "ops",
    params(("queue" = String, Path)), responses((status = 200, body = Affected)), security(("bearer" = [])))]
pub async fn retry_all_dead(
    State(state): State<AppState>,
    principal: Principal,
    Path(queue): Path<String>,
) -> ApiResult<Json<Affected>> {
    authorize(&principal, &queue)?;
    Ok(Json(Affected {
        count: state.queues.retry_dead(&queue, None).await?,
    }))
}

/// Deletes one dead job.
#[utoipa::path(delete, path = "/v1/ops/queues/{queue}/dead/{id}", tag = "ops",
    params(("queue" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Affected), (status = 404, description = "No such dead job")), security(("bearer" = [])))]
pub async fn purge_dead(
    State(state): State<AppState>,
    principal: Principal,
    Path((queue, id)): Path<(String, String)>,
) -> ApiResult<Json<Affected>> {
    authorize(&principal, &queue)?;
    one_dead(
        state.queues.purge_dead(&queue, Some(&id)).await?,
        &queue,
        &id,
    )
}

/// Deletes every dead job of a queue.
#[utoipa::path(delete, path = "/v1/ops/queues/{queue}/dead", tag = "ops",
    params(("queue" = String, Path)), responses((status = 200, body = Affected)), security(("bearer" = [])))]
pub async fn purge_all_dead(
    State(state): State<AppState>,
    principal: Principal,
    Path(queue): Path<String>,
) -> ApiResult<Json<Affected>> {
    authorize(&principal, &queue)?;
    Ok(Json(Affected {
        count: state.queues.purge_dead(&queue, None).await?,
    }))
}
