//! Order events from the marketplace backend, posted to the seller ledger.

use super::rfc3339;
use crate::{
    auth::Principal,
    error::{ApiResult, FieldError},
    extract::{ValidJson, Validate, batch_item},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderName, HeaderValue},
    response::IntoResponse,
    routing::post,
};
use fleet_shared::{
    db::{api_keys::Role, ledger::EventRecord},
    ledger::{Currency, EventType, OrderEvent},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `/v1/orders` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orders/events", post(post_event))
        .route("/v1/orders/events:batch", post(post_events))
}

/// Most events in one batch request.
pub const MAX_BATCH: usize = 1_000;

/// Largest amount accepted, in minor units (10 billion in a two-decimal currency).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderEventType {
    /// The buyer paid `amount`; the seller's share minus the fee becomes pending.
    Paid,
    /// Delivered (`amount` = the order's amount): the funds become available after the hold period.
    Delivered,
    /// The buyer accepted the item (`amount` = the order's amount): the funds become available now.
    Completed,
    /// Everything not yet refunded (`amount` = exactly that) goes back to the buyer.
    Refunded,
    /// `amount` (at most what is left) goes back to the buyer.
    PartiallyRefunded,
    /// The buyer disputed `amount`; released funds are held again.
    Disputed,
    /// The dispute (`amount` = the disputed amount) was decided for the seller.
    DisputeWon,
    /// The dispute (`amount` = the disputed amount) was decided for the buyer: a refund.
    DisputeLost,
}

impl From<OrderEventType> for EventType {
    fn from(t: OrderEventType) -> EventType {
        match t {
            OrderEventType::Paid => EventType::Paid,
            OrderEventType::Delivered => EventType::Delivered,
            OrderEventType::Completed => EventType::Completed,
            OrderEventType::Refunded => EventType::Refunded,
            OrderEventType::PartiallyRefunded => EventType::PartiallyRefunded,
            OrderEventType::Disputed => EventType::Disputed,
            OrderEventType::DisputeWon => EventType::DisputeWon,
            OrderEventType::DisputeLost => EventType::DisputeLost,
        }
    }
}

/// An order event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostOrderEvent {
    /// The backend's id of this event: posting it again is a no-op.
    pub event_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: OrderEventType,
    /// The order.
    pub order_id: String,
    /// The order's seller.
    pub seller_id: String,
    /// Minor units (cents), an integer > 0.
    pub amount: i64,
    /// Three upper-case letters (`EUR`).
    pub currency: String,
    /// `paid` only: the platform fee in minor units, instead of the configured percentage + fixed fee.
    pub fee: Option<i64>,
}

impl PostOrderEvent {
    /// The ledger's event (the fields already validated).
    fn into_event(self) -> Result<OrderEvent, FieldError> {
        let currency = Currency::new(&self.currency)
            .map_err(|e| FieldError::new("currency", e.to_string()))?;
        Ok(OrderEvent {
            event_id: self.event_id,
            kind: self.kind.into(),
            order_id: self.order_id,
            seller_id: self.seller_id,
            amount: self.amount,
            currency,
            fee: self.fee,
        })
    }
}

/// Order events to post in one transaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostOrderEvents {
    /// 1-1000 events, recorded in this order; each succeeds or fails on its own.
    #[schema(value_type = Vec<PostOrderEvent>)]
    pub events: Vec<serde_json::Value>,
}

impl Validate for PostOrderEvents {
    fn validate(&self) -> Vec<FieldError> {
        if self.events.is_empty() || self.events.len() > MAX_BATCH {
            vec![FieldError::new(
                "events",
                format!("send 1-{MAX_BATCH} events per request"),
            )]
        } else {
            Vec::new()
        }
    }
}

