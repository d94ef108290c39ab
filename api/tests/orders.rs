//! Order events, balances and the seller ledger over real HTTP, on both
//! backends (SQLite; PostgreSQL with Redis queues).

use fleet_api::AppState;
use fleet_shared::{
    Config, Queues,
    db::{api_keys::Role, now_ms},
    ledger::{Account, Bucket, Currency, Ledger, Posting, Transfer},
};
use fleet_testkit::{Backend, RedisServer, TestDb};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

struct Api {
    base: String,
    http: Client,
    db: TestDb,
    queues: Queues,
    config: Config,
    backend: String,
    ops: String,
    seller1: String,
    _redis: Option<RedisServer>,
    _stop: oneshot::Sender<()>,
}

impl Api {
    /// The API with a fee of 10% + 50 and a hold period of `hold_days`.
    async fn start(backend: Backend, hold_days: u32) -> Api {
        let db = TestDb::for_backend(backend).await;
        // A private Redis: release jobs land on the real `payout` queue.
        let redis = match backend {
            Backend::Sqlite => None,
            Backend::RedisPostgres => Some(RedisServer::start().await),
        };
        let queues = match &redis {
            Some(r) => Queues::redis(&r.url(), db.db.clone()).await.unwrap(),
            None => db.queues().await,
        };
        let mut config = Config {
            database_url: Some(db.url.clone()),
            redis_url: redis.as_ref().map(RedisServer::url),
            ..Config::default()
        };
        config.payout.fee_percent_bps = 1_000;
        config.payout.fee_fixed_minor = 50;
        config.payout.hold_days = hold_days;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let blobs = fleet_testkit::fs_blobs(&base).await;
        let state = AppState::new(config.clone(), queues.clone(), blobs)
            .await
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(fleet_api::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let key = |role, seller: Option<&'static str>| {
            let db = db.db.clone();
            async move { db.create_api_key("test", role, seller).await.unwrap().1 }
        };
        Api {
            backend: key(Role::Backend, None).await,
            ops: key(Role::Ops, None).await,
            seller1: key(Role::Seller, Some("s1")).await,
            base,
            http: Client::new(),
            db,
            queues,
            config,
            _redis: redis,
            _stop: stop,
        }
    }

