//! The payout worker and the ledger on both backends: the release job run by
//! the real runtime, and a property test over random sequences of order
//! events, payouts, provider confirmations and failures, and replays.

use fleet_jobs::{JobStatus, WorkerKind, queues};
use fleet_shared::{
    Config, Db, Queues,
    config::QueueSettings,
    db::{jobs::NewJob, now_ms},
    ledger::{Bucket, Currency, EventType, FeePolicy, Ledger, LedgerError, OrderEvent, Rules},
};
use fleet_shared::{
    db::payouts::{PayoutRecord, PayoutStatus},
    payout::{
        PayoutError, Payouts, opening_transfer_id, paid_transfer_id, payout_id,
        returned_transfer_id, reversed_transfer_id,
    },
};
use fleet_testkit::{Backend, RedisServer, TestDb, wait_for};
use fleet_workers::{Services, runtime::WorkerPool};
use futures::future::BoxFuture;
use proptest::prelude::*;
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::oneshot;

fn event(id: &str, kind: EventType, order: &str, seller: &str, amount: i64) -> OrderEvent {
    OrderEvent {
        event_id: id.to_owned(),
        kind,
        order_id: order.to_owned(),
        seller_id: seller.to_owned(),
        amount,
        currency: Currency::new("EUR").unwrap(),
        fee: None,
    }
}

/// Balance of `seller`'s `bucket` in EUR.
async fn bucket(db: &Db, seller: &str, bucket: Bucket) -> i64 {
    db.seller_balances(seller)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.currency == "EUR" && b.bucket == bucket)
        .map_or(0, |b| b.balance)
}

#[tokio::test]
async fn release_job_makes_delivered_funds_available() {
    for backend in Backend::ALL {
        let db = TestDb::for_backend(backend).await;
        // A private Redis: this test consumes the real `payout` queue.
        let redis = match backend {
            Backend::Sqlite => None,
            Backend::RedisPostgres => Some(RedisServer::start().await),
        };
        let queues = match &redis {
            Some(r) => Queues::redis(&r.url(), db.db.clone()).await.unwrap(),
            None => db.queues().await,
        };
        let mut config = Config::default();
        config.payout.hold_days = 0;
        config.payout.fee_percent_bps = 1_000;
        config.payout.fee_fixed_minor = 0;
        let ledger = Ledger::new(queues.clone(), &config);
        ledger
            .post(&event("e1", EventType::Paid, "o1", "s1", 10_000))
            .await
            .unwrap();
        let delivered = ledger
            .post(&event("e2", EventType::Delivered, "o1", "s1", 10_000))
            .await
            .unwrap();
        assert!(delivered.event.schedules_release.is_some());
        assert_eq!(bucket(&db.db, "s1", Bucket::Pending).await, 9_000);
        // A second release job for the same order (a replayed schedule): it must not pay twice.
        let extra = NewJob::of(
            &fleet_jobs::payout::ReleaseFunds {
                order_id: "o1".into(),
                cause: "manual".into(),
            },
            3,
        )
        .unwrap();
        let extra_id = extra.id.clone();
        queues.enqueue(vec![extra]).await.unwrap();

        let services = Services {
            db: db.db.clone(),
            queues: queues.clone(),
            blobs: fleet_testkit::fs_blobs("http://127.0.0.1:1").await,
            config: Arc::new(config.clone()),
        };
        let registry = fleet_workers::registry(&[WorkerKind::Payout], &services);
        assert_eq!(registry.queues(), vec![queues::PAYOUT.to_owned()]);
        let settings = QueueSettings {
            lease_secs: 5,
            idle_poll_ms: 50,
            fetch_batch: 10,
            shutdown_grace_secs: 5,
        };
        let mut pool = WorkerPool::new(queues.clone(), registry, &settings);
        pool.add_queue(queues::PAYOUT, &config.kinds.payout, &settings);
        let (stop, stopped) = oneshot::channel::<()>();
        let worker = tokio::spawn(pool.run(async move {
            let _ = stopped.await;
        }));

        wait_for(
            "both release jobs to succeed",
            Duration::from_secs(20),
            || async {
                let s = queues.stats(queues::PAYOUT).await.unwrap();
                (s.processed == 2 && s.waiting == 0 && s.in_flight == 0).then_some(())
            },
        )
        .await;
        assert_eq!(
            db.db.job(&extra_id).await.unwrap().unwrap().status,
            JobStatus::Succeeded
        );
        assert_eq!(bucket(&db.db, "s1", Bucket::Pending).await, 0);
        assert_eq!(bucket(&db.db, "s1", Bucket::Available).await, 9_000);
        let releases = db
            .db
            .seller_ledger("s1", 0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "released")
            .count();
        assert_eq!(
            releases, 2,
            "one release transfer: pending out, available in"
        );
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(20), worker).await;
    }
}

