//! Marketplace exports end to end on both backends, against a strict fake of
//! Shopify's Admin GraphQL API with a small cost bucket: connections sealed at
//! rest and tested, push runs split into chunks and paced by the shop's
//! bucket, per-item errors, retry of failed items, unchanged listings skipped,
//! a crash after Shopify stored a product (the retry updates, never
//! duplicates), a revoked token stopping the run, cancel, file mode, and bad
//! requests refused with clear errors.

use fleet_jobs::WorkerKind;
use fleet_shared::{
    blob::BlobKey,
    db::{
        api_keys::Role,
        media::{MediaResult, NewMedia, StoredVariant},
    },
};
use fleet_testkit::{
    Backend,
    amazon::FakeAmazon,
    etsy::FakeEtsy,
    platform::Platform,
    shopify::{FakeShopify, Hold, ShopifyLimits},
    wait_for,
};
use serde_json::{Value, json};
use std::time::Duration;

const CATEGORY: &str = "gid://shopify/TaxonomyCategory/aa-1-13";

/// Changes listing `id`'s quantity, pushes it alone to `marketplace`, and returns the finished run.
async fn push_changed(
    p: &Platform,
    key: &str,
    marketplace: &str,
    id: &str,
    quantity: i64,
) -> Value {
    let (status, body) = p
        .call(
            "PATCH",
            &format!("/v1/listings/{id}"),
            key,
            Some(json!({"quantity": quantity})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = start(
        p,
        key,
        json!({"marketplace": marketplace, "listings": {"ids": [id]}, "mode": "push"}),
    )
    .await;
    p.export_finished(key, &run).await
}

async fn start(p: &Platform, key: &str, body: Value) -> String {
    let (status, run) = p.call("POST", "/v1/exports", key, Some(body)).await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["status"], "planning");
    run["id"].as_str().unwrap().to_owned()
}

async fn items(p: &Platform, key: &str, id: &str, status: &str) -> Vec<Value> {
    let (code, page) = p
        .call(
            "GET",
            &format!("/v1/exports/{id}/items?status={status}&limit=500"),
            key,
            None,
        )
        .await;
    assert_eq!(code, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// A ready photo of `seller` with one JPEG variant stored in the blob store.
async fn photo(p: &Platform, seller: &str, bytes: &[u8]) -> String {
    let id = fleet_testkit::unique("m").to_lowercase();
    let key = format!("media/{id}/1280.jpg");
    let store = &p.blobs;
    store
        .put_bytes(
            &BlobKey::new(key.clone()).unwrap(),
            bytes.to_vec().into(),
            "image/jpeg",
        )
        .await
        .unwrap();
    let db = &p.db.db;
    db.insert_media(&NewMedia {
        id: id.clone(),
        seller_id: Some(seller.to_owned()),
        user_id: None,
        purpose: "listing_photo".to_owned(),
        content_type: "image/jpeg".to_owned(),
        size_bytes: bytes.len() as i64,
        filename: None,
        source_key: format!("uploads/{id}"),
    })
    .await
    .unwrap();
    db.media_ready(
        &id,
        &MediaResult {
            source_sha256: "0".repeat(64),
            format: "jpeg".to_owned(),
            width: 1280,
            height: 960,
            duration_ms: None,
            variants: vec![StoredVariant {
                name: "1280".to_owned(),
                key,
                width: 1280,
                height: 960,
                format: "jpeg".to_owned(),
                bytes: bytes.len() as u64,
            }],
            blurhash: None,
            thumbhash: None,
        },
    )
    .await
    .unwrap();
    id
}

async fn flow(backend: Backend) {
    // 60 points, 30 restored per second: about three productSets a second once the burst is spent.
    let shop = FakeShopify::start(ShopifyLimits {
        maximum_available: 60.0,
        restore_rate: 30.0,
    });
    let base = shop.base.clone();
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Export])
        .configure(move |c| {
            c.export.chunk_size = 4;
            c.export.shopify_api_base = base;
        })
        .start()
        .await;
    let seller = p.key(Role::Seller, Some("s1")).await;
    let other = p.key(Role::Seller, Some("s2")).await;

    // Connections: every missing field named; secrets sealed, never shown.
    let (status, err) = p
        .call(
            "PUT",
            "/v1/connections/shopify",
            &seller,
            Some(json!({"shop_domain": "x.myshopify.com"})),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(err.to_string().contains("access_token"), "{err}");
    let conn = json!({"shop_domain": shop.shop_domain, "access_token": shop.access_token});
    let (status, view) = p
        .call("PUT", "/v1/connections/shopify", &seller, Some(conn))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "untested");
    assert!(!view.to_string().contains(&shop.access_token), "{view}");
    let stored: String = sqlx_scalar(&p, "SELECT credentials FROM export_connections").await;
    assert!(!stored.contains(&shop.access_token), "sealed at rest");
    let (status, _) = p.call("GET", "/v1/connections/shopify", &other, None).await;
    assert_eq!(status, 404, "another seller has no such connection");
    let (status, tested) = p
        .call("POST", "/v1/connections/shopify/test", &seller, None)
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["status"], "ok", "{tested}");
    assert!(
        tested["status_message"]
            .as_str()
            .unwrap()
            .contains("Fleet Test Shop")
    );

    // Twelve listings: one priced in another currency, one Shopify refuses, one with a photo.
    let jpeg = std::fs::read("../shared/testdata/media/progressive.jpg").unwrap();
    let media = photo(&p, "s1", &jpeg).await;
    let mut listings = Vec::new();
    for i in 0..12 {
        let mut l = json!({"sku": format!("SKU-{i:02}"), "title": format!("Wool jumper {i}"),
            "description": "Warm <b>wool</b>\n\nHand wash", "price": 1250 + i, "currency": "EUR",
            "quantity": 1, "condition": "good", "brand": "Acme", "size": "M", "category": CATEGORY});
        if i == 3 {
            l["currency"] = json!("USD");
        }
        if i == 5 {
            l["images"] = json!([media]);
        }
        listings.push(l);
    }
    let (status, batch) = p
        .call(
            "POST",
            "/v1/listings:batch",
            &seller,
            Some(json!({"listings": listings})),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    let ids: Vec<String> = batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    shop.reject_sku("SKU-07", "Variant SKU is already used by another product");
    shop.fail_next(2);

    // A push run: three chunks shared by the workers, paced by the shop's bucket.
    let started = std::time::Instant::now();
    let run = start(
        &p,
        &seller,
        json!({"marketplace": "shopify", "listings": {"all": true}, "mode": "push"}),
    )
    .await;
    let done = p.export_finished(&seller, &run).await;
    let elapsed = started.elapsed();
    assert_eq!(done["status"], "completed_with_errors", "{done}");
    assert_eq!(done["chunks"], 3);
    assert_eq!(done["totals"]["total"], 12);
    assert_eq!(done["totals"]["succeeded"], 10, "{done}");
    assert_eq!(done["totals"]["failed"], 2, "{done}");
    assert_eq!(done["progress"]["percent"], 100.0);
    let failed = items(&p, &seller, &run, "failed").await;
    let reasons: Vec<&str> = failed
        .iter()
        .map(|i| i["error"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("priced in USD")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("already used by another product")),
        "{reasons:?}"
    );
    assert_eq!(shop.products().len(), 10);
    assert_eq!(shop.creates(), 10);
    // 11 productSets and 3 shop queries cost 116 points: 56 more than the bucket holds, which
    // refills at 30/s. Fleet waited for them; a level Shopify reported while another chunk's
    // call was on its way may cost a THROTTLED answer now and then, which is waited out.
    assert!(
        shop.throttled() <= 3,
        "paced by the shop's bucket: {} THROTTLED",
        shop.throttled()
    );
    assert!(elapsed >= Duration::from_millis(1_500), "{elapsed:?}");
    let (status, _) = p
        .call("GET", &format!("/v1/exports/{run}"), &other, None)
        .await;
    assert_eq!(status, 404, "another seller's run is invisible");
    // The product carries the listing's fields, and its photo URL downloads the photo.
    let with_photo = shop
        .products()
        .into_iter()
        .find(|prod| prod["title"] == "Wool jumper 5")
        .expect("the photo listing was exported");
    assert_eq!(with_photo["vendor"], "Acme");
    assert_eq!(with_photo["category"], CATEGORY);
    assert_eq!(with_photo["variants"][0]["price"], "12.55");
    assert_eq!(with_photo["variants"][0]["sku"], "SKU-05");
    assert_eq!(
        with_photo["descriptionHtml"],
        "<p>Warm &lt;b&gt;wool&lt;/b&gt;</p><p>Hand wash</p>"
    );
    let url = with_photo["files"][0]["originalSource"].as_str().unwrap();
    let fetched = reqwest::get(url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), jpeg.as_slice());

    // Fix the currency, retry the failed: the fixed one goes, the refused one fails again.
    let (status, _) = p
        .call(
            "PATCH",
            &format!("/v1/listings/{}", ids[3]),
            &seller,
            Some(json!({"currency": "EUR"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, retried) = p
        .call(
            "POST",
            &format!("/v1/exports/{run}/retry-failed"),
            &seller,
            None,
        )
        .await;
    assert_eq!(status, 202, "{retried}");
    let done = p.export_finished(&seller, &run).await;
    assert_eq!(done["pass"], 1);
    assert_eq!(done["totals"]["succeeded"], 11, "{done}");
    assert_eq!(done["totals"]["failed"], 1, "{done}");
    assert_eq!(shop.creates(), 11);

    // Exporting again sends nothing unchanged.
    let again = start(
        &p,
        &seller,
        json!({"marketplace": "shopify", "listings": {"all": true}, "mode": "push"}),
    )
    .await;
    let done = p.export_finished(&seller, &again).await;
    assert_eq!(done["totals"]["skipped"], 11, "{done}");
    assert_eq!(shop.creates(), 11);
    assert_eq!(shop.updates(), 0);
    // The seller's runs, newest first, each with its own totals.
    let (status, page) = p.call("GET", "/v1/exports?limit=1", &seller, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["id"], again.as_str());
    assert_eq!(page["items"][0]["totals"]["skipped"], 11, "{page}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = p
        .call(
            "GET",
            &format!("/v1/exports?limit=1&cursor={cursor}"),
            &seller,
            None,
        )
        .await;
    assert_eq!(page["items"][0]["id"], run.as_str());
    assert_eq!(page["items"][0]["totals"]["succeeded"], 11, "{page}");
    let (_, page) = p.call("GET", "/v1/exports", &other, None).await;
    assert_eq!(
        page["items"],
        json!([]),
        "another seller lists none of them"
    );

    // A crash after Shopify stored a product but before Fleet recorded it: the
    // redone chunk finds the product by its handle and updates it.
    let (status, _) = p
        .call(
            "PATCH",
            &format!("/v1/listings/{}", ids[0]),
            &seller,
            Some(json!({"quantity": 3})),
        )
        .await;
    assert_eq!(status, 200);
    let crashed = start(
        &p,
        &seller,
        json!({"marketplace": "shopify", "listings": {"ids": [ids[0]]}, "mode": "push"}),
    )
    .await;
    p.export_finished(&seller, &crashed).await;
    let updates = shop.updates();
    assert_eq!(updates, 1);
    forget_export(&p, &ids[0]).await;
    let redo = start(
        &p,
        &seller,
        json!({"marketplace": "shopify", "listings": {"ids": [ids[0]]}, "mode": "push"}),
    )
    .await;
    let done = p.export_finished(&seller, &redo).await;
    assert_eq!(done["totals"]["succeeded"], 1, "{done}");
    assert_eq!(shop.creates(), 11, "no duplicate product");
    assert_eq!(shop.updates(), updates + 1);
    let product = shop
        .products()
        .into_iter()
        .find(|prod| prod["title"] == "Wool jumper 0")
        .unwrap();
    assert_eq!(
        product["variants"][0]["inventoryQuantities"][0]["quantity"],
        3
    );

    // Cancel: listings not sent yet are skipped.
    for id in &ids[..8] {
        p.call(
            "PATCH",
            &format!("/v1/listings/{id}"),
            &seller,
            Some(json!({"quantity": 7})),
        )
        .await;
    }
    shop.hold(Hold::AfterCreate);
    let cancelled = start(
        &p,
        &seller,
        json!({"marketplace": "shopify", "listings": {"ids": ids[..8]}, "mode": "push"}),
    )
    .await;
    wait_for("a product update held", Duration::from_secs(30), || async {
        (shop.held() > 0).then_some(())
    })
    .await;
    let (status, view) = p
        .call(
            "POST",
            &format!("/v1/exports/{cancelled}/cancel"),
            &seller,
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "cancelled");
    let held = shop.held();
    let updates = shop.updates();
    shop.release();
    let done = p.export_finished(&seller, &cancelled).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        shop.updates() <= updates + held,
        "nothing sent after the cancel but what was in flight"
    );
    assert_eq!(done["status"], "cancelled");
    assert!(done["totals"]["skipped"].as_i64().unwrap() >= 4, "{done}");
    let (status, _) = p
        .call(
            "POST",
            &format!("/v1/exports/{cancelled}/cancel"),
            &seller,
            None,
        )
        .await;
    assert_eq!(status, 409, "a finished run cannot be cancelled");

    // A revoked token stops the run and marks the connection.
    shop.revoke_token();
    p.call(
        "PATCH",
        &format!("/v1/listings/{}", ids[1]),
        &seller,
        Some(json!({"quantity": 9})),
    )
    .await;
    let revoked = start(
        &p,
        &seller,
        json!({"marketplace": "shopify", "listings": {"ids": [ids[1]]}, "mode": "push"}),
    )
    .await;
    let done = p.export_finished(&seller, &revoked).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("refused the access token"),
        "{done}"
    );
    let (_, conn) = p
        .call("GET", "/v1/connections/shopify", &seller, None)
        .await;
    assert_eq!(conn["status"], "unauthorized", "{conn}");

    // File mode: a Shopify import CSV and a generic CSV to download.
    let file = start(
        &p,
        &seller,
        json!({"marketplace": "shopify", "listings": {"all": true}, "mode": "file"}),
    )
    .await;
    let done = p.export_finished(&seller, &file).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let csv = download(&p, &done["files"][0]["url"]).await;
    let mut reader = csv_reader(&csv);
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "Handle");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        12,
        "one row per product (one photo each at most)"
    );
    assert!(
        rows.iter()
            .any(|r| &r[9] == "SKU-05" && r[13].starts_with("http"))
    );
    let csv_handle = rows
        .iter()
        .find(|r| &r[9] == "SKU-05")
        .map(|r| r[0].to_owned());
    assert_eq!(
        csv_handle.as_deref(),
        with_photo["handle"].as_str(),
        "the CSV names the product by the handle push uses"
    );
    let generic = start(
        &p,
        &seller,
        json!({"marketplace": "etsy", "listings": {"ids": ids}, "mode": "file"}),
    )
    .await;
    let done = p.export_finished(&seller, &generic).await;
    assert_eq!(done["format"], "generic_csv");
    let csv = download(&p, &done["files"][0]["url"]).await;
    assert_eq!(csv_reader(&csv).records().count(), 12);

    // Amazon feed: needs the Amazon connection's seller id and marketplace.
    let amazon = start(
        &p,
        &seller,
        json!({"marketplace": "amazon", "listings": {"all": true}, "mode": "file"}),
    )
    .await;
    let done = p.export_finished(&seller, &amazon).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("PUT /v1/connections/amazon"),
        "{done}"
    );
    let amazon_conn = json!({"lwa_client_id": "amzn1.application-oa2-client.x", "lwa_client_secret": "s",
        "refresh_token": "Atzr|x", "seller_id": "A1SELLER", "marketplace_ids": ["A1PA6795UKMFR9"]});
    let (status, body) = p
        .call("PUT", "/v1/connections/amazon", &seller, Some(amazon_conn))
        .await;
    assert_eq!(status, 200, "{body}");
    let amazon = start(
        &p,
        &seller,
        json!({"marketplace": "amazon", "listings": {"all": true}, "mode": "file"}),
    )
    .await;
    let done = p.export_finished(&seller, &amazon).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let feed: Value =
        serde_json::from_slice(&download(&p, &done["files"][0]["url"]).await).unwrap();
    assert_eq!(feed["header"]["sellerId"], "A1SELLER");
    let messages = feed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 12);
    assert_eq!(messages[0]["messageId"], 1);
    let first = messages.iter().find(|m| m["sku"] == "SKU-00").unwrap();
    assert_eq!(
        first["attributes"]["purchasable_offer"][0]["our_price"][0]["schedule"][0]["value_with_tax"],
        json!(12.5)
    );
    assert_eq!(
        first["attributes"]["condition_type"][0]["value"],
        "used_good"
    );

    // Bad requests: clear errors, nothing started.
    for (body, code, needle) in [
        (
            json!({"marketplace": "ebay", "listings": {"all": true}, "mode": "push"}),
            404,
            "ebay",
        ),
        (
            json!({"marketplace": "shopify", "listings": {"all": true, "ids": ["a"]}, "mode": "push"}),
            422,
            "not both",
        ),
        (
            json!({"marketplace": "shopify", "listings": {}, "mode": "push"}),
            422,
            "name the listings",
        ),
        (
            json!({"marketplace": "etsy", "listings": {"all": true}, "mode": "push"}),
            422,
            "PUT /v1/connections/etsy",
        ),
        (
            json!({"marketplace": "amazon", "listings": {"all": true}, "mode": "file", "format": "shopify_csv"}),
            422,
            "cannot be imported by amazon",
        ),
    ] {
        let (status, err) = p.call("POST", "/v1/exports", &seller, Some(body)).await;
        assert_eq!(status, code, "{err}");
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
    let (status, err) = p
        .call(
            "POST",
            "/v1/exports",
            &other,
            Some(json!({"marketplace": "shopify", "listings": {"all": true}, "mode": "push"})),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err.to_string().contains("PUT /v1/connections/shopify"),
        "{err}"
    );
}

