//! Crash injection: the payout worker (`fleet worker payout`, a real child
//! process) is killed with SIGKILL between the Stripe call and the ledger
//! commit, at points observed on the fake Stripe: before Stripe created the
//! transfer, after it created it but before answering, and right after it
//! answered. After a restart and the job's retry, Stripe holds exactly one
//! transfer per payout and the ledger agrees. Also: the fake's idempotency
//! semantics, which the retries rely on.

use fleet_shared::{
    Config, Db, Queues,
    config::PayoutProvider,
    db::payouts::PayoutStatus,
    ledger::{Bucket, Currency, EventType, Ledger, OrderEvent},
    payout::{bank::PayoutDestination, destination, payout_id},
    seal::Sealer,
    secret::SecretKey,
};
use fleet_testkit::{
    Backend, RedisServer, TestDb,
    stripe::{FakeStripe, Hold},
    unique, wait_for,
    worker::WorkerProcess,
};
use std::time::Duration;

/// `fleet worker payout` paying through `fake`.
fn spawn_worker(
    db_url: &str,
    redis: Option<&str>,
    secret: &str,
    fake: &FakeStripe,
    dir: &std::path::Path,
) -> WorkerProcess {
    let mut env = vec![
        ("FLEET_DATA_DIR", dir.display().to_string()),
        ("FLEET_DATABASE_URL", db_url.to_owned()),
        ("FLEET_SECRET_KEY", secret.to_owned()),
        ("FLEET_PAYOUT__PROVIDER", "stripe".to_owned()),
        ("FLEET_PAYOUT__SCHEDULE", String::new()),
        ("FLEET_PAYOUT__STRIPE_API_BASE", fake.base.clone()),
        ("FLEET_PAYOUT__STRIPE_SECRET_KEY", fake.secret_key.clone()),
        ("FLEET_QUEUE__LEASE_SECS", "2".to_owned()),
        ("FLEET_QUEUE__IDLE_POLL_MS", "50".to_owned()),
        ("FLEET_KINDS__PAYOUT__BACKOFF_BASE_MS", "100".to_owned()),
    ];
    if let Some(url) = redis {
        env.push(("FLEET_REDIS_URL", url.to_owned()));
    }
    WorkerProcess::spawn(env!("CARGO_BIN_EXE_fleet"), &["payout"], &env)
}

async fn fund(ledger: &Ledger, seller: &str, amount: i64) {
    let order = unique("o-");
    for kind in [EventType::Paid, EventType::Delivered, EventType::Completed] {
        ledger
            .post(&OrderEvent {
                event_id: unique("e-"),
                kind,
                order_id: order.clone(),
                seller_id: seller.to_owned(),
                amount,
                currency: Currency::new("EUR").unwrap(),
                fee: None,
            })
            .await
            .unwrap();
    }
}

fn transfers_for(fake: &FakeStripe, payout: &str) -> usize {
    fake.transfers()
        .iter()
        .filter(|t| t["metadata"]["payout_id"] == payout)
        .count()
}

async fn bucket(db: &Db, seller: &str, bucket: Bucket) -> i64 {
    db.seller_balances(seller)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.bucket == bucket)
        .map_or(0, |b| b.balance)
}

