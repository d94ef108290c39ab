//! A fake of Stripe's API for payouts, as a real HTTP server on a free port:
//! `POST /v1/transfers` (form-encoded, bearer secret key, required fields
//! checked) with Stripe's idempotency semantics — the same `Idempotency-Key`
//! with the same parameters returns the first response, with other
//! parameters a 400 `idempotency_error` — `GET /v1/transfers` (paginated,
//! newest first), signed `transfer.*` webhooks, and failure injection:
//! 5xx answers, refused destinations, and holding a request before or after
//! the transfer is created so a test can kill the caller at that point.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

/// Where a `POST /v1/transfers` is held until [`FakeStripe::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Answer at once.
    Off,
    /// Hold the request before the transfer exists.
    BeforeCreate,
    /// Create the transfer, then hold the response.
    AfterCreate,
}

#[derive(Debug)]
struct Inner {
    secret_key: String,
    webhook: Option<(String, String)>,
    transfers: Vec<Value>,
    /// Idempotency key → (parameters, status, body).
    keys: HashMap<String, (BTreeMap<String, String>, u16, Value)>,
    refused_destinations: Vec<String>,
    fail_next: u32,
    requests: u32,
}

type Shared = Arc<(Mutex<Inner>, crate::fake_server::Gate<Hold>)>;

/// The fake Stripe server, stopped on drop.
#[derive(Debug)]
pub struct FakeStripe {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The secret key it accepts.
    pub secret_key: String,
    shared: Shared,
    _server: crate::fake_server::FakeServer,
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"type": kind, "message": message}})),
    )
        .into_response()
}