/// One step of a random scenario.
#[derive(Debug, Clone)]
enum Op {
    /// Post an event of type `kind` on order `order` with an amount picked by `amount`.
    Event {
        order: usize,
        kind: usize,
        amount: Amount,
    },
    /// Run the release job of `order`.
    Release { order: usize },
    /// Post again the `n`-th accepted event (modulo their count).
    Replay { n: usize },
    /// Pay out seller `seller`'s available balance in the currency of order `order`
    /// (plus one when `more`: an amount the balance does not cover).
    Payout {
        seller: usize,
        gbp: bool,
        more: bool,
    },
    /// The provider confirms the `n`-th payout (modulo their count) paid, or failed;
    /// called twice when `twice` (a replayed confirmation or webhook).
    Settle { n: usize, paid: bool, twice: bool },
}

/// How an event's amount relates to its order's.
#[derive(Debug, Clone, Copy)]
enum Amount {
    Full,
    Half,
    Small(i64),
    TooMuch,
}

#[derive(Debug, Clone)]
struct Order {
    amount: i64,
    seller: usize,
    gbp: bool,
    fee: Option<i64>,
}

fn order_strategy() -> impl Strategy<Value = Order> {
    (
        1i64..50_000,
        0usize..2,
        any::<bool>(),
        proptest::option::of(0u32..=100),
    )
        .prop_map(|(amount, seller, gbp, fee_pct)| Order {
            amount,
            seller,
            gbp,
            fee: fee_pct.map(|p| amount * i64::from(p) / 100),
        })
}

