//! Notifications end to end on both backends: users, follows and preferences
//! posted over HTTP, an event fanned out by the notify worker in chunks, the
//! inbox read and marked read, idempotent events, a redelivered chunk that
//! writes nothing twice, and the priority lane beside a big fan-out.

use fleet_jobs::{WorkerKind, notify::FanoutChunk};
use fleet_shared::db::api_keys::Role;
use fleet_testkit::{Backend, platform::Platform, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

/// The platform with a notify worker fanning out `chunk` recipients per job, and a backend key.
async fn start(backend: Backend, chunk: usize) -> (Platform, String) {
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Notify])
        .configure(move |c| c.notify.fanout_chunk = chunk)
        .start()
        .await;
    let key = p.key(Role::Backend, None).await;
    (p, key)
}

/// Users `u01..=u{n}`: odd ones have an email address, every third speaks French.
fn users(n: usize) -> Value {
    let users: Vec<Value> = (1..=n)
        .map(|i| {
            json!({
                "id": format!("u{i:02}"),
                "email": (i % 2 == 1).then(|| format!("u{i}@example.com")),
                "locale": if i % 3 == 0 { "fr-FR" } else { "en" },
                "time_zone": "Europe/Paris",
            })
        })
        .collect();
    json!({ "users": users })
}

/// Total recipients the event has been processed for (every recipient gets an email decision).
async fn processed(p: &Platform, key: &str, event: &str) -> i64 {
    let (status, view) = p
        .call("GET", &format!("/v1/events/{event}"), key, None)
        .await;
    assert_eq!(status, 200, "{view}");
    view["deliveries"]["email"]
        .as_object()
        .map_or(0, |states| states.values().filter_map(Value::as_i64).sum())
}

async fn wait_processed(p: &Platform, key: &str, event: &str, want: i64) -> Value {
    wait_for("the fan-out to finish", Duration::from_secs(60), || async {
        (processed(p, key, event).await == want).then_some(())
    })
    .await;
    p.call("GET", &format!("/v1/events/{event}"), key, None)
        .await
        .1
}

async fn inbox(p: &Platform, key: &str, user: &str) -> Value {
    let (status, page) = p
        .call("GET", &format!("/v1/users/{user}/inbox"), key, None)
        .await;
    assert_eq!(status, 200, "{page}");
    page
}

