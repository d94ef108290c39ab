//! Webhook endpoints of backend subscribers (backend and ops keys): create
//! one (its `whsec_` secret is shown once, then kept sealed), list, read,
//! change or re-enable, delete, and read its delivery log. Deliveries are
//! signed as Standard Webhooks by the notify worker.

use super::{ops::PageQuery, payouts::sealer, rfc3339};
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate, invalid_http_url},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use fleet_shared::{
    db::{
        api_keys::Role,
        notify::{WebhookAttempt, WebhookEndpoint},
    },
    notify::{EventType, WEBHOOK_SECRET_PREFIX as SECRET_PREFIX},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `/v1/webhook-endpoints` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/webhook-endpoints",
            get(list_endpoints).post(create_endpoint),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            get(get_endpoint)
                .patch(update_endpoint)
                .delete(delete_endpoint),
        )
        .route("/v1/webhook-endpoints/{id}/attempts", get(list_attempts))
}

fn event_type_errors(types: &[String], errors: &mut Vec<FieldError>) {
    for (i, t) in types.iter().enumerate() {
        if let Err(e) = t.parse::<EventType>() {
            errors.push(FieldError::new(format!("event_types[{i}]"), e.to_string()));
        }
    }
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where deliveries are POSTed.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Event types to deliver; absent or empty means all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// A `whsec_` secret of 24-64 random bytes (base64); one is made when absent.
    pub secret: Option<String>,
}

impl Validate for NewEndpoint {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        errors.extend(invalid_http_url("url", &self.url));
        event_type_errors(&self.event_types, &mut errors);
        if let Some(secret) = &self.secret {
            let bytes = secret
                .strip_prefix(SECRET_PREFIX)
                .and_then(|b| STANDARD.decode(b).ok());
            if !bytes.is_some_and(|b| (24..=64).contains(&b.len())) {
                errors.push(FieldError::new(
                    "secret",
                    "must be whsec_ followed by 24-64 bytes in base64",
                ));
            }
        }
        errors
    }
}

/// Changes to an endpoint; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    /// Where deliveries are POSTed.
    pub url: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Event types to deliver; empty means all.
    pub event_types: Option<Vec<String>>,
    /// False pauses deliveries; true (re-)enables the endpoint and clears its failure record.
    pub enabled: Option<bool>,
}

impl Validate for EndpointPatch {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(url) = &self.url {
            errors.extend(invalid_http_url("url", url));
        }
        if let Some(types) = &self.event_types {
            event_type_errors(types, &mut errors);
        }
        errors
    }
}

/// An endpoint as shown: never its secret, except once at creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// Id (`we_…`).
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Event types delivered; empty means all.
    pub event_types: Vec<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Why it was disabled (a run of failures, or by request).
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed, if it is failing.
    pub failing_since: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// The signing secret: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<WebhookEndpoint> for EndpointView {
    fn from(e: WebhookEndpoint) -> Self {
        EndpointView {
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            status: e.status,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since.map(rfc3339),
            created_at: rfc3339(e.created_at),
            secret: None,
        }
    }
}

/// Every endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    /// Oldest first.
    pub items: Vec<EndpointView>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// Log id.
    pub id: String,
    /// The event.
    pub event_id: String,
    /// The `webhook-id` sent.
    pub message_id: String,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// HTTP status of the answer, if one came.
    pub status_code: Option<i32>,
    /// What failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
    /// When.
    pub created_at: String,
}

impl From<WebhookAttempt> for AttemptView {
    fn from(a: WebhookAttempt) -> Self {
        AttemptView {
            id: a.id.to_string(),
            event_id: a.event_id,
            message_id: a.message_id,
            attempt: a.attempt,
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
            created_at: rfc3339(a.created_at),
        }
    }
}

/// A page of an endpoint's delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptPage {
    /// Newest first.
    pub items: Vec<AttemptView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

async fn endpoint(state: &AppState, id: &str) -> ApiResult<WebhookEndpoint> {
    state
        .db
        .webhook_endpoint(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook endpoint `{id}`")))
}

/// Creates an endpoint; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "notifications",
    request_body = NewEndpoint,
    responses((status = 201, body = EndpointView), (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<NewEndpoint>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    principal.require(&[Role::Backend, Role::Ops])?;
    let id = format!("we_{}", ulid::Ulid::new().to_string().to_lowercase());
    let secret = req.secret.unwrap_or_else(|| {
        let bytes: [u8; 32] = rand::random();
        format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
    });
    let mut event_types = req.event_types;
    event_types.sort();
    event_types.dedup();
    let endpoint = WebhookEndpoint {
        secret_sealed: sealer(&state)?.seal(&id, secret.as_bytes()),
        id,
        url: req.url,
        description: req.description,
        event_types,
        status: "enabled".to_owned(),
        disabled_reason: None,
        failing_since: None,
        created_at: fleet_shared::db::now_ms(),
    };
    state.db.insert_webhook_endpoint(&endpoint).await?;
    let mut view = EndpointView::from(endpoint);
    view.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every endpoint, with its status.
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "notifications",
    responses((status = 200, body = EndpointList)),
    security(("bearer" = [])))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<EndpointList>> {
    principal.require(&[Role::Backend, Role::Ops])?;
    let items = state
        .db
        .webhook_endpoints()
        .await?
        .into_iter()
        .map(EndpointView::from)
        .collect();
    Ok(Json(EndpointList { items }))
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 200, body = EndpointView), (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    principal.require(&[Role::Backend, Role::Ops])?;
    Ok(Json(endpoint(&state, &id).await?.into()))
}

/// Changes an endpoint; `enabled: true` re-enables one that was disabled.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Endpoint id")), request_body = EndpointPatch,
    responses((status = 200, body = EndpointView), (status = 404, description = "No such endpoint"),
        (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(patch): ValidJson<EndpointPatch>,
) -> ApiResult<Json<EndpointView>> {
    principal.require(&[Role::Backend, Role::Ops])?;
    let mut e = endpoint(&state, &id).await?;
    if let Some(url) = patch.url {
        e.url = url;
    }
    if let Some(description) = patch.description {
        e.description = Some(description);
    }
    if let Some(mut types) = patch.event_types {
        types.sort();
        types.dedup();
        e.event_types = types;
    }
    if let Some(enabled) = patch.enabled {
        e.status = if enabled { "enabled" } else { "disabled" }.to_owned();
    }
    state.db.update_webhook_endpoint(&e).await?;
    Ok(Json(endpoint(&state, &id).await?.into()))
}

/// Deletes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(&[Role::Backend, Role::Ops])?;
    if state.db.delete_webhook_endpoint(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no webhook endpoint `{id}`")))
    }
}

/// An endpoint's delivery attempts, newest first.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/attempts", tag = "notifications",
    params(("id" = String, Path, description = "Endpoint id"), PageQuery),
    responses((status = 200, body = AttemptPage), (status = 400, description = "Bad limit or cursor"),
        (status = 404, description = "No such endpoint")),
    security(("bearer" = [])))]
pub async fn list_attempts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<AttemptPage>> {
    principal.require(&[Role::Backend, Role::Ops])?;
    let (limit, before) = page.limit_and_before()?;
    endpoint(&state, &id).await?;
    let rows = state.db.webhook_log(&id, before, limit + 1).await?;
    let (rows, next_cursor) = super::split_page(rows, limit, |a| a.id.to_string());
    let items = rows.into_iter().map(AttemptView::from).collect();
    Ok(Json(AttemptPage { items, next_cursor }))
}