impl FakeStripe {
    /// Starts the fake on its own thread. With `webhook` (URL, endpoint secret) it
    /// posts a signed `transfer.created` event for every transfer it creates.
    pub fn start(webhook: Option<(String, String)>) -> FakeStripe {
        let secret_key = format!("sk_test_{}", crate::unique(""));
        let shared: Shared = Arc::new((
            Mutex::new(Inner {
                secret_key: secret_key.clone(),
                webhook,
                transfers: Vec::new(),
                keys: HashMap::new(),
                refused_destinations: Vec::new(),
                fail_next: 0,
                requests: 0,
            }),
            crate::fake_server::Gate::default(),
        ));
        let app = Router::new()
            .route("/v1/transfers", post(create).get(list))
            .with_state(Arc::clone(&shared));
        let server = crate::fake_server::FakeServer::start(app, "Stripe");
        FakeStripe {
            base: server.base.clone(),
            secret_key,
            shared,
            _server: server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.shared.0.lock().expect("fake Stripe state");
        f(&mut inner)
    }

    /// Every transfer created, oldest first.
    pub fn transfers(&self) -> Vec<Value> {
        self.with(|i| i.transfers.clone())
    }

    /// `POST /v1/transfers` requests received (including refused and replayed ones).
    pub fn requests(&self) -> u32 {
        self.with(|i| i.requests)
    }

    /// The next `n` transfer requests get a 500 (nothing created).
    pub fn fail_next(&self, n: u32) {
        self.with(|i| i.fail_next = n);
    }

    /// Transfers to `account` are refused (400, as for a closed account).
    pub fn refuse_destination(&self, account: &str) {
        self.with(|i| i.refused_destinations.push(account.to_owned()));
    }

    /// Holds transfer requests at `point` until [`FakeStripe::release`].
    pub fn hold(&self, point: Hold) {
        self.shared.1.hold((point != Hold::Off).then_some(point));
    }

    /// Requests waiting at the hold point now.
    pub fn held(&self) -> u32 {
        self.shared.1.held()
    }

    /// Stops holding; held requests go on.
    pub fn release(&self) {
        self.shared.1.hold(None);
    }

    /// Marks transfer `id` reversed and posts a signed `transfer.reversed` event.
    pub async fn reverse(&self, id: &str) {
        let (object, webhook) = self.with(|i| {
            let t = i.transfers.iter_mut().find(|t| t["id"] == id);
            let object = t.map(|t| {
                t["reversed"] = json!(true);
                t.clone()
            });
            (object, i.webhook.clone())
        });
        if let (Some(object), Some(webhook)) = (object, webhook) {
            send_event(&webhook, "transfer.reversed", object).await;
        }
    }
}

/// `Stripe-Signature` for `body` at `timestamp` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Posts a signed event of `kind` about `object` to `webhook` (URL, secret).
pub async fn send_event(webhook: &(String, String), kind: &str, object: Value) {
    let body = json!({
        "id": crate::unique("evt_"),
        "object": "event",
        "type": kind,
        "data": {"object": object},
    })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let _ = reqwest::Client::new()
        .post(&webhook.0)
        .header("Stripe-Signature", sign(&webhook.1, now, body.as_bytes()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
}

async fn create(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (authorized, fail) = {
        let mut inner = shared.0.lock().expect("state");
        inner.requests += 1;
        let expected = format!("Bearer {}", inner.secret_key);
        let authorized = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str());
        let fail = authorized && inner.fail_next > 0;
        if fail {
            inner.fail_next -= 1;
        }
        (authorized, fail)
    };
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Invalid API Key provided",
        );
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let Ok(params) = serde_urlencoded::from_bytes::<BTreeMap<String, String>>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unreadable form body",
        );
    };
    if !is_form {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "send application/x-www-form-urlencoded",
        );
    }
    for field in ["amount", "currency", "destination"] {
        if !params.contains_key(field) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("Missing required param: {field}."),
            );
        }
    }
    let Some(amount) = params
        .get("amount")
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a > 0)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Invalid positive integer: amount",
        );
    };
    let currency = params.get("currency").cloned().unwrap_or_default();
    if currency.len() != 3 || currency.to_lowercase() != currency {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Invalid currency",
        );
    }
    if fail {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "injected failure",
        );
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(key) = &key {
        let seen = shared.0.lock().expect("state").keys.get(key).cloned();
        if let Some((first, status, body)) = seen {
            if first != params {
                return error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                );
            }
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [("idempotent-replayed", "true")],
                Json(body),
            )
                .into_response();
        }
    }
    shared.1.pass(Hold::BeforeCreate).await;
    let destination = params.get("destination").cloned().unwrap_or_default();
    let (status, answer, webhook) = {
        let mut inner = shared.0.lock().expect("state");
        // A concurrent request with the same key may have finished while this one was held.
        if let Some(key) = &key
            && let Some((first, status, body)) = inner.keys.get(key).cloned()
        {
            if first != params {
                drop(inner);
                return error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                );
            }
            drop(inner);
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                Json(body),
            )
                .into_response();
        }
        let (status, answer) = if inner.refused_destinations.contains(&destination) {
            (
                400u16,
                json!({"error": {"type": "invalid_request_error", "message": format!("No such destination: '{destination}'")}}),
            )
        } else {
            let metadata: BTreeMap<String, String> = params
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("metadata[")
                        .and_then(|r| r.strip_suffix(']'))
                        .map(|k| (k.to_owned(), v.clone()))
                })
                .collect();
            let transfer = json!({
                "id": format!("tr_{}", inner.transfers.len() + 1),
                "object": "transfer",
                "amount": amount,
                "currency": currency,
                "destination": destination,
                "transfer_group": params.get("transfer_group"),
                "metadata": metadata,
                "reversed": false,
            });
            inner.transfers.push(transfer.clone());
            (200u16, transfer)
        };
        if let Some(key) = &key {
            inner
                .keys
                .insert(key.clone(), (params.clone(), status, answer.clone()));
        }
        (status, answer, inner.webhook.clone())
    };
    if status == 200
        && let Some(webhook) = webhook
    {
        let object = answer.clone();
        tokio::spawn(async move { send_event(&webhook, "transfer.created", object).await });
    }
    shared.1.pass(Hold::AfterCreate).await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        Json(answer),
    )
        .into_response()
}

async fn list(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let inner = shared.0.lock().expect("state");
    let expected = format!("Bearer {}", inner.secret_key);
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Invalid API Key provided",
        );
    }
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let newest_first: Vec<&Value> = inner.transfers.iter().rev().collect();
    let start = match q.get("starting_after") {
        Some(id) => match newest_first.iter().position(|t| t["id"] == id.as_str()) {
            Some(pos) => pos + 1,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "No such transfer",
                );
            }
        },
        None => 0,
    };
    let data: Vec<Value> = newest_first
        .iter()
        .skip(start)
        .take(limit)
        .map(|t| (*t).clone())
        .collect();
    let has_more = start + data.len() < newest_first.len();
    Json(json!({"object": "list", "data": data, "has_more": has_more})).into_response()
}
