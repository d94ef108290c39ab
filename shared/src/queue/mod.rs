//! Queue backends: where jobs wait, get leased to workers, and go when they
//! fail. Redis in production, the SQL database for `fleet dev`; both keep the
//! jobs table current so the API reads status without touching the queue.
//!
//! Every operation is bounded: a fetch promotes and reclaims at most a slice
//! of due or lost jobs, so a backlog of any size drains one slice per poll.

mod redis;
pub mod report;
pub mod scaling;
mod sql;
mod stats;

pub use self::redis::RedisQueues;
pub use report::{KindFigures, OpsReport, QueueFigures, report};
pub use sql::SqlQueues;
pub use stats::QueueStats;

use crate::db::{
    Db, DbError,
    jobs::{JobRecord, NewJob, Outcome},
};
use std::time::Duration;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis refused or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The queue name is not usable.
    #[error("invalid queue name `{0}`: use 1-64 characters of a-z, 0-9, `.`, `_` and `-`")]
    InvalidQueue(String),
    /// A script answered something unexpected.
    #[error("unexpected reply from the queue backend: {0}")]
    Protocol(String),
}

/// A job handed to a worker for one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    /// Job id.
    pub id: String,
    /// Job type name.
    pub kind: String,
    /// Queue it came from.
    pub queue: String,
    /// JSON payload.
    pub payload: String,
    /// Attempt number, starting at 1.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
}

/// The result of enqueueing one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The job's id (an existing job's when the idempotency key matched).
    pub id: String,
    /// False when a job with the same idempotency key already existed.
    pub created: bool,
}

/// The queue backend in use.
#[derive(Debug, Clone)]
pub enum Queues {
    /// Redis lists and sorted sets; status mirrored to the database.
    Redis(RedisQueues),
    /// The jobs table itself is the queue.
    Sql(SqlQueues),
}

impl Queues {
    /// Queues in Redis at `url`, with status in `db`.
    pub async fn redis(url: &str, db: Db) -> Result<Queues, QueueError> {
        Ok(Queues::Redis(RedisQueues::connect(url, db).await?))
    }

    /// Queues in the SQL database.
    pub fn sql(db: Db) -> Queues {
        Queues::Sql(SqlQueues::new(db))
    }

    /// The database holding the jobs table.
    pub fn db(&self) -> &Db {
        match self {
            Queues::Redis(q) => q.db(),
            Queues::Sql(q) => q.db(),
        }
    }

    /// `redis` or `sql`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Queues::Redis(_) => "redis",
            Queues::Sql(_) => "sql",
        }
    }

    /// Records and queues jobs; idempotency keys already used return the existing job.
    pub async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, QueueError> {
        for job in &jobs {
            check_name(&job.queue)?;
        }
        match self {
            Queues::Redis(q) => q.enqueue(jobs).await,
            Queues::Sql(q) => q.enqueue(jobs).await,
        }
    }

    /// Leases up to `max` due jobs of `queue` to `worker` for `lease`.
    pub async fn fetch(
        &self,
        queue: &str,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Leased>, QueueError> {
        match self {
            Queues::Redis(q) => q.fetch(queue, max, lease).await,
            Queues::Sql(q) => q.fetch(queue, worker, max, lease).await,
        }
    }

    /// Records that attempts have been running for a while, so the API shows
    /// them as running. Quick attempts skip this: their outcome records them.
    pub async fn mark_running(
        &self,
        started: &[(String, i32)],
        worker: &str,
    ) -> Result<(), QueueError> {
        match self {
            Queues::Redis(q) => Ok(q.db().mark_running(started, worker).await?),
            // The SQL queue marks a job running when it leases it.
            Queues::Sql(_) => Ok(()),
        }
    }

    /// Extends the leases of attempts still in progress.
    pub async fn heartbeat(
        &self,
        queue: &str,
        held: &[(String, i32)],
        lease: Duration,
    ) -> Result<(), QueueError> {
        if held.is_empty() {
            return Ok(());
        }
        match self {
            Queues::Redis(q) => q.heartbeat(queue, held, lease).await,
            Queues::Sql(q) => q.heartbeat(held, lease).await,
        }
    }

    /// Applies finished attempts: success, retry later, dead, or returned unstarted (`queued`).
    pub async fn finish(&self, queue: &str, outcomes: &[Outcome]) -> Result<(), QueueError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        match self {
            Queues::Redis(q) => q.finish(queue, outcomes).await,
            Queues::Sql(q) => q.finish(queue, outcomes).await,
        }
    }

    /// Depth and counters of `queue`.
    pub async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        match self {
            Queues::Redis(q) => q.stats(queue).await,
            Queues::Sql(q) => q.stats(queue).await,
        }
    }

    /// Dead jobs of `queue` after the cursor id, oldest first.
    pub async fn dead(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobRecord>, QueueError> {
        Ok(self.db().dead_jobs(queue, after, limit).await?)
    }

    /// Requeues dead jobs of `queue` (one by id, or all) with fresh attempts; returns how many.
    pub async fn retry_dead(&self, queue: &str, id: Option<&str>) -> Result<usize, QueueError> {
        let revived = self.db().revive_dead(queue, id).await?;
        if let Queues::Redis(q) = self {
            q.requeue(queue, &revived).await?;
        }
        Ok(revived.len())
    }

    /// Deletes dead jobs of `queue` (one by id, or all); returns how many.
    pub async fn purge_dead(&self, queue: &str, id: Option<&str>) -> Result<usize, QueueError> {
        let purged = self.db().purge_dead(queue, id).await?;
        if let Queues::Redis(q) = self {
            q.forget(queue, &purged).await?;
        }
        Ok(purged.len())
    }

    /// Records that worker process `worker` running `kinds` is alive; forgets
    /// processes of those kinds silent for longer than `live_for_ms`.
    pub async fn worker_seen(
        &self,
        kinds: &[&str],
        worker: &str,
        live_for_ms: i64,
    ) -> Result<(), QueueError> {
        match self {
            Queues::Redis(q) => q.worker_seen(kinds, worker, live_for_ms).await,
            Queues::Sql(q) => q.worker_seen(kinds, worker, live_for_ms).await,
        }
    }

    /// Forgets worker process `worker` (it stopped).
    pub async fn worker_gone(&self, kinds: &[&str], worker: &str) -> Result<(), QueueError> {
        match self {
            Queues::Redis(q) => q.worker_gone(kinds, worker).await,
            Queues::Sql(q) => q.worker_gone(kinds, worker).await,
        }
    }

    /// Worker processes of `kind` heard from within `live_for_ms`.
    pub async fn live_workers(&self, kind: &str, live_for_ms: i64) -> Result<u64, QueueError> {
        match self {
            Queues::Redis(q) => q.live_workers(kind, live_for_ms).await,
            Queues::Sql(q) => q.live_workers(kind, live_for_ms).await,
        }
    }

    /// Checks the queue backend answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            Queues::Redis(q) => q.ping().await,
            Queues::Sql(q) => Ok(q.db().ping().await?),
        }
    }
}

fn check_name(queue: &str) -> Result<(), QueueError> {
    if fleet_jobs::queues::is_valid_name(queue) {
        Ok(())
    } else {
        Err(QueueError::InvalidQueue(queue.to_owned()))
    }
}
