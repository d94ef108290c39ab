//! A strict fake of Shopify's Admin GraphQL API (version 2025-10), as a real
//! HTTP server on a free port: `POST /admin/api/2025-10/graphql.json` with an
//! `X-Shopify-Access-Token`, Shopify's cost-based leaky bucket (THROTTLED
//! answers and `extensions.cost` on every charged response), the `shop` and
//! primary `location` queries, and the `productSet` mutation upserting by
//! handle with its input checked like Shopify's schema (INVALID_VARIABLE for
//! type errors, `userErrors` for business rules). Failure injection: 503
//! answers, rejected SKUs, a revoked token, and holding the response after a
//! product is stored so a test can kill the caller at that point.

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

const ENDPOINT: &str = "/admin/api/2025-10/graphql.json";
const LOCATION_ID: &str = "gid://shopify/Location/1";
const CATEGORY_PREFIX: &str = "gid://shopify/TaxonomyCategory/";
const PRODUCT_SET_COST: u32 = 10;
const QUERY_COST: u32 = 1;

/// The shop's cost bucket: its size and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShopifyLimits {
    /// Points the bucket holds when full.
    pub maximum_available: f64,
    /// Points restored per second.
    pub restore_rate: f64,
}

impl Default for ShopifyLimits {
    /// Shopify's standard-plan bucket: 2000 points, 100 per second.
    fn default() -> Self {
        ShopifyLimits {
            maximum_available: 2000.0,
            restore_rate: 100.0,
        }
    }
}

/// Where a `productSet` response is held until [`FakeShopify::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Answer at once.
    Off,
    /// Store the product, then hold the response.
    AfterCreate,
}

#[derive(Debug)]
struct Inner {
    access_token: String,
    shop_domain: String,
    limits: ShopifyLimits,
    available: f64,
    refilled_at: Instant,
    products: Vec<Value>,
    next_id: u64,
    creates: u32,
    updates: u32,
    throttled: u32,
    requests: u32,
    fail_next: u32,
    rejected_skus: HashMap<String, String>,
    revoked: bool,
}

impl Inner {
    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
        self.available = (self.available + elapsed * self.limits.restore_rate)
            .min(self.limits.maximum_available);
        self.refilled_at = now;
    }

    fn throttle_status(&self) -> Value {
        json!({
            "maximumAvailable": self.limits.maximum_available,
            "currentlyAvailable": self.available.max(0.0).floor() as u64,
            "restoreRate": self.limits.restore_rate,
        })
    }
}

type Shared = Arc<(Mutex<Inner>, crate::fake_server::Gate<Hold>)>;

/// The fake Shopify Admin API server, stopped on drop.
#[derive(Debug)]
pub struct FakeShopify {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The Admin API access token it accepts.
    pub access_token: String,
    /// The shop's `myshopify.com` domain.
    pub shop_domain: String,
    shared: Shared,
    _server: crate::fake_server::FakeServer,
}