/// The outcome of one event of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBatchItem {
    /// Position in the request.
    pub index: usize,
    /// The event id, when one could be read.
    pub event_id: Option<String>,
    /// `recorded`, `replayed` (already recorded, nothing changed), `refused`
    /// (out of order, or the event id reused with other content) or `invalid`.
    pub status: &'static str,
    /// The event as recorded (recorded or replayed).
    pub event: Option<OrderEventView>,
    /// Why it was refused, as `details.reason` of the single-event 409.
    pub reason: Option<&'static str>,
    /// What is wrong, for humans (refused).
    pub message: Option<String>,
    /// The fields at fault (invalid).
    pub errors: Vec<FieldError>,
}

/// Per-event results of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBatchResult {
    /// Events recorded now.
    pub recorded: usize,
    /// Events already recorded (replays).
    pub replayed: usize,
    /// Events the ledger refused; see their `reason`.
    pub refused: usize,
    /// Events with invalid fields; see their `errors`.
    pub invalid: usize,
    /// One result per event, in request order.
    pub results: Vec<EventBatchItem>,
}

/// Whether `id` is usable as an event, order or seller id.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

impl Validate for PostOrderEvent {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (field, value) in [
            ("event_id", &self.event_id),
            ("order_id", &self.order_id),
            ("seller_id", &self.seller_id),
        ] {
            if !valid_id(value) {
                errors.push(FieldError::new(
                    field,
                    "must be 1-128 characters without spaces or control characters",
                ));
            }
        }
        if !(1..=MAX_AMOUNT).contains(&self.amount) {
            errors.push(FieldError::new(
                "amount",
                format!("must be an integer from 1 to {MAX_AMOUNT} (minor units)"),
            ));
        }
        if Currency::new(&self.currency).is_err() {
            errors.push(FieldError::new(
                "currency",
                "must be three upper-case letters (ISO 4217, like EUR)",
            ));
        }
        if let Some(fee) = self.fee {
            if self.kind != OrderEventType::Paid {
                errors.push(FieldError::new("fee", "only a `paid` event carries a fee"));
            } else if fee < 0 || fee > self.amount {
                errors.push(FieldError::new(
                    "fee",
                    "must be between 0 and the amount (minor units)",
                ));
            }
        }
        errors
    }
}

/// One posting of a transfer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostingView {
    /// Account id (`seller:<id>:<CUR>:<bucket>` or `platform:<CUR>:<bucket>`).
    pub account: String,
    /// The account's seller; absent for platform accounts.
    pub seller_id: Option<String>,
    /// `pending`, `available`, `in_transit`, `paid_out`, `buyer_funds`, `fees_revenue`, `refunds` or `provider_clearing`.
    pub bucket: String,
    /// `debit` or `credit`.
    pub direction: String,
    /// Minor units, > 0.
    pub amount: i64,
}

/// An order event as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEventView {
    /// The backend's event id.
    pub event_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: String,
    /// The order.
    pub order_id: String,
    /// The seller.
    pub seller_id: String,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// The platform fee charged (`paid` only).
    pub fee: Option<i64>,
    /// The ledger transfer posted (`event:<event_id>`); absent when no money moved.
    pub transfer_id: Option<String>,
    /// Its postings: debits equal credits.
    pub postings: Vec<PostingView>,
    /// When the funds become available, if this event scheduled a release.
    pub release_at: Option<String>,
    /// When the event was recorded.
    pub recorded_at: String,
}

impl From<&EventRecord> for OrderEventView {
    fn from(e: &EventRecord) -> Self {
        OrderEventView {
            event_id: e.event_id.clone().unwrap_or_default(),
            kind: e.kind.to_string(),
            order_id: e.order_id.clone(),
            seller_id: e.seller_id.clone(),
            amount: e.amount,
            currency: e.currency.clone(),
            fee: e.fee,
            transfer_id: e.transfer_id.clone(),
            postings: e
                .postings
                .iter()
                .map(|p| PostingView {
                    account: p.account_id.clone(),
                    seller_id: p.seller_id.clone(),
                    bucket: p.bucket.to_string(),
                    direction: if p.amount > 0 { "credit" } else { "debit" }.to_owned(),
                    amount: p.amount.abs(),
                })
                .collect(),
            release_at: e.schedules_release.map(rfc3339),
            recorded_at: rfc3339(e.created_at),
        }
    }
}

