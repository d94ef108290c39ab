//! Ledger and payout speed, on the database `FLEET_DATABASE_URL` names
//! (PostgreSQL or SQLite), run by `bench/payout/run`.
//!
//! `payout-bench events SELLERS WRITERS BATCH`: a fresh, migrated database
//! gets one order per seller, posted by WRITERS concurrent tasks in batches
//! of BATCH events through [`Ledger::post_batch`] (what `POST
//! /v1/orders/events:batch` calls; BATCH 1 is what [`Ledger::post`] does for
//! `POST /v1/orders/events`): all `paid` events (one transfer each), then
//! `delivered`, then `completed` (one release transfer each), each phase
//! timed. Then, untimed, every seller gets bank details. Prints one JSON
//! line.
//!
//! `payout-bench run`: in a new process (so its peak RSS is the run's), one
//! payout run over every seller with an available balance (the worker's
//! [`RunHandler::run`]: a payout per seller, funds available → in transit),
//! then the run's SEPA file ([`SepaBatchHandler`]). Prints one JSON line.
//!
//! Queued jobs go to the database's own jobs table (nothing consumes them):
//! the benchmark needs no Redis and leaves none behind.

mod rss;

use fleet_jobs::payout::{BuildSepaBatch, RunPayouts};
use fleet_shared::{
    Config, Db, Queues,
    config::PayoutProvider,
    ledger::{Currency, EventType, Ledger, OrderEvent},
    payout::{
        Payouts,
        bank::{BankAccount, PayoutDestination},
        destination,
    },
    seal::Sealer,
    secret::SecretKey,
};
use fleet_workers::{
    payout::{PayoutServices, RunHandler, SepaBatchHandler},
    runtime::{JobContext, JobHandler},
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The secret that seals the sellers' bank details (the same in both modes).
const SECRET: &str = "fleet-payout-bench-secret-key-0123456789abcdef";
/// What each order is paid, in cents.
const ORDER_CENTS: i64 = 5_000;
/// The run's id.
const RUN_ID: &str = "manual:bench";

fn config(url: &str) -> Config {
    let mut config = Config {
        database_url: Some(url.to_owned()),
        secret_key: Some(SECRET.to_owned()),
        blob_url: Some(format!(
            "file://{}",
            std::env::temp_dir()
                .join(format!("fleet-payout-bench-{}", std::process::id()))
                .display()
        )),
        ..Config::default()
    };
    config.payout.hold_days = 0;
    config.payout.provider = PayoutProvider::Sepa;
    config.payout.sepa_debtor_iban = Some("DE02120300000000202051".to_owned());
    config.payout.sepa_debtor_bic = Some("BYLADEM1001".to_owned());
    config
}

fn seller(n: usize) -> String {
    format!("bench-s{n:06}")
}

/// Posts `kind` for every order, `writers` tasks each taking every
/// `writers`-th order, `batch` events per call.
async fn phase(
    ledger: &Ledger,
    sellers: usize,
    writers: usize,
    batch: usize,
    kind: EventType,
) -> Result<(Duration, usize), BoxError> {
    let eur = Currency::new("EUR")?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let ledger = ledger.clone();
        let eur = eur.clone();
        tasks.push(tokio::spawn(async move {
            let mut transfers = 0usize;
            let orders: Vec<usize> = (w..sellers).step_by(writers).collect();
            for chunk in orders.chunks(batch) {
                let events: Vec<OrderEvent> = chunk
                    .iter()
                    .map(|n| OrderEvent {
                        event_id: format!("{}-{n}", kind.as_str()),
                        kind,
                        order_id: format!("bench-o{n:06}"),
                        seller_id: seller(*n),
                        amount: ORDER_CENTS,
                        currency: eur.clone(),
                        fee: None,
                    })
                    .collect();
                for r in ledger.post_batch(&events).await? {
                    transfers += usize::from(r?.event.transfer_id.is_some());
                }
            }
            Ok::<usize, BoxError>(transfers)
        }));
    }
    let mut transfers = 0;
    for t in tasks {
        transfers += t.await??;
    }
    Ok((started.elapsed(), transfers))
}

