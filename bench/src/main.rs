//! Queue overhead of Fleet's runtime: enqueue N no-op jobs with no worker
//! running, then start one worker process (concurrency C) and time the drain.
//! Job-status tracking stays on: every job is a row in PostgreSQL's jobs
//! table, moved to running and then succeeded.
//!
//! Usage: queue-bench [JOBS] [CONCURRENCY]; FLEET_DATABASE_URL and
//! FLEET_REDIS_URL name the servers. Prints one JSON line.

use fleet_jobs::Job;
use fleet_shared::{
    Db, Queues,
    config::{KindSettings, QueueSettings},
    db::jobs::NewJob,
};
use fleet_workers::runtime::{JobContext, JobError, JobHandler, Registry, WorkerPool};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize)]
struct Noop {
    queue: String,
    n: u64,
}

impl Job for Noop {
    const KIND: &'static str = "bench.noop";
    fn queue(&self) -> &str {
        &self.queue
    }
}

struct NoopHandler;

impl JobHandler for NoopHandler {
    type Job = Noop;
    async fn handle(&self, _job: Noop, _ctx: JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50_000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let db_url = std::env::var("FLEET_DATABASE_URL")?;
    let redis_url = std::env::var("FLEET_REDIS_URL")?;
    let db = Db::connect(&db_url).await?;
    db.migrate().await?;
    let queues = Queues::redis(&redis_url, db).await?;
    let queue = format!("bench.{}", std::process::id());

    let started = Instant::now();
    let mut batch = Vec::with_capacity(1_000);
    for n in 0..jobs {
        batch.push(NewJob::of(
            &Noop {
                queue: queue.clone(),
                n,
            },
            3,
        )?);
        if batch.len() == 1_000 {
            queues.enqueue(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        queues.enqueue(batch).await?;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();

    let mut registry = Registry::new();
    registry.register(&queue, NoopHandler);
    // The product's defaults, but for concurrency: what `fleet worker` would run.
    let settings = QueueSettings::default();
    let kind = KindSettings {
        concurrency,
        ..KindSettings::default()
    };
    let mut pool = WorkerPool::new(queues.clone(), registry, &settings);
    pool.add_queue(&queue, &kind, &settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let worker = tokio::spawn(pool.run(async move {
        let _ = stopped.await;
    }));
    loop {
        let stats = queues.stats(&queue).await?;
        if stats.processed >= jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let process_secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    worker.await??;
    let succeeded = queues.db().count_by_status(&queue).await?;
    println!(
        "{}",
        serde_json::json!({
            "system": "fleet",
            "jobs": jobs,
            "concurrency": concurrency,
            "enqueue_secs": enqueue_secs,
            "enqueue_per_sec": jobs as f64 / enqueue_secs,
            "process_secs": process_secs,
            "process_per_sec": jobs as f64 / process_secs,
            "status_rows": succeeded.iter().map(|(s, n)| (s.to_string(), n)).collect::<std::collections::BTreeMap<_, _>>(),
        })
    );
    Ok(())
}
