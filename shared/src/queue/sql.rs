//! Queues in the SQL database (SQLite for `fleet dev`): the jobs table is the
//! queue, so one row change moves a job and records its status.

use super::{
    Enqueued, Leased, QueueError, QueueStats,
    stats::{
        DURATION_SAMPLES, DURATION_WINDOW_MS, RATE_BUCKET_MS, RATE_BUCKETS, p50_p95, per_minute,
        rate_bucket,
    },
};
use crate::db::{
    Db,
    jobs::{NewJob, Outcome},
    now_ms,
};
use fleet_jobs::JobStatus;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Waiting, scheduled, in flight, dead, and the oldest due time.
type StatsRow = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

// The bucket width is written into the rate query.
const _: () = assert!(RATE_BUCKET_MS == 10_000);

/// Figures of a queue's recently finished attempts.
struct Recent {
    processed_per_min: u64,
    failed_per_min: u64,
    p50: Option<u64>,
    p95: Option<u64>,
}

/// How often a queue is swept for jobs whose worker stopped sending heartbeats.
const RECLAIM_EVERY_MS: i64 = 1_000;

/// Queues kept in the jobs table.
#[derive(Debug, Clone)]
pub struct SqlQueues {
    db: Db,
    last_reclaim: Arc<Mutex<HashMap<String, i64>>>,
}

impl SqlQueues {
    /// Queues in `db`'s jobs table.
    pub fn new(db: Db) -> SqlQueues {
        SqlQueues {
            db,
            last_reclaim: Arc::default(),
        }
    }

    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    pub(super) async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, QueueError> {
        Ok(self
            .db
            .insert_jobs(&jobs)
            .await?
            .into_iter()
            .map(|(id, created)| Enqueued { id, created })
            .collect())
    }

    fn reclaim_due(&self, queue: &str, now: i64) -> bool {
        let Ok(mut last) = self.last_reclaim.lock() else {
            return true;
        };
        let entry = last.entry(queue.to_owned()).or_insert(0);
        if now - *entry >= RECLAIM_EVERY_MS {
            *entry = now;
            true
        } else {
            false
        }
    }

