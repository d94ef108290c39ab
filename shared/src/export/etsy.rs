//! A client of Etsy's Open API v3 for a seller's shop: draft listings created
//! (form-encoded) or updated, photos uploaded (multipart, ranked), inventory
//! (SKU, price, quantity) set. Every call sends `x-api-key: keystring:secret`
//! and the seller's OAuth token; an expired or refused token is refreshed
//! once and the new pair handed back for storage. Calls are paced by the
//! per-second limit Etsy reports in `x-limit-per-second` and
//! `x-remaining-this-second`, in a bucket shared through Redis; when
//! `x-remaining-today` reaches zero, the chunk stops for the day. Etsy's
//! seller taxonomy (`getSellerTaxonomyNodes`, which needs only the API key) is
//! read through the same limits and kept in the process for an hour.

use crate::{
    config::ExportSettings,
    export::{cache::TtlCache, connection::ConnectionFields},
    http::HttpClient,
    ratelimit::{Bucket, TokenBuckets},
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Map, Value, json};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

/// How long a process keeps Etsy's seller taxonomy before reading it again.
pub const TAXONOMY_TTL: Duration = Duration::from_secs(3600);

/// The values Etsy takes for a listing's `when_made` (its 2025 list, plus
/// `2020_2026` of the yearly refresh Etsy announced for its newest range).
pub const WHEN_MADE: &[&str] = &[
    "made_to_order",
    "2020_2026",
    "2020_2025",
    "2010_2019",
    "2006_2009",
    "before_2006",
    "2000_2005",
    "1990s",
    "1980s",
    "1970s",
    "1960s",
    "1950s",
    "1940s",
    "1930s",
    "1920s",
    "1910s",
    "1900s",
    "1800s",
    "1700s",
    "before_1700",
];

/// Why an Etsy call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EtsyError {
    /// The API key or the OAuth tokens were refused (and refreshing did not help).
    #[error(
        "Etsy refused the shop's credentials ({0}): put the etsy connection again with a valid keystring and tokens"
    )]
    Unauthorized(String),
    /// A passing failure: network, 5xx, a rate limit, or the day's quota spent.
    #[error("Etsy is unavailable: {0}")]
    Transient(String),
    /// Etsy refused this request (a field it does not accept).
    #[error("Etsy refused it: {0}")]
    Rejected(String),
}

/// Etsy's seller taxonomy as read: every node's id, and the top-level nodes by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SellerTaxonomy {
    ids: HashSet<u64>,
    top_level: HashMap<String, u64>,
}

/// A name compared ignoring case and spacing.
fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl SellerTaxonomy {
    /// The taxonomy in an answer of getSellerTaxonomyNodes: `{count, results:
    /// [node…]}`, each node `{id, level, name, parent_id, children: [node…]}`.
    pub fn from_answer(answer: &Value) -> Result<SellerTaxonomy, EtsyError> {
        let Some(roots) = answer["results"].as_array() else {
            return Err(EtsyError::Transient(
                "Etsy's seller taxonomy came without results".to_owned(),
            ));
        };
        let mut taxonomy = SellerTaxonomy::default();
        let mut nodes: Vec<&Value> = roots.iter().collect();
        while let Some(node) = nodes.pop() {
            let Some(id) = node["id"].as_u64() else {
                continue;
            };
            taxonomy.ids.insert(id);
            let top = match node["level"].as_u64() {
                Some(level) => level == 0,
                None => node["parent_id"].is_null(),
            };
            if top && let Some(name) = node["name"].as_str() {
                taxonomy.top_level.insert(name_key(name), id);
            }
            if let Some(children) = node["children"].as_array() {
                nodes.extend(children);
            }
        }
        if taxonomy.ids.is_empty() {
            return Err(EtsyError::Transient(
                "Etsy's seller taxonomy came empty".to_owned(),
            ));
        }
        Ok(taxonomy)
    }

    /// Whether `id` is a node of the taxonomy.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// The id of the top-level node named `name` (ignoring case and spacing).
    pub fn top_level(&self, name: &str) -> Option<u64> {
        self.top_level.get(&name_key(name)).copied()
    }

    /// How many nodes it has.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it has no node.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The shop's OAuth tokens after a refresh, to be stored in place of the old ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshedTokens {
    /// New access token.
    pub access_token: String,
    /// New refresh token (Etsy rotates it).
    pub refresh_token: String,
}

