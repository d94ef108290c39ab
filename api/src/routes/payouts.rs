//! Payouts: a seller's payouts and payout destination, on-demand runs, and
//! for ops the runs, failures, SEPA batches (with their confirmation) and
//! reconciliations.

use super::{ops::PageQuery, rfc3339};
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
use fleet_jobs::payout::Reconcile;
use fleet_shared::{
    blob::BlobKey,
    db::{
        jobs::NewJob,
        now_ms,
        payouts::{self as store, BatchRecord, Mismatch, PayoutRecord, PayoutStatus, RunRecord},
    },
    payout::{
        PayoutError, Payouts,
        bank::{BankAccount, PayoutDestination, check_stripe_account},
        destination,
    },
    seal::Sealer,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Payout routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/sellers/{id}/payouts",
            get(seller_payouts).post(request_payout),
        )
        .route(
            "/v1/sellers/{id}/payout-destination",
            get(get_destination).put(put_destination),
        )
        .route("/v1/ops/payouts", get(ops_payouts))
        .route("/v1/ops/payouts/runs", get(list_runs).post(start_run))
        .route("/v1/ops/payouts/runs/{id}", get(get_run))
        .route("/v1/ops/payouts/sepa-batches", get(list_batches))
        .route("/v1/ops/payouts/sepa-batches/{id}", get(get_batch))
        .route(
            "/v1/ops/payouts/sepa-batches/{id}/confirm",
            post(confirm_batch),
        )
        .route(
            "/v1/ops/payouts/reconciliations",
            post(start_reconciliation),
        )
        .route(
            "/v1/ops/payouts/reconciliations/{id}",
            get(get_reconciliation),
        )
}

impl From<PayoutError> for ApiError {
    fn from(err: PayoutError) -> Self {
        match err {
            PayoutError::NotFound(_) => ApiError::NotFound(err.to_string()),
            PayoutError::WrongStatus { .. } => ApiError::Refused {
                reason: "payout_settled",
                message: err.to_string(),
            },
            PayoutError::Ledger(e) => ApiError::from(e),
            PayoutError::Db(e) => ApiError::from(e),
            PayoutError::Queue(e) => ApiError::from(e),
        }
    }
}

/// A payout.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutView {
    /// Id; the provider's idempotency key and the SEPA EndToEndId.
    pub id: String,
    /// The run that made it.
    pub run_id: String,
    /// The seller.
    pub seller_id: String,
    /// Currency.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
    /// `sepa` or `stripe`.
    pub provider: String,
    /// `created`, `in_transit`, `submitted`, `paid`, `failed` or `rejected`.
    pub status: String,
    /// The provider's id (Stripe transfer).
    pub provider_ref: Option<String>,
    /// The SEPA batch.
    pub batch_id: Option<String>,
    /// Why it failed or was rejected.
    pub failure: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl From<&PayoutRecord> for PayoutView {
    fn from(p: &PayoutRecord) -> Self {
        PayoutView {
            id: p.id.clone(),
            run_id: p.run_id.clone(),
            seller_id: p.seller_id.clone(),
            currency: p.currency.clone(),
            amount: p.amount,
            provider: p.provider.clone(),
            status: p.status.to_string(),
            provider_ref: p.provider_ref.clone(),
            batch_id: p.batch_id.clone(),
            failure: p.failure.clone(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A page of payouts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutPage {
    /// Payouts.
    pub items: Vec<PayoutView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A payout run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// `schedule:<period>` or `manual:<id>`.
    pub id: String,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// The seller of an on-demand run.
    pub seller_id: Option<String>,
    /// Provider.
    pub provider: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// Payouts made.
    pub payouts: i64,
    /// Payable balances left unpaid (no payout destination, currency not paid by the provider).
    pub skipped: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// Created.
    pub created_at: String,
    /// Finished.
    pub finished_at: Option<String>,
}

impl From<&RunRecord> for RunView {
    fn from(r: &RunRecord) -> Self {
        RunView {
            id: r.id.clone(),
            trigger: r.trigger.clone(),
            seller_id: r.seller_id.clone(),
            provider: r.provider.clone(),
            status: r.status.clone(),
            payouts: r.payouts,
            skipped: r.skipped,
            error: r.error.clone(),
            created_at: rfc3339(r.created_at),
            finished_at: r.finished_at.map(rfc3339),
        }
    }
}

/// A run with its payouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    /// The run.
    pub run: RunView,
    /// Its payouts.
    pub payouts: Vec<PayoutView>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    /// Runs.
    pub items: Vec<RunView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

pub(crate) fn page_limit(page: &PageQuery) -> ApiResult<i64> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".to_owned(),
        ));
    }
    if let Some(c) = page.cursor.as_deref()
        && !store::valid_cursor(c)
    {
        return Err(ApiError::BadRequest(format!("invalid cursor `{c}`")));
    }
    Ok(limit)
}