    pub(super) async fn fetch(
        &self,
        queue: &str,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Leased>, QueueError> {
        let Db::Sqlite(pool) = &self.db else {
            return Err(QueueError::Protocol(
                "SQL queues run on SQLite only; set FLEET_REDIS_URL for PostgreSQL".to_owned(),
            ));
        };
        let now = now_ms();
        if self.reclaim_due(queue, now) {
            let reclaimed = sqlx::query(
                "UPDATE jobs SET \
                   status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'failed' END, \
                   last_error = 'worker lost: no heartbeat before the lease expired (attempt ' || attempts || ')', \
                   lease_until = NULL, worker_id = NULL, run_at = $1, updated_at = $1, \
                   finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END \
                 WHERE queue = $2 AND status = 'running' AND lease_until < $1",
            )
            .bind(now)
            .bind(queue)
            .execute(pool)
            .await
            .map_err(crate::db::DbError::from)?
            .rows_affected();
            if reclaimed > 0 {
                tracing::warn!(
                    queue,
                    count = reclaimed,
                    "reclaimed jobs whose worker stopped sending heartbeats"
                );
            }
        }
        let rows: Vec<(String, String, String, i32, i32)> = sqlx::query_as(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = $1, worker_id = $2, \
               started_at = $3, updated_at = $3 \
             WHERE id IN (SELECT id FROM jobs WHERE queue = $4 AND status IN ('queued', 'failed') AND run_at <= $3 \
                          ORDER BY priority DESC, run_at, id LIMIT $5) \
             RETURNING id, kind, payload, attempts, max_attempts",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(worker)
        .bind(now)
        .bind(queue)
        .bind(max as i64)
        .fetch_all(pool)
        .await
        .map_err(crate::db::DbError::from)?;
        let mut jobs: Vec<Leased> = rows
            .into_iter()
            .map(|(id, kind, payload, attempt, max_attempts)| Leased {
                id,
                kind,
                queue: queue.to_owned(),
                payload,
                attempt,
                max_attempts,
            })
            .collect();
        // RETURNING order is unspecified; hand jobs out oldest first.
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(jobs)
    }

    pub(super) async fn heartbeat(
        &self,
        held: &[(String, i32)],
        lease: Duration,
    ) -> Result<(), QueueError> {
        let Db::Sqlite(pool) = &self.db else {
            return Ok(());
        };
        let json = serde_json::Value::Array(
            held.iter()
                .map(|(id, attempt)| serde_json::json!({"id": id, "attempt": attempt}))
                .collect(),
        )
        .to_string();
        sqlx::query(
            "UPDATE jobs SET lease_until = $1 \
             FROM (SELECT value ->> 'id' AS id, value ->> 'attempt' AS attempt FROM json_each($2)) AS u \
             WHERE jobs.id = u.id AND jobs.attempts = u.attempt AND jobs.status = 'running'",
        )
        .bind(now_ms() + lease.as_millis() as i64)
        .bind(json)
        .execute(pool)
        .await
        .map_err(crate::db::DbError::from)?;
        Ok(())
    }

    pub(super) async fn finish(&self, queue: &str, outcomes: &[Outcome]) -> Result<(), QueueError> {
        let applied: std::collections::HashSet<String> = self
            .db
            .record_outcomes(outcomes)
            .await?
            .into_iter()
            .collect();
        let counted = outcomes.iter().filter(|o| applied.contains(&o.id));
        let (mut processed, mut failed) = (0i64, 0i64);
        let mut samples = Vec::new();
        for o in counted {
            let is_failure = match o.status {
                JobStatus::Succeeded => {
                    processed += 1;
                    0
                }
                JobStatus::Failed | JobStatus::Dead => {
                    failed += 1;
                    1
                }
                _ => continue,
            };
            samples.push(serde_json::json!({"f": is_failure, "d": o.duration_ms}));
        }
        if !samples.is_empty() {
            self.record_samples(queue, &samples).await?;
        }
        if processed + failed > 0 {
            crate::db::on_pool!(&self.db, pool => sqlx::query(
                "INSERT INTO queue_counters (queue, processed, failed) VALUES ($1, $2, $3) \
                 ON CONFLICT (queue) DO UPDATE SET processed = queue_counters.processed + excluded.processed, \
                 failed = queue_counters.failed + excluded.failed",
            )
            .bind(queue)
            .bind(processed)
            .bind(failed)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(crate::db::DbError::from))?;
        }
        Ok(())
    }

    /// Adds finished attempts to the recent samples and drops samples no figure reads any more.
    async fn record_samples(
        &self,
        queue: &str,
        samples: &[serde_json::Value],
    ) -> Result<(), QueueError> {
        let now = now_ms();
        let json = serde_json::Value::Array(samples.to_vec()).to_string();
        let oldest_kept = now - DURATION_WINDOW_MS.max(RATE_BUCKET_MS * RATE_BUCKETS as i64);
        let insert = match self.db {
            Db::Postgres(_) => {
                "INSERT INTO queue_samples (queue, finished_at, failed, duration_ms) \
                 SELECT $1, $2, (value ->> 'f')::int, (value ->> 'd')::bigint FROM jsonb_array_elements($3::jsonb)"
            }
            Db::Sqlite(_) => {
                "INSERT INTO queue_samples (queue, finished_at, failed, duration_ms) \
                 SELECT $1, $2, value ->> 'f', value ->> 'd' FROM json_each($3)"
            }
        };
        crate::db::on_pool!(&self.db, pool => async {
            sqlx::query(insert).bind(queue).bind(now).bind(&json).execute(pool).await?;
            sqlx::query("DELETE FROM queue_samples WHERE queue = $1 AND finished_at < $2")
                .bind(queue)
                .bind(oldest_kept)
                .execute(pool)
                .await?;
            Ok::<(), sqlx::Error>(())
        }.await)
        .map_err(crate::db::DbError::from)?;
        Ok(())
    }

    /// Per-minute rates and duration percentiles from the recent samples.
    async fn recent(&self, queue: &str, now: i64) -> Result<Recent, QueueError> {
        let newest = rate_bucket(now);
        let since = (newest - RATE_BUCKETS as i64 + 1) * RATE_BUCKET_MS;
        let buckets: Vec<(i64, i64, i64)> = crate::db::on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT finished_at / 10000, CAST(SUM(1 - failed) AS BIGINT), CAST(SUM(failed) AS BIGINT) \
             FROM queue_samples WHERE queue = $1 AND finished_at >= $2 GROUP BY 1",
        )
        .bind(queue)
        .bind(since)
        .fetch_all(pool)
        .await
        .map_err(crate::db::DbError::from))?;
        let durations: Vec<i64> = crate::db::on_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT duration_ms FROM queue_samples \
             WHERE queue = $1 AND finished_at >= $2 AND duration_ms IS NOT NULL \
             ORDER BY finished_at DESC LIMIT $3",
        )
        .bind(queue)
        .bind(now - DURATION_WINDOW_MS)
        .bind(DURATION_SAMPLES as i64)
        .fetch_all(pool)
        .await
        .map_err(crate::db::DbError::from))?;
        let mut processed = vec![0u64; RATE_BUCKETS];
        let mut failed = vec![0u64; RATE_BUCKETS];
        for (bucket, ok, bad) in buckets {
            if let Ok(i) = usize::try_from(newest - bucket)
                && i < RATE_BUCKETS
            {
                processed[i] += ok.max(0) as u64;
                failed[i] += bad.max(0) as u64;
            }
        }
        let (p50, p95) = p50_p95(durations.into_iter().map(|d| d.max(0) as u64).collect());
        Ok(Recent {
            processed_per_min: per_minute(now, &processed),
            failed_per_min: per_minute(now, &failed),
            p50,
            p95,
        })
    }

    pub(super) async fn worker_seen(
        &self,
        kinds: &[&str],
        worker: &str,
        live_for_ms: i64,
    ) -> Result<(), QueueError> {
        let now = now_ms();
        for kind in kinds {
            crate::db::on_pool!(&self.db, pool => async {
                sqlx::query(
                    "INSERT INTO worker_heartbeats (worker_id, kind, seen_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (worker_id, kind) DO UPDATE SET seen_at = excluded.seen_at",
                )
                .bind(worker)
                .bind(*kind)
                .bind(now)
                .execute(pool)
                .await?;
                sqlx::query("DELETE FROM worker_heartbeats WHERE kind = $1 AND seen_at < $2")
                    .bind(*kind)
                    .bind(now - live_for_ms)
                    .execute(pool)
                    .await?;
                Ok::<(), sqlx::Error>(())
            }.await)
            .map_err(crate::db::DbError::from)?;
        }
        Ok(())
    }

    pub(super) async fn worker_gone(&self, kinds: &[&str], worker: &str) -> Result<(), QueueError> {
        for kind in kinds {
            crate::db::on_pool!(&self.db, pool => sqlx::query(
                "DELETE FROM worker_heartbeats WHERE worker_id = $1 AND kind = $2",
            )
            .bind(worker)
            .bind(*kind)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(crate::db::DbError::from))?;
        }
        Ok(())
    }

    pub(super) async fn live_workers(
        &self,
        kind: &str,
        live_for_ms: i64,
    ) -> Result<u64, QueueError> {
        let count: i64 = crate::db::on_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM worker_heartbeats WHERE kind = $1 AND seen_at >= $2",
        )
        .bind(kind)
        .bind(now_ms() - live_for_ms)
        .fetch_one(pool)
        .await
        .map_err(crate::db::DbError::from))?;
        Ok(count.max(0) as u64)
    }

    pub(super) async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let now = now_ms();
        let (waiting, scheduled, in_flight, dead, oldest): StatsRow = crate::db::on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT \
               SUM(CASE WHEN status IN ('queued', 'failed') AND run_at <= $2 THEN 1 ELSE 0 END), \
               SUM(CASE WHEN status IN ('queued', 'failed') AND run_at > $2 THEN 1 ELSE 0 END), \
               SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END), \
               MIN(CASE WHEN status IN ('queued', 'failed') AND run_at <= $2 THEN run_at END) \
             FROM jobs WHERE queue = $1 AND status IN ('queued', 'failed', 'running', 'dead')",
        )
        .bind(queue)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(crate::db::DbError::from))?;
        let counters: Option<(i64, i64)> = crate::db::on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT processed, failed FROM queue_counters WHERE queue = $1",
        )
        .bind(queue)
        .fetch_optional(pool)
        .await
        .map_err(crate::db::DbError::from))?;
        let count = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        let (processed, failed) = counters.unwrap_or((0, 0));
        let recent = self.recent(queue, now).await?;
        Ok(QueueStats {
            processed_per_min: recent.processed_per_min,
            failed_per_min: recent.failed_per_min,
            duration_p50_ms: recent.p50,
            duration_p95_ms: recent.p95,
            queue: queue.to_owned(),
            waiting: count(waiting),
            scheduled: count(scheduled),
            in_flight: count(in_flight),
            dead: count(dead),
            oldest_waiting_ms: oldest.map(|o| (now - o).max(0) as u64),
            processed: processed.max(0) as u64,
            failed: failed.max(0) as u64,
        })
    }
}
