//! A client of Shopify's Admin GraphQL API: the shop and its primary location
//! (which also proves the access token works) and the `productSet` upsert.
//! Every call first takes its cost from the shop's token bucket, shared by all
//! workers through Redis, and the bucket follows the `throttleStatus` Shopify
//! reports; a `THROTTLED` answer waits for the points and tries again.

use crate::{
    config::ExportSettings,
    http::HttpClient,
    ratelimit::{Bucket, TokenBuckets},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Points a `productSet` mutation costs.
const PRODUCT_SET_COST: f64 = 10.0;
/// Points the shop and location query costs.
const SHOP_COST: f64 = 2.0;

const SHOP_QUERY: &str =
    "query ShopAndLocation { shop { name currencyCode myshopifyDomain } location { id name } }";

const PRODUCT_SET: &str =
    "mutation ProductSet($identifier: ProductSetIdentifiers!, $input: ProductSetInput!) {
  productSet(identifier: $identifier, input: $input, synchronous: true) {
    product { id handle }
    userErrors { field message code }
  }
}";

/// Why a Shopify call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShopifyError {
    /// The access token was refused (revoked, or the app uninstalled).
    #[error(
        "Shopify refused the access token ({0}): put the connection again with a valid Admin API token"
    )]
    Unauthorized(String),
    /// A passing failure: network, 5xx, or the rate limit would need too long a wait.
    #[error("Shopify is unavailable: {0}")]
    Transient(String),
    /// Shopify rejected the request itself (a GraphQL or variable error).
    #[error("Shopify rejected the request: {0}")]
    Rejected(String),
}

/// The shop behind a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopInfo {
    /// The shop's name.
    pub name: String,
    /// The currency it sells in.
    pub currency: String,
    /// Its primary location (inventory is set there).
    pub location_id: String,
}

/// The answer to one `productSet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductSetOutcome {
    /// Stored; the product's gid.
    Stored(String),
    /// Refused for this product; the `userErrors`, in plain words.
    Refused(String),
}

/// One shop's Admin API, rate-limited by its shared cost bucket.
pub struct ShopifyClient {
    http: HttpClient,
    endpoint: String,
    token: String,
    buckets: Arc<TokenBuckets>,
    key: String,
    bucket: Bucket,
    max_wait: Duration,
}