impl RefreshedTokens {
    /// Puts the pair into `fields` and seals it into `seller_id`'s Etsy connection.
    pub async fn store(
        self,
        db: &crate::Db,
        sealer: &crate::seal::Sealer,
        seller_id: &str,
        fields: &mut ConnectionFields,
    ) -> Result<(), crate::DbError> {
        let secrets = &mut fields.secrets;
        secrets.insert("access_token".to_owned(), json!(self.access_token));
        secrets.insert("refresh_token".to_owned(), json!(self.refresh_token));
        crate::export::connection::store_secrets(
            db,
            sealer,
            seller_id,
            fleet_jobs::export::Marketplace::Etsy,
            secrets,
        )
        .await
    }
}

/// One seller's Etsy shop.
pub struct EtsyClient {
    http: HttpClient,
    api_base: String,
    token_url: String,
    keystring: String,
    shared_secret: String,
    access_token: String,
    refresh_token: String,
    shop_id: String,
    refreshed: Option<RefreshedTokens>,
    day_spent: bool,
    buckets: Arc<TokenBuckets>,
    key: String,
    bucket: Bucket,
    max_wait: Duration,
}

impl std::fmt::Debug for EtsyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtsyClient")
            .field("api_base", &self.api_base)
            .field("shop_id", &self.shop_id)
            .finish_non_exhaustive()
    }
}

/// A request's body.
pub enum Body {
    /// None.
    Empty,
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(String, String)>),
    /// JSON.
    Json(Value),
    /// A photo upload: file name, bytes, rank.
    Image(String, Vec<u8>, usize),
}

impl EtsyClient {
    /// A client of the shop in `fields` (a stored Etsy connection), its calls counted in `buckets`.
    pub fn new(
        http: HttpClient,
        settings: &ExportSettings,
        fields: &ConnectionFields,
        buckets: Arc<TokenBuckets>,
    ) -> EtsyClient {
        let keystring = fields.secret("keystring").to_owned();
        EtsyClient {
            http,
            api_base: settings.etsy_api_base.trim_end_matches('/').to_owned(),
            token_url: settings.etsy_token_url.clone(),
            key: format!("etsy:{keystring}"),
            keystring,
            shared_secret: fields.secret("shared_secret").to_owned(),
            access_token: fields.secret("access_token").to_owned(),
            refresh_token: fields.secret("refresh_token").to_owned(),
            shop_id: fields.setting("shop_id").unwrap_or_default().to_owned(),
            refreshed: None,
            day_spent: false,
            buckets,
            // Cautious until the first answer tells the app's limit.
            bucket: Bucket::new(2.0, 1.0),
            max_wait: Duration::from_secs(settings.max_throttle_wait_secs),
        }
    }

    /// Uses this token pair from now on (stored by another worker's refresh).
    pub fn use_tokens(&mut self, access_token: &str, refresh_token: &str) {
        self.access_token = access_token.to_owned();
        self.refresh_token = refresh_token.to_owned();
    }

    /// The tokens a refresh produced, once (the caller stores them).
    pub fn take_refreshed(&mut self) -> Option<RefreshedTokens> {
        self.refreshed.take()
    }

    /// The shop's name; proves the key and token work.
    pub async fn shop(&mut self) -> Result<String, EtsyError> {
        let path = format!("/shops/{}", self.shop_id);
        let shop = self.call(Method::GET, &path, Body::Empty).await?;
        Ok(shop["shop_name"].as_str().unwrap_or("the shop").to_owned())
    }

    /// Etsy's seller taxonomy: read once (through the shop's limits) and kept
    /// for [`TAXONOMY_TTL`] by every client of this process with the same API.
    pub async fn seller_taxonomy(&mut self) -> Result<Arc<SellerTaxonomy>, EtsyError> {
        static TAXONOMIES: LazyLock<TtlCache<SellerTaxonomy>> =
            LazyLock::new(|| TtlCache::new(TAXONOMY_TTL));
        // The taxonomy is the same for every shop; the key only tells apart Etsy
        // APIs (and apps, whose key reads it).
        let key = format!("{} {}", self.api_base, self.keystring);
        TAXONOMIES
            .get_or_fetch(&key, move || async move {
                let answer = self
                    .call_as(Method::GET, "/seller-taxonomy/nodes", Body::Empty, false)
                    .await?;
                SellerTaxonomy::from_answer(&answer)
            })
            .await
    }

    /// Creates a draft listing from `form`; returns its listing id.
    pub async fn create_draft(&mut self, form: Vec<(String, String)>) -> Result<String, EtsyError> {
        let path = format!("/shops/{}/listings", self.shop_id);
        let listing = self.call(Method::POST, &path, Body::Form(form)).await?;
        listing_id(&listing)
    }

