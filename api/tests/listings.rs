//! The listings catalogue over real HTTP on both backends: batch upsert with
//! per-item results, pages and filters, partial updates, seller isolation.

use fleet_shared::db::api_keys::Role;
use fleet_testkit::{Backend, platform::Platform};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The API on a fresh database, with a backend key and two sellers' keys.
struct Api {
    p: Platform,
    backend: String,
    seller1: String,
    seller2: String,
}

impl Api {
    async fn start(backend: Backend) -> Api {
        let p = Platform::on(backend).start().await;
        Api {
            backend: p.key(Role::Backend, None).await,
            seller1: p.key(Role::Seller, Some("s1")).await,
            seller2: p.key(Role::Seller, Some("s2")).await,
            p,
        }
    }

    async fn send(
        &self,
        method: &str,
        key: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, body) = self.p.call(method, path, key, body).await;
        (StatusCode::from_u16(status).unwrap(), body)
    }
}

fn listing(sku: &str) -> Value {
    json!({"sku": sku, "title": format!("Item {sku}"), "price": 1500, "currency": "EUR",
        "condition": "good", "brand": "Acme", "images": ["m1", "m2"], "attributes": {"era": "90s"}})
}

#[tokio::test]
async fn batch_upsert_pages_updates_and_isolation() {
    for backend in Backend::ALL {
        let api = Api::start(backend).await;
        let mut items: Vec<Value> = (0..120).map(|i| listing(&format!("sku-{i:03}"))).collect();
        items.push(json!({"sku": "bad", "title": "x", "condition": "mint"}));
        items.push(listing("sku-000"));
        let (status, body) = api
            .send(
                "POST",
                &api.seller1,
                "/v1/listings:batch",
                Some(json!({"listings": items})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["created"].as_u64(), body["invalid"].as_u64()),
            (Some(120), Some(2))
        );
        assert_eq!(body["results"][120]["status"], "invalid");
        assert_eq!(body["results"][120]["errors"][0]["field"], "condition");
        assert_eq!(body["results"][121]["errors"][0]["field"], "sku");
        let first_id = body["results"][0]["id"].as_str().unwrap().to_owned();

        // The same SKU again updates; an absent category keeps the stored one.
        let mut changed = listing("sku-000");
        changed["category"] = json!("gid://shopify/TaxonomyCategory/aa-1-13");
        let (_, body) = api
            .send(
                "POST",
                &api.seller1,
                "/v1/listings:batch",
                Some(json!({"listings": [changed]})),
            )
            .await;
        assert_eq!(body["results"][0]["status"], "updated");
        assert_eq!(body["results"][0]["id"], first_id.as_str());
        let (_, body) = api
            .send(
                "POST",
                &api.seller1,
                "/v1/listings:batch",
                Some(json!({"listings": [listing("sku-000")]})),
            )
            .await;
        assert_eq!(body["updated"], 1);
        let (status, one) = api
            .send(
                "GET",
                &api.seller1,
                &format!("/v1/listings/{first_id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one["category"], "gid://shopify/TaxonomyCategory/aa-1-13");
        assert_eq!(one["category_source"], "seller");
        assert_eq!(one["images"], json!(["m1", "m2"]));

        // Pages of 50 cover all 120, in order, once.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/listings?limit=50&cursor={c}"),
                None => "/v1/listings?limit=50".to_owned(),
            };
            let (status, page) = api.send("GET", &api.seller1, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            for item in page["items"].as_array().unwrap() {
                seen.push(item["sku"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 120);
        let (_, page) = api
            .send("GET", &api.seller1, "/v1/listings?has_category=true", None)
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        let (_, page) = api
            .send("GET", &api.seller1, "/v1/listings?sku=sku-007", None)
            .await;
        assert_eq!(page["items"][0]["sku"], "sku-007");

        // Partial update; null clears; a taken SKU is a 409; bad values 422.
        let path = format!("/v1/listings/{first_id}");
        let (status, one) = api
            .send(
                "PATCH",
                &api.seller1,
                &path,
                Some(json!({"quantity": 3, "brand": null})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(
            (one["quantity"].as_i64(), one["brand"].is_null()),
            (Some(3), true)
        );
        assert_eq!(one["title"], "Item sku-000");
        let (status, _) = api
            .send(
                "PATCH",
                &api.seller1,
                &path,
                Some(json!({"sku": "sku-001"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, err) = api
            .send("PATCH", &api.seller1, &path, Some(json!({"price": -1})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err["error"]["details"]["fields"][0]["field"], "price");

        // Another seller sees nothing of s1's; the backend names the seller.
        assert_eq!(
            api.send("GET", &api.seller2, &path, None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            api.send("DELETE", &api.seller2, &path, None).await.0,
            StatusCode::NOT_FOUND
        );
        let (_, page) = api.send("GET", &api.seller2, "/v1/listings", None).await;
        assert_eq!(page["items"], json!([]));
        let (status, _) = api
            .send("GET", &api.seller2, "/v1/listings?seller_id=s1", None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = api.send("GET", &api.backend, "/v1/listings", None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, page) = api
            .send(
                "GET",
                &api.backend,
                "/v1/listings?seller_id=s1&limit=500",
                None,
            )
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 120);

        assert_eq!(
            api.send("DELETE", &api.seller1, &path, None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            api.send("GET", &api.seller1, &path, None).await.0,
            StatusCode::NOT_FOUND
        );
        let too_many: Vec<Value> = (0..1001).map(|i| listing(&format!("x{i}"))).collect();
        let (status, _) = api
            .send(
                "POST",
                &api.seller1,
                "/v1/listings:batch",
                Some(json!({"listings": too_many})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
