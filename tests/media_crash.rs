//! Crash injection for videos: `fleet worker media` (a real child process) is
//! killed with SIGKILL in the middle of a transcode, after it reported frames
//! done. Its lease expires, a new worker runs the job again, and the video
//! ends ready: a playable MP4 with its index first, and a poster ladder. The
//! killed attempt's scratch directory is removed, and the blob store holds
//! the upload and the variants, nothing else. On SQLite with the local blob
//! store, and on PostgreSQL + Redis with a real S3-compatible server.

use fleet_shared::{
    blob::{BlobLocation, Blobs, S3Store},
    db::api_keys::Role,
};
use fleet_testkit::{
    Backend, platform::Platform, s3::S3Server, unique, wait_for, worker::WorkerProcess,
};
use serde_json::Value;
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

/// The API (no in-process worker), the S3 server on that backend, and the directories the
/// child workers use.
struct Setup {
    p: Platform,
    s3: Option<S3Server>,
    /// The workers' `media.temp_dir`.
    scratch: PathBuf,
    /// The workers' `data_dir`.
    data: PathBuf,
}

impl Setup {
    async fn start(backend: Backend) -> Setup {
        let (p, s3) = match backend {
            Backend::Sqlite => (Platform::on(backend).start().await, None),
            Backend::RedisPostgres => {
                let server = S3Server::start();
                let url = server.blob_url();
                let BlobLocation::S3(settings) = BlobLocation::parse(&url).unwrap() else {
                    unreachable!()
                };
                let creds = (server.access_key.clone(), server.secret_key.clone());
                let blobs: Blobs = Arc::new(S3Store::connect(settings, Some(creds.clone())).await);
                let p = Platform::on(backend)
                    .blobs(blobs)
                    .configure(move |c| {
                        c.blob_url = Some(url);
                        (c.s3_access_key_id, c.s3_secret_access_key) =
                            (Some(creds.0), Some(creds.1));
                    })
                    .start()
                    .await;
                (p, Some(server))
            }
        };
        let root = std::env::temp_dir().join(unique("fleet-media-crash-"));
        let (scratch, data) = (root.join("scratch"), root.join("data"));
        for dir in [&scratch, &data] {
            std::fs::create_dir_all(dir).unwrap();
        }
        Setup {
            p,
            s3,
            scratch,
            data,
        }
    }

    /// `fleet worker media` on the platform's database, queues and blob store, with a 2 s lease.
    /// A `slow` one encodes with x264's slowest preset on one thread, so that a kill lands in
    /// the middle of the transcode.
    fn spawn_worker(&self, slow: bool) -> WorkerProcess {
        let c = &self.p.config;
        let mut env = vec![
            ("FLEET_DATABASE_URL", self.p.db.url.clone()),
            ("FLEET_DATA_DIR", self.data.display().to_string()),
            ("FLEET_BLOB_URL", c.blob_url()),
            ("FLEET_MEDIA__TEMP_DIR", self.scratch.display().to_string()),
            ("FLEET_QUEUE__LEASE_SECS", "2".to_owned()),
            ("FLEET_QUEUE__IDLE_POLL_MS", "50".to_owned()),
            ("FLEET_KINDS__MEDIA__BACKOFF_BASE_MS", "100".to_owned()),
        ];
        for (name, value) in [
            ("FLEET_SECRET_KEY", &c.secret_key),
            ("FLEET_REDIS_URL", &c.redis_url),
            ("FLEET_S3_ACCESS_KEY_ID", &c.s3_access_key_id),
            ("FLEET_S3_SECRET_ACCESS_KEY", &c.s3_secret_access_key),
        ] {
            if let Some(value) = value {
                env.push((name, value.clone()));
            }
        }
        if slow {
            env.push(("FLEET_MEDIA__VIDEO_PRESET", "veryslow".to_owned()));
            env.push(("FLEET_MEDIA__VIDEO_THREADS", "1".to_owned()));
        }
        WorkerProcess::spawn(env!("CARGO_BIN_EXE_fleet"), &["media"], &env)
    }

