//! Notification fan-out speed, run by `bench/notify/run`: real `fleet worker
//! notify` processes (release build) on PostgreSQL and Redis.
//!
//! `notify-bench fanout FLEET_BIN FOLLOWERS WORKERS`: one `new_listing` event
//! to FOLLOWERS followers (all with an email address) fanned out by WORKERS
//! processes: the time until every inbox row is written and every email job
//! is enqueued, each process's peak RSS, and the latency of single-recipient
//! transactional events posted every 250 ms during the fan-out (posted to
//! their inbox row written). The emails go to an SMTP server that never
//! answers, so sending them takes no CPU from the fan-out being measured.
//!
//! `notify-bench email FLEET_BIN N`: N emails, one per recipient, sent by one
//! process to testkit's SMTP sink (aiosmtpd): emails per second.
//!
//! `notify-bench webhook FLEET_BIN N`: N events delivered to one webhook
//! endpoint (testkit's receiver) by one process: deliveries per second.
//!
//! Prints one JSON line.

mod rss;

use fleet_jobs::notify::FanoutChunk;
use fleet_shared::{
    Db, Queues,
    db::{jobs::NewJob, notify::WebhookEndpoint, notify_events::NotifyEvent},
    seal::Sealer,
    secret::SecretKey,
};
use fleet_testkit::{
    RedisServer, SmtpSink, TestDb, silent_smtp, unique, webhook::WebhookReceiver,
    worker::WorkerProcess,
};
use serde_json::json;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SECRET: &str = "fleet-notify-bench-secret-key-0123456789abcdef";

fn pg(db: &Db) -> Result<&sqlx::PgPool, BoxError> {
    match db {
        Db::Postgres(pool) => Ok(pool),
        Db::Sqlite(_) => Err("the notify benchmark runs on PostgreSQL".into()),
    }
}

/// Users `u0000001`… with an email address, each following seller `s1`.
async fn seed(db: &Db, n: usize) -> Result<(), BoxError> {
    let pool = pg(db)?;
    sqlx::query(
        "INSERT INTO notify_users (id, email, locale, time_zone, created_at, updated_at) \
         SELECT 'u' || lpad(i::text, 7, '0'), 'u' || i || '@example.com', 'en', 'UTC', 0, 0 \
         FROM generate_series(1, $1) AS i",
    )
    .bind(n as i64)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO notify_follows (seller_id, user_id, created_at) \
         SELECT 's1', 'u' || lpad(i::text, 7, '0'), 0 FROM generate_series(1, $1) AS i",
    )
    .bind(n as i64)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

/// Records an event and enqueues its first fan-out chunk, as `POST /v1/events` does.
async fn post(queues: &Queues, db: &Db, event: NotifyEvent) -> Result<String, BoxError> {
    let (event, _) = db.insert_notify_event(&event).await?;
    let chunk = FanoutChunk {
        event_id: event.id.clone(),
        after: None,
        priority: event.priority,
    };
    queues.enqueue(vec![NewJob::of(&chunk, 5)?]).await?;
    Ok(event.id)
}

fn event(kind: &str, audience: serde_json::Value, priority: bool) -> NotifyEvent {
    NotifyEvent {
        id: unique("ev_"),
        idempotency_key: unique("bench-"),
        event_type: kind.to_owned(),
        actor: Some("s1".to_owned()),
        data: json!({"actor_name": "Vera", "title": "Lamp", "price": "€12"}).to_string(),
        audience: audience.to_string(),
        priority,
        created_at: fleet_shared::db::now_ms(),
        digest_key: None,
    }
}

/// `fleet worker notify` processes on `db` and `redis`, sending email to `smtp` (none: email off).
fn workers(
    fleet: &str,
    n: usize,
    db: &TestDb,
    redis: &str,
    smtp: Option<&str>,
) -> Vec<WorkerProcess> {
    let mut env = vec![
        ("FLEET_DATABASE_URL", db.url.clone()),
        ("FLEET_REDIS_URL", redis.to_owned()),
        ("FLEET_SECRET_KEY", SECRET.to_owned()),
        ("FLEET_NOTIFY__WEBHOOK_TIMEOUT_SECS", "5".to_owned()),
        ("FLEET_QUEUE__IDLE_POLL_MS", "20".to_owned()),
    ];
    if let Some(url) = smtp {
        env.push(("FLEET_NOTIFY__SMTP_URL", url.to_owned()));
    }
    (0..n)
        .map(|_| WorkerProcess::spawn(fleet, &["notify"], &env))
        .collect()
}

/// Counts `(all, succeeded)` jobs on `queue`.
async fn jobs_on(db: &Db, queue: &str) -> Result<(i64, i64), BoxError> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'succeeded') FROM jobs WHERE queue = $1",
    )
    .bind(queue)
    .fetch_one(pg(db)?)
    .await?)
}

async fn inbox_rows(db: &Db, event: &str) -> Result<i64, BoxError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM notify_inbox WHERE event_id = $1")
            .bind(event)
            .fetch_one(pg(db)?)
            .await?,
    )
}