async fn fanout_flow(backend: Backend) {
    // Three recipients per chunk: the event spans several chunks.
    let (p, key) = start(backend, 3).await;
    let (status, body) = p.call("POST", "/v1/users", &key, Some(users(10))).await;
    assert_eq!(status, 200, "{body}");
    // u01..u08 follow s1; u09 follows another seller; u10 followed and unfollowed.
    let mut follows: Vec<Value> = (1..=8)
        .map(|i| json!({"user_id": format!("u{i:02}"), "seller_id": "s1"}))
        .collect();
    follows.push(json!({"user_id": "u09", "seller_id": "s2"}));
    follows.push(json!({"user_id": "u10", "seller_id": "s1"}));
    let (status, body) = p
        .call(
            "POST",
            "/v1/follows",
            &key,
            Some(json!({ "follows": follows })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = p
        .call(
            "POST",
            "/v1/follows",
            &key,
            Some(json!({"follows": [{"user_id": "u10", "seller_id": "s1", "following": false}]})),
        )
        .await;
    assert_eq!(status, 200);
    // u02 mutes new listings in the inbox; transactional types cannot be muted.
    let (status, body) = p
        .call("PUT", "/v1/users/u02/preferences", &key, Some(json!({"preferences": [{"category": "followed_sellers", "channel": "inbox", "enabled": false}]})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = p
        .call("PUT", "/v1/users/u02/preferences", &key, Some(json!({"preferences": [{"category": "transactions", "channel": "email", "enabled": false}]})))
        .await;
    assert_eq!(status, 422, "{body}");

    // Bad events are refused with the field named.
    let (status, body) = p
        .call(
            "POST",
            "/v1/events",
            &key,
            Some(
                json!({"type": "new_listing", "idempotency_key": "k0", "data": {}, "audience": {}}),
            ),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = p
        .call("POST", "/v1/events", &key, Some(json!({"type": "no_such_type", "idempotency_key": "k0", "data": {}, "audience": {"user_ids": ["u01"]}})))
        .await;
    assert!(status == 400 || status == 422, "{status}");
    let seller = p.key(Role::Seller, Some("s1")).await;
    let (status, _) = p
        .call("POST", "/v1/events", &seller, Some(json!({"type": "new_listing", "idempotency_key": "k0", "data": {}, "audience": {"followers_of": "s1"}})))
        .await;
    assert_eq!(status, 403, "only the backend posts events");

    let event = json!({"type": "new_listing", "idempotency_key": "listing-42", "actor": "s1",
        "data": {"actor_name": "Vintage Vera", "title": "Wool coat", "price": "€40"},
        "audience": {"followers_of": "s1"}});
    let (status, accepted) = p
        .call("POST", "/v1/events", &key, Some(event.clone()))
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["replayed"], false);
    assert_eq!(accepted["priority"], false);
    let id = accepted["id"].as_str().unwrap().to_owned();
    let view = wait_processed(&p, &key, &id, 8).await;
    // Odd users have an address; the email sender is not configured in this test.
    assert_eq!(view["reasons"]["email"]["no_email_address"], 4, "{view}");
    assert_eq!(view["reasons"]["inbox"]["muted"], 1, "{view}");

    for i in 1..=10 {
        let user = format!("u{i:02}");
        let page = inbox(&p, &key, &user).await;
        let items = page["items"].as_array().unwrap();
        if i == 2 || i > 8 {
            assert!(items.is_empty(), "{user} must get nothing: {page}");
            continue;
        }
        assert_eq!(items.len(), 1, "{user}: {page}");
        assert_eq!(page["unread"], 1);
        assert_eq!(items[0]["event_id"], id.as_str());
        let title = items[0]["title"].as_str().unwrap();
        let body = items[0]["body"].as_str().unwrap();
        if i % 3 == 0 {
            assert_eq!(title, "Vintage Vera a publié un nouvel article");
            assert_eq!(body, "Wool coat à €40");
        } else {
            assert_eq!(title, "Vintage Vera listed a new item");
            assert_eq!(body, "Wool coat for €40");
        }
    }

    // The same idempotency key notifies nobody twice.
    let (status, again) = p.call("POST", "/v1/events", &key, Some(event)).await;
    assert_eq!(status, 202);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["id"], id.as_str());

    // A chunk delivered again (as after a crash before its ack) writes nothing twice.
    p.redeliver(&FanoutChunk {
        event_id: id.clone(),
        after: Some("u01".into()),
        priority: false,
    })
    .await;
    assert_eq!(processed(&p, &key, &id).await, 8);
    for user in ["u03", "u04", "u05"] {
        assert_eq!(
            inbox(&p, &key, user).await["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    // Mark one read, then all.
    let page = inbox(&p, &key, "u01").await;
    let item = page["items"][0]["id"].as_str().unwrap();
    let (status, _) = p
        .call(
            "POST",
            &format!("/v1/users/u01/inbox/{item}/read"),
            &key,
            None,
        )
        .await;
    assert!(status == 200 || status == 204, "{status}");
    let (_, count) = p
        .call("GET", "/v1/users/u01/inbox/unread-count", &key, None)
        .await;
    assert_eq!(count["unread"], 0);
    assert!(inbox(&p, &key, "u01").await["items"][0]["read_at"].is_string());
    let (status, _) = p
        .call("POST", "/v1/users/u03/inbox/read-all", &key, None)
        .await;
    assert!(status == 200 || status == 204, "{status}");
    assert_eq!(inbox(&p, &key, "u03").await["unread"], 0);
    // Another user's inbox is out of reach of a seller key.
    let (status, _) = p.call("GET", "/v1/users/u01/inbox", &seller, None).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn fanout_on_sqlite() {
    fanout_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fanout_on_postgres_and_redis() {
    fanout_flow(Backend::RedisPostgres).await;
}

/// A single-recipient transactional event is delivered while a big fan-out is still running.
async fn priority_lane(backend: Backend) {
    let (p, key) = start(backend, 50).await;
    const FOLLOWERS: usize = 3_000;
    let follows: Vec<Value> = (0..FOLLOWERS)
        .map(|i| json!({"user_id": format!("f{i:05}"), "seller_id": "big"}))
        .collect();
    let (status, body) = p
        .call(
            "POST",
            "/v1/follows",
            &key,
            Some(json!({ "follows": follows })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, big) = p
        .call("POST", "/v1/events", &key, Some(json!({"type": "new_listing", "idempotency_key": "big-1", "data": {"title": "Lamp"}, "audience": {"followers_of": "big"}})))
        .await;
    assert_eq!(status, 202, "{big}");
    let big = big["id"].as_str().unwrap().to_owned();
    wait_for(
        "the big fan-out to start",
        Duration::from_secs(30),
        || async { (processed(&p, &key, &big).await > 0).then_some(()) },
    )
    .await;
    let (status, sold) = p
        .call("POST", "/v1/events", &key, Some(json!({"type": "item_sold", "idempotency_key": "sold-1", "data": {"title": "Lamp", "price": "€12"}, "audience": {"user_ids": ["seller-7"]}})))
        .await;
    assert_eq!(status, 202, "{sold}");
    assert_eq!(sold["priority"], true);
    wait_for("the sold notification", Duration::from_secs(30), || async {
        let page = inbox(&p, &key, "seller-7").await;
        (page["items"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let done = processed(&p, &key, &big).await;
    assert!(
        done < FOLLOWERS as i64,
        "the priority event waited for the whole fan-out ({done} recipients done first)"
    );
    wait_processed(&p, &key, &big, FOLLOWERS as i64).await;
    assert_eq!(inbox(&p, &key, "f02999").await["items"][0]["body"], "Lamp");
}

#[tokio::test(flavor = "multi_thread")]
async fn priority_lane_on_sqlite() {
    priority_lane(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn priority_lane_on_postgres_and_redis() {
    priority_lane(Backend::RedisPostgres).await;
}
