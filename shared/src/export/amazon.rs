//! A client of Amazon's Selling Partner API for listings: an LWA access token
//! exchanged from the seller's refresh token (cached until shortly before it
//! expires, renewed once when refused) and `putListingsItem`, paced by the
//! operation's rate (5 requests a second, bursts of 10) in a bucket shared by
//! every worker through Redis; and `searchDefinitionsProductTypes`, the product
//! types Amazon offers the seller in a marketplace (its own bucket at the same
//! rate), kept in the process for an hour per seller and marketplace.

use crate::{
    config::ExportSettings,
    export::{amazon_marketplaces, cache::TtlCache, connection::ConnectionFields},
    http::HttpClient,
    ratelimit::{Bucket, TokenBuckets},
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::{
    collections::BTreeSet,
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

/// Fleet's pace for `putListingsItem`, whose usage plan is 5 requests a second
/// with bursts of 10: 98% of the rate, and a burst two requests short of
/// Amazon's, so requests that reach Amazon bunched together (network jitter,
/// several workers) still fit (bench/export: 0 refusals at 5/s).
const PUT_RATE: f64 = 4.9;
const PUT_BURST: f64 = 8.0;
/// How long a process keeps the product types Amazon offers before asking again.
pub const PRODUCT_TYPES_TTL: Duration = Duration::from_secs(3600);
/// A token is renewed this long before Amazon says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Why an SP-API call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AmazonError {
    /// The LWA credentials or the access token were refused.
    #[error(
        "Amazon refused the seller's credentials ({0}): put the amazon connection again with a valid LWA client and refresh token"
    )]
    Unauthorized(String),
    /// A passing failure: network, 5xx, or the rate limit would need too long a wait.
    #[error("Amazon's Selling Partner API is unavailable: {0}")]
    Transient(String),
    /// Amazon rejected the request itself.
    #[error("Amazon rejected the request: {0}")]
    Rejected(String),
}

/// Amazon's answer to one `putListingsItem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// `ACCEPTED` or `INVALID`.
    pub status: String,
    /// Amazon's submission id.
    pub submission_id: String,
    /// The issues Amazon found, in plain words (errors first).
    pub issues: Vec<String>,
}

impl Submission {
    /// Whether Amazon accepted the listing for processing.
    pub fn accepted(&self) -> bool {
        self.status == "ACCEPTED"
    }
}

/// The product types Amazon offers a seller in one marketplace
/// (`searchDefinitionsProductTypes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductTypes {
    /// The marketplace.
    pub marketplace_id: String,
    /// Amazon's version of the list (`productTypeVersion`).
    pub version: String,
    names: BTreeSet<String>,
}

impl ProductTypes {
    /// The types in an answer for `marketplace_id` (`{productTypes: [{name,
    /// displayName, marketplaceIds}], productTypeVersion}`).
    pub fn from_answer(marketplace_id: &str, answer: &Value) -> Result<ProductTypes, AmazonError> {
        let Some(types) = answer["productTypes"].as_array() else {
            return Err(AmazonError::Transient(
                "searchDefinitionsProductTypes answered without productTypes".to_owned(),
            ));
        };
        let names: BTreeSet<String> = types
            .iter()
            .filter(|t| {
                // A type listed for other marketplaces only is not offered here.
                t["marketplaceIds"]
                    .as_array()
                    .is_none_or(|ids| ids.iter().any(|id| id == marketplace_id))
            })
            .filter_map(|t| t["name"].as_str())
            .map(str::to_owned)
            .collect();
        if names.is_empty() {
            return Err(AmazonError::Transient(format!(
                "searchDefinitionsProductTypes named no product type for {marketplace_id}"
            )));
        }
        Ok(ProductTypes {
            marketplace_id: marketplace_id.to_owned(),
            version: answer["productTypeVersion"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            names,
        })
    }

    /// Whether Amazon offers `product_type` there.
    pub fn offers(&self, product_type: &str) -> bool {
        self.names.contains(product_type)
    }

    /// How many types Amazon offers there.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether Amazon offers none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// What the client needs of a seller's Amazon connection.
#[derive(Debug, Clone)]
pub struct AmazonCredentials {
    /// LWA client id.
    pub client_id: String,
    /// LWA client secret.
    pub client_secret: String,
    /// The seller's LWA refresh token.
    pub refresh_token: String,
    /// Selling partner id.
    pub seller_id: String,
    /// `na`, `eu` or `fe`.
    pub region: String,
}

impl AmazonCredentials {
    /// The credentials of a stored Amazon connection (region: the one set, else
    /// the one serving its marketplaces, else `na`).
    pub fn of(fields: &ConnectionFields) -> AmazonCredentials {
        let served = fields
            .list("marketplace_ids")
            .first()
            .and_then(|id| amazon_marketplaces::marketplace(id))
            .map(|m| m.region);
        AmazonCredentials {
            client_id: fields
                .setting("lwa_client_id")
                .unwrap_or_default()
                .to_owned(),
            client_secret: fields.secret("lwa_client_secret").to_owned(),
            refresh_token: fields.secret("refresh_token").to_owned(),
            seller_id: fields.setting("seller_id").unwrap_or_default().to_owned(),
            region: fields
                .setting("region")
                .or(served)
                .unwrap_or("na")
                .to_owned(),
        }
    }
}

/// One seller's listings API.
pub struct AmazonClient {
    http: HttpClient,
    token_url: String,
    api_base: String,
    credentials: AmazonCredentials,
    token: Option<(String, Instant)>,
    buckets: Arc<TokenBuckets>,
    key: String,
    max_wait: Duration,
}

impl std::fmt::Debug for AmazonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmazonClient")
            .field("api_base", &self.api_base)
            .field("seller_id", &self.credentials.seller_id)
            .finish_non_exhaustive()
    }
}

