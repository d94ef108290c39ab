//! Signed webhooks end to end on both backends, against testkit's webhook
//! receiver: endpoints made, listed (their secret shown once, sealed at rest),
//! filtered by event type; each delivery signed as Standard Webhooks and
//! verified by the `standardwebhooks` Python package (an independent
//! implementation); a failed attempt retried on the schedule with the same
//! `webhook-id`; every attempt in the endpoint's log; an endpoint failing for
//! too long disabled, reported, re-enabled; bad input refused.

use fleet_jobs::WorkerKind;
use fleet_shared::db::api_keys::Role;
use fleet_testkit::{
    Backend,
    platform::Platform,
    wait_for,
    webhook::{ReceivedWebhook, WebhookReceiver},
};
use serde_json::{Value, json};
use std::{io::Write, time::Duration};

/// The platform with a notify worker retrying webhooks after 1 s, then 1 s,
/// disabling endpoints after `disable_after_secs` of failures; a backend key
/// and one user.
async fn start(backend: Backend, disable_after_secs: u64) -> (Platform, String) {
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Notify])
        .configure(move |c| {
            c.notify.webhook_retry_secs = vec![1, 1];
            c.notify.webhook_disable_after_secs = disable_after_secs;
            c.notify.webhook_timeout_secs = 5;
        })
        .start()
        .await;
    let key = p.key(Role::Backend, None).await;
    let users = json!({"users": [{"id": "w1", "locale": "en", "time_zone": "UTC"}]});
    let (status, body) = p.call("POST", "/v1/users", &key, Some(users)).await;
    assert_eq!(status, 200, "{body}");
    (p, key)
}

async fn create(p: &Platform, key: &str, body: Value) -> Value {
    let (status, endpoint) = p
        .call("POST", "/v1/webhook-endpoints", key, Some(body))
        .await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint
}

fn event(key: &str) -> Value {
    json!({"type": "new_listing", "idempotency_key": key, "actor": "s9",
        "data": {"title": "Lamp", "price": "€12"}, "audience": {"user_ids": ["w1"]}})
}

