//! A fake of Etsy's Open API v3 for one shop, as a real HTTP server on a free
//! port: the OAuth refresh grant (`POST /v3/public/oauth/token`, rotating the
//! refresh token), `x-api-key: keystring:secret` and bearer checks (401
//! `invalid_token` for an expired token), the shop, createDraftListing
//! (form-encoded, required fields checked, a `taxonomy_id` of its seller
//! taxonomy or 400), updateListing (the same check), uploadListingImage
//! (multipart JPEG with a rank), updateListingInventory (JSON) and
//! getSellerTaxonomyNodes (`GET /v3/application/seller-taxonomy/nodes`, the
//! API key alone: Etsy's 15 top-level nodes with a few children each, nested
//! as Etsy nests them), with the per-second and per-day limits in
//! `x-limit-*` / `x-remaining-*` headers and 429 beyond them.

use crate::fake_server::FakeServer;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Multipart, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, patch, post, put},
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

/// The fake's seller taxonomy: (id, parent id or 0 for a top-level node,
/// name). The top-level ids are those Fleet's defaults header lists.
const TAXONOMY: &[(u64, u64, &str)] = &[
    (1, 0, "Accessories"),
    (2, 1, "Belts & Suspenders"),
    (24, 1, "Hats & Caps"),
    (52, 1, "Scarves & Wraps"),
    (61, 1, "Sunglasses & Eyewear"),
    (66, 0, "Art & Collectibles"),
    (67, 66, "Collectibles"),
    (69, 66, "Dolls & Miniatures"),
    (101, 66, "Painting"),
    (116, 66, "Prints"),
    (132, 0, "Bags & Purses"),
    (133, 132, "Backpacks"),
    (155, 132, "Handbags"),
    (177, 132, "Wallets & Money Clips"),
    (199, 0, "Bath & Beauty"),
    (200, 199, "Bath Accessories"),
    (224, 199, "Makeup & Cosmetics"),
    (280, 199, "Skin Care"),
    (323, 0, "Books, Movies & Music"),
    (324, 323, "Books"),
    (335, 323, "Movies"),
    (340, 323, "Music"),
    (374, 0, "Clothing"),
    (375, 374, "Boys' Clothing"),
    (429, 374, "Men's Clothing"),
    (448, 374, "Women's Clothing"),
    (449, 448, "Dresses"),
    (2031, 448, "Tops & Tees"),
    (562, 0, "Craft Supplies & Tools"),
    (563, 562, "Beads, Gems & Cabochons"),
    (596, 562, "Fabric & Notions"),
    (650, 562, "Yarn & Fiber"),
    (825, 0, "Electronics & Accessories"),
    (826, 825, "Audio"),
    (848, 825, "Cameras & Equipment"),
    (866, 825, "Phone Accessories"),
    (891, 0, "Home & Living"),
    (892, 891, "Home Decor"),
    (1002, 891, "Kitchen & Dining"),
    (1098, 891, "Furniture"),
    (1179, 0, "Jewelry"),
    (1180, 1179, "Bracelets"),
    (1207, 1179, "Earrings"),
    (1228, 1179, "Necklaces"),
    (1240, 1179, "Rings"),
    (1250, 0, "Paper & Party Supplies"),
    (1251, 1250, "Paper"),
    (1300, 1250, "Party Supplies"),
    (1351, 0, "Pet Supplies"),
    (1352, 1351, "Pet Collars & Leashes"),
    (1366, 1351, "Pet Clothing, Accessories & Shoes"),
    (1429, 0, "Shoes"),
    (1430, 1429, "Boys' Shoes"),
    (1440, 1429, "Men's Shoes"),
    (1460, 1429, "Women's Shoes"),
    (1552, 0, "Toys & Games"),
    (1553, 1552, "Baby & Toddler Toys"),
    (1576, 1552, "Games & Puzzles"),
    (1586, 1552, "Toys"),
    (1633, 0, "Weddings"),
    (1634, 1633, "Accessories"),
    (1660, 1633, "Decorations"),
];

