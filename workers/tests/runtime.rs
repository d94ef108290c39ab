//! The job runtime suite, run on both backends: SQLite (embedded) and
//! Redis + PostgreSQL (production). Real services, real workers.

use fleet_jobs::{Job, JobStatus};
use fleet_shared::{
    Queues,
    config::QueueSettings,
    db::jobs::{NewJob, Outcome},
    queue::QueueStats,
};
use fleet_testkit::{Backend, TestDb, unique_queue, wait_for};
use fleet_workers::runtime::{
    JobContext, JobError, JobHandler, Lane, Registry, RetryPolicy, WorkerPool,
};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// What a test job does when it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Mode {
    Succeed,
    /// Fail the first this many runs (across retries from dead), then succeed.
    FailTimes(i32),
    /// Sleep this many milliseconds, then succeed.
    Sleep(u64),
    Permanent,
    Panic,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Work {
    queue: String,
    n: u64,
    mode: Mode,
}

impl Job for Work {
    const KIND: &'static str = "test.work";
    fn queue(&self) -> &str {
        &self.queue
    }
}

/// One run of a job: its attempt number and when it started.
type Run = (i32, Instant);

/// Every run seen, by job number.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<HashMap<u64, Vec<Run>>>>);

impl Seen {
    fn attempts(&self, n: u64) -> Vec<Run> {
        self.0.lock().unwrap().get(&n).cloned().unwrap_or_default()
    }
    fn jobs(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

struct WorkHandler(Seen);

impl JobHandler for WorkHandler {
    type Job = Work;

    async fn handle(&self, job: Work, ctx: JobContext) -> Result<(), JobError> {
        let runs = {
            let mut seen = self.0.0.lock().unwrap();
            let runs = seen.entry(job.n).or_default();
            runs.push((ctx.attempt, Instant::now()));
            runs.len() as i32
        };
        match job.mode {
            Mode::Succeed => Ok(()),
            Mode::FailTimes(k) if runs <= k => {
                Err(JobError::retry(format!("planned failure {}", ctx.attempt)))
            }
            Mode::FailTimes(_) => Ok(()),
            Mode::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(())
            }
            Mode::Permanent => Err(JobError::permanent("bad input: nothing to do")),
            Mode::Panic => panic!("boom"),
        }
    }
}

struct Harness {
    _db: TestDb,
    queues: Queues,
    queue: String,
    seen: Seen,
}

impl Harness {
    async fn new(backend: Backend, name: &str) -> Harness {
        let db = TestDb::for_backend(backend).await;
        let queues = db.queues().await;
        Harness {
            _db: db,
            queues,
            queue: unique_queue(name),
            seen: Seen::default(),
        }
    }

    fn job(&self, n: u64, mode: Mode, max_attempts: i32) -> NewJob {
        NewJob::of(
            &Work {
                queue: self.queue.clone(),
                n,
                mode,
            },
            max_attempts,
        )
        .unwrap()
    }

    async fn enqueue(&self, jobs: Vec<NewJob>) -> Vec<String> {
        let mut ids = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(5_000) {
            ids.extend(
                self.queues
                    .enqueue(chunk.to_vec())
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.id),
            );
        }
        ids
    }

    /// Starts a worker; dropping the returned sender (or sending) stops it.
    fn start(&self, concurrency: usize, retry: RetryPolicy, timeout: Duration) -> Worker {
        let mut registry = Registry::new();
        registry.register(&self.queue, WorkHandler(self.seen.clone()));
        let settings = QueueSettings {
            lease_secs: 2,
            idle_poll_ms: 50,
            fetch_batch: 200,
            shutdown_grace_secs: 5,
        };
        let mut pool = WorkerPool::new(self.queues.clone(), registry, &settings);
        pool.add_lane(
            Lane {
                queue: self.queue.clone(),
                concurrency,
                lease: Duration::from_secs(2),
                idle_poll: Duration::from_millis(50),
                fetch_batch: 200,
                prefetch: concurrency * 2,
                retry,
            },
            timeout,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(pool.run(async move {
            let _ = stopped.await;
        }));
        Worker {
            stop: Some(stop),
            handle,
        }
    }

    async fn status(&self, id: &str) -> (JobStatus, i32, Option<String>) {
        let job = self.queues.db().job(id).await.unwrap().unwrap();
        (job.status, job.attempts, job.last_error)
    }

    async fn wait_status(&self, id: &str, want: JobStatus, timeout: Duration) {
        wait_for(&format!("job {id} to be {want}"), timeout, || async {
            (self.status(id).await.0 == want).then_some(())
        })
        .await;
    }

    async fn stats(&self) -> QueueStats {
        self.queues.stats(&self.queue).await.unwrap()
    }

    async fn wait_drained(&self, total: u64, timeout: Duration) {
        wait_for(&format!("{total} jobs processed"), timeout, || async {
            let s = self.stats().await;
            (s.processed == total && s.waiting == 0 && s.in_flight == 0 && s.scheduled == 0)
                .then_some(())
        })
        .await;
    }
}

struct Worker {
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), apalis::prelude::MonitorError>>,
}

