//! A seller's category map per marketplace: which Etsy taxonomy id or Amazon
//! product type a Fleet category (and everything under it) exports as, over
//! Fleet's shipped defaults. List, put (a batch, all or none), delete, and
//! resolve one category to see what an export would send and why (an Etsy
//! default names a top-level node of Etsy's taxonomy, whose id is read from
//! Etsy through the seller's connection when there is one).

use super::{
    connections::SellerQuery,
    ops::PageQuery,
    payouts::{page_limit, sealer},
    rfc3339,
};
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
    routing::{delete, get},
};
use fleet_jobs::export::Marketplace;
use fleet_shared::{
    db::export_category_map::CategoryOverride,
    export::{
        category_map::{self, MapError, Source},
        connection,
        etsy::EtsyClient,
    },
    http::{HttpClient, HttpSettings},
    ratelimit::TokenBuckets,
    taxonomy::{GID_PREFIX, Taxonomy},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// `/v1/connections/{marketplace}/category-map` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/connections/{marketplace}/category-map",
            get(list_map).put(put_map),
        )
        .route(
            "/v1/connections/{marketplace}/category-map/resolve",
            get(resolve_category),
        )
        .route(
            "/v1/connections/{marketplace}/category-map/{category}",
            delete(delete_entry),
        )
}

/// Most entries in one put.
pub const MAX_ENTRIES: usize = 500;

/// The marketplace named in the path, if it has a category map (422 otherwise).
fn mapped_marketplace(name: &str) -> ApiResult<Marketplace> {
    let invalid =
        |message: String| ApiError::Invalid(vec![FieldError::new("marketplace", message)]);
    match Marketplace::parse(name) {
        Some(m @ (Marketplace::Etsy | Marketplace::Amazon)) => Ok(m),
        Some(m) => Err(invalid(MapError::NoMap(m).to_string())),
        None => Err(invalid(format!(
            "no marketplace `{name}` with a category map: use etsy or amazon"
        ))),
    }
}

/// One category's mapping to put.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MapEntry {
    /// Category gid (`gid://shopify/TaxonomyCategory/aa-1-13`) or short id (`aa-1-13`); covers its subcategories.
    pub category: String,
    /// Etsy: an id of Etsy's seller taxonomy (a number, or digits as a string).
    #[schema(value_type = Option<u64>)]
    pub taxonomy_id: Option<Value>,
    /// Amazon: a product type (`SHOES`).
    pub product_type: Option<String>,
}

/// Mappings to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMap {
    /// 1-500 entries, stored all or none.
    pub entries: Vec<MapEntry>,
}

impl Validate for PutMap {
    fn validate(&self) -> Vec<FieldError> {
        if self.entries.is_empty() || self.entries.len() > MAX_ENTRIES {
            vec![FieldError::new(
                "entries",
                format!("give 1-{MAX_ENTRIES} entries"),
            )]
        } else {
            Vec::new()
        }
    }
}