fn authorize(principal: &Principal, seller_id: &str) -> ApiResult<()> {
    if principal.can_see(Some(seller_id)) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no seller {seller_id}")))
    }
}

pub(crate) fn sealer(state: &AppState) -> ApiResult<Sealer> {
    Sealer::from_config(&state.config).map_err(ApiError::internal)
}

/// A seller's payouts, newest first.
#[utoipa::path(get, path = "/v1/sellers/{id}/payouts", tag = "payouts",
    params(("id" = String, Path, description = "Seller id"), PageQuery),
    responses((status = 200, body = PayoutPage), (status = 404, description = "Another seller's")),
    security(("bearer" = [])))]
pub async fn seller_payouts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<PayoutPage>> {
    authorize(&principal, &id)?;
    let limit = page_limit(&page)?;
    let (rows, next_cursor) = state
        .db
        .list_payouts(Some(&id), None, page.cursor.as_deref(), limit)
        .await?;
    Ok(Json(PayoutPage {
        items: rows.iter().map(PayoutView::from).collect(),
        next_cursor,
    }))
}

/// Pays the seller's available balances now (each at least the currency's minimum): queues a run for this seller.
#[utoipa::path(post, path = "/v1/sellers/{id}/payouts", tag = "payouts",
    params(("id" = String, Path, description = "Seller id")),
    responses((status = 202, body = RunView), (status = 404, description = "Another seller's")),
    security(("bearer" = [])))]
pub async fn request_payout(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    authorize(&principal, &id)?;
    let run_id = format!("manual:{}", ulid::Ulid::new().to_string().to_lowercase());
    fleet_shared::payout::start_run(&state.queues, &state.config, &run_id, "manual", Some(&id))
        .await?;
    run_accepted(&state, &run_id).await
}

async fn run_accepted(state: &AppState, run_id: &str) -> ApiResult<(StatusCode, Json<RunView>)> {
    let run = state
        .db
        .payout_run(run_id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("run {run_id} vanished")))?;
    Ok((StatusCode::ACCEPTED, Json(RunView::from(&run))))
}

/// Bank details for SEPA payouts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankInput {
    /// Account holder.
    pub name: String,
    /// IBAN (spaces allowed).
    pub iban: String,
    /// BIC.
    pub bic: String,
}

/// Where a seller is paid.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    /// Bank details (SEPA).
    pub bank: Option<BankInput>,
    /// Stripe connected account (`acct_…`).
    pub stripe_account: Option<String>,
}

impl Validate for DestinationInput {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.bank.is_none() && self.stripe_account.is_none() {
            errors.push(FieldError::new("", "give `bank`, `stripe_account` or both"));
        }
        if let Some(b) = &self.bank
            && let Err((field, message)) = BankAccount::new(&b.name, &b.iban, &b.bic)
        {
            errors.push(FieldError::new(format!("bank.{field}"), message));
        }
        if let Some(a) = &self.stripe_account
            && let Err(message) = check_stripe_account(a)
        {
            errors.push(FieldError::new("stripe_account", message));
        }
        errors
    }
}

/// A seller's payout destination, without the secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    /// The seller.
    pub seller_id: String,
    /// Whether bank details are stored.
    pub has_bank: bool,
    /// The IBAN's last four characters.
    pub iban_last4: Option<String>,
    /// Whether a Stripe connected account is stored.
    pub has_stripe: bool,
    /// Last change.
    pub updated_at: String,
}

impl From<&store::StoredDestination> for DestinationView {
    fn from(d: &store::StoredDestination) -> Self {
        DestinationView {
            seller_id: d.seller_id.clone(),
            has_bank: d.has_bank,
            iban_last4: d.iban_last4.clone(),
            has_stripe: d.has_stripe,
            updated_at: rfc3339(d.updated_at),
        }
    }
}

/// Sets where the seller is paid; stored encrypted. Replaces what was there.
#[utoipa::path(put, path = "/v1/sellers/{id}/payout-destination", tag = "payouts",
    params(("id" = String, Path, description = "Seller id")), request_body = DestinationInput,
    responses((status = 200, body = DestinationView), (status = 422, description = "Invalid IBAN, BIC or account"),
        (status = 404, description = "Another seller's")),
    security(("bearer" = [])))]
