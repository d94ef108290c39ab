//! Queues in Redis: a wait list, scheduled/active/dead sorted sets and one hash
//! per job, all under the queue's hash tag so each script touches one slot.
//! Job status is written to the database before Redis changes, so a crash in
//! between re-runs an attempt rather than losing its record.

use super::{
    Enqueued, Leased, QueueError, QueueStats,
    stats::{DURATION_SAMPLES, DURATION_WINDOW_MS, RATE_BUCKETS, p50_p95, per_minute, rate_bucket},
};
use crate::db::{
    Db,
    jobs::{JobRecord, NewJob, Outcome},
    now_ms,
};
use redis::{AsyncCommands, Script, aio::ConnectionManager};
use std::{sync::Arc, time::Duration};

/// Replies of the stats pipeline, in command order.
type StatsReply = (
    u64,
    u64,
    u64,
    u64,
    u64,
    Option<String>,
    Option<u64>,
    Option<u64>,
    Vec<(String, f64)>,
);

/// Seconds a rate bucket outlives its start: long enough to be read for a minute.
const RATE_BUCKET_TTL_SECS: i64 = 120;
/// Sorted set of live worker processes of a kind, scored by their last heartbeat.
fn workers_key(kind: &str) -> String {
    format!("fleet:workers:{kind}")
}

/// Most due or lost jobs one fetch moves; keeps every script call short.
const STEP: usize = 1_000;
/// Most jobs per push or requeue script call.
const PUSH_CHUNK: usize = 500;

/// Queues kept in Redis.
#[derive(Clone)]
pub struct RedisQueues {
    conn: ConnectionManager,
    db: Db,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueues").finish_non_exhaustive()
    }
}

struct Scripts {
    push: Script,
    fetch: Script,
    heartbeat: Script,
    finish: Script,
    requeue: Script,
    purge: Script,
}

/// The Redis keys of one queue.
struct Keys {
    wait: String,
    scheduled: String,
    active: String,
    dead: String,
    processed: String,
    failed: String,
    durations: String,
    rate_prefix: String,
    job_prefix: String,
}

impl Keys {
    fn of(queue: &str) -> Keys {
        let base = format!("fleet:{{{queue}}}");
        Keys {
            wait: format!("{base}:wait"),
            scheduled: format!("{base}:scheduled"),
            active: format!("{base}:active"),
            dead: format!("{base}:dead"),
            processed: format!("{base}:processed"),
            failed: format!("{base}:failed"),
            durations: format!("{base}:durations"),
            rate_prefix: format!("{base}:rate:"),
            job_prefix: format!("{base}:job:"),
        }
    }
}