fn amount_strategy() -> impl Strategy<Value = Amount> {
    prop_oneof![
        4 => Just(Amount::Full),
        2 => Just(Amount::Half),
        2 => (1i64..500).prop_map(Amount::Small),
        1 => Just(Amount::TooMuch),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let amount = amount_strategy();
    prop_oneof![
        6 => (0usize..3, 0usize..8, amount).prop_map(|(order, kind, amount)| Op::Event { order, kind, amount }),
        2 => (0usize..3).prop_map(|order| Op::Release { order }),
        2 => any::<usize>().prop_map(|n| Op::Replay { n }),
        2 => (0usize..2, any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(seller, gbp, more)| Op::Payout { seller, gbp, more }),
        2 => (any::<usize>(), any::<bool>(), any::<bool>())
            .prop_map(|(n, paid, twice)| Op::Settle { n, paid, twice }),
    ]
}

/// Runs `ops` (after paying every order once) and checks the ledger's invariants after each step.
async fn check_scenario(db: &Db, case: usize, orders: &[Order], ops: &[Op]) {
    let rules = property_rules();
    let sellers = [format!("c{case}-s0"), format!("c{case}-s1")];
    let make = |i: usize, order: &Order, kind: EventType, amount: i64| OrderEvent {
        event_id: format!("c{case}-e{i}"),
        kind,
        order_id: format!(
            "c{case}-o{}",
            orders
                .iter()
                .position(|o| std::ptr::eq(o, order))
                .unwrap_or(0)
        ),
        seller_id: sellers[order.seller].clone(),
        amount,
        currency: Currency::new(if order.gbp { "GBP" } else { "EUR" }).unwrap(),
        fee: if kind == EventType::Paid {
            order.fee
        } else {
            None
        },
    };
    let mut accepted: Vec<OrderEvent> = Vec::new();
    let payouts = Payouts::new(db.clone());
    let mut made: Vec<String> = Vec::new();
    let mut steps: Vec<Op> = (0..orders.len())
        .map(|order| Op::Event {
            order,
            kind: 0,
            amount: Amount::Full,
        })
        .collect();
    steps.extend(ops.iter().cloned());
    for (i, op) in steps.iter().enumerate() {
        let before = db.account_balances().await.unwrap();
        match op {
            Op::Event {
                order,
                kind,
                amount,
            } => {
                let o = &orders[*order];
                let kind = EventType::PUBLIC[*kind];
                let state = db.order_state(&format!("c{case}-o{order}")).await.unwrap();
                let base = match (kind, &state) {
                    (
                        EventType::Refunded | EventType::PartiallyRefunded | EventType::Disputed,
                        Some(s),
                    ) => s.refundable(),
                    (EventType::DisputeWon | EventType::DisputeLost, Some(s)) => {
                        s.dispute.as_ref().map_or(o.amount, |d| d.amount)
                    }
                    _ => o.amount,
                };
                let value = match amount {
                    Amount::Full => base,
                    Amount::Half => base / 2,
                    Amount::Small(n) => *n,
                    Amount::TooMuch => base + 1,
                }
                .max(1);
                let ev = make(i, o, kind, value);
                match db.record_order_event(&ev, &rules, now_ms()).await {
                    Ok(r) => {
                        assert!(!r.replayed);
                        accepted.push(ev);
                    }
                    Err(LedgerError::Rejected(_)) => {
                        assert_eq!(
                            db.account_balances().await.unwrap(),
                            before,
                            "a refused event changes nothing"
                        );
                    }
                    Err(other) => panic!("{other}"),
                }
            }
            Op::Release { order } => {
                match db
                    .release_order(&format!("c{case}-o{order}"), &rules, now_ms())
                    .await
                {
                    Ok(_) | Err(LedgerError::Rejected(_)) => {}
                    Err(other) => panic!("{other}"),
                }
            }
            Op::Payout { seller, gbp, more } => {
                let seller = &sellers[*seller];
                let currency = if *gbp { "GBP" } else { "EUR" };
                let available = db
                    .seller_balances(seller)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|b| b.currency == currency && b.bucket == Bucket::Available)
                    .map_or(0, |b| b.balance);
                let amount = (available + i64::from(*more)).max(1);
                let run_id = format!("c{case}-run{i}");
                db.create_payout_run(&run_id, "manual", Some(seller), "stripe", now_ms())
                    .await
                    .unwrap();
                let id = payout_id(&run_id, seller, currency);
                db.insert_payout(&PayoutRecord {
                    id: id.clone(),
                    run_id,
                    seller_id: seller.clone(),
                    currency: currency.to_owned(),
                    amount,
                    provider: "stripe".to_owned(),
                    status: PayoutStatus::Created,
                    provider_ref: None,
                    batch_id: None,
                    failure: None,
                    created_at: now_ms(),
                    updated_at: now_ms(),
                })
                .await
                .unwrap();
                let opened = payouts.open(&id).await.unwrap();
                if amount > available {
                    assert_eq!(
                        opened.status,
                        PayoutStatus::Rejected,
                        "{available} < {amount}"
                    );
                    assert_eq!(
                        db.account_balances().await.unwrap(),
                        before,
                        "a rejected payout moves nothing"
                    );
                } else {
                    assert_eq!(opened.status, PayoutStatus::InTransit);
                }
                // Opening again (a retried run) changes nothing.
                let during = db.account_balances().await.unwrap();
                payouts.open(&id).await.unwrap();
                assert_eq!(db.account_balances().await.unwrap(), during);
                made.push(id);
            }
            Op::Settle { n, paid, twice } => {
                if made.is_empty() {
                    continue;
                }
                let id = &made[n % made.len()];
                for round in 0..(1 + usize::from(*twice)) {
                    let at = db.account_balances().await.unwrap();
                    let status = db.payout(id).await.unwrap().unwrap().status;
                    let result = if *paid {
                        payouts.paid(id, Some("tr_x")).await.map(|_| ())
                    } else {
                        payouts.failed(id, "provider said no").await.map(|_| ())
                    };
                    match result {
                        Ok(()) => {}
                        Err(PayoutError::WrongStatus { .. }) => {
                            assert_eq!(db.account_balances().await.unwrap(), at)
                        }
                        Err(PayoutError::Ledger(LedgerError::Excluded { .. })) => {
                            assert!(*paid, "only paid is refused after a return");
                            assert_eq!(db.account_balances().await.unwrap(), at);
                        }
                        Err(other) => panic!("{other}"),
                    }
                    let target = if *paid {
                        PayoutStatus::Paid
                    } else {
                        PayoutStatus::Failed
                    };
                    if round == 1 || status == target {
                        assert_eq!(
                            db.account_balances().await.unwrap(),
                            at,
                            "a replayed settlement is a no-op"
                        );
                    }
                }
            }
            Op::Replay { n } => {
                if accepted.is_empty() {
                    continue;
                }
                let ev = accepted[n % accepted.len()].clone();
                let r = db.record_order_event(&ev, &rules, now_ms()).await.unwrap();
                assert!(r.replayed, "{ev:?}");
                assert_eq!(
                    db.account_balances().await.unwrap(),
                    before,
                    "a replay changes nothing"
                );
                let mut other = ev.clone();
                other.amount += 1;
                assert!(matches!(
                    db.record_order_event(&other, &rules, now_ms()).await,
                    Err(LedgerError::ConflictingReplay { .. })
                ));
            }
        }
        // Postings sum to zero per currency.
        for (currency, sum) in db.ledger_totals().await.unwrap() {
            assert_eq!(sum, 0, "{currency} after {op:?}");
        }
        // No bucket but `available` is ever negative.
        let balances = db.account_balances().await.unwrap();
        for b in &balances {
            if b.bucket != Bucket::Available {
                assert!(b.balance >= 0, "{b:?} after {op:?}");
            }
        }
        // Every payout's status matches the transfers the ledger holds for it:
        // paid and returned exclude each other, each posted at most once.
        let ids = db.payout_transfer_ids().await.unwrap();
        for id in &made {
            let p = db.payout(id).await.unwrap().unwrap();
            let has = |t: String| ids.contains(&t);
            let (open, paid, returned, reversed) = (
                has(opening_transfer_id(id)),
                has(paid_transfer_id(id)),
                has(returned_transfer_id(id)),
                has(reversed_transfer_id(id)),
            );
            let ok = match p.status {
                PayoutStatus::Rejected | PayoutStatus::Created => {
                    !open && !paid && !returned && !reversed
                }
                PayoutStatus::InTransit | PayoutStatus::Submitted => {
                    open && !paid && !returned && !reversed
                }
                PayoutStatus::Paid => open && paid && !returned && !reversed,
                PayoutStatus::Failed => {
                    open && !(paid && returned) && (returned || (paid && reversed))
                }
            };
            assert!(
                ok,
                "{p:?}: open {open} paid {paid} returned {returned} reversed {reversed}"
            );
        }
        // What the orders still hold is in the seller's pending, available, in transit and paid out.
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        for n in 0..orders.len() {
            if let Some(s) = db.order_state(&format!("c{case}-o{n}")).await.unwrap() {
                *expected
                    .entry((s.seller_id.clone(), s.currency.to_string()))
                    .or_default() += s.held();
            }
        }
        for seller in &sellers {
            for b in db.seller_balances(seller).await.unwrap() {
                let key = (seller.clone(), b.currency.clone());
                if Bucket::SELLER.contains(&b.bucket) {
                    *expected.entry(key).or_default() -= b.balance;
                }
            }
        }
        assert!(
            expected.values().all(|v| *v == 0),
            "{expected:?} after {op:?}"
        );
    }
}