impl Worker {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.handle)
            .await
            .expect("worker stops within its grace period")
            .expect("worker task")
            .expect("worker exits cleanly");
    }
}

const FAST: RetryPolicy = RetryPolicy {
    base: Duration::from_millis(200),
    max: Duration::from_secs(2),
    jitter: 0.5,
};

async fn runs_jobs_once_each(backend: Backend) {
    let h = Harness::new(backend, "once").await;
    let ids = h
        .enqueue((0..200).map(|n| h.job(n, Mode::Succeed, 3)).collect())
        .await;
    let worker = h.start(16, FAST, Duration::from_secs(10));
    h.wait_drained(200, Duration::from_secs(30)).await;
    worker.stop().await;
    assert_eq!(h.seen.jobs(), 200);
    for n in 0..200 {
        assert_eq!(h.seen.attempts(n).len(), 1, "job {n} ran exactly once");
    }
    for id in &ids {
        assert_eq!(h.status(id).await.0, JobStatus::Succeeded);
    }
    let job = h.queues.db().job(&ids[0]).await.unwrap().unwrap();
    assert!(job.finished_at.is_some() && job.started_at.is_some());
}

async fn retries_with_backoff_then_succeeds(backend: Backend) {
    let h = Harness::new(backend, "retry").await;
    let ids = h.enqueue(vec![h.job(1, Mode::FailTimes(2), 5)]).await;
    let worker = h.start(4, FAST, Duration::from_secs(10));
    h.wait_status(&ids[0], JobStatus::Succeeded, Duration::from_secs(30))
        .await;
    worker.stop().await;
    let attempts = h.seen.attempts(1);
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Backoff ceilings are 200 ms then 400 ms; jitter keeps each delay above half of that.
    let gap1 = attempts[1].1 - attempts[0].1;
    let gap2 = attempts[2].1 - attempts[1].1;
    assert!(
        gap1 >= Duration::from_millis(100),
        "first retry waited {gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(200),
        "second retry waited {gap2:?}"
    );
    let (status, tries, error) = h.status(&ids[0]).await;
    assert_eq!((status, tries), (JobStatus::Succeeded, 3));
    assert_eq!(
        error.as_deref(),
        Some("planned failure 2"),
        "last error is kept"
    );
    let stats = h.stats().await;
    assert_eq!((stats.processed, stats.failed), (1, 2));
}

async fn dead_after_max_attempts_then_retry_and_purge(backend: Backend) {
    let h = Harness::new(backend, "dead").await;
    let ids = h
        .enqueue(vec![
            h.job(1, Mode::FailTimes(3), 3),
            h.job(2, Mode::Permanent, 5),
            h.job(3, Mode::Panic, 2),
        ])
        .await;
    let worker = h.start(4, FAST, Duration::from_secs(10));
    for id in &ids {
        h.wait_status(id, JobStatus::Dead, Duration::from_secs(30))
            .await;
    }
    let (_, tries, error) = h.status(&ids[0]).await;
    assert_eq!(tries, 3);
    assert_eq!(error.as_deref(), Some("planned failure 3"));
    let (_, tries, error) = h.status(&ids[1]).await;
    assert_eq!(tries, 1, "a permanent failure is not retried");
    assert_eq!(error.as_deref(), Some("bad input: nothing to do"));
    let (_, tries, error) = h.status(&ids[2]).await;
    assert_eq!(tries, 2);
    assert!(error.unwrap().contains("handler panicked: boom"));
    assert_eq!(h.stats().await.dead, 3);

    let dead = h.queues.dead(&h.queue, None, 10).await.unwrap();
    assert_eq!(dead.len(), 3);
    let page = h
        .queues
        .dead(&h.queue, Some(&dead[0].id), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 2, "cursor pagination skips up to the cursor");

    // Job 1 fails only its first 3 attempts overall; a fresh run from dead succeeds.
    assert_eq!(
        h.queues.retry_dead(&h.queue, Some(&ids[0])).await.unwrap(),
        1
    );
    h.wait_status(&ids[0], JobStatus::Succeeded, Duration::from_secs(30))
        .await;
    assert_eq!(h.seen.attempts(1).len(), 4);
    assert_eq!(h.stats().await.dead, 2);

    assert_eq!(
        h.queues.purge_dead(&h.queue, Some(&ids[1])).await.unwrap(),
        1
    );
    assert!(h.queues.db().job(&ids[1]).await.unwrap().is_none());
    assert_eq!(h.queues.retry_dead(&h.queue, None).await.unwrap(), 1);
    h.wait_status(&ids[2], JobStatus::Dead, Duration::from_secs(30))
        .await;
    assert_eq!(h.queues.purge_dead(&h.queue, None).await.unwrap(), 1);
    assert_eq!(h.stats().await.dead, 0);
    worker.stop().await;
}

