//! Export runs: start one (push to a marketplace, or write import files),
//! follow its totals and progress, read each listing's outcome, cancel, and
//! retry the failed listings. A seller sees only its own runs.

use super::{connections::marketplace, ops::PageQuery, payouts::page_limit, rfc3339};
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
use fleet_jobs::export::{ExportChunk, Marketplace, PlanExport};
use fleet_shared::{
    blob::BlobKey,
    db::{
        exports::{ItemRecord, NewRun, RunRecord, RunTotals},
        jobs::NewJob,
    },
    export::{ExportMode, FileFormat, ItemStatus, RunStatus, Selection},
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// `/v1/exports` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/exports", post(start_export).get(list_exports))
        .route("/v1/exports/{id}", get(get_export))
        .route("/v1/exports/{id}/items", get(export_items))
        .route("/v1/exports/{id}/cancel", post(cancel_export))
        .route("/v1/exports/{id}/retry-failed", post(retry_failed))
}

/// Most listing ids in one `ids` selection.
pub const MAX_IDS: usize = 10_000;

/// A run to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartExport {
    /// The seller (backend and ops keys only).
    pub seller_id: Option<String>,
    /// `shopify`, `etsy` or `amazon`.
    pub marketplace: String,
    /// `{"ids": […]}` or `{"all": true, "filter": {…}}`.
    pub listings: Selection,
    /// `push` (through the marketplace's API) or `file` (import files to download).
    pub mode: ExportMode,
    /// File mode: `shopify_csv`, `amazon_json` or `generic_csv` (default: the marketplace's own).
    pub format: Option<FileFormat>,
    /// Validate and plan, send nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Validate for StartExport {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let s = &self.listings;
        match (s.ids.is_empty(), s.all) {
            (true, false) => errors.push(FieldError::new(
                "listings",
                "name the listings: {\"ids\": [...]} or {\"all\": true}",
            )),
            (false, true) => errors.push(FieldError::new(
                "listings",
                "give either ids or all, not both",
            )),
            _ => {}
        }
        if s.ids.len() > MAX_IDS {
            errors.push(FieldError::new(
                "listings.ids",
                format!("at most {MAX_IDS} ids; use {{\"all\": true, \"filter\": …}} for more"),
            ));
        }
        if s.filter != Default::default() && !s.all {
            errors.push(FieldError::new(
                "listings.filter",
                "only with \"all\": true",
            ));
        }
        if self.format.is_some() && self.mode != ExportMode::File {
            errors.push(FieldError::new("format", "only with mode `file`"));
        }
        errors
    }
}

/// Where a run is, in numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Listings settled (succeeded, failed or skipped).
    pub done: i64,
    /// Listings in the run.
    pub total: i64,
    /// `done` of `total`, 0-100.
    pub percent: f64,
}

/// A file a file-mode run wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportFile {
    /// File name.
    pub name: String,
    /// Signed download URL.
    pub url: String,
}

/// A run as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportView {
    /// Run id.
    pub id: String,
    /// Owning seller.
    pub seller_id: String,
    /// Target marketplace.
    pub marketplace: String,
    /// `push` or `file`.
    pub mode: ExportMode,
    /// File format (file mode).
    pub format: Option<FileFormat>,
    /// Nothing is sent.
    pub dry_run: bool,
    /// `planning`, `running`, `succeeded`, `completed_with_errors`, `failed` or `cancelled`.
    pub status: RunStatus,
    /// Why the run failed.
    pub error: Option<String>,
    /// Item counts.
    pub totals: RunTotals,
    /// Settled of total.
    pub progress: Progress,
    /// Chunk jobs the run was split into.
    pub chunks: i64,
    /// Retries of failed items so far.
    pub pass: i64,
    /// Files to download (file mode, once written).
    pub files: Vec<ExportFile>,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Reached its final status.
    pub finished_at: Option<String>,
}

