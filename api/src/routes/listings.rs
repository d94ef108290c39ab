//! The sellers' catalogue: batch upsert by SKU, cursor-paginated listing with
//! filters, and single get, update and delete. A seller credential sees only
//! its own listings; backend and ops keys name the seller.

use super::rfc3339;
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate, batch_item},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post},
};
use fleet_shared::{
    db::listings::{
        CategoryChange, CategorySource, Condition, ListingFilter, ListingRecord, ListingWrite,
        is_unique_violation,
    },
    ledger::Currency,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// `/v1/listings` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/listings:batch", post(batch_upsert))
        .route("/v1/listings", get(list))
        .route(
            "/v1/listings/{id}",
            get(get_listing)
                .patch(update_listing)
                .delete(delete_listing),
        )
}

/// Most listings in one batch request.
pub const MAX_BATCH: usize = 1_000;
/// Largest price accepted, in minor units.
pub const MAX_PRICE: i64 = 1_000_000_000_000;
/// Most units in stock.
pub const MAX_QUANTITY: i64 = 1_000_000;
/// Most photos per listing.
pub const MAX_IMAGES: usize = 50;
/// Longest title, in characters (each marketplace has its own, smaller limit, checked at export).
pub const MAX_TITLE: usize = 1_000;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 100_000;
/// Most free attributes.
pub const MAX_ATTRIBUTES: usize = 100;
/// Prefix of a Shopify taxonomy category gid.
pub const CATEGORY_PREFIX: &str = "gid://shopify/TaxonomyCategory/";

/// Absent stays `None`; `null` becomes `Some(None)`.
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// One listing to create or replace, keyed by its SKU.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingInput {
    /// The seller's SKU (1-255 characters, unique per seller).
    pub sku: String,
    /// Title (1-1000 characters).
    pub title: String,
    /// Plain-text description.
    #[serde(default)]
    pub description: String,
    /// Price in minor units (cents); give `currency` with it.
    pub price: Option<i64>,
    /// ISO 4217 currency (`EUR`).
    pub currency: Option<String>,
    /// Units in stock (default 1).
    #[serde(default = "one")]
    pub quantity: i64,
    /// `new`, `like_new`, `good`, `fair` or `poor`.
    pub condition: Condition,
    /// Brand.
    pub brand: Option<String>,
    /// Size, as written on the item.
    pub size: Option<String>,
    /// Colour.
    pub colour: Option<String>,
    /// Material.
    pub material: Option<String>,
    /// Shopify taxonomy gid (`gid://shopify/TaxonomyCategory/aa-1-13`). Absent:
    /// the stored category is kept (a chosen or suggested one survives a
    /// re-import); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Media ids of the photos, in display order (at most 50).
    #[serde(default)]
    pub images: Vec<String>,
    /// Free attributes: a JSON object of strings, numbers and booleans.
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

fn one() -> i64 {
    1
}

impl ListingInput {
    fn into_write(self) -> ListingWrite {
        ListingWrite {
            sku: self.sku,
            title: self.title,
            description: self.description,
            price_minor: self.price,
            currency: self.currency,
            quantity: self.quantity,
            condition: self.condition,
            brand: self.brand,
            size: self.size,
            colour: self.colour,
            material: self.material,
            category: match self.category {
                None => CategoryChange::Keep,
                Some(c) => CategoryChange::Seller(c),
            },
            images: self.images,
            attributes: self.attributes,
        }
    }
}

/// Changes to one listing: absent fields stay, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingPatch {
    /// New SKU (must stay unique for the seller).
    pub sku: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Price in minor units; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub price: Option<Option<i64>>,
    /// Currency; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    /// Units in stock.
    pub quantity: Option<i64>,
    /// Condition.
    pub condition: Option<Condition>,
    /// Brand; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub brand: Option<Option<String>>,
    /// Size; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub size: Option<Option<String>>,
    /// Colour; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub colour: Option<Option<String>>,
    /// Material; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub material: Option<Option<String>>,
    /// Category gid, chosen by the seller; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Media ids, in order (replaces the list).
    pub images: Option<Vec<String>>,
    /// Free attributes (replaces the object).
    pub attributes: Option<Map<String, Value>>,
}