impl AmazonClient {
    /// A client for `credentials`, its calls counted in `buckets`.
    pub fn new(
        http: HttpClient,
        settings: &ExportSettings,
        credentials: AmazonCredentials,
        buckets: Arc<TokenBuckets>,
    ) -> AmazonClient {
        AmazonClient {
            http,
            token_url: settings.amazon_token_url.clone(),
            api_base: settings
                .amazon_api_base
                .replace("{region}", &credentials.region)
                .trim_end_matches('/')
                .to_owned(),
            key: format!("amazon:{}", credentials.seller_id),
            credentials,
            token: None,
            buckets,
            max_wait: Duration::from_secs(settings.max_throttle_wait_secs),
        }
    }

    /// An access token, exchanged from the refresh token when there is no fresh one.
    pub async fn access_token(&mut self) -> Result<String, AmazonError> {
        if let Some((token, until)) = &self.token
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.credentials.refresh_token.as_str()),
            ("client_id", self.credentials.client_id.as_str()),
            ("client_secret", self.credentials.client_secret.as_str()),
        ];
        let (status, body) = self
            .http
            .post_form(&self.token_url, &form)
            .await
            .map_err(|e| AmazonError::Transient(e.to_string()))?;
        if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED {
            let reason = body["error"].as_str().unwrap_or("refused");
            return Err(AmazonError::Unauthorized(format!("LWA: {reason}")));
        }
        let (Some(token), true) = (body["access_token"].as_str(), status.is_success()) else {
            return Err(AmazonError::Transient(format!(
                "LWA answered HTTP {}",
                status.as_u16()
            )));
        };
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        self.token = Some((token.to_owned(), until));
        Ok(token.to_owned())
    }

    /// Waits until the shared bucket `key` has a request, then takes it.
    async fn take(&self, key: &str, deadline: Instant) -> Result<(), AmazonError> {
        self.buckets
            .acquire(key, 1.0, Bucket::new(PUT_RATE, PUT_BURST), deadline)
            .await
            .map_err(|_| {
                AmazonError::Transient(format!(
                    "the Selling Partner API rate limit would need more than {}s of waiting",
                    self.max_wait.as_secs()
                ))
            })
    }

    /// `path` under the API base, with `segments` appended and `query` pairs.
    fn url(
        &self,
        path: &str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<url::Url, AmazonError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.api_base))
            .map_err(|e| AmazonError::Transient(format!("amazon_api_base: {e}")))?;
        if !segments.is_empty() {
            url.path_segments_mut()
                .map_err(|()| {
                    AmazonError::Transient("amazon_api_base cannot be a base".to_owned())
                })?
                .pop_if_empty()
                .extend(segments);
        }
        url.query_pairs_mut().extend_pairs(query);
        Ok(url)
    }

    /// Sends one call paced in bucket `key` (renewing the token once when it
    /// is refused); the answer of a success.
    async fn call(
        &mut self,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
        key: &str,
    ) -> Result<Value, AmazonError> {
        let deadline = Instant::now() + self.max_wait;
        let mut renewed = false;
        loop {
            let token = self.access_token().await?;
            self.take(key, deadline).await?;
            let mut request = self
                .http
                .inner()
                .request(method.clone(), url.clone())
                .header("x-amz-access-token", token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let request = request
                .build()
                .map_err(|e| AmazonError::Transient(e.to_string()))?;
            // Both calls are idempotent: putting the same listing again replaces
            // it with the same content.
            let response = self
                .http
                .send(request, true)
                .await
                .map_err(|e| AmazonError::Transient(e.to_string()))?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if !renewed => {
                    // The cached token may have been revoked or expired early: exchange once more.
                    self.token = None;
                    renewed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(AmazonError::Unauthorized(errors_text(&answer)));
                }
                s if s.is_success() => return Ok(answer),
                s if s.is_client_error() && s != StatusCode::TOO_MANY_REQUESTS => {
                    return Err(AmazonError::Rejected(errors_text(&answer)));
                }
                s => {
                    return Err(AmazonError::Transient(format!(
                        "HTTP {} ({})",
                        s.as_u16(),
                        errors_text(&answer)
                    )));
                }
            }
        }
    }

    /// Creates or replaces the listing `sku` in `marketplace_ids` from `body`
    /// (`{productType, requirements, attributes}`).
    pub async fn put_listing(
        &mut self,
        sku: &str,
        marketplace_ids: &[String],
        body: &Value,
    ) -> Result<Submission, AmazonError> {
        let url = self.url(
            "/listings/2021-08-01/items/",
            &[&self.credentials.seller_id, sku],
            &[
                ("marketplaceIds", &marketplace_ids.join(",")),
                ("issueLocale", "en_US"),
            ],
        )?;
        let key = self.key.clone();
        let answer = self.call(Method::PUT, url, Some(body), &key).await?;
        Ok(submission(&answer))
    }

    /// The product types Amazon offers the seller in `marketplace_id`: asked
    /// once and kept for [`PRODUCT_TYPES_TTL`] by every client of this process
    /// for the same seller.
    pub async fn product_types(
        &mut self,
        marketplace_id: &str,
    ) -> Result<Arc<ProductTypes>, AmazonError> {
        static OFFERED: LazyLock<TtlCache<ProductTypes>> =
            LazyLock::new(|| TtlCache::new(PRODUCT_TYPES_TTL));
        let cache_key = format!(
            "{} {} {} {marketplace_id}",
            self.api_base, self.credentials.client_id, self.credentials.seller_id
        );
        OFFERED
            .get_or_fetch(&cache_key, move || async move {
                let url = self.url(
                    "/definitions/2020-09-01/productTypes",
                    &[],
                    &[("marketplaceIds", marketplace_id)],
                )?;
                // Its own usage plan (5 requests a second, bursts of 10): its own bucket.
                let key = format!("{}:productTypes", self.key);
                let answer = self.call(Method::GET, url, None, &key).await?;
                ProductTypes::from_answer(marketplace_id, &answer)
            })
            .await
    }
}