async fn timeout_fails_the_attempt(backend: Backend) {
    let h = Harness::new(backend, "timeout").await;
    let ids = h.enqueue(vec![h.job(1, Mode::Sleep(5_000), 2)]).await;
    let started = Instant::now();
    let worker = h.start(2, FAST, Duration::from_millis(300));
    h.wait_status(&ids[0], JobStatus::Dead, Duration::from_secs(20))
        .await;
    worker.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "timeouts cut the 5 s sleeps short"
    );
    let (_, tries, error) = h.status(&ids[0]).await;
    assert_eq!(tries, 2);
    assert!(error.unwrap().contains("timed out after 0.3s"));
}

async fn long_job_shows_running_then_succeeded(backend: Backend) {
    let h = Harness::new(backend, "running").await;
    let ids = h.enqueue(vec![h.job(1, Mode::Sleep(1_500), 3)]).await;
    let worker = h.start(2, FAST, Duration::from_secs(10));
    h.wait_status(&ids[0], JobStatus::Running, Duration::from_secs(5))
        .await;
    let job = h.queues.db().job(&ids[0]).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    assert!(job.started_at.is_some() && job.finished_at.is_none());
    assert_eq!(h.stats().await.in_flight, 1);
    h.wait_status(&ids[0], JobStatus::Succeeded, Duration::from_secs(10))
        .await;
    worker.stop().await;
}

async fn idempotency_key_creates_one_job(backend: Backend) {
    let h = Harness::new(backend, "idem").await;
    let mut a = h.job(1, Mode::Succeed, 3);
    a.idempotency_key = Some(format!("{}-key", h.queue));
    let mut b = h.job(2, Mode::Succeed, 3);
    b.idempotency_key = a.idempotency_key.clone();
    let first = h.queues.enqueue(vec![a]).await.unwrap();
    let second = h.queues.enqueue(vec![b]).await.unwrap();
    assert!(first[0].created && !second[0].created);
    assert_eq!(first[0].id, second[0].id);
    let worker = h.start(2, FAST, Duration::from_secs(5));
    h.wait_drained(1, Duration::from_secs(20)).await;
    worker.stop().await;
    assert_eq!(h.seen.jobs(), 1);
}

async fn drains_backlog_of_50k(backend: Backend) {
    let h = Harness::new(backend, "backlog").await;
    h.enqueue((0..50_000).map(|n| h.job(n, Mode::Succeed, 3)).collect())
        .await;
    assert_eq!(h.stats().await.waiting, 50_000);
    let worker = h.start(50, FAST, Duration::from_secs(10));
    h.wait_drained(50_000, Duration::from_secs(240)).await;
    worker.stop().await;
    assert_eq!(h.seen.jobs(), 50_000);
}

async fn drains_20k_retries_due_together(backend: Backend) {
    let h = Harness::new(backend, "storm").await;
    h.enqueue(
        (0..20_000)
            .map(|n| h.job(n, Mode::FailTimes(1), 3))
            .collect(),
    )
    .await;
    // Every first attempt fails and is retried 30 s later, without jitter: time
    // for all 20k first attempts on a slow machine (10 s was too short once).
    let policy = RetryPolicy {
        base: Duration::from_secs(30),
        max: Duration::from_secs(30),
        jitter: 0.0,
    };
    let worker = h.start(50, policy, Duration::from_secs(10));
    wait_for("20k first attempts", Duration::from_secs(120), || async {
        let s = h.stats().await;
        (s.failed == 20_000 && s.in_flight == 0).then_some(())
    })
    .await;
    worker.stop().await;
    assert_eq!(
        h.stats().await.processed,
        0,
        "no retry ran before the worker stopped"
    );
    // With no worker polling, all 20k retries come due and pile up.
    wait_for("all retries due", Duration::from_secs(60), || async {
        let s = h.stats().await;
        (s.waiting == 20_000 && s.scheduled == 0).then_some(())
    })
    .await;
    let worker = h.start(50, policy, Duration::from_secs(10));
    h.wait_drained(20_000, Duration::from_secs(180)).await;
    worker.stop().await;
    assert!((0..20_000).all(|n| h.seen.attempts(n).len() == 2));
}