    /// Updates listing `id` with `form`.
    pub async fn update_listing(
        &mut self,
        id: &str,
        form: Vec<(String, String)>,
    ) -> Result<(), EtsyError> {
        let path = format!("/shops/{}/listings/{id}", self.shop_id);
        self.call(Method::PATCH, &path, Body::Form(form))
            .await
            .map(|_| ())
    }

    /// Uploads `bytes` as photo `rank` (1 first) of listing `id`, replacing the photo there.
    pub async fn upload_image(
        &mut self,
        id: &str,
        name: &str,
        bytes: Vec<u8>,
        rank: usize,
    ) -> Result<(), EtsyError> {
        let path = format!("/shops/{}/listings/{id}/images", self.shop_id);
        self.call(
            Method::POST,
            &path,
            Body::Image(name.to_owned(), bytes, rank),
        )
        .await
        .map(|_| ())
    }

    /// Sets listing `id`'s one product: SKU, price and quantity.
    pub async fn update_inventory(&mut self, id: &str, inventory: Value) -> Result<(), EtsyError> {
        let path = format!("/listings/{id}/inventory");
        self.call(Method::PUT, &path, Body::Json(inventory))
            .await
            .map(|_| ())
    }

    /// Exchanges the refresh token for a new pair.
    async fn refresh(&mut self) -> Result<(), EtsyError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", self.keystring.as_str()),
            ("refresh_token", self.refresh_token.as_str()),
        ];
        let (status, body) = self
            .http
            .post_form(&self.token_url, &form)
            .await
            .map_err(|e| EtsyError::Transient(e.to_string()))?;
        match (
            body["access_token"].as_str(),
            body["refresh_token"].as_str(),
        ) {
            (Some(access), Some(refresh)) if status.is_success() => {
                self.access_token = access.to_owned();
                self.refresh_token = refresh.to_owned();
                self.refreshed = Some(RefreshedTokens {
                    access_token: access.to_owned(),
                    refresh_token: refresh.to_owned(),
                });
                Ok(())
            }
            _ if status.is_client_error() => Err(EtsyError::Unauthorized(format!(
                "token refresh: {}",
                body["error"].as_str().unwrap_or("refused")
            ))),
            _ => Err(EtsyError::Transient(format!(
                "token refresh answered HTTP {}",
                status.as_u16()
            ))),
        }
    }

    /// The request, with the shop's OAuth token when `authorized` (public
    /// endpoints such as the seller taxonomy need only the API key).
    fn request(
        &self,
        method: &Method,
        path: &str,
        body: &Body,
        authorized: bool,
    ) -> Result<RequestBuilder, EtsyError> {
        let mut builder = self
            .http
            .inner()
            .request(method.clone(), format!("{}{path}", self.api_base))
            .header(
                "x-api-key",
                format!("{}:{}", self.keystring, self.shared_secret),
            );
        if authorized {
            builder = builder.bearer_auth(&self.access_token);
        }
        Ok(match body {
            Body::Empty => builder,
            Body::Form(pairs) => builder.form(pairs),
            Body::Json(value) => builder.json(value),
            Body::Image(name, bytes, rank) => {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(name.clone())
                    .mime_str("image/jpeg")
                    .map_err(|e| EtsyError::Transient(e.to_string()))?;
                let form = reqwest::multipart::Form::new()
                    .part("image", part)
                    .text("rank", rank.to_string())
                    .text("overwrite", "true");
                builder.multipart(form)
            }
        })
    }

    /// Waits for a request in the shared per-second bucket, then takes it.
    async fn take(&self, deadline: Instant) -> Result<(), EtsyError> {
        if self.day_spent {
            return Err(EtsyError::Transient(
                "the app's daily Etsy quota is spent (x-remaining-today: 0); the export goes on when it renews".to_owned(),
            ));
        }
        self.buckets
            .acquire(&self.key, 1.0, self.bucket, deadline)
            .await
            .map_err(|_| EtsyError::Transient("Etsy's per-second limit kept refusing".to_owned()))
    }

    /// Adopts the limits Etsy reports.
    async fn follow_limits(&mut self, response: &Response) {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        if let Some(per_second) = header("x-limit-per-second") {
            // A little under the limit, in small bursts: requests that arrive
            // bunched (network jitter, several workers) still fit Etsy's window.
            self.bucket = Bucket::new(per_second * 0.9, (per_second / 2.0).max(1.0));
        }
        if let Some(left) = header("x-remaining-this-second")
            && let Err(err) = self.buckets.lower(&self.key, left, self.bucket).await
        {
            tracing::warn!(error = %err, "Etsy rate limiter unavailable");
        }
        if header("x-remaining-today") == Some(0.0) {
            self.day_spent = true;
        }
    }

    /// Sends one call as the shop; refreshes the token once when it is refused.
    async fn call(&mut self, method: Method, path: &str, body: Body) -> Result<Value, EtsyError> {
        self.call_as(method, path, body, true).await
    }

    /// Sends one call, as the shop when `authorized` (then a refused token is
    /// refreshed once), else with the API key alone.
    async fn call_as(
        &mut self,
        method: Method,
        path: &str,
        body: Body,
        authorized: bool,
    ) -> Result<Value, EtsyError> {
        let deadline = Instant::now() + self.max_wait;
        let mut refreshed = !authorized;
        loop {
            self.take(deadline).await?;
            let request = self
                .request(&method, path, &body, authorized)?
                .build()
                .map_err(|e| EtsyError::Transient(e.to_string()))?;
            // Creating a draft is not idempotent: never resend it on a lost answer.
            let retry = method != Method::POST;
            let response = self
                .http
                .send(request, retry)
                .await
                .map_err(|e| EtsyError::Transient(e.to_string()))?;
            let status = response.status();
            self.follow_limits(&response).await;
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let message = answer["error"]
                .as_str()
                .or_else(|| answer["error_description"].as_str())
                .unwrap_or("no details")
                .to_owned();
            match status {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    self.refresh().await?;
                    refreshed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(EtsyError::Unauthorized(message));
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = Duration::from_secs(1);
                    if Instant::now() + wait > deadline {
                        return Err(EtsyError::Transient("rate limited (429)".to_owned()));
                    }
                    tokio::time::sleep(wait).await;
                }
                s if s.is_success() => return Ok(answer),
                s if s.is_client_error() => return Err(EtsyError::Rejected(message)),
                s => {
                    return Err(EtsyError::Transient(format!(
                        "HTTP {} ({message})",
                        s.as_u16()
                    )));
                }
            }
        }
    }
}