async fn view(state: &AppState, run: RunRecord) -> ApiResult<ExportView> {
    let ttl = Duration::from_secs(state.config.media.download_url_ttl_secs);
    let mut files = Vec::with_capacity(run.files.len());
    for key in &run.files {
        let key = BlobKey::new(key.clone()).map_err(ApiError::internal)?;
        let name = key
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let url = state.blobs.presign_get(&key, ttl).await?.url;
        files.push(ExportFile { name, url });
    }
    let t = run.totals;
    let done = t.total - t.pending;
    Ok(ExportView {
        progress: Progress {
            done,
            total: t.total,
            percent: if t.total == 0 {
                if run.status.is_final() { 100.0 } else { 0.0 }
            } else {
                (done as f64 * 1000.0 / t.total as f64).round() / 10.0
            },
        },
        id: run.id,
        seller_id: run.seller_id,
        marketplace: run.marketplace.as_str().to_owned(),
        mode: run.mode,
        format: run.format,
        dry_run: run.dry_run,
        status: run.status,
        error: run.error,
        totals: t,
        chunks: run.chunks,
        pass: run.pass,
        files,
        created_at: rfc3339(run.created_at),
        updated_at: rfc3339(run.updated_at),
        finished_at: run.finished_at.map(rfc3339),
    })
}

/// The run `id` if `principal` may see it; 404 otherwise.
async fn visible(state: &AppState, principal: &Principal, id: &str) -> ApiResult<RunRecord> {
    let not_found = || ApiError::NotFound(format!("no export run {id}"));
    let run = state.db.run(id).await?.ok_or_else(not_found)?;
    if !principal.can_see(Some(&run.seller_id)) {
        return Err(not_found());
    }
    Ok(run)
}

fn owned_job<J: fleet_jobs::Job>(state: &AppState, job: &J, seller: &str) -> ApiResult<NewJob> {
    let mut new = NewJob::of(job, state.config.kinds.export.max_attempts as i32)
        .map_err(ApiError::internal)?;
    new.seller_id = Some(seller.to_owned());
    Ok(new)
}

/// Starts a run: 202 with the run in `planning`; chunk jobs follow.
#[utoipa::path(post, path = "/v1/exports", tag = "exports", request_body = StartExport,
    responses(
        (status = 202, body = ExportView),
        (status = 404, description = "Unknown marketplace"),
        (status = 422, description = "Bad selection or mode, or no connection to push through"),
    ),
    security(("bearer" = [])))]
pub async fn start_export(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<StartExport>,
) -> ApiResult<(StatusCode, Json<ExportView>)> {
    let seller = principal.acting_seller(req.seller_id.as_deref())?;
    let market = marketplace(&req.marketplace)?;
    let invalid =
        |field: &str, message: String| ApiError::Invalid(vec![FieldError::new(field, message)]);
    let format = match req.mode {
        ExportMode::Push => {
            if state.db.connection(&seller, market).await?.is_none() {
                return Err(invalid(
                    "marketplace",
                    format!("no {market} connection: create it with PUT /v1/connections/{market}"),
                ));
            }
            None
        }
        ExportMode::File => {
            let format = req.format.unwrap_or(match market {
                Marketplace::Shopify => FileFormat::ShopifyCsv,
                Marketplace::Amazon => FileFormat::AmazonJson,
                Marketplace::Etsy => FileFormat::GenericCsv,
            });
            let fits = match format {
                FileFormat::ShopifyCsv => market == Marketplace::Shopify,
                FileFormat::AmazonJson => market == Marketplace::Amazon,
                FileFormat::GenericCsv => true,
            };
            if !fits {
                return Err(invalid(
                    "format",
                    format!(
                        "format `{}` cannot be imported by {market}",
                        format.as_str()
                    ),
                ));
            }
            Some(format)
        }
    };
    let run = state
        .db
        .create_run(&NewRun {
            id: ulid::Ulid::new().to_string().to_lowercase(),
            seller_id: seller.clone(),
            marketplace: market,
            mode: req.mode,
            format,
            dry_run: req.dry_run,
            selection: serde_json::to_value(&req.listings).map_err(ApiError::internal)?,
        })
        .await?;
    let plan = PlanExport {
        run_id: run.id.clone(),
        marketplace: market,
    };
    state
        .queues
        .enqueue(vec![owned_job(&state, &plan, &seller)?])
        .await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, run).await?)))
}

/// Runs of a seller.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// The seller (backend and ops keys only).
    pub seller_id: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportPage {
    /// The runs.
    pub items: Vec<ExportView>,
    /// Cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// The seller's runs, newest first.
#[utoipa::path(get, path = "/v1/exports", tag = "exports", params(RunsQuery),
    responses((status = 200, body = ExportPage)),
    security(("bearer" = [])))]
