//! A seller's money: balances per currency and bucket, and the ledger lines behind them.

use super::{ops::PageQuery, rfc3339};
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::get,
};
use fleet_shared::{db::ledger::LedgerEntry, ledger::Bucket};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `/v1/sellers` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sellers/{id}/balance", get(balance))
        .route("/v1/sellers/{id}/ledger", get(ledger))
}

/// A seller's balance in one currency, in minor units.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct CurrencyBalance {
    /// Currency.
    pub currency: String,
    /// Earned, still held (not delivered, within the hold period, or disputed).
    pub pending: i64,
    /// Payable; negative when the seller owes the platform (then no payout is made).
    pub available: i64,
    /// In payouts not yet confirmed.
    pub in_transit: i64,
    /// Paid out.
    pub paid_out: i64,
}

/// A seller's balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct SellerBalance {
    /// The seller.
    pub seller_id: String,
    /// One entry per currency the seller has postings in.
    pub balances: Vec<CurrencyBalance>,
}

/// One ledger line: a change of one of the seller's buckets.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryView {
    /// Posting id.
    pub id: String,
    /// The transfer it belongs to (`event:<event id>`, `release:<order id>`).
    pub transfer_id: String,
    /// What caused it (`paid`, `released`, `refunded`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The order.
    pub order_id: Option<String>,
    /// The backend's event id, when an order event caused it.
    pub event_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// `pending`, `available`, `in_transit` or `paid_out`.
    pub bucket: String,
    /// Change of that bucket, in minor units (negative: it went down).
    pub amount: i64,
    /// When.
    pub created_at: String,
}

impl From<&LedgerEntry> for LedgerEntryView {
    fn from(e: &LedgerEntry) -> Self {
        LedgerEntryView {
            id: e.id.to_string(),
            transfer_id: e.transfer_id.clone(),
            kind: e.kind.clone(),
            order_id: e.order_id.clone(),
            event_id: e.event_id.clone(),
            currency: e.currency.clone(),
            bucket: e.bucket.to_string(),
            amount: e.amount,
            created_at: rfc3339(e.created_at),
        }
    }
}

/// A page of ledger lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPage {
    /// Oldest first.
    pub items: Vec<LedgerEntryView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// 404 unless the caller may see `seller_id`'s money: the seller itself, backend or ops.
fn authorize(principal: &Principal, seller_id: &str) -> ApiResult<()> {
    if principal.can_see(Some(seller_id)) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no seller {seller_id}")))
    }
}

/// A seller's balance per currency and bucket, derived from the ledger.
#[utoipa::path(get, path = "/v1/sellers/{id}/balance", tag = "sellers",
    params(("id" = String, Path, description = "Seller id")),
    responses((status = 200, body = SellerBalance), (status = 404, description = "Another seller's")),
    security(("bearer" = [])))]
pub async fn balance(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SellerBalance>> {
    authorize(&principal, &id)?;
    let mut by_currency: BTreeMap<String, CurrencyBalance> = BTreeMap::new();
    for b in state.db.seller_balances(&id).await? {
        let entry = by_currency
            .entry(b.currency.clone())
            .or_insert_with(|| CurrencyBalance {
                currency: b.currency.clone(),
                ..CurrencyBalance::default()
            });
        match b.bucket {
            Bucket::Pending => entry.pending = b.balance,
            Bucket::Available => entry.available = b.balance,
            Bucket::InTransit => entry.in_transit = b.balance,
            Bucket::PaidOut => entry.paid_out = b.balance,
            _ => {}
        }
    }
    Ok(Json(SellerBalance {
        seller_id: id,
        balances: by_currency.into_values().collect(),
    }))
}

/// A seller's ledger lines, oldest first, cursor-paginated.
#[utoipa::path(get, path = "/v1/sellers/{id}/ledger", tag = "sellers",
    params(("id" = String, Path, description = "Seller id"), PageQuery),
    responses((status = 200, body = LedgerPage), (status = 400, description = "Bad limit or cursor"),
        (status = 404, description = "Another seller's")),
    security(("bearer" = [])))]
pub async fn ledger(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<LedgerPage>> {
    authorize(&principal, &id)?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".to_owned(),
        ));
    }
    let after = match page.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor `{c}`")))?,
    };
    let entries = state.db.seller_ledger(&id, after, limit + 1).await?;
    let more = entries.len() as i64 > limit;
    let items: Vec<LedgerEntryView> = entries
        .iter()
        .take(limit as usize)
        .map(LedgerEntryView::from)
        .collect();
    let next_cursor = if more {
        items.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(Json(LedgerPage { items, next_cursor }))
}