impl std::fmt::Debug for ShopifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyClient")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl ShopifyClient {
    /// A client of `shop_domain` with `token`, its calls counted in `buckets`.
    pub fn new(
        http: HttpClient,
        settings: &ExportSettings,
        shop_domain: &str,
        token: &str,
        buckets: Arc<TokenBuckets>,
    ) -> ShopifyClient {
        let base = settings.shopify_api_base.replace("{shop}", shop_domain);
        ShopifyClient {
            http,
            endpoint: format!(
                "{}/admin/api/{}/graphql.json",
                base.trim_end_matches('/'),
                settings.shopify_api_version
            ),
            token: token.to_owned(),
            buckets,
            key: format!("shopify:{shop_domain}"),
            // Shopify's standard plan until the first answer tells the real shape.
            bucket: Bucket::new(100.0, 2000.0),
            max_wait: Duration::from_secs(settings.max_throttle_wait_secs),
        }
    }

    /// The shop's name, currency and primary location; proves the token works.
    pub async fn shop(&mut self) -> Result<ShopInfo, ShopifyError> {
        let data = self.call(SHOP_QUERY, json!({}), SHOP_COST).await?;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match (
            text(&data["shop"]["name"]),
            text(&data["shop"]["currencyCode"]),
            text(&data["location"]["id"]),
        ) {
            (Some(name), Some(currency), Some(location_id)) => Ok(ShopInfo {
                name,
                currency,
                location_id,
            }),
            _ => Err(ShopifyError::Rejected(format!(
                "unexpected shop answer: {data}"
            ))),
        }
    }

    /// Creates or updates the product with `handle` from `input` (a `ProductSetInput`).
    pub async fn product_set(
        &mut self,
        handle: &str,
        input: &Value,
    ) -> Result<ProductSetOutcome, ShopifyError> {
        let variables = json!({"identifier": {"handle": handle}, "input": input});
        let data = self.call(PRODUCT_SET, variables, PRODUCT_SET_COST).await?;
        let set = &data["productSet"];
        let errors = set["userErrors"].as_array().cloned().unwrap_or_default();
        if !errors.is_empty() {
            let text = errors
                .iter()
                .map(|e| {
                    let field = e["field"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default();
                    let message = e["message"].as_str().unwrap_or("refused");
                    if field.is_empty() {
                        message.to_owned()
                    } else {
                        format!("{field}: {message}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Ok(ProductSetOutcome::Refused(text));
        }
        match set["product"]["id"].as_str() {
            Some(id) => Ok(ProductSetOutcome::Stored(id.to_owned())),
            None => Err(ShopifyError::Rejected(format!(
                "productSet returned no product: {data}"
            ))),
        }
    }

    /// Waits until the shared bucket holds `cost` points, then takes them.
    async fn take(&self, cost: f64, deadline: Instant) -> Result<(), ShopifyError> {
        self.buckets
            .acquire(&self.key, cost, self.bucket, deadline)
            .await
            .map_err(|_| self.too_long())
    }

    fn too_long(&self) -> ShopifyError {
        ShopifyError::Transient(format!(
            "the shop's API rate limit would need more than {}s of waiting",
            self.max_wait.as_secs()
        ))
    }

    async fn sleep_until_points(
        &self,
        wait: Duration,
        deadline: Instant,
    ) -> Result<(), ShopifyError> {
        if Instant::now() + wait > deadline {
            return Err(self.too_long());
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Runs one GraphQL operation costing about `cost` points; returns its `data`.
    async fn call(
        &mut self,
        query: &str,
        variables: Value,
        cost: f64,
    ) -> Result<Value, ShopifyError> {
        let deadline = Instant::now() + self.max_wait;
        let body = json!({"query": query, "variables": variables});
        loop {
            self.take(cost, deadline).await?;
            let request = self
                .http
                .inner()
                .post(&self.endpoint)
                .header("X-Shopify-Access-Token", &self.token)
                .json(&body)
                .build()
                .map_err(|e| ShopifyError::Transient(e.to_string()))?;
            // productSet upserts by handle, so a repeated request changes nothing more.
            let response = self
                .http
                .send(request, true)
                .await
                .map_err(|e| ShopifyError::Transient(e.to_string()))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(ShopifyError::Unauthorized(format!(
                    "HTTP {}",
                    status.as_u16()
                )));
            }
            if !status.is_success() {
                return Err(ShopifyError::Transient(format!(
                    "HTTP {} from the Admin API",
                    status.as_u16()
                )));
            }
            let answer: Value = response
                .json()
                .await
                .map_err(|e| ShopifyError::Transient(format!("unreadable answer: {e}")))?;
            let errors = answer["errors"].as_array().cloned().unwrap_or_default();
            let throttled = errors
                .iter()
                .any(|e| e["extensions"]["code"] == "THROTTLED");
            let available = self.follow_throttle_status(&answer).await;
            if throttled {
                let missing = (cost - available.unwrap_or(0.0)).max(1.0);
                let wait = Duration::from_secs_f64(missing / self.bucket.rate);
                tracing::debug!(?wait, "Shopify answered THROTTLED");
                self.sleep_until_points(wait, deadline).await?;
                continue;
            }
            if !errors.is_empty() {
                let messages = errors
                    .iter()
                    .map(|e| e["message"].as_str().unwrap_or("error").to_owned())
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(ShopifyError::Rejected(messages));
            }
            return Ok(answer["data"].clone());
        }
    }

    /// Adopts the bucket shape and level Shopify reports; returns the points available.
    async fn follow_throttle_status(&mut self, answer: &Value) -> Option<f64> {
        let status = &answer["extensions"]["cost"]["throttleStatus"];
        let maximum = status["maximumAvailable"].as_f64()?;
        let rate = status["restoreRate"].as_f64()?;
        let available = status["currentlyAvailable"].as_f64()?;
        self.bucket = Bucket::new(rate, maximum);
        if let Err(err) = self.buckets.lower(&self.key, available, self.bucket).await {
            tracing::warn!(error = %err, "Shopify rate limiter unavailable");
        }
        Some(available)
    }
}
