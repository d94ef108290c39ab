//! The API over real HTTP: auth, error envelope and status codes, idempotency,
//! rate limits, readiness, metrics and the OpenAPI document.

use fleet_api::AppState;
use fleet_shared::{Config, db::api_keys::Role};
use fleet_testkit::{RedisServer, TestDb};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

const HS_SECRET: &str = "test-hs256-secret";

struct TestApi {
    base: String,
    http: Client,
    db: TestDb,
    ops: String,
    backend: String,
    seller1: String,
    seller2: String,
    _stop: oneshot::Sender<()>,
}

fn base_config() -> Config {
    let mut config = Config::default();
    config.api.body_limit_bytes = 64 * 1024;
    config.jwt.hs256_secret = Some(HS_SECRET.to_owned());
    config.jwt.jwks_file =
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/jwks.json").into());
    config
}

impl TestApi {
    async fn start(config: Config) -> TestApi {
        let db = TestDb::sqlite().await;
        TestApi::start_on(db, config).await
    }

    async fn start_on(db: TestDb, mut config: Config) -> TestApi {
        let queues = match &config.redis_url {
            Some(url) => fleet_shared::Queues::redis(url, db.db.clone())
                .await
                .unwrap(),
            None => db.queues().await,
        };
        config.database_url = Some(db.url.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let blobs = fleet_testkit::fs_blobs(&base).await;
        let state = AppState::new(config, queues, blobs).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(fleet_api::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let key = |role, seller: Option<&'static str>| {
            let db = db.db.clone();
            async move { db.create_api_key("test", role, seller).await.unwrap().1 }
        };
        TestApi {
            ops: key(Role::Ops, None).await,
            backend: key(Role::Backend, None).await,
            seller1: key(Role::Seller, Some("s1")).await,
            seller2: key(Role::Seller, Some("s2")).await,
            base,
            http: Client::new(),
            db,
            _stop: stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_job(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1/jobs"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }
}

async fn error_code(resp: reqwest::Response) -> (StatusCode, String, Value) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error envelope: {body}"))
        .to_owned();
    assert!(body["error"]["message"].is_string());
    (status, code, body["error"]["details"].clone())
}

fn job_body(seller: Option<&str>) -> Value {
    json!({"queue": "t.api", "kind": "test.noop", "payload": {"n": 1}, "seller_id": seller})
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs_token(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap()
}

fn rs_token(claims: Value, kid: &str) -> String {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rs256-private.pem"
    ))
    .unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

#[tokio::test]
async fn credentials_401_403_404() {
    let api = TestApi::start(base_config()).await;
    let resp = api
        .http
        .get(api.url("/v1/ops/queues"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp).await.0, StatusCode::UNAUTHORIZED);
    let resp = api.get("fleet_notarealkey", "/v1/ops/queues").await;
    assert_eq!(
        error_code(resp).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into(), json!({}))
    );

    // Wrong role: sellers cannot enqueue arbitrary jobs or read ops data.
    let (status, code, _) =
        error_code(api.post_job(&api.seller1, job_body(Some("s1"))).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        api.get(&api.backend, "/v1/ops/queues").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.get(&api.ops, "/v1/ops/queues").await.status(),
        StatusCode::OK
    );

    // A seller reads its own job; another seller gets 404, not 403.
    let resp = api.post_job(&api.backend, job_body(Some("s1"))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let job: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/jobs/{}", job["id"].as_str().unwrap())
    );
    assert_eq!(job["status"], "queued");
    assert_eq!(
        api.get(&api.seller1, &location).await.status(),
        StatusCode::OK
    );
    let (status, code, _) = error_code(api.get(&api.seller2, &location).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        api.get(&api.ops, "/v1/jobs/does-not-exist").await.status(),
        StatusCode::NOT_FOUND
    );

    // Revoked keys stop working.
    let (key, secret) = api
        .db
        .db
        .create_api_key("temp", Role::Ops, None)
        .await
        .unwrap();
    api.db.db.revoke_api_key(&key.id).await.unwrap();
    assert_eq!(
        api.get(&secret, "/v1/ops/queues").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn end_user_jwts() {
    let api = TestApi::start(base_config()).await;
    let resp = api.post_job(&api.backend, job_body(Some("s1"))).await;
    let path = resp.json::<Value>().await.unwrap()["status_url"]
        .as_str()
        .unwrap()
        .to_owned();

    let good = hs_token(json!({"sub": "u1", "seller_id": "s1", "exp": now() + 600}));
    assert_eq!(api.get(&good, &path).await.status(), StatusCode::OK);
    let rs = rs_token(
        json!({"sub": "u1", "seller_id": "s1", "exp": now() + 600}),
        "test-key-1",
    );
    assert_eq!(
        api.get(&rs, &path).await.status(),
        StatusCode::OK,
        "RS256 via JWKS"
    );
    let other = hs_token(json!({"sub": "u2", "seller_id": "s2", "exp": now() + 600}));
    assert_eq!(api.get(&other, &path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        api.get(&good, "/v1/ops/queues").await.status(),
        StatusCode::FORBIDDEN,
        "users are not ops"
    );

    let expired = hs_token(json!({"sub": "u1", "seller_id": "s1", "exp": now() - 3600}));
    let (status, _, _) = error_code(api.get(&expired, &path).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "u1", "seller_id": "s1", "exp": now() + 600}),
        &EncodingKey::from_secret(b"some other secret"),
    )
    .unwrap();
    assert_eq!(
        api.get(&forged, &path).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown_kid = rs_token(json!({"sub": "u1", "exp": now() + 600}), "rotated-away");
    assert_eq!(
        api.get(&unknown_kid, &path).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("a.b.c", &path).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_bodies_400_413_415_422() {
    let api = TestApi::start(base_config()).await;
    let post = |body: String, ct: Option<&'static str>| {
        let mut req = api
            .http
            .post(api.url("/v1/jobs"))
            .bearer_auth(&api.backend)
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let (status, code, _) = error_code(
        post("{\"queue\": ".into(), Some("application/json"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, _, _) = error_code(post("{}".into(), None).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (status, code, details) = error_code(
        post(
            json!({"queue": "Not Valid", "kind": "", "payload": [1], "max_attempts": 0})
                .to_string(),
            Some("application/json"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields")
    );
    let fields: Vec<&str> = details["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["queue", "kind", "payload", "max_attempts"]);
    let (status, _, details) = error_code(
        post(
            json!({"queue": "media", "kind": "k", "payload": {}, "max_attempts": "three"})
                .to_string(),
            Some("application/json"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["fields"][0]["field"], "max_attempts");

    let big = json!({"queue": "media", "kind": "k", "payload": {"blob": "x".repeat(100 * 1024)}})
        .to_string();
    let (status, code, details) =
        error_code(post(big, Some("application/json")).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(details["limit_bytes"], 64 * 1024);

    // Nothing stored was touched by the bad requests.
    assert_eq!(api.db.db.count_by_status("media").await.unwrap(), vec![]);
}

#[tokio::test]
async fn idempotency_key_replays_and_conflicts() {
    let api = TestApi::start(base_config()).await;
    let send = |body: Value| {
        api.http
            .post(api.url("/v1/jobs"))
            .bearer_auth(&api.backend)
            .header("idempotency-key", "order-42")
            .json(&body)
            .send()
    };
    let first = send(job_body(None)).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let again = send(job_body(None)).await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let (status, code, _) = error_code(
        send(json!({"queue": "t.api", "kind": "test.other", "payload": {}}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    assert_eq!(
        api.db.db.count_by_status("t.api").await.unwrap(),
        vec![(fleet_jobs::JobStatus::Queued, 1)]
    );

    // Keys are per credential: the ops key may use the same key for its own request.
    let other = api
        .http
        .post(api.url("/v1/jobs"))
        .bearer_auth(&api.ops)
        .header("idempotency-key", "order-42")
        .json(&job_body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    assert_ne!(other.json::<Value>().await.unwrap()["id"], first["id"]);
}

#[tokio::test]
async fn rate_limit_429_with_headers() {
    let mut config = base_config();
    config.api.rate_limit_per_sec = 1;
    config.api.rate_limit_burst = 3;
    let api = TestApi::start(config).await;
    for remaining in ["2", "1", "0"] {
        let resp = api.get(&api.ops, "/v1/ops/queues").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["ratelimit-limit"], "3");
        assert_eq!(resp.headers()["ratelimit-remaining"], remaining);
    }
    let resp = api.get(&api.ops, "/v1/ops/queues").await;
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp.headers().contains_key("ratelimit-reset"));
    let (status, code, _) = error_code(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(
        api.get(&api.backend, "/v1/jobs/x").await.status(),
        StatusCode::NOT_FOUND,
        "other credentials are unaffected"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(
        api.get(&api.ops, "/v1/ops/queues").await.status(),
        StatusCode::OK,
        "the bucket refills"
    );
}

#[tokio::test]
async fn shared_rate_limit_in_redis() {
    let mut config = base_config();
    config.redis_url = Some(fleet_testkit::redis_url());
    config.api.rate_limit_per_sec = 1;
    config.api.rate_limit_burst = 2;
    let db = TestDb::postgres().await;
    let api = TestApi::start_on(db, config).await;
    assert_eq!(
        api.get(&api.ops, "/v1/ops/queues").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        api.get(&api.ops, "/v1/ops/queues").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        api.get(&api.ops, "/v1/ops/queues").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn unknown_routes_404_and_wrong_methods_405() {
    let api = TestApi::start(base_config()).await;
    let (status, code, _) = error_code(api.http.get(api.url("/nope")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let resp = api.http.delete(api.url("/healthz")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    let (status, code, _) = error_code(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let resp = api
        .http
        .get(api.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "abc-123",
        "a client's request id is kept"
    );
}

#[tokio::test]
async fn readyz_503_when_redis_is_down() {
    let mut redis = RedisServer::start().await;
    let mut config = base_config();
    config.redis_url = Some(redis.url());
    let db = TestDb::postgres().await;
    let api = TestApi::start_on(db, config).await;
    let resp = api.http.get(api.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    redis.stop();
    let (status, code, details) =
        error_code(api.http.get(api.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    assert_eq!(details["database"], "ok");
    assert_ne!(details["queue"], "ok");
    redis.restart().await;
    fleet_testkit::wait_for(
        "readyz to recover",
        std::time::Duration::from_secs(15),
        || async {
            let resp = api.http.get(api.url("/readyz")).send().await.ok()?;
            (resp.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn ops_dead_jobs_over_http() {
    let api = TestApi::start(base_config()).await;
    // A job nobody handles, run by a worker, goes dead at once.
    let resp = api
        .post_job(
            &api.backend,
            json!({"queue": "t.ops", "kind": "test.unhandled", "payload": {}}),
        )
        .await;
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let queues = fleet_shared::Queues::sql(api.db.db.clone());
    let leased = queues
        .fetch("t.ops", "w", 10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    queues
        .finish(
            "t.ops",
            &[fleet_shared::db::jobs::Outcome::dead(
                &id,
                1,
                "no handler".into(),
            )],
        )
        .await
        .unwrap();

    let page: Value = api
        .get(&api.ops, "/v1/ops/queues/t.ops/dead?limit=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["id"], id.as_str());
    assert_eq!(page["items"][0]["last_error"], "no handler");
    assert!(page["next_cursor"].is_null());
    assert_eq!(
        api.get(&api.ops, "/v1/ops/queues/t.ops/dead?limit=0")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    let retry = api
        .http
        .post(api.url(&format!("/v1/ops/queues/t.ops/dead/{id}/retry")))
        .bearer_auth(&api.ops)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.json::<Value>().await.unwrap()["count"], 1);
    let job: Value = api
        .get(&api.ops, &format!("/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("queued"), Some(0))
    );
    let again = api
        .http
        .post(api.url(&format!("/v1/ops/queues/t.ops/dead/{id}/retry")))
        .bearer_auth(&api.ops)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "no longer dead");

    let leased = queues
        .fetch("t.ops", "w", 10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    queues
        .finish(
            "t.ops",
            &[fleet_shared::db::jobs::Outcome::dead(
                &id,
                leased[0].attempt,
                "again".into(),
            )],
        )
        .await
        .unwrap();
    let purge = api
        .http
        .delete(api.url("/v1/ops/queues/t.ops/dead"))
        .bearer_auth(&api.ops)
        .send()
        .await
        .unwrap();
    assert_eq!(purge.json::<Value>().await.unwrap()["count"], 1);
    assert_eq!(
        api.get(&api.ops, &format!("/v1/jobs/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn metrics_and_openapi() {
    let api = TestApi::start(base_config()).await;
    api.post_job(
        &api.backend,
        json!({"queue": "media", "kind": "media.x", "payload": {}}),
    )
    .await;
    let text = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("fleet_queue_waiting{queue=\"media\",kind=\"media\"} 1"),
        "{text}"
    );
    assert!(text.contains("fleet_queue_dead{queue=\"payout\",kind=\"payout\"} 0"));
    // /metrics and GET /v1/ops/queues render the same report.
    let report: Value = api
        .get(&api.ops, "/v1/ops/queues")
        .await
        .json()
        .await
        .unwrap();
    for q in report["queues"].as_array().unwrap() {
        let labels = format!(
            "{{queue=\"{}\",kind=\"{}\"}}",
            q["queue"].as_str().unwrap(),
            q["kind"].as_str().unwrap()
        );
        for (metric, field) in [
            ("fleet_queue_waiting", "waiting"),
            ("fleet_queue_in_flight", "in_flight"),
            ("fleet_queue_processed_per_minute", "processed_per_min"),
            ("fleet_queue_live_workers", "live_workers"),
            ("fleet_queue_recommended_replicas", "recommended_replicas"),
        ] {
            let line = format!("{metric}{labels} {}", q[field]);
            assert!(text.contains(&line), "{line} not in {text}");
        }
    }
    let media = &report["kinds"][0];
    assert_eq!(
        (
            media["kind"].as_str(),
            media["waiting"].as_u64(),
            media["recommended_replicas"].as_u64()
        ),
        (Some("media"), Some(1), Some(1))
    );
    assert!(text.contains("fleet_kind_recommended_replicas{kind=\"media\"} 1"));

    let doc: Value = api
        .http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let served = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("post", "/v1/jobs"),
        ("get", "/v1/jobs/{id}"),
        ("get", "/v1/ops/queues"),
        ("get", "/v1/ops/queues/{queue}/dead"),
        ("delete", "/v1/ops/queues/{queue}/dead"),
        ("post", "/v1/ops/queues/{queue}/dead/retry"),
        ("post", "/v1/ops/queues/{queue}/dead/{id}/retry"),
        ("delete", "/v1/ops/queues/{queue}/dead/{id}"),
        ("post", "/v1/media/uploads"),
        ("post", "/v1/media/{id}/complete"),
        ("get", "/v1/media/{id}"),
        ("delete", "/v1/media/{id}"),
        ("get", "/v1/blobs/{key}"),
        ("put", "/v1/blobs/{key}"),
        ("post", "/v1/orders/events"),
        ("post", "/v1/orders/events:batch"),
        ("get", "/v1/sellers/{id}/balance"),
        ("get", "/v1/sellers/{id}/ledger"),
        ("get", "/v1/sellers/{id}/payouts"),
        ("post", "/v1/sellers/{id}/payouts"),
        ("get", "/v1/sellers/{id}/payout-destination"),
        ("put", "/v1/sellers/{id}/payout-destination"),
        ("get", "/v1/ops/payouts"),
        ("get", "/v1/ops/payouts/runs"),
        ("post", "/v1/ops/payouts/runs"),
        ("get", "/v1/ops/payouts/runs/{id}"),
        ("get", "/v1/ops/payouts/sepa-batches"),
        ("get", "/v1/ops/payouts/sepa-batches/{id}"),
        ("post", "/v1/ops/payouts/sepa-batches/{id}/confirm"),
        ("post", "/v1/ops/payouts/reconciliations"),
        ("get", "/v1/ops/payouts/reconciliations/{id}"),
        ("post", "/v1/webhooks/stripe"),
        ("get", "/v1/taxonomy/categories"),
        ("get", "/ops"),
        ("get", "/ops/app.js"),
        ("get", "/ops/app.css"),
        ("post", "/v1/listings:batch"),
        ("get", "/v1/listings"),
        ("get", "/v1/listings/{id}"),
        ("patch", "/v1/listings/{id}"),
        ("delete", "/v1/listings/{id}"),
        ("post", "/v1/listings/categorize"),
        ("post", "/v1/users"),
        ("post", "/v1/users/{id}/push-subscriptions"),
        ("get", "/v1/push/vapid-public-key"),
        ("post", "/v1/webhook-endpoints"),
        ("get", "/v1/webhook-endpoints"),
        ("get", "/v1/webhook-endpoints/{id}"),
        ("patch", "/v1/webhook-endpoints/{id}"),
        ("delete", "/v1/webhook-endpoints/{id}"),
        ("get", "/v1/webhook-endpoints/{id}/attempts"),
        ("get", "/v1/users/{id}/preferences"),
        ("put", "/v1/users/{id}/preferences"),
        ("post", "/v1/follows"),
        ("post", "/v1/likes"),
        ("post", "/v1/events"),
        ("get", "/v1/events/{id}"),
        ("get", "/v1/users/{id}/inbox"),
        ("get", "/v1/users/{id}/inbox/unread-count"),
        ("post", "/v1/users/{id}/inbox/{item}/read"),
        ("post", "/v1/users/{id}/inbox/read-all"),
        ("put", "/v1/connections/{marketplace}"),
        ("get", "/v1/connections/{marketplace}"),
        ("delete", "/v1/connections/{marketplace}"),
        ("post", "/v1/connections/{marketplace}/test"),
        ("get", "/v1/connections/{marketplace}/category-map"),
        ("put", "/v1/connections/{marketplace}/category-map"),
        (
            "delete",
            "/v1/connections/{marketplace}/category-map/{category}",
        ),
        ("get", "/v1/connections/{marketplace}/category-map/resolve"),
        ("post", "/v1/exports"),
        ("get", "/v1/exports"),
        ("get", "/v1/exports/{id}"),
        ("get", "/v1/exports/{id}/items"),
        ("post", "/v1/exports/{id}/cancel"),
        ("post", "/v1/exports/{id}/retry-failed"),
    ];
    for (method, path) in served {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        served.len(),
        "every documented operation is served"
    );
}
