//! The operations report: every queue's figures with the live workers and
//! recommended replicas of its kind. `GET /v1/ops/queues`, `fleet queues`,
//! `/metrics`, the `/ops` dashboard and `fleet supervise` all read this one
//! computation, so they always agree.

use super::{QueueError, Queues, scaling::recommended_replicas};
use crate::{config::KindsSettings, db::now_ms};
use fleet_jobs::WorkerKind;
use serde::Serialize;
use utoipa::ToSchema;

/// How often a worker process records that it is alive.
pub const WORKER_HEARTBEAT_MS: i64 = 5_000;
/// A worker process not heard from for this long no longer counts as live.
pub const WORKER_LIVE_MS: i64 = 3 * WORKER_HEARTBEAT_MS;

/// Figures of one queue.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueFigures {
    /// Queue name.
    pub queue: String,
    /// Worker kind that consumes it.
    pub kind: String,
    /// Due now and not leased.
    pub waiting: u64,
    /// Due later (delayed jobs, retries in backoff).
    pub scheduled: u64,
    /// Leased by workers.
    pub in_flight: u64,
    /// Out of attempts.
    pub dead: u64,
    /// Seconds the oldest waiting job has been due.
    pub oldest_waiting_secs: Option<f64>,
    /// Attempts succeeded, ever.
    pub processed: u64,
    /// Attempts failed, ever.
    pub failed: u64,
    /// Attempts succeeded in the last minute.
    pub processed_per_min: u64,
    /// Attempts failed in the last minute.
    pub failed_per_min: u64,
    /// Median attempt duration (ms) over the last five minutes.
    pub duration_p50_ms: Option<u64>,
    /// 95th percentile attempt duration (ms) over the last five minutes.
    pub duration_p95_ms: Option<u64>,
    /// Live worker processes of the queue's kind (from their heartbeats).
    pub live_workers: u64,
    /// Replicas the scaling rule recommends for the queue's kind.
    pub recommended_replicas: u32,
}

/// Figures of one worker kind: its queues together.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KindFigures {
    /// Worker kind.
    pub kind: String,
    /// Jobs due now across its queues.
    pub waiting: u64,
    /// Jobs leased across its queues.
    pub in_flight: u64,
    /// Live worker processes (from their heartbeats).
    pub live_workers: u64,
    /// ceil(waiting / target_per_replica) within min..max.
    pub recommended_replicas: u32,
    /// Waiting jobs one replica is expected to handle.
    pub target_per_replica: u64,
    /// Fewest replicas.
    pub min_replicas: u32,
    /// Most replicas.
    pub max_replicas: u32,
}

/// Every queue and every worker kind, read at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OpsReport {
    /// When the figures were read (ms since the Unix epoch).
    pub at_ms: i64,
    /// One entry per queue.
    pub queues: Vec<QueueFigures>,
    /// One entry per worker kind.
    pub kinds: Vec<KindFigures>,
}

impl OpsReport {
    /// The figures of `kind`.
    pub fn kind(&self, kind: WorkerKind) -> Option<&KindFigures> {
        self.kinds.iter().find(|k| k.kind == kind.as_str())
    }
}

/// Reads every queue of every worker kind and applies the scaling rule.
pub async fn report(queues: &Queues, settings: &KindsSettings) -> Result<OpsReport, QueueError> {
    let at_ms = now_ms();
    let mut by_queue = Vec::new();
    let mut kinds = Vec::new();
    for kind in WorkerKind::ALL {
        let live_workers = queues.live_workers(kind.as_str(), WORKER_LIVE_MS).await?;
        let stats =
            futures::future::try_join_all(kind.queues().iter().map(|q| queues.stats(q))).await?;
        let waiting = stats.iter().map(|s| s.waiting).sum();
        let in_flight = stats.iter().map(|s| s.in_flight).sum();
        let s = settings.of(kind);
        let recommended = recommended_replicas(waiting, s);
        kinds.push(KindFigures {
            kind: kind.to_string(),
            waiting,
            in_flight,
            live_workers,
            recommended_replicas: recommended,
            target_per_replica: s.target_per_replica,
            min_replicas: s.min_replicas,
            max_replicas: s.max_replicas,
        });
        by_queue.extend(stats.into_iter().map(|s| QueueFigures {
            kind: kind.to_string(),
            waiting: s.waiting,
            scheduled: s.scheduled,
            in_flight: s.in_flight,
            dead: s.dead,
            oldest_waiting_secs: s.oldest_waiting_ms.map(|ms| ms as f64 / 1000.0),
            processed: s.processed,
            failed: s.failed,
            processed_per_min: s.processed_per_min,
            failed_per_min: s.failed_per_min,
            duration_p50_ms: s.duration_p50_ms,
            duration_p95_ms: s.duration_p95_ms,
            live_workers,
            recommended_replicas: recommended,
            queue: s.queue,
        }));
    }
    Ok(OpsReport {
        at_ms,
        queues: by_queue,
        kinds,
    })
}