    /// Uploads `bytes` as a `listing_video` and completes it; returns the media id and its job id.
    async fn upload_video(&self, key: &str, bytes: &[u8]) -> (String, String) {
        let id = self
            .p
            .upload_media(key, "listing_video", "video/mp4", bytes)
            .await;
        let (status, queued) = self
            .p
            .call("POST", &format!("/v1/media/{id}/complete"), key, None)
            .await;
        assert_eq!(status, 202, "{queued}");
        let (_, media) = self
            .p
            .call("GET", &format!("/v1/media/{id}"), key, None)
            .await;
        let job = media["job_id"].as_str().unwrap().to_owned();
        (id, job)
    }

    async fn get(&self, key: &str, path: &str) -> Value {
        let (status, body) = self.p.call("GET", path, key, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Every object key in the blob store, and the store's leftovers of unfinished writes.
    fn blob_keys(&self) -> (BTreeSet<String>, Vec<String>) {
        match &self.s3 {
            Some(s3) => (s3.keys().into_iter().collect(), s3.unfinished_writes()),
            None => {
                let root = self.p.blobs.as_fs().unwrap().root();
                let mut keys = BTreeSet::new();
                files(root, root, &mut keys);
                let temporary = keys
                    .iter()
                    .filter(|k| k.starts_with(".tmp/"))
                    .cloned()
                    .collect();
                keys.retain(|k| !k.starts_with(".tmp/") && !k.starts_with(".meta/"));
                (keys, temporary)
            }
        }
    }
}

/// Paths of the files under `dir`, relative to `root`.
fn files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).unwrap();
            out.insert(relative.to_string_lossy().into_owned());
        }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The blob key inside a variant URL (`…/media/{sha}/720.mp4?…`).
