//! Stripe's webhook: signed transfer events settle Stripe payouts
//! (`transfer.created` → paid; `transfer.reversed` → failed, funds back to
//! available). No bearer credential: the `Stripe-Signature` header is the
//! authentication.
//!
//! Payout events of a seller's connected account (`payout.paid`,
//! `payout.failed`, with `account` set) are about the next hop: Stripe paying
//! the seller's Stripe balance out to their bank. When the payout carries a
//! Fleet payout id (`metadata.payout_id`), `payout.paid` settles that payout
//! as paid (the transfer evidently arrived, even if its own event was lost),
//! and `payout.failed` also settles it as paid and records the bank's failure
//! on it: the funds are back in the seller's Stripe balance, not the
//! platform's, so the ledger does not return them to available (that would
//! pay twice). Payouts without a Fleet id (Stripe's automatic payouts) are
//! acknowledged and logged.

use crate::{error::ApiError, state::AppState};
use axum::{Json, Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use fleet_shared::payout::{PayoutError, Payouts, signature};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The webhook route (public: signed instead).
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/webhooks/stripe", post(stripe_webhook))
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
    /// The connected account the event happened on (Connect webhooks).
    #[serde(default)]
    account: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// What Fleet did with an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// Always true once the signature checked out.
    pub received: bool,
    /// `paid`, `failed`, `bank_failed` (the seller's bank payout failed after
    /// the transfer arrived), or `ignored` (event type or payout unknown).
    pub outcome: String,
}

/// Receives a Stripe event; 400 unless signed with the endpoint secret within 300 s.
#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "payouts",
    request_body(content = String, description = "The Stripe event, as Stripe sent it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<HMAC-SHA256 hex>")),
    responses((status = 200, body = WebhookAnswer), (status = 400, description = "Bad or stale signature, or not an event"),
        (status = 503, description = "No webhook secret configured")))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let secret = state
        .config
        .payout
        .stripe_webhook_secret
        .as_deref()
        .ok_or_else(|| ApiError::Unavailable {
            message: "Stripe webhooks are not configured (FLEET_PAYOUT__STRIPE_WEBHOOK_SECRET)"
                .to_owned(),
            details: serde_json::json!({}),
        })?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("missing Stripe-Signature header".to_owned()))?;
    let now = fleet_shared::db::now_ms() / 1_000;
    signature::verify(secret, header, &body, now)
        .map_err(|e| ApiError::BadRequest(format!("invalid Stripe-Signature: {e}")))?;
    let event: Event = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not a Stripe event: {e}")))?;
    let object = &event.data.object;
    let payout_id = object["metadata"]["payout_id"].as_str();
    // The transfer (tr_…) or payout (po_…) the event is about.
    let object_id = object["id"].as_str();
    let payouts = Payouts::new(state.db.clone());
    let result = match (event.kind.as_str(), payout_id) {
        ("transfer.created" | "transfer.paid", Some(pid)) => {
            payouts.paid(pid, object_id).await.map(|_| "paid")
        }
        ("transfer.reversed" | "transfer.failed", Some(pid)) => {
            let reason = format!("Stripe {} ({})", event.kind, object_id.unwrap_or("?"));
            payouts.failed(pid, &reason).await.map(|_| "failed")
        }
        ("payout.paid", Some(pid)) => payouts.paid(pid, None).await.map(|_| "paid"),
        ("payout.failed", Some(pid)) => {
            let reason = format!(
                "Stripe payout {} from the seller's Stripe balance to their bank failed ({}: {}); \
                 the funds are back in their Stripe balance",
                object_id.unwrap_or("?"),
                object["failure_code"].as_str().unwrap_or("unknown"),
                object["failure_message"].as_str().unwrap_or("no message"),
            );
            payouts
                .bank_payout_failed(pid, &reason)
                .await
                .map(|_| "bank_failed")
        }
        ("payout.paid" | "payout.failed", None) => {
            if event.kind == "payout.failed" {
                tracing::warn!(event = %event.id, account = event.account.as_deref().unwrap_or(""),
                    payout = object_id.unwrap_or(""), failure = object["failure_code"].as_str().unwrap_or(""),
                    "a seller's Stripe payout to their bank failed; it names no Fleet payout");
            }
            Ok("ignored")
        }
        _ => Ok("ignored"),
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        // Stripe retries anything but 2xx: an event about a payout Fleet does not
        // know, or one already settled the other way, is logged and acknowledged.
        Err(e @ (PayoutError::NotFound(_) | PayoutError::WrongStatus { .. })) => {
            tracing::warn!(event = %event.id, kind = %event.kind, error = %e, "Stripe event not applied");
            "ignored"
        }
        Err(PayoutError::Ledger(e @ fleet_shared::ledger::LedgerError::Excluded { .. })) => {
            tracing::warn!(event = %event.id, kind = %event.kind, error = %e, "Stripe event not applied");
            "ignored"
        }
        Err(other) => return Err(ApiError::from(other)),
    };
    tracing::info!(event = %event.id, kind = %event.kind, payout_id = payout_id.unwrap_or(""), outcome, "Stripe event");
    Ok(Json(WebhookAnswer {
        received: true,
        outcome: outcome.to_owned(),
    }))
}