/// Posts an order event to the ledger. The same `event_id` again returns the
/// recorded result unchanged (header `Idempotent-Replayed: true`); with other
/// content, or out of order for the order, it is a 409 naming the reason.
#[utoipa::path(post, path = "/v1/orders/events", tag = "orders", request_body = PostOrderEvent,
    responses(
        (status = 200, description = "Recorded (or already recorded: a replay)", body = OrderEventView),
        (status = 401, description = "No valid credential"), (status = 403, description = "Not a backend key"),
        (status = 409, description = "Out of order for the order, or the event id was used with other content; `details.reason` says which"),
        (status = 422, description = "Invalid fields"),
    ),
    security(("bearer" = [])))]
pub async fn post_event(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<PostOrderEvent>,
) -> ApiResult<impl IntoResponse> {
    principal.require(&[Role::Backend])?;
    let event = req
        .into_event()
        .map_err(|e| crate::ApiError::Invalid(vec![e]))?;
    let recorded = state.ledger.post(&event).await?;
    let replayed = HeaderValue::from_static(if recorded.replayed { "true" } else { "false" });
    Ok((
        [(HeaderName::from_static("idempotent-replayed"), replayed)],
        Json(OrderEventView::from(&recorded.event)),
    ))
}

/// Posts up to 1000 order events in one transaction, in request order — the
/// way to post many: one commit for all instead of one each. Each event
/// succeeds or fails alone, as `POST /v1/orders/events` would answer it one
/// by one. When the answer is not 200, post the same batch again: events
/// already recorded replay.
#[utoipa::path(post, path = "/v1/orders/events:batch", tag = "orders", request_body = PostOrderEvents,
    responses(
        (status = 200, description = "Per-event results", body = EventBatchResult),
        (status = 401, description = "No valid credential"), (status = 403, description = "Not a backend key"),
        (status = 413, description = "Body too large"),
        (status = 422, description = "No events, or more than 1000"),
        (status = 503, description = "Concurrent writers kept colliding: post the batch again"),
    ),
    security(("bearer" = [])))]
pub async fn post_events(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<PostOrderEvents>,
) -> ApiResult<Json<EventBatchResult>> {
    principal.require(&[Role::Backend])?;
    let mut results = Vec::with_capacity(req.events.len());
    let mut events = Vec::new();
    let mut indexes = Vec::new();
    for (index, value) in req.events.into_iter().enumerate() {
        let event_id = value
            .get("event_id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let read = batch_item::<PostOrderEvent>(value).and_then(|item| {
            let errors = item.validate();
            if errors.is_empty() {
                item.into_event().map_err(|e| vec![e])
            } else {
                Err(errors)
            }
        });
        let mut result = EventBatchItem {
            index,
            event_id,
            status: "invalid",
            event: None,
            reason: None,
            message: None,
            errors: Vec::new(),
        };
        match read {
            Ok(event) => {
                events.push(event);
                indexes.push(index);
            }
            Err(errors) => result.errors = errors,
        }
        results.push(result);
    }
    let posted = if events.is_empty() {
        Vec::new()
    } else {
        state.ledger.post_batch(&events).await?
    };
    for (index, outcome) in indexes.into_iter().zip(posted) {
        let result = &mut results[index];
        match outcome {
            Ok(recorded) => {
                result.status = if recorded.replayed {
                    "replayed"
                } else {
                    "recorded"
                };
                result.event = Some(OrderEventView::from(&recorded.event));
            }
            Err(err) => match crate::ApiError::from(err) {
                crate::ApiError::Refused { reason, message } => {
                    result.status = "refused";
                    result.reason = Some(reason);
                    result.message = Some(message);
                }
                other => return Err(other),
            },
        }
    }
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    Ok(Json(EventBatchResult {
        recorded: count("recorded"),
        replayed: count("replayed"),
        refused: count("refused"),
        invalid: count("invalid"),
        results,
    }))
}
