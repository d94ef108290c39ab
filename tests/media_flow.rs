//! Media uploads end to end through the API and a media worker, on both
//! backends: SQLite with the local blob store (whose signed URLs the API
//! serves) and PostgreSQL + Redis with a real S3-compatible server.

use fleet_api::AppState;
use fleet_jobs::{WorkerKind, queues};
use fleet_shared::{
    Config,
    blob::{BlobKey, BlobLocation, Blobs, S3Store},
    db::api_keys::Role,
};
use fleet_testkit::{Backend, TestDb, s3::S3Server, wait_for};
use fleet_workers::{Services, runtime::WorkerPool};
use reqwest::Client;
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};

struct Platform {
    base: String,
    http: Client,
    blobs: Blobs,
    seller1: String,
    seller2: String,
    _db: TestDb,
    _s3: Option<S3Server>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Platform {
    async fn start(backend: Backend) -> Platform {
        let db = TestDb::for_backend(backend).await;
        let queues = db.queues().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (blobs, s3): (Blobs, _) = match backend {
            Backend::Sqlite => (fleet_testkit::fs_blobs(&base).await, None),
            Backend::RedisPostgres => {
                let server = S3Server::start();
                let BlobLocation::S3(settings) = BlobLocation::parse(&server.blob_url()).unwrap()
                else {
                    unreachable!()
                };
                let creds = Some((server.access_key.clone(), server.secret_key.clone()));
                (
                    Arc::new(S3Store::connect(settings, creds).await),
                    Some(server),
                )
            }
        };
        let mut config = Config {
            database_url: Some(db.url.clone()),
            ..Config::default()
        };
        config.queue.idle_poll_ms = 50;
        let state = AppState::new(config.clone(), queues.clone(), blobs.clone())
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (stop_api, stop_workers) = tokio::sync::watch::channel(false);
        tokio::spawn(fleet_api::serve(listener, state, async move {
            let mut rx = stop_workers.clone();
            let _ = rx.wait_for(|v| *v).await;
        }));
        let services = Services {
            db: db.db.clone(),
            queues: queues.clone(),
            blobs: blobs.clone(),
            config: Arc::new(config.clone()),
        };
        let mut pool = WorkerPool::new(
            queues,
            fleet_workers::registry(&[WorkerKind::Media], &services),
            &config.queue,
        );
        pool.add_queue(
            queues::MEDIA,
            config.kinds.of(WorkerKind::Media),
            &config.queue,
        );
        tokio::spawn(pool.run(async move {
            let _ = stopped.await;
            let _ = stop_api.send(true);
        }));
        let key = |seller: &'static str| {
            let db = db.db.clone();
            async move {
                db.create_api_key("test", Role::Seller, Some(seller))
                    .await
                    .unwrap()
                    .1
            }
        };
        Platform {
            seller1: key("s1").await,
            seller2: key("s2").await,
            base,
            http: Client::new(),
            blobs,
            _db: db,
            _s3: s3,
            _stop: stop,
        }
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a photo upload and PUTs `bytes` to its URL with a plain HTTP client; returns the media id.
    async fn upload(&self, key: &str, content_type: &str, bytes: &[u8]) -> String {
        self.upload_as(key, "listing_photo", content_type, bytes)
            .await
    }

    /// Creates an upload for `purpose` and PUTs `bytes` to its URL; returns the media id.
    async fn upload_as(
        &self,
        key: &str,
        purpose: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> String {
        let (status, created) = self
            .call("POST", "/v1/media/uploads", key, Some(json!({"purpose": purpose, "content_type": content_type, "size_bytes": bytes.len(), "filename": "item"})))
            .await;
        assert_eq!(status, 201, "{created}");
        let upload = &created["upload"];
        assert_eq!(upload["method"], "PUT");
        let mut put = self
            .http
            .put(upload["url"].as_str().unwrap())
            .body(bytes.to_vec());
        for (name, value) in upload["headers"].as_object().unwrap() {
            put = put.header(name, value.as_str().unwrap());
        }
        let resp = put.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "PUT to the upload URL: {}",
            resp.status()
        );
        created["media_id"].as_str().unwrap().to_owned()
    }

    async fn settled(&self, key: &str, id: &str) -> Value {
        wait_for("media to settle", Duration::from_secs(60), || async {
            let (_, media) = self
                .call("GET", &format!("/v1/media/{id}"), key, None)
                .await;
            matches!(media["status"].as_str(), Some("ready" | "failed")).then_some(media)
        })
        .await
    }
}

fn testdata(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../shared/testdata/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The blob key inside a variant URL (`…/media/{sha}/640.webp?…`).
fn variant_key(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    path[path.find("media/").unwrap()..].to_owned()
}

async fn upload_flow(p: &Platform) {
    let photo = testdata("exif-orientation/Landscape_6.jpg");

    // Limits are checked before any URL is issued.
    let (status, err) = p
        .call("POST", "/v1/media/uploads", &p.seller1, Some(json!({"purpose": "listing_photo", "content_type": "image/jpeg", "size_bytes": 26 * 1024 * 1024})))
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["details"]["fields"][0]["field"], "size_bytes");
    let (status, _) = p
        .call("POST", "/v1/media/uploads", &p.seller1, Some(json!({"purpose": "listing_photo", "content_type": "application/pdf", "size_bytes": 10})))
        .await;
    assert_eq!(status, 422);

    // Upload, complete, processed.
    let id = p.upload(&p.seller1, "image/jpeg", &photo).await;
    let (status, other) = p
        .call(
            "POST",
            &format!("/v1/media/{id}/complete"),
            &p.seller2,
            None,
        )
        .await;
    assert_eq!(status, 404, "another seller cannot complete it: {other}");
    let (status, queued) = p
        .call(
            "POST",
            &format!("/v1/media/{id}/complete"),
            &p.seller1,
            None,
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let media = p.settled(&p.seller1, &id).await;
    assert_eq!(media["status"], "ready", "{media}");
    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(1800), Some(1200)),
        "upright size"
    );
    assert_eq!(media["format"], "jpeg");
    assert!(media["blurhash"].as_str().is_some_and(|b| b.len() >= 6));
    let variants = media["variants"].as_array().unwrap();
    let summary: Vec<(String, i64, String)> = variants
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["width"].as_i64().unwrap(),
                v["format"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, i64, String)> =
        [("320", 320), ("640", 640), ("1280", 1280), ("2048", 1800)]
            .into_iter()
            .flat_map(|(n, w)| ["jpeg", "webp"].map(|f| (n.to_owned(), w, f.to_owned())))
            .collect();
    assert_eq!(summary, expected);
    let webp = &variants[3];
    let download = p
        .http
        .get(webp["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/webp");
    let bytes = download.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, webp["bytes"].as_i64().unwrap());
    assert_eq!(&bytes[8..12], b"WEBP");
    let (status, _) = p
        .call("GET", &format!("/v1/media/{id}"), &p.seller2, None)
        .await;
    assert_eq!(status, 404, "another seller cannot see it");