impl FakeShopify {
    /// Starts the fake on its own thread with a full bucket of `limits`.
    pub fn start(limits: ShopifyLimits) -> FakeShopify {
        let access_token = format!("shpat_{}", crate::unique(""));
        let shop_domain = "fleet-test.myshopify.com".to_owned();
        let shared: Shared = Arc::new((
            Mutex::new(Inner {
                access_token: access_token.clone(),
                shop_domain: shop_domain.clone(),
                limits,
                available: limits.maximum_available,
                refilled_at: Instant::now(),
                products: Vec::new(),
                next_id: 1001,
                creates: 0,
                updates: 0,
                throttled: 0,
                requests: 0,
                fail_next: 0,
                rejected_skus: HashMap::new(),
                revoked: false,
            }),
            crate::fake_server::Gate::default(),
        ));
        let app = Router::new()
            .fallback(graphql)
            .with_state(Arc::clone(&shared));
        let server = crate::fake_server::FakeServer::start(app, "Shopify");
        FakeShopify {
            base: server.base.clone(),
            access_token,
            shop_domain,
            shared,
            _server: server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.shared.0.lock().expect("fake Shopify state");
        f(&mut inner)
    }

    /// Stored products in creation order, each as last set.
    pub fn products(&self) -> Vec<Value> {
        self.with(|i| i.products.clone())
    }

    /// The stored product with `handle`, if any.
    pub fn product_by_handle(&self, handle: &str) -> Option<Value> {
        self.with(|i| i.products.iter().find(|p| p["handle"] == handle).cloned())
    }

    /// `productSet` calls that created a new product.
    pub fn creates(&self) -> u32 {
        self.with(|i| i.creates)
    }

    /// `productSet` calls that updated an existing product.
    pub fn updates(&self) -> u32 {
        self.with(|i| i.updates)
    }

    /// Requests answered THROTTLED.
    pub fn throttled(&self) -> u32 {
        self.with(|i| i.throttled)
    }

    /// All requests to the GraphQL endpoint (including refused ones).
    pub fn requests(&self) -> u32 {
        self.with(|i| i.requests)
    }

    /// The next `n` authorized requests get a 503 (nothing executed or charged).
    pub fn fail_next(&self, n: u32) {
        self.with(|i| i.fail_next = n);
    }

    /// `productSet` for a product with a variant of `sku` answers a userError with `message`.
    pub fn reject_sku(&self, sku: &str, message: &str) {
        self.with(|i| {
            i.rejected_skus.insert(sku.to_owned(), message.to_owned());
        });
    }

    /// Every request from now on gets a 401, as after the app is uninstalled.
    pub fn revoke_token(&self) {
        self.with(|i| i.revoked = true);
    }

    /// Holds `productSet` responses at `point` until [`FakeShopify::release`].
    pub fn hold(&self, point: Hold) {
        self.shared.1.hold((point != Hold::Off).then_some(point));
    }

    /// Responses waiting at the hold point now.
    pub fn held(&self) -> u32 {
        self.shared.1.held()
    }

    /// Stops holding; held responses go out.
    pub fn release(&self) {
        self.shared.1.hold(None);
    }

    /// The shop's primary location id.
    pub fn location_id(&self) -> String {
        LOCATION_ID.to_owned()
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn graphql_error(message: &str, code: &str) -> Value {
    json!({"message": message, "extensions": {"code": code}})
}

/// The operation a query asks for, found in its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    ProductSet,
    Shop,
    Location,
    ShopAndLocation,
}

impl Operation {
    fn cost(self) -> u32 {
        match self {
            Operation::ProductSet => PRODUCT_SET_COST,
            Operation::Shop | Operation::Location => QUERY_COST,
            Operation::ShopAndLocation => 2 * QUERY_COST,
        }
    }
}

/// The query without comments, whitespace and commas (all insignificant in GraphQL).
fn compact(query: &str) -> String {
    query
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect()
}

/// Whether `token` (a field name with its opening `(` or `{`) occurs as a whole field name.
fn has_field(compact: &str, token: &str) -> bool {
    compact.match_indices(token).any(|(at, _)| {
        compact[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

fn detect(compact: &str) -> Result<Operation, Value> {
    let mutation = compact.starts_with("mutation");
    let first_field = compact
        .split_once('{')
        .map(|(_, rest)| {
            let rest = rest.split_once(':').map_or(rest, |(alias, field)| {
                if alias.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    field
                } else {
                    rest
                }
            });
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .unwrap_or_default();
    let root = if mutation { "Mutation" } else { "QueryRoot" };
    let undefined = |name: &str| {
        let name = if name.is_empty() { "(none)" } else { name };
        graphql_error(
            &format!("Field '{name}' doesn't exist on type '{root}'"),
            "undefinedField",
        )
    };
    if !compact.contains('{') {
        return Err(graphql_error(
            "syntax error: expected a selection set",
            "parseError",
        ));
    }
    if mutation {
        if has_field(compact, "productSet(") {
            return Ok(Operation::ProductSet);
        }
        return Err(undefined(&first_field));
    }
    if compact.starts_with("subscription") {
        return Err(graphql_error(
            "Schema is not configured for subscriptions",
            "missingSubscriptionConfiguration",
        ));
    }
    match (has_field(compact, "shop{"), has_field(compact, "location{")) {
        (true, true) => Ok(Operation::ShopAndLocation),
        (true, false) => Ok(Operation::Shop),
        (false, true) => Ok(Operation::Location),
        (false, false) => Err(undefined(&first_field)),
    }
}

async fn graphql(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST || uri.path() != ENDPOINT {
        return answer(StatusCode::NOT_FOUND, json!({"errors": "Not Found"}));
    }
    {
        let mut inner = shared.0.lock().expect("state");
        inner.requests += 1;
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok());
        if inner.revoked || token != Some(inner.access_token.as_str()) {
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
            );
        }
        if inner.fail_next > 0 {
            inner.fail_next -= 1;
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"errors": "Service Unavailable"}),
            );
        }
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"errors": "Unsupported Media Type: send Content-Type: application/json"}),
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(request)) => Value::Object(request),
        _ => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"errors": "Bad Request: the body must be a JSON object"}),
            );
        }
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"errors": {"query": "Required parameter missing or invalid"}}),
        );
    };
    let variables = match request.get("variables") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(v)) => Value::Object(v.clone()),
        Some(_) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"errors": {"variables": "must be a JSON object"}}),
            );
        }
    };
    let compact = compact(query);
    let operation = match detect(&compact) {
        Ok(operation) => operation,
        Err(error) => return answer(StatusCode::OK, json!({"errors": [error]})),
    };
    let cost = operation.cost();
    let (cost_ext, shop_domain) = {
        let mut inner = shared.0.lock().expect("state");
        inner.refill();
        if f64::from(cost) > inner.available {
            inner.throttled += 1;
            return answer(
                StatusCode::OK,
                json!({
                    "errors": [{
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }],
                    "extensions": {"cost": {
                        "requestedQueryCost": cost,
                        "actualQueryCost": null,
                        "throttleStatus": inner.throttle_status(),
                    }},
                }),
            );
        }
        inner.available -= f64::from(cost);
        let ext = json!({"cost": {
            "requestedQueryCost": cost,
            "actualQueryCost": cost,
            "throttleStatus": inner.throttle_status(),
        }});
        (ext, inner.shop_domain.clone())
    };
    let shop = json!({
        "name": "Fleet Test Shop",
        "currencyCode": "EUR",
        "myshopifyDomain": shop_domain,
    });
    let location = json!({"id": LOCATION_ID, "name": "Shop location"});
    let data = match operation {
        Operation::Shop => json!({"shop": shop}),
        Operation::Location => json!({"location": location}),
        Operation::ShopAndLocation => json!({"shop": shop, "location": location}),
        Operation::ProductSet => {
            let body = match product_set(&shared, &compact, &variables) {
                Outcome::Errors(errors) => json!({"errors": errors, "extensions": cost_ext}),
                Outcome::UserErrors(user_errors) => json!({
                    "data": {"productSet": {"product": null, "userErrors": user_errors}},
                    "extensions": cost_ext,
                }),
                Outcome::Stored(product) => {
                    shared.1.pass(Hold::AfterCreate).await;
                    json!({
                        "data": {"productSet": {"product": product, "userErrors": []}},
                        "extensions": cost_ext,
                    })
                }
            };
            return answer(StatusCode::OK, body);
        }
    };
    answer(
        StatusCode::OK,
        json!({"data": data, "extensions": cost_ext}),
    )
}