impl RedisQueues {
    /// Connects to Redis at `url`; the connection reconnects on its own after failures.
    pub async fn connect(url: &str, db: Db) -> Result<RedisQueues, QueueError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisQueues {
            conn,
            db,
            scripts: Arc::new(Scripts {
                push: Script::new(include_str!("lua/push.lua")),
                fetch: Script::new(include_str!("lua/fetch.lua")),
                heartbeat: Script::new(include_str!("lua/heartbeat.lua")),
                finish: Script::new(include_str!("lua/finish.lua")),
                requeue: Script::new(include_str!("lua/requeue.lua")),
                purge: Script::new(include_str!("lua/purge.lua")),
            }),
        })
    }

    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    pub(super) async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    pub(super) async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, QueueError> {
        let slots = self.db.insert_jobs(&jobs).await?;
        // Jobs created now, and existing ones still queued (a previous enqueue may
        // have crashed between the database and Redis), are pushed; the push
        // script skips jobs Redis already holds.
        let existing: Vec<String> = slots
            .iter()
            .filter(|(_, created)| !created)
            .map(|(id, _)| id.clone())
            .collect();
        let mut to_push: Vec<NewJob> = jobs
            .iter()
            .zip(&slots)
            .filter(|(_, (_, created))| *created)
            .map(|(job, _)| job.clone())
            .collect();
        if !existing.is_empty() {
            for record in self.db.jobs_by_ids(&existing).await? {
                if record.status == fleet_jobs::JobStatus::Queued && record.attempts == 0 {
                    to_push.push(new_job_from(&record));
                }
            }
        }
        let mut by_queue: std::collections::BTreeMap<&str, Vec<&NewJob>> = Default::default();
        for job in &to_push {
            by_queue.entry(job.queue.as_str()).or_default().push(job);
        }
        let mut conn = self.conn.clone();
        let now = now_ms();
        for (queue, jobs) in by_queue {
            let keys = Keys::of(queue);
            for chunk in jobs.chunks(PUSH_CHUNK) {
                let mut call = self.scripts.push.prepare_invoke();
                call.key(&keys.wait)
                    .key(&keys.scheduled)
                    .arg(&keys.job_prefix)
                    .arg(now);
                for job in chunk {
                    call.arg(&job.id)
                        .arg(&job.kind)
                        .arg(&job.payload)
                        .arg(job.max_attempts)
                        .arg(job.run_at);
                }
                let _: i64 = call.invoke_async(&mut conn).await?;
            }
        }
        Ok(slots
            .into_iter()
            .map(|(id, created)| Enqueued { id, created })
            .collect())
    }

    pub(super) async fn fetch(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Leased>, QueueError> {
        let keys = Keys::of(queue);
        let now = now_ms();
        let mut conn = self.conn.clone();
        let (leased, requeued, buried): (Vec<String>, Vec<String>, Vec<String>) = self
            .scripts
            .fetch
            .key(&keys.wait)
            .key(&keys.scheduled)
            .key(&keys.active)
            .key(&keys.dead)
            .arg(&keys.job_prefix)
            .arg(now)
            .arg(max)
            .arg(now + lease.as_millis() as i64)
            .arg(STEP)
            .invoke_async(&mut conn)
            .await?;
        // A lost attempt counts: requeued jobs are recorded as failed and due now.
        let lost = pairs(&requeued)?
            .into_iter()
            .map(|(id, attempt)| Outcome::retry(id, attempt, lost_reason(attempt), now))
            .chain(
                pairs(&buried)?
                    .into_iter()
                    .map(|(id, attempt)| Outcome::dead(id, attempt, lost_reason(attempt))),
            )
            .collect::<Vec<_>>();
        if !lost.is_empty() {
            tracing::warn!(
                queue,
                count = lost.len(),
                "reclaimed jobs whose worker stopped sending heartbeats"
            );
            self.db.record_outcomes(&lost).await?;
        }
        if leased.len() % 5 != 0 {
            return Err(QueueError::Protocol(format!(
                "fetch returned {} fields",
                leased.len()
            )));
        }
        let jobs = leased
            .chunks(5)
            .map(|f| {
                Ok(Leased {
                    id: f[0].clone(),
                    kind: f[1].clone(),
                    queue: queue.to_owned(),
                    payload: f[2].clone(),
                    attempt: parse_int(&f[3])?,
                    max_attempts: parse_int(&f[4])?,
                })
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        Ok(jobs)
    }

    pub(super) async fn heartbeat(
        &self,
        queue: &str,
        held: &[(String, i32)],
        lease: Duration,
    ) -> Result<(), QueueError> {
        let keys = Keys::of(queue);
        let mut call = self.scripts.heartbeat.prepare_invoke();
        call.key(&keys.active)
            .arg(&keys.job_prefix)
            .arg(now_ms() + lease.as_millis() as i64);
        for (id, attempt) in held {
            call.arg(id).arg(*attempt);
        }
        let mut conn = self.conn.clone();
        let _: i64 = call.invoke_async(&mut conn).await?;
        Ok(())
    }

    pub(super) async fn finish(&self, queue: &str, outcomes: &[Outcome]) -> Result<(), QueueError> {
        self.db.record_outcomes(outcomes).await?;
        let keys = Keys::of(queue);
        let mut conn = self.conn.clone();
        let now = now_ms();
        for chunk in outcomes.chunks(PUSH_CHUNK) {
            let mut call = self.scripts.finish.prepare_invoke();
            call.key(&keys.wait)
                .key(&keys.scheduled)
                .key(&keys.active)
                .key(&keys.dead)
                .key(&keys.processed)
                .key(&keys.failed)
                .key(&keys.durations)
                .key(format!("{}{}", keys.rate_prefix, rate_bucket(now)))
                .arg(&keys.job_prefix)
                .arg(now)
                .arg(DURATION_SAMPLES)
                .arg(RATE_BUCKET_TTL_SECS);
            for o in chunk {
                call.arg(&o.id)
                    .arg(o.attempt)
                    .arg(o.status.as_str())
                    .arg(o.run_at.unwrap_or(0))
                    .arg(o.error.as_deref().unwrap_or(""))
                    .arg(o.duration_ms.map_or(-1, |d| d as i64));
            }
            let _: i64 = call.invoke_async(&mut conn).await?;
        }
        Ok(())
    }

    pub(super) async fn requeue(&self, queue: &str, jobs: &[JobRecord]) -> Result<(), QueueError> {
        let keys = Keys::of(queue);
        let mut conn = self.conn.clone();
        for chunk in jobs.chunks(PUSH_CHUNK) {
            let mut call = self.scripts.requeue.prepare_invoke();
            call.key(&keys.wait)
                .key(&keys.scheduled)
                .key(&keys.active)
                .key(&keys.dead)
                .arg(&keys.job_prefix)
                .arg(now_ms());
            for job in chunk {
                call.arg(&job.id)
                    .arg(&job.kind)
                    .arg(&job.payload)
                    .arg(job.max_attempts);
            }
            let _: i64 = call.invoke_async(&mut conn).await?;
        }
        Ok(())
    }

    pub(super) async fn forget(&self, queue: &str, ids: &[String]) -> Result<(), QueueError> {
        let keys = Keys::of(queue);
        let mut conn = self.conn.clone();
        for chunk in ids.chunks(PUSH_CHUNK) {
            let mut call = self.scripts.purge.prepare_invoke();
            call.key(&keys.dead).arg(&keys.job_prefix);
            for id in chunk {
                call.arg(id);
            }
            let _: i64 = call.invoke_async(&mut conn).await?;
        }
        Ok(())
    }

    pub(super) async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let keys = Keys::of(queue);
        let now = now_ms();
        let mut conn = self.conn.clone();
        let (
            wait_len,
            sched_total,
            sched_due,
            active,
            dead,
            oldest_id,
            processed,
            failed,
            first_due,
        ): StatsReply = redis::pipe()
            .llen(&keys.wait)
            .zcard(&keys.scheduled)
            .zcount(&keys.scheduled, "-inf", now)
            .zcard(&keys.active)
            .zcard(&keys.dead)
            .lindex(&keys.wait, -1)
            .get(&keys.processed)
            .get(&keys.failed)
            .zrangebyscore_limit_withscores(&keys.scheduled, "-inf", now, 0, 1)
            .query_async(&mut conn)
            .await?;
        let mut oldest_ready: Option<i64> = first_due.first().map(|(_, score)| *score as i64);
        if let Some(id) = oldest_id {
            let ready: Option<i64> = conn
                .hget(format!("{}{id}", keys.job_prefix), "ready_at")
                .await?;
            if let Some(ready) = ready {
                oldest_ready = Some(oldest_ready.map_or(ready, |o| o.min(ready)));
            }
        }
        let bucket = rate_bucket(now);
        let mut pipe = redis::pipe();
        for b in 0..RATE_BUCKETS as i64 {
            pipe.hmget(format!("{}{}", keys.rate_prefix, bucket - b), &["p", "f"]);
        }
        pipe.lrange(&keys.durations, 0, DURATION_SAMPLES as isize - 1);
        let mut replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let samples: Vec<String> = match replies.pop() {
            Some(v) => redis::from_redis_value(v).map_err(parsing)?,
            None => Vec::new(),
        };
        let mut processed_buckets = Vec::with_capacity(RATE_BUCKETS);
        let mut failed_buckets = Vec::with_capacity(RATE_BUCKETS);
        for reply in replies {
            let (p, f): (Option<u64>, Option<u64>) =
                redis::from_redis_value(reply).map_err(parsing)?;
            processed_buckets.push(p.unwrap_or(0));
            failed_buckets.push(f.unwrap_or(0));
        }
        let durations: Vec<u64> = samples
            .iter()
            .filter_map(|s| {
                let (at, ms) = s.split_once(':')?;
                let at: i64 = at.parse().ok()?;
                (now - at <= DURATION_WINDOW_MS).then(|| ms.parse().ok())?
            })
            .collect();
        let (duration_p50_ms, duration_p95_ms) = p50_p95(durations);
        Ok(QueueStats {
            processed_per_min: per_minute(now, &processed_buckets),
            failed_per_min: per_minute(now, &failed_buckets),
            duration_p50_ms,
            duration_p95_ms,
            queue: queue.to_owned(),
            waiting: wait_len + sched_due,
            scheduled: sched_total - sched_due.min(sched_total),
            in_flight: active,
            dead,
            oldest_waiting_ms: oldest_ready.map(|r| (now - r).max(0) as u64),
            processed: processed.unwrap_or(0),
            failed: failed.unwrap_or(0),
        })
    }
}

impl RedisQueues {
    pub(super) async fn worker_seen(
        &self,
        kinds: &[&str],
        worker: &str,
        live_for_ms: i64,
    ) -> Result<(), QueueError> {
        let now = now_ms();
        let mut pipe = redis::pipe();
        for kind in kinds {
            let key = workers_key(kind);
            pipe.zadd(&key, worker, now)
                .ignore()
                .zrembyscore(&key, "-inf", now - live_for_ms)
                .ignore();
        }
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    pub(super) async fn worker_gone(&self, kinds: &[&str], worker: &str) -> Result<(), QueueError> {
        let mut pipe = redis::pipe();
        for kind in kinds {
            pipe.zrem(workers_key(kind), worker).ignore();
        }
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    pub(super) async fn live_workers(
        &self,
        kind: &str,
        live_for_ms: i64,
    ) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let count: u64 = conn
            .zcount(workers_key(kind), now_ms() - live_for_ms, "+inf")
            .await?;
        Ok(count)
    }
}

fn parsing(err: redis::ParsingError) -> QueueError {
    QueueError::Protocol(err.to_string())
}

fn lost_reason(attempt: i32) -> String {
    format!("worker lost: no heartbeat before the lease expired (attempt {attempt})")
}

fn parse_int(s: &str) -> Result<i32, QueueError> {
    s.parse()
        .map_err(|_| QueueError::Protocol(format!("expected an integer, got `{s}`")))
}

fn pairs(flat: &[String]) -> Result<Vec<(&str, i32)>, QueueError> {
    flat.chunks(2)
        .map(|p| match p {
            [id, attempt] => Ok((id.as_str(), parse_int(attempt)?)),
            _ => Err(QueueError::Protocol("odd-length id list".to_owned())),
        })
        .collect()
}

fn new_job_from(record: &JobRecord) -> NewJob {
    NewJob {
        id: record.id.clone(),
        kind: record.kind.clone(),
        queue: record.queue.clone(),
        payload: record.payload.clone(),
        idempotency_key: None,
        seller_id: record.seller_id.clone(),
        priority: record.priority,
        max_attempts: record.max_attempts,
        run_at: record.run_at,
    }
}
