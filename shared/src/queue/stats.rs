//! Per-queue figures shown by `fleet queues`, the ops API and /metrics.

use serde::Serialize;

/// Depth and counters of one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Queue name.
    pub queue: String,
    /// Due now and not leased.
    pub waiting: u64,
    /// Due later (delayed jobs and retries in backoff).
    pub scheduled: u64,
    /// Leased by a worker.
    pub in_flight: u64,
    /// Out of attempts, awaiting an operator.
    pub dead: u64,
    /// Milliseconds the oldest waiting job has been due, if any waits.
    pub oldest_waiting_ms: Option<u64>,
    /// Attempts that succeeded, since the queue was created.
    pub processed: u64,
    /// Attempts that failed, since the queue was created.
    pub failed: u64,
}