enum Outcome {
    /// Top-level GraphQL errors (bad query or variables); nothing executed.
    Errors(Vec<Value>),
    /// Business-rule errors; nothing stored.
    UserErrors(Vec<Value>),
    /// `{id, handle}` of the stored product.
    Stored(Value),
}

/// An input type of the subset of Shopify's schema this fake accepts.
enum Ty {
    Str,
    Id,
    Int,
    Money,
    Enum(&'static str, &'static [&'static str]),
    List(&'static Ty),
    /// Name and fields (name, type, non-null).
    Obj(&'static str, &'static [(&'static str, Ty, bool)]),
}

static OPTION_VALUE: Ty = Ty::Obj("OptionValueSetInput", &[("name", Ty::Str, false)]);
static OPTION: Ty = Ty::Obj(
    "OptionSetInput",
    &[
        ("name", Ty::Str, false),
        ("values", Ty::List(&OPTION_VALUE), false),
    ],
);
static VARIANT_OPTION_VALUE: Ty = Ty::Obj(
    "VariantOptionValueInput",
    &[("optionName", Ty::Str, false), ("name", Ty::Str, false)],
);
static INVENTORY: Ty = Ty::Obj(
    "ProductSetInventoryInput",
    &[
        ("locationId", Ty::Id, true),
        ("name", Ty::Str, true),
        ("quantity", Ty::Int, true),
    ],
);
static VARIANT: Ty = Ty::Obj(
    "ProductVariantSetInput",
    &[
        ("optionValues", Ty::List(&VARIANT_OPTION_VALUE), true),
        ("sku", Ty::Str, false),
        ("price", Ty::Money, false),
        ("inventoryQuantities", Ty::List(&INVENTORY), false),
    ],
);
static FILE: Ty = Ty::Obj(
    "FileSetInput",
    &[
        ("originalSource", Ty::Str, false),
        (
            "contentType",
            Ty::Enum(
                "FileContentType",
                &["EXTERNAL_VIDEO", "FILE", "IMAGE", "MODEL_3D", "VIDEO"],
            ),
            false,
        ),
        ("alt", Ty::Str, false),
    ],
);
static PRODUCT_SET_INPUT: Ty = Ty::Obj(
    "ProductSetInput",
    &[
        ("title", Ty::Str, false),
        ("handle", Ty::Str, false),
        ("descriptionHtml", Ty::Str, false),
        ("vendor", Ty::Str, false),
        ("productType", Ty::Str, false),
        ("category", Ty::Id, false),
        (
            "status",
            Ty::Enum("ProductStatus", &["ACTIVE", "ARCHIVED", "DRAFT"]),
            false,
        ),
        ("tags", Ty::List(&Ty::Str), false),
        ("productOptions", Ty::List(&OPTION), false),
        ("variants", Ty::List(&VARIANT), false),
        ("files", Ty::List(&FILE), false),
    ],
);

type Problems = Vec<(Vec<Value>, String)>;

/// Checks `value` (not null) against `ty`, collecting coercion problems.
fn check(ty: &Ty, value: &Value, path: &mut Vec<Value>, problems: &mut Problems) {
    let mut problem = |path: &Vec<Value>, explanation: String| {
        problems.push((path.clone(), explanation));
    };
    match ty {
        Ty::Str if !value.is_string() => {
            problem(path, format!("Could not coerce value {value} to String"));
        }
        Ty::Id if !(value.is_string() || value.is_i64() || value.is_u64()) => {
            problem(path, format!("Could not coerce value {value} to ID"));
        }
        Ty::Int if value.as_i64().is_none_or(|n| i32::try_from(n).is_err()) => {
            problem(path, format!("Could not coerce value {value} to Int"));
        }
        Ty::Money if !value.is_string() => {
            problem(path, format!("Could not coerce value {value} to Money"));
        }
        Ty::Enum(name, values) if value.as_str().is_none_or(|v| !values.contains(&v)) => {
            problem(
                path,
                format!(
                    "Expected {value} to be one of: {} ({name})",
                    values.join(", ")
                ),
            );
        }
        Ty::List(item) => match value.as_array() {
            None => problem(path, format!("Expected {value} to be a list")),
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(json!(i));
                    if v.is_null() {
                        problems.push((path.clone(), "Expected value to not be null".to_owned()));
                    } else {
                        check(item, v, path, problems);
                    }
                    path.pop();
                }
            }
        },
        Ty::Obj(name, fields) => match value.as_object() {
            None => problem(path, format!("Expected {value} to be a key-value object")),
            Some(object) => {
                for key in object.keys() {
                    if !fields.iter().any(|(f, _, _)| f == key) {
                        path.push(json!(key));
                        problems.push((path.clone(), format!("Field is not defined on {name}")));
                        path.pop();
                    }
                }
                for (field, ty, required) in fields.iter() {
                    path.push(json!(field));
                    match object.get(*field) {
                        None | Some(Value::Null) if *required => problems
                            .push((path.clone(), "Expected value to not be null".to_owned())),
                        None | Some(Value::Null) => {}
                        Some(v) => check(ty, v, path, problems),
                    }
                    path.pop();
                }
            }
        },
        _ => {}
    }
}

/// A top-level INVALID_VARIABLE error for `$name` of type `ty`.
fn invalid_variable(name: &str, ty: &str, value: &Value, problems: &Problems) -> Value {
    let detail = problems
        .iter()
        .map(|(path, explanation)| {
            let path = path
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(".");
            if path.is_empty() {
                format!("({explanation})")
            } else {
                format!("for {path} ({explanation})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "message": format!("Variable ${name} of type {ty} was provided invalid value {detail}"),
        "extensions": {
            "code": "INVALID_VARIABLE",
            "value": value,
            "problems": problems
                .iter()
                .map(|(path, explanation)| json!({"path": path, "explanation": explanation}))
                .collect::<Vec<_>>(),
        },
    })
}

/// Collects `userErrors` with string field paths, as Shopify reports them.
#[derive(Default)]
struct UserErrors(Vec<Value>);

impl UserErrors {
    fn add(&mut self, field: &[&dyn std::fmt::Display], message: &str, code: &str) {
        let field: Vec<String> = std::iter::once("input".to_owned())
            .chain(field.iter().map(|f| f.to_string()))
            .collect();
        self.0
            .push(json!({"field": field, "message": message, "code": code}));
    }
}

fn blank(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
}

/// A non-negative decimal with at most two decimals, such as `12.50`.
fn is_price(price: &str) -> bool {
    let (whole, fraction) = price.split_once('.').unwrap_or((price, "0"));
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&fraction.len())
        && fraction.chars().all(|c| c.is_ascii_digit())
}

fn is_http_url(url: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
            && !url.contains(char::is_whitespace)
    })
}

fn items(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Business rules on a type-correct `input`, as Shopify's productSet checks them.
fn business_errors(
    input: &Map<String, Value>,
    handle: &str,
    rejected_skus: &HashMap<String, String>,
) -> Vec<Value> {
    let mut errors = UserErrors::default();
    let title = input.get("title");
    if blank(title) {
        errors.add(&[&"title"], "Title can't be blank", "INVALID_INPUT");
    } else if title
        .and_then(Value::as_str)
        .is_some_and(|t| t.chars().count() > 255)
    {
        errors.add(
            &[&"title"],
            "Title is too long (maximum is 255 characters)",
            "INVALID_INPUT",
        );
    }
    if let Some(h) = input.get("handle").and_then(Value::as_str)
        && h != handle
    {
        errors.add(
            &[&"handle"],
            "The input handle does not match the identifier handle",
            "INPUT_MISMATCH",
        );
    }
    if let Some(category) = input.get("category").and_then(Value::as_str)
        && category
            .strip_prefix(CATEGORY_PREFIX)
            .is_none_or(str::is_empty)
    {
        errors.add(&[&"category"], "Category does not exist", "INVALID_INPUT");
    }

    // Options: name → declared values.
    let options_value = input.get("productOptions");
    let options = items(options_value);
    let mut declared: Vec<(String, Vec<String>)> = Vec::new();
    if options.len() > 3 {
        errors.add(
            &[&"productOptions"],
            "Can only specify a maximum of 3 options",
            "OPTIONS_OVER_LIMIT",
        );
    }
    for (i, option) in options.iter().enumerate() {
        let name = option.get("name").and_then(Value::as_str).unwrap_or("");
        if name.trim().is_empty() {
            errors.add(
                &[&"productOptions", &i, &"name"],
                "Option name can't be blank",
                "INVALID_INPUT",
            );
        } else if declared.iter().any(|(n, _)| n == name) {
            errors.add(
                &[&"productOptions", &i, &"name"],
                &format!("Duplicated option name '{name}'"),
                "DUPLICATED_OPTION_NAME",
            );
        }
        let values = items(option.get("values"));
        if values.is_empty() {
            errors.add(
                &[&"productOptions", &i, &"values"],
                "Option values are missing",
                "OPTION_VALUES_MISSING",
            );
        }
        let mut names: Vec<String> = Vec::new();
        for (j, value) in values.iter().enumerate() {
            let value = value.get("name").and_then(Value::as_str).unwrap_or("");
            if value.trim().is_empty() {
                errors.add(
                    &[&"productOptions", &i, &"values", &j, &"name"],
                    "Option value name can't be blank",
                    "INVALID_INPUT",
                );
            } else if names.iter().any(|n| n == value) {
                errors.add(
                    &[&"productOptions", &i, &"values", &j, &"name"],
                    &format!("Duplicated option value '{value}'"),
                    "DUPLICATED_OPTION_VALUE",
                );
            } else {
                names.push(value.to_owned());
            }
        }
        declared.push((name.to_owned(), names));
    }

    let variants = items(input.get("variants"));
    if variants.is_empty() {
        errors.add(
            &[&"variants"],
            "Variants are required",
            "VARIANTS_INPUT_MISSING",
        );
    } else if variants.len() > 2048 {
        errors.add(
            &[&"variants"],
            "Can only specify a maximum of 2048 variants",
            "VARIANTS_OVER_LIMIT",
        );
    }
    if !variants.is_empty() && options.is_empty() {
        errors.add(
            &[&"productOptions"],
            "Options are required when variants are provided",
            "PRODUCT_OPTIONS_INPUT_MISSING",
        );
    }
    let mut combinations: HashSet<Vec<String>> = HashSet::new();
    for (i, variant) in variants.iter().enumerate() {
        let option_values = items(variant.get("optionValues"));
        let mut chosen: Vec<Option<String>> = vec![None; declared.len()];
        let mut valid = true;
        for (j, value) in option_values.iter().enumerate() {
            let option_name = value
                .get("optionName")
                .and_then(Value::as_str)
                .unwrap_or("");
            let name = value.get("name").and_then(Value::as_str).unwrap_or("");
            let Some(k) = declared.iter().position(|(n, _)| n == option_name) else {
                errors.add(
                    &[&"variants", &i, &"optionValues", &j, &"optionName"],
                    &format!("Option '{option_name}' does not exist"),
                    "OPTION_DOES_NOT_EXIST",
                );
                valid = false;
                continue;
            };
            if !declared[k].1.iter().any(|v| v == name) {
                errors.add(
                    &[&"variants", &i, &"optionValues", &j, &"name"],
                    &format!("Option value '{name}' does not exist for option '{option_name}'"),
                    "OPTION_VALUE_DOES_NOT_EXIST",
                );
                valid = false;
            }
            if chosen[k].is_some() {
                errors.add(
                    &[&"variants", &i, &"optionValues", &j, &"optionName"],
                    &format!("Option '{option_name}' is given more than once"),
                    "INVALID_VARIANT",
                );
                valid = false;
            }
            chosen[k] = Some(name.to_owned());
        }
        if valid && chosen.iter().any(Option::is_none) {
            errors.add(
                &[&"variants", &i, &"optionValues"],
                "The variant must have a value for each product option",
                "INVALID_VARIANT",
            );
            valid = false;
        }
        if valid {
            let combination: Vec<String> = chosen.into_iter().flatten().collect();
            if !combinations.insert(combination.clone()) {
                errors.add(
                    &[&"variants", &i],
                    &format!("The variant '{}' already exists.", combination.join(" / ")),
                    "INVALID_VARIANT",
                );
            }
        }
        match variant.get("sku").and_then(Value::as_str) {
            Some(sku) if !sku.trim().is_empty() => {
                if let Some(message) = rejected_skus.get(sku) {
                    errors.add(&[&"variants", &i, &"sku"], message, "INVALID_VARIANT");
                }
            }
            _ => errors.add(
                &[&"variants", &i, &"sku"],
                "SKU can't be blank",
                "INVALID_VARIANT",
            ),
        }
        match variant.get("price").and_then(Value::as_str) {
            None => errors.add(
                &[&"variants", &i, &"price"],
                "Price can't be blank",
                "INVALID_VARIANT",
            ),
            Some(price) if !is_price(price) => errors.add(
                &[&"variants", &i, &"price"],
                &format!("Price '{price}' must be a non-negative decimal with at most 2 decimals"),
                "INVALID_VARIANT",
            ),
            Some(_) => {}
        }
        for (j, quantity) in items(variant.get("inventoryQuantities")).iter().enumerate() {
            let location = match &quantity["locationId"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if location != LOCATION_ID {
                errors.add(
                    &[&"variants", &i, &"inventoryQuantities", &j, &"locationId"],
                    &format!("Location '{location}' does not exist"),
                    "NOT_FOUND",
                );
            }
            if quantity["name"] != "available" {
                errors.add(
                    &[&"variants", &i, &"inventoryQuantities", &j, &"name"],
                    "Inventory quantity name must be 'available'",
                    "INVALID_INPUT",
                );
            }
        }
    }

    let files = items(input.get("files"));
    if files.len() > 250 {
        errors.add(
            &[&"files"],
            "Can only specify a maximum of 250 files",
            "INVALID_INPUT",
        );
    }
    for (i, file) in files.iter().enumerate() {
        if !file
            .get("originalSource")
            .and_then(Value::as_str)
            .is_some_and(is_http_url)
        {
            errors.add(
                &[&"files", &i, &"originalSource"],
                "Image URL is invalid",
                "INVALID_INPUT",
            );
        }
        if file.get("contentType").and_then(Value::as_str) != Some("IMAGE") {
            errors.add(
                &[&"files", &i, &"contentType"],
                "Only IMAGE files are supported",
                "INVALID_INPUT",
            );
        }
    }
    errors.0
}

const LIST_FIELDS: [&str; 4] = ["tags", "variants", "files", "productOptions"];
const SCALAR_FIELDS: [&str; 6] = [
    "title",
    "descriptionHtml",
    "vendor",
    "productType",
    "category",
    "status",
];

fn product_set(shared: &Shared, compact: &str, variables: &Value) -> Outcome {
    let mut query_errors = Vec::new();
    for (declaration, ty) in [
        ("$identifier:ProductSetIdentifiers", "ProductSetIdentifiers"),
        ("$input:ProductSetInput!", "ProductSetInput!"),
    ] {
        if !compact.contains(declaration) {
            query_errors.push(graphql_error(
                &format!(
                    "Variable {} must be declared as {ty}",
                    declaration.split(':').next().unwrap_or_default()
                ),
                "variableNotDefined",
            ));
        }
    }
    if !compact.contains("identifier:$identifier") || !compact.contains("input:$input") {
        query_errors.push(graphql_error(
            "productSet must be called as productSet(identifier: $identifier, input: $input, synchronous: true)",
            "missingRequiredArguments",
        ));
    }
    if compact.contains("synchronous:false") {
        query_errors.push(graphql_error(
            "This fake only supports productSet(synchronous: true)",
            "argumentLiteralsIncompatible",
        ));
    }
    if !query_errors.is_empty() {
        return Outcome::Errors(query_errors);
    }

    let identifier = variables.get("identifier").unwrap_or(&Value::Null);
    let handle = identifier
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("handle"))
        .and_then(Value::as_str)
        .filter(|h| !h.trim().is_empty());
    let input = variables.get("input").unwrap_or(&Value::Null);
    let mut errors = Vec::new();
    if handle.is_none() {
        errors.push(invalid_variable(
            "identifier",
            "ProductSetIdentifiers",
            identifier,
            &vec![(
                Vec::new(),
                "This fake upserts by handle: expected {\"handle\": a non-empty String}".to_owned(),
            )],
        ));
    }
    let mut problems = Problems::new();
    if input.is_null() {
        problems.push((Vec::new(), "Expected value to not be null".to_owned()));
    } else {
        check(&PRODUCT_SET_INPUT, input, &mut Vec::new(), &mut problems);
    }
    if !problems.is_empty() {
        errors.push(invalid_variable(
            "input",
            "ProductSetInput!",
            input,
            &problems,
        ));
    }
    let (Some(handle), Some(input), true) = (handle, input.as_object(), errors.is_empty()) else {
        return Outcome::Errors(errors);
    };

    let mut inner = shared.0.lock().expect("state");
    let user_errors = business_errors(input, handle, &inner.rejected_skus);
    if !user_errors.is_empty() {
        return Outcome::UserErrors(user_errors);
    }
    let position = inner.products.iter().position(|p| p["handle"] == handle);
    let product = match position {
        Some(at) => {
            inner.updates += 1;
            &mut inner.products[at]
        }
        None => {
            let id = format!("gid://shopify/Product/{}", inner.next_id);
            inner.next_id += 1;
            inner.creates += 1;
            let mut product = json!({"id": id, "handle": handle, "status": "ACTIVE"});
            for field in SCALAR_FIELDS.iter().filter(|f| **f != "status") {
                product[*field] = Value::Null;
            }
            for field in LIST_FIELDS {
                product[field] = json!([]);
            }
            inner.products.push(product);
            inner.products.last_mut().expect("just pushed")
        }
    };
    for field in SCALAR_FIELDS {
        if let Some(value) = input.get(field) {
            product[field] = value.clone();
        }
    }
    for field in LIST_FIELDS {
        match input.get(field) {
            Some(Value::Null) => product[field] = json!([]),
            Some(value) => product[field] = value.clone(),
            None => {}
        }
    }
    Outcome::Stored(json!({"id": product["id"], "handle": handle}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str =
        "mutation ProductSet($identifier: ProductSetIdentifiers!, $input: ProductSetInput!) {
        # upsert by handle
        productSet(identifier: $identifier, input: $input, synchronous: true) {
            product { id handle }
            userErrors { field message code }
        }
    }";

    fn variables(fake: &FakeShopify, handle: &str, sku: &str, price: Value) -> Value {
        json!({
            "identifier": {"handle": handle},
            "input": {
                "title": "Blue shirt",
                "handle": handle,
                "descriptionHtml": "<p>A shirt</p>",
                "vendor": "Fleet",
                "productType": "Shirt",
                "category": "gid://shopify/TaxonomyCategory/aa-1-13-8",
                "status": "ACTIVE",
                "tags": ["blue", "cotton"],
                "productOptions": [{"name": "Size", "values": [{"name": "M"}, {"name": "L"}]}],
                "variants": [
                    {
                        "optionValues": [{"optionName": "Size", "name": "M"}],
                        "sku": sku,
                        "price": price,
                        "inventoryQuantities": [
                            {"locationId": fake.location_id(), "name": "available", "quantity": 3}
                        ],
                    },
                    {
                        "optionValues": [{"optionName": "Size", "name": "L"}],
                        "sku": format!("{sku}-L"),
                        "price": "13.00",
                    },
                ],
                "files": [{"originalSource": "https://cdn.example.com/a.png", "contentType": "IMAGE", "alt": "front"}],
            },
        })
    }

    async fn post(fake: &FakeShopify, token: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{ENDPOINT}", fake.base))
            .header("X-Shopify-Access-Token", token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    async fn set(fake: &FakeShopify, variables: Value) -> Value {
        let (status, body) = post(
            fake,
            &fake.access_token,
            json!({"query": SET, "variables": variables}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    #[tokio::test]
    async fn product_set_creates_then_updates_by_handle() {
        let fake = FakeShopify::start(ShopifyLimits::default());
        let first = set(
            &fake,
            variables(&fake, "blue-shirt", "SKU-1", json!("12.50")),
        )
        .await;
        assert_eq!(
            first["data"]["productSet"]["userErrors"],
            json!([]),
            "{first}"
        );
        let id = first["data"]["productSet"]["product"]["id"].clone();
        assert_eq!(id, "gid://shopify/Product/1001");
        assert_eq!(first["extensions"]["cost"]["requestedQueryCost"], 10);
        let mut again = variables(&fake, "blue-shirt", "SKU-1", json!("9.99"));
        again["input"]["title"] = json!("Blue shirt v2");
        let second = set(&fake, again).await;
        assert_eq!(
            second["data"]["productSet"]["product"]["id"], id,
            "{second}"
        );
        assert_eq!((fake.creates(), fake.updates()), (1, 1));
        assert_eq!(fake.products().len(), 1);
        let stored = fake.product_by_handle("blue-shirt").expect("stored");
        assert_eq!(stored["title"], "Blue shirt v2");
        assert_eq!(stored["variants"][0]["price"], "9.99");
        assert_eq!(fake.requests(), 2);

        let (status, shop) = post(
            &fake,
            &fake.access_token,
            json!({"query": "{ shop { name myshopifyDomain } }"}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(shop["data"]["shop"]["myshopifyDomain"], fake.shop_domain);
        let (_, location) = post(
            &fake,
            &fake.access_token,
            json!({"query": "query { location { id } }"}),
        )
        .await;
        assert_eq!(location["data"]["location"]["id"], fake.location_id());
    }

    #[tokio::test]
    async fn wrong_token_wrong_path_and_injected_failures() {
        let fake = FakeShopify::start(ShopifyLimits::default());
        let (status, body) =
            post(&fake, "shpat_wrong", json!({"query": "{ shop { name } }"})).await;
        assert_eq!(status, 401);
        assert!(
            body["errors"]
                .as_str()
                .unwrap_or("")
                .contains("Invalid API key")
        );
        let response = reqwest::Client::new()
            .post(format!("{}/admin/api/2024-01/graphql.json", fake.base))
            .header("X-Shopify-Access-Token", &fake.access_token)
            .json(&json!({"query": "{ shop { name } }"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 404);
        fake.fail_next(1);
        let (status, _) = post(
            &fake,
            &fake.access_token,
            json!({"query": "{ shop { name } }"}),
        )
        .await;
        assert_eq!(status, 503);
        let (status, _) = post(
            &fake,
            &fake.access_token,
            json!({"query": "{ shop { name } }"}),
        )
        .await;
        assert_eq!(status, 200);
        fake.revoke_token();
        let (status, _) = post(
            &fake,
            &fake.access_token,
            json!({"query": "{ shop { name } }"}),
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(fake.requests(), 4);
    }

    #[tokio::test]
    async fn numeric_price_is_an_invalid_variable() {
        let fake = FakeShopify::start(ShopifyLimits::default());
        let body = set(&fake, variables(&fake, "blue-shirt", "SKU-1", json!(12.5))).await;
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "INVALID_VARIABLE", "{body}");
        assert_eq!(
            error["extensions"]["problems"][0]["path"],
            json!(["variants", 0, "price"])
        );
        assert!(body["data"].is_null());
        assert!(fake.products().is_empty());
        assert_eq!(fake.creates(), 0);

        let mut unknown = variables(&fake, "blue-shirt", "SKU-1", json!("1.00"));
        unknown["input"]["variants"][0]["weight"] = json!(3);
        let body = set(&fake, unknown).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_VARIABLE");
        assert!(fake.products().is_empty());
    }

    #[tokio::test]
    async fn the_bucket_throttles_and_reports_its_level() {
        let fake = FakeShopify::start(ShopifyLimits {
            maximum_available: 25.0,
            restore_rate: 1.0,
        });
        let mut levels = Vec::new();
        for n in 0..3 {
            let body = set(
                &fake,
                variables(&fake, &format!("p-{n}"), "SKU", json!("1.00")),
            )
            .await;
            levels.push(body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"].clone());
            if n == 2 {
                assert_eq!(
                    body["errors"][0]["extensions"]["code"], "THROTTLED",
                    "{body}"
                );
                assert!(body["extensions"]["cost"]["actualQueryCost"].is_null());
            }
        }
        assert_eq!(levels, vec![json!(15), json!(5), json!(5)]);
        assert_eq!(fake.throttled(), 1);
        assert_eq!(fake.creates(), 2);
    }

    #[tokio::test]
    async fn rejected_sku_is_a_user_error_and_holds_wait_for_release() {
        let fake = FakeShopify::start(ShopifyLimits::default());
        fake.reject_sku("BAD-1", "SKU is blocked");
        let body = set(&fake, variables(&fake, "bad", "BAD-1", json!("1.00"))).await;
        let payload = &body["data"]["productSet"];
        assert!(payload["product"].is_null(), "{body}");
        assert_eq!(
            payload["userErrors"],
            json!([{"field": ["input", "variants", "0", "sku"], "message": "SKU is blocked", "code": "INVALID_VARIANT"}])
        );
        assert!(fake.products().is_empty());

        let fake = Arc::new(fake);
        fake.hold(Hold::AfterCreate);
        let request = {
            let fake = Arc::clone(&fake);
            tokio::spawn(async move {
                let vars = variables(&fake, "held", "OK-1", json!("1.00"));
                set(&fake, vars).await
            })
        };
        crate::wait_for("a held request", std::time::Duration::from_secs(10), || {
            let held = fake.held();
            async move { (held == 1).then_some(()) }
        })
        .await;
        assert!(fake.product_by_handle("held").is_some());
        fake.release();
        let body = request.await.expect("join");
        assert_eq!(body["data"]["productSet"]["product"]["handle"], "held");
        assert_eq!(fake.held(), 0);
    }
}