impl Validate for ListingPatch {
    fn validate(&self) -> Vec<FieldError> {
        // The merged listing is validated in the handler.
        Vec::new()
    }
}

impl ListingPatch {
    fn apply(self, mut w: ListingWrite) -> ListingWrite {
        macro_rules! set {
            ($($field:ident => $target:ident),*) => {$(
                if let Some(v) = self.$field {
                    w.$target = v;
                }
            )*};
        }
        set!(sku => sku, title => title, description => description, price => price_minor,
            currency => currency, quantity => quantity, condition => condition, brand => brand,
            size => size, colour => colour, material => material, images => images,
            attributes => attributes);
        if let Some(category) = self.category {
            w.category = CategoryChange::Seller(category);
        }
        w
    }
}

/// Whether `s` is 1-`max` characters with no control characters and no surrounding spaces.
fn clean_text(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control) && s.trim() == s
}

/// Whether `gid` is a Shopify taxonomy category gid (`gid://shopify/TaxonomyCategory/aa-1-13`).
pub fn valid_category(gid: &str) -> bool {
    let Some(id) = gid.strip_prefix(CATEGORY_PREFIX) else {
        return false;
    };
    let mut parts = id.split('-');
    let vertical = parts.next().unwrap_or_default();
    vertical.len() == 2
        && vertical.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Every problem with a listing's fields.
pub fn validate_listing(w: &ListingWrite) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !clean_text(&w.sku, 255) {
        errors.push(FieldError::new(
            "sku",
            "must be 1-255 characters, without control characters or surrounding spaces",
        ));
    }
    if w.title.trim().is_empty() || w.title.chars().count() > MAX_TITLE {
        errors.push(FieldError::new(
            "title",
            format!("must be 1-{MAX_TITLE} characters, not blank"),
        ));
    }
    if w.description.chars().count() > MAX_DESCRIPTION {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    match (w.price_minor, &w.currency) {
        (Some(p), _) if !(0..=MAX_PRICE).contains(&p) => errors.push(FieldError::new(
            "price",
            format!("must be an integer from 0 to {MAX_PRICE} (minor units)"),
        )),
        (Some(_), None) => errors.push(FieldError::new(
            "currency",
            "required with a price (ISO 4217, like EUR)",
        )),
        _ => {}
    }
    if let Some(c) = &w.currency
        && Currency::new(c).is_err()
    {
        errors.push(FieldError::new(
            "currency",
            "must be three upper-case letters (ISO 4217, like EUR)",
        ));
    }
    if !(0..=MAX_QUANTITY).contains(&w.quantity) {
        errors.push(FieldError::new(
            "quantity",
            format!("must be an integer from 0 to {MAX_QUANTITY}"),
        ));
    }
    for (field, value) in [
        ("brand", &w.brand),
        ("size", &w.size),
        ("colour", &w.colour),
        ("material", &w.material),
    ] {
        if value.as_deref().is_some_and(|v| !clean_text(v, 255)) {
            errors.push(FieldError::new(
                field,
                "must be 1-255 characters, without control characters or surrounding spaces",
            ));
        }
    }
    if let CategoryChange::Seller(Some(gid)) = &w.category
        && !valid_category(gid)
    {
        errors.push(FieldError::new(
            "category",
            format!("must be a Shopify taxonomy category gid like {CATEGORY_PREFIX}aa-1-13"),
        ));
    }
    if w.images.len() > MAX_IMAGES {
        errors.push(FieldError::new(
            "images",
            format!("at most {MAX_IMAGES} photos"),
        ));
    }
    for (i, image) in w.images.iter().enumerate() {
        if !clean_text(image, 128) || image.contains(char::is_whitespace) {
            errors.push(FieldError::new(
                format!("images[{i}]"),
                "must be a media id (1-128 characters, no spaces)",
            ));
        } else if w.images[..i].contains(image) {
            errors.push(FieldError::new(
                format!("images[{i}]"),
                "the same photo is listed twice",
            ));
        }
    }
    if w.attributes.len() > MAX_ATTRIBUTES {
        errors.push(FieldError::new(
            "attributes",
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    for (key, value) in &w.attributes {
        if !clean_text(key, 64) {
            errors.push(FieldError::new(
                format!("attributes.{key}"),
                "names must be 1-64 characters",
            ));
        }
        let ok = match value {
            Value::String(s) => s.chars().count() <= 1_000,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !ok {
            errors.push(FieldError::new(
                format!("attributes.{key}"),
                "must be a string (at most 1000 characters), a number or a boolean",
            ));
        }
    }
    errors
}

/// A batch of listings to create or replace by SKU.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingBatch {
    /// The seller, for backend and ops keys (seller credentials act for their own).
    pub seller_id: Option<String>,
    /// 1-1000 listings; each succeeds or fails on its own.
    #[schema(value_type = Vec<ListingInput>)]
    pub listings: Vec<Value>,
}

impl Validate for ListingBatch {
    fn validate(&self) -> Vec<FieldError> {
        if self.listings.is_empty() || self.listings.len() > MAX_BATCH {
            vec![FieldError::new(
                "listings",
                format!("send 1-{MAX_BATCH} listings per request"),
            )]
        } else {
            Vec::new()
        }
    }
}

/// The outcome of one listing of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemResult {
    /// Position in the request.
    pub index: usize,
    /// The SKU, when one could be read.
    pub sku: Option<String>,
    /// `created`, `updated` or `invalid`.
    pub status: String,
    /// The listing's id (created or updated).
    pub id: Option<String>,
    /// What is wrong (invalid).
    pub errors: Vec<FieldError>,
}

/// Per-item results of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// Listings created.
    pub created: usize,
    /// Listings replaced.
    pub updated: usize,
    /// Listings refused; see their `errors`.
    pub invalid: usize,
    /// One result per listing, in request order.
    pub results: Vec<BatchItemResult>,
}

/// A listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingView {
    /// Id.
    pub id: String,
    /// Owning seller.
    pub seller_id: String,
    /// SKU.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Price in minor units.
    pub price: Option<i64>,
    /// Currency of the price.
    pub currency: Option<String>,
    /// Units in stock.
    pub quantity: i64,
    /// Condition.
    pub condition: Condition,
    /// Brand.
    pub brand: Option<String>,
    /// Size.
    pub size: Option<String>,
    /// Colour.
    pub colour: Option<String>,
    /// Material.
    pub material: Option<String>,
    /// Shopify taxonomy category gid.
    pub category: Option<String>,
    /// Who chose the category: `seller` or `auto` (the categorize worker).
    pub category_source: Option<CategorySource>,
    /// Ranked suggestions of the categorize worker, if it ran.
    #[schema(value_type = Option<Object>)]
    pub category_suggestions: Option<Value>,
    /// Media ids of the photos, in order.
    pub images: Vec<String>,
    /// Free attributes.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<ListingRecord> for ListingView {
    fn from(r: ListingRecord) -> Self {
        ListingView {
            id: r.id,
            seller_id: r.seller_id,
            sku: r.sku,
            title: r.title,
            description: r.description,
            price: r.price_minor,
            currency: r.currency,
            quantity: r.quantity,
            condition: r.condition,
            brand: r.brand,
            size: r.size,
            colour: r.colour,
            material: r.material,
            category: r.category,
            category_source: r.category_source,
            category_suggestions: r.category_suggestions,
            images: r.images,
            attributes: r.attributes,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Reads one batch item: a type error becomes that item's field error.
fn read_item(value: Value) -> Result<ListingWrite, Vec<FieldError>> {
    let input: ListingInput = batch_item(value)?;
    let write = input.into_write();
    let errors = validate_listing(&write);
    if errors.is_empty() {
        Ok(write)
    } else {
        Err(errors)
    }
}

/// Creates or replaces up to 1000 listings by SKU. Each listing succeeds or
/// fails alone: the answer lists, in request order, `created`, `updated`
/// (with the id) or `invalid` (with the fields at fault).
#[utoipa::path(post, path = "/v1/listings:batch", tag = "listings", request_body = ListingBatch,
    responses(
        (status = 200, description = "Per-item results", body = BatchResult),
        (status = 401, description = "No valid credential"),
        (status = 403, description = "A seller credential naming another seller"),
        (status = 413, description = "Body too large"),
        (status = 422, description = "No listings, more than 1000, or no seller named by a backend key"),
    ),
    security(("bearer" = [])))]
pub async fn batch_upsert(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<ListingBatch>,
) -> ApiResult<Json<BatchResult>> {
    let seller = principal.acting_seller(req.seller_id.as_deref())?;
    let mut results: Vec<BatchItemResult> = Vec::with_capacity(req.listings.len());
    let mut valid: Vec<(usize, ListingWrite)> = Vec::new();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for (index, value) in req.listings.into_iter().enumerate() {
        let sku = value.get("sku").and_then(Value::as_str).map(str::to_owned);
        let outcome = read_item(value).and_then(|w| match seen.get(&w.sku) {
            Some(first) => Err(vec![FieldError::new(
                "sku",
                format!("the same SKU is already at index {first} of this batch"),
            )]),
            None => Ok(w),
        });
        match outcome {
            Ok(w) => {
                seen.insert(w.sku.clone(), index);
                valid.push((index, w));
                results.push(BatchItemResult {
                    index,
                    sku,
                    status: String::new(),
                    id: None,
                    errors: Vec::new(),
                });
            }
            Err(errors) => results.push(BatchItemResult {
                index,
                sku,
                status: "invalid".to_owned(),
                id: None,
                errors,
            }),
        }
    }
    let writes: Vec<ListingWrite> = valid.iter().map(|(_, w)| w.clone()).collect();
    let stored = state.db.upsert_listings(&seller, &writes).await?;
    let written: Vec<(&str, &ListingWrite)> = stored
        .iter()
        .zip(&writes)
        .map(|(u, w)| (u.id.as_str(), w))
        .collect();
    super::categorize::after_write(&state, &seller, &written).await?;
    for ((index, _), upserted) in valid.iter().zip(stored) {
        let result = &mut results[*index];
        result.status = if upserted.created {
            "created"
        } else {
            "updated"
        }
        .to_owned();
        result.id = Some(upserted.id);
    }
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    Ok(Json(BatchResult {
        created: count("created"),
        updated: count("updated"),
        invalid: count("invalid"),
        results,
    }))
}

/// Filters and paging of `GET /v1/listings`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The seller, for backend and ops keys.
    pub seller_id: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Exactly this SKU.
    pub sku: Option<String>,
    /// This condition.
    pub condition: Option<Condition>,
    /// This category gid.
    pub category: Option<String>,
    /// Only listings with (`true`) or without (`false`) a category.
    pub has_category: Option<bool>,
    /// This brand.
    pub brand: Option<String>,
    /// Changed at or after this time (RFC 3339).
    pub updated_since: Option<String>,
}

/// A page of listings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingPage {
    /// Listings, in id (creation) order.
    pub items: Vec<ListingView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The filter a query names.
pub fn filter_of(q: &ListQuery) -> ApiResult<ListingFilter> {
    let updated_since = match q.updated_since.as_deref() {
        None => None,
        Some(text) => {
            let time = humantime::parse_rfc3339_weak(text).map_err(|_| {
                ApiError::BadRequest(format!(
                    "updated_since `{text}` is not an RFC 3339 time (2025-01-31T12:00:00Z)"
                ))
            })?;
            let ms = time
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            Some(ms)
        }
    };
    Ok(ListingFilter {
        sku: q.sku.clone(),
        condition: q.condition,
        category: q.category.clone(),
        has_category: q.has_category,
        brand: q.brand.clone(),
        updated_since,
    })
}

/// A seller's listings, in creation order, filtered and cursor-paginated.
#[utoipa::path(get, path = "/v1/listings", tag = "listings", params(ListQuery),
    responses(
        (status = 200, body = ListingPage),
        (status = 400, description = "Bad limit, cursor or filter"),
        (status = 403, description = "A seller credential naming another seller"),
        (status = 422, description = "No seller named by a backend key"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListingPage>> {
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".to_owned(),
        ));
    }
    let filter = filter_of(&q)?;
    let rows = state
        .db
        .list_listings(&seller, &filter, q.cursor.as_deref(), limit + 1)
        .await?;
    let (rows, next_cursor) = super::split_page(rows, limit, |r| r.id.clone());
    let items = rows.into_iter().map(ListingView::from).collect();
    Ok(Json(ListingPage { items, next_cursor }))
}

