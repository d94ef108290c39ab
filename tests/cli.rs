//! The `fleet` binary as a user runs it: migrations, schema checks, keys,
//! config, and `fleet dev` serving the API with its workers in one process.

use fleet_testkit::{TestDb, free_port, unique, wait_for};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Output, Stdio},
    time::Duration,
};

fn fleet(data_dir: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet"));
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("FLEET_")) {
        cmd.env_remove(name);
    }
    cmd.env("FLEET_DATA_DIR", data_dir)
        .env("FLEET_LOG", "warn")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run fleet")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("fleet-cli-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn refuses_unmigrated_database_until_migrate() {
    let dir = temp_dir();
    let out = fleet(&dir, &["queues"], &[]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("not migrated") && msg.contains("fleet migrate"),
        "{msg}"
    );

    let out = fleet(&dir, &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("migrated database from schema version 0"));
    let again = fleet(&dir, &["migrate"], &[]);
    assert!(again.status.success());
    assert!(
        text(&again).contains("up to date"),
        "migrate is idempotent: {}",
        text(&again)
    );

    let out = fleet(&dir, &["queues"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let table = text(&out);
    for queue in fleet_jobs::queues::ALL {
        assert!(table.contains(queue), "{queue} in {table}");
    }
    assert!(table.contains("oldest waiting"));
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let db = TestDb::postgres().await;
    if let fleet_shared::Db::Postgres(pool) = &db.db {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99999, 'from the future', true, '\\x00', 0)",
        )
        .execute(pool)
        .await
        .unwrap();
    }
    let dir = temp_dir();
    let redis = fleet_testkit::redis_url();
    let out = fleet(
        &dir,
        &["queues"],
        &[("FLEET_DATABASE_URL", &db.url), ("FLEET_REDIS_URL", &redis)],
    );
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("newer than this build") && msg.contains("upgrade fleet"),
        "{msg}"
    );
}

#[test]
fn keys_are_shown_once_and_revocable() {
    let dir = temp_dir();
    assert!(fleet(&dir, &["migrate"], &[]).status.success());
    let out = fleet(
        &dir,
        &[
            "keys", "create", "--role", "seller", "--seller", "s-9", "--name", "shop",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = stdout.lines().last().unwrap().trim().to_owned();
    assert!(secret.starts_with("fleet_") && secret.len() > 40);
    let id = stdout.split_whitespace().nth(3).unwrap().to_owned();

    let list = text(&fleet(&dir, &["keys", "list"], &[]));
    assert!(list.contains(&id) && list.contains("s-9") && list.contains("seller"));
    assert!(!list.contains(&secret), "the secret is never listed");
    for file in ["fleet.db", "fleet.db-wal"] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is not stored in {file}"
        );
    }

    assert!(fleet(&dir, &["keys", "revoke", &id], &[]).status.success());
    let again = fleet(&dir, &["keys", "revoke", &id], &[]);
    assert!(!again.status.success());
    let bad = fleet(&dir, &["keys", "create", "--role", "seller"], &[]);
    assert!(!bad.status.success() && text(&bad).contains("--seller"));
}

