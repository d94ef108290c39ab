//! Crash safety across real processes: SIGKILL mid-job, SIGTERM drain, and a
//! Redis restart under a running API and worker.

use fleet_jobs::JobStatus;
use fleet_shared::{Config, Queues, db::api_keys::Role, db::jobs::NewJob};
use fleet_testkit::{
    Backend, RedisServer, TestDb,
    effect::{self, EffectJob},
    unique_queue, wait_for,
};
use serde_json::json;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    fn spawn(
        db_url: &str,
        redis_url: Option<&str>,
        queue: &str,
        lease_secs: u64,
        grace_secs: u64,
    ) -> WorkerProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet-test-worker"));
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("FLEET_")) {
            cmd.env_remove(name);
        }
        cmd.env("FLEET_DATABASE_URL", db_url)
            .env("FLEET_TEST_QUEUE", queue)
            .env("FLEET_QUEUE__LEASE_SECS", lease_secs.to_string())
            .env("FLEET_QUEUE__SHUTDOWN_GRACE_SECS", grace_secs.to_string())
            .env("FLEET_QUEUE__IDLE_POLL_MS", "50")
            .env("FLEET_LOG", "warn")
            .stdout(Stdio::null());
        if let Some(url) = redis_url {
            cmd.env("FLEET_REDIS_URL", url);
        }
        WorkerProcess {
            child: cmd.spawn().expect("spawn fleet-test-worker"),
        }
    }

    fn pid(&self) -> i64 {
        i64::from(self.child.id())
    }

    fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "SIGTERM delivered");
    }

    async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        wait_for("worker process to exit", timeout, || {
            let status = self.child.try_wait().expect("try_wait");
            async move { status }
        })
        .await
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn effect_job(queue: &str, sleep_ms: u64) -> NewJob {
    NewJob::of(
        &EffectJob {
            queue: queue.to_owned(),
            sleep_ms,
        },
        5,
    )
    .unwrap()
}

async fn enqueue(queues: &Queues, job: NewJob) -> String {
    queues.enqueue(vec![job]).await.unwrap().remove(0).id
}

async fn wait_status(queues: &Queues, id: &str, want: JobStatus, timeout: Duration) {
    wait_for(&format!("job {id} {want}"), timeout, || async {
        let job = queues.db().job(id).await.unwrap()?;
        (job.status == want).then_some(())
    })
    .await;
}

fn redis_for(backend: Backend) -> Option<String> {
    (backend == Backend::RedisPostgres).then(fleet_testkit::redis_url)
}

async fn sigkill_mid_job_runs_again_on_another_worker(backend: Backend) {
    let db = TestDb::for_backend(backend).await;
    effect::create_tables(&db.db).await;
    let queues = db.queues().await;
    let queue = unique_queue("kill");
    let redis = redis_for(backend);
    let mut first = WorkerProcess::spawn(&db.url, redis.as_deref(), &queue, 2, 10);
    let id = enqueue(&queues, effect_job(&queue, 4_000)).await;
    wait_for(
        "the first worker to start the job",
        Duration::from_secs(20),
        || async { (effect::runs(&db.db, &id).await.len() == 1).then_some(()) },
    )
    .await;
    first.sigkill();

    let second = WorkerProcess::spawn(&db.url, redis.as_deref(), &queue, 2, 10);
    wait_status(&queues, &id, JobStatus::Succeeded, Duration::from_secs(30)).await;
    let runs = effect::runs(&db.db, &id).await;
    assert_eq!(
        runs,
        vec![(first.pid(), 1), (second.pid(), 2)],
        "run by the first worker, then the second"
    );
    assert_eq!(
        effect::effects(&db.db, &id).await,
        vec![second.pid()],
        "the effect happened once"
    );
    let job = queues.db().job(&id).await.unwrap().unwrap();
    assert_eq!(job.attempts, 2);
}

async fn sigterm_finishes_in_flight_and_exits_zero(backend: Backend) {
    let db = TestDb::for_backend(backend).await;
    effect::create_tables(&db.db).await;
    let queues = db.queues().await;
    let queue = unique_queue("term");
    let mut worker = WorkerProcess::spawn(&db.url, redis_for(backend).as_deref(), &queue, 30, 20);
    let id = enqueue(&queues, effect_job(&queue, 1_500)).await;
    wait_for("the job to start", Duration::from_secs(20), || async {
        (!effect::runs(&db.db, &id).await.is_empty()).then_some(())
    })
    .await;
    let sent = Instant::now();
    worker.sigterm();
    let status = worker.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        sent.elapsed() >= Duration::from_millis(500),
        "it waited for the job"
    );
    assert_eq!(
        queues.db().job(&id).await.unwrap().unwrap().status,
        JobStatus::Succeeded
    );
    assert_eq!(effect::effects(&db.db, &id).await, vec![worker.pid()]);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(fleet_testkit::Backend::Sqlite).await })*
        }
        mod redis_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(fleet_testkit::Backend::RedisPostgres).await })*
        }
    };
}

on_both_backends!(
    sigkill_mid_job_runs_again_on_another_worker,
    sigterm_finishes_in_flight_and_exits_zero
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_under_running_api_and_worker() {
    let mut redis = RedisServer::start().await;
    let db = TestDb::postgres().await;
    effect::create_tables(&db.db).await;
    let queue = unique_queue("restart");

    let config = Config {
        redis_url: Some(redis.url()),
        database_url: Some(db.url.clone()),
        ..Config::default()
    };
    let queues = Queues::redis(&redis.url(), db.db.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let blobs = fleet_testkit::fs_blobs(&base).await;
    let state = fleet_api::AppState::new(config, queues.clone(), blobs)
        .await
        .unwrap();
    tokio::spawn(fleet_api::serve(listener, state, std::future::pending()));
    let key = db
        .db
        .create_api_key("test", Role::Backend, None)
        .await
        .unwrap()
        .1;
    let http = reqwest::Client::new();
    let post = |delay: u64| {
        http.post(format!("{base}/v1/jobs"))
            .bearer_auth(&key)
            .json(&json!({"queue": queue, "kind": "test.effect", "payload": {"queue": queue, "sleep_ms": 50}, "delay_secs": delay}))
            .send()
    };

    let mut worker = WorkerProcess::spawn(&db.url, Some(&redis.url()), &queue, 5, 10);
    let mut ids = Vec::new();
    for _ in 0..10 {
        let resp = post(3).await.unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
        ids.push(
            resp.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    redis.restart().await;
    for _ in 0..10 {
        // The API reconnects on its own; a request racing the reconnect may see a 503.
        let id = wait_for(
            "the API to enqueue again",
            Duration::from_secs(15),
            || async {
                let resp = post(0).await.ok()?;
                if resp.status() != reqwest::StatusCode::ACCEPTED {
                    return None;
                }
                resp.json::<serde_json::Value>().await.ok()?["id"]
                    .as_str()
                    .map(str::to_owned)
            },
        )
        .await;
        ids.push(id);
    }
    for id in &ids {
        wait_status(&queues, id, JobStatus::Succeeded, Duration::from_secs(60)).await;
        assert_eq!(effect::effects(&db.db, id).await.len(), 1);
    }
    worker.sigterm();
    assert!(worker.wait_exit(Duration::from_secs(15)).await.success());
}