fn csv_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::Reader::from_reader(bytes)
}

async fn download(p: &Platform, url: &Value) -> Vec<u8> {
    let resp = p.http.get(url.as_str().unwrap()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

async fn sqlx_scalar(p: &Platform, sql: &'static str) -> String {
    match &p.db.db {
        fleet_shared::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        fleet_shared::Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

/// Forgets that Shopify holds `listing`, as if Fleet crashed right after Shopify answered.
async fn forget_export(p: &Platform, listing: &str) {
    let sql = "DELETE FROM export_remote_ids WHERE listing_id = $1";
    match &p.db.db {
        fleet_shared::Db::Postgres(pool) => sqlx::query(sql)
            .bind(listing)
            .execute(pool)
            .await
            .map(|_| ()),
        fleet_shared::Db::Sqlite(pool) => sqlx::query(sql)
            .bind(listing)
            .execute(pool)
            .await
            .map(|_| ()),
    }
    .unwrap();
}

/// Amazon push: LWA token exchanged once per chunk and renewed when refused,
/// `putListingsItem` paced to 5 a second, INVALID answers as item errors.
async fn amazon_flow(backend: Backend) {
    let amazon = FakeAmazon::start();
    let (base, token_url) = (amazon.base.clone(), amazon.token_url());
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Export])
        .configure(move |c| {
            c.export.chunk_size = 5;
            c.export.amazon_api_base = base;
            c.export.amazon_token_url = token_url;
        })
        .start()
        .await;
    let seller = p.key(Role::Seller, Some("s1")).await;
    let conn = amazon.connection(&[&amazon.marketplace_id]);
    let (status, view) = p
        .call("PUT", "/v1/connections/amazon", &seller, Some(conn))
        .await;
    assert_eq!(status, 200, "{view}");
    assert!(!view.to_string().contains(&amazon.refresh_token));
    let (_, tested) = p
        .call("POST", "/v1/connections/amazon/test", &seller, None)
        .await;
    assert_eq!(tested["status"], "ok", "{tested}");

    // Fifteen offers on catalogue products (an EAN each, no category: Amazon's
    // generic product type), and one listing Amazon finds incomplete (no
    // barcode, no brand).
    let mut listings: Vec<Value> = (0..15)
        .map(|i| json!({"sku": format!("A-{i:02}"), "title": format!("Camera lens {i}"), "description": "50mm f/1.8",
            "price": 9900, "currency": "EUR", "quantity": 1, "condition": "like_new", "brand": "Canon",
            "attributes": {"ean": format!("49605996{i:05}")}}))
        .collect();
    listings.push(
        json!({"sku": "A-15", "title": "Unbranded strap", "price": 500, "currency": "EUR",
        "quantity": 1, "condition": "fair", "category": "gid://shopify/TaxonomyCategory/aa-6-10"}),
    );
    let (status, batch) = p
        .call(
            "POST",
            "/v1/listings:batch",
            &seller,
            Some(json!({"listings": listings})),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    let started = std::time::Instant::now();
    let run = start(
        &p,
        &seller,
        json!({"marketplace": "amazon", "listings": {"all": true}, "mode": "push"}),
    )
    .await;
    let done = p.export_finished(&seller, &run).await;
    let elapsed = started.elapsed();
    assert_eq!(done["status"], "completed_with_errors", "{done}");
    assert_eq!(done["totals"]["succeeded"], 15, "{done}");
    assert_eq!(done["totals"]["failed"], 1, "{done}");
    let failed = items(&p, &seller, &run, "failed").await;
    let reason = failed[0]["error"].as_str().unwrap();
    assert!(
        reason.contains("Amazon found it invalid") && reason.contains("'brand' is required"),
        "{reason}"
    );
    assert_eq!(amazon.listings(), 15);
    // 16 puts against a bucket of 10 refilled at 5/s: Fleet waited instead of being refused.
    assert!(
        amazon.throttled() <= 2,
        "paced to the operation's rate: {} refused",
        amazon.throttled()
    );
    assert!(elapsed >= Duration::from_millis(1_000), "{elapsed:?}");
    let stored = amazon.listing("A-03").unwrap();
    assert_eq!(stored["requirements"], "LISTING_OFFER_ONLY");
    assert_eq!(stored["productType"], "PRODUCT");
    let attributes = &stored["attributes"];
    assert_eq!(attributes["condition_type"][0]["value"], "used_like_new");
    assert_eq!(
        attributes["externally_assigned_product_identifier"][0]["value"],
        "4960599600003"
    );
    assert_eq!(attributes["purchasable_offer"][0]["currency"], "EUR");
    assert!(
        amazon.token_requests() <= 1 + 4,
        "a token per chunk at most, not per listing: {}",
        amazon.token_requests()
    );

    // Expired tokens are renewed; a revoked refresh token stops the run.
    amazon.expire_tokens();
    let (_, page) = p.call("GET", "/v1/listings?sku=A-00", &seller, None).await;
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let done = push_changed(&p, &seller, "amazon", &id, 2).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        amazon.listing("A-00").unwrap()["attributes"]["fulfillment_availability"][0]["quantity"],
        2
    );
    amazon.revoke();
    let done = push_changed(&p, &seller, "amazon", &id, 3).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("refused the seller's credentials"),
        "{done}"
    );
    let (_, conn) = p.call("GET", "/v1/connections/amazon", &seller, None).await;
    assert_eq!(conn["status"], "unauthorized", "{conn}");
}

/// Etsy push: drafts created once then updated, photos uploaded, inventory set,
/// an expired token refreshed and the rotated pair kept, a revoked one stopping the run.
async fn etsy_flow(backend: Backend) {
    let etsy = FakeEtsy::start(4.0, 10_000);
    let (base, token_url) = (etsy.api_base.clone(), etsy.token_url.clone());
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Export])
        .configure(move |c| {
            c.export.chunk_size = 3;
            c.export.etsy_api_base = base;
            c.export.etsy_token_url = token_url;
        })
        .start()
        .await;
    let seller = p.key(Role::Seller, Some("s1")).await;
    let conn = etsy.connection();
    let (status, view) = p
        .call("PUT", "/v1/connections/etsy", &seller, Some(conn))
        .await;
    assert_eq!(status, 200, "{view}");
    let (_, tested) = p
        .call("POST", "/v1/connections/etsy/test", &seller, None)
        .await;
    assert_eq!(tested["status"], "ok", "{tested}");
    assert!(
        tested["status_message"]
            .as_str()
            .unwrap()
            .contains("FleetVintage"),
        "{tested}"
    );

    let jpeg = std::fs::read("../shared/testdata/media/progressive.jpg").unwrap();
    let media = photo(&p, "s1", &jpeg).await;
    let attributes = json!({"etsy_taxonomy_id": 1429, "etsy_when_made": "2010_2019"});
    let mut listings: Vec<Value> = (0..5)
        .map(|i| {
            json!({"sku": format!("E-{i}"), "title": format!("Vintage silk scarf {i}"),
            "description": "Hand-rolled edges", "price": 1250, "currency": "EUR", "quantity": 1,
            "condition": "good", "colour": "Red", "material": "Silk", "attributes": attributes})
        })
        .collect();
    listings[0]["images"] = json!([media]);
    listings.push(
        json!({"sku": "E-5", "title": "Scarf without an Etsy category", "price": 900,
        "currency": "EUR", "quantity": 1, "condition": "good"}),
    );
    let (status, batch) = p
        .call(
            "POST",
            "/v1/listings:batch",
            &seller,
            Some(json!({"listings": listings})),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    let first = batch["results"][0]["id"].as_str().unwrap().to_owned();

    // The stored access token has expired: the first call refreshes it.
    etsy.expire_access_token();
    let run = start(
        &p,
        &seller,
        json!({"marketplace": "etsy", "listings": {"all": true}, "mode": "push"}),
    )
    .await;
    let done = p.export_finished(&seller, &run).await;
    assert_eq!(done["totals"]["succeeded"], 5, "{done}");
    assert_eq!(done["totals"]["failed"], 1, "{done}");
    let failed = items(&p, &seller, &run, "failed").await;
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("etsy_taxonomy_id"),
        "{failed:?}"
    );
    assert_eq!(etsy.creates(), 5);
    assert!(etsy.refreshes() >= 1);
    assert!(
        etsy.throttled() <= 2,
        "paced to the shop's per-second limit: {} refused",
        etsy.throttled()
    );
    let listings = etsy.listings();
    let with_photo = listings
        .iter()
        .find(|l| l["title"] == "Vintage silk scarf 0")
        .unwrap();
    assert_eq!(with_photo["who_made"], "someone_else");
    assert_eq!(with_photo["materials"], json!(["Silk"]));
    assert_eq!(with_photo["images"]["1"], jpeg.len());
    assert_eq!(
        with_photo["inventory"]["products"][0]["offerings"][0]["price"],
        json!(12.5)
    );

    // A later run updates the same draft, with the rotated tokens Fleet stored.
    let refreshes = etsy.refreshes();
    let done = push_changed(&p, &seller, "etsy", &first, 2).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(etsy.creates(), 5, "updated, not created again");
    assert_eq!(
        etsy.refreshes(),
        refreshes,
        "the refreshed token pair was kept"
    );
    let updated = etsy
        .listings()
        .into_iter()
        .find(|l| l["title"] == "Vintage silk scarf 0")
        .unwrap();
    assert_eq!(
        updated["inventory"]["products"][0]["offerings"][0]["quantity"],
        2
    );

    etsy.revoke();
    let done = push_changed(&p, &seller, "etsy", &first, 3).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("refused the shop's credentials"),
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_flow_sqlite() {
    etsy_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_flow_redis_postgres() {
    etsy_flow(Backend::RedisPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_flow_sqlite() {
    amazon_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_flow_redis_postgres() {
    amazon_flow(Backend::RedisPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_flow_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_flow_redis_postgres() {
    flow(Backend::RedisPostgres).await;
}