#[test]
fn config_masks_secrets_and_names_bad_settings() {
    let dir = temp_dir();
    let out = fleet(
        &dir,
        &["config"],
        &[
            ("FLEET_DATABASE_URL", "postgres://fleet:hunter2@db/fleet"),
            ("FLEET_REDIS_URL", "redis://cache:6379"),
            ("FLEET_SECRET_KEY", "s3cr3t-value"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("postgres://fleet:***@db/fleet"), "{shown}");
    assert!(!shown.contains("hunter2") && !shown.contains("s3cr3t-value"));

    let out = fleet(&dir, &["config"], &[("FLEET_QUEUE__LEASE_SECS", "soon")]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("FLEET_QUEUE__LEASE_SECS"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn dev_runs_api_and_workers_in_one_process() {
    let dir = temp_dir();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["dev", "--listen", &format!("127.0.0.1:{port}")])
        .env("FLEET_DATA_DIR", &dir)
        .env("FLEET_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = None;
    for line in lines.by_ref().take(5) {
        let line = line.unwrap();
        if let Some(k) = line.trim().strip_prefix("API key (ops): ") {
            key = Some(k.to_owned());
        }
    }
    let key = key.expect("fleet dev prints an API key");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let ready: Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");

    // No worker kind handles this job type yet: a running worker buries it with a reason.
    let job: Value = http
        .post(format!("{base}/v1/jobs"))
        .bearer_auth(&key)
        .json(&json!({"queue": "payout", "kind": "payout.unknown", "payload": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{base}{}", job["status_url"].as_str().unwrap());
    let done: Value = wait_for(
        "the dev worker to run the job",
        Duration::from_secs(20),
        || async {
            let v: Value = http
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["status"] == "dead").then_some(v)
        },
    )
    .await;
    assert_eq!(
        done["last_error"],
        "no handler for job kind `payout.unknown` on queue `payout`"
    );

    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = wait_for("fleet dev to exit", Duration::from_secs(20), || {
        let s = child.try_wait().unwrap();
        async move { s }
    })
    .await;
    assert!(status.success(), "{status:?}");
    assert!(dir.join("dev-api-key").exists());
}

#[tokio::test]
async fn worker_process_serves_its_metrics_and_drains_on_sigterm() {
    let dir = temp_dir();
    assert!(fleet(&dir, &["migrate"], &[]).status.success());
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["worker", "payout"])
        .env("FLEET_DATA_DIR", &dir)
        .env("FLEET_LOG", "warn")
        .env("FLEET_QUEUE__IDLE_POLL_MS", "50")
        .env("FLEET_WORKER_METRICS_LISTEN", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let db = fleet_shared::Db::connect(&format!("sqlite://{}/fleet.db", dir.display()))
        .await
        .unwrap();
    let queues = fleet_shared::Queues::sql(db);
    let job = fleet_shared::db::jobs::NewJob {
        id: unique("job"),
        kind: "payout.unknown".into(),
        queue: "payout".into(),
        payload: "{}".into(),
        idempotency_key: None,
        seller_id: None,
        priority: 0,
        max_attempts: 3,
        run_at: fleet_shared::db::now_ms(),
    };
    let id = queues.enqueue(vec![job]).await.unwrap().remove(0).id;
    let http = reqwest::Client::new();
    let metrics = wait_for(
        "the worker to bury the job and count it",
        Duration::from_secs(20),
        || async {
            let body = http
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            body.contains("fleet_job_attempts_total{queue=\"payout\",outcome=\"dead\"} 1")
                .then_some(body)
        },
    )
    .await;
    assert!(metrics.contains("fleet_job_duration_seconds"), "{metrics}");
    // The attempt is counted as it ends; its outcome reaches the jobs table in the next write batch.
    wait_for(
        "the job to be recorded dead",
        Duration::from_secs(10),
        || async {
            let job = queues.db().job(&id).await.ok()??;
            (job.status == fleet_jobs::JobStatus::Dead).then_some(())
        },
    )
    .await;
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_for("fleet worker to exit", Duration::from_secs(20), || {
        let s = child.try_wait().unwrap();
        async move { s }
    })
    .await;
    assert!(status.success(), "{status:?}");
}

#[test]
fn queues_watch_redraws_in_place() {
    let dir = temp_dir();
    assert!(fleet(&dir, &["migrate"], &[]).status.success());
    let out = fleet(&dir, &["queues"], &[]);
    let once = text(&out);
    for column in ["processed/min", "p95", "live workers", "recommended"] {
        assert!(once.contains(column), "{column} in {once}");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["queues", "--watch", "1"])
        .env("FLEET_DATA_DIR", &dir)
        .env("FLEET_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    // Cleared once, then every frame starts at the top-left corner and clears what it leaves below.
    assert_eq!(screen.matches("\x1b[2J").count(), 1, "{screen:?}");
    assert!(screen.matches("\x1b[H").count() >= 2, "{screen:?}");
    assert!(screen.contains("\x1b[J"));
    assert!(screen.contains("every 1s; Ctrl-C to stop"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// After the secret key is rotated, `fleet secrets reseal` moves every stored
/// secret to the new key; before the old key is listed it names the fix.
#[tokio::test]
async fn secrets_reseal_moves_stored_secrets_to_the_current_key() {
    use fleet_jobs::export::Marketplace;
    use fleet_shared::{
        Db,
        db::notify::WebhookEndpoint,
        payout::{bank::PayoutDestination, destination},
        seal::Sealer,
        secret::SecretKey,
    };
    let dir = temp_dir();
    assert!(fleet(&dir, &["migrate"], &[]).status.success());
    let db = Db::connect(&format!("sqlite://{}/fleet.db", dir.display()))
        .await
        .unwrap();
    let (old, new) = ("o".repeat(40), "n".repeat(40));
    let sealer = |text: &str| Sealer::credentials(&SecretKey::from_text(text).unwrap());
    let account = PayoutDestination {
        bank: None,
        stripe_account: Some("acct_1reseal".to_owned()),
    };
    destination::store(&db, &sealer(&old), "s1", &account)
        .await
        .unwrap();
    db.insert_webhook_endpoint(&WebhookEndpoint {
        id: "we_1".to_owned(),
        url: "https://backend.test/hooks".to_owned(),
        description: None,
        event_types: Vec::new(),
        secret_sealed: sealer(&old).seal("we_1", b"whsec_c2VjcmV0"),
        status: "enabled".to_owned(),
        disabled_reason: None,
        failing_since: None,
        created_at: 0,
    })
    .await
    .unwrap();
    let context = "export-connection:s1:shopify";
    db.put_connection(
        "s1",
        Marketplace::Shopify,
        &sealer(&old).seal(context, br#"{"access_token":"shpat_x"}"#),
        &serde_json::Map::new(),
    )
    .await
    .unwrap();

    let out = fleet(&dir, &["secrets", "reseal"], &[("FLEET_SECRET_KEY", &new)]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("3 values could not be opened"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("secret_key_previous"), "{}", text(&out));

    let previous = format!("[\"{old}\"]");
    let env = [
        ("FLEET_SECRET_KEY", new.as_str()),
        ("FLEET_SECRET_KEY_PREVIOUS", previous.as_str()),
    ];
    let out = fleet(&dir, &["secrets", "reseal"], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("resealed 3 values"), "{}", text(&out));

    // The new key alone opens everything now.
    let current = sealer(&new);
    assert_eq!(
        destination::load(&db, &current, "s1").await.unwrap(),
        Some(account)
    );
    let endpoint = db.webhook_endpoint("we_1").await.unwrap().unwrap();
    assert_eq!(
        current.open("we_1", &endpoint.secret_sealed).unwrap(),
        b"whsec_c2VjcmV0"
    );
    let connection = db
        .connection("s1", Marketplace::Shopify)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        current.open(context, &connection.credentials).unwrap(),
        br#"{"access_token":"shpat_x"}"#
    );
    let again = fleet(&dir, &["secrets", "reseal"], &env);
    assert!(
        text(&again).contains("resealed 0 values") && text(&again).contains("3 were already"),
        "{}",
        text(&again)
    );
}
