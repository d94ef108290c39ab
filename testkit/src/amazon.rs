//! A fake of Amazon's Login with Amazon token endpoint and the Selling
//! Partner Listings Items API (2021-08-01), as a real HTTP server on a free
//! port: `POST /auth/o2/token` exchanges the seller's refresh token for an
//! access token (form-encoded, client id and secret checked); `PUT
//! /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=…` checks the
//! `x-amz-access-token`, the seller, the marketplaces (each one the seller
//! sells in), the operation's rate (5 requests a second, bursts of 10: 429
//! QuotaExceeded beyond) and the attributes its requirements need: every
//! attribute entry names one of the request's marketplaces, required ones
//! and the offer have an entry for each, and each offer is priced in its
//! marketplace's currency. Then it answers ACCEPTED (keeping the listing
//! per marketplace) or INVALID with issues (a `productType` it does not offer
//! is issue 4000003, as SP-API words it). `GET
//! /definitions/2020-09-01/productTypes?marketplaceIds=…`
//! (searchDefinitionsProductTypes) lists the product types it offers, with the
//! same token check and its own bucket at the same rate: a realistic list that
//! deliberately lacks CAMERA_DIGITAL, one of Fleet's defaults. Failure
//! injection: expiring every issued token, revoking the refresh token.

use crate::fake_server::FakeServer;
use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde_json::{Value, json};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

const RATE: f64 = 5.0;
const BURST: f64 = 10.0;

/// The product types the fake offers in every marketplace (name, display
/// name). CAMERA_DIGITAL, which Fleet's defaults name, is left out on purpose.
pub const PRODUCT_TYPES: &[(&str, &str)] = &[
    ("ABIS_BOOK", "Book"),
    ("ABIS_DVD", "DVD"),
    ("ABIS_MUSIC", "Music"),
    ("BACKPACK", "Backpack"),
    ("BEAUTY", "Beauty"),
    ("BELT", "Belt"),
    ("BOOT", "Boot"),
    ("BRACELET", "Bracelet"),
    ("CAMERA_LENSES", "Camera Lenses"),
    ("CELLULAR_PHONE", "Cellular Phone"),
    ("COAT", "Coat"),
    ("DRESS", "Dress"),
    ("EARRING", "Earring"),
    ("HANDBAG", "Handbag"),
    ("HAT", "Hat"),
    ("HEADPHONES", "Headphones"),
    ("HOME", "Home"),
    ("KITCHEN", "Kitchen"),
    ("LUGGAGE", "Luggage"),
    ("NECKLACE", "Necklace"),
    ("NOTEBOOK_COMPUTER", "Notebook Computer"),
    ("PANTS", "Pants"),
    ("PET_SUPPLIES", "Pet Supplies"),
    ("PRODUCT", "Product"),
    ("RING", "Ring"),
    ("SANDAL", "Sandal"),
    ("SCARF", "Scarf"),
    ("SHIRT", "Shirt"),
    ("SHOES", "Shoes"),
    ("SHORTS", "Shorts"),
    ("SKIRT", "Skirt"),
    ("SOCKS", "Socks"),
    ("SPORTING_GOODS", "Sporting Goods"),
    ("SUIT", "Suit"),
    ("SUNGLASSES", "Sunglasses"),
    ("SWEATER", "Sweater"),
    ("SWEATSHIRT", "Sweatshirt"),
    ("SWIMWEAR", "Swimwear"),
    ("TABLET_COMPUTER", "Tablet Computer"),
    ("TELEVISION", "Television"),
    ("TOY_FIGURE", "Toy Figure"),
    ("VIDEO_GAME_CONSOLE", "Video Game Console"),
    ("WALL_ART", "Wall Art"),
    ("WALLET", "Wallet"),
    ("WATCH", "Watch"),
];

fn offers(product_type: &str) -> bool {
    PRODUCT_TYPES.iter().any(|(name, _)| *name == product_type)
}

/// SP-API marketplace ids and the currency each one's offers are priced in.
const CURRENCIES: &[(&str, &str)] = &[
    ("ATVPDKIKX0DER", "USD"),
    ("A2EUQ1WTGCTBG2", "CAD"),
    ("A1AM78C64UM0Y8", "MXN"),
    ("A1F83G8C2ARO7P", "GBP"),
    ("A1PA6795UKMFR9", "EUR"),
    ("A13V1IB3VIYZZH", "EUR"),
    ("APJ6JRA9NG5V4", "EUR"),
    ("A1RKKUPIHCS9HS", "EUR"),
    ("A1805IZSGTT6HS", "EUR"),
    ("A2NODRKZP88ZB9", "SEK"),
    ("A1C3SOZRARQ6R3", "PLN"),
    ("A1VC38T7YXB528", "JPY"),
    ("A39IBJ37TRP1C6", "AUD"),
];

