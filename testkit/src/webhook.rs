//! A webhook receiver, as a real HTTP server on a free port: it keeps every
//! request it gets (headers and body) and answers 204, or 500 while told to
//! fail. Signatures are checked by the tests with an independent verifier.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use std::sync::{Arc, Mutex};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedWebhook {
    /// Its headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

impl ReceivedWebhook {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Inner {
    received: Vec<ReceivedWebhook>,
    fail_next: u32,
}

/// The receiver, stopped on drop.
#[derive(Debug)]
pub struct WebhookReceiver {
    /// The URL to register: `http://127.0.0.1:PORT/hooks`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _server: crate::fake_server::FakeServer,
}

impl WebhookReceiver {
    /// Starts the receiver.
    pub fn start() -> WebhookReceiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(inner.clone());
        let server = crate::fake_server::FakeServer::start(app, "webhook receiver");
        WebhookReceiver {
            url: format!("{}/hooks", server.base),
            inner,
            _server: server,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `times` requests are answered 500 (`u32::MAX`: until told otherwise).
    pub fn fail_next(&self, times: u32) {
        self.lock().fail_next = times;
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.lock().received.clone()
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    let status = if inner.fail_next > 0 {
        inner.fail_next = inner.fail_next.saturating_sub(1);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    inner.received.push(ReceivedWebhook {
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: status.as_u16(),
    });
    status
}
