//! Notification recipients: batch upserts of users, follows and likes (backend
//! keys), a user's push subscriptions and preferences (backend keys, or the
//! user's own JWT).

use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate, invalid_http_url},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use fleet_shared::{
    db::{
        api_keys::Role,
        notify::{Edge, NotifyUser, Preference, PushSubscription},
    },
    notify::{Category, Channel},
    vapid::VapidKey,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// `/v1/users`, `/v1/follows` and `/v1/likes` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/users", post(upsert_users))
        .route(
            "/v1/users/{id}/push-subscriptions",
            post(add_push_subscription),
        )
        .route(
            "/v1/users/{id}/preferences",
            get(get_preferences).put(put_preferences),
        )
        .route("/v1/push/vapid-public-key", get(vapid_public_key))
        .route("/v1/follows", post(upsert_follows))
        .route("/v1/likes", post(upsert_likes))
}

/// Most items in one batch request.
pub const MAX_BATCH: usize = 5_000;

/// Fails with 403 unless the caller is a backend or ops key, or the user `id` itself.
pub(crate) fn authorize_user(principal: &Principal, id: &str) -> ApiResult<()> {
    match principal {
        Principal::Key {
            role: Role::Backend | Role::Ops,
            ..
        } => Ok(()),
        Principal::User(user) if user.sub == id => Ok(()),
        Principal::User(_) => Err(ApiError::Forbidden(
            "a user token may only reach its own notifications".to_owned(),
        )),
        Principal::Key { .. } => Err(ApiError::Forbidden(
            "this needs a backend API key or the user's own token".to_owned(),
        )),
    }
}

/// Whether `id` is usable as a user, seller or listing id.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

const ID_RULE: &str = "must be 1-128 characters without spaces or control characters";

/// Quiet hours in the user's time zone; the window may wrap midnight (22:00-07:00).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, local time.
    pub start: String,
    /// `HH:MM`, local time.
    pub end: String,
}

fn minutes(hhmm: &str) -> Option<i32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// One user to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// The marketplace's user id.
    pub id: String,
    /// Email address; absent means no email.
    pub email: Option<String>,
    /// BCP 47 language tag (default `en`).
    pub locale: Option<String>,
    /// IANA time zone (default `UTC`).
    pub time_zone: Option<String>,
    /// Quiet hours; push and email wait until they end.
    pub quiet_hours: Option<QuietHours>,
}

/// A batch of users.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertUsers {
    /// Up to 5,000 users.
    pub users: Vec<UserInput>,
}

fn valid_locale(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 35
        && l.split('-')
            .all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl Validate for UpsertUsers {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.users.is_empty() || self.users.len() > MAX_BATCH {
            errors.push(FieldError::new(
                "users",
                format!("must hold 1-{MAX_BATCH} users"),
            ));
        }
        for (i, u) in self.users.iter().enumerate() {
            let field = |f: &str| format!("users[{i}].{f}");
            if !valid_id(&u.id) {
                errors.push(FieldError::new(field("id"), ID_RULE));
            }
            if let Some(email) = &u.email
                && (email.len() > 254
                    || email.split('@').count() != 2
                    || email.chars().any(char::is_whitespace))
            {
                errors.push(FieldError::new(field("email"), "must be an email address"));
            }
            if let Some(l) = &u.locale
                && !valid_locale(l)
            {
                errors.push(FieldError::new(
                    field("locale"),
                    "must be a BCP 47 tag like `fr` or `pt-BR`",
                ));
            }
            if let Some(tz) = &u.time_zone
                && tz.parse::<chrono_tz::Tz>().is_err()
            {
                errors.push(FieldError::new(
                    field("time_zone"),
                    "must be an IANA time zone like `Europe/Paris`",
                ));
            }
            if let Some(q) = &u.quiet_hours {
                match (minutes(&q.start), minutes(&q.end)) {
                    (Some(s), Some(e)) if s != e => {}
                    _ => errors.push(FieldError::new(
                        field("quiet_hours"),
                        "start and end must be different `HH:MM` times",
                    )),
                }
            }
        }
        errors
    }
}

/// How many items a batch wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// Items accepted.
    pub accepted: usize,
}

