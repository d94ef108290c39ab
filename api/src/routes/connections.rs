//! Sellers' marketplace connections: put the credentials a marketplace needs
//! (secret fields sealed at rest and never shown again), read the non-secret
//! part and status, test them against the marketplace, delete.

use super::{payouts::sealer, rfc3339};
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post},
};
use fleet_jobs::export::Marketplace;
use fleet_shared::{
    db::exports::ConnectionRecord,
    export::{
        amazon::{AmazonClient, AmazonCredentials, AmazonError},
        connection::{self, ConnectionError},
        etsy::{EtsyClient, EtsyError},
        shopify::{ShopifyClient, ShopifyError},
    },
    http::{HttpClient, HttpSettings},
    ratelimit::TokenBuckets,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// `/v1/connections` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/connections/{marketplace}",
            get(get_connection)
                .put(put_connection)
                .delete(delete_connection),
        )
        .route("/v1/connections/{marketplace}/test", post(test_connection))
}

/// Names the seller for backend and ops keys.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SellerQuery {
    /// The seller (backend and ops keys only).
    pub seller_id: Option<String>,
}

/// The fields of a connection, checked per marketplace by the handler.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct ConnectionBody(Map<String, Value>);

impl Validate for ConnectionBody {
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// A connection as shown: never its secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// `shopify`, `etsy` or `amazon`.
    pub marketplace: String,
    /// Owning seller.
    pub seller_id: String,
    /// The non-secret fields (shop domain, shop id, marketplace ids).
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// `untested`, `ok`, `unauthorized` or `unreachable`.
    pub status: String,
    /// What the last test or export found.
    pub status_message: Option<String>,
    /// When it was last tested.
    pub tested_at: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl From<ConnectionRecord> for ConnectionView {
    fn from(r: ConnectionRecord) -> Self {
        ConnectionView {
            marketplace: r.marketplace.as_str().to_owned(),
            seller_id: r.seller_id,
            settings: r.settings,
            status: r.status,
            status_message: r.status_message,
            tested_at: r.tested_at.map(rfc3339),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// The marketplace named in the path.
pub(crate) fn marketplace(name: &str) -> ApiResult<Marketplace> {
    Marketplace::parse(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no marketplace `{name}`: use shopify, etsy or amazon"
        ))
    })
}

/// Creates or replaces a connection; its status becomes `untested`.
#[utoipa::path(put, path = "/v1/connections/{marketplace}", tag = "exports",
    params(("marketplace" = String, Path, description = "shopify, etsy or amazon"), SellerQuery),
    request_body(content = Object, description = "Shopify: shop_domain, access_token, location_id?. Etsy: keystring, shared_secret, access_token, refresh_token, shop_id, shipping_profile_id, when_made? (the default of listings without etsy_when_made). Amazon: lwa_client_id, lwa_client_secret, refresh_token, seller_id, marketplace_ids (known SP-API ids of one region), region? (default: the marketplaces' region)"),
    responses(
        (status = 200, body = ConnectionView),
        (status = 404, description = "Unknown marketplace"),
        (status = 422, description = "Missing or invalid fields, each named"),
    ),
    security(("bearer" = [])))]
pub async fn put_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<SellerQuery>,
    ValidJson(ConnectionBody(body)): ValidJson<ConnectionBody>,
) -> ApiResult<Json<ConnectionView>> {
    let marketplace = marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let fields = connection::parse(marketplace, &body).map_err(|errors| {
        ApiError::Invalid(
            errors
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )
    })?;
    let record =
        connection::store(&state.db, &sealer(&state)?, &seller, marketplace, &fields).await?;
    tracing::info!(%seller, %marketplace, "marketplace connection stored");
    Ok(Json(record.into()))
}

async fn stored(
    state: &AppState,
    seller: &str,
    marketplace: Marketplace,
) -> ApiResult<ConnectionRecord> {
    state
        .db
        .connection(seller, marketplace)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no {marketplace} connection: create it with PUT /v1/connections/{marketplace}"
            ))
        })
}