fn listing_id(listing: &Value) -> Result<String, EtsyError> {
    match &listing["listing_id"] {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.clone()),
        _ => Err(EtsyError::Transient(format!(
            "createDraftListing returned no listing_id: {listing}"
        ))),
    }
}

/// The inventory body of one product with `sku`, `price` (a decimal) and `quantity`.
pub fn inventory(sku: &str, price: &str, quantity: i64) -> Value {
    let price: Value = price
        .parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or_else(|_| json!(price));
    json!({"products": [{
        "sku": sku,
        "property_values": [],
        "offerings": [{"price": price, "quantity": quantity, "is_enabled": true}],
    }]})
}

/// Form pairs from a JSON object (lists repeat their key, as Etsy's form encoding wants).
pub fn form(fields: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in fields {
        match value {
            Value::Array(items) => {
                for item in items {
                    out.push((format!("{key}[]"), text(item)));
                }
            }
            Value::Null => {}
            other => out.push((key.clone(), text(other))),
        }
    }
    out
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxonomy_nodes_nested_in_children_and_top_level_names() {
        let answer = json!({"count": 2, "results": [
            {"id": 374, "level": 0, "name": "Clothing", "parent_id": null, "child_ids": [448],
             "full_path_taxonomy_ids": [374], "children": [
                {"id": 448, "level": 1, "name": "Women's Clothing", "parent_id": 374,
                 "child_ids": [449], "full_path_taxonomy_ids": [374, 448], "children": [
                    {"id": 449, "level": 2, "name": "Dresses", "parent_id": 448, "child_ids": [],
                     "full_path_taxonomy_ids": [374, 448, 449], "children": []}]}]},
            {"id": 132, "level": 0, "name": "Bags & Purses", "parent_id": null, "child_ids": [],
             "full_path_taxonomy_ids": [132], "children": []},
        ]});
        let taxonomy = SellerTaxonomy::from_answer(&answer).unwrap();
        assert_eq!(taxonomy.len(), 4);
        assert!(taxonomy.contains(449) && !taxonomy.contains(450));
        assert_eq!(taxonomy.top_level("Clothing"), Some(374));
        assert_eq!(taxonomy.top_level("bags  &  purses"), Some(132));
        assert_eq!(taxonomy.top_level("Dresses"), None, "not a top-level node");
        assert!(SellerTaxonomy::from_answer(&json!({"error": "x"})).is_err());
        assert!(SellerTaxonomy::from_answer(&json!({"count": 0, "results": []})).is_err());
    }
}