async fn fanout(
    fleet: &str,
    followers: usize,
    n_workers: usize,
) -> Result<serde_json::Value, BoxError> {
    let db = TestDb::postgres().await;
    let redis = RedisServer::start().await;
    let queues = Queues::redis(&redis.url(), db.db.clone()).await?;
    let seeded = Instant::now();
    seed(&db.db, followers).await?;
    eprintln!(
        "seeded {followers} followers in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );
    let smtp = silent_smtp().await;
    let procs = workers(fleet, n_workers, &db, &redis.url(), Some(&smtp));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let posted_ms = fleet_shared::db::now_ms();
    let id = post(
        &queues,
        &db.db,
        event("new_listing", json!({"followers_of": "s1"}), false),
    )
    .await?;
    let chunks = followers.div_ceil(5_000) as i64;
    let mut probes: Vec<(String, Instant)> = Vec::new();
    let mut latencies = Vec::new();
    let mut next_probe = Instant::now();
    for tick in 0u64.. {
        if Instant::now() >= next_probe {
            let user = format!("u{:07}", probes.len() % followers + 1);
            let probe = event("item_sold", json!({"user_ids": [user]}), true);
            probes.push((post(&queues, &db.db, probe).await?, Instant::now()));
            next_probe += Duration::from_millis(250);
        }
        let mut waiting = Vec::new();
        for (probe, at) in probes.drain(..) {
            if inbox_rows(&db.db, &probe).await? == 1 {
                latencies.push(at.elapsed().as_secs_f64());
            } else {
                waiting.push((probe, at));
            }
        }
        probes = waiting;
        // The completion check counts a table of a million rows: once a second.
        if tick % 20 == 19 {
            let (all, ok) = jobs_on(&db.db, "notify.fanout").await?;
            if all >= chunks && all == ok {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err("the fan-out did not finish within 15 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Done when the last chunk job finished, to the millisecond.
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(finished_at) FROM jobs WHERE queue = 'notify.fanout'")
            .fetch_one(pg(&db.db)?)
            .await?;
    let done = (last.unwrap_or(posted_ms) - posted_ms) as f64 / 1_000.0;
    let rss: Vec<f64> = procs
        .iter()
        .map(|p| rss::peak_rss_mib_of(&p.pid().to_string()))
        .collect();
    drop(procs);
    let rows = inbox_rows(&db.db, &id).await?;
    let email_jobs: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'notify.email' AND payload LIKE '%' || $1 || '%'",
    )
    .bind(&id)
    .fetch_one(pg(&db.db)?)
    .await?;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(json!({
        "mode": "fanout",
        "followers": followers,
        "workers": n_workers,
        "secs": done,
        "inbox_rows": rows,
        "email_jobs": email_jobs,
        "recipients_per_sec": followers as f64 / done,
        "peak_rss_mib": rss,
        "probes": latencies.len(),
        "probe_p50_secs": pct(0.5),
        "probe_p99_secs": pct(0.99),
        "probe_max_secs": latencies.last().copied().unwrap_or(f64::NAN),
    }))
}

/// Waits until `count` reaches `n`; the seconds it took from `started`.
async fn until(
    started: Instant,
    n: i64,
    mut count: impl AsyncFnMut() -> Result<i64, BoxError>,
) -> Result<f64, BoxError> {
    loop {
        if count().await? >= n {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err("deliveries did not finish within 15 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sent(db: &Db, channel: &str) -> Result<i64, BoxError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM notify_deliveries WHERE channel = $1 AND state = 'sent'",
    )
    .bind(channel)
    .fetch_one(pg(db)?)
    .await?)
}

async fn email(fleet: &str, n: usize) -> Result<serde_json::Value, BoxError> {
    let db = TestDb::postgres().await;
    let redis = RedisServer::start().await;
    let queues = Queues::redis(&redis.url(), db.db.clone()).await?;
    seed(&db.db, n).await?;
    let sink = SmtpSink::start().await;
    let _procs = workers(fleet, 1, &db, &redis.url(), Some(&sink.url()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    post(
        &queues,
        &db.db,
        event("new_message", json!({"followers_of": "s1"}), false),
    )
    .await?;
    let secs = until(started, n as i64, async || sent(&db.db, "email").await).await?;
    Ok(
        json!({"mode": "email", "messages": n, "secs": secs, "per_sec": n as f64 / secs,
        "received": sink.messages().len()}),
    )
}

async fn webhook(fleet: &str, n: usize) -> Result<serde_json::Value, BoxError> {
    let db = TestDb::postgres().await;
    let redis = RedisServer::start().await;
    let queues = Queues::redis(&redis.url(), db.db.clone()).await?;
    seed(&db.db, 1).await?;
    let receiver = WebhookReceiver::start();
    let sealer = Sealer::credentials(&SecretKey::from_text(SECRET)?);
    let id = "we_bench".to_owned();
    db.db
        .insert_webhook_endpoint(&WebhookEndpoint {
            secret_sealed: sealer.seal(&id, b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            id,
            url: receiver.url.clone(),
            description: None,
            event_types: Vec::new(),
            status: "enabled".to_owned(),
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
        })
        .await?;
    let _procs = workers(fleet, 1, &db, &redis.url(), None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    for _ in 0..n {
        post(
            &queues,
            &db.db,
            event("new_listing", json!({"user_ids": ["u0000001"]}), false),
        )
        .await?;
    }
    let secs = until(started, n as i64, async || sent(&db.db, "webhook").await).await?;
    Ok(
        json!({"mode": "webhook", "messages": n, "secs": secs, "per_sec": n as f64 / secs,
        "received": receiver.received().len()}),
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: notify-bench fanout FLEET_BIN FOLLOWERS WORKERS | email FLEET_BIN N | webhook FLEET_BIN N";
    let arg = |i: usize| -> Result<usize, BoxError> { Ok(args.get(i).ok_or(usage)?.parse()?) };
    let fleet = args.get(2).ok_or(usage)?;
    let result = match args.get(1).map(String::as_str) {
        Some("fanout") => fanout(fleet, arg(3)?, arg(4)?).await?,
        Some("email") => email(fleet, arg(3)?).await?,
        Some("webhook") => webhook(fleet, arg(3)?).await?,
        _ => return Err(usage.into()),
    };
    println!("{result}");
    Ok(())
}
