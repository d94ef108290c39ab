//! The email channel end to end on both backends, against a real SMTP server
//! (testkit's aiosmtpd sink): one multipart message per user with an address,
//! unsubscribe headers, delivery counts in the event view, a 550 rejection
//! failing the delivery with its reason, retries while the server is down, a
//! redelivered job for a sent email sending nothing, quiet hours, digests,
//! and STARTTLS and implicit TLS with a private CA (refused when not trusted).

use fleet_jobs::{WorkerKind, notify::DeliverEmail};
use fleet_shared::{db::api_keys::Role, notify::Channel};
use fleet_testkit::{Backend, SinkTls, SmtpSink, platform::Platform, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

/// The platform with a notify worker sending to `smtp_url` (short retry backoff), and a backend key.
async fn start(backend: Backend, smtp_url: String) -> (Platform, String) {
    start_trusting(backend, smtp_url, None).await
}

/// [`start`], trusting the SMTP server's certificate from `ca_file`.
async fn start_trusting(
    backend: Backend,
    smtp_url: String,
    ca_file: Option<std::path::PathBuf>,
) -> (Platform, String) {
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Notify])
        .configure(move |c| {
            c.notify.smtp_url = Some(smtp_url);
            c.notify.smtp_ca_file = ca_file;
            c.notify.email_from = "Fleet <notify@fleet.test>".to_owned();
            c.notify.unsubscribe_url = "https://shop.test/unsubscribe".to_owned();
            c.notify.digest_window_secs = 3;
            c.notify.daily_promotional_cap = 10;
            c.kinds.notify.backoff_base_ms = 100;
            c.kinds.notify.backoff_max_ms = 400;
            c.kinds.notify.max_attempts = 50;
        })
        .start()
        .await;
    let key = p.key(Role::Backend, None).await;
    let users: Vec<Value> = (1..=6)
        .map(|i| {
            json!({
                "id": format!("u{i:02}"),
                "email": (i % 2 == 1).then(|| format!("u{i}@example.com")),
                "locale": if i == 3 { "fr" } else { "en" },
                "time_zone": "UTC",
            })
        })
        .collect();
    let (status, body) = p
        .call("POST", "/v1/users", &key, Some(json!({ "users": users })))
        .await;
    assert_eq!(status, 200, "{body}");
    (p, key)
}