fn currency_of(marketplace_id: &str) -> Option<&'static str> {
    CURRENCIES
        .iter()
        .find(|(id, _)| *id == marketplace_id)
        .map(|(_, currency)| *currency)
}

#[derive(Debug)]
struct Inner {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    seller_id: String,
    marketplace_ids: Vec<String>,
    tokens: HashSet<String>,
    token_requests: u32,
    listings: HashMap<String, Value>,
    offers: HashMap<(String, String), Value>,
    puts: u32,
    throttled: u32,
    puts_quota: Quota,
    revoked: bool,
    type_searches: u32,
    search_quota: Quota,
}

type Shared = Arc<Mutex<Inner>>;

/// One operation's usage plan: RATE requests a second, bursts of BURST.
#[derive(Debug)]
struct Quota {
    available: f64,
    refilled_at: Instant,
}

impl Quota {
    /// A full bucket.
    fn full() -> Quota {
        Quota {
            available: BURST,
            refilled_at: Instant::now(),
        }
    }

    /// Takes one request; false when the plan is exceeded.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.available =
            (self.available + now.duration_since(self.refilled_at).as_secs_f64() * RATE).min(BURST);
        self.refilled_at = now;
        if self.available < 1.0 {
            return false;
        }
        self.available -= 1.0;
        true
    }
}

/// The answer to a call without a live access token, if it has none.
fn unauthorized(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (!inner.tokens.contains(token)).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
        )
    })
}

/// The answer to a call over its usage plan.
fn quota_exceeded(inner: &mut Inner) -> Response {
    inner.throttled += 1;
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "QuotaExceeded",
        "You exceeded your quota for the requested resource.",
    )
}

/// The fake Amazon server, stopped on drop.
#[derive(Debug)]
pub struct FakeAmazon {
    /// `http://127.0.0.1:PORT`: the SP-API base URL.
    pub base: String,
    /// LWA client id it accepts.
    pub client_id: String,
    /// LWA client secret it accepts.
    pub client_secret: String,
    /// The seller's refresh token it accepts.
    pub refresh_token: String,
    /// The selling partner id.
    pub seller_id: String,
    /// The first marketplace the seller sells in.
    pub marketplace_id: String,
    /// Every marketplace the seller sells in.
    pub marketplace_ids: Vec<String>,
    shared: Shared,
    _server: FakeServer,
}

impl FakeAmazon {
    /// Starts the fake with a full rate bucket, for a seller selling in Germany.
    pub fn start() -> FakeAmazon {
        FakeAmazon::selling_in(&["A1PA6795UKMFR9"])
    }

    /// The body of `PUT /v1/connections/amazon` that connects a seller to
    /// this fake for `marketplace_ids`.
    pub fn connection(&self, marketplace_ids: &[&str]) -> Value {
        json!({"lwa_client_id": self.client_id, "lwa_client_secret": self.client_secret,
            "refresh_token": self.refresh_token, "seller_id": self.seller_id,
            "marketplace_ids": marketplace_ids})
    }

    /// Starts the fake for a seller selling in `marketplace_ids`.
    pub fn selling_in(marketplace_ids: &[&str]) -> FakeAmazon {
        let shared: Shared = Arc::new(Mutex::new(Inner {
            client_id: crate::unique("amzn1.application-oa2-client."),
            client_secret: crate::unique("secret-"),
            refresh_token: format!("Atzr|{}", crate::unique("")),
            seller_id: "A2FLEETSELLER".to_owned(),
            marketplace_ids: marketplace_ids.iter().map(|m| (*m).to_owned()).collect(),
            tokens: HashSet::new(),
            token_requests: 0,
            listings: HashMap::new(),
            offers: HashMap::new(),
            puts: 0,
            throttled: 0,
            puts_quota: Quota::full(),
            revoked: false,
            type_searches: 0,
            search_quota: Quota::full(),
        }));
        let app = Router::new()
            .route("/auth/o2/token", post(token))
            .route("/definitions/2020-09-01/productTypes", get(product_types))
            .route(
                "/listings/2021-08-01/items/{seller_id}/{sku}",
                put(put_listing),
            )
            .with_state(Arc::clone(&shared));
        let server = FakeServer::start(app, "Amazon");
        let inner = shared.lock().expect("state");
        FakeAmazon {
            base: server.base.clone(),
            client_id: inner.client_id.clone(),
            client_secret: inner.client_secret.clone(),
            refresh_token: inner.refresh_token.clone(),
            seller_id: inner.seller_id.clone(),
            marketplace_id: inner.marketplace_ids.first().cloned().unwrap_or_default(),
            marketplace_ids: inner.marketplace_ids.clone(),
            shared: Arc::clone(&shared),
            _server: server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.shared.lock().expect("fake Amazon state");
        f(&mut inner)
    }

    /// The LWA token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/auth/o2/token", self.base)
    }