impl PutMap {
    /// Each entry as (short category id, target) for `marketplace`; Err names every bad field.
    fn checked(&self, marketplace: Marketplace) -> Result<Vec<(String, String)>, Vec<FieldError>> {
        let (wanted, other) = match marketplace {
            Marketplace::Etsy => ("taxonomy_id", "product_type"),
            _ => ("product_type", "taxonomy_id"),
        };
        let mut errors = Vec::new();
        let mut out = Vec::with_capacity(self.entries.len());
        for (i, entry) in self.entries.iter().enumerate() {
            let at = |field: &str| format!("entries[{i}].{field}");
            let category = category_map::known_category(entry.category.trim())
                .map_err(|e| errors.push(FieldError::new(at("category"), e.to_string())))
                .ok();
            let given = match marketplace {
                Marketplace::Etsy => (entry.taxonomy_id.clone(), entry.product_type.is_some()),
                _ => (
                    entry.product_type.clone().map(Value::String),
                    entry.taxonomy_id.is_some(),
                ),
            };
            if given.1 {
                errors.push(FieldError::new(
                    at(other),
                    format!("not for {marketplace}: give {wanted}"),
                ));
            }
            let target = match given.0 {
                Some(value) => category_map::parse_target(marketplace, &value)
                    .map_err(|e| errors.push(FieldError::new(at(wanted), e.to_string())))
                    .ok(),
                None => {
                    errors.push(FieldError::new(at(wanted), "required"));
                    None
                }
            };
            if let (Some(category), Some(target)) = (category, target) {
                if out.iter().any(|(c, _)| *c == category) {
                    errors.push(FieldError::new(
                        at("category"),
                        "named twice in this request",
                    ));
                }
                out.push((category, target));
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// One mapping of the seller's.
#[derive(Debug, Serialize, ToSchema)]
pub struct MapEntryView {
    /// Category gid.
    pub category: String,
    /// Its path in the taxonomy.
    pub category_path: Option<String>,
    /// Etsy taxonomy id (Etsy's map; for a default, the id Etsy's live taxonomy
    /// has for its name, when the seller's Etsy connection could read it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxonomy_id: Option<u64>,
    /// Etsy: the top-level node of Etsy's seller taxonomy a default names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxonomy_name: Option<String>,
    /// Amazon product type (Amazon's map).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// Created (overrides only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last change (overrides only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl MapEntryView {
    fn new(marketplace: Marketplace, category: &str, target: &str) -> MapEntryView {
        let (taxonomy_id, taxonomy_name, product_type) = match marketplace {
            Marketplace::Etsy => match target.parse() {
                Ok(id) => (Some(id), None, None),
                Err(_) => (None, Some(target.to_owned()), None),
            },
            _ => (None, None, Some(target.to_owned())),
        };
        MapEntryView {
            category: format!("{GID_PREFIX}{category}"),
            category_path: Taxonomy::shipped()
                .get(category)
                .map(|c| c.full_path.clone()),
            taxonomy_id,
            taxonomy_name,
            product_type,
            created_at: None,
            updated_at: None,
        }
    }

    fn stored(marketplace: Marketplace, o: CategoryOverride) -> MapEntryView {
        MapEntryView {
            created_at: Some(rfc3339(o.created_at)),
            updated_at: Some(rfc3339(o.updated_at)),
            ..MapEntryView::new(marketplace, &o.category, &o.target)
        }
    }
}

/// A page of the seller's mappings.
#[derive(Debug, Serialize, ToSchema)]
pub struct MapPage {
    /// The mappings, by category id.
    pub items: Vec<MapEntryView>,
    /// Cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// A page of mappings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MapQuery {
    /// The seller (backend and ops keys only).
    pub seller_id: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The seller's own mappings (not the defaults), by category id.
#[utoipa::path(get, path = "/v1/connections/{marketplace}/category-map", tag = "exports",
    params(("marketplace" = String, Path, description = "etsy or amazon"), MapQuery),
    responses((status = 200, body = MapPage), (status = 422, description = "A marketplace without a category map")),
    security(("bearer" = [])))]
pub async fn list_map(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<MapQuery>,
) -> ApiResult<Json<MapPage>> {
    let marketplace = mapped_marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let limit = page_limit(&PageQuery {
        limit: q.limit,
        cursor: None,
    })?;
    let rows = state
        .db
        .category_overrides(&seller, marketplace, q.cursor.as_deref(), limit + 1)
        .await?;
    let (rows, next_cursor) = super::split_page(rows, limit, |r| r.category.clone());
    Ok(Json(MapPage {
        items: rows
            .into_iter()
            .map(|o| MapEntryView::stored(marketplace, o))
            .collect(),
        next_cursor,
    }))
}

/// Creates or replaces mappings (all or none); a mapping covers the category's subcategories.
#[utoipa::path(put, path = "/v1/connections/{marketplace}/category-map", tag = "exports",
    params(("marketplace" = String, Path, description = "etsy or amazon"), SellerQuery),
    request_body = PutMap,
    responses(
        (status = 200, description = "The stored entries", body = [MapEntryView]),
        (status = 422, description = "Unknown category, a bad Etsy id or Amazon product type (each named), or a marketplace without a map"),
    ),
    security(("bearer" = [])))]
pub async fn put_map(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<SellerQuery>,
    ValidJson(body): ValidJson<PutMap>,
) -> ApiResult<Json<Vec<MapEntryView>>> {
    let marketplace = mapped_marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let entries = body.checked(marketplace).map_err(ApiError::Invalid)?;
    state
        .db
        .put_category_overrides(&seller, marketplace, &entries)
        .await?;
    tracing::info!(%seller, %marketplace, entries = entries.len(), "category map updated");
    Ok(Json(
        entries
            .iter()
            .map(|(category, target)| MapEntryView::new(marketplace, category, target))
            .collect(),
    ))
}

/// Deletes the seller's mapping of one category (gid, URL-encoded, or short id); the default applies again.
#[utoipa::path(delete, path = "/v1/connections/{marketplace}/category-map/{category}", tag = "exports",
    params(("marketplace" = String, Path, description = "etsy or amazon"),
        ("category" = String, Path, description = "Category short id (`aa-1-13`) or URL-encoded gid"), SellerQuery),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such mapping"),
        (status = 422, description = "A marketplace without a category map")),
    security(("bearer" = [])))]
