//! A fake of Amazon's Login with Amazon token endpoint and the Selling
//! Partner Listings Items API (2021-08-01), as a real HTTP server on a free
//! port: `POST /auth/o2/token` exchanges the seller's refresh token for an
//! access token (form-encoded, client id and secret checked); `PUT
//! /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=…` checks the
//! `x-amz-access-token`, the seller, the marketplaces, the operation's rate
//! (5 requests a second, bursts of 10: 429 QuotaExceeded beyond) and the
//! attributes its requirements need, then answers ACCEPTED or INVALID with
//! issues. Failure injection: expiring every issued token, revoking the
//! refresh token.

use crate::fake_server::FakeServer;
use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{post, put},
};
use serde_json::{Value, json};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

const RATE: f64 = 5.0;
const BURST: f64 = 10.0;

#[derive(Debug)]
struct Inner {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    seller_id: String,
    marketplace_id: String,
    tokens: HashSet<String>,
    token_requests: u32,
    listings: HashMap<String, Value>,
    puts: u32,
    throttled: u32,
    available: f64,
    refilled_at: Instant,
    revoked: bool,
}

type Shared = Arc<Mutex<Inner>>;

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
    /// The one marketplace the seller sells in.
    pub marketplace_id: String,
    shared: Shared,
    _server: FakeServer,
}

impl FakeAmazon {
    /// Starts the fake with a full rate bucket.
    pub fn start() -> FakeAmazon {
        let shared: Shared = Arc::new(Mutex::new(Inner {
            client_id: "amzn1.application-oa2-client.fleet".to_owned(),
            client_secret: crate::unique("secret-"),
            refresh_token: format!("Atzr|{}", crate::unique("")),
            seller_id: "A2FLEETSELLER".to_owned(),
            marketplace_id: "A1PA6795UKMFR9".to_owned(),
            tokens: HashSet::new(),
            token_requests: 0,
            listings: HashMap::new(),
            puts: 0,
            throttled: 0,
            available: BURST,
            refilled_at: Instant::now(),
            revoked: false,
        }));
        let app = Router::new()
            .route("/auth/o2/token", post(token))
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
            marketplace_id: inner.marketplace_id.clone(),
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

    /// Listings accepted so far.
    pub fn listings(&self) -> usize {
        self.with(|i| i.listings.len())
    }

    /// `putListingsItem` calls that reached the rate check.
    pub fn puts(&self) -> u32 {
        self.with(|i| i.puts)
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

/// The issues of `body` for `requirements`, as Amazon reports missing attributes.
fn issues(body: &Value, marketplace_id: &str) -> Vec<Value> {
    let attributes = &body["attributes"];
    let requirements = body["requirements"].as_str().unwrap_or("LISTING");
    let mut required = vec![
        "condition_type",
        "purchasable_offer",
        "fulfillment_availability",
    ];
    if requirements == "LISTING_OFFER_ONLY" {
        if attributes.get("merchant_suggested_asin").is_none()
            && attributes
                .get("externally_assigned_product_identifier")
                .is_none()
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
    for name in required {
        match attributes.get(name).and_then(Value::as_array) {
            Some(values) if !values.is_empty() => {
                let elsewhere = values.iter().any(|v| {
                    v.get("marketplace_id")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m != marketplace_id)
                });
                if elsewhere {
                    out.push(json!({"code": "4000001", "message": format!("'{name}' names another marketplace."), "severity": "ERROR", "attributeNames": [name]}));
                }
            }
            _ => out.push(json!({"code": "90220", "message": format!("'{name}' is required but not supplied."), "severity": "ERROR", "attributeNames": [name]})),
        }
    }
    if let Some(price) =
        attributes["purchasable_offer"][0]["our_price"][0]["schedule"][0]["value_with_tax"].as_f64()
        && price <= 0.0
    {
        out.push(json!({"code": "8560", "message": "The price must be greater than 0.", "severity": "ERROR", "attributeNames": ["purchasable_offer"]}));
    }
    out
}

async fn put_listing(
    State(shared): State<Shared>,
    Path((seller_id, sku)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().expect("state");
    let token = headers
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !inner.tokens.contains(token) {
        return error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
        );
    }
    if seller_id != inner.seller_id {
        return error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "The seller id does not match the access token.",
        );
    }
    let now = Instant::now();
    inner.available =
        (inner.available + now.duration_since(inner.refilled_at).as_secs_f64() * RATE).min(BURST);
    inner.refilled_at = now;
    inner.puts += 1;
    if inner.available < 1.0 {
        inner.throttled += 1;
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "QuotaExceeded",
            "You exceeded your quota for the requested resource.",
        );
    }
    inner.available -= 1.0;
    let marketplaces = query.get("marketplaceIds").cloned().unwrap_or_default();
    if marketplaces.split(',').all(|m| m != inner.marketplace_id) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "marketplaceIds must name a marketplace the seller sells in.",
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
    let found = issues(&body, &inner.marketplace_id);
    let submission = crate::unique("sub-");
    if !found.is_empty() {
        return Json(
            json!({"sku": sku, "status": "INVALID", "submissionId": submission, "issues": found}),
        )
        .into_response();
    }
    inner.listings.insert(sku.clone(), body);
    Json(json!({"sku": sku, "status": "ACCEPTED", "submissionId": submission, "issues": []}))
        .into_response()
}
