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
use fleet_shared::{db::api_keys::Role, queue::OpsReport};
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

impl PageQuery {
    /// The page size and, for pages keyed by a descending row id, the id to read below.
    pub fn limit_and_before(&self) -> ApiResult<(i64, Option<i64>)> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::BadRequest(
                "limit must be between 1 and 500".to_owned(),
            ));
        }
        let before = self
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor `{c}`")))
            })
            .transpose()?;
        Ok((limit, before))
    }
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

/// Every queue's figures (depth, oldest waiting age, rates, durations) and
/// every worker kind's live workers and recommended replicas.
#[utoipa::path(get, path = "/v1/ops/queues", tag = "ops", responses((status = 200, body = OpsReport)), security(("bearer" = [])))]
pub async fn list_queues(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<OpsReport>> {
    principal.require(&[Role::Ops])?;
    Ok(Json(
        fleet_shared::queue::report(&state.queues, &state.config.kinds).await?,
    ))
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
