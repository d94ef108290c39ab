//! The whole platform in one test process: a fresh database, a private Redis
//! (PostgreSQL backend), the API on a free port and workers of the chosen
//! kinds, talked to over real HTTP.

use crate::{Backend, RedisServer, TestDb, unique};
use fleet_api::AppState;
use fleet_jobs::{Job, JobStatus, WorkerKind};
use fleet_shared::{
    Config, Queues,
    blob::Blobs,
    db::{api_keys::Role, jobs::NewJob},
};
use fleet_workers::{Services, runtime::WorkerPool};
use reqwest::Client;
use serde_json::Value;
use std::sync::Arc;

/// A running API with in-process workers; everything stops when it is dropped.
pub struct Platform {
    /// The API's base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// An HTTP client.
    pub http: Client,
    /// The database.
    pub db: TestDb,
    /// The queues the API and workers share.
    pub queues: Queues,
    /// The blob store.
    pub blobs: Blobs,
    /// The effective configuration.
    pub config: Config,
    _redis: Option<RedisServer>,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// How to start a [`Platform`].
pub struct PlatformBuilder {
    backend: Backend,
    kinds: Vec<WorkerKind>,
    configure: Box<dyn FnOnce(&mut Config) + Send>,
    blobs: Option<Blobs>,
}

impl PlatformBuilder {
    /// Workers of these kinds run in the process (none by default).
    pub fn workers(mut self, kinds: &[WorkerKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// Changes the configuration before anything starts.
    pub fn configure(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure = Box::new(f);
        self
    }

    /// Uses this blob store instead of the local one served by the API.
    pub fn blobs(mut self, blobs: Blobs) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Starts the database, queues, API and workers.
    pub async fn start(self) -> Platform {
        let db = TestDb::for_backend(self.backend).await;
        // A private Redis: workers consume the real queue names.
        let redis = match self.backend {
            Backend::Sqlite => None,
            Backend::RedisPostgres => Some(RedisServer::start().await),
        };
        let queues = match &redis {
            Some(r) => Queues::redis(&r.url(), db.db.clone())
                .await
                .expect("connect the test Redis"),
            None => db.queues().await,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let mut config = Config {
            database_url: Some(db.url.clone()),
            redis_url: redis.as_ref().map(RedisServer::url),
            public_url: Some(base.clone()),
            secret_key: Some(unique("fleet-test-secret-key-that-is-long-")),
            ..Config::default()
        };
        config.queue.idle_poll_ms = 50;
        (self.configure)(&mut config);
        let blobs = match self.blobs {
            Some(blobs) => blobs,
            None => crate::fs_blobs(&base).await,
        };
        // Child processes (`fleet worker …`) given `config.blob_url()` open the same store.
        if config.blob_url.is_none()
            && let Some(fs) = blobs.as_fs()
        {
            config.blob_url = Some(format!("file://{}", fs.root().display()));
        }
        let state = AppState::new(config.clone(), queues.clone(), blobs.clone())
            .await
            .expect("API state");
        // Dropping the sender stops the API and the workers.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        tokio::spawn(fleet_api::serve(
            listener,
            state,
            until_stopped(stopped.clone()),
        ));
        let services = Services {
            db: db.db.clone(),
            queues: queues.clone(),
            blobs: blobs.clone(),
            config: Arc::new(config.clone()),
        };
        let mut pool = WorkerPool::new(
            queues.clone(),
            fleet_workers::registry(&self.kinds, &services),
            &config.queue,
        );
        for kind in &self.kinds {
            for queue in kind.queues() {
                pool.add_queue(queue, config.kinds.of(*kind), &config.queue);
            }
        }
        if !self.kinds.is_empty() {
            tokio::spawn(pool.run(until_stopped(stopped)));
        }
        Platform {
            base,
            http: Client::new(),
            db,
            queues,
            blobs,
            config,
            _redis: redis,
            _stop: stop,
        }
    }
}

impl Platform {
    /// A platform on `backend`, to be configured and started.
    pub fn on(backend: Backend) -> PlatformBuilder {
        PlatformBuilder {
            backend,
            kinds: Vec::new(),
            configure: Box::new(|_| {}),
            blobs: None,
        }
    }

    /// A new API key of `role`, bound to `seller` if given.
    pub async fn key(&self, role: Role, seller: Option<&str>) -> String {
        self.db
            .db
            .create_api_key("test", role, seller)
            .await
            .expect("create an API key")
            .1
    }

    /// Sends a request with bearer `key` and an optional JSON body; returns the status and JSON body (null if none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = method.parse().expect("an HTTP method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Enqueues `job` once more, past its idempotency key (as a redelivery
    /// after a crash before the ack would), and waits until it has succeeded.
    pub async fn redeliver<J: Job>(&self, job: &J) {
        let mut redo = NewJob::of(job, 3).expect("a job payload");
        redo.idempotency_key = None;
        self.queues
            .enqueue(vec![redo.clone()])
            .await
            .expect("enqueue the redelivery");
        crate::wait_for(
            "the redelivered job to succeed",
            std::time::Duration::from_secs(30),
            || async {
                let done = self.db.db.job(&redo.id).await.ok().flatten();
                done.filter(|j| j.status == JobStatus::Succeeded)
            },
        )
        .await;
    }

    /// Posts a notification event (expecting 202); returns its id.
    pub async fn post_event(&self, key: &str, event: Value) -> String {
        let (status, accepted) = self.call("POST", "/v1/events", key, Some(event)).await;
        assert_eq!(status, 202, "{accepted}");
        accepted["id"].as_str().unwrap_or_default().to_owned()
    }

    /// `GET /v1/exports/{id}` once the export run reached a final status (waits up to 120 s).
    pub async fn export_finished(&self, key: &str, id: &str) -> Value {
        crate::wait_for(
            "the export run to finish",
            std::time::Duration::from_secs(120),
            || async {
                let (status, run) = self
                    .call("GET", &format!("/v1/exports/{id}"), key, None)
                    .await;
                assert_eq!(status, 200, "{run}");
                let done = !matches!(run["status"].as_str(), Some("planning" | "running"));
                done.then_some(run)
            },
        )
        .await
    }

    /// Creates a media upload for `purpose` and PUTs `bytes` to its URL with a
    /// plain HTTP client, as a client would; returns the media id.
    pub async fn upload_media(
        &self,
        key: &str,
        purpose: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> String {
        let body = serde_json::json!({"purpose": purpose, "content_type": content_type, "size_bytes": bytes.len(), "filename": "item"});
        let (status, created) = self
            .call("POST", "/v1/media/uploads", key, Some(body))
            .await;
        assert_eq!(status, 201, "{created}");
        let upload = &created["upload"];
        assert_eq!(upload["method"], "PUT");
        let mut put = self
            .http
            .put(upload["url"].as_str().expect("an upload URL"))
            .body(bytes.to_vec());
        for (name, value) in upload["headers"].as_object().expect("upload headers") {
            put = put.header(name, value.as_str().unwrap_or_default());
        }
        let resp = put.send().await.expect("the upload URL answers");
        assert!(
            resp.status().is_success(),
            "PUT to the upload URL: {}",
            resp.status()
        );
        created["media_id"].as_str().unwrap_or_default().to_owned()
    }

    /// `GET /v1/events/{id}`: the event with its delivery counts.
    pub async fn event_view(&self, key: &str, id: &str) -> Value {
        let (status, view) = self
            .call("GET", &format!("/v1/events/{id}"), key, None)
            .await;
        assert_eq!(status, 200, "{view}");
        view
    }
}