/// The node `id` with its descendants, as Etsy answers it (`path`: the ids above it).
fn node(id: u64, parent: u64, name: &str, path: &[u64]) -> Value {
    let mut full_path = path.to_vec();
    full_path.push(id);
    let children: Vec<Value> = TAXONOMY
        .iter()
        .filter(|(_, p, _)| *p == id)
        .map(|(child, _, name)| node(*child, id, name, &full_path))
        .collect();
    let child_ids: Vec<u64> = TAXONOMY
        .iter()
        .filter(|(_, p, _)| *p == id)
        .map(|(child, _, _)| *child)
        .collect();
    json!({
        "id": id,
        "level": path.len(),
        "name": name,
        "parent_id": if parent == 0 { Value::Null } else { json!(parent) },
        "child_ids": child_ids,
        "full_path_taxonomy_ids": full_path,
        "children": children,
    })
}

/// getSellerTaxonomyNodes' answer: the top-level nodes, their descendants nested.
fn taxonomy_answer() -> Value {
    let roots: Vec<Value> = TAXONOMY
        .iter()
        .filter(|(_, parent, _)| *parent == 0)
        .map(|(id, _, name)| node(*id, 0, name, &[]))
        .collect();
    json!({"count": roots.len(), "results": roots})
}

const SHOP_ID: &str = "31415926";
const SHIPPING_PROFILE: &str = "2718281";
const WHEN_MADE: &[&str] = &[
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

#[derive(Debug)]
struct Inner {
    keystring: String,
    shared_secret: String,
    access_token: String,
    refresh_token: String,
    per_second: f64,
    available: f64,
    refilled_at: Instant,
    per_day: u32,
    used_today: u32,
    listings: BTreeMap<u64, Value>,
    next_id: u64,
    creates: u32,
    refreshes: u32,
    throttled: u32,
    taxonomy_ids: HashSet<u64>,
    taxonomy_calls: u32,
}

type Shared = Arc<Mutex<Inner>>;

/// The fake Etsy server, stopped on drop.
#[derive(Debug)]
pub struct FakeEtsy {
    /// `http://127.0.0.1:PORT/v3/application`: the API base.
    pub api_base: String,
    /// The OAuth token endpoint.
    pub token_url: String,
    /// The app's keystring.
    pub keystring: String,
    /// The app's shared secret.
    pub shared_secret: String,
    /// The shop's first access token.
    pub access_token: String,
    /// The shop's first refresh token.
    pub refresh_token: String,
    /// The shop id.
    pub shop_id: String,
    /// The shop's shipping profile.
    pub shipping_profile_id: String,
    shared: Shared,
    _server: FakeServer,
}

impl FakeEtsy {
    /// Starts the fake with `per_second` requests a second and `per_day` a day.
    pub fn start(per_second: f64, per_day: u32) -> FakeEtsy {
        let keystring = crate::unique("key");
        let shared: Shared = Arc::new(Mutex::new(Inner {
            keystring: keystring.clone(),
            shared_secret: crate::unique("secret"),
            access_token: format!("12345678.{}", crate::unique("")),
            refresh_token: format!("12345678.{}", crate::unique("r")),
            per_second,
            available: per_second,
            refilled_at: Instant::now(),
            per_day,
            used_today: 0,
            listings: BTreeMap::new(),
            next_id: 1_500_000_001,
            creates: 0,
            refreshes: 0,
            throttled: 0,
            taxonomy_ids: TAXONOMY.iter().map(|(id, _, _)| *id).collect(),
            taxonomy_calls: 0,
        }));
        let app = Router::new()
            .route("/v3/public/oauth/token", post(token))
            .route("/v3/application/seller-taxonomy/nodes", get(taxonomy))
            .route("/v3/application/shops/{shop}", get(shop))
            .route("/v3/application/shops/{shop}/listings", post(create))
            .route("/v3/application/shops/{shop}/listings/{id}", patch(update))
            .route(
                "/v3/application/shops/{shop}/listings/{id}/images",
                post(image),
            )
            .route("/v3/application/listings/{id}/inventory", put(inventory))
            .with_state(Arc::clone(&shared));
        let server = FakeServer::start(app, "Etsy");
        let inner = shared.lock().expect("state");
        FakeEtsy {
            api_base: format!("{}/v3/application", server.base),
            token_url: format!("{}/v3/public/oauth/token", server.base),
            keystring,
            shared_secret: inner.shared_secret.clone(),
            access_token: inner.access_token.clone(),
            refresh_token: inner.refresh_token.clone(),
            shop_id: SHOP_ID.to_owned(),
            shipping_profile_id: SHIPPING_PROFILE.to_owned(),
            shared: Arc::clone(&shared),
            _server: server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.shared.lock().expect("fake Etsy state"))
    }

    /// The body of `PUT /v1/connections/etsy` that connects a seller to this shop.
    pub fn connection(&self) -> Value {
        json!({"keystring": self.keystring, "shared_secret": self.shared_secret,
            "access_token": self.access_token, "refresh_token": self.refresh_token,
            "shop_id": self.shop_id, "shipping_profile_id": self.shipping_profile_id})
    }

    /// Every listing, by id: its fields, `images` (rank → bytes) and `inventory`.
    pub fn listings(&self) -> Vec<Value> {
        self.with(|i| i.listings.values().cloned().collect())
    }

    /// createDraftListing calls that created a listing.
    pub fn creates(&self) -> u32 {
        self.with(|i| i.creates)
    }

    /// getSellerTaxonomyNodes calls answered.
    pub fn taxonomy_calls(&self) -> u32 {
        self.with(|i| i.taxonomy_calls)
    }

    /// The id of the top-level node of its seller taxonomy named `name`.
    pub fn top_level_id(name: &str) -> Option<u64> {
        TAXONOMY
            .iter()
            .find(|(_, parent, n)| *parent == 0 && *n == name)
            .map(|(id, _, _)| *id)
    }

    /// Token refreshes answered.
    pub fn refreshes(&self) -> u32 {
        self.with(|i| i.refreshes)
    }

    /// Requests refused with 429.
    pub fn throttled(&self) -> u32 {
        self.with(|i| i.throttled)
    }

    /// The access token valid now (it changes on every refresh).
    pub fn current_access_token(&self) -> String {
        self.with(|i| i.access_token.clone())
    }

    /// The refresh token valid now (it rotates on every refresh).
    pub fn current_refresh_token(&self) -> String {
        self.with(|i| i.refresh_token.clone())
    }

    /// The access token stops working (as after an hour); a refresh gets a new one.
    pub fn expire_access_token(&self) {
        self.with(|i| i.access_token = crate::unique("expired"));
    }

    /// Both tokens stop working (the seller disconnected the app).
    pub fn revoke(&self) {
        self.with(|i| {
            i.access_token = crate::unique("revoked");
            i.refresh_token = crate::unique("revoked");
        });
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// Checks key, token and limits; on success the limit headers to send.
fn admit(inner: &mut Inner, headers: &HeaderMap) -> Result<HeaderMap, (StatusCode, &'static str)> {
    admit_as(inner, headers, true)
}

/// Checks the key, the shop's token when `shop` (public endpoints take the
/// key alone) and the limits; on success the limit headers to send.
fn admit_as(
    inner: &mut Inner,
    headers: &HeaderMap,
    shop: bool,
) -> Result<HeaderMap, (StatusCode, &'static str)> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(format!("{}:{}", inner.keystring, inner.shared_secret).as_str()) {
        return Err((
            StatusCode::FORBIDDEN,
            "Invalid API key: send x-api-key as keystring:shared_secret",
        ));
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if shop && bearer != Some(inner.access_token.as_str()) {
        return Err((StatusCode::UNAUTHORIZED, "invalid_token"));
    }
    let now = Instant::now();
    inner.available = (inner.available
        + now.duration_since(inner.refilled_at).as_secs_f64() * inner.per_second)
        .min(inner.per_second);
    inner.refilled_at = now;
    if inner.available < 1.0 || inner.used_today >= inner.per_day {
        inner.throttled += 1;
        return Err((StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"));
    }
    inner.available -= 1.0;
    inner.used_today += 1;
    let mut out = HeaderMap::new();
    for (name, value) in [
        ("x-limit-per-second", inner.per_second.to_string()),
        (
            "x-remaining-this-second",
            (inner.available.floor() as u64).to_string(),
        ),
        ("x-limit-per-day", inner.per_day.to_string()),
        (
            "x-remaining-today",
            (inner.per_day - inner.used_today).to_string(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    }
    Ok(out)
}

async fn token(State(shared): State<Shared>, body: Bytes) -> Response {
    let mut inner = shared.lock().expect("state");
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |n: &str| form.get(n).map(String::as_str);
    if field("grant_type") != Some("refresh_token")
        || field("client_id") != Some(inner.keystring.as_str())
    {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    if field("refresh_token") != Some(inner.refresh_token.as_str()) {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    inner.refreshes += 1;
    inner.access_token = format!("12345678.{}", crate::unique(""));
    inner.refresh_token = format!("12345678.{}", crate::unique("r"));
    Json(
        json!({"access_token": inner.access_token, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": inner.refresh_token}),
    )
    .into_response()
}

async fn taxonomy(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut inner = shared.lock().expect("state");
    match admit_as(&mut inner, &headers, false) {
        Err((status, message)) => error(status, message),
        Ok(limits) => {
            inner.taxonomy_calls += 1;
            (limits, Json(taxonomy_answer())).into_response()
        }
    }
}

/// Etsy's refusal of a `taxonomy_id` its seller taxonomy does not have, if `f` sets one.
fn taxonomy_problem(inner: &Inner, f: &serde_json::Map<String, Value>) -> Option<String> {
    let id = f.get("taxonomy_id").and_then(Value::as_str)?;
    match id.parse::<u64>() {
        Ok(id) if inner.taxonomy_ids.contains(&id) => None,
        _ => Some(format!(
            "taxonomy_id {id} is not a valid id of the seller taxonomy"
        )),
    }
}

async fn shop(
    State(shared): State<Shared>,
    Path(shop): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = shared.lock().expect("state");
    match admit(&mut inner, &headers) {
        Err((status, message)) => error(status, message),
        Ok(_) if shop != SHOP_ID => error(StatusCode::NOT_FOUND, "Shop not found"),
        Ok(limits) => (limits, Json(json!({"shop_id": SHOP_ID.parse::<u64>().unwrap_or(0), "shop_name": "FleetVintage"}))).into_response(),
    }
}

/// Form pairs into a JSON object; `key[]` pairs become lists.
fn form_fields(body: &[u8]) -> serde_json::Map<String, Value> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for (key, value) in pairs {
        match key.strip_suffix("[]") {
            Some(list) => {
                let entry = out.entry(list.to_owned()).or_insert_with(|| json!([]));
                if let Some(items) = entry.as_array_mut() {
                    items.push(json!(value));
                }
            }
            None => {
                out.insert(key, json!(value));
            }
        }
    }
    out
}

/// What createDraftListing refuses in `f`, as Etsy words it.
fn draft_problem(f: &serde_json::Map<String, Value>) -> Option<String> {
    let text = |n: &str| f.get(n).and_then(Value::as_str).unwrap_or("");
    for required in [
        "quantity",
        "title",
        "description",
        "price",
        "who_made",
        "when_made",
        "taxonomy_id",
    ] {
        if text(required).trim().is_empty() {
            return Some(format!("{required} is required"));
        }
    }
    if text("quantity")
        .parse::<u32>()
        .map_or(true, |q| !(1..=999).contains(&q))
    {
        return Some("quantity must be an integer from 1 to 999".to_owned());
    }
    if text("price")
        .parse::<f64>()
        .map_or(true, |p| !(0.2..=50_000.0).contains(&p))
    {
        return Some("price must be a number from 0.20 to 50000".to_owned());
    }
    if text("title").chars().count() > 140 {
        return Some("title must be at most 140 characters".to_owned());
    }
    if !["i_did", "someone_else", "collective"].contains(&text("who_made")) {
        return Some("who_made must be one of i_did, someone_else, collective".to_owned());
    }
    if !WHEN_MADE.contains(&text("when_made")) {
        return Some(format!("when_made must be one of {}", WHEN_MADE.join(", ")));
    }
    if text("taxonomy_id").parse::<u64>().is_err() {
        return Some("taxonomy_id must be an integer".to_owned());
    }
    if text("type") == "physical" && text("shipping_profile_id") != SHIPPING_PROFILE {
        return Some("a physical listing needs one of the shop's shipping_profile_id".to_owned());
    }
    if f.get("tags")
        .and_then(Value::as_array)
        .is_some_and(|t| t.len() > 13)
    {
        return Some("at most 13 tags".to_owned());
    }
    None
}

async fn create(
    State(shared): State<Shared>,
    Path(shop): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().expect("state");
    let limits = match admit(&mut inner, &headers) {
        Ok(limits) => limits,
        Err((status, message)) => return error(status, message),
    };
    if shop != SHOP_ID {
        return error(StatusCode::NOT_FOUND, "Shop not found");
    }
    let fields = form_fields(&body);
    if let Some(problem) = draft_problem(&fields).or_else(|| taxonomy_problem(&inner, &fields)) {
        return (limits, error(StatusCode::BAD_REQUEST, &problem)).into_response();
    }
    let id = inner.next_id;
    inner.next_id += 1;
    inner.creates += 1;
    let mut listing = Value::Object(fields);
    listing["listing_id"] = json!(id);
    listing["state"] = json!("draft");
    listing["images"] = json!({});
    inner.listings.insert(id, listing.clone());
    (StatusCode::CREATED, limits, Json(listing)).into_response()
}

fn known(inner: &Inner, id: &str) -> Option<u64> {
    id.parse::<u64>()
        .ok()
        .filter(|id| inner.listings.contains_key(id))
}

async fn update(
    State(shared): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().expect("state");
    let limits = match admit(&mut inner, &headers) {
        Ok(limits) => limits,
        Err((status, message)) => return error(status, message),
    };
    let Some(id) = known(&inner, &id) else {
        return error(StatusCode::NOT_FOUND, "Listing not found");
    };
    let fields = form_fields(&body);
    if let Some(problem) = taxonomy_problem(&inner, &fields) {
        return (limits, error(StatusCode::BAD_REQUEST, &problem)).into_response();
    }
    let Some(listing) = inner.listings.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "Listing not found");
    };
    for (key, value) in fields {
        listing[key] = value;
    }
    (limits, Json(listing.clone())).into_response()
}

async fn image(
    State(shared): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let limits = {
        let mut inner = shared.lock().expect("state");
        match admit(&mut inner, &headers) {
            Ok(limits) => limits,
            Err((status, message)) => return error(status, message),
        }
    };
    let (mut bytes, mut rank) = (None, None);
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("image") => bytes = field.bytes().await.ok(),
            Some("rank") => rank = field.text().await.ok().and_then(|r| r.parse::<u32>().ok()),
            _ => {}
        }
    }
    let Some(bytes) = bytes.filter(|b| b.starts_with(&[0xFF, 0xD8])) else {
        return error(
            StatusCode::BAD_REQUEST,
            "image must be a JPEG, PNG or GIF file",
        );
    };
    let mut inner = shared.lock().expect("state");
    let Some(id) = known(&inner, &id) else {
        return error(StatusCode::NOT_FOUND, "Listing not found");
    };
    let rank = rank.unwrap_or(1);
    if let Some(listing) = inner.listings.get_mut(&id) {
        listing["images"][rank.to_string()] = json!(bytes.len());
    }
    (
        StatusCode::CREATED,
        limits,
        Json(json!({"listing_id": id, "rank": rank})),
    )
        .into_response()
}

async fn inventory(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().expect("state");
    let limits = match admit(&mut inner, &headers) {
        Ok(limits) => limits,
        Err((status, message)) => return error(status, message),
    };
    let Some(id) = known(&inner, &id) else {
        return error(StatusCode::NOT_FOUND, "Listing not found");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body must be JSON");
    };
    let offering = &body["products"][0]["offerings"][0];
    if !offering["price"].is_number()
        || !offering["quantity"].is_u64()
        || body["products"][0]["sku"].as_str().is_none()
    {
        return (
            limits,
            error(
                StatusCode::BAD_REQUEST,
                "products[0] needs sku and offerings[0] with a numeric price and quantity",
            ),
        )
            .into_response();
    }
    if let Some(listing) = inner.listings.get_mut(&id) {
        listing["inventory"] = body.clone();
    }
    (limits, Json(body)).into_response()
}