async fn crash_between_provider_and_ledger(backend: Backend) {
    let db = TestDb::for_backend(backend).await;
    let redis = match backend {
        Backend::Sqlite => None,
        Backend::RedisPostgres => Some(RedisServer::start().await),
    };
    let queues = match &redis {
        Some(r) => Queues::redis(&r.url(), db.db.clone()).await.unwrap(),
        None => db.queues().await,
    };
    let secret = unique("fleet-test-secret-key-that-is-long-");
    let mut config = Config {
        database_url: Some(db.url.clone()),
        secret_key: Some(secret.clone()),
        ..Config::default()
    };
    config.payout.provider = PayoutProvider::Stripe;
    config.payout.fee_percent_bps = 0;
    config.payout.fee_fixed_minor = 0;
    config.payout.hold_days = 0;
    let ledger = Ledger::new(queues.clone(), &config);
    let sealer = Sealer::credentials(&SecretKey::from_text(&secret).unwrap());
    let fake = FakeStripe::start(None);
    let dir = std::env::temp_dir().join(unique("fleet-crash-"));
    let redis_url = redis.as_ref().map(RedisServer::url);

    let points = [Hold::BeforeCreate, Hold::AfterCreate, Hold::Off];
    let mut payouts = Vec::new();
    for (i, point) in points.into_iter().enumerate() {
        let seller = format!("c{i}");
        let amount = 1_000 * (i as i64 + 2);
        fund(&ledger, &seller, amount).await;
        destination::store(
            &db.db,
            &sealer,
            &seller,
            &PayoutDestination {
                bank: None,
                stripe_account: Some(format!("acct_{i}crash")),
            },
        )
        .await
        .unwrap();
        let run_id = format!("manual:crash{i}");
        let payout = payout_id(&run_id, &seller, "EUR");
        payouts.push((seller.clone(), payout.clone(), amount));
        fake.hold(point);
        fleet_shared::payout::start_run(&queues, &config, &run_id, "manual", Some(&seller))
            .await
            .unwrap();
        let worker = spawn_worker(&db.url, redis_url.as_deref(), &secret, &fake, &dir);
        match point {
            Hold::BeforeCreate => {
                wait_for(
                    "the transfer request to reach Stripe",
                    Duration::from_secs(30),
                    || async { (fake.held() >= 1).then_some(()) },
                )
                .await;
                assert_eq!(transfers_for(&fake, &payout), 0);
            }
            Hold::AfterCreate => {
                wait_for(
                    "Stripe to create the transfer and hold its answer",
                    Duration::from_secs(30),
                    || async {
                        (fake.held() >= 1 && transfers_for(&fake, &payout) == 1).then_some(())
                    },
                )
                .await;
            }
            Hold::Off => {
                wait_for(
                    "Stripe to create the transfer",
                    Duration::from_secs(30),
                    || async { (transfers_for(&fake, &payout) == 1).then_some(()) },
                )
                .await;
            }
        }
        // Killed with the provider call made (or on its way) and the ledger step pending.
        worker.sigkill();
        fake.release();
        let p = db.db.payout(&payout).await.unwrap().unwrap();
        if point != Hold::Off {
            assert_eq!(p.status, PayoutStatus::InTransit, "killed before recording");
        }
    }

    let requests_before = fake.requests();
    let worker = spawn_worker(&db.url, redis_url.as_deref(), &secret, &fake, &dir);
    for (_, payout, _) in &payouts {
        wait_for(
            "every payout to be recorded as sent",
            Duration::from_secs(60),
            || async {
                let p = db.db.payout(payout).await.unwrap()?;
                (p.status == PayoutStatus::Submitted).then_some(())
            },
        )
        .await;
    }
    worker.sigkill();
    assert!(
        fake.requests() > requests_before,
        "the interrupted calls were retried"
    );
    let transfers = fake.transfers();
    assert_eq!(transfers.len(), payouts.len(), "{transfers:?}");
    for (seller, payout, amount) in &payouts {
        assert_eq!(
            transfers_for(&fake, payout),
            1,
            "exactly one transfer for {payout}"
        );
        let t = transfers
            .iter()
            .find(|t| t["metadata"]["payout_id"] == payout.as_str())
            .unwrap();
        assert_eq!(t["amount"], *amount);
        let p = db.db.payout(payout).await.unwrap().unwrap();
        assert_eq!(
            p.provider_ref.as_deref(),
            t["id"].as_str(),
            "the ledger side names Stripe's transfer"
        );
        assert_eq!(bucket(&db.db, seller, Bucket::InTransit).await, *amount);
        assert_eq!(bucket(&db.db, seller, Bucket::Available).await, 0);
    }
    for (currency, sum) in db.db.ledger_totals().await.unwrap() {
        assert_eq!(sum, 0, "{currency}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn payout_worker_killed_around_the_stripe_call_pays_once() {
    for backend in Backend::ALL {
        crash_between_provider_and_ledger(backend).await;
    }
}

#[tokio::test]
async fn fake_stripe_has_real_idempotency_semantics() {
    let fake = FakeStripe::start(None);
    let http = reqwest::Client::new();
    let post = |key: &str, amount: &str, auth: bool| {
        let mut req = http
            .post(format!("{}/v1/transfers", fake.base))
            .header("Idempotency-Key", key)
            .form(&[
                ("amount", amount),
                ("currency", "eur"),
                ("destination", "acct_1"),
            ]);
        if auth {
            req = req.bearer_auth(&fake.secret_key);
        }
        async move {
            let resp = req.send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, first) = post("k1", "100", true).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = post("k1", "100", true).await;
    assert_eq!(
        (status, &again),
        (200, &first),
        "same key, same params: same response"
    );
    let (status, other) = post("k1", "101", true).await;
    assert_eq!(status, 400);
    assert_eq!(other["error"]["type"], "idempotency_error");
    let (status, _) = post("k2", "100", false).await;
    assert_eq!(status, 401);
    let (status, body) = post("k3", "-5", true).await;
    assert_eq!(status, 400, "{body}");
    fake.fail_next(1);
    let (status, _) = post("k4", "100", true).await;
    assert_eq!(status, 500);
    let (status, _) = post("k4", "100", true).await;
    assert_eq!(status, 200, "a failed attempt does not bind the key");
    assert_eq!(fake.transfers().len(), 2);
}