/// The listing `id` if this caller may see it; 404 otherwise.
async fn visible(state: &AppState, principal: &Principal, id: &str) -> ApiResult<ListingRecord> {
    state
        .db
        .listing(id)
        .await?
        .filter(|l| principal.can_see(Some(&l.seller_id)))
        .ok_or_else(|| ApiError::NotFound(format!("no listing {id}")))
}

/// One listing.
#[utoipa::path(get, path = "/v1/listings/{id}", tag = "listings",
    params(("id" = String, Path, description = "Listing id")),
    responses((status = 200, body = ListingView), (status = 404, description = "No such listing visible to this credential")),
    security(("bearer" = [])))]
pub async fn get_listing(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ListingView>> {
    Ok(Json(visible(&state, &principal, &id).await?.into()))
}

/// Changes some fields of a listing; absent fields stay, `null` clears an optional field.
#[utoipa::path(patch, path = "/v1/listings/{id}", tag = "listings", request_body = ListingPatch,
    params(("id" = String, Path, description = "Listing id")),
    responses(
        (status = 200, body = ListingView),
        (status = 404, description = "No such listing visible to this credential"),
        (status = 409, description = "The new SKU is another listing's"),
        (status = 422, description = "Invalid fields"),
    ),
    security(("bearer" = [])))]
