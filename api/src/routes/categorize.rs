//! Listing categorization requests: a `categorize.listing` job whenever a
//! listing's text or images change, and `POST /v1/listings/categorize` to
//! (re)categorize some or all of a seller's listings.

use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate},
    state::AppState,
};
use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use fleet_jobs::categorize::CategorizeListing;
use fleet_shared::db::{
    jobs::NewJob,
    listings::{ListingFilter, ListingRecord, ListingWrite},
    now_ms,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// Most listing ids in one request.
pub const MAX_IDS: usize = 1_000;

/// Listings read per page when categorizing all of a seller's.
const PAGE: i64 = 1_000;

/// `/v1/listings/categorize`.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/listings/categorize", post(categorize))
}

/// A hash of what the classifier reads: the same text and images give the same revision.
fn text_revision(w: &ListingWrite) -> String {
    let mut h = Sha256::new();
    for part in [
        &w.title,
        &w.description,
        w.brand.as_deref().unwrap_or_default(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for id in &w.images {
        h.update(id.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// The categorize job for listing `id` as written; `revision` keys it.
fn job_for(id: &str, seller: &str, w: &ListingWrite, revision: String) -> CategorizeListing {
    CategorizeListing {
        listing_id: Some(id.to_owned()),
        seller_id: Some(seller.to_owned()),
        revision: Some(revision),
        title: w.title.clone(),
        description: w.description.clone(),
        brand: w.brand.clone(),
        image_ids: w.images.clone(),
        image_urls: Vec::new(),
    }
}

async fn enqueue(state: &AppState, jobs: &[CategorizeListing]) -> ApiResult<usize> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let max_attempts = state.config.kinds.categorize.max_attempts as i32;
    let jobs = jobs
        .iter()
        .map(|j| NewJob::of(j, max_attempts).map_err(ApiError::internal))
        .collect::<ApiResult<Vec<_>>>()?;
    let n = jobs.len();
    state.queues.enqueue(jobs).await?;
    Ok(n)
}

/// Enqueues a categorize job for each written listing (`(id, write)`); a
/// listing whose text and images did not change gets no second job.
pub async fn after_write(
    state: &AppState,
    seller: &str,
    written: &[(&str, &ListingWrite)],
) -> ApiResult<()> {
    let jobs: Vec<CategorizeListing> = written
        .iter()
        .map(|(id, w)| job_for(id, seller, w, text_revision(w)))
        .collect();
    enqueue(state, &jobs).await.map(|_| ())
}

/// Which listings to categorize.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategorizeRequest {
    /// The seller, for backend and ops keys.
    pub seller_id: Option<String>,
    /// These listings (at most 1,000).
    pub ids: Option<Vec<String>>,
    /// Every listing of the seller.
    #[serde(default)]
    pub all: bool,
}

impl Validate for CategorizeRequest {
    fn validate(&self) -> Vec<FieldError> {
        match (&self.ids, self.all) {
            (Some(_), true) => vec![FieldError::new(
                "all",
                "give either `ids` or `all`, not both",
            )],
            (None, false) => vec![FieldError::new("ids", "give `ids` or `all: true`")],
            (Some(ids), false) if ids.is_empty() || ids.len() > MAX_IDS => vec![FieldError::new(
                "ids",
                format!("must hold 1 to {MAX_IDS} listing ids"),
            )],
            _ => Vec::new(),
        }
    }
}

/// What was enqueued.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategorizeAccepted {
    /// Categorize jobs enqueued, one per listing.
    pub enqueued: usize,
    /// Requested ids that are not this seller's listings.
    pub not_found: Vec<String>,
}

/// Categorizes listings again (their suggestions are refreshed; a category the seller set is kept).
#[utoipa::path(post, path = "/v1/listings/categorize", tag = "listings", request_body = CategorizeRequest,
    responses((status = 202, body = CategorizeAccepted),
        (status = 403, description = "A seller credential naming another seller"),
        (status = 422, description = "Neither or both of ids and all, or too many ids")),
    security(("bearer" = [])))]
pub async fn categorize(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<CategorizeRequest>,
) -> ApiResult<(StatusCode, Json<CategorizeAccepted>)> {
    let seller = principal.acting_seller(req.seller_id.as_deref())?;
    // A new revision per request: the job runs again (its text is usually a cache hit).
    let revision = |w: &ListingWrite| format!("{}-{}", text_revision(w), now_ms());
    let to_job = |l: &ListingRecord| {
        let w = ListingWrite::from_record(l);
        job_for(&l.id, &seller, &w, revision(&w))
    };
    let mut enqueued = 0;
    let mut not_found = Vec::new();
    match req.ids {
        Some(ids) => {
            let found = state.db.listings_by_ids(&seller, &ids).await?;
            not_found = ids
                .into_iter()
                .filter(|id| !found.iter().any(|l| &l.id == id))
                .collect();
            let jobs: Vec<_> = found.iter().map(to_job).collect();
            enqueued += enqueue(&state, &jobs).await?;
        }
        None => {
            let mut after: Option<String> = None;
            loop {
                let page = state
                    .db
                    .list_listings(&seller, &ListingFilter::default(), after.as_deref(), PAGE)
                    .await?;
                let jobs: Vec<_> = page.iter().map(to_job).collect();
                enqueued += enqueue(&state, &jobs).await?;
                match page.last() {
                    Some(last) if page.len() as i64 == PAGE => after = Some(last.id.clone()),
                    _ => break,
                }
            }
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(CategorizeAccepted {
            enqueued,
            not_found,
        }),
    ))
}