    /// The listing stored under `sku` (its last accepted body).
    pub fn listing(&self, sku: &str) -> Option<Value> {
        self.with(|i| i.listings.get(sku).cloned())
    }

    /// The marketplaces that hold an offer of `sku`, sorted.
    pub fn offered_in(&self, sku: &str) -> Vec<String> {
        self.with(|i| {
            let mut out: Vec<String> = i
                .offers
                .keys()
                .filter(|(s, _)| s == sku)
                .map(|(_, m)| m.clone())
                .collect();
            out.sort();
            out
        })
    }

    /// The `purchasable_offer` entry of `sku` in `marketplace_id`.
    pub fn offer(&self, sku: &str, marketplace_id: &str) -> Option<Value> {
        self.with(|i| {
            i.offers
                .get(&(sku.to_owned(), marketplace_id.to_owned()))
                .cloned()
        })
    }

    /// Listings accepted so far.
    pub fn listings(&self) -> usize {
        self.with(|i| i.listings.len())
    }

    /// `putListingsItem` calls that reached the rate check.
    pub fn puts(&self) -> u32 {
        self.with(|i| i.puts)
    }

    /// searchDefinitionsProductTypes calls answered.
    pub fn product_type_searches(&self) -> u32 {
        self.with(|i| i.type_searches)
    }

    /// Calls refused with 429.
    pub fn throttled(&self) -> u32 {
        self.with(|i| i.throttled)
    }

    /// Token exchanges answered.
    pub fn token_requests(&self) -> u32 {
        self.with(|i| i.token_requests)
    }

    /// Every access token issued so far stops working (as after an hour).
    pub fn expire_tokens(&self) {
        self.with(|i| i.tokens.clear());
    }

    /// The refresh token is revoked: exchanges fail with `invalid_grant`.
    pub fn revoke(&self) {
        self.with(|i| {
            i.revoked = true;
            i.tokens.clear();
        });
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"code": code, "message": message}]})),
    )
        .into_response()
}