/// The connection's non-secret fields and status.
#[utoipa::path(get, path = "/v1/connections/{marketplace}", tag = "exports",
    params(("marketplace" = String, Path, description = "shopify, etsy or amazon"), SellerQuery),
    responses((status = 200, body = ConnectionView), (status = 404, description = "No such connection")),
    security(("bearer" = [])))]
pub async fn get_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<SellerQuery>,
) -> ApiResult<Json<ConnectionView>> {
    let marketplace = marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    Ok(Json(stored(&state, &seller, marketplace).await?.into()))
}

/// Deletes the connection and its sealed credentials.
#[utoipa::path(delete, path = "/v1/connections/{marketplace}", tag = "exports",
    params(("marketplace" = String, Path, description = "shopify, etsy or amazon"), SellerQuery),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such connection")),
    security(("bearer" = [])))]
pub async fn delete_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<SellerQuery>,
) -> ApiResult<StatusCode> {
    let marketplace = marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    if state.db.delete_connection(&seller, marketplace).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no {marketplace} connection")))
    }
}

/// Checks the credentials against the marketplace and records the outcome as the connection's status.
#[utoipa::path(post, path = "/v1/connections/{marketplace}/test", tag = "exports",
    params(("marketplace" = String, Path, description = "shopify, etsy or amazon"), SellerQuery),
    responses(
        (status = 200, description = "Tested: `status` says how it went", body = ConnectionView),
        (status = 404, description = "No such connection"),
    ),
    security(("bearer" = [])))]
pub async fn test_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<SellerQuery>,
) -> ApiResult<Json<ConnectionView>> {
    let marketplace = marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let (_, fields) = match connection::load(&state.db, &sealer(&state)?, &seller, marketplace)
        .await
    {
        Ok(loaded) => loaded,
        Err(ConnectionError::Db(e)) => return Err(e.into()),
        Err(e @ ConnectionError::Missing { .. }) => return Err(ApiError::NotFound(e.to_string())),
        Err(e @ ConnectionError::Sealed { .. }) => return Err(ApiError::Conflict(e.to_string())),
    };
    let http = HttpClient::new(HttpSettings::default()).map_err(ApiError::internal)?;
    let (status, message) = match marketplace {
        Marketplace::Shopify => {
            let mut client = ShopifyClient::new(
                http,
                &state.config.export,
                fields.setting("shop_domain").unwrap_or_default(),
                fields.secret("access_token"),
                Arc::new(TokenBuckets::memory()),
            );
            match client.shop().await {
                Ok(shop) => (
                    "ok",
                    format!("connected to {} (sells in {})", shop.name, shop.currency),
                ),
                Err(e @ ShopifyError::Unauthorized(_)) => ("unauthorized", e.to_string()),
                Err(e) => ("unreachable", e.to_string()),
            }
        }
        Marketplace::Amazon => {
            let mut client = AmazonClient::new(
                http,
                &state.config.export,
                AmazonCredentials::of(&fields),
                Arc::new(TokenBuckets::memory()),
            );
            match client.access_token().await {
                Ok(_) => ("ok", "Login with Amazon issued an access token".to_owned()),
                Err(e @ AmazonError::Unauthorized(_)) => ("unauthorized", e.to_string()),
                Err(e) => ("unreachable", e.to_string()),
            }
        }
        Marketplace::Etsy => {
            let mut client = EtsyClient::new(
                http,
                &state.config.export,
                &fields,
                Arc::new(TokenBuckets::memory()),
            );
            let answer = client.shop().await;
            if let Some(tokens) = client.take_refreshed() {
                let mut fields = fields.clone();
                tokens
                    .store(&state.db, &sealer(&state)?, &seller, &mut fields)
                    .await?;
            }
            match answer {
                Ok(shop) => ("ok", format!("connected to the Etsy shop {shop}")),
                Err(e @ EtsyError::Unauthorized(_)) => ("unauthorized", e.to_string()),
                Err(e) => ("unreachable", e.to_string()),
            }
        }
    };
    state
        .db
        .set_connection_status(&seller, marketplace, status, Some(&message))
        .await?;
    Ok(Json(stored(&state, &seller, marketplace).await?.into()))
}
