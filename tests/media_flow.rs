//! Media uploads end to end through the API and a media worker, on both
//! backends: SQLite with the local blob store (whose signed URLs the API
//! serves) and PostgreSQL + Redis with a real S3-compatible server.

use fleet_jobs::WorkerKind;
use fleet_shared::{
    blob::{BlobKey, BlobLocation, Blobs, S3Store},
    db::api_keys::Role,
};
use fleet_testkit::{Backend, platform::Platform, s3::S3Server, wait_for};
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};

/// The platform with a media worker, and two sellers' keys.
struct Media {
    p: Platform,
    seller1: String,
    seller2: String,
    _s3: Option<S3Server>,
}

impl std::ops::Deref for Media {
    type Target = Platform;

    fn deref(&self) -> &Platform {
        &self.p
    }
}

impl Media {
    /// SQLite with the local blob store (served by the API), or PostgreSQL + Redis with S3.
    async fn start(backend: Backend) -> Media {
        let builder = Platform::on(backend).workers(&[WorkerKind::Media]);
        let (p, s3) = match backend {
            Backend::Sqlite => (builder.start().await, None),
            Backend::RedisPostgres => {
                let server = S3Server::start();
                let BlobLocation::S3(settings) = BlobLocation::parse(&server.blob_url()).unwrap()
                else {
                    unreachable!()
                };
                let creds = Some((server.access_key.clone(), server.secret_key.clone()));
                let blobs: Blobs = Arc::new(S3Store::connect(settings, creds).await);
                (builder.blobs(blobs).start().await, Some(server))
            }
        };
        Media {
            seller1: p.key(Role::Seller, Some("s1")).await,
            seller2: p.key(Role::Seller, Some("s2")).await,
            p,
            _s3: s3,
        }
    }

    /// `POST /v1/media/{id}/complete` with `key`.
    async fn complete(&self, key: &str, id: &str) -> (u16, Value) {
        self.call("POST", &format!("/v1/media/{id}/complete"), key, None)
            .await
    }

    /// Creates a photo upload and PUTs `bytes` to its URL; returns the media id.
    async fn upload(&self, key: &str, content_type: &str, bytes: &[u8]) -> String {
        self.upload_media(key, "listing_photo", content_type, bytes)
            .await
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

async fn upload_flow(p: &Media) {
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
    let (status, other) = p.complete(&p.seller2, &id).await;
    assert_eq!(status, 404, "another seller cannot complete it: {other}");
    let (status, queued) = p.complete(&p.seller1, &id).await;
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
    p.complete(&p.seller1, &again).await;
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
    let (status, err) = p.complete(&p.seller1, pending).await;
    assert_eq!(status, 409, "{err}");
    let source = BlobKey::new(format!("uploads/{pending}/source")).unwrap();
    p.blobs
        .put_bytes(&source, bytes::Bytes::from_static(b"short"), "image/png")
        .await
        .unwrap();
    let (status, err) = p.complete(&p.seller1, pending).await;
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
    p.complete(&p.seller1, &fake).await;
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

async fn video_flow(p: &Media) {
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
        .upload_media(
            &p.seller1,
            "listing_video",
            "video/mp4",
            &clip[..clip.len() - 4000],
        )
        .await;
    p.complete(&p.seller1, &broken).await;
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
        .upload_media(&p.seller1, "listing_video", "video/mp4", &clip)
        .await;
    let (status, queued) = p.complete(&p.seller1, &id).await;
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
    let p = Media::start(Backend::Sqlite).await;
    upload_flow(&p).await;
    video_flow(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_upload_flow_on_postgres_redis_and_s3() {
    let p = Media::start(Backend::RedisPostgres).await;
    upload_flow(&p).await;
    video_flow(&p).await;
}