/// Creates or replaces users (backend keys).
#[utoipa::path(post, path = "/v1/users", tag = "notifications", request_body = UpsertUsers,
    responses((status = 200, body = BatchResult), (status = 403, description = "Not a backend key"),
        (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn upsert_users(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<UpsertUsers>,
) -> ApiResult<Json<BatchResult>> {
    principal.require(&[Role::Backend])?;
    let users: Vec<NotifyUser> = req
        .users
        .into_iter()
        .map(|u| NotifyUser {
            id: u.id,
            email: u.email,
            locale: u.locale.unwrap_or_else(|| "en".to_owned()),
            time_zone: u.time_zone.unwrap_or_else(|| "UTC".to_owned()),
            quiet_hours: u
                .quiet_hours
                .and_then(|q| minutes(&q.start).zip(minutes(&q.end))),
        })
        .collect();
    state.db.upsert_notify_users(&users).await?;
    Ok(Json(BatchResult {
        accepted: users.len(),
    }))
}

/// The keys of a Web Push subscription.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushKeys {
    /// The user agent's P-256 public key (base64url).
    pub p256dh: String,
    /// The authentication secret (base64url).
    pub auth: String,
}

/// A Web Push subscription (`PushSubscription.toJSON()`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushSubscriptionInput {
    /// The push service URL.
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
}

fn base64url(s: &str, len: usize) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .is_ok_and(|b| b.len() == len)
}

impl Validate for PushSubscriptionInput {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        errors.extend(invalid_http_url("endpoint", &self.endpoint));
        if !base64url(&self.keys.p256dh, 65) {
            errors.push(FieldError::new(
                "keys.p256dh",
                "must be an uncompressed P-256 point (65 bytes, base64url)",
            ));
        }
        if !base64url(&self.keys.auth, 16) {
            errors.push(FieldError::new("keys.auth", "must be 16 bytes, base64url"));
        }
        errors
    }
}

/// A stored push subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushSubscriptionView {
    /// Id.
    pub id: String,
    /// The push service URL.
    pub endpoint: String,
}

/// Adds a Web Push subscription to a user (replacing one with the same endpoint).
#[utoipa::path(post, path = "/v1/users/{id}/push-subscriptions", tag = "notifications",
    params(("id" = String, Path, description = "User id")), request_body = PushSubscriptionInput,
    responses((status = 201, body = PushSubscriptionView), (status = 404, description = "No such user"),
        (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn add_push_subscription(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(req): ValidJson<PushSubscriptionInput>,
) -> ApiResult<(StatusCode, Json<PushSubscriptionView>)> {
    authorize_user(&principal, &id)?;
    if state.db.notify_user(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user `{id}`")));
    }
    let sub = PushSubscription {
        id: format!(
            "ps_{}",
            &hex::encode(Sha256::digest(req.endpoint.as_bytes()))[..32]
        ),
        user_id: id,
        endpoint: req.endpoint,
        p256dh: req.keys.p256dh,
        auth: req.keys.auth,
    };
    state.db.upsert_push_subscription(&sub).await?;
    Ok((
        StatusCode::CREATED,
        Json(PushSubscriptionView {
            id: sub.id,
            endpoint: sub.endpoint,
        }),
    ))
}

/// The key browsers subscribe with.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidPublicKey {
    /// The VAPID public key (uncompressed P-256 point, base64url): pass it as
    /// `applicationServerKey` to `PushManager.subscribe()`.
    pub public_key: String,
}

/// The VAPID public key push subscriptions must be made with.
#[utoipa::path(get, path = "/v1/push/vapid-public-key", tag = "notifications",
    responses((status = 200, body = VapidPublicKey)),
    security(("bearer" = [])))]
pub async fn vapid_public_key(
    State(state): State<AppState>,
    _principal: Principal,
) -> ApiResult<Json<VapidPublicKey>> {
    let key = VapidKey::from_config(&state.config).map_err(ApiError::internal)?;
    Ok(Json(VapidPublicKey {
        public_key: key.public_key(),
    }))
}

/// One category on one channel.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceView {
    /// The category.
    pub category: Category,
    /// `inbox`, `email` or `push`.
    pub channel: Channel,
    /// Whether notifications are delivered.
    pub enabled: bool,
    /// False for transactional categories (always on). Ignored on input.
    #[serde(default = "yes")]
    pub mutable: bool,
}

fn yes() -> bool {
    true
}

/// A user's preferences: every category x channel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    /// Every category x user channel (on input: only those to change).
    pub preferences: Vec<PreferenceView>,
}

impl Validate for Preferences {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (i, p) in self.preferences.iter().enumerate() {
            if !Channel::USER.contains(&p.channel) {
                errors.push(FieldError::new(
                    format!("preferences[{i}].channel"),
                    "must be inbox, email or push",
                ));
            }
            if !p.category.is_mutable() && !p.enabled {
                errors.push(FieldError::new(
                    format!("preferences[{i}].enabled"),
                    format!("{} notifications cannot be muted", p.category.as_str()),
                ));
            }
        }
        errors
    }
}

async fn preferences_of(state: &AppState, id: &str) -> ApiResult<Preferences> {
    let stored = state.db.preferences(id).await?;
    let mut preferences = Vec::new();
    for category in Category::ALL {
        for channel in Channel::USER {
            let enabled = !category.is_mutable()
                || stored
                    .iter()
                    .find(|p| p.category == category && p.channel == channel)
                    .is_none_or(|p| p.enabled);
            preferences.push(PreferenceView {
                category,
                channel,
                enabled,
                mutable: category.is_mutable(),
            });
        }
    }
    Ok(Preferences { preferences })
}