pub async fn list_exports(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<ExportPage>> {
    let seller = principal.acting_seller(q.seller_id.as_deref())?;
    let limit = page_limit(&PageQuery {
        limit: q.limit,
        cursor: None,
    })?;
    let runs = state
        .db
        .list_runs(&seller, q.cursor.as_deref(), limit + 1)
        .await?;
    let (runs, next_cursor) = super::split_page(runs, limit, |r| r.id.clone());
    let mut items = Vec::with_capacity(runs.len());
    for run in runs {
        items.push(view(&state, run).await?);
    }
    Ok(Json(ExportPage { items, next_cursor }))
}

/// A run's status, totals, progress and files.
#[utoipa::path(get, path = "/v1/exports/{id}", tag = "exports",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = ExportView), (status = 404, description = "No such run, or another seller's")),
    security(("bearer" = [])))]
pub async fn get_export(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ExportView>> {
    let run = visible(&state, &principal, &id).await?;
    Ok(Json(view(&state, run).await?))
}

/// Filters a run's items.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ItemsQuery {
    /// `pending`, `succeeded`, `failed` or `skipped`.
    pub status: Option<ItemStatus>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One listing's outcome in a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// The listing.
    pub listing_id: String,
    /// Its SKU.
    pub sku: Option<String>,
    /// Where it is.
    pub status: ItemStatus,
    /// Why it failed or was skipped, in plain words.
    pub error: Option<String>,
    /// What a succeeded item left out, in plain words (Amazon marketplaces
    /// selling in another currency than the listing's).
    pub warning: Option<String>,
    /// The marketplace's id for it.
    pub remote_id: Option<String>,
    /// Last change.
    pub updated_at: String,
}

impl From<ItemRecord> for ItemView {
    fn from(r: ItemRecord) -> Self {
        ItemView {
            listing_id: r.listing_id,
            sku: r.sku,
            status: r.status,
            error: r.error,
            warning: r.warning,
            remote_id: r.remote_id,
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemPage {
    /// The items, by listing id.
    pub items: Vec<ItemView>,
    /// Cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// A run's items, optionally of one status (`?status=failed`).
#[utoipa::path(get, path = "/v1/exports/{id}/items", tag = "exports",
    params(("id" = String, Path, description = "Run id"), ItemsQuery),
    responses((status = 200, body = ItemPage), (status = 404, description = "No such run")),
    security(("bearer" = [])))]
pub async fn export_items(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<ItemsQuery>,
) -> ApiResult<Json<ItemPage>> {
    let run = visible(&state, &principal, &id).await?;
    let limit = page_limit(&PageQuery {
        limit: q.limit,
        cursor: None,
    })?;
    let rows = state
        .db
        .run_items(&run.id, q.status, q.cursor.as_deref(), limit + 1)
        .await?;
    let (rows, next_cursor) = super::split_page(rows, limit, |r| r.listing_id.clone());
    Ok(Json(ItemPage {
        items: rows.into_iter().map(ItemView::from).collect(),
        next_cursor,
    }))
}

/// Stops a run: listings not sent yet are skipped.
#[utoipa::path(post, path = "/v1/exports/{id}/cancel", tag = "exports",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = ExportView), (status = 409, description = "Already finished")),
    security(("bearer" = [])))]
pub async fn cancel_export(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ExportView>> {
    let run = visible(&state, &principal, &id).await?;
    if !state.db.cancel_run(&run.id).await? {
        return Err(ApiError::Conflict(format!(
            "export run {id} is already {}",
            run.status.as_str()
        )));
    }
    let run = visible(&state, &principal, &id).await?;
    Ok(Json(view(&state, run).await?))
}

/// Sends the failed listings of a finished run again (fix them first).
#[utoipa::path(post, path = "/v1/exports/{id}/retry-failed", tag = "exports",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 202, body = ExportView), (status = 409, description = "Still running, cancelled, or nothing failed")),
    security(("bearer" = [])))]
pub async fn retry_failed(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<ExportView>)> {
    let run = visible(&state, &principal, &id).await?;
    if run.totals.failed == 0 || run.mode != ExportMode::Push {
        return Err(ApiError::Conflict(format!(
            "export run {id} has no failed listings to push again (file runs: start a new run)"
        )));
    }
    let Some((pass, chunks)) = state.db.retry_failed_items(&run.id).await? else {
        return Err(ApiError::Conflict(format!(
            "export run {id} is {}: only finished runs are retried",
            run.status.as_str()
        )));
    };
    let jobs = chunks
        .into_iter()
        .map(|chunk| {
            let job = ExportChunk {
                run_id: run.id.clone(),
                marketplace: run.marketplace,
                chunk,
                pass,
            };
            owned_job(&state, &job, &run.seller_id)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    state.queues.enqueue(jobs).await?;
    let run = visible(&state, &principal, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, run).await?)))
}