async fn email_flow(backend: Backend) {
    // u05's mailbox does not exist: the server answers 550 at RCPT TO.
    let sink = SmtpSink::rejecting(&["u5@example.com"]).await;
    let (p, key) = start(backend, sink.url()).await;
    let id = p
        .post_event(
            &key,
            json!({"type": "new_listing", "idempotency_key": "listing-1", "actor": "s1",
        "data": {"actor_name": "Vintage Vera", "title": "Coat <b>&</b> hat", "price": "€40"},
        "audience": {"user_ids": ["u01", "u02", "u03", "u04", "u05", "u06"]}}),
        )
        .await;
    let view = wait_for("emails sent and failed", Duration::from_secs(60), || {
        let (p, key, id) = (&p, &key, &id);
        async move {
            let v = p.event_view(key, id).await;
            (v["deliveries"]["email"]["sent"] == 2 && v["deliveries"]["email"]["failed"] == 1)
                .then_some(v)
        }
    })
    .await;
    assert_eq!(view["reasons"]["email"]["no_email_address"], 3, "{view}");
    assert!(
        view["deliveries"]["email"].get("queued").is_none(),
        "{view}"
    );
    let reasons = view["reasons"]["email"].as_object().unwrap();
    assert!(
        reasons
            .keys()
            .any(|r| r.contains("550") && r.contains("u5@example.com")),
        "the 550 is the failure's reason: {view}"
    );

    let mut messages = sink.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    messages.sort_by_key(|m| m["headers"]["to"].as_str().unwrap_or_default().to_owned());
    for (m, (user, to)) in messages
        .iter()
        .zip([("u01", "u1@example.com"), ("u03", "u3@example.com")])
    {
        let h = &m["headers"];
        assert_eq!(m["rcpt_tos"], json!([to]), "{m}");
        assert_eq!(h["to"], to, "{m}");
        assert_eq!(h["from"], "Fleet <notify@fleet.test>", "{m}");
        assert_eq!(m["content_type"], "multipart/alternative", "{m}");
        let (subject, text) = if user == "u03" {
            (
                "Vintage Vera a publié un nouvel article",
                "Coat <b>&</b> hat à €40",
            )
        } else {
            (
                "Vintage Vera listed a new item",
                "Coat <b>&</b> hat for €40",
            )
        };
        assert_eq!(h["subject"], subject, "{m}");
        assert!(m["text"].as_str().unwrap().contains(text), "{m}");
        let html = m["html"].as_str().unwrap();
        assert!(
            html.contains("Coat &lt;b&gt;&amp;&lt;&#x2f;b&gt; hat")
                || html.contains("Coat &lt;b&gt;&amp;&lt;/b&gt; hat"),
            "escaped HTML: {html}"
        );
        assert!(!html.contains("<b>"), "{html}");
        let unsubscribe =
            format!("<https://shop.test/unsubscribe?user={user}&category=followed_sellers>");
        assert_eq!(h["list-unsubscribe"], unsubscribe.as_str(), "{m}");
        assert_eq!(
            h["list-unsubscribe-post"], "List-Unsubscribe=One-Click",
            "{m}"
        );
        assert!(
            h["message-id"].as_str().unwrap().ends_with("@fleet.test>"),
            "{m}"
        );
    }
    assert_ne!(
        messages[0]["headers"]["message-id"],
        messages[1]["headers"]["message-id"]
    );

    // A DeliverEmail job delivered again for a sent email sends nothing.
    p.redeliver(&DeliverEmail {
        event_id: id.clone(),
        user_id: "u01".into(),
        priority: false,
    })
    .await;
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(
        p.event_view(&key, &id).await["deliveries"]["email"]["sent"],
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn email_on_sqlite() {
    email_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn email_on_postgres_and_redis() {
    email_flow(Backend::RedisPostgres).await;
}

/// Waits until u01's email of `event` failed twice and is still queued for a retry.
async fn retried_twice(p: &Platform, event: &str) {
    wait_for("two failed attempts", Duration::from_secs(60), || async {
        let d =
            p.db.db
                .delivery(event, Channel::Email, "u01")
                .await
                .ok()
                .flatten();
        d.filter(|(state, attempts)| state == "queued" && *attempts >= 2)
    })
    .await;
}

/// The server is down when the job first runs: it retries, and sends once the server is up.
/// A single-recipient transactional event, so this runs on the priority lane.
async fn server_down_then_up(backend: Backend) {
    let mut sink = SmtpSink::stopped(&[]);
    let (p, key) = start(backend, sink.url()).await;
    let (status, accepted) = p
        .call(
            "POST",
            "/v1/events",
            &key,
            Some(json!({"type": "item_sold", "idempotency_key": "sold-1",
            "data": {"title": "Lamp", "price": "€12"}, "audience": {"user_ids": ["u01"]}})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["priority"], true);
    let id = accepted["id"].as_str().unwrap().to_owned();
    retried_twice(&p, &id).await;
    assert!(sink.messages().is_empty());
    sink.resume().await;
    wait_for(
        "the email once the server is up",
        Duration::from_secs(60),
        || async {
            (p.event_view(&key, &id).await["deliveries"]["email"]["sent"] == 1).then_some(())
        },
    )
    .await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["headers"]["subject"], "You sold an item");
    assert_eq!(messages[0]["headers"]["to"], "u1@example.com");
    assert!(
        messages[0]["text"]
            .as_str()
            .unwrap()
            .contains("Lamp has sold for €12")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_down_then_up_on_sqlite() {
    server_down_then_up(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_down_then_up_on_postgres_and_redis() {
    server_down_then_up(Backend::RedisPostgres).await;
}

/// Quiet hours defer the email job to the window's end: nothing is sent yet.
async fn quiet_hours_defer(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (p, key) = start(backend, sink.url()).await;
    let now = fleet_shared::db::now_ms();
    let minute = now / 60_000 % 1_440;
    let hhmm = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1_440) / 60, m.rem_euclid(60));
    // Quiet from an hour ago until two hours from now (UTC).
    let user = json!({"users": [{"id": "q1", "email": "q1@example.com", "locale": "en", "time_zone": "UTC",
        "quiet_hours": {"start": hhmm(minute - 60), "end": hhmm(minute + 120)}}]});
    let (status, body) = p.call("POST", "/v1/users", &key, Some(user)).await;
    assert_eq!(status, 200, "{body}");
    let id = p
        .post_event(
            &key,
            json!({"type": "new_listing", "idempotency_key": "quiet-1",
        "data": {"title": "Lamp"}, "audience": {"user_ids": ["q1"]}}),
        )
        .await;
    // The delivery is recorded before its job is enqueued: wait for the job itself.
    let sql = "SELECT run_at FROM jobs WHERE kind = 'notify.email'";
    let run_at: i64 = wait_for("the email job", Duration::from_secs(30), || async {
        match &p.db.db {
            fleet_shared::Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_optional(pool).await,
            fleet_shared::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_optional(pool).await,
        }
        .ok()
        .flatten()
    })
    .await;
    assert_eq!(
        p.event_view(&key, &id).await["deliveries"]["email"]["queued"],
        1
    );
    let end = (now / 60_000 + 120) * 60_000;
    assert!(
        (run_at - end).abs() <= 60_000,
        "due at the end of quiet hours: {run_at} vs {end}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_hours_defer_on_sqlite() {
    quiet_hours_defer(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_hours_defer_on_postgres_and_redis() {
    quiet_hours_defer(Backend::RedisPostgres).await;
}

/// Events with one digest key to one user within a window become one email
/// at the window's end; another key makes its own digest, and an event
/// without one is sent on its own.
async fn digests(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (p, key) = start(backend, sink.url()).await;
    // Windows are 3 s, aligned to the epoch: start just after a boundary so the events share one.
    let now = fleet_shared::db::now_ms() as u64;
    tokio::time::sleep(Duration::from_millis(3_000 - now % 3_000 + 100)).await;
    let mut ids = Vec::new();
    for (i, title) in ["Lamp", "Chair", "Rug"].iter().enumerate() {
        ids.push(
            p.post_event(
                &key,
                json!({"type": "new_listing", "idempotency_key": format!("digest-{i}"),
                    "digest_key": "seller-s1", "data": {"actor_name": "Vera", "title": title},
                    "audience": {"user_ids": ["u01"]}}),
            )
            .await,
        );
    }
    ids.push(
        p.post_event(
            &key,
            json!({"type": "price_drop", "idempotency_key": "digest-likes", "digest_key": "likes",
                "data": {"title": "Coat", "price": "€30"}, "audience": {"user_ids": ["u01"]}}),
        )
        .await,
    );
    ids.push(
        p.post_event(
            &key,
            json!({"type": "new_message", "idempotency_key": "no-digest",
                "data": {"actor_name": "Sam", "preview": "Is it still available?"},
                "audience": {"user_ids": ["u01"]}}),
        )
        .await,
    );
    wait_for("three emails", Duration::from_secs(30), || async {
        (sink.messages().len() >= 3).then_some(())
    })
    .await;
    for id in &ids {
        wait_for(
            "every email delivery sent",
            Duration::from_secs(30),
            || async {
                (p.event_view(&key, id).await["deliveries"]["email"]["sent"] == 1).then_some(())
            },
        )
        .await;
    }
    let messages = sink.messages();
    assert_eq!(messages.len(), 3, "{messages:?}");
    let by_subject = |subject: &str| {
        messages
            .iter()
            .find(|m| m["headers"]["subject"] == subject)
            .unwrap_or_else(|| panic!("no email `{subject}`: {messages:?}"))
    };
    let text = by_subject("3 new notifications")["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let lines: Vec<&str> = text.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            "Vera listed a new item: Lamp",
            "Vera listed a new item: Chair",
            "Vera listed a new item: Rug"
        ],
        "{text}"
    );
    let likes = by_subject("1 new notification")["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(likes.contains("Coat is now €30"), "{likes}");
    assert!(
        by_subject("New message from Sam")["text"]
            .as_str()
            .unwrap()
            .contains("Is it still available?")
    );
    let (status, body) = p
        .call(
            "POST",
            "/v1/events",
            &key,
            Some(
                json!({"type": "item_sold", "idempotency_key": "sold-digest", "digest_key": "x",
                "data": {}, "audience": {"user_ids": ["u01"]}}),
            ),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("digest_key"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn digests_on_sqlite() {
    digests(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn digests_on_postgres_and_redis() {
    digests(Backend::RedisPostgres).await;
}

/// Mail goes out encrypted with STARTTLS required and with implicit TLS, to a
/// server whose certificate a private CA issued (`notify.smtp_ca_file`);
/// without trusting that CA nothing is sent and the delivery keeps retrying.
#[tokio::test(flavor = "multi_thread")]
async fn email_over_tls() {
    for mode in [SinkTls::StartTls, SinkTls::Implicit] {
        let sink = SmtpSink::with_tls(mode).await;
        let (p, key) = start_trusting(Backend::Sqlite, sink.url(), Some(sink.ca_file())).await;
        let id = p
            .post_event(
                &key,
                json!({"type": "item_sold", "idempotency_key": "tls-1",
                    "data": {"title": "Lamp"}, "audience": {"user_ids": ["u01"]}}),
            )
            .await;
        wait_for("the email over TLS", Duration::from_secs(60), || async {
            (p.event_view(&key, &id).await["deliveries"]["email"]["sent"] == 1).then_some(())
        })
        .await;
        let messages = sink.messages();
        assert_eq!(messages.len(), 1, "{mode:?}: {messages:?}");
        assert_eq!(messages[0]["tls"], true, "{mode:?}: {messages:?}");
        assert_eq!(messages[0]["headers"]["to"], "u1@example.com");
    }
    let sink = SmtpSink::with_tls(SinkTls::StartTls).await;
    let (p, key) = start(Backend::Sqlite, sink.url()).await;
    let id = p
        .post_event(
            &key,
            json!({"type": "item_sold", "idempotency_key": "tls-untrusted",
                "data": {"title": "Lamp"}, "audience": {"user_ids": ["u01"]}}),
        )
        .await;
    retried_twice(&p, &id).await;
    assert!(sink.messages().is_empty());
}