/// Verifies every request with the `standardwebhooks` package; also checks
/// that it refuses each one with its body altered. Panics with its output otherwise.
fn verify_with_python(secret: &str, received: &[ReceivedWebhook]) {
    let python = std::env::var("FLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
cases = json.load(sys.stdin)
for c in cases:
    wh = Webhook(c["secret"])
    wh.verify(c["body"], c["headers"])
    try:
        wh.verify(c["body"] + " ", c["headers"])
    except WebhookVerificationError:
        pass
    else:
        sys.exit("an altered body verified")
print("verified", len(cases))
"#;
    let cases: Vec<Value> = received
        .iter()
        .map(|r| {
            json!({
                "secret": secret,
                "body": r.body,
                "headers": {
                    "webhook-id": r.header("webhook-id"),
                    "webhook-timestamp": r.header("webhook-timestamp"),
                    "webhook-signature": r.header("webhook-signature"),
                },
            })
        })
        .collect();
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run `{python}` (./scripts/test sets FLEET_TEST_PYTHON): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(cases).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == format!("verified {}", received.len()),
        "standardwebhooks refused: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn webhook_flow(backend: Backend) {
    let (p, key) = start(backend, 3_600).await;
    let receiver = WebhookReceiver::start();
    for (bad, field) in [
        (json!({"url": "ftp://example.com/x"}), "url"),
        (
            json!({"url": receiver.url, "event_types": ["nope"]}),
            "event_types[0]",
        ),
        (
            json!({"url": receiver.url, "secret": "whsec_short"}),
            "secret",
        ),
    ] {
        let (status, body) = p
            .call("POST", "/v1/webhook-endpoints", &key, Some(bad))
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains(field), "{body}");
    }
    let all = create(
        &p,
        &key,
        json!({"url": receiver.url, "description": "everything"}),
    )
    .await;
    let secret = all["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{all}");
    let sold_only = create(
        &p,
        &key,
        json!({"url": receiver.url, "event_types": ["item_sold"]}),
    )
    .await;
    let (status, list) = p.call("GET", "/v1/webhook-endpoints", &key, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
    let stored = p.db.db.webhook_endpoint(all["id"].as_str().unwrap()).await;
    let stored = stored.unwrap().unwrap();
    assert!(
        !stored.secret_sealed.contains(&secret[6..]),
        "sealed at rest"
    );
    let seller_key = p.key(Role::Seller, Some("s1")).await;
    let (status, _) = p
        .call("GET", "/v1/webhook-endpoints", &seller_key, None)
        .await;
    assert_eq!(status, 403);

    // The first attempt gets a 500: the retry a second later succeeds.
    receiver.fail_next(1);
    let id = p.post_event(&key, event("hook-1")).await;
    wait_for("the webhook delivered", Duration::from_secs(60), || async {
        let v = p.event_view(&key, &id).await;
        (v["deliveries"]["webhook"]["sent"] == 1).then_some(())
    })
    .await;
    let view = p.event_view(&key, &id).await;
    assert!(
        view["deliveries"]["webhook"].get("queued").is_none(),
        "only the endpoint wanting new_listing: {view}"
    );
    let received = receiver.received();
    assert_eq!(
        received.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 204],
        "{received:?}"
    );
    for r in &received {
        assert_eq!(r.header("webhook-id"), Some(id.as_str()), "{r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["type"], "new_listing", "{body}");
        assert_eq!(body["data"]["id"], id.as_str(), "{body}");
        assert_eq!(body["data"]["actor"], "s9", "{body}");
        assert_eq!(body["data"]["data"]["title"], "Lamp", "{body}");
    }
    verify_with_python(&secret, &received);

    let (status, log) = p
        .call(
            "GET",
            &format!(
                "/v1/webhook-endpoints/{}/attempts?limit=1",
                all["id"].as_str().unwrap()
            ),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["items"][0]["attempt"], 2, "newest first: {log}");
    assert_eq!(log["items"][0]["status_code"], 204, "{log}");
    let cursor = log["next_cursor"].as_str().unwrap();
    let (_, older) = p
        .call(
            "GET",
            &format!(
                "/v1/webhook-endpoints/{}/attempts?limit=1&cursor={cursor}",
                all["id"].as_str().unwrap()
            ),
            &key,
            None,
        )
        .await;
    assert_eq!(older["items"][0]["attempt"], 1, "{older}");
    assert_eq!(older["items"][0]["status_code"], 500, "{older}");
    assert!(older["next_cursor"].is_null(), "{older}");

    // item_sold reaches both endpoints.
    let sold = p
        .post_event(
            &key,
            json!({"type": "item_sold", "idempotency_key": "hook-2",
                "data": {"title": "Lamp"}, "audience": {"user_ids": ["w1"]}}),
        )
        .await;
    wait_for("both endpoints", Duration::from_secs(60), || async {
        let v = p.event_view(&key, &sold).await;
        (v["deliveries"]["webhook"]["sent"] == 2).then_some(())
    })
    .await;
    let (status, _) = p
        .call(
            "DELETE",
            &format!(
                "/v1/webhook-endpoints/{}",
                sold_only["id"].as_str().unwrap()
            ),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = p
        .call(
            "GET",
            &format!(
                "/v1/webhook-endpoints/{}",
                sold_only["id"].as_str().unwrap()
            ),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_on_sqlite() {
    webhook_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_on_postgres_and_redis() {
    webhook_flow(Backend::RedisPostgres).await;
}

/// An endpoint whose deliveries fail for longer than allowed is disabled and
/// says why; disabled, it gets nothing; re-enabled, it gets the next event.
async fn failing_endpoint_is_disabled(backend: Backend) {
    let (p, key) = start(backend, 1).await;
    let receiver = WebhookReceiver::start();
    receiver.fail_next(u32::MAX);
    let endpoint = create(&p, &key, json!({"url": receiver.url})).await;
    let path = format!("/v1/webhook-endpoints/{}", endpoint["id"].as_str().unwrap());
    let id = p.post_event(&key, event("down-1")).await;
    let view = wait_for("the delivery to fail", Duration::from_secs(60), || async {
        let v = p.event_view(&key, &id).await;
        (v["deliveries"]["webhook"]["failed"] == 1).then_some(v)
    })
    .await;
    let (_, shown) = p.call("GET", &path, &key, None).await;
    assert_eq!(shown["status"], "disabled", "{shown}");
    assert!(
        shown["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failed for"),
        "{shown}"
    );
    assert!(
        view["reasons"]["webhook"]
            .as_object()
            .unwrap()
            .keys()
            .any(|r| r.contains("endpoint disabled")),
        "{view}"
    );
    let attempts = receiver.received().len();
    assert!((2..=3).contains(&attempts), "{attempts}");

    let quiet = p.post_event(&key, event("down-2")).await;
    receiver.fail_next(0);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let v = p.event_view(&key, &quiet).await;
    assert!(v["deliveries"].get("webhook").is_none(), "{v}");
    assert_eq!(receiver.received().len(), attempts);

    let (status, enabled) = p
        .call("PATCH", &path, &key, Some(json!({"enabled": true})))
        .await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["status"], "enabled", "{enabled}");
    assert!(enabled["disabled_reason"].is_null(), "{enabled}");
    assert!(enabled["failing_since"].is_null(), "{enabled}");
    let back = p.post_event(&key, event("up-1")).await;
    wait_for(
        "delivery after re-enabling",
        Duration::from_secs(60),
        || async {
            let v = p.event_view(&key, &back).await;
            (v["deliveries"]["webhook"]["sent"] == 1).then_some(())
        },
    )
    .await;
    assert_eq!(receiver.received().last().map(|r| r.status), Some(204));
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_endpoint_is_disabled_on_sqlite() {
    failing_endpoint_is_disabled(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_endpoint_is_disabled_on_postgres_and_redis() {
    failing_endpoint_is_disabled(Backend::RedisPostgres).await;
}
