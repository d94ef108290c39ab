//! The Web Push channel end to end on both backends, against testkit's push
//! service fake, which checks each request's VAPID token and decrypts its
//! body with its own RFC 8291 implementation: one message per subscription
//! with the rendered text, a subscription the service calls gone (410)
//! removed and the delivery failed, a subscription answering 503 retried
//! without sending twice to the user's other subscription, and a replayed
//! event or redelivered job sending nothing.

use fleet_jobs::{WorkerKind, notify::DeliverPush};
use fleet_shared::db::api_keys::Role;
use fleet_testkit::{Backend, platform::Platform, push::PushService, wait_for};
use serde_json::{Value, json};
use std::{collections::BTreeMap, time::Duration};

/// The platform with a notify worker, a backend key, and a push service
/// trusting the platform's VAPID key; users p1 (two subscriptions), p2 (fr,
/// one), p3 (none).
async fn start(backend: Backend) -> (Platform, String, PushService) {
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Notify])
        .configure(|c| {
            c.notify.push_ttl_secs = 3_600;
            c.notify.vapid_subject = "mailto:ops@fleet.test".to_owned();
            c.kinds.notify.backoff_base_ms = 100;
            c.kinds.notify.backoff_max_ms = 400;
            c.kinds.notify.max_attempts = 10;
        })
        .start()
        .await;
    let key = p.key(Role::Backend, None).await;
    let (status, vapid) = p.call("GET", "/v1/push/vapid-public-key", &key, None).await;
    assert_eq!(status, 200, "{vapid}");
    let service = PushService::start(vapid["public_key"].as_str().unwrap());
    let users = json!({"users": [
        {"id": "p1", "locale": "en", "time_zone": "UTC"},
        {"id": "p2", "locale": "fr", "time_zone": "Europe/Paris"},
        {"id": "p3", "locale": "en", "time_zone": "UTC"},
    ]});
    let (status, body) = p.call("POST", "/v1/users", &key, Some(users)).await;
    assert_eq!(status, 200, "{body}");
    for (user, name) in [("p1", "p1-phone"), ("p1", "p1-laptop"), ("p2", "p2-tablet")] {
        let (status, body) = p
            .call(
                "POST",
                &format!("/v1/users/{user}/push-subscriptions"),
                &key,
                Some(service.subscribe(name)),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = p
        .call(
            "POST",
            "/v1/users/p3/push-subscriptions",
            &key,
            Some(json!({"endpoint": "ftp://push.test/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    for field in ["endpoint", "keys.p256dh", "keys.auth"] {
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    (p, key, service)
}

async fn push_flow(backend: Backend) {
    let (p, key, service) = start(backend).await;
    service.expire("p2-tablet");
    service.fail_next("p1-laptop", 3);
    let event = json!({"type": "price_drop", "idempotency_key": "drop-1",
        "data": {"title": "Lamp", "price": "€12"}, "audience": {"user_ids": ["p1", "p2", "p3"]}});
    let id = p.post_event(&key, event.clone()).await;
    let view = wait_for("pushes sent and failed", Duration::from_secs(60), || {
        let (p, key, id) = (&p, &key, &id);
        async move {
            let v = p.event_view(key, id).await;
            (v["deliveries"]["push"]["sent"] == 1 && v["deliveries"]["push"]["failed"] == 1)
                .then_some(v)
        }
    })
    .await;
    assert_eq!(view["reasons"]["push"]["no_push_subscription"], 1, "{view}");
    let reasons = view["reasons"]["push"].as_object().unwrap();
    assert!(
        reasons.keys().any(|r| r.contains("gone")),
        "the expired subscription is the failure's reason: {view}"
    );
    assert_eq!(service.refusals(), Vec::<String>::new());

    // One message per live subscription, though the laptop's failed first.
    let messages = service.messages();
    let per_subscriber: BTreeMap<&str, usize> =
        messages.iter().fold(BTreeMap::new(), |mut m, msg| {
            *m.entry(msg.subscriber.as_str()).or_default() += 1;
            m
        });
    assert_eq!(
        per_subscriber,
        BTreeMap::from([("p1-laptop", 1), ("p1-phone", 1)]),
        "{messages:?}"
    );
    for m in &messages {
        assert_eq!(m.payload["event_id"], id.as_str(), "{m:?}");
        assert_eq!(m.payload["type"], "price_drop", "{m:?}");
        assert_eq!(m.payload["data"]["title"], "Lamp", "{m:?}");
        let text = format!("{} {}", m.payload["title"], m.payload["body"]);
        assert!(text.contains("Lamp") && text.contains("€12"), "{m:?}");
        assert_eq!(m.ttl, 3_600);
        assert_eq!(m.urgency.as_deref(), Some("normal"));
        assert_eq!(m.topic.as_ref().map(String::len), Some(32), "{m:?}");
    }
    assert_eq!(messages[0].topic, messages[1].topic);
    assert!(
        p.db.db.push_subscriptions("p2").await.unwrap().is_empty(),
        "the gone subscription is removed"
    );
    assert_eq!(p.db.db.push_subscriptions("p1").await.unwrap().len(), 2);

    // The same event posted again, and a redelivered push job, send nothing.
    let (status, again) = p.call("POST", "/v1/events", &key, Some(event)).await;
    assert!(status == 200 || status == 202, "{again}");
    assert_eq!(again["id"], id.as_str());
    p.redeliver(&DeliverPush {
        event_id: id.clone(),
        user_id: "p1".into(),
        priority: false,
    })
    .await;
    assert_eq!(service.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn push_on_sqlite() {
    push_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn push_on_postgres_and_redis() {
    push_flow(Backend::RedisPostgres).await;
}

/// A transactional event to one user goes on the priority lane with high urgency,
/// in the recipient's language.
async fn transactional_push(backend: Backend) {
    let (p, key, service) = start(backend).await;
    let id = p
        .post_event(
            &key,
            json!({"type": "item_sold", "idempotency_key": "sold-1",
            "data": {"title": "Lampe", "price": "12 €"}, "audience": {"user_ids": ["p2"]}}),
        )
        .await;
    wait_for("the push", Duration::from_secs(60), || async {
        let v: Value = p.event_view(&key, &id).await;
        (v["deliveries"]["push"]["sent"] == 1).then_some(())
    })
    .await;
    let messages = service.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].subscriber, "p2-tablet");
    assert_eq!(messages[0].urgency.as_deref(), Some("high"));
    assert!(
        messages[0].payload["body"]
            .as_str()
            .unwrap()
            .contains("Lampe"),
        "{messages:?}"
    );
    assert_eq!(
        messages[0].payload["title"], "Vous avez vendu un article",
        "{messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transactional_push_on_sqlite() {
    transactional_push(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transactional_push_on_postgres_and_redis() {
    transactional_push(Backend::RedisPostgres).await;
}