pub async fn update_listing(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(patch): ValidJson<ListingPatch>,
) -> ApiResult<Json<ListingView>> {
    let current = visible(&state, &principal, &id).await?;
    let write = patch.apply(ListingWrite::from_record(&current));
    let errors = validate_listing(&write);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    match state.db.update_listing(&id, &write).await {
        Ok(Some(updated)) => {
            super::categorize::after_write(&state, &updated.seller_id, &[(&id, &write)]).await?;
            Ok(Json(updated.into()))
        }
        Ok(None) => Err(ApiError::NotFound(format!("no listing {id}"))),
        Err(e) if is_unique_violation(&e) => Err(ApiError::Conflict(format!(
            "the seller already has a listing with SKU `{}`",
            write.sku
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a listing.
#[utoipa::path(delete, path = "/v1/listings/{id}", tag = "listings",
    params(("id" = String, Path, description = "Listing id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such listing visible to this credential")),
    security(("bearer" = [])))]
pub async fn delete_listing(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    visible(&state, &principal, &id).await?;
    state.db.delete_listing(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_gids() {
        assert!(valid_category("gid://shopify/TaxonomyCategory/aa-1-13"));
        assert!(valid_category("gid://shopify/TaxonomyCategory/aa"));
        assert!(!valid_category("gid://shopify/TaxonomyCategory/"));
        assert!(!valid_category("gid://shopify/TaxonomyCategory/AA-1"));
        assert!(!valid_category("gid://shopify/TaxonomyCategory/aa--1"));
        assert!(!valid_category("aa-1-13"));
    }

    #[test]
    fn batch_items_fail_alone_with_the_field_named() {
        let err = read_item(serde_json::json!({"sku": "a", "title": "t", "condition": "mint"}))
            .unwrap_err();
        assert_eq!(err[0].field, "condition");
        let err = read_item(serde_json::json!({
            "sku": " a", "title": "t", "condition": "good", "price": 100
        }))
        .unwrap_err();
        let fields: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["sku", "currency"]);
        assert!(
            read_item(serde_json::json!({"sku": "a", "title": "t", "condition": "good"})).is_ok()
        );
    }
}
