//! Autoscaling under a burst (issue 9): `fleet supervise` runs the workers of
//! every kind on PostgreSQL and a Redis server of its own, with the API as a
//! separate `fleet api` process. Once every kind idles at its minimum, 5,000
//! photo uploads are completed at once (5,000 media jobs) and an export of
//! 2,000 listings to a local Shopify fake (standard cost bucket) is started
//! (200 chunk jobs of 10). The supervisor records queue depth and replicas
//! per kind each tick; when the backlog has drained and the workers are back
//! at their minimum, the record is judged and drawn.
//!
//! Usage: autoscale-bench FLEET_BIN OUT_DIR [MEDIA_JOBS] [EXPORT_CHUNKS]
//! Writes OUT_DIR/autoscale.csv and OUT_DIR/autoscale.png; prints one JSON line.

mod chart;
mod procs;
mod record;
#[path = "../rss.rs"]
mod rss;

use fleet_jobs::WorkerKind;
use fleet_shared::{
    config::KindsSettings,
    db::{
        api_keys::Role,
        listings::{CategoryChange, Condition, ListingWrite},
    },
};
use fleet_testkit::{
    RedisServer, TestDb, free_port,
    shopify::{FakeShopify, ShopifyLimits},
    unique,
};
use futures::{StreamExt, TryStreamExt};
use reqwest::Client;
use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SECRET: &str = "fleet-autoscale-bench-secret-key-0123456789abcdef";
/// Listings per export chunk job.
const CHUNK: usize = 10;
/// Supervisor tick.
const INTERVAL_MS: u64 = 2_000;
/// Scale-down stabilisation window (the product's default).
const WINDOW_SECS: u64 = 60;
/// Most processes per kind on this 2-core machine (the product allows 20 media, 10 export).
const MEDIA_MAX: u32 = 6;
const EXPORT_MAX: u32 = 4;
/// Requests in flight at once while uploading and completing.
const CLIENTS: usize = 32;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `fleet ARGS…` with the bench's settings and nothing inherited from `FLEET_*`.
fn fleet(bin: &str, env: &[(String, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("FLEET_")) {
        cmd.env_remove(name);
    }
    // Their logs go to stderr: stdout carries only the result line.
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::io::stderr());
    // If the benchmark dies, so do the API and the supervisor (whose workers follow it).
    // SAFETY: the hook only calls prctl(2), which is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(
            &mut cmd,
            fleet_shared::signal::term_with_parent,
        );
    }
    cmd
}