/// The `errors` of an SP-API error answer, in plain words.
fn errors_text(answer: &Value) -> String {
    let text = answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["code"].as_str().unwrap_or("error"),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    if text.is_empty() {
        "no details".to_owned()
    } else {
        text
    }
}

fn submission(answer: &Value) -> Submission {
    let mut issues: Vec<(bool, String)> = answer["issues"]
        .as_array()
        .map(|issues| {
            issues
                .iter()
                .map(|i| {
                    let error = i["severity"] == "ERROR";
                    let attributes = i["attributeNames"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    let message = i["message"].as_str().unwrap_or("issue");
                    let text = if attributes.is_empty() {
                        message.to_owned()
                    } else {
                        format!("{attributes}: {message}")
                    };
                    (error, text)
                })
                .collect()
        })
        .unwrap_or_default();
    issues.sort_by_key(|(error, _)| !error);
    Submission {
        status: answer["status"].as_str().unwrap_or("INVALID").to_owned(),
        submission_id: answer["submissionId"].as_str().unwrap_or("").to_owned(),
        issues: issues.into_iter().map(|(_, text)| text).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn product_types_of_the_asked_marketplace() {
        let answer = json!({"productTypes": [
            {"name": "SHIRT", "displayName": "Shirt", "marketplaceIds": ["A1PA6795UKMFR9"]},
            {"name": "COAT", "displayName": "Coat", "marketplaceIds": ["ATVPDKIKX0DER"]},
            {"name": "PRODUCT", "displayName": "Product"},
        ], "productTypeVersion": "UHARM"});
        let types = ProductTypes::from_answer("A1PA6795UKMFR9", &answer).unwrap();
        assert!(types.offers("SHIRT") && types.offers("PRODUCT"));
        assert!(!types.offers("COAT"), "listed for another marketplace");
        assert_eq!(types.len(), 2);
        assert_eq!(types.version, "UHARM");
        assert!(ProductTypes::from_answer("A1PA6795UKMFR9", &json!({"errors": []})).is_err());
    }
}