    // The same bytes again reuse the stored variants.
    let again = p.upload(&p.seller1, "image/jpeg", &photo).await;
    p.call(
        "POST",
        &format!("/v1/media/{again}/complete"),
        &p.seller1,
        None,
    )
    .await;
    let second = p.settled(&p.seller1, &again).await;
    assert_eq!(second["status"], "ready");
    let keys = |m: &Value| {
        m["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| variant_key(v["url"].as_str().unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&second), keys(&media));

    // Completing before uploading, or with another size, is refused.
    let (_, created) = p
        .call(
            "POST",
            "/v1/media/uploads",
            &p.seller1,
            Some(json!({"purpose": "avatar", "content_type": "image/png", "size_bytes": 100})),
        )
        .await;
    let pending = created["media_id"].as_str().unwrap();
    let (status, err) = p
        .call(
            "POST",
            &format!("/v1/media/{pending}/complete"),
            &p.seller1,
            None,
        )
        .await;
    assert_eq!(status, 409, "{err}");
    let source = BlobKey::new(format!("uploads/{pending}/source")).unwrap();
    p.blobs
        .put_bytes(&source, bytes::Bytes::from_static(b"short"), "image/png")
        .await
        .unwrap();
    let (status, err) = p
        .call(
            "POST",
            &format!("/v1/media/{pending}/complete"),
            &p.seller1,
            None,
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5 bytes"),
        "{err}"
    );

    // A text file declared as a JPEG fails with a reason, and its job is dead, not retried.
    let fake = p
        .upload(
            &p.seller1,
            "image/jpeg",
            b"I am definitely a photo, trust me",
        )
        .await;
    p.call(
        "POST",
        &format!("/v1/media/{fake}/complete"),
        &p.seller1,
        None,
    )
    .await;
    let failed = p.settled(&p.seller1, &fake).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("not a JPEG"),
        "{failed}"
    );
    let job = failed["job_id"].as_str().unwrap();
    // The media row says `failed` first; the runtime records the job's outcome moments later.
    let job = wait_for("the job to be dead", Duration::from_secs(10), || async {
        let (_, job) = p
            .call("GET", &format!("/v1/jobs/{job}"), &p.seller1, None)
            .await;
        (job["status"] == "dead").then_some(job)
    })
    .await;
    assert_eq!(job["attempts"].as_i64(), Some(1), "not retried: {job}");

    // Deleting one of two items with the same bytes keeps the shared variants; deleting both removes them.
    let first_variant = BlobKey::new(variant_key(variants[0]["url"].as_str().unwrap())).unwrap();
    let (status, _) = p
        .call("DELETE", &format!("/v1/media/{id}"), &p.seller2, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = p
        .call("DELETE", &format!("/v1/media/{id}"), &p.seller1, None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        p.call("GET", &format!("/v1/media/{id}"), &p.seller1, None)
            .await
            .0,
        404
    );
    assert!(p.blobs.head(&first_variant).await.unwrap().is_some());
    assert_eq!(
        p.call("DELETE", &format!("/v1/media/{again}"), &p.seller1, None)
            .await
            .0,
        204
    );
    assert!(p.blobs.head(&first_variant).await.unwrap().is_none());
    assert!(
        p.blobs
            .head(&BlobKey::new(format!("uploads/{again}/source")).unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

/// Top-level MP4 box types in file order.
fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        boxes.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        at += size.max(8);
    }
    boxes
}

async fn video_flow(p: &Platform) {
    let clip = testdata("media/portrait-rotated.mp4");

    // Video limits and types are checked before any URL is issued.
    let (status, err) = p
        .call("POST", "/v1/media/uploads", &p.seller1, Some(json!({"purpose": "listing_video", "content_type": "video/mp4", "size_bytes": 501u64 * 1024 * 1024})))
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["details"]["fields"][0]["field"], "size_bytes");
    let (status, err) = p
        .call("POST", "/v1/media/uploads", &p.seller1, Some(json!({"purpose": "listing_video", "content_type": "image/jpeg", "size_bytes": 1000})))
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(
        err["error"]["details"]["fields"][0]["field"],
        "content_type"
    );

    // A truncated upload (its index was at the end) fails with a reason, not retried.
    let broken = p
        .upload_as(
            &p.seller1,
            "listing_video",
            "video/mp4",
            &clip[..clip.len() - 4000],
        )
        .await;
    p.call(
        "POST",
        &format!("/v1/media/{broken}/complete"),
        &p.seller1,
        None,
    )
    .await;
    let failed = p.settled(&p.seller1, &broken).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("truncated or damaged"),
        "{failed}"
    );

    // The same worker then processes a good video: upright, 720p, with a poster.
    let id = p
        .upload_as(&p.seller1, "listing_video", "video/mp4", &clip)
        .await;
    let (status, queued) = p
        .call(
            "POST",
            &format!("/v1/media/{id}/complete"),
            &p.seller1,
            None,
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let media = p.settled(&p.seller1, &id).await;
    assert_eq!(media["status"], "ready", "{media}");
    assert_eq!(media["format"], "h264");
    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(1080), Some(1920)),
        "upright size of the portrait clip"
    );
    let duration = media["duration_ms"].as_i64().unwrap();
    assert!((3900..=4100).contains(&duration), "{duration}");
    assert!(media["blurhash"].as_str().is_some());
    let variants = media["variants"].as_array().unwrap();
    let summary: Vec<String> = variants
        .iter()
        .map(|v| {
            format!(
                "{}.{}:{}x{}",
                v["name"].as_str().unwrap(),
                v["format"].as_str().unwrap(),
                v["width"],
                v["height"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "720.mp4:720x1280",
            "poster-320.jpeg:180x320",
            "poster-320.webp:180x320",
            "poster-640.jpeg:360x640",
            "poster-640.webp:360x640",
            "poster-1280.jpeg:720x1280",
            "poster-1280.webp:720x1280",
            "poster-2048.jpeg:1080x1920",
            "poster-2048.webp:1080x1920",
        ]
    );
    let mp4 = &variants[0];
    let download = p
        .http
        .get(mp4["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "video/mp4");
    let bytes = download.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, mp4["bytes"].as_i64().unwrap());
    let boxes = top_level_boxes(&bytes);
    assert_eq!(boxes.first().map(String::as_str), Some("ftyp"));
    let at = |name: &str| boxes.iter().position(|b| b == name).unwrap();
    assert!(at("moov") < at("mdat"), "faststart: {boxes:?}");

    // The job reported frames done out of frames expected (4 s at 30 fps).
    let job = media["job_id"].as_str().unwrap();
    let job = wait_for("the job to succeed", Duration::from_secs(10), || async {
        let (_, job) = p
            .call("GET", &format!("/v1/jobs/{job}"), &p.seller1, None)
            .await;
        (job["status"] == "succeeded").then_some(job)
    })
    .await;
    assert_eq!(job["progress"]["done"].as_i64(), Some(120), "{job}");
    assert_eq!(job["progress"]["total"].as_i64(), Some(120), "{job}");

    // Deleting the video removes its renditions and poster.
    let key = BlobKey::new(variant_key(mp4["url"].as_str().unwrap())).unwrap();
    assert!(p.blobs.head(&key).await.unwrap().is_some());
    let (status, _) = p
        .call("DELETE", &format!("/v1/media/{id}"), &p.seller1, None)
        .await;
    assert_eq!(status, 204);
    assert!(p.blobs.head(&key).await.unwrap().is_none());
}

// Photos and videos share one platform per backend: the Redis queue keys are not namespaced,
// so two platforms on the same Redis at once would take each other's `media` jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_upload_flow_on_sqlite_and_local_files() {
    let p = Platform::start(Backend::Sqlite).await;
    upload_flow(&p).await;
    video_flow(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_upload_flow_on_postgres_redis_and_s3() {
    let p = Platform::start(Backend::RedisPostgres).await;
    upload_flow(&p).await;
    video_flow(&p).await;
}