/// The API's answer to an authenticated JSON request; anything but 2xx is an error.
async fn call(
    http: &Client,
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, BoxError> {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        return Err(format!("{path}: {status}: {text}").into());
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `jpeg` with a comment segment naming `n`: a distinct photo to the media worker's dedupe.
fn distinct(jpeg: &[u8], n: usize) -> Vec<u8> {
    let comment = format!("fleet autoscale bench photo {n}");
    let len = (comment.len() + 2) as u16;
    let mut out = Vec::with_capacity(jpeg.len() + comment.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(comment.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Creates a photo upload and PUTs its bytes; returns the media id (not completed yet).
async fn upload(http: &Client, base: &str, key: &str, bytes: Vec<u8>) -> Result<String, BoxError> {
    let created = call(
        http,
        base,
        key,
        reqwest::Method::POST,
        "/v1/media/uploads",
        Some(json!({"purpose": "listing_photo", "content_type": "image/jpeg", "size_bytes": bytes.len()})),
    )
    .await?;
    let upload = &created["upload"];
    let mut put = http
        .put(upload["url"].as_str().ok_or("no upload URL")?)
        .body(bytes);
    for (name, value) in upload["headers"].as_object().into_iter().flatten() {
        put = put.header(name, value.as_str().unwrap_or_default());
    }
    put.send().await?.error_for_status()?;
    Ok(created["media_id"]
        .as_str()
        .ok_or("no media id")?
        .to_owned())
}

/// Media of the run by status.
async fn media_counts(db: &TestDb) -> Result<(i64, i64), BoxError> {
    let fleet_shared::Db::Postgres(pool) = &db.db else {
        return Err("the autoscale benchmark runs on PostgreSQL".into());
    };
    Ok(sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE status = 'ready'), COUNT(*) FILTER (WHERE status = 'failed') FROM media",
    )
    .fetch_one(pool)
    .await?)
}

/// Waits until `check` says yes, polling every second, for at most `limit`.
async fn until<F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<(), BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, BoxError>>,
{
    let started = Instant::now();
    while !check().await? {
        if started.elapsed() > limit {
            return Err(format!("gave up waiting for {what} after {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

/// The replicas of each kind in the last tick recorded.
fn latest_replicas(csv: &Path) -> Vec<(String, u32)> {
    let ticks = std::fs::read_to_string(csv)
        .ok()
        .and_then(|s| record::parse(&s).ok())
        .unwrap_or_default();
    record::by_kind(&ticks)
        .into_iter()
        .filter_map(|(kind, series)| Some((kind, series.last()?.replicas)))
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: autoscale-bench FLEET_BIN OUT_DIR [MEDIA_JOBS] [EXPORT_CHUNKS]";
    let bin = args.get(1).ok_or(usage)?.clone();
    let out = PathBuf::from(args.get(2).ok_or(usage)?);
    let media_jobs: usize = args.get(3).map_or(Ok(5_000), |a| a.parse())?;
    let chunks: usize = args.get(4).map_or(Ok(200), |a| a.parse())?;
    std::fs::create_dir_all(&out)?;
    let csv = out.join("autoscale.csv");
    let _ = std::fs::remove_file(&csv);
    let jpeg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/media/progressive.jpg"
    ))?;

    let redis = RedisServer::start().await;
    let db = TestDb::postgres().await;
    let shop = FakeShopify::start(ShopifyLimits::default());
    let data = std::env::temp_dir().join(unique("fleet-autoscale-"));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env: Vec<(String, String)> = [
        ("FLEET_DATABASE_URL", db.url.clone()),
        ("FLEET_REDIS_URL", redis.url()),
        ("FLEET_SECRET_KEY", SECRET.to_owned()),
        ("FLEET_DATA_DIR", data.display().to_string()),
        ("FLEET_LISTEN", format!("127.0.0.1:{port}")),
        ("FLEET_PUBLIC_URL", base.clone()),
        ("FLEET_LOG", "warn".to_owned()),
        // One key sends the whole burst (many sellers would, each within its limit).
        ("FLEET_API__RATE_LIMIT_PER_SEC", "1000000".to_owned()),
        ("FLEET_API__RATE_LIMIT_BURST", "1000000".to_owned()),
        ("FLEET_EXPORT__SHOPIFY_API_BASE", shop.base.clone()),
        ("FLEET_EXPORT__CHUNK_SIZE", CHUNK.to_string()),
        // 14 processes at the peak (workers, supervisor, API) × 6 stay under PostgreSQL's 100.
        ("FLEET_DATABASE_MAX_CONNECTIONS", "6".to_owned()),
        ("FLEET_KINDS__MEDIA__MAX_REPLICAS", MEDIA_MAX.to_string()),
        ("FLEET_KINDS__EXPORT__MAX_REPLICAS", EXPORT_MAX.to_string()),
        ("FLEET_SUPERVISE__INTERVAL_MS", INTERVAL_MS.to_string()),
        (
            "FLEET_SUPERVISE__SCALE_DOWN_WINDOW_SECS",
            WINDOW_SECS.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut kinds = KindsSettings::default();
    kinds.media.max_replicas = MEDIA_MAX;
    kinds.export.max_replicas = EXPORT_MAX;

    let _api = Proc(fleet(&bin, &env, &["api"]).spawn()?);
    let http = Client::new();
    until("the API", Duration::from_secs(30), || async {
        Ok(http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()))
    })
    .await?;
    let (_, key) = db
        .db
        .create_api_key("bench", Role::Seller, Some("s1"))
        .await?;
    let post = reqwest::Method::POST;
    call(
        &http,
        &base,
        &key,
        reqwest::Method::PUT,
        "/v1/connections/shopify",
        Some(json!({"shop_domain": shop.shop_domain, "access_token": shop.access_token})),
    )
    .await?;
    // The catalogue exists before the burst: stored directly, so the API's
    // categorize jobs for new listings are not part of it.
    let listings: Vec<ListingWrite> = (0..chunks * CHUNK)
        .map(|i| ListingWrite {
            sku: format!("SKU-{i:05}"),
            title: format!("Wool jumper {i}"),
            description: "Warm wool, hand wash".to_owned(),
            price_minor: Some(1250 + i as i64),
            currency: Some("EUR".to_owned()),
            quantity: 1,
            condition: Condition::Good,
            brand: Some("Acme".to_owned()),
            size: Some("M".to_owned()),
            colour: None,
            material: None,
            category: CategoryChange::Seller(Some(
                "gid://shopify/TaxonomyCategory/aa-1-13".to_owned(),
            )),
            images: Vec::new(),
            attributes: Default::default(),
        })
        .collect();
    for batch in listings.chunks(1_000) {
        db.db.upsert_listings("s1", batch).await?;
    }
    let photos: Vec<String> = futures::stream::iter(0..media_jobs)
        .map(|n| upload(&http, &base, &key, distinct(&jpeg, n)))
        .buffer_unordered(CLIENTS)
        .try_collect()
        .await?;
    eprintln!(
        "{} photos uploaded, {} listings stored",
        photos.len(),
        listings.len()
    );

    let mut supervisor = Proc(
        fleet(&bin, &env, &["supervise", "--record"])
            .arg(&csv)
            .spawn()?,
    );
    let at_minimum = |kinds: &KindsSettings| {
        let now = latest_replicas(&csv);
        now.len() == WorkerKind::ALL.len()
            && now.iter().all(|(kind, n)| {
                kind.parse::<WorkerKind>()
                    .is_ok_and(|k| *n == kinds.of(k).min_replicas)
            })
    };
    until(
        "every kind at its minimum",
        Duration::from_secs(60),
        || async { Ok(at_minimum(&kinds)) },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(10)).await;

    // The burst.
    let origin_ms = fleet_shared::db::now_ms();
    let started = Instant::now();
    let run = call(
        &http,
        &base,
        &key,
        post.clone(),
        "/v1/exports",
        Some(json!({"marketplace": "shopify", "listings": {"all": true}, "mode": "push"})),
    )
    .await?;
    let run_id = run["id"].as_str().ok_or("no export run id")?.to_owned();
    futures::stream::iter(&photos)
        .map(|id| {
            let path = format!("/v1/media/{id}/complete");
            let (http, base, key, post) = (&http, &base, &key, post.clone());
            async move { call(http, base, key, post, &path, None).await }
        })
        .buffer_unordered(CLIENTS)
        .try_collect::<Vec<_>>()
        .await?;
    let burst_secs = started.elapsed().as_secs_f64();
    eprintln!("burst enqueued in {burst_secs:.1} s");

    let mut usage = procs::Sampler::new(supervisor.0.id());
    let mut media_done = None;
    let mut export_done = None;
    while media_done.is_none() || export_done.is_none() {
        usage.sample();
        if started.elapsed() > Duration::from_secs(3_600) {
            return Err("the backlog did not drain within an hour".into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (ready, failed) = media_counts(&db).await?;
        if media_done.is_none() && (ready + failed) as usize == photos.len() {
            media_done = Some((started.elapsed().as_secs_f64(), ready, failed));
        }
        let run = call(
            &http,
            &base,
            &key,
            reqwest::Method::GET,
            &format!("/v1/exports/{run_id}"),
            None,
        )
        .await?;
        let status = run["status"].as_str().unwrap_or_default();
        if export_done.is_none() && !matches!(status, "planning" | "running") {
            export_done = Some((
                started.elapsed().as_secs_f64(),
                status.to_owned(),
                run["totals"].clone(),
            ));
        }
    }
    let drained_secs = started.elapsed().as_secs_f64();
    eprintln!("backlog drained in {drained_secs:.0} s; waiting for the scale-down");
    until(
        "every kind back at its minimum",
        Duration::from_secs(WINDOW_SECS * 4),
        || async { Ok(at_minimum(&kinds)) },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(INTERVAL_MS * 3)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &supervisor.0.id().to_string()])
        .status();
    let stopping = Instant::now();
    while supervisor.0.try_wait()?.is_none() {
        if stopping.elapsed() > Duration::from_secs(60) {
            return Err("fleet supervise did not stop within 60 s of SIGTERM".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let ticks = record::parse(&std::fs::read_to_string(&csv)?)?;
    let series = record::by_kind(&ticks);
    chart::draw(&out.join("autoscale.png"), &series, origin_ms)?;
    let mut per_kind = serde_json::Map::new();
    for (kind, ticks) in &series {
        let min = kind
            .parse::<WorkerKind>()
            .map(|k| kinds.of(k).min_replicas)?;
        let after: Vec<_> = ticks.iter().filter(|t| t.at_ms >= origin_ms).collect();
        let most = after.iter().map(|t| t.replicas).max();
        let peak = after.iter().find(|t| Some(t.replicas) == most);
        let turns = record::direction_changes(ticks);
        per_kind.insert(
            kind.clone(),
            json!({
                "min": min,
                "peak_replicas": peak.map_or(0, |t| t.replicas),
                "peak_at_secs": peak.map_or(0.0, |t| (t.at_ms - origin_ms) as f64 / 1000.0),
                "most_waiting": ticks.iter().map(|t| t.waiting).max().unwrap_or(0),
                "direction_changes": turns.len(),
                "most_changes_per_min": record::most_changes_within(&turns, 60_000),
                "always_at_min": ticks.iter().all(|t| t.replicas == min),
                "ends_at_min": ticks.last().is_some_and(|t| t.replicas == min),
            }),
        );
    }
    let (media_secs, ready, failed) = media_done.unwrap_or_default();
    let (export_secs, export_status, totals) = export_done.unwrap_or_default();
    println!(
        "{}",
        json!({
            "media_jobs": photos.len(), "export_chunks": chunks, "listings": listings.len(),
            "burst_secs": burst_secs, "drained_secs": drained_secs,
            "media": {"secs": media_secs, "ready": ready, "failed": failed},
            "export": {"secs": export_secs, "status": export_status, "totals": totals,
                       "products": shop.products().len()},
            "interval_ms": INTERVAL_MS, "window_secs": WINDOW_SECS, "ticks": ticks.len(),
            "kinds": per_kind,
            "usage": usage.by_kind(),
        })
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