pub async fn put_destination(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(input): ValidJson<DestinationInput>,
) -> ApiResult<Json<DestinationView>> {
    authorize(&principal, &id)?;
    let bank = match &input.bank {
        Some(b) => Some(BankAccount::new(&b.name, &b.iban, &b.bic).map_err(
            |(field, message)| {
                ApiError::Invalid(vec![FieldError::new(format!("bank.{field}"), message)])
            },
        )?),
        None => None,
    };
    let dest = PayoutDestination {
        bank,
        stripe_account: input.stripe_account.clone(),
    };
    let stored = destination::store(&state.db, &sealer(&state)?, &id, &dest).await?;
    Ok(Json(DestinationView::from(&stored)))
}

/// Where the seller is paid (masked).
#[utoipa::path(get, path = "/v1/sellers/{id}/payout-destination", tag = "payouts",
    params(("id" = String, Path, description = "Seller id")),
    responses((status = 200, body = DestinationView), (status = 404, description = "None set, or another seller's")),
    security(("bearer" = [])))]
pub async fn get_destination(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DestinationView>> {
    authorize(&principal, &id)?;
    let stored = state
        .db
        .payout_destination(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("seller {id} has no payout destination")))?;
    Ok(Json(DestinationView::from(&stored)))
}

/// Filter of the ops payout listing.
#[derive(Debug, Deserialize, IntoParams)]
pub struct OpsPayoutQuery {
    /// Only payouts in this status (`failed` lists the failures).
    pub status: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Every seller's payouts, newest first; `?status=failed` lists the failures.
#[utoipa::path(get, path = "/v1/ops/payouts", tag = "payouts", params(OpsPayoutQuery),
    responses((status = 200, body = PayoutPage), (status = 403, description = "Not an ops key")),
    security(("bearer" = [])))]
pub async fn ops_payouts(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<OpsPayoutQuery>,
) -> ApiResult<Json<PayoutPage>> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<PayoutStatus>().map_err(|_| {
            ApiError::BadRequest(format!(
                "unknown status `{s}` (created, in_transit, submitted, paid, failed, rejected)"
            ))
        })?),
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page_limit(&page)?;
    let (rows, next_cursor) = state
        .db
        .list_payouts(None, status, page.cursor.as_deref(), limit)
        .await?;
    Ok(Json(PayoutPage {
        items: rows.iter().map(PayoutView::from).collect(),
        next_cursor,
    }))
}

/// Payout runs, newest first.
#[utoipa::path(get, path = "/v1/ops/payouts/runs", tag = "payouts", params(PageQuery),
    responses((status = 200, body = RunPage), (status = 403, description = "Not an ops key")),
    security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<RunPage>> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let limit = page_limit(&page)?;
    let (rows, next_cursor) = state.db.payout_runs(page.cursor.as_deref(), limit).await?;
    Ok(Json(RunPage {
        items: rows.iter().map(RunView::from).collect(),
        next_cursor,
    }))
}

/// Starts a payout run over every seller now (besides the schedule).
#[utoipa::path(post, path = "/v1/ops/payouts/runs", tag = "payouts",
    responses((status = 202, body = RunView), (status = 403, description = "Not an ops key")),
    security(("bearer" = [])))]
pub async fn start_run(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let run_id = format!("manual:{}", ulid::Ulid::new().to_string().to_lowercase());
    fleet_shared::payout::start_run(&state.queues, &state.config, &run_id, "manual", None).await?;
    run_accepted(&state, &run_id).await
}

/// A run and its payouts.
#[utoipa::path(get, path = "/v1/ops/payouts/runs/{id}", tag = "payouts",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunDetail), (status = 404, description = "No such run")),
    security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RunDetail>> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let run = state
        .db
        .payout_run(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no payout run {id}")))?;
    let payouts = state.db.run_payouts(&id).await?;
    Ok(Json(RunDetail {
        run: RunView::from(&run),
        payouts: payouts.iter().map(PayoutView::from).collect(),
    }))
}

/// A SEPA credit-transfer file.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// Id, also the file's MsgId.
    pub id: String,
    /// The run it pays.
    pub run_id: String,
    /// Transactions.
    pub payouts: i64,
    /// Their sum in cents (the file's CtrlSum).
    pub ctrl_sum: i64,
    /// `created`, `paid` or `failed`.
    pub status: String,
    /// Created.
    pub created_at: String,
    /// Confirmed.
    pub confirmed_at: Option<String>,
    /// Download URL of the pain.001.001.03 XML (valid 15 minutes; on single batch reads).
    pub file_url: Option<String>,
}

