//! `fleet supervise` as a user runs it: worker processes follow a backlog up
//! to the maximum, come back down to the minimum after the stabilisation
//! window, idle kinds stay at their minimum, and SIGTERM stops everything.

use fleet_shared::{Queues, db::jobs::NewJob, queue::report::WORKER_LIVE_MS};
use fleet_testkit::{unique, wait_for};
use std::{path::PathBuf, process::Command, time::Duration};

fn fleet(dir: &PathBuf) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet"));
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("FLEET_")) {
        cmd.env_remove(name);
    }
    cmd.env("FLEET_DATA_DIR", dir).env("FLEET_LOG", "error");
    cmd
}

fn dead_end_jobs(n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|_| NewJob {
            id: unique("job"),
            kind: "payout.no_such_kind".into(),
            queue: "payout".into(),
            payload: "{}".into(),
            idempotency_key: None,
            seller_id: None,
            priority: 0,
            max_attempts: 1,
            run_at: fleet_shared::db::now_ms(),
        })
        .collect()
}

/// `(replicas)` per tick of `kind` in the CSV the supervisor records.
fn replicas(csv: &str, kind: &str) -> Vec<u32> {
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.get(1) == Some(&kind)).then(|| f[5].parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn scales_up_under_a_backlog_and_back_down() {
    let dir = std::env::temp_dir().join(unique("fleet-supervise-"));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(fleet(&dir).arg("migrate").status().unwrap().success());
    let csv = dir.join("scale.csv");
    let mut supervisor = fleet(&dir)
        .args(["supervise", "payout", "categorize", "--record"])
        .arg(&csv)
        .env("FLEET_SUPERVISE__INTERVAL_MS", "200")
        .env("FLEET_SUPERVISE__SCALE_DOWN_WINDOW_SECS", "3")
        .env("FLEET_KINDS__PAYOUT__TARGET_PER_REPLICA", "10")
        .env("FLEET_KINDS__PAYOUT__MIN_REPLICAS", "1")
        .env("FLEET_KINDS__PAYOUT__MAX_REPLICAS", "3")
        .env("FLEET_QUEUE__IDLE_POLL_MS", "50")
        .env("FLEET_QUEUE__SHUTDOWN_GRACE_SECS", "5")
        .spawn()
        .unwrap();
    let db = fleet_shared::Db::connect(&format!("sqlite://{}/fleet.db", dir.display()))
        .await
        .unwrap();
    let queues = Queues::sql(db);
    let live = |kind: &'static str| {
        let queues = queues.clone();
        move || {
            let queues = queues.clone();
            async move { queues.live_workers(kind, WORKER_LIVE_MS).await.ok() }
        }
    };
    let at = |n: u64, kind: &'static str| {
        let check = live(kind);
        move || {
            let check = check();
            async move { (check.await? == n).then_some(()) }
        }
    };
    wait_for(
        "the minimum payout worker",
        Duration::from_secs(30),
        at(1, "payout"),
    )
    .await;

    queues.enqueue(dead_end_jobs(3_000)).await.unwrap();
    wait_for(
        "three payout workers",
        Duration::from_secs(30),
        at(3, "payout"),
    )
    .await;
    wait_for("the backlog to drain", Duration::from_secs(60), || async {
        let s = queues.stats("payout").await.ok()?;
        (s.waiting == 0 && s.in_flight == 0 && s.dead == 3_000).then_some(())
    })
    .await;
    wait_for(
        "back to one payout worker",
        Duration::from_secs(30),
        at(1, "payout"),
    )
    .await;
    assert_eq!(
        live("categorize")().await,
        Some(0),
        "categorize idles at its minimum, 0"
    );

    let record = std::fs::read_to_string(&csv).unwrap();
    let payout = replicas(&record, "payout");
    let peak = payout.iter().position(|&r| r == 3).expect("reached 3");
    assert!(
        payout[..peak].iter().all(|&r| r <= 3) && payout[0] == 1,
        "{payout:?}"
    );
    assert_eq!(payout.last(), Some(&1), "{payout:?}");
    // Up once, down once: the count never turns back up after it starts falling.
    let falling = payout[peak..].windows(2).position(|w| w[1] < w[0]).unwrap() + peak;
    assert!(
        payout[falling..].windows(2).all(|w| w[1] <= w[0]),
        "{payout:?}"
    );
    assert!(replicas(&record, "categorize").iter().all(|&r| r == 0));

    assert!(
        Command::new("kill")
            .args(["-TERM", &supervisor.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_for("fleet supervise to exit", Duration::from_secs(30), || {
        let s = supervisor.try_wait().unwrap();
        async move { s }
    })
    .await;
    assert!(status.success(), "{status:?}");
    assert_eq!(
        live("payout")().await,
        Some(0),
        "its workers drained and left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Field `n` (0: state, 1: parent pid, …) of `/proc/{pid}/stat` after the
/// command name, which may itself hold spaces and parentheses.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(n).map(str::to_owned)
}

/// The pids of `parent`'s child processes.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_field(pid, 1).and_then(|p| p.parse().ok()) == Some(parent))
        .collect()
}

/// Whether process `pid` still runs (an exited one awaiting its reaper does not).
fn running(pid: u32) -> bool {
    stat_field(pid, 0).is_some_and(|state| state != "Z")
}

#[tokio::test]
async fn workers_stop_when_the_supervisor_is_killed() {
    let dir = std::env::temp_dir().join(unique("fleet-supervise-"));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(fleet(&dir).arg("migrate").status().unwrap().success());
    let mut supervisor = fleet(&dir)
        .args(["supervise", "payout", "notify"])
        .env("FLEET_SUPERVISE__INTERVAL_MS", "200")
        .env("FLEET_QUEUE__SHUTDOWN_GRACE_SECS", "5")
        .spawn()
        .unwrap();
    // Payout and notify idle at one worker each.
    let workers = wait_for("two workers", Duration::from_secs(30), || {
        let pids = children_of(supervisor.id());
        async move { (pids.len() == 2).then_some(pids) }
    })
    .await;
    supervisor.kill().unwrap();
    supervisor.wait().unwrap();
    wait_for(
        "the orphaned workers to drain and exit",
        Duration::from_secs(30),
        || {
            let left = workers.iter().any(|&pid| running(pid));
            async move { (!left).then_some(()) }
        },
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether `fleet supervise payout` on PostgreSQL, with `pool` connections per
/// process and at most `max` payout workers, warns at start that the workers
/// could open more connections than the server accepts (about 97 by default).
async fn warns_of_connections(pool: u32, max: u32) -> bool {
    use std::io::{BufRead, BufReader};
    let db = fleet_testkit::TestDb::postgres().await;
    let dir = std::env::temp_dir().join(unique("fleet-supervise-"));
    let mut supervisor = fleet(&dir)
        .args(["supervise", "payout"])
        .env("FLEET_DATABASE_URL", &db.url)
        .env("FLEET_REDIS_URL", fleet_testkit::redis_url())
        .env(
            "FLEET_SECRET_KEY",
            "supervise-test-secret-key-0123456789abcdef",
        )
        .env("FLEET_LOG", "info")
        .env("FLEET_LOG_FORMAT", "json")
        .env("FLEET_DATABASE_MAX_CONNECTIONS", pool.to_string())
        .env("FLEET_KINDS__PAYOUT__MIN_REPLICAS", "0")
        .env("FLEET_KINDS__PAYOUT__MAX_REPLICAS", max.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(supervisor.stdout.take().unwrap());
    let mut warned = false;
    // The check runs before the supervisor announces what it supervises.
    for line in out.lines() {
        let line = line.unwrap();
        warned |= line.contains("database connections but PostgreSQL accepts");
        if line.contains("supervising workers") {
            break;
        }
    }
    supervisor.kill().unwrap();
    supervisor.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    warned
}

#[tokio::test]
async fn warns_when_workers_could_exhaust_postgres_connections() {
    // (10 workers + supervisor + API) × 50 = 600 connections.
    assert!(warns_of_connections(50, 10).await);
    // (3 + 2) × 4 = 20.
    assert!(!warns_of_connections(4, 3).await);
}
