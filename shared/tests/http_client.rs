//! The outbound client against a real local HTTP server: retries, Retry-After,
//! the circuit breaker and timeouts.

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use fleet_shared::http::{HttpClient, HttpError, HttpSettings};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

#[derive(Clone, Default)]
struct Hits(Arc<AtomicU32>);

async fn flaky(State(hits): State<Hits>) -> impl IntoResponse {
    match hits.0.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        _ => (StatusCode::OK, "done").into_response(),
    }
}

async fn throttled(State(hits): State<Hits>) -> impl IntoResponse {
    match hits.0.fetch_add(1, Ordering::SeqCst) {
        0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        _ => (StatusCode::OK, "done").into_response(),
    }
}

async fn broken(State(hits): State<Hits>) -> StatusCode {
    hits.0.fetch_add(1, Ordering::SeqCst);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn missing(State(hits): State<Hits>) -> StatusCode {
    hits.0.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

async fn server() -> (String, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route("/flaky", get(flaky))
        .route("/throttled", get(throttled))
        .route("/broken", get(broken))
        .route("/missing", get(missing))
        .route("/slow", get(slow))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, hits)
}

fn settings() -> HttpSettings {
    HttpSettings {
        request_timeout: Duration::from_millis(500),
        backoff_base: Duration::from_millis(20),
        max_wait: Duration::from_secs(3),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(60),
        ..HttpSettings::default()
    }
}

async fn fetch(
    client: &HttpClient,
    url: String,
    retry: bool,
) -> Result<reqwest::Response, HttpError> {
    let request = client.inner().get(url).build().unwrap();
    client.send(request, retry).await
}

#[tokio::test]
async fn retries_5xx_until_success() {
    let (base, hits) = server().await;
    let client = HttpClient::new(settings()).unwrap();
    let resp = fetch(&client, format!("{base}/flaky"), true).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(hits.0.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn no_retry_unless_asked() {
    let (base, hits) = server().await;
    let client = HttpClient::new(settings()).unwrap();
    let resp = fetch(&client, format!("{base}/flaky"), false)
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(hits.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn honours_retry_after() {
    let (base, hits) = server().await;
    let client = HttpClient::new(settings()).unwrap();
    let started = Instant::now();
    let resp = fetch(&client, format!("{base}/throttled"), true)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(hits.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn client_errors_are_returned_at_once() {
    let (base, hits) = server().await;
    let client = HttpClient::new(settings()).unwrap();
    assert_eq!(
        fetch(&client, format!("{base}/missing"), true)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(hits.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn circuit_opens_per_host_and_fails_fast() {
    let (base, hits) = server().await;
    let client = HttpClient::new(HttpSettings {
        max_retries: 0,
        ..settings()
    })
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            fetch(&client, format!("{base}/broken"), true)
                .await
                .unwrap()
                .status(),
            500
        );
    }
    let err = fetch(&client, format!("{base}/broken"), true)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::CircuitOpen { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1"));
    assert_eq!(
        hits.0.load(Ordering::SeqCst),
        3,
        "an open circuit sends nothing"
    );
    let (other, _) = server().await;
    let other = other.replace("127.0.0.1", "localhost");
    assert_eq!(
        fetch(&client, format!("{other}/missing"), true)
            .await
            .unwrap()
            .status(),
        404,
        "other hosts unaffected"
    );
}

#[tokio::test]
async fn timeouts_are_reported_with_redacted_url() {
    let (base, _) = server().await;
    let client = HttpClient::new(HttpSettings {
        max_retries: 1,
        ..settings()
    })
    .unwrap();
    let started = Instant::now();
    let err = fetch(&client, format!("{base}/slow?access_token=hunter2"), true)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        !text.contains("hunter2") && text.contains("access_token=***"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "two 0.5 s attempts, not the 5 s sleep"
    );
}
