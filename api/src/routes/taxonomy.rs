//! The product taxonomy (Shopify Standard Product Taxonomy) for category pickers.

use crate::{
    auth::Principal,
    error::{ApiError, ApiResult},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fleet_shared::db::taxonomy::{CategoryFilter, CategoryRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `/v1/taxonomy` routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/taxonomy/categories", get(list_categories))
}

/// One taxonomy category.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    /// Short id (`aa-1-13-8`), usable as `parent`.
    pub id: String,
    /// Full gid (`gid://shopify/TaxonomyCategory/aa-1-13-8`), what listings and exports store.
    pub gid: String,
    /// Parent's short id; absent for a top-level area.
    pub parent_id: Option<String>,
    /// Own name.
    pub name: String,
    /// `Top > … > Name`.
    pub full_path: String,
    /// 1 for top-level areas.
    pub depth: i64,
    /// Number of direct children (0 for a leaf).
    pub child_count: i64,
}

impl From<CategoryRow> for CategoryView {
    fn from(r: CategoryRow) -> Self {
        CategoryView {
            id: r.id,
            gid: r.gid,
            parent_id: r.parent_id,
            name: r.name,
            full_path: r.full_path,
            depth: r.depth,
            child_count: r.child_count,
        }
    }
}

/// A page of categories.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryPage {
    /// Ordered by full path.
    pub items: Vec<CategoryView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Filters and pagination of the category list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CategoryQuery {
    /// Words that must all occur in the category's full path (case-insensitive).
    pub search: Option<String>,
    /// Only direct children of this category (short id or gid); `root` for the top-level areas.
    pub parent: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn encode_cursor(row: &CategoryView) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", row.full_path, row.id))
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (path, id) = text.split_once('\n')?;
    Some((path.to_owned(), id.to_owned()))
}

/// Taxonomy categories, filtered by search words and parent, cursor-paginated.
#[utoipa::path(get, path = "/v1/taxonomy/categories", tag = "taxonomy",
    params(CategoryQuery),
    responses((status = 200, body = CategoryPage),
        (status = 400, description = "Bad limit or cursor"),
        (status = 404, description = "Unknown parent")),
    security(("bearer" = [])))]
pub async fn list_categories(
    State(state): State<AppState>,
    _principal: Principal,
    Query(query): Query<CategoryQuery>,
) -> ApiResult<Json<CategoryPage>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".to_owned(),
        ));
    }
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            decode_cursor(c)
                .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor `{c}`")))?,
        ),
    };
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.len() > 200) {
        return Err(ApiError::BadRequest(
            "search must be at most 200 bytes".to_owned(),
        ));
    }
    let parent = match query.parent.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("root") => Some(String::new()),
        Some(p) => {
            let row = state
                .db
                .taxonomy_category(p)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no category `{p}`")))?;
            Some(row.id)
        }
    };
    let filter = CategoryFilter {
        search: search.map(str::to_owned),
        parent,
        after,
        limit: limit + 1,
    };
    let rows = state.db.taxonomy_categories(&filter).await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<CategoryView> = rows
        .into_iter()
        .take(limit as usize)
        .map(CategoryView::from)
        .collect();
    let next_cursor = if more {
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(CategoryPage { items, next_cursor }))
}