async fn events(url: &str, sellers: usize, writers: usize, batch: usize) -> Result<(), BoxError> {
    let config = config(url);
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let ledger = Ledger::new(Queues::sql(db.clone()), &config);
    let mut out = serde_json::Map::new();
    for kind in [EventType::Paid, EventType::Delivered, EventType::Completed] {
        let (took, transfers) = phase(&ledger, sellers, writers, batch, kind).await?;
        let secs = took.as_secs_f64();
        eprintln!(
            "{}: {sellers} events in {secs:.1} s ({:.0}/s), {transfers} transfers",
            kind.as_str(),
            sellers as f64 / secs
        );
        out.insert(
            kind.as_str().to_owned(),
            serde_json::json!({
                "events": sellers,
                "transfers": transfers,
                "secs": secs,
                "events_per_sec": sellers as f64 / secs,
                "transfers_per_sec": transfers as f64 / secs,
            }),
        );
    }
    let totals = db.ledger_totals().await?;
    if totals.iter().any(|(_, sum)| *sum != 0) {
        return Err(format!("the ledger does not balance: {totals:?}").into());
    }

    // Bank details for every seller (untimed).
    let sealer = Arc::new(Sealer::credentials(&SecretKey::load(&config)?));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (db, sealer) = (db.clone(), Arc::clone(&sealer));
        tasks.push(tokio::spawn(async move {
            for n in (w..sellers).step_by(writers) {
                let bank = BankAccount::new(
                    &format!("Seller {n}"),
                    "DE89370400440532013000",
                    "COBADEFFXXX",
                )
                .map_err(|(field, message)| format!("bank details: {field}: {message}"))?;
                let dest = PayoutDestination {
                    bank: Some(bank),
                    stripe_account: None,
                };
                destination::store(&db, &sealer, &seller(n), &dest).await?;
            }
            Ok::<(), BoxError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    out.insert("backend".into(), backend(&db).into());
    out.insert("sellers".into(), sellers.into());
    out.insert("writers".into(), writers.into());
    out.insert("batch".into(), batch.into());
    out.insert("ledger_totals".into(), serde_json::json!(totals));
    println!("{}", serde_json::Value::Object(out));
    db.close().await;
    Ok(())
}

fn backend(db: &Db) -> &'static str {
    if db.is_sqlite() { "sqlite" } else { "postgres" }
}

async fn run(url: &str) -> Result<(), BoxError> {
    let config = Arc::new(config(url));
    let db = Db::connect(url).await?;
    let secret = SecretKey::load(&config)?;
    let services = PayoutServices {
        payouts: Payouts::new(db.clone()),
        queues: Queues::sql(db.clone()),
        blobs: fleet_shared::blob::open(&config, &secret).await?,
        config: Arc::clone(&config),
    };
    let rss_before = rss::peak_rss_mib_of("self");
    let started = Instant::now();
    let summary = RunHandler::new(services.clone())
        .run(&RunPayouts {
            run_id: RUN_ID.to_owned(),
            seller_id: None,
        })
        .await?;
    let run_secs = started.elapsed().as_secs_f64();
    let run_rss = rss::peak_rss_mib_of("self");
    eprintln!(
        "payout run: {} payouts in {run_secs:.1} s, peak RSS {run_rss:.1} MiB",
        summary.payouts
    );

    let started = Instant::now();
    let ctx = JobContext {
        id: "bench".to_owned(),
        queue: fleet_jobs::queues::PAYOUT.to_owned(),
        attempt: 1,
        max_attempts: 1,
        db: db.clone(),
    };
    SepaBatchHandler::new(services.clone())
        .handle(
            BuildSepaBatch {
                run_id: RUN_ID.to_owned(),
            },
            ctx,
        )
        .await?;
    let sepa_secs = started.elapsed().as_secs_f64();
    let batch = db
        .sepa_batch(&fleet_workers::payout::sepa::batch_id(RUN_ID))
        .await?
        .ok_or("the run wrote no SEPA batch")?;
    let in_transit: i64 = db
        .seller_balances(&seller(0))
        .await?
        .iter()
        .filter(|b| b.bucket == fleet_shared::ledger::Bucket::InTransit)
        .map(|b| b.balance)
        .sum();
    let totals = db.ledger_totals().await?;
    if totals.iter().any(|(_, sum)| *sum != 0) {
        return Err(format!("the ledger does not balance: {totals:?}").into());
    }
    println!(
        "{}",
        serde_json::json!({
            "backend": backend(&db),
            "payouts": summary.payouts,
            "skipped": summary.skipped,
            "rejected": summary.rejected,
            "run_secs": run_secs,
            "payouts_per_sec": summary.payouts as f64 / run_secs,
            "rss_before_mib": rss_before,
            "run_peak_rss_mib": run_rss,
            "sepa_secs": sepa_secs,
            "sepa_payouts": batch.payouts,
            "sepa_ctrl_sum": batch.ctrl_sum,
            "peak_rss_mib": rss::peak_rss_mib_of("self"),
            "first_seller_in_transit": in_transit,
        })
    );
    db.close().await;
    if let Some(dir) = config
        .blob_url
        .as_deref()
        .and_then(|u| u.strip_prefix("file://"))
    {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("FLEET_DATABASE_URL")
        .map_err(|_| "set FLEET_DATABASE_URL to a postgres:// or sqlite:// database")?;
    let usage = "usage: payout-bench events SELLERS WRITERS BATCH | payout-bench run";
    match args.first().map(String::as_str) {
        Some("events") => {
            let sellers: usize = args.get(1).ok_or(usage)?.parse()?;
            let writers: usize = args.get(2).ok_or(usage)?.parse()?;
            let batch: usize = args.get(3).ok_or(usage)?.parse()?;
            events(&url, sellers, writers.max(1), batch.max(1)).await
        }
        Some("run") => run(&url).await,
        _ => Err(usage.into()),
    }
}