/// The fees and hold period of the property tests: 7% + 0.30, no hold.
fn property_rules() -> Rules {
    Rules {
        fees: FeePolicy {
            percent_bps: 700,
            fixed_minor: 30,
        },
        hold_ms: 0,
    }
}

/// Runs `check` on `cases` random values of `strategy` against a database of
/// each backend, with the case's number (for names unique in the database).
fn property<S: Strategy>(
    cases: u32,
    strategy: S,
    check: impl Fn(&Db, usize, S::Value) -> BoxFuture<'_, ()>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for backend in Backend::ALL {
        let db = rt.block_on(TestDb::for_backend(backend));
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let case = std::sync::atomic::AtomicUsize::new(0);
        runner
            .run(&strategy, |value| {
                let n = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                rt.block_on(check(&db.db, n, value));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
    }
}

#[test]
fn random_event_sequences_keep_the_ledger_consistent() {
    let strategy = (
        proptest::collection::vec(order_strategy(), 3),
        proptest::collection::vec(op_strategy(), 1..30),
    );
    property(48, strategy, |db, n, (orders, ops)| {
        Box::pin(async move { check_scenario(db, n, &orders, &ops).await })
    });
}

/// A step of [`batches_record_what_one_by_one_would`].
#[derive(Debug, Clone)]
enum Step {
    /// A new event of kind `EventType::PUBLIC[kind]` on order `order`.
    New {
        order: usize,
        kind: usize,
        amount: Amount,
    },
    /// The `n`-th event so far (modulo their count) again; one more in amount when `changed`.
    Again { n: usize, changed: bool },
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let amount = amount_strategy();
    prop_oneof![
        6 => (0usize..3, 0usize..8, amount).prop_map(|(order, kind, amount)| Step::New { order, kind, amount }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(n, changed)| Step::Again { n, changed }),
    ]
}

/// The events `steps` make for orders, sellers and event ids named after `prefix`.
fn step_events(prefix: &str, orders: &[Order], steps: &[Step]) -> Vec<OrderEvent> {
    let mut events: Vec<OrderEvent> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let event = match step {
            Step::New {
                order,
                kind,
                amount,
            } => {
                let o = &orders[*order];
                let kind = EventType::PUBLIC[*kind];
                OrderEvent {
                    event_id: format!("{prefix}-e{i}"),
                    kind,
                    order_id: format!("{prefix}-o{order}"),
                    seller_id: format!("{prefix}-s{}", o.seller),
                    amount: match amount {
                        Amount::Full => o.amount,
                        Amount::Half => o.amount / 2,
                        Amount::Small(n) => *n,
                        Amount::TooMuch => o.amount + 1,
                    }
                    .max(1),
                    currency: Currency::new(if o.gbp { "GBP" } else { "EUR" }).unwrap(),
                    fee: if kind == EventType::Paid { o.fee } else { None },
                }
            }
            Step::Again { n, changed } => {
                let Some(earlier) = events.get(n % events.len().max(1)) else {
                    continue;
                };
                let mut again = earlier.clone();
                again.amount += i64::from(*changed);
                again
            }
        };
        events.push(event);
    }
    events
}

