//! Listings get categories end to end on both backends: a batch upsert over
//! HTTP enqueues categorize jobs, the categorize worker (the embedded model)
//! applies a confident category, keeps the seller's own, and leaves ranked
//! suggestions on the listing; `POST /v1/listings/categorize` runs it again.

use fleet_jobs::{WorkerKind, queues};
use fleet_shared::{db::api_keys::Role, queue::report::report};
use fleet_testkit::{Backend, platform::Platform, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

const SELLER_CATEGORY: &str = "gid://shopify/TaxonomyCategory/aa-1-15";

async fn listing(p: &Platform, key: &str, id: &str) -> Value {
    let (status, body) = p
        .call("GET", &format!("/v1/listings/{id}"), key, None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The listing once the categorize worker has left suggestions newer than `since` (ms).
/// On a machine without the category-vector cache the first job builds it
/// (about 6 minutes of CPU in a debug build), hence the long wait.
async fn categorized(p: &Platform, key: &str, id: &str, title: &str) -> Value {
    wait_for(
        "the listing to be categorized",
        Duration::from_secs(1_200),
        || async {
            let l = listing(p, key, id).await;
            (l["title"] == title && l["category_suggestions"]["suggestions"].is_array())
                .then_some(l)
        },
    )
    .await
}

fn gid_within(gid: &Value, prefix: &str) -> bool {
    gid.as_str().is_some_and(|g| {
        let id = g.trim_start_matches("gid://shopify/TaxonomyCategory/");
        id == prefix || id.starts_with(&format!("{prefix}-"))
    })
}

async fn flow(backend: Backend) {
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Categorize])
        .configure(|c| {
            // The category-vector cache survives between runs (shared with the workers' tests).
            c.data_dir = std::env::temp_dir().join("fleet-test-categorize");
            c.categorize.apply_threshold = 0.0;
        })
        .start()
        .await;
    let seller = p.key(Role::Seller, Some("s1")).await;
    let other = p.key(Role::Seller, Some("s2")).await;
    let batch = json!({"listings": [
        {"sku": "J-1", "title": "Levi's 501 jeans W32 L32", "description": "Dark blue denim", "quantity": 1, "condition": "good"},
        {"sku": "P-1", "title": "Nike running shoes size 42", "description": "", "quantity": 1, "condition": "like_new",
         "category": SELLER_CATEGORY},
    ]});
    let (status, body) = p
        .call("POST", "/v1/listings:batch", &seller, Some(batch))
        .await;
    assert_eq!(status, 200, "{body}");
    let jeans = body["results"][0]["id"].as_str().unwrap().to_owned();
    let shoes = body["results"][1]["id"].as_str().unwrap().to_owned();

    // A confident suggestion becomes the category; suggestions are ranked.
    let l = categorized(&p, &seller, &jeans, "Levi's 501 jeans W32 L32").await;
    assert_eq!(l["category_source"], "auto", "{l}");
    assert!(gid_within(&l["category"], "aa-1"), "{l}");
    let suggestions = l["category_suggestions"]["suggestions"].as_array().unwrap();
    assert!(suggestions.len() > 1);
    assert_eq!(suggestions[0]["gid"], l["category"]);
    let confidences: Vec<f64> = suggestions
        .iter()
        .map(|s| s["confidence"].as_f64().unwrap())
        .collect();
    assert!(
        confidences.windows(2).all(|w| w[0] >= w[1]),
        "{confidences:?}"
    );

    // The seller's own category is kept; the suggestions are still there for them.
    let l = categorized(&p, &seller, &shoes, "Nike running shoes size 42").await;
    assert_eq!(l["category"], SELLER_CATEGORY);
    assert_eq!(l["category_source"], "seller");
    assert!(
        gid_within(&l["category_suggestions"]["suggestions"][0]["gid"], "aa-8"),
        "{l}"
    );

    // A new title is categorized again.
    let (status, body) = p
        .call(
            "PATCH",
            &format!("/v1/listings/{jeans}"),
            &seller,
            Some(json!({"title": "iPhone 11 128GB unlocked"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let l = wait_for(
        "the new title's category",
        Duration::from_secs(120),
        || async {
            let l = listing(&p, &seller, &jeans).await;
            gid_within(&l["category"], "el").then_some(l)
        },
    )
    .await;
    assert_eq!(l["category_source"], "auto");

    // On demand, for some ids; unknown and other sellers' ids are named, not enqueued.
    let (status, body) = p
        .call(
            "POST",
            "/v1/listings/categorize",
            &seller,
            Some(json!({"ids": [jeans, shoes, "nope"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["enqueued"], 2);
    assert_eq!(body["not_found"], json!(["nope"]));
    let (status, body) = p
        .call(
            "POST",
            "/v1/listings/categorize",
            &other,
            Some(json!({"ids": [jeans]})),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        body["enqueued"], 0,
        "another seller's listing is not theirs to categorize"
    );
    let (status, body) = p
        .call(
            "POST",
            "/v1/listings/categorize",
            &other,
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!((status, body["enqueued"].as_u64()), (202, Some(0)));
    let (status, body) = p
        .call(
            "POST",
            "/v1/listings/categorize",
            &seller,
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(
        (status, body["enqueued"].as_u64()),
        (202, Some(2)),
        "{body}"
    );
    for bad in [
        json!({}),
        json!({"all": true, "ids": ["x"]}),
        json!({"ids": []}),
    ] {
        let (status, body) = p
            .call("POST", "/v1/listings/categorize", &seller, Some(bad))
            .await;
        assert_eq!(status, 422, "{body}");
    }
    let (status, _) = p
        .call(
            "POST",
            "/v1/listings/categorize",
            &seller,
            Some(json!({"all": true, "seller_id": "s2"})),
        )
        .await;
    assert_eq!(status, 403);

    // Deleting a listing removes its suggestions with it (once the jobs above are done).
    wait_for(
        "the categorize queue to drain",
        Duration::from_secs(120),
        || async {
            let report = report(&p.queues, &p.config.kinds).await.unwrap();
            let q = report
                .queues
                .iter()
                .find(|q| q.queue == queues::CATEGORIZE)
                .unwrap();
            (q.waiting + q.in_flight == 0).then_some(())
        },
    )
    .await;
    let (status, _) = p
        .call("DELETE", &format!("/v1/listings/{shoes}"), &seller, None)
        .await;
    assert_eq!(status, 204);
    assert!(
        p.db.db
            .categorize_suggestions(&shoes)
            .await
            .unwrap()
            .is_none()
    );
}

/// Both backends in turn: the first builds the category vectors, the second reads them from disk.
#[tokio::test(flavor = "multi_thread")]
async fn listings_are_categorized_on_both_backends() {
    for backend in Backend::ALL {
        flow(backend).await;
    }
}
