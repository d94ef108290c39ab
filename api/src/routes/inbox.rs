//! A user's in-app inbox: newest first with a cursor, unread count, mark read.
//! A user token reaches only its own inbox.

use super::{ops::PageQuery, rfc3339, users::authorize_user};
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::{get, post},
};
use fleet_shared::db::notify_events::InboxItem;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// `/v1/users/{id}/inbox` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/users/{id}/inbox", get(list))
        .route("/v1/users/{id}/inbox/unread-count", get(unread))
        .route("/v1/users/{id}/inbox/read-all", post(read_all))
        .route("/v1/users/{id}/inbox/{item}/read", post(read_one))
}

/// One inbox notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxItemView {
    /// Id.
    pub id: String,
    /// The event.
    pub event_id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Title in the user's language.
    pub title: String,
    /// Body in the user's language.
    pub body: String,
    /// The event's data.
    #[schema(value_type = Object)]
    pub data: Value,
    /// When it arrived.
    pub created_at: String,
    /// When it was read, if it was.
    pub read_at: Option<String>,
}

impl From<InboxItem> for InboxItemView {
    fn from(i: InboxItem) -> Self {
        InboxItemView {
            id: i.id.to_string(),
            event_id: i.event_id,
            kind: i.event_type,
            title: i.title,
            body: i.body,
            data: serde_json::from_str(&i.data).unwrap_or(Value::Null),
            created_at: rfc3339(i.created_at),
            read_at: i.read_at.map(rfc3339),
        }
    }
}

/// A page of the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    /// Newest first.
    pub items: Vec<InboxItemView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// Unread notifications in the whole inbox.
    pub unread: i64,
}

/// The unread count.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    /// Unread notifications.
    pub unread: i64,
}

/// A user's inbox, newest first.
#[utoipa::path(get, path = "/v1/users/{id}/inbox", tag = "notifications",
    params(("id" = String, Path, description = "User id"), PageQuery),
    responses((status = 200, body = InboxPage), (status = 400, description = "Bad limit or cursor"),
        (status = 403, description = "Another user's inbox")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<InboxPage>> {
    authorize_user(&principal, &id)?;
    let (limit, before) = page.limit_and_before()?;
    let rows = state.db.inbox(&id, before, limit + 1, false).await?;
    let (rows, next_cursor) = super::split_page(rows, limit, |i| i.id.to_string());
    let items = rows.into_iter().map(InboxItemView::from).collect();
    let unread = state.db.unread_count(&id).await?;
    Ok(Json(InboxPage {
        items,
        next_cursor,
        unread,
    }))
}

/// How many inbox notifications are unread.
#[utoipa::path(get, path = "/v1/users/{id}/inbox/unread-count", tag = "notifications",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UnreadCount), (status = 403, description = "Another user's inbox")),
    security(("bearer" = [])))]
pub async fn unread(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<UnreadCount>> {
    authorize_user(&principal, &id)?;
    Ok(Json(UnreadCount {
        unread: state.db.unread_count(&id).await?,
    }))
}

/// Marks one notification read.
#[utoipa::path(post, path = "/v1/users/{id}/inbox/{item}/read", tag = "notifications",
    params(("id" = String, Path, description = "User id"), ("item" = String, Path, description = "Inbox item id")),
    responses((status = 200, body = UnreadCount), (status = 404, description = "No such item in this inbox")),
    security(("bearer" = [])))]
pub async fn read_one(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, item)): Path<(String, String)>,
) -> ApiResult<Json<UnreadCount>> {
    authorize_user(&principal, &id)?;
    let found = match item.parse::<i64>() {
        Ok(n) => state.db.mark_read(&id, n).await?,
        Err(_) => false,
    };
    if !found {
        return Err(ApiError::NotFound(format!("no inbox item `{item}`")));
    }
    Ok(Json(UnreadCount {
        unread: state.db.unread_count(&id).await?,
    }))
}

/// Marks every notification read.
#[utoipa::path(post, path = "/v1/users/{id}/inbox/read-all", tag = "notifications",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UnreadCount), (status = 403, description = "Another user's inbox")),
    security(("bearer" = [])))]
pub async fn read_all(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<UnreadCount>> {
    authorize_user(&principal, &id)?;
    state.db.mark_all_read(&id).await?;
    Ok(Json(UnreadCount { unread: 0 }))
}
