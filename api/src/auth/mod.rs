//! Who is calling: an API key (seller, backend or ops) or an end user's JWT.

mod jwt;

pub use jwt::{JwtConfigError, JwtVerifier, UserClaims};

use crate::{error::ApiError, state::AppState};
use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};
use fleet_shared::db::api_keys::{ApiKey, Role};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API key.
    Key {
        /// Key id.
        id: String,
        /// Its role.
        role: Role,
        /// The seller a seller key is bound to.
        seller_id: Option<String>,
    },
    /// An end user with a marketplace-issued JWT.
    User(UserClaims),
}

impl Principal {
    /// A stable name for rate limits and idempotency records; never the secret.
    pub fn credential(&self) -> String {
        match self {
            Principal::Key { id, .. } => format!("key:{id}"),
            Principal::User(u) => format!("user:{}", u.sub),
        }
    }

    /// Fails with 403 unless this is an API key of one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        match self {
            Principal::Key { role, .. } if roles.contains(role) => Ok(()),
            _ => Err(ApiError::Forbidden(format!(
                "this needs an API key with role {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
        }
    }

    /// The seller this caller acts for: a seller key's or user's own seller
    /// (naming another is 403), or the seller a backend or ops key names
    /// (`requested`, required: 422 when absent).
    pub fn acting_seller(&self, requested: Option<&str>) -> Result<String, ApiError> {
        let own = match self {
            Principal::Key {
                role: Role::Backend | Role::Ops,
                ..
            } => {
                return match requested {
                    Some(s) if !s.is_empty() && s.len() <= 128 => Ok(s.to_owned()),
                    Some(_) => Err(ApiError::Invalid(vec![crate::error::FieldError::new(
                        "seller_id",
                        "must be 1-128 characters",
                    )])),
                    None => Err(ApiError::Invalid(vec![crate::error::FieldError::new(
                        "seller_id",
                        "required with a backend or ops key: name the seller",
                    )])),
                };
            }
            Principal::Key { seller_id, .. } => seller_id.clone(),
            Principal::User(user) => user.seller_id.clone(),
        };
        let own = own.ok_or_else(|| {
            ApiError::Forbidden("this credential is not bound to a seller".to_owned())
        })?;
        match requested {
            Some(other) if other != own => Err(ApiError::Forbidden(
                "a seller credential acts only for its own seller".to_owned(),
            )),
            _ => Ok(own),
        }
    }

    /// Whether this caller may see a resource owned by `seller` (None: owned by no seller).
    pub fn can_see(&self, seller: Option<&str>) -> bool {
        match self {
            Principal::Key {
                role: Role::Backend | Role::Ops,
                ..
            } => true,
            Principal::Key { seller_id, .. } => seller.is_some() && seller_id.as_deref() == seller,
            Principal::User(user) => seller.is_some() && user.seller_id.as_deref() == seller,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("missing bearer credential".to_owned()))
    }
}

/// How long a looked-up API key is trusted before the database is asked again.
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Authenticates bearer credentials.
#[derive(Debug)]
pub struct Authenticator {
    jwt: JwtVerifier,
    cache: Mutex<HashMap<String, (ApiKey, Instant)>>,
}

impl Authenticator {
    /// Keys from the database, JWTs from `jwt`.
    pub fn new(jwt: JwtVerifier) -> Self {
        Authenticator {
            jwt,
            cache: Mutex::default(),
        }
    }

    /// The caller named by the `Authorization: Bearer …` header.
    pub async fn authenticate(
        &self,
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<Principal, ApiError> {
        let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized(
                "missing `Authorization: Bearer <key or token>` header".to_owned(),
            )
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "the Authorization header must be `Bearer <key or token>`".to_owned(),
                )
            })?;
        if token.split('.').count() == 3 {
            if !self.jwt.is_enabled() {
                return Err(ApiError::Unauthorized(
                    "end-user tokens are not accepted: no JWT key is configured".to_owned(),
                ));
            }
            return self
                .jwt
                .verify(token)
                .map(Principal::User)
                .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")));
        }
        let hash = fleet_shared::db::api_keys::hash_key(token);
        let cached = self.cache.lock().ok().and_then(|c| {
            c.get(&hash)
                .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
                .map(|(k, _)| k.clone())
        });
        let key = match cached {
            Some(key) => key,
            None => {
                let key = state.db.find_api_key(token).await?.ok_or_else(|| {
                    ApiError::Unauthorized("unknown or revoked API key".to_owned())
                })?;
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() > 10_000 {
                        cache.clear();
                    }
                    cache.insert(hash, (key.clone(), Instant::now()));
                }
                key
            }
        };
        Ok(Principal::Key {
            id: key.id,
            role: key.role,
            seller_id: key.seller_id,
        })
    }
}