fn variant_key(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    path[path.find("media/").unwrap()..].to_owned()
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

/// `ffprobe -show_streams -show_format` of `path`, as JSON.
fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (Debian package ffmpeg) must be installed");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Decodes every frame of `path` with the `ffmpeg` command; returns what it complained about.
fn ffmpeg_decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg (Debian package ffmpeg) must be installed");
    assert!(out.status.success(), "ffmpeg {}", path.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn killed_mid_transcode(backend: Backend) {
    let started = Instant::now();
    let s = Setup::start(backend).await;
    let seller = s.p.key(Role::Seller, Some("s1")).await;
    let clip = std::fs::read(format!(
        "{}/../shared/testdata/media/clip-1080p.mp4",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (id, job) = s.upload_video(&seller, &clip).await;
    let job_path = format!("/v1/jobs/{job}");

    let worker = s.spawn_worker(true);
    let before = wait_for(
        "the job to report frames done",
        Duration::from_secs(120),
        || async {
            let j = s.get(&seller, &job_path).await;
            let done = j["progress"]["done"].as_i64().unwrap_or(0);
            (done > 0 && j["progress"]["total"].as_i64() == Some(180)).then_some(j)
        },
    )
    .await;
    worker.sigkill();
    assert_eq!(before["status"], "running", "{before}");
    assert_eq!(before["attempts"], 1, "{before}");
    let media = s.get(&seller, &format!("/v1/media/{id}")).await;
    assert_eq!(
        media["status"], "processing",
        "killed mid-transcode: {media}"
    );
    // The killed attempt left its scratch directory: the upload and a rendition half written.
    let left = entries(&s.scratch);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].starts_with(&format!("fleet-video-{job}-")),
        "{left:?}"
    );
    let in_it = entries(&s.scratch.join(&left[0]));
    assert!(
        in_it.contains(&"source".to_owned()) && in_it.contains(&"720.mp4".to_owned()),
        "{in_it:?}"
    );
    let killed_at = Instant::now();

    // A new worker takes the job again once its lease has expired, and finishes it.
    let worker = s.spawn_worker(false);
    let media = wait_for("the video to settle", Duration::from_secs(180), || async {
        let m = s.get(&seller, &format!("/v1/media/{id}")).await;
        matches!(m["status"].as_str(), Some("ready" | "failed")).then_some(m)
    })
    .await;
    let redone_in = killed_at.elapsed();
    assert_eq!(media["status"], "ready", "{media}");
    let job_view = wait_for("the job to succeed", Duration::from_secs(10), || async {
        let j = s.get(&seller, &job_path).await;
        (j["status"] == "succeeded").then_some(j)
    })
    .await;
    worker.sigkill();
    assert!(
        job_view["attempts"].as_i64().unwrap() >= 2,
        "the lost attempt counts: {job_view}"
    );
    assert_eq!(job_view["progress"]["done"], 180, "{job_view}");
    assert_eq!(job_view["progress"]["total"], 180, "{job_view}");

    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(1920), Some(1080))
    );
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
            "720.mp4:1280x720",
            "poster-320.jpeg:320x180",
            "poster-320.webp:320x180",
            "poster-640.jpeg:640x360",
            "poster-640.webp:640x360",
            "poster-1280.jpeg:1280x720",
            "poster-1280.webp:1280x720",
            "poster-2048.jpeg:1920x1080",
            "poster-2048.webp:1920x1080",
        ]
    );

    // The rendition plays from start to end, with its index first.
    let mp4 = &variants[0];
    let download =
        s.p.http
            .get(mp4["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    assert_eq!(download.status(), 200);
    let bytes = download.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, mp4["bytes"].as_i64().unwrap());
    let boxes = top_level_boxes(&bytes);
    let at = |name: &str| boxes.iter().position(|b| b == name).unwrap();
    assert_eq!(boxes[0], "ftyp");
    assert!(at("moov") < at("mdat"), "faststart: {boxes:?}");
    let file = s.data.join("720.mp4");
    std::fs::write(&file, &bytes).unwrap();
    let probe = ffprobe(&file);
    let streams = probe["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["pix_fmt"], "yuv420p");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(1280), Some(720))
    );
    assert_eq!(video["nb_frames"], "180", "every frame, once: {video}");
    assert_eq!(audio["codec_name"], "aac");
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((5.9..6.2).contains(&duration), "{duration}");
    let errors = ffmpeg_decode_errors(&file);
    assert!(errors.is_empty(), "decoding the rendition: {errors}");

    // The poster variants are what they say.
    for v in &variants[1..] {
        let got =
            s.p.http
                .get(v["url"].as_str().unwrap())
                .send()
                .await
                .unwrap();
        assert_eq!(got.status(), 200);
        let body = got.bytes().await.unwrap();
        assert_eq!(body.len() as i64, v["bytes"].as_i64().unwrap());
        match v["format"].as_str().unwrap() {
            "jpeg" => assert_eq!(&body[..3], b"\xFF\xD8\xFF"),
            _ => assert_eq!(&body[8..12], b"WEBP"),
        }
    }

    // Nothing else is left: the killed attempt's scratch directory is gone, and the blob store
    // holds the upload and the variants, with no partial object or unfinished upload.
    assert_eq!(entries(&s.scratch), Vec::<String>::new());
    let mut expected: BTreeSet<String> = variants
        .iter()
        .map(|v| variant_key(v["url"].as_str().unwrap()))
        .collect();
    expected.insert(format!("uploads/{id}/source"));
    let (keys, unfinished) = s.blob_keys();
    assert_eq!(keys, expected);
    assert_eq!(unfinished, Vec::<String>::new());

    let _ = std::fs::remove_dir_all(s.scratch.parent().unwrap());
    eprintln!(
        "{backend:?}: redone in {:.1} s after the kill, {:.1} s in all",
        redone_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_video_job_killed_mid_transcode_is_redone_on_sqlite() {
    killed_mid_transcode(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_video_job_killed_mid_transcode_is_redone_on_postgres_redis_and_s3() {
    killed_mid_transcode(Backend::RedisPostgres).await;
}
