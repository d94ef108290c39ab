//! The taxonomy picker over real HTTP, on both backends: loaded at migrate,
//! searched, browsed by parent, paginated by cursor.

use fleet_api::AppState;
use fleet_shared::{Config, db::api_keys::Role, taxonomy::Taxonomy};
use fleet_testkit::{Backend, TestDb};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

struct Api {
    base: String,
    http: Client,
    db: TestDb,
    seller: String,
    _stop: oneshot::Sender<()>,
}

impl Api {
    async fn start(backend: Backend) -> Api {
        let db = TestDb::for_backend(backend).await;
        let queues = db.queues().await;
        let config = Config {
            database_url: Some(db.url.clone()),
            ..Config::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let blobs = fleet_testkit::fs_blobs(&base).await;
        let state = AppState::new(config, queues, blobs).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(fleet_api::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let seller = db
            .db
            .create_api_key("test", Role::Seller, Some("s1"))
            .await
            .unwrap()
            .1;
        Api {
            base,
            http: Client::new(),
            db,
            seller,
            _stop: stop,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.seller)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }
}

#[tokio::test]
async fn taxonomy_is_loaded_searched_browsed_and_paginated() {
    for backend in Backend::ALL {
        let api = Api::start(backend).await;

        // Loaded once by migrate; migrating again does not reload.
        assert!(!api.db.db.load_taxonomy(Taxonomy::shipped()).await.unwrap());
        api.db.db.migrate().await.unwrap();

        let (status, body) = api.get("/v1/taxonomy/categories?search=t-shirts").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = body["items"].as_array().unwrap();
        assert!(
            items
                .iter()
                .any(|c| c["gid"] == "gid://shopify/TaxonomyCategory/aa-1-13-8"),
            "{backend:?}: {body}"
        );

        // Several words, any case, all required.
        let (_, body) = api
            .get("/v1/taxonomy/categories?search=CLOTHING%20jeans")
            .await;
        let items = body["items"].as_array().unwrap();
        assert!(!items.is_empty());
        for c in items {
            let path = c["full_path"].as_str().unwrap().to_lowercase();
            assert!(
                path.contains("clothing") && path.contains("jeans"),
                "{path}"
            );
        }

        // Top-level areas, then children of one by gid.
        let (_, body) = api
            .get("/v1/taxonomy/categories?parent=root&limit=100")
            .await;
        let roots = body["items"].as_array().unwrap();
        assert_eq!(roots.len(), 26, "{backend:?}");
        assert!(
            roots
                .iter()
                .all(|c| c["depth"] == 1 && c["parent_id"].is_null())
        );
        let (_, body) = api
            .get("/v1/taxonomy/categories?parent=gid://shopify/TaxonomyCategory/aa-1&limit=500")
            .await;
        let children = body["items"].as_array().unwrap();
        assert!(children.len() > 5);
        assert!(children.iter().all(|c| c["parent_id"] == "aa-1"));

        // Walking every page of a search yields each match exactly once, in path order.
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/v1/taxonomy/categories?search=shoes&limit=7".to_owned(),
                Some(c) => format!("/v1/taxonomy/categories?search=shoes&limit=7&cursor={c}"),
            };
            let (status, body) = api.get(&path).await;
            assert_eq!(status, StatusCode::OK);
            for c in body["items"].as_array().unwrap() {
                seen.push(c["full_path"].as_str().unwrap().to_owned());
            }
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let expected = Taxonomy::shipped()
            .categories
            .iter()
            .filter(|c| c.full_path.to_lowercase().contains("shoes"))
            .count();
        assert_eq!(seen.len(), expected, "{backend:?}");
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);

        // LIKE wildcards are literal.
        let (_, body) = api.get("/v1/taxonomy/categories?search=%25").await;
        assert!(body["items"].as_array().unwrap().is_empty(), "{body}");

        // Bad input: clear errors.
        let (status, body) = api.get("/v1/taxonomy/categories?cursor=%21%21").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
        let (status, _) = api.get("/v1/taxonomy/categories?limit=0").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = api.get("/v1/taxonomy/categories?parent=zz-99").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}

#[tokio::test]
async fn taxonomy_needs_a_credential() {
    let api = Api::start(Backend::Sqlite).await;
    let resp = api
        .http
        .get(format!("{}/v1/taxonomy/categories", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