    async fn post(&self, key: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/orders/events", self.base))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts as the backend; returns status, body and whether it was a replay.
    async fn event(&self, body: Value) -> (StatusCode, Value, bool) {
        let resp = self.post(&self.backend, &body).await;
        let status = resp.status();
        let replayed = resp
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        (status, resp.json().await.unwrap(), replayed)
    }

    async fn ok(&self, body: Value) -> Value {
        let (status, body, _) = self.event(body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A 409's `details.reason`.
    async fn refused(&self, body: Value) -> String {
        let (status, body, _) = self.event(body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "conflict");
        body["error"]["details"]["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    /// (pending, available) of `seller` in EUR.
    async fn balance(&self, seller: &str) -> (i64, i64) {
        let (status, body) = self
            .get(&self.ops, &format!("/v1/sellers/{seller}/balance"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let eur = body["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["currency"] == "EUR")
            .cloned()
            .unwrap_or(json!({"pending": 0, "available": 0}));
        (
            eur["pending"].as_i64().unwrap(),
            eur["available"].as_i64().unwrap(),
        )
    }

    /// Balance of a platform account in EUR.
    async fn platform(&self, bucket: &str) -> i64 {
        let id = format!("platform:EUR:{bucket}");
        self.db
            .db
            .account_balances()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.account_id == id)
            .map_or(0, |a| a.balance)
    }

    async fn assert_zero_sum(&self) {
        for (currency, sum) in self.db.db.ledger_totals().await.unwrap() {
            assert_eq!(sum, 0, "postings in {currency} sum to zero");
        }
    }

    fn ledger(&self) -> Ledger {
        Ledger::new(self.queues.clone(), &self.config)
    }
}

fn ev(id: &str, kind: &str, order: &str, seller: &str, amount: i64) -> Value {
    json!({"event_id": id, "type": kind, "order_id": order, "seller_id": seller, "amount": amount, "currency": "EUR"})
}

#[tokio::test]
async fn paid_delivered_released_and_refunds() {
    for backend in Backend::ALL {
        let api = Api::start(backend, 0).await;
        // paid 10000: fee 10% + 50 = 1050, seller pending 8950.
        let paid = api.ok(ev("e1", "paid", "o1", "s1", 10_000)).await;
        assert_eq!(paid["fee"], 1_050);
        assert_eq!(paid["transfer_id"], "event:e1");
        let postings = paid["postings"].as_array().unwrap();
        assert_eq!(postings.len(), 3);
        let (debits, credits) = postings.iter().fold((0, 0), |(d, c), p| {
            let n = p["amount"].as_i64().unwrap();
            if p["direction"] == "debit" {
                (d + n, c)
            } else {
                (d, c + n)
            }
        });
        assert_eq!((debits, credits), (10_000, 10_000));
        assert_eq!(api.balance("s1").await, (8_950, 0));
        assert_eq!(api.platform("fees_revenue").await, 1_050);
        assert_eq!(api.platform("buyer_funds").await, 10_000);

        // delivered (hold 0 days) schedules the release job now; releasing moves pending to available.
        let delivered = api.ok(ev("e2", "delivered", "o1", "s1", 10_000)).await;
        assert!(delivered["release_at"].is_string());
        assert!(delivered["postings"].as_array().unwrap().is_empty());
        assert_eq!(api.balance("s1").await, (8_950, 0));
        let released = api.ledger().release("o1").await.unwrap().unwrap();
        assert_eq!(released.event.transfer_id.as_deref(), Some("release:o1"));
        assert_eq!(api.balance("s1").await, (0, 8_950));
        // A second run of the release job changes nothing.
        assert!(
            api.ledger()
                .release("o1")
                .await
                .unwrap()
                .is_some_and(|r| r.replayed)
        );
        assert_eq!(api.balance("s1").await, (0, 8_950));

        // A refund of held funds (o2, not delivered) reverses pending, fee share included.
        api.ok(ev("e3", "paid", "o2", "s1", 2_000)).await; // fee 250, pending 1750
        assert_eq!(api.balance("s1").await, (1_750, 8_950));
        let partial = api
            .ok(ev("e4", "partially_refunded", "o2", "s1", 1_000))
            .await;
        assert_eq!(partial["postings"].as_array().unwrap().len(), 3);
        // Fee share ceil(250 * 1000 / 2000) = 125; seller share 875.
        assert_eq!(api.balance("s1").await, (875, 8_950));
        api.ok(ev("e5", "refunded", "o2", "s1", 1_000)).await;
        assert_eq!(api.balance("s1").await, (0, 8_950));
        assert_eq!(api.platform("fees_revenue").await, 1_050);
        assert_eq!(api.platform("refunds").await, 2_000);

        // A refund after release comes out of available, which may go negative.
        api.ok(ev("e6", "paid", "o3", "s3", 1_000)).await; // fee 150, pending 850
        api.ok(ev("e7", "delivered", "o3", "s3", 1_000)).await;
        api.ok(ev("e8", "completed", "o3", "s3", 1_000)).await; // releases now
        assert_eq!(api.balance("s3").await, (0, 850));
        // The seller was paid out meanwhile (a payout moves available to in transit).
        let eur = Currency::new("EUR").unwrap();
        let payout = Transfer::new(
            "payout:p1".to_owned(),
            "payout",
            &eur,
            vec![
                Posting {
                    account: Account::seller("s3", &eur, Bucket::Available),
                    amount: -850,
                },
                Posting {
                    account: Account::seller("s3", &eur, Bucket::InTransit),
                    amount: 850,
                },
            ],
        )
        .unwrap();
        assert!(
            api.db
                .db
                .post_transfer(&payout, None, now_ms())
                .await
                .unwrap()
        );
        assert!(
            !api.db
                .db
                .post_transfer(&payout, None, now_ms())
                .await
                .unwrap()
        );
        assert_eq!(api.balance("s3").await, (0, 0));
        api.ok(ev("e9", "refunded", "o3", "s3", 1_000)).await;
        // The seller now owes the platform their share.
        assert_eq!(api.balance("s3").await, (0, -850));
        // The release job of o3 finds it already released.
        assert!(api.ledger().release("o3").await.unwrap().is_none());

        // Disputes after release hold the seller's share again; a lost dispute is a refund.
        api.ok(ev("f1", "paid", "o4", "s4", 1_000)).await; // fee 150, pending 850
        api.ok(ev("f2", "delivered", "o4", "s4", 1_000)).await;
        api.ledger().release("o4").await.unwrap();
        assert_eq!(api.balance("s4").await, (0, 850));
        api.ok(ev("f3", "disputed", "o4", "s4", 1_000)).await;
        assert_eq!(api.balance("s4").await, (850, 0));
        assert_eq!(
            api.refused(ev("f4", "refunded", "o4", "s4", 1_000)).await,
            "dispute_open"
        );
        api.ok(ev("f5", "dispute_lost", "o4", "s4", 1_000)).await;
        assert_eq!(api.balance("s4").await, (0, 0));

        api.assert_zero_sum().await;
    }
}

#[tokio::test]
async fn delivered_schedules_a_release_job_after_the_hold_period() {
    for backend in Backend::ALL {
        let api = Api::start(backend, 2).await;
        api.ok(ev("e1", "paid", "o1", "s1", 5_000)).await;
        let before = now_ms();
        api.ok(ev("e2", "delivered", "o1", "s1", 5_000)).await;
        let stats = api.queues.stats("payout").await.unwrap();
        assert_eq!((stats.scheduled, stats.waiting), (1, 0), "{stats:?}");
        let jobs = api.db.db.dead_jobs("payout", None, 10).await.unwrap();
        assert!(jobs.is_empty());
        let run_at: i64 = match &api.db.db {
            fleet_shared::Db::Postgres(p) => sqlx::query_scalar(
                "SELECT run_at FROM jobs WHERE queue = 'payout' AND kind = 'payout.release'",
            )
            .fetch_one(p)
            .await
            .unwrap(),
            fleet_shared::Db::Sqlite(p) => sqlx::query_scalar(
                "SELECT run_at FROM jobs WHERE queue = 'payout' AND kind = 'payout.release'",
            )
            .fetch_one(p)
            .await
            .unwrap(),
        };
        let hold = 2 * 24 * 3_600 * 1_000;
        assert!(
            run_at >= before + hold && run_at <= now_ms() + hold,
            "{run_at}"
        );
        // Replaying `delivered` neither posts nor queues a second job.
        let (status, _, replayed) = api.event(ev("e2", "delivered", "o1", "s1", 5_000)).await;
        assert_eq!((status, replayed), (StatusCode::OK, true));
        assert_eq!(api.queues.stats("payout").await.unwrap().scheduled, 1);
        // Run early, the release is refused and nothing moves.
        let err = api.ledger().release("o1").await.unwrap_err();
        assert!(err.to_string().contains("hold period"), "{err}");
        assert_eq!(api.balance("s1").await, (4_450, 0));
    }
}

/// Posts a batch of events as `key`; returns status and body.
async fn batch(api: &Api, key: &str, events: Vec<Value>) -> (StatusCode, Value) {
    let resp = api
        .http
        .post(format!("{}/v1/orders/events:batch", api.base))
        .bearer_auth(key)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_batch_records_each_event_as_one_by_one_would() {
    for backend in Backend::ALL {
        let api = Api::start(backend, 0).await;
        api.ok(ev("e0", "paid", "o0", "s1", 1_000)).await; // pending 850
        let events = vec![
            // A whole order in one batch: each event sees the one before.
            ev("e1", "paid", "o1", "s1", 10_000), // fee 1050, pending 8950
            ev("e2", "delivered", "o1", "s1", 10_000),
            ev("e3", "completed", "o1", "s1", 10_000), // releases 8950
            // Out of order, and a type error: each fails alone.
            ev("x1", "refunded", "o9", "s1", 100),
            json!({"event_id": "x2", "type": "paid", "order_id": "o8", "seller_id": "s1", "amount": "12", "currency": "EUR"}),
            // A replay of an earlier request, and the same id twice in this batch.
            ev("e0", "paid", "o0", "s1", 1_000),
            ev("e1", "paid", "o1", "s1", 10_000),
            // An id reused with other content, and another seller.
            ev("e0", "paid", "o0", "s1", 999),
            ev("e4", "paid", "o4", "s2", 2_000), // fee 250, pending 1750
        ];
        let (status, body) = batch(&api, &api.backend, events).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let statuses: Vec<&str> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            [
                "recorded", "recorded", "recorded", "refused", "invalid", "replayed", "replayed",
                "refused", "recorded"
            ],
            "{body}"
        );
        assert_eq!(
            (
                &body["recorded"],
                &body["replayed"],
                &body["refused"],
                &body["invalid"]
            ),
            (&json!(4), &json!(2), &json!(2), &json!(1))
        );
        let results = &body["results"];
        assert_eq!(results[0]["event"]["fee"], 1_050);
        assert_eq!(results[2]["event"]["transfer_id"], "event:e3");
        assert_eq!(results[3]["reason"], "order_not_paid");
        assert_eq!(results[4]["errors"][0]["field"], "amount");
        assert_eq!(results[4]["event_id"], "x2");
        assert_eq!(results[6]["event"], results[0]["event"]);
        assert_eq!(results[7]["reason"], "event_id_reused");
        assert_eq!(results[8]["index"], 8);
        assert_eq!(api.balance("s1").await, (850, 8_950));
        assert_eq!(api.balance("s2").await, (1_750, 0));
        // Refused and invalid events left nothing behind.
        assert!(api.db.db.order_state("o9").await.unwrap().is_none());
        assert!(api.db.db.order_state("o8").await.unwrap().is_none());
        api.assert_zero_sum().await;

        // Posting the same batch again changes nothing.
        let (status, again) = batch(
            &api,
            &api.backend,
            vec![
                ev("e1", "paid", "o1", "s1", 10_000),
                ev("e3", "completed", "o1", "s1", 10_000),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["replayed"], 2, "{again}");
        assert_eq!(again["results"][1]["event"], results[2]["event"]);
        assert_eq!(api.balance("s1").await, (850, 8_950));

        // Only backend keys; 1-1000 events.
        let (status, _) = batch(&api, &api.seller1, vec![ev("e5", "paid", "o5", "s1", 1)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = batch(&api, &api.backend, Vec::new()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let many = (0..1_001)
            .map(|n| ev(&format!("m{n}"), "paid", &format!("om{n}"), "s1", 1))
            .collect();
        let (status, body) = batch(&api, &api.backend, many).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["details"]["fields"][0]["field"], "events");
        assert_eq!(api.balance("s1").await, (850, 8_950));
    }
}

#[tokio::test]
async fn replays_conflicts_and_events_out_of_order() {
    for backend in Backend::ALL {
        let api = Api::start(backend, 0).await;
        // Out of order: nothing before `paid`.
        assert_eq!(
            api.refused(ev("x1", "delivered", "o1", "s1", 100)).await,
            "order_not_paid"
        );
        assert_eq!(
            api.refused(ev("x2", "refunded", "o1", "s1", 100)).await,
            "order_not_paid"
        );
        let first = api.ok(ev("e1", "paid", "o1", "s1", 1_000)).await;
        let balance = api.balance("s1").await;
        // Replay: same answer, nothing changes.
        let (status, again, replayed) = api.event(ev("e1", "paid", "o1", "s1", 1_000)).await;
        assert_eq!((status, replayed), (StatusCode::OK, true));
        assert_eq!(again, first);
        assert_eq!(api.balance("s1").await, balance);
        // Same id, other content.
        assert_eq!(
            api.refused(ev("e1", "paid", "o1", "s1", 999)).await,
            "event_id_reused"
        );
        assert_eq!(
            api.refused(ev("e1", "delivered", "o1", "s1", 1_000)).await,
            "event_id_reused"
        );
        // A second `paid`, completion before delivery, refunds above what was paid, other seller.
        assert_eq!(
            api.refused(ev("e2", "paid", "o1", "s1", 1_000)).await,
            "order_already_paid"
        );
        assert_eq!(
            api.refused(ev("e3", "completed", "o1", "s1", 1_000)).await,
            "order_not_delivered"
        );
        assert_eq!(
            api.refused(ev("e4", "partially_refunded", "o1", "s1", 1_001))
                .await,
            "exceeds_refundable"
        );
        assert_eq!(
            api.refused(ev("e5", "refunded", "o1", "s1", 500)).await,
            "amount_mismatch"
        );
        assert_eq!(
            api.refused(ev("e6", "delivered", "o1", "s2", 1_000)).await,
            "order_mismatch"
        );
        assert_eq!(
            api.refused(ev("e7", "dispute_won", "o1", "s1", 1_000))
                .await,
            "no_open_dispute"
        );
        // Refused events are not recorded: the id can be used once the order allows it.
        api.ok(ev("e3", "delivered", "o1", "s1", 1_000)).await;
        api.ok(ev("e8", "refunded", "o1", "s1", 1_000)).await;
        assert_eq!(
            api.refused(ev("e9", "partially_refunded", "o1", "s1", 1))
                .await,
            "order_fully_refunded"
        );
        assert_eq!(api.balance("s1").await, (0, 0));

        // Validation: 422 naming the fields.
        for (body, field) in [
            (
                json!({"event_id": "v", "type": "paid", "order_id": "o", "seller_id": "s", "amount": 1, "currency": "eur"}),
                "currency",
            ),
            (
                json!({"event_id": "v", "type": "paid", "order_id": "o", "seller_id": "s", "amount": 0, "currency": "EUR"}),
                "amount",
            ),
            (
                json!({"event_id": "v", "type": "paid", "order_id": "o", "seller_id": "s", "amount": -5, "currency": "EUR"}),
                "amount",
            ),
            (
                json!({"event_id": "v", "type": "paid", "order_id": "o", "seller_id": "s", "amount": 1.5, "currency": "EUR"}),
                "amount",
            ),
            (
                json!({"event_id": "v", "type": "shipped", "order_id": "o", "seller_id": "s", "amount": 1, "currency": "EUR"}),
                "type",
            ),
            (
                json!({"event_id": "", "type": "paid", "order_id": "o", "seller_id": "s", "amount": 1, "currency": "EUR"}),
                "event_id",
            ),
            (
                json!({"event_id": "v", "type": "paid", "order_id": "o", "seller_id": "s", "amount": 10, "currency": "EUR", "fee": 11}),
                "fee",
            ),
            (
                json!({"event_id": "v", "type": "delivered", "order_id": "o", "seller_id": "s", "amount": 10, "currency": "EUR", "fee": 1}),
                "fee",
            ),
        ] {
            let (status, body, _) = api.event(body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let fields = body["error"]["details"]["fields"].as_array().unwrap();
            assert!(
                fields.iter().any(|f| f["field"] == field),
                "{field}: {body}"
            );
        }
        // An explicit fee overrides the configured one.
        let paid = api
            .ok(json!({"event_id": "p", "type": "paid", "order_id": "o9", "seller_id": "s9", "amount": 1_000, "currency": "EUR", "fee": 0}))
            .await;
        assert_eq!(paid["fee"], 0);
        assert_eq!(api.balance("s9").await, (1_000, 0));
        api.assert_zero_sum().await;
    }
}

#[tokio::test]
async fn sellers_see_only_their_own_money() {
    for backend in Backend::ALL {
        let api = Api::start(backend, 0).await;
        for i in 0..5 {
            api.ok(ev(&format!("a{i}"), "paid", &format!("o{i}"), "s1", 1_000))
                .await;
        }
        api.ok(ev("b1", "paid", "p1", "s2", 1_000)).await;

        // Only the backend posts order events.
        let resp = api.post(&api.seller1, &ev("z", "paid", "z", "s1", 1)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let resp = api.post(&api.ops, &ev("z", "paid", "z", "s1", 1)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);

        let (status, own) = api.get(&api.seller1, "/v1/sellers/s1/balance").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(own["balances"][0]["currency"], "EUR");
        assert_eq!(own["balances"][0]["pending"], 5 * 850);
        for path in ["/v1/sellers/s2/balance", "/v1/sellers/s2/ledger"] {
            let (status, body) = api.get(&api.seller1, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        let (status, other) = api.get(&api.backend, "/v1/sellers/s2/balance").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(other["balances"][0]["pending"], 850);

        // The ledger pages through the seller's lines only.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/sellers/s1/ledger?limit=2&cursor={c}"),
                None => "/v1/sellers/s1/ledger?limit=2".to_owned(),
            };
            let (status, page) = api.get(&api.seller1, &path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            for item in page["items"].as_array().unwrap() {
                assert_eq!(item["bucket"], "pending");
                assert_eq!(item["amount"], 850);
                seen.push(item["order_id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, ["o0", "o1", "o2", "o3", "o4"]);
        let (status, _) = api
            .get(&api.seller1, "/v1/sellers/s1/ledger?cursor=abc")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn the_ledger_refuses_updates_and_deletes() {
    for backend in Backend::ALL {
        let api = Api::start(backend, 0).await;
        api.ok(ev("e1", "paid", "o1", "s1", 1_000)).await;
        for sql in [
            "UPDATE ledger_postings SET amount = amount + 1",
            "DELETE FROM ledger_postings",
            "UPDATE ledger_transfers SET kind = 'x'",
            "DELETE FROM ledger_events",
        ] {
            let result = match &api.db.db {
                fleet_shared::Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
                fleet_shared::Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            };
            let err = result.expect_err(sql).to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(api.balance("s1").await, (850, 0));
    }
}