impl From<&BatchRecord> for BatchView {
    fn from(b: &BatchRecord) -> Self {
        BatchView {
            id: b.id.clone(),
            run_id: b.run_id.clone(),
            payouts: b.payouts,
            ctrl_sum: b.ctrl_sum,
            status: b.status.clone(),
            created_at: rfc3339(b.created_at),
            confirmed_at: b.confirmed_at.map(rfc3339),
            file_url: None,
        }
    }
}

/// A page of SEPA batches.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchPage {
    /// Batches, newest first.
    pub items: Vec<BatchView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// SEPA batches, newest first.
#[utoipa::path(get, path = "/v1/ops/payouts/sepa-batches", tag = "payouts", params(PageQuery),
    responses((status = 200, body = BatchPage), (status = 403, description = "Not an ops key")),
    security(("bearer" = [])))]
pub async fn list_batches(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<BatchPage>> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let limit = page_limit(&page)?;
    let (rows, next_cursor) = state.db.sepa_batches(page.cursor.as_deref(), limit).await?;
    Ok(Json(BatchPage {
        items: rows.iter().map(BatchView::from).collect(),
        next_cursor,
    }))
}

async fn batch_or_404(state: &AppState, id: &str) -> ApiResult<BatchRecord> {
    state
        .db
        .sepa_batch(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no SEPA batch {id}")))
}

/// A SEPA batch with a download URL of its file.
#[utoipa::path(get, path = "/v1/ops/payouts/sepa-batches/{id}", tag = "payouts",
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, body = BatchView), (status = 404, description = "No such batch")),
    security(("bearer" = [])))]
pub async fn get_batch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<BatchView>> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let batch = batch_or_404(&state, &id).await?;
    let key = BlobKey::new(&batch.blob_key).map_err(ApiError::internal)?;
    let url = state
        .blobs
        .presign_get(&key, Duration::from_secs(900))
        .await?;
    let mut view = BatchView::from(&batch);
    view.file_url = Some(url.url);
    Ok(Json(view))
}

/// The bank's answer to a SEPA batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBatch {
    /// `paid` (every transfer executed, except `failed_payouts`) or `failed` (none was).
    pub status: String,
    /// Why the batch failed (with `failed`).
    pub reason: Option<String>,
    /// Transfers the bank rejected or returned (with `paid`).
    #[serde(default)]
    pub failed_payouts: Vec<FailedPayout>,
}

/// One transfer of a batch that failed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedPayout {
    /// The payout (the transfer's EndToEndId).
    pub payout_id: String,
    /// The bank's reason (an R-transaction code, `AC04 account closed`).
    pub reason: String,
}

impl Validate for ConfirmBatch {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.status != "paid" && self.status != "failed" {
            errors.push(FieldError::new("status", "must be `paid` or `failed`"));
        }
        if self.status == "failed" && !self.failed_payouts.is_empty() {
            errors.push(FieldError::new(
                "failed_payouts",
                "only with status `paid`: a failed batch fails every payout",
            ));
        }
        errors
    }
}

/// The batch after its confirmation, with its payouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmedBatch {
    /// The batch.
    pub batch: BatchView,
    /// Its payouts as settled.
    pub payouts: Vec<PayoutView>,
}

/// Records the bank's answer: payouts paid (in transit → paid out) or failed
/// (funds back to available). Repeating it changes nothing; a payout named
/// failed after the batch was confirmed paid is reversed (a bank return).
#[utoipa::path(post, path = "/v1/ops/payouts/sepa-batches/{id}/confirm", tag = "payouts",
    params(("id" = String, Path, description = "Batch id")), request_body = ConfirmBatch,
    responses((status = 200, body = ConfirmedBatch), (status = 404, description = "No such batch"),
        (status = 409, description = "A payout named that is not in the batch"), (status = 422, description = "Invalid status")),
    security(("bearer" = [])))]