/// A user's preferences per category and channel.
#[utoipa::path(get, path = "/v1/users/{id}/preferences", tag = "notifications",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = Preferences), (status = 403, description = "Another user's")),
    security(("bearer" = [])))]
pub async fn get_preferences(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Preferences>> {
    authorize_user(&principal, &id)?;
    Ok(Json(preferences_of(&state, &id).await?))
}

/// Changes some of a user's preferences; transactional categories cannot be muted (422).
#[utoipa::path(put, path = "/v1/users/{id}/preferences", tag = "notifications",
    params(("id" = String, Path, description = "User id")), request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 403, description = "Another user's"),
        (status = 422, description = "Invalid fields, or a transactional category muted")),
    security(("bearer" = [])))]
pub async fn put_preferences(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(req): ValidJson<Preferences>,
) -> ApiResult<Json<Preferences>> {
    authorize_user(&principal, &id)?;
    let prefs: Vec<Preference> = req
        .preferences
        .iter()
        .map(|p| Preference {
            category: p.category,
            channel: p.channel,
            enabled: p.enabled,
        })
        .collect();
    state.db.set_preferences(&id, &prefs).await?;
    Ok(Json(preferences_of(&state, &id).await?))
}

/// One follow: `following: false` removes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowInput {
    /// The follower.
    pub user_id: String,
    /// The seller followed.
    pub seller_id: String,
    /// Default true.
    #[serde(default = "yes")]
    pub following: bool,
}

/// A batch of follows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertFollows {
    /// Up to 5,000 follows.
    pub follows: Vec<FollowInput>,
}

fn check_edges<'a>(
    errors: &mut Vec<FieldError>,
    list: &str,
    target: &str,
    edges: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    if edges.len() == 0 || edges.len() > MAX_BATCH {
        errors.push(FieldError::new(
            list,
            format!("must hold 1-{MAX_BATCH} items"),
        ));
    }
    for (i, (user, t)) in edges.enumerate() {
        if !valid_id(user) {
            errors.push(FieldError::new(format!("{list}[{i}].user_id"), ID_RULE));
        }
        if !valid_id(t) {
            errors.push(FieldError::new(format!("{list}[{i}].{target}"), ID_RULE));
        }
    }
}

impl Validate for UpsertFollows {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_edges(
            &mut errors,
            "follows",
            "seller_id",
            self.follows
                .iter()
                .map(|f| (f.user_id.as_str(), f.seller_id.as_str())),
        );
        errors
    }
}

/// Adds and removes follows (backend keys).
#[utoipa::path(post, path = "/v1/follows", tag = "notifications", request_body = UpsertFollows,
    responses((status = 200, body = BatchResult), (status = 403, description = "Not a backend key"),
        (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn upsert_follows(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<UpsertFollows>,
) -> ApiResult<Json<BatchResult>> {
    principal.require(&[Role::Backend])?;
    let edges: Vec<Edge> = req
        .follows
        .into_iter()
        .map(|f| Edge {
            user_id: f.user_id,
            target: f.seller_id,
            present: f.following,
        })
        .collect();
    state.db.apply_edges(false, &edges).await?;
    Ok(Json(BatchResult {
        accepted: edges.len(),
    }))
}

/// One like: `liked: false` removes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LikeInput {
    /// The user.
    pub user_id: String,
    /// The listing liked.
    pub listing_id: String,
    /// Default true.
    #[serde(default = "yes")]
    pub liked: bool,
}

/// A batch of likes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertLikes {
    /// Up to 5,000 likes.
    pub likes: Vec<LikeInput>,
}

impl Validate for UpsertLikes {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_edges(
            &mut errors,
            "likes",
            "listing_id",
            self.likes
                .iter()
                .map(|l| (l.user_id.as_str(), l.listing_id.as_str())),
        );
        errors
    }
}

/// Adds and removes likes (backend keys).
#[utoipa::path(post, path = "/v1/likes", tag = "notifications", request_body = UpsertLikes,
    responses((status = 200, body = BatchResult), (status = 403, description = "Not a backend key"),
        (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn upsert_likes(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<UpsertLikes>,
) -> ApiResult<Json<BatchResult>> {
    principal.require(&[Role::Backend])?;
    let edges: Vec<Edge> = req
        .likes
        .into_iter()
        .map(|l| Edge {
            user_id: l.user_id,
            target: l.listing_id,
            present: l.liked,
        })
        .collect();
    state.db.apply_edges(true, &edges).await?;
    Ok(Json(BatchResult {
        accepted: edges.len(),
    }))
}
