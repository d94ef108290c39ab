//! Crash injection for notifications: `fleet worker notify` (a real child
//! process) is killed with SIGKILL again and again while it fans an event out
//! to 2,000 followers in chunks of 100, and restarted each time. Meanwhile its
//! emails hang on an SMTP server that never answers, so none is sent before
//! the crashes end. Afterwards every follower has exactly one inbox row and,
//! once a real SMTP server is up, exactly one email.

use fleet_jobs::notify::FanoutChunk;
use fleet_shared::{
    Db, Queues,
    db::{
        jobs::NewJob,
        notify::{Edge, NotifyUser},
        notify_events::NotifyEvent,
    },
};
use fleet_testkit::{
    Backend, RedisServer, SmtpSink, TestDb, silent_smtp, unique, wait_for, worker::WorkerProcess,
};
use std::{collections::HashMap, time::Duration};

const FOLLOWERS: usize = 2_000;

/// `fleet worker notify` with fan-out chunks of 100, sending email to `smtp_url`.
fn spawn_worker(db: &TestDb, redis: Option<&str>, smtp_url: &str) -> WorkerProcess {
    let mut env = vec![
        ("FLEET_DATABASE_URL", db.url.clone()),
        (
            "FLEET_SECRET_KEY",
            "fleet-notify-crash-test-secret-key-0123456789".to_owned(),
        ),
        ("FLEET_NOTIFY__SMTP_URL", smtp_url.to_owned()),
        ("FLEET_NOTIFY__FANOUT_CHUNK", "100".to_owned()),
        ("FLEET_NOTIFY__DAILY_PROMOTIONAL_CAP", "0".to_owned()),
        ("FLEET_QUEUE__LEASE_SECS", "1".to_owned()),
        ("FLEET_QUEUE__IDLE_POLL_MS", "50".to_owned()),
        ("FLEET_KINDS__NOTIFY__BACKOFF_BASE_MS", "200".to_owned()),
        ("FLEET_KINDS__NOTIFY__MAX_ATTEMPTS", "50".to_owned()),
    ];
    if let Some(url) = redis {
        env.push(("FLEET_REDIS_URL", url.to_owned()));
    }
    WorkerProcess::spawn(env!("CARGO_BIN_EXE_fleet"), &["notify"], &env)
}

/// Inbox rows of the event: total and distinct users.
async fn inbox_rows(db: &Db, event: &str) -> (i64, i64) {
    let sql = "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM notify_inbox WHERE event_id = $1";
    match db {
        Db::Sqlite(pool) => sqlx::query_as(sql).bind(event).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_as(sql).bind(event).fetch_one(pool).await,
    }
    .unwrap()
}

/// Email deliveries of the event per state.
async fn email_states(db: &Db, event: &str) -> HashMap<String, i64> {
    let mut states = HashMap::new();
    for c in db.delivery_counts(event).await.unwrap() {
        if c.channel == "email" {
            *states.entry(c.state).or_default() += c.count;
        }
    }
    states
}

async fn crash_mid_fanout(backend: Backend) {
    let db = TestDb::for_backend(backend).await;
    let redis = match backend {
        Backend::Sqlite => None,
        Backend::RedisPostgres => Some(RedisServer::start().await),
    };
    let redis_url = redis.as_ref().map(RedisServer::url);
    let queues = match &redis_url {
        Some(url) => Queues::redis(url, db.db.clone()).await.unwrap(),
        None => db.queues().await,
    };
    let users: Vec<NotifyUser> = (0..FOLLOWERS)
        .map(|i| NotifyUser {
            id: format!("u{i:05}"),
            email: Some(format!("u{i:05}@example.com")),
            locale: "en".to_owned(),
            time_zone: "UTC".to_owned(),
            quiet_hours: None,
        })
        .collect();
    db.db.upsert_notify_users(&users).await.unwrap();
    let edges: Vec<Edge> = users
        .iter()
        .map(|u| Edge {
            user_id: u.id.clone(),
            target: "s1".to_owned(),
            present: true,
        })
        .collect();
    db.db.apply_edges(false, &edges).await.unwrap();
    let event = NotifyEvent {
        id: unique("ev_"),
        idempotency_key: unique("crash-"),
        event_type: "new_listing".to_owned(),
        actor: Some("s1".to_owned()),
        data: r#"{"actor_name": "Vera", "title": "Lamp"}"#.to_owned(),
        audience: r#"{"followers_of": "s1"}"#.to_owned(),
        priority: false,
        created_at: 0,
        digest_key: None,
    };
    db.db.insert_notify_event(&event).await.unwrap();
    let first = FanoutChunk {
        event_id: event.id.clone(),
        after: None,
        priority: false,
    };
    queues
        .enqueue(vec![NewJob::of(&first, 50).unwrap()])
        .await
        .unwrap();

    let silent = silent_smtp().await;
    let mut kills_mid_fanout = 0;
    // Each round's worker is killed as soon as it has written another 250
    // inbox rows: in the middle of the fan-out, wherever its chunks are (a
    // fast machine writes several chunks between two looks, so the step is
    // small enough to leave at least three kills before the end).
    let mut last = 0;
    for _ in 0..40 {
        let worker = spawn_worker(&db, redis_url.as_deref(), &silent);
        let (rows, done) = wait_for("fan-out progress", Duration::from_secs(30), || async {
            let (rows, _) = inbox_rows(&db.db, &event.id).await;
            let queued = email_states(&db.db, &event.id).await.get("queued").copied();
            let done = rows == FOLLOWERS as i64 && queued == Some(FOLLOWERS as i64);
            (done || (rows >= last + 250 && rows < FOLLOWERS as i64)).then_some((rows, done))
        })
        .await;
        worker.sigkill();
        if done {
            break;
        }
        kills_mid_fanout += 1;
        last = rows;
    }
    let (rows, distinct) = inbox_rows(&db.db, &event.id).await;
    assert_eq!((rows, distinct), (FOLLOWERS as i64, FOLLOWERS as i64));
    assert!(
        kills_mid_fanout >= 3,
        "the worker was killed during the fan-out {kills_mid_fanout} times"
    );

    let sink = SmtpSink::start().await;
    let worker = spawn_worker(&db, redis_url.as_deref(), &sink.url());
    wait_for("every email sent", Duration::from_secs(180), || async {
        (email_states(&db.db, &event.id).await.get("sent") == Some(&(FOLLOWERS as i64)))
            .then_some(())
    })
    .await;
    worker.sigkill();
    let messages = sink.messages();
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *per_recipient
            .entry(m["headers"]["to"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        per_recipient.len(),
        FOLLOWERS,
        "every follower got an email"
    );
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "emails sent twice: {twice:?}");
    assert_eq!(inbox_rows(&db.db, &event.id).await, (rows, distinct));
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_mid_fanout_on_sqlite() {
    crash_mid_fanout(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_mid_fanout_on_postgres_and_redis() {
    crash_mid_fanout(Backend::RedisPostgres).await;
}
