//! Per-queue figures shown by `fleet queues`, the ops API and /metrics, and
//! the arithmetic both queue backends use for rates and percentiles.

use serde::Serialize;

/// Width of one bucket of finished-attempt counts.
pub(crate) const RATE_BUCKET_MS: i64 = 10_000;
/// Buckets read for a per-minute rate: the current one and the six before it.
pub(crate) const RATE_BUCKETS: usize = 7;
/// Durations older than this are left out of the percentiles.
pub(crate) const DURATION_WINDOW_MS: i64 = 5 * 60_000;
/// Most recent durations kept per queue for the percentiles.
pub(crate) const DURATION_SAMPLES: usize = 1_000;

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
    /// Attempts that succeeded in the last minute.
    pub processed_per_min: u64,
    /// Attempts that failed in the last minute.
    pub failed_per_min: u64,
    /// Median attempt duration over the last five minutes (at most the last 1,000 attempts).
    pub duration_p50_ms: Option<u64>,
    /// 95th percentile attempt duration over the same window.
    pub duration_p95_ms: Option<u64>,
}

/// The bucket holding time `ms`.
pub(crate) fn rate_bucket(ms: i64) -> i64 {
    ms.div_euclid(RATE_BUCKET_MS)
}

/// Events in the minute before `now`, from counts of the buckets
/// `rate_bucket(now)`, `rate_bucket(now) - 1`, … (newest first, at most
/// [`RATE_BUCKETS`]). The oldest bucket straddles the window's start and
/// counts in proportion to its overlap.
pub(crate) fn per_minute(now: i64, newest_first: &[u64]) -> u64 {
    let into_current = now.rem_euclid(RATE_BUCKET_MS) as f64 / RATE_BUCKET_MS as f64;
    let mut total = 0.0;
    for (i, count) in newest_first.iter().take(RATE_BUCKETS).enumerate() {
        let weight = if i + 1 == RATE_BUCKETS {
            1.0 - into_current
        } else {
            1.0
        };
        total += *count as f64 * weight;
    }
    total.round() as u64
}

/// Nearest-rank percentile `p` (0-100) of `values`; sorts them.
pub(crate) fn percentile(values: &mut [u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// p50 and p95 of `durations`.
pub(crate) fn p50_p95(mut durations: Vec<u64>) -> (Option<u64>, Option<u64>) {
    let p50 = percentile(&mut durations, 50.0);
    (p50, percentile(&mut durations, 95.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(p50_p95(values), (Some(50), Some(95)));
        assert_eq!(p50_p95(vec![7]), (Some(7), Some(7)));
        assert_eq!(p50_p95(vec![]), (None, None));
        assert_eq!(p50_p95(vec![10, 1000]), (Some(10), Some(1000)));
    }

    #[test]
    fn per_minute_weighs_the_straddling_bucket() {
        // At a bucket boundary the current bucket has just begun and the
        // six before it make up the minute.
        let now = 1_000 * RATE_BUCKET_MS;
        assert_eq!(per_minute(now, &[0, 10, 10, 10, 10, 10, 60]), 110);
        assert_eq!(per_minute(now, &[0, 10, 10, 10, 10, 10, 60, 99]), 110);
        // Half way into the current bucket, half of the oldest still counts.
        let now = now + RATE_BUCKET_MS / 2;
        assert_eq!(per_minute(now, &[5, 10, 10, 10, 10, 10, 60]), 85);
        assert_eq!(per_minute(now, &[]), 0);
        assert_eq!(rate_bucket(now), 1_000);
    }
}