async fn token(
    State(shared): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = shared.lock().expect("state");
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("refresh_token") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if field("client_id") != Some(inner.client_id.as_str())
        || field("client_secret") != Some(inner.client_secret.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "Client authentication failed"})),
        )
            .into_response();
    }
    if inner.revoked || field("refresh_token") != Some(inner.refresh_token.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"})),
        )
            .into_response();
    }
    inner.token_requests += 1;
    let token = format!("Atza|{}", crate::unique(""));
    inner.tokens.insert(token.clone());
    Json(json!({"access_token": token, "refresh_token": inner.refresh_token, "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

fn issue(code: &str, message: String, attribute: &str) -> Value {
    json!({"code": code, "message": message, "severity": "ERROR", "attributeNames": [attribute]})
}

/// The issues of `body` for the request's `marketplaces`, as Amazon reports them.
fn issues(body: &Value, marketplaces: &[&str]) -> Vec<Value> {
    let empty = serde_json::Map::new();
    let attributes = body["attributes"].as_object().unwrap_or(&empty);
    let requirements = body["requirements"].as_str().unwrap_or("LISTING");
    let mut required = vec![
        "condition_type",
        "purchasable_offer",
        "fulfillment_availability",
    ];
    if requirements == "LISTING_OFFER_ONLY" {
        if !attributes.contains_key("merchant_suggested_asin")
            && !attributes.contains_key("externally_assigned_product_identifier")
        {
            required.push("merchant_suggested_asin");
        }
    } else {
        required.extend([
            "item_name",
            "brand",
            "product_description",
            "externally_assigned_product_identifier",
        ]);
    }
    let mut out = Vec::new();
    // Every entry that names a marketplace names one of the request's.
    for (name, values) in attributes {
        let Some(values) = values.as_array() else {
            out.push(issue(
                "4000001",
                format!("'{name}' must be a list of values."),
                name,
            ));
            continue;
        };
        for value in values {
            if let Some(m) = value.get("marketplace_id") {
                let known = m.as_str().is_some_and(|m| marketplaces.contains(&m));
                if !known {
                    out.push(issue(
                        "4000001",
                        format!("'{name}' names marketplace {m}, which is not in marketplaceIds."),
                        name,
                    ));
                }
            }
        }
    }
    for name in required {
        let values = attributes
            .get(name)
            .and_then(Value::as_array)
            .filter(|v| !v.is_empty());
        let Some(values) = values else {
            out.push(issue(
                "90220",
                format!("'{name}' is required but not supplied."),
                name,
            ));
            continue;
        };
        // A value for no marketplace applies to all; otherwise each needs its own.
        let everywhere = values.iter().any(|v| v.get("marketplace_id").is_none());
        for m in marketplaces {
            let here = values.iter().any(|v| v["marketplace_id"] == *m);
            if !everywhere && !here {
                out.push(issue(
                    "90220",
                    format!("'{name}' is required but not supplied for marketplace {m}."),
                    name,
                ));
            }
        }
    }
    for offer in attributes
        .get("purchasable_offer")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let market = offer["marketplace_id"].as_str().unwrap_or_default();
        let currency = offer["currency"].as_str().unwrap_or_default();
        match currency_of(market) {
            Some(expected) if expected != currency => out.push(issue(
                "8541",
                format!(
                    "The currency {currency} is not valid for marketplace {market}: use {expected}."
                ),
                "purchasable_offer",
            )),
            _ => {}
        }
        if let Some(price) = offer["our_price"][0]["schedule"][0]["value_with_tax"].as_f64()
            && price <= 0.0
        {
            out.push(issue(
                "8560",
                "The price must be greater than 0.".to_owned(),
                "purchasable_offer",
            ));
        }
    }
    out
}

async fn product_types(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = shared.lock().expect("state");
    if let Some(refused) = unauthorized(&inner, &headers) {
        return refused;
    }
    if !inner.search_quota.take() {
        return quota_exceeded(&mut inner);
    }
    let requested = query.get("marketplaceIds").cloned().unwrap_or_default();
    let marketplaces: Vec<&str> = requested.split(',').filter(|m| !m.is_empty()).collect();
    if marketplaces.is_empty() || marketplaces.iter().any(|m| currency_of(m).is_none()) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "marketplaceIds must name Amazon marketplaces.",
        );
    }
    inner.type_searches += 1;
    let keywords: Vec<String> = query
        .get("keywords")
        .map(|k| k.split(',').map(|w| w.trim().to_uppercase()).collect())
        .unwrap_or_default();
    let types: Vec<Value> = PRODUCT_TYPES
        .iter()
        .filter(|(name, display)| {
            keywords.is_empty()
                || keywords
                    .iter()
                    .any(|k| name.contains(k.as_str()) || display.to_uppercase().contains(k.as_str()))
        })
        .map(|(name, display)| {
            json!({"name": name, "displayName": display, "marketplaceIds": marketplaces})
        })
        .collect();
    Json(json!({"productTypes": types, "productTypeVersion": "UHARM"})).into_response()
}

async fn put_listing(
    State(shared): State<Shared>,
    Path((seller_id, sku)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().expect("state");
    if let Some(refused) = unauthorized(&inner, &headers) {
        return refused;
    }
    if seller_id != inner.seller_id {
        return error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "The seller id does not match the access token.",
        );
    }
    inner.puts += 1;
    if !inner.puts_quota.take() {
        return quota_exceeded(&mut inner);
    }
    let requested = query.get("marketplaceIds").cloned().unwrap_or_default();
    let marketplaces: Vec<&str> = requested.split(',').filter(|m| !m.is_empty()).collect();
    if marketplaces.is_empty()
        || marketplaces
            .iter()
            .any(|m| !inner.marketplace_ids.iter().any(|own| own == m))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "marketplaceIds must name marketplaces the seller sells in.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "The request body is not valid JSON.",
        );
    };
    if !body["productType"].is_string() || !body["attributes"].is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "productType and attributes are required.",
        );
    }
    let submission = crate::unique("sub-");
    let product_type = body["productType"].as_str().unwrap_or_default();
    if !offers(product_type) {
        // SP-API takes the request and answers INVALID with this one issue.
        return Json(
            json!({"sku": sku, "status": "INVALID", "submissionId": submission,
            "issues": [{"code": "4000003", "severity": "ERROR",
                "message": "The Amazon product type specified is invalid or not supported."}]}),
        )
        .into_response();
    }
    let found = issues(&body, &marketplaces);
    if !found.is_empty() {
        return Json(
            json!({"sku": sku, "status": "INVALID", "submissionId": submission, "issues": found}),
        )
        .into_response();
    }
    for m in &marketplaces {
        let offer = body["attributes"]["purchasable_offer"]
            .as_array()
            .and_then(|offers| offers.iter().find(|o| o["marketplace_id"] == *m))
            .cloned()
            .unwrap_or(Value::Null);
        inner.offers.insert((sku.clone(), (*m).to_owned()), offer);
    }
    inner.listings.insert(sku.clone(), body);
    Json(json!({"sku": sku, "status": "ACCEPTED", "submissionId": submission, "issues": []}))
        .into_response()
}
