//! The operations report on both backends: rates, durations, live workers
//! from heartbeats and the scaling rule, read while real workers run.
//! Each backend gets its own Redis server or SQLite file, so the fixed queue
//! names Fleet reports on are this test's alone.

use fleet_jobs::{Job, WorkerKind};
use fleet_shared::{
    Queues,
    config::{KindsSettings, QueueSettings},
    db::jobs::NewJob,
    queue::{OpsReport, QueueFigures, report},
};
use fleet_testkit::{RedisServer, TestDb, wait_for};
use fleet_workers::runtime::{JobContext, JobError, JobHandler, Registry, WorkerPool};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Nap {
    ms: u64,
    fail: bool,
}

impl Job for Nap {
    const KIND: &'static str = "test.nap";
    fn queue(&self) -> &str {
        fleet_jobs::queues::PAYOUT
    }
}

struct NapHandler;

impl JobHandler for NapHandler {
    type Job = Nap;
    async fn handle(&self, job: Nap, _ctx: JobContext) -> Result<(), JobError> {
        tokio::time::sleep(Duration::from_millis(job.ms)).await;
        if job.fail {
            Err(JobError::Permanent("planned".to_owned()))
        } else {
            Ok(())
        }
    }
}

async fn enqueue(queues: &Queues, jobs: impl IntoIterator<Item = Nap>) {
    let jobs: Vec<NewJob> = jobs
        .into_iter()
        .map(|j| NewJob::of(&j, 1).unwrap())
        .collect();
    queues.enqueue(jobs).await.unwrap();
}

fn payout(report: &OpsReport) -> &QueueFigures {
    report.queues.iter().find(|q| q.queue == "payout").unwrap()
}

async fn check(queues: Queues) {
    let settings = KindsSettings::default();
    let before = report(&queues, &settings).await.unwrap();
    assert_eq!(before.queues.len(), fleet_jobs::queues::ALL.len());
    let kind = before.kind(WorkerKind::Payout).unwrap();
    assert_eq!((kind.live_workers, kind.recommended_replicas), (0, 1));
    let idle_min: Vec<(String, u32)> = before
        .kinds
        .iter()
        .map(|k| (k.kind.clone(), k.recommended_replicas))
        .collect();
    assert_eq!(
        idle_min,
        [
            ("media", 1),
            ("export", 0),
            ("notify", 1),
            ("categorize", 0),
            ("payout", 1)
        ]
        .map(|(k, r)| (k.to_owned(), r))
    );

    // A backlog with no worker: waiting 120 → ceil(120 / 50) = 3 replicas.
    enqueue(
        &queues,
        (0..100).map(|_| Nap {
            ms: 20,
            fail: false,
        }),
    )
    .await;
    enqueue(&queues, (0..20).map(|_| Nap { ms: 5, fail: true })).await;
    let r = report(&queues, &settings).await.unwrap();
    let q = payout(&r);
    assert_eq!(
        (q.waiting, q.recommended_replicas, q.live_workers),
        (120, 3, 0)
    );
    assert!(q.oldest_waiting_secs.is_some());
    assert_eq!(r.kind(WorkerKind::Payout).unwrap().recommended_replicas, 3);

    // A worker process drains it: its heartbeat counts it, rates and durations follow.
    let mut registry = Registry::new();
    registry.register(fleet_jobs::queues::PAYOUT, NapHandler);
    let qs = QueueSettings {
        idle_poll_ms: 50,
        ..QueueSettings::default()
    };
    let mut pool = WorkerPool::new(queues.clone(), registry, &qs);
    pool.add_queue(
        fleet_jobs::queues::PAYOUT,
        settings.of(WorkerKind::Payout),
        &qs,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(pool.run(async move {
        let _ = stopped.await;
    }));
    let r = wait_for("the backlog to drain", Duration::from_secs(30), || async {
        let r = report(&queues, &settings).await.ok()?;
        let q = payout(&r);
        (q.processed == 100 && q.dead == 20 && q.live_workers == 1).then_some(r)
    })
    .await;
    let q = payout(&r);
    assert_eq!((q.waiting, q.in_flight, q.recommended_replicas), (0, 0, 1));
    assert_eq!((q.processed_per_min, q.failed_per_min), (100, 20));
    let (p50, p95) = (q.duration_p50_ms.unwrap(), q.duration_p95_ms.unwrap());
    assert!((20..1_000).contains(&p50), "p50 {p50}");
    assert!(p95 >= p50, "p95 {p95} p50 {p50}");
    assert_eq!(r.kind(WorkerKind::Payout).unwrap().live_workers, 1);
    assert_eq!(r.kind(WorkerKind::Media).unwrap().live_workers, 0);
    let other = r.queues.iter().find(|q| q.queue == "media").unwrap();
    assert_eq!((other.processed_per_min, other.duration_p50_ms), (0, None));

    // A stopped worker leaves the count at once.
    let _ = stop.send(());
    handle.await.unwrap().unwrap();
    let r = report(&queues, &settings).await.unwrap();
    assert_eq!(payout(&r).live_workers, 0);
}

#[tokio::test]
async fn figures_on_sqlite() {
    let db = TestDb::sqlite().await;
    check(db.queues().await).await;
}

#[tokio::test]
async fn figures_on_redis_and_postgres() {
    let db = TestDb::postgres().await;
    let redis = RedisServer::start().await;
    let queues = Queues::redis(&redis.url(), db.db.clone()).await.unwrap();
    check(queues).await;
}
