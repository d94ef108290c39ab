//! Notification events from the marketplace backend: accepted at once (202),
//! fanned out by the notify worker; their delivery counts per channel and state.

use super::{rfc3339, users::valid_id};
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use fleet_jobs::notify::FanoutChunk;
use fleet_shared::{
    db::{api_keys::Role, jobs::NewJob, notify_events::NotifyEvent, now_ms},
    notify::EventType,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `/v1/events` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", post(post_event))
        .route("/v1/events/{id}", get(get_event))
}

/// Who receives an event: exactly one of the fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// These users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_ids: Option<Vec<String>>,
    /// Every follower of this seller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followers_of: Option<String>,
    /// Every user who liked this listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likers_of: Option<String>,
}

/// An event to notify about.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEvent {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The backend's key: posting the same key again notifies nobody twice.
    pub idempotency_key: String,
    /// Who caused it.
    pub actor: Option<String>,
    /// Template data (a JSON object, at most 16 KiB).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// Who receives it.
    pub audience: Audience,
    /// Emails of events with the same key to one user within the digest window
    /// (`notify.digest_window_secs`) go out as one digest; not for transactional types.
    pub digest_key: Option<String>,
}

impl Validate for PostEvent {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.idempotency_key.is_empty() || self.idempotency_key.len() > 255 {
            errors.push(FieldError::new(
                "idempotency_key",
                "must be 1-255 characters",
            ));
        }
        if self.actor.as_deref().is_some_and(|a| !valid_id(a)) {
            errors.push(FieldError::new(
                "actor",
                "must be 1-128 characters without spaces",
            ));
        }
        if serde_json::to_string(&self.data).map_or(true, |s| s.len() > 16 * 1024) {
            errors.push(FieldError::new(
                "data",
                "must be a JSON object of at most 16 KiB",
            ));
        }
        if let Some(key) = &self.digest_key {
            if !valid_id(key) {
                errors.push(FieldError::new(
                    "digest_key",
                    "must be 1-128 characters without spaces",
                ));
            } else if self.kind.is_transactional() {
                errors.push(FieldError::new(
                    "digest_key",
                    "transactional events are sent at once, never in a digest",
                ));
            }
        }
        let a = &self.audience;
        let set = usize::from(a.user_ids.is_some())
            + usize::from(a.followers_of.is_some())
            + usize::from(a.likers_of.is_some());
        if set != 1 {
            errors.push(FieldError::new(
                "audience",
                "must have exactly one of user_ids, followers_of, likers_of",
            ));
        }
        if let Some(ids) = &a.user_ids {
            if ids.is_empty() {
                errors.push(FieldError::new("audience.user_ids", "must not be empty"));
            }
            if let Some(i) = ids.iter().position(|id| !valid_id(id)) {
                errors.push(FieldError::new(
                    format!("audience.user_ids[{i}]"),
                    "must be 1-128 characters without spaces",
                ));
            }
        }
        for (field, v) in [
            ("audience.followers_of", &a.followers_of),
            ("audience.likers_of", &a.likers_of),
        ] {
            if v.as_deref().is_some_and(|v| !valid_id(v)) {
                errors.push(FieldError::new(
                    field,
                    "must be 1-128 characters without spaces",
                ));
            }
        }
        errors
    }
}

/// An accepted event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventAccepted {
    /// Event id.
    pub id: String,
    /// Where to watch its deliveries.
    pub status_url: String,
    /// True when the idempotency key was already used: nothing new was sent.
    pub replayed: bool,
    /// Whether it runs on the priority lane (single-recipient transactional).
    pub priority: bool,
}

/// Accepts an event for fan-out. The same `idempotency_key` again returns the
/// first event and notifies nobody twice.
#[utoipa::path(post, path = "/v1/events", tag = "notifications", request_body = PostEvent,
    responses((status = 202, body = EventAccepted), (status = 403, description = "Not a backend key"),
        (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn post_event(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(mut req): ValidJson<PostEvent>,
) -> ApiResult<(StatusCode, Json<EventAccepted>)> {
    principal.require(&[Role::Backend])?;
    let max = state.config.notify.max_user_ids;
    if let Some(ids) = &mut req.audience.user_ids {
        if ids.len() > max {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "audience.user_ids",
                format!("at most {max} users per event; use followers_of or likers_of for more"),
            )]));
        }
        ids.sort();
        ids.dedup();
    }
    let priority = req.kind.is_transactional()
        && req
            .audience
            .user_ids
            .as_ref()
            .is_some_and(|ids| ids.len() == 1);
    let event = NotifyEvent {
        id: format!("ev_{}", ulid::Ulid::new().to_string().to_lowercase()),
        idempotency_key: req.idempotency_key,
        event_type: req.kind.as_str().to_owned(),
        actor: req.actor,
        data: Value::Object(req.data).to_string(),
        audience: serde_json::to_string(&req.audience).map_err(ApiError::internal)?,
        priority,
        created_at: now_ms(),
        digest_key: req.digest_key,
    };
    let (event, created) = state.db.insert_notify_event(&event).await?;
    // Enqueued on replays too: a crash between the two writes leaves an event
    // without its first chunk, and the job's own key keeps it to one.
    let job = FanoutChunk {
        event_id: event.id.clone(),
        after: None,
        priority: event.priority,
    };
    let max_attempts = state.config.kinds.notify.max_attempts as i32;
    state
        .queues
        .enqueue(vec![
            NewJob::of(&job, max_attempts).map_err(ApiError::internal)?,
        ])
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EventAccepted {
            status_url: format!("{}/v1/events/{}", state.config.public_url(), event.id),
            id: event.id,
            replayed: !created,
            priority: event.priority,
        }),
    ))
}

/// An event and its deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Event id.
    pub id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who caused it.
    pub actor: Option<String>,
    /// Template data.
    #[schema(value_type = Object)]
    pub data: Value,
    /// The audience.
    #[schema(value_type = Object)]
    pub audience: Value,
    /// Whether it ran on the priority lane.
    pub priority: bool,
    /// When it was accepted.
    pub created_at: String,
    /// Per channel: count per state (`queued`, `sent`, `failed`, `suppressed`).
    pub deliveries: BTreeMap<String, BTreeMap<String, i64>>,
    /// Per channel: suppressed and failed deliveries per reason.
    pub reasons: BTreeMap<String, BTreeMap<String, i64>>,
}

/// An event with delivery counts per channel and state.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Event id")),
    responses((status = 200, body = EventView), (status = 404, description = "No such event")),
    security(("bearer" = [])))]
pub async fn get_event(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<EventView>> {
    principal.require(&[Role::Backend, Role::Ops])?;
    let event = state
        .db
        .notify_event(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event `{id}`")))?;
    let mut deliveries: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut reasons: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for c in state.db.delivery_counts(&id).await? {
        *deliveries
            .entry(c.channel.clone())
            .or_default()
            .entry(c.state)
            .or_default() += c.count;
        if let Some(reason) = c.reason {
            *reasons
                .entry(c.channel)
                .or_default()
                .entry(reason)
                .or_default() += c.count;
        }
    }
    Ok(Json(EventView {
        id: event.id,
        kind: event.event_type,
        actor: event.actor,
        data: serde_json::from_str(&event.data).unwrap_or(Value::Null),
        audience: serde_json::from_str(&event.audience).unwrap_or(Value::Null),
        priority: event.priority,
        created_at: rfc3339(event.created_at),
        deliveries,
        reasons,
    }))
}