/// What a result says, without the names that differ between the two runs.
fn outcome(result: &Result<fleet_shared::db::ledger::Recorded, LedgerError>) -> String {
    match result {
        Ok(r) => format!(
            "replayed {} {} {} fee {:?} {:?} release {}",
            r.replayed,
            r.event.kind,
            r.event.amount,
            r.event.fee,
            r.event
                .postings
                .iter()
                .map(|p| (p.bucket, p.seller_id.is_some(), p.amount))
                .collect::<Vec<_>>(),
            r.event.schedules_release.is_some()
        ),
        Err(LedgerError::Rejected(rejection)) => rejection.reason().to_owned(),
        Err(LedgerError::ConflictingReplay { .. }) => "conflicting replay".to_owned(),
        Err(other) => panic!("{other}"),
    }
}

/// Posts the same random events one by one and in random batches: every
/// event gets the same answer, and the sellers end with the same balances.
#[test]
fn batches_record_what_one_by_one_would() {
    let rules = property_rules();
    let strategy = (
        proptest::collection::vec(order_strategy(), 3),
        proptest::collection::vec(step_strategy(), 1..40),
        proptest::collection::vec(1usize..8, 1..10),
    );
    property(32, strategy, |db, n, (orders, steps, sizes)| {
        Box::pin(async move {
            let (one, many) = (format!("a{n}"), format!("b{n}"));
            let mut singly = Vec::new();
            for event in step_events(&one, &orders, &steps) {
                singly.push(db.record_order_event(&event, &rules, now_ms()).await);
            }
            let events = step_events(&many, &orders, &steps);
            let mut batched = Vec::new();
            let mut rest = events.as_slice();
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (batch, after) = rest.split_at((*size).min(rest.len()));
                batched.extend(
                    db.record_order_events(batch, &rules, now_ms())
                        .await
                        .unwrap(),
                );
                rest = after;
            }
            let singly: Vec<String> = singly.iter().map(outcome).collect();
            let batched: Vec<String> = batched.iter().map(outcome).collect();
            assert_eq!(singly, batched, "{steps:?} in batches of {sizes:?}");
            for s in 0..2 {
                assert_eq!(
                    db.seller_balances(&format!("{one}-s{s}")).await.unwrap(),
                    db.seller_balances(&format!("{many}-s{s}")).await.unwrap(),
                );
            }
            for (currency, sum) in db.ledger_totals().await.unwrap() {
                assert_eq!(sum, 0, "{currency}");
            }
        })
    });
}

