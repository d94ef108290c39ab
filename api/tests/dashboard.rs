//! The ops dashboard end to end in headless Chromium (Debian's `chromium`,
//! driven by playwright-core from api/tests/e2e; `scripts/test` installs
//! both): sign in with an ops key, see figures change after jobs are
//! enqueued, retry a dead job with its button.

use fleet_api::AppState;
use fleet_shared::{
    Config,
    db::{api_keys::Role, jobs::NewJob, jobs::Outcome},
};
use fleet_testkit::{TestDb, unique};
use std::{path::Path, process::Command, time::Duration};
use tokio::sync::oneshot;

#[tokio::test]
async fn dashboard_in_headless_chromium() {
    let db = TestDb::sqlite().await;
    let queues = db.queues().await;
    let config = Config {
        database_url: Some(db.url.clone()),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let blobs = fleet_testkit::fs_blobs(&base).await;
    let state = AppState::new(config, queues.clone(), blobs).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(fleet_api::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let ops = db
        .db
        .create_api_key("e2e", Role::Ops, None)
        .await
        .unwrap()
        .1;
    let backend = db
        .db
        .create_api_key("e2e", Role::Backend, None)
        .await
        .unwrap()
        .1;

    // A dead payout job, the way a worker buries one.
    let job = NewJob {
        id: unique("job"),
        kind: "payout.e2e".into(),
        queue: "payout".into(),
        payload: "{}".into(),
        idempotency_key: None,
        seller_id: None,
        priority: 0,
        max_attempts: 1,
        run_at: fleet_shared::db::now_ms(),
    };
    queues.enqueue(vec![job]).await.unwrap();
    let leased = queues
        .fetch("payout", "e2e", 1, Duration::from_secs(30))
        .await
        .unwrap();
    let outcome = Outcome::dead(
        &leased[0].id,
        leased[0].attempt,
        "planned for the e2e test".into(),
    );
    queues.finish("payout", &[outcome]).await.unwrap();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run ./scripts/test, or npm ci --prefix api/tests/e2e"
    );
    let base_url = base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("dashboard.mjs"))
            .args([&base_url, &ops, &backend])
            .output()
            .expect("node must be installed")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("dashboard e2e: ok"), "{text}");

    // The page is public and static; its data needs the ops key.
    let resp = reqwest::get(format!("{base}/ops")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(resp.text().await.unwrap().contains("<form id=\"login\""));
    let _ = stop.send(());
}