pub async fn delete_entry(
    State(state): State<AppState>,
    principal: Principal,
    Path((name, category)): Path<(String, String)>,
    Query(q): Query<SellerQuery>,
) -> ApiResult<StatusCode> {
    let marketplace = mapped_marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let not_found = || ApiError::NotFound(format!("no {marketplace} mapping of `{category}`"));
    let short = category_map::known_category(&category).map_err(|_| not_found())?;
    if state
        .db
        .delete_category_override(&seller, marketplace, &short)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// The category to resolve.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuery {
    /// The seller (backend and ops keys only).
    pub seller_id: Option<String>,
    /// Category gid or short id.
    pub category: String,
}

/// What one category exports as, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResolvedView {
    /// The mapping that applies.
    #[serde(flatten)]
    pub entry: MapEntryView,
    /// `override` (the seller's) or `default` (Fleet's).
    pub source: String,
    /// The category whose mapping applies: the asked one or an ancestor.
    pub matched: String,
}

/// What an export sends for a category (a listing attribute would still win), and which mapping says so.
#[utoipa::path(get, path = "/v1/connections/{marketplace}/category-map/resolve", tag = "exports",
    params(("marketplace" = String, Path, description = "etsy or amazon"), ResolveQuery),
    responses((status = 200, body = ResolvedView),
        (status = 404, description = "Neither the seller's map nor the defaults cover it"),
        (status = 422, description = "Unknown category, or a marketplace without a map")),
    security(("bearer" = [])))]
pub async fn resolve_category(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<ResolveQuery>,
) -> ApiResult<Json<ResolvedView>> {
    let marketplace = mapped_marketplace(&name)?;
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let short = category_map::known_category(q.category.trim())
        .map_err(|e| ApiError::Invalid(vec![FieldError::new("category", e.to_string())]))?;
    let map = state.db.category_map(&seller, marketplace).await?;
    let resolved = map
        .resolve(None, Some(&short))
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    let matched = match &resolved.source {
        Source::Override(id) | Source::Default(id) => format!("{GID_PREFIX}{id}"),
        Source::Attribute => String::new(),
    };
    let mut entry = MapEntryView::new(marketplace, &short, &resolved.target);
    if let Some(name) = &entry.taxonomy_name {
        entry.taxonomy_id = etsy_top_level(&state, &seller, name).await;
    }
    Ok(Json(ResolvedView {
        entry,
        source: resolved.source.as_str().to_owned(),
        matched,
    }))
}

/// The id Etsy's live seller taxonomy has for the top-level node `name`, read
/// through the seller's Etsy connection (None without one, or when Etsy does
/// not answer or has no such node: the export then says why).
async fn etsy_top_level(state: &AppState, seller: &str, name: &str) -> Option<u64> {
    let (_, fields) = connection::load(&state.db, &sealer(state).ok()?, seller, Marketplace::Etsy)
        .await
        .ok()?;
    let http = HttpClient::new(HttpSettings::default()).ok()?;
    let mut client = EtsyClient::new(
        http,
        &state.config.export,
        &fields,
        Arc::new(TokenBuckets::memory()),
    );
    match client.seller_taxonomy().await {
        Ok(taxonomy) => taxonomy.top_level(name),
        Err(err) => {
            tracing::warn!(error = %err, "Etsy's seller taxonomy could not be read");
            None
        }
    }
}
