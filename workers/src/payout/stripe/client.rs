//! Stripe's API as the payout worker uses it: create a transfer to a
//! connected account (form-encoded, `Idempotency-Key`, bearer secret key) and
//! list transfers for reconciliation.

use fleet_shared::http::{HttpClient, HttpError, HttpSettings};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a Stripe call failed.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// No secret key configured.
    #[error("Stripe payouts need FLEET_PAYOUT__STRIPE_SECRET_KEY")]
    NotConfigured,
    /// Stripe refused the request (4xx other than 429): retrying will not help.
    #[error("Stripe refused ({status}, {kind}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stripe's error type (`invalid_request_error`, `idempotency_error`, …).
        kind: String,
        /// Stripe's message.
        message: String,
    },
    /// No answer, 429 or 5xx after the client's retries: try again later.
    #[error("Stripe unavailable: {0}")]
    Unavailable(String),
}

impl From<HttpError> for StripeError {
    fn from(err: HttpError) -> Self {
        StripeError::Unavailable(err.to_string())
    }
}

/// A Stripe transfer object (the fields Fleet reads).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct StripeTransfer {
    /// `tr_…`.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// Lower-case currency.
    pub currency: String,
    /// The connected account.
    pub destination: String,
    /// Groups a run's transfers.
    pub transfer_group: Option<String>,
    /// Fleet's `payout_id` among others.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Whether it was reversed.
    #[serde(default)]
    pub reversed: bool,
}

/// What to transfer.
#[derive(Debug, Clone)]
pub struct NewTransfer<'a> {
    /// The payout: idempotency key and metadata.
    pub payout_id: &'a str,
    /// Minor units.
    pub amount: i64,
    /// ISO code (sent lower-case).
    pub currency: &'a str,
    /// `acct_…`.
    pub destination: &'a str,
    /// The run.
    pub transfer_group: &'a str,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ListBody {
    data: Vec<StripeTransfer>,
    has_more: bool,
}

/// A Stripe API client.
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: HttpClient,
    base: String,
    secret_key: String,
}

impl StripeClient {
    /// A client for `base` (`https://api.stripe.com`) with `secret_key`.
    pub fn new(base: &str, secret_key: Option<&str>) -> Result<StripeClient, StripeError> {
        let secret_key = secret_key.ok_or(StripeError::NotConfigured)?.to_owned();
        Ok(StripeClient {
            http: HttpClient::new(HttpSettings::default())?,
            base: base.trim_end_matches('/').to_owned(),
            secret_key,
        })
    }

    async fn answer<T: for<'de> Deserialize<'de>>(
        response: reqwest::Response,
    ) -> Result<T, StripeError> {
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| StripeError::Unavailable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| StripeError::Unavailable(format!("unreadable Stripe answer: {e}")));
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        let (kind, message) = detail.map_or_else(
            || {
                (
                    "unknown".to_owned(),
                    String::from_utf8_lossy(&body).chars().take(300).collect(),
                )
            },
            |d| (d.kind, d.message),
        );
        if status.as_u16() == 429 || status.is_server_error() {
            Err(StripeError::Unavailable(format!("{status}: {message}")))
        } else {
            Err(StripeError::Refused {
                status: status.as_u16(),
                kind,
                message,
            })
        }
    }

    /// `POST /v1/transfers` with the payout id as `Idempotency-Key`: repeating it returns the first transfer.
    pub async fn create_transfer(
        &self,
        t: &NewTransfer<'_>,
    ) -> Result<StripeTransfer, StripeError> {
        let amount = t.amount.to_string();
        let currency = t.currency.to_ascii_lowercase();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency.as_str()),
            ("destination", t.destination),
            ("transfer_group", t.transfer_group),
            ("metadata[payout_id]", t.payout_id),
        ];
        let request = self
            .http
            .inner()
            .post(format!("{}/v1/transfers", self.base))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", t.payout_id)
            .form(&form)
            .build()
            .map_err(HttpError::from)?;
        let response = self.http.send(request, true).await?;
        Self::answer(response).await
    }

    /// Every transfer, newest first (`GET /v1/transfers`, paginated).
    pub async fn list_transfers(&self) -> Result<Vec<StripeTransfer>, StripeError> {
        let mut all: Vec<StripeTransfer> = Vec::new();
        loop {
            let mut query = vec![("limit", "100".to_owned())];
            if let Some(last) = all.last() {
                query.push(("starting_after", last.id.clone()));
            }
            let request = self
                .http
                .inner()
                .get(format!("{}/v1/transfers", self.base))
                .bearer_auth(&self.secret_key)
                .query(&query)
                .build()
                .map_err(HttpError::from)?;
            let page: ListBody = Self::answer(self.http.send(request, true).await?).await?;
            let done = !page.has_more || page.data.is_empty();
            all.extend(page.data);
            if done {
                return Ok(all);
            }
        }
    }
}