/// The largest batch the API takes, each event in a currency and for a
/// seller of its own (8,000 accounts to create in one transaction).
#[tokio::test]
async fn a_full_batch_of_new_sellers_and_currencies_is_recorded() {
    let rules = Rules {
        fees: FeePolicy {
            percent_bps: 500,
            fixed_minor: 0,
        },
        hold_ms: 0,
    };
    for backend in Backend::ALL {
        let db = TestDb::for_backend(backend).await;
        let letters = |n: usize| {
            let l = |i: usize| char::from(b'A' + (i % 26) as u8);
            format!("{}{}{}", l(n / 676), l(n / 26), l(n))
        };
        let events: Vec<OrderEvent> = (0..1_000)
            .map(|n| OrderEvent {
                currency: Currency::new(&letters(n)).unwrap(),
                ..event(
                    &format!("e{n}"),
                    EventType::Paid,
                    &format!("o{n}"),
                    &format!("s{n}"),
                    1_000,
                )
            })
            .collect();
        let results = db
            .db
            .record_order_events(&events, &rules, now_ms())
            .await
            .unwrap();
        assert_eq!(results.len(), 1_000);
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().is_ok_and(|r| !r.replayed))
        );
        let totals = db.db.ledger_totals().await.unwrap();
        assert_eq!(totals.len(), 1_000, "{backend:?}");
        assert!(totals.iter().all(|(_, sum)| *sum == 0));
        let pending = db.db.seller_balances("s999").await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].currency.as_str(), pending[0].balance),
            (letters(999).as_str(), 950)
        );
    }
}
