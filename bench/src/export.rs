//! Export speed and memory, run by `bench/export/run`: the export worker's
//! real runtime (plan job, chunk jobs, file job on the SQL queue backend)
//! over a fresh SQLite catalogue of one seller.
//!
//! `export-bench push N MAX RESTORE`: N listings pushed to the local fake of
//! Shopify's Admin GraphQL API whose cost bucket holds MAX points and
//! restores RESTORE a second (`productSet` costs 10): the run's wall time,
//! products per second, and how often Shopify answered THROTTLED.
//!
//! `export-bench amazon N`: N offers pushed to the local fake of Amazon's
//! SP-API, which allows `putListingsItem` 5 requests a second in bursts of 10
//! (429 beyond): requests per second against that limit, and how often the
//! fake refused one (never, if Fleet paces itself right).
//!
//! Push modes also report the process's CPU time per listing (the fake
//! server runs in the same process, so its share is included).
//!
//! `export-bench file N FORMAT`: N listings written as FORMAT
//! (`shopify_csv`, `amazon_json`, `generic_csv`) into the local blob store:
//! wall time and the process's peak RSS (memory must not grow with N).
//!
//! Prints one JSON line.

mod rss;

use fleet_jobs::{
    WorkerKind,
    export::{Marketplace, PlanExport},
};
use fleet_shared::{
    Config, Db, Queues,
    db::{
        exports::NewRun,
        jobs::NewJob,
        listings::{CategoryChange, Condition, ListingWrite},
    },
    export::{
        ExportMode, FileFormat, RunStatus,
        connection::{self, ConnectionFields},
    },
    seal::Sealer,
    secret::SecretKey,
};
use fleet_testkit::{
    amazon::FakeAmazon,
    shopify::{FakeShopify, ShopifyLimits},
};
use fleet_workers::{Services, runtime::WorkerPool};
use serde_json::{Map, json};
use std::{sync::Arc, time::Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SELLER: &str = "bench-seller";

/// A listing with every field an export sends.
fn listing(n: usize) -> ListingWrite {
    ListingWrite {
        sku: format!("BENCH-{n:07}"),
        title: format!("Vintage wool jumper, hand knitted, size M ({n})"),
        description: "Warm Shetland wool jumper in very good condition. Hand wash only.\n\nFrom a smoke-free home.".to_owned(),
        price_minor: Some(2_500 + (n % 1_000) as i64),
        currency: Some("EUR".to_owned()),
        quantity: 1,
        condition: Condition::Good,
        brand: Some("Acme Knitwear".to_owned()),
        size: Some("M".to_owned()),
        colour: Some("Navy".to_owned()),
        material: Some("Wool".to_owned()),
        category: CategoryChange::Seller(Some("gid://shopify/TaxonomyCategory/aa-1-13-8".to_owned())),
        images: Vec::new(),
        attributes: Map::new(),
    }
}

/// Where a run sends its listings.
enum Target<'a> {
    Shopify(&'a FakeShopify),
    Amazon(&'a FakeAmazon),
    File(FileFormat),
}

/// CPU seconds (user + system) this process has used.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

async fn run(n: usize, target: Target<'_>) -> Result<serde_json::Value, BoxError> {
    let dir = std::env::temp_dir().join(format!("fleet-export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}/fleet.db", dir.display());
    let mut config = Config {
        database_url: Some(url.clone()),
        data_dir: dir.clone(),
        blob_url: Some(format!("file://{}/blobs", dir.display())),
        secret_key: Some("fleet-export-bench-secret-key-0123456789abcdef".to_owned()),
        ..Config::default()
    };
    config.queue.idle_poll_ms = 20;
    match &target {
        Target::Shopify(shop) => config.export.shopify_api_base = shop.base.clone(),
        Target::Amazon(amazon) => {
            config.export.amazon_api_base = amazon.base.clone();
            config.export.amazon_token_url = amazon.token_url();
        }
        Target::File(_) => {}
    }
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let secret = SecretKey::load(&config)?;
    let blobs = fleet_shared::blob::open(&config, &secret).await?;
    let queues = Queues::sql(db.clone());

    eprintln!("seeding {n} listings");
    let mut writes: Vec<ListingWrite> = (0..n).map(listing).collect();
    if let Target::Amazon(_) = target {
        // Offers on catalogue products, as second-hand sellers make them.
        for (i, w) in writes.iter_mut().enumerate() {
            w.attributes
                .insert("ean".to_owned(), json!(format!("4{i:012}")));
        }
    }
    for batch in writes.chunks(1_000) {
        db.upsert_listings(SELLER, batch).await?;
    }
    drop(writes);
    let mut fields = ConnectionFields::default();
    let mut setting = |name: &str, value: serde_json::Value| {
        fields.settings.insert(name.to_owned(), value);
    };
    let (marketplace, mode, format) = match &target {
        Target::Shopify(shop) => {
            setting("shop_domain", json!(shop.shop_domain));
            fields
                .secrets
                .insert("access_token".to_owned(), json!(shop.access_token));
            (Marketplace::Shopify, ExportMode::Push, None)
        }
        Target::Amazon(amazon) => {
            setting("seller_id", json!(amazon.seller_id));
            setting("marketplace_ids", json!(amazon.marketplace_ids));
            setting("lwa_client_id", json!(amazon.client_id));
            for (name, value) in [
                ("lwa_client_secret", &amazon.client_secret),
                ("refresh_token", &amazon.refresh_token),
            ] {
                fields.secrets.insert(name.to_owned(), json!(value));
            }
            (Marketplace::Amazon, ExportMode::Push, None)
        }
        // An Amazon feed names the seller and marketplace of the connection.
        Target::File(FileFormat::AmazonJson) => {
            setting("seller_id", json!("A2BENCHSELLER"));
            setting("marketplace_ids", json!(["A1PA6795UKMFR9"]));
            (
                Marketplace::Amazon,
                ExportMode::File,
                Some(FileFormat::AmazonJson),
            )
        }
        Target::File(format) => (Marketplace::Shopify, ExportMode::File, Some(*format)),
    };
    connection::store(
        &db,
        &Sealer::credentials(&secret),
        SELLER,
        marketplace,
        &fields,
    )
    .await?;

    let services = Services {
        db: db.clone(),
        queues: queues.clone(),
        blobs,
        config: Arc::new(config.clone()),
    };
    let mut pool = WorkerPool::new(
        queues.clone(),
        fleet_workers::registry(&[WorkerKind::Export], &services),
        &config.queue,
    );
    for queue in WorkerKind::Export.queues() {
        pool.add_queue(queue, config.kinds.of(WorkerKind::Export), &config.queue);
    }
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(pool.run(async move {
        let _ = stopped.wait_for(|v| *v).await;
    }));

    let id = ulid::Ulid::new().to_string().to_lowercase();
    let started = Instant::now();
    let cpu_before = cpu_secs();
    db.create_run(&NewRun {
        id: id.clone(),
        seller_id: SELLER.to_owned(),
        marketplace,
        mode,
        format,
        dry_run: false,
        selection: json!({"all": true}),
    })
    .await?;
    let plan = PlanExport {
        run_id: id.clone(),
        marketplace,
    };
    queues.enqueue(vec![NewJob::of(&plan, 5)?]).await?;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if db.run_status(&id).await?.is_some_and(RunStatus::is_final) {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_before;
    let record = db.run(&id).await?.ok_or("the run vanished")?;
    let _ = stop.send(true);
    let _ = worker.await;
    std::fs::remove_dir_all(&dir)?;
    Ok(json!({
        "listings": n,
        "status": record.status.as_str(),
        "error": record.error,
        "succeeded": record.totals.succeeded,
        "failed": record.totals.failed,
        "secs": secs,
        "per_sec": n as f64 / secs,
        "files": record.files.len(),
        "cpu_ms_per_listing": cpu * 1000.0 / n as f64,
        "peak_rss_mib": rss::peak_rss_mib_of("self"),
    }))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: export-bench push N MAX RESTORE | export-bench amazon N | export-bench file N FORMAT";
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).ok_or(usage)?;
    let out = match args.get(1).map(String::as_str) {
        Some("push") => {
            let max: f64 = args.get(3).and_then(|a| a.parse().ok()).ok_or(usage)?;
            let restore: f64 = args.get(4).and_then(|a| a.parse().ok()).ok_or(usage)?;
            let shop = FakeShopify::start(ShopifyLimits {
                maximum_available: max,
                restore_rate: restore,
            });
            let mut out = run(n, Target::Shopify(&shop)).await?;
            out["mode"] = json!("push");
            out["bucket"] = json!(format!("{max}/{restore}"));
            out["throttled"] = json!(shop.throttled());
            out["products"] = json!(shop.products().len());
            out
        }
        Some("amazon") => {
            let amazon = FakeAmazon::start();
            let mut out = run(n, Target::Amazon(&amazon)).await?;
            // Past the first burst of 10, the fake allows 5 requests a second.
            let steady =
                (f64::from(amazon.puts()) - 10.0).max(0.0) / out["secs"].as_f64().unwrap_or(1.0);
            out["mode"] = json!("amazon");
            out["bucket"] = json!("10/5");
            out["puts"] = json!(amazon.puts());
            out["throttled"] = json!(amazon.throttled());
            out["steady_per_sec"] = json!(steady);
            out["percent_of_limit"] = json!(steady / 5.0 * 100.0);
            out["products"] = json!(amazon.listings());
            out
        }
        Some("file") => {
            let format = args
                .get(3)
                .and_then(|f| FileFormat::parse(f))
                .ok_or(usage)?;
            let mut out = run(n, Target::File(format)).await?;
            out["mode"] = json!(format.as_str());
            out
        }
        _ => return Err(usage.into()),
    };
    println!("{out}");
    Ok(())
}