async fn drains_20k_scheduled_due_together(backend: Backend) {
    let h = Harness::new(backend, "due").await;
    let at = fleet_shared::db::now_ms() + 8_000;
    let jobs = (0..20_000)
        .map(|n| NewJob {
            run_at: at,
            ..h.job(n, Mode::Succeed, 3)
        })
        .collect();
    h.enqueue(jobs).await;
    assert_eq!(h.stats().await.scheduled, 20_000);
    wait_for("all 20k due", Duration::from_secs(20), || async {
        let s = h.stats().await;
        (s.waiting == 20_000 && s.scheduled == 0).then_some(())
    })
    .await;
    let worker = h.start(50, FAST, Duration::from_secs(10));
    h.wait_drained(20_000, Duration::from_secs(180)).await;
    worker.stop().await;
    assert_eq!(h.seen.jobs(), 20_000);
}

async fn sigterm_style_stop_finishes_in_flight(backend: Backend) {
    let h = Harness::new(backend, "drain").await;
    let ids = h
        .enqueue((0..4).map(|n| h.job(n, Mode::Sleep(1_000), 3)).collect())
        .await;
    let worker = h.start(4, FAST, Duration::from_secs(10));
    wait_for("jobs to start", Duration::from_secs(10), || async {
        (h.seen.jobs() == 4).then_some(())
    })
    .await;
    worker.stop().await;
    for id in &ids {
        assert_eq!(
            h.status(id).await.0,
            JobStatus::Succeeded,
            "in-flight job finished before stop returned"
        );
    }
}

async fn unstarted_jobs_return_on_stop(backend: Backend) {
    let h = Harness::new(backend, "release").await;
    // Concurrency 1 with a prefetch buffer: some jobs are leased but never started.
    let ids = h
        .enqueue((0..10).map(|n| h.job(n, Mode::Sleep(300), 3)).collect())
        .await;
    let worker = h.start(1, FAST, Duration::from_secs(10));
    wait_for("first job to start", Duration::from_secs(10), || async {
        (h.seen.jobs() >= 1).then_some(())
    })
    .await;
    worker.stop().await;
    let started = h.seen.jobs();
    let mut queued = 0;
    for id in &ids {
        let (status, tries, _) = h.status(id).await;
        match status {
            JobStatus::Succeeded => assert_eq!(tries, 1),
            JobStatus::Queued => {
                assert_eq!(tries, 0, "a released job keeps its attempts");
                queued += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(started + queued, 10);
    assert_eq!(h.stats().await.waiting, queued as u64);
}

/// A batch of outcomes and a running mark over the same jobs, listed in
/// opposite orders, written at once round after round: neither waits on the
/// other in a cycle (PostgreSQL would abort one as a deadlock), and the last
/// write of each job wins whole.
async fn status_writes_over_the_same_jobs_never_deadlock(backend: Backend) {
    let h = Harness::new(backend, "lockorder").await;
    let ids = h
        .enqueue((0..300).map(|n| h.job(n, Mode::Succeed, 50)).collect())
        .await;
    let db = h.queues.db();
    for attempt in 1..=20 {
        let marks: Vec<(String, i32)> = ids.iter().map(|id| (id.clone(), attempt)).collect();
        let outcomes: Vec<Outcome> = ids
            .iter()
            .rev()
            .map(|id| Outcome::retry(id, attempt, format!("round {attempt}"), 0))
            .collect();
        let (marked, recorded) =
            tokio::join!(db.mark_running(&marks, "w1"), db.record_outcomes(&outcomes));
        marked.unwrap_or_else(|e| panic!("running mark, round {attempt}: {e}"));
        recorded.unwrap_or_else(|e| panic!("outcomes, round {attempt}: {e}"));
    }
    // Either order ends failed: a mark after the outcome of its attempt is skipped.
    for id in &ids {
        let (status, attempts, error) = h.status(id).await;
        assert_eq!(
            (status, attempts, error.as_deref()),
            (JobStatus::Failed, 20, Some("round 20")),
            "{id}"
        );
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(fleet_testkit::Backend::Sqlite).await })*
        }
        mod redis_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(fleet_testkit::Backend::RedisPostgres).await })*
        }
    };
}

on_both_backends!(
    runs_jobs_once_each,
    retries_with_backoff_then_succeeds,
    dead_after_max_attempts_then_retry_and_purge,
    timeout_fails_the_attempt,
    idempotency_key_creates_one_job,
    long_job_shows_running_then_succeeded,
    drains_backlog_of_50k,
    drains_20k_retries_due_together,
    drains_20k_scheduled_due_together,
    sigterm_style_stop_finishes_in_flight,
    unstarted_jobs_return_on_stop,
    status_writes_over_the_same_jobs_never_deadlock,
);