pub async fn confirm_batch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(input): ValidJson<ConfirmBatch>,
) -> ApiResult<Json<ConfirmedBatch>> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let batch = batch_or_404(&state, &id).await?;
    let members = state.db.batch_payouts(&id).await?;
    for f in &input.failed_payouts {
        if !members.iter().any(|p| p.id == f.payout_id) {
            return Err(ApiError::Refused {
                reason: "not_in_batch",
                message: format!("payout {} is not in batch {id}", f.payout_id),
            });
        }
    }
    let payouts = Payouts::new(state.db.clone());
    for p in &members {
        let failure = if input.status == "failed" {
            Some(
                input
                    .reason
                    .clone()
                    .unwrap_or_else(|| "the bank rejected the batch".to_owned()),
            )
        } else {
            input
                .failed_payouts
                .iter()
                .find(|f| f.payout_id == p.id)
                .map(|f| f.reason.clone())
        };
        match failure {
            Some(reason) => {
                payouts.failed(&p.id, &reason).await?;
            }
            None if p.status != PayoutStatus::Failed => {
                payouts.paid(&p.id, None).await?;
            }
            None => {}
        }
    }
    state
        .db
        .confirm_sepa_batch(&id, &input.status, now_ms())
        .await?;
    let batch = state.db.sepa_batch(&id).await?.unwrap_or(batch);
    let members = state.db.batch_payouts(&id).await?;
    Ok(Json(ConfirmedBatch {
        batch: BatchView::from(&batch),
        payouts: members.iter().map(PayoutView::from).collect(),
    }))
}

/// A reconciliation and what it found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationView {
    /// Id.
    pub id: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Payouts and batches compared.
    pub checked: i64,
    /// Mismatches found.
    pub mismatches: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// Started.
    pub created_at: String,
    /// Finished.
    pub finished_at: Option<String>,
    /// A page of the mismatches.
    pub items: Vec<MismatchView>,
    /// Pass as `cursor` for the next page of mismatches.
    pub next_cursor: Option<String>,
}

/// One disagreement between a provider and the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct MismatchView {
    /// The payout.
    pub payout_id: Option<String>,
    /// The provider's record (Stripe transfer, SEPA batch).
    pub provider_ref: Option<String>,
    /// `missing_at_provider`, `duplicate_at_provider`, `unknown_at_provider`, `amount_differs`, `ledger_disagrees`, …
    pub kind: String,
    /// What differs.
    pub message: String,
}

impl From<&Mismatch> for MismatchView {
    fn from(m: &Mismatch) -> Self {
        MismatchView {
            payout_id: m.payout_id.clone(),
            provider_ref: m.provider_ref.clone(),
            kind: m.kind.clone(),
            message: m.message.clone(),
        }
    }
}

/// The queued reconciliation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationStarted {
    /// Its id.
    pub id: String,
    /// Where to read the result.
    pub status_url: String,
}

/// Compares the providers' records with the ledger in a job; read the result at `status_url`.
#[utoipa::path(post, path = "/v1/ops/payouts/reconciliations", tag = "payouts",
    responses((status = 202, body = ReconciliationStarted), (status = 403, description = "Not an ops key")),
    security(("bearer" = [])))]
pub async fn start_reconciliation(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<(StatusCode, Json<ReconciliationStarted>)> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let id = format!("rec-{}", ulid::Ulid::new().to_string().to_lowercase());
    state.db.create_reconciliation(&id, now_ms()).await?;
    let max_attempts = i32::try_from(
        state
            .config
            .kinds
            .of(fleet_jobs::WorkerKind::Payout)
            .max_attempts,
    )
    .unwrap_or(i32::MAX);
    let job = NewJob::of(
        &Reconcile {
            reconciliation_id: id.clone(),
        },
        max_attempts,
    )
    .map_err(ApiError::internal)?;
    state.queues.enqueue(vec![job]).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReconciliationStarted {
            status_url: format!(
                "{}/v1/ops/payouts/reconciliations/{id}",
                state.config.public_url()
            ),
            id,
        }),
    ))
}

/// A reconciliation and a page of its mismatches.
#[utoipa::path(get, path = "/v1/ops/payouts/reconciliations/{id}", tag = "payouts",
    params(("id" = String, Path, description = "Reconciliation id"), PageQuery),
    responses((status = 200, body = ReconciliationView), (status = 404, description = "No such reconciliation")),
    security(("bearer" = [])))]
pub async fn get_reconciliation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<ReconciliationView>> {
    principal.require(&[fleet_shared::db::api_keys::Role::Ops])?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".to_owned(),
        ));
    }
    let r = state
        .db
        .reconciliation(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no reconciliation {id}")))?;
    let (items, next_cursor) = state
        .db
        .reconciliation_mismatches(&id, page.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    Ok(Json(ReconciliationView {
        id: r.id,
        status: r.status,
        checked: r.checked,
        mismatches: r.mismatches,
        error: r.error,
        created_at: rfc3339(r.created_at),
        finished_at: r.finished_at.map(rfc3339),
        items: items.iter().map(MismatchView::from).collect(),
        next_cursor,
    }))
}
