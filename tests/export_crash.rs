//! Crash injection for exports: `fleet worker export` (a real child process)
//! is killed with SIGKILL after Shopify stored a product but before the
//! worker heard back, and a new worker finishes the run. Every listing ends
//! up as exactly one product: the redone chunk finds the stored one by its
//! handle and updates it instead of creating a duplicate.

use fleet_shared::db::api_keys::Role;
use fleet_testkit::{
    Backend,
    platform::Platform,
    shopify::{FakeShopify, Hold, ShopifyLimits},
    wait_for,
    worker::WorkerProcess,
};
use serde_json::{Value, json};
use std::time::Duration;

const LISTINGS: usize = 10;

/// `fleet worker export` on the platform's database, queues and secret.
fn spawn_worker(p: &Platform) -> WorkerProcess {
    let mut env = vec![
        ("FLEET_DATABASE_URL", p.db.url.clone()),
        ("FLEET_DATA_DIR", p.config.data_dir.display().to_string()),
        ("FLEET_BLOB_URL", p.config.blob_url()),
        (
            "FLEET_EXPORT__SHOPIFY_API_BASE",
            p.config.export.shopify_api_base.clone(),
        ),
        ("FLEET_EXPORT__CHUNK_SIZE", "5".to_owned()),
        ("FLEET_QUEUE__LEASE_SECS", "2".to_owned()),
        ("FLEET_QUEUE__IDLE_POLL_MS", "50".to_owned()),
        ("FLEET_KINDS__EXPORT__BACKOFF_BASE_MS", "100".to_owned()),
    ];
    if let Some(secret) = &p.config.secret_key {
        env.push(("FLEET_SECRET_KEY", secret.clone()));
    }
    if let Some(redis) = &p.config.redis_url {
        env.push(("FLEET_REDIS_URL", redis.clone()));
    }
    WorkerProcess::spawn(env!("CARGO_BIN_EXE_fleet"), &["export"], &env)
}

async fn run_view(p: &Platform, key: &str, id: &str) -> Value {
    let (status, run) = p.call("GET", &format!("/v1/exports/{id}"), key, None).await;
    assert_eq!(status, 200, "{run}");
    run
}

async fn killed_after_shopify_stored_a_product(backend: Backend) {
    let shop = FakeShopify::start(ShopifyLimits {
        maximum_available: 1e9,
        restore_rate: 1e9,
    });
    let base = shop.base.clone();
    // The API only: the workers are child processes.
    let p = Platform::on(backend)
        .configure(move |c| c.export.shopify_api_base = base)
        .start()
        .await;
    let seller = p.key(Role::Seller, Some("s1")).await;
    let conn = json!({"shop_domain": shop.shop_domain, "access_token": shop.access_token});
    let (status, body) = p
        .call("PUT", "/v1/connections/shopify", &seller, Some(conn))
        .await;
    assert_eq!(status, 200, "{body}");
    let listings: Vec<Value> = (0..LISTINGS)
        .map(|i| {
            json!({"sku": format!("CRASH-{i:02}"), "title": format!("Lamp {i}"), "description": "Brass",
                "price": 1_500 + i, "currency": "EUR", "quantity": 1, "condition": "good"})
        })
        .collect();
    let (status, body) = p
        .call(
            "POST",
            "/v1/listings:batch",
            &seller,
            Some(json!({ "listings": listings })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    shop.hold(Hold::AfterCreate);
    let (status, run) = p
        .call(
            "POST",
            "/v1/exports",
            &seller,
            Some(json!({"marketplace": "shopify", "listings": {"all": true}, "mode": "push"})),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let worker = spawn_worker(&p);
    wait_for(
        "Shopify to store a product and hold its answer",
        Duration::from_secs(60),
        || async { (shop.held() >= 1).then_some(()) },
    )
    .await;
    let stored_before_the_kill = shop.products().len();
    assert!(stored_before_the_kill >= 1);
    worker.sigkill();
    shop.release();
    let view = run_view(&p, &seller, &id).await;
    assert!(
        view["totals"]["succeeded"].as_i64().unwrap_or(0) < stored_before_the_kill as i64,
        "killed before recording the held product: {view}"
    );

    let worker = spawn_worker(&p);
    let done = p.export_finished(&seller, &id).await;
    worker.sigkill();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["totals"]["succeeded"], LISTINGS, "{done}");
    let products = shop.products();
    assert_eq!(
        products.len(),
        LISTINGS,
        "no duplicate product: {products:?}"
    );
    assert_eq!(shop.creates() as usize, LISTINGS);
    assert!(
        shop.updates() >= 1,
        "the product stored before the kill was updated, not created again"
    );
    let mut titles: Vec<&str> = products
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(titles.len(), LISTINGS);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_after_shopify_stored_a_product_on_sqlite() {
    killed_after_shopify_stored_a_product(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_after_shopify_stored_a_product_on_postgres_and_redis() {
    killed_after_shopify_stored_a_product(Backend::RedisPostgres).await;
}
