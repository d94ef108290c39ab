//! The jobs table: every job's status, attempts, progress and last error.

use super::{Db, DbError, now_ms, on_pool};
use fleet_jobs::JobStatus;
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

/// A job about to be recorded and queued.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Stable id (a ULID).
    pub id: String,
    /// Job type name.
    pub kind: String,
    /// Queue it runs on.
    pub queue: String,
    /// JSON payload.
    pub payload: String,
    /// Enqueueing the same key twice creates one job.
    pub idempotency_key: Option<String>,
    /// Seller that owns the job, for access control.
    pub seller_id: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts before the job goes dead.
    pub max_attempts: i32,
    /// Not run before this time (ms since epoch).
    pub run_at: i64,
}

impl NewJob {
    /// A job for `job`, due now, with a fresh id.
    pub fn of<J: fleet_jobs::Job>(job: &J, max_attempts: i32) -> Result<NewJob, serde_json::Error> {
        Ok(NewJob {
            id: ulid::Ulid::new().to_string().to_lowercase(),
            kind: J::KIND.to_owned(),
            queue: job.queue().to_owned(),
            payload: serde_json::to_string(job)?,
            idempotency_key: job.idempotency_key(),
            seller_id: None,
            priority: 0,
            max_attempts,
            run_at: now_ms(),
        })
    }
}

/// One row of the jobs table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobRecord {
    /// Stable id.
    pub id: String,
    /// Job type name.
    pub kind: String,
    /// Queue it runs on.
    pub queue: String,
    /// Current status.
    pub status: JobStatus,
    /// JSON payload.
    #[serde(skip)]
    pub payload: String,
    /// Owning seller, if any.
    #[serde(skip)]
    pub seller_id: Option<String>,
    /// Higher runs first.
    #[serde(skip)]
    pub priority: i32,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Units of work done, when the job reports progress.
    pub progress_done: Option<i64>,
    /// Units of work in total, when known.
    pub progress_total: Option<i64>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When the job is next due (ms since epoch).
    pub run_at: i64,
    /// Creation time (ms since epoch).
    pub created_at: i64,
    /// Last change (ms since epoch).
    pub updated_at: i64,
    /// Start of the latest attempt (ms since epoch).
    pub started_at: Option<i64>,
    /// When it reached a final status (ms since epoch).
    pub finished_at: Option<i64>,
}

impl JobRecord {
    /// The record of `job` as just enqueued at `now` (ms since epoch).
    pub fn queued(job: &NewJob, now: i64) -> JobRecord {
        JobRecord {
            id: job.id.clone(),
            kind: job.kind.clone(),
            queue: job.queue.clone(),
            status: JobStatus::Queued,
            payload: job.payload.clone(),
            seller_id: job.seller_id.clone(),
            priority: job.priority,
            attempts: 0,
            max_attempts: job.max_attempts,
            progress_done: None,
            progress_total: None,
            last_error: None,
            run_at: job.run_at,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }
}

/// What became of one attempt, to be written to the jobs table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The job.
    pub id: String,
    /// The attempt this outcome belongs to; stale attempts are ignored.
    pub attempt: i32,
    /// `succeeded`, `failed` (retry at `run_at`), `dead`, or `queued` (returned unstarted).
    pub status: JobStatus,
    /// Error text of a failed attempt.
    pub error: Option<String>,
    /// When a retry is due (ms since epoch).
    pub run_at: Option<i64>,
    /// When the attempt started (ms since epoch), if it did.
    pub started_at: Option<i64>,
    /// How long the attempt ran, if it did (for the queue's duration percentiles).
    #[serde(skip)]
    pub duration_ms: Option<u64>,
}

impl Outcome {
    fn new(
        id: &str,
        attempt: i32,
        status: JobStatus,
        error: Option<String>,
        run_at: Option<i64>,
    ) -> Self {
        Outcome {
            id: id.to_owned(),
            attempt,
            status,
            error,
            run_at,
            started_at: None,
            duration_ms: None,
        }
    }

    /// The attempt succeeded.
    pub fn succeeded(id: &str, attempt: i32) -> Self {
        Outcome::new(id, attempt, JobStatus::Succeeded, None, None)
    }

    /// The attempt failed; retry at `run_at`.
    pub fn retry(id: &str, attempt: i32, error: String, run_at: i64) -> Self {
        Outcome::new(id, attempt, JobStatus::Failed, Some(error), Some(run_at))
    }

    /// The attempt failed and no attempt is left (or the failure is permanent).
    pub fn dead(id: &str, attempt: i32, error: String) -> Self {
        Outcome::new(id, attempt, JobStatus::Dead, Some(error), None)
    }

    /// The job was leased but never started: back to the queue, the attempt not counted.
    pub fn released(id: &str, attempt: i32) -> Self {
        Outcome::new(id, attempt, JobStatus::Queued, None, None)
    }
}

const COLUMNS: &str = "id, kind, queue, status, payload, seller_id, priority, attempts, max_attempts, \
    progress_done, progress_total, last_error, run_at, created_at, updated_at, started_at, finished_at";

/// Most rows inserted by one statement.
const INSERT_CHUNK: usize = 1_000;

/// The PostgreSQL rows `u` of a JSON array `$1` with `columns`, joined to
/// their jobs and locked in id order. Every statement that updates many jobs
/// locks through this, so two of them never wait on each other in a cycle
/// (which PostgreSQL breaks only after its deadlock timeout, a second).
fn locked_in_order(columns: &str) -> String {
    format!(
        "(SELECT u.* FROM jsonb_to_recordset($1::jsonb) AS u({columns}) \
         JOIN jobs locked ON locked.id = u.id ORDER BY locked.id FOR UPDATE OF locked) AS u"
    )
}

fn record_from_row<R>(row: &R) -> Result<JobRecord, DbError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        queue: row.try_get("queue")?,
        status: status
            .parse()
            .map_err(|e: fleet_jobs::UnknownStatus| DbError::Corrupt {
                table: "jobs",
                message: e.to_string(),
            })?,
        payload: row.try_get("payload")?,
        seller_id: row.try_get("seller_id")?,
        priority: row.try_get("priority")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        progress_done: row.try_get("progress_done")?,
        progress_total: row.try_get("progress_total")?,
        last_error: row.try_get("last_error")?,
        run_at: row.try_get("run_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl Db {
    /// Records `jobs` as queued. Returns, for each input in order, the id of the
    /// job now holding that slot and whether it was created by this call (false
    /// when a job with the same idempotency key already existed).
    pub async fn insert_jobs(&self, jobs: &[NewJob]) -> Result<Vec<(String, bool)>, DbError> {
        let now = now_ms();
        let mut created = std::collections::HashSet::new();
        for chunk in jobs.chunks(INSERT_CHUNK) {
            let ids: Vec<String> = match self {
                Db::Postgres(pool) => {
                    let col = |f: fn(&NewJob) -> String| chunk.iter().map(f).collect::<Vec<_>>();
                    let opt =
                        |f: fn(&NewJob) -> Option<String>| chunk.iter().map(f).collect::<Vec<_>>();
                    sqlx::query_scalar(
                        "INSERT INTO jobs (id, kind, queue, status, payload, idempotency_key, seller_id, priority, \
                         attempts, max_attempts, run_at, created_at, updated_at) \
                         SELECT id, kind, queue, 'queued', payload, key, seller, priority, 0, max_attempts, run_at, $10, $10 \
                         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                     $7::int[], $8::int[], $9::bigint[]) \
                           AS u(id, kind, queue, payload, key, seller, priority, max_attempts, run_at) \
                         ON CONFLICT DO NOTHING RETURNING id",
                    )
                    .bind(col(|j| j.id.clone()))
                    .bind(col(|j| j.kind.clone()))
                    .bind(col(|j| j.queue.clone()))
                    .bind(col(|j| j.payload.clone()))
                    .bind(opt(|j| j.idempotency_key.clone()))
                    .bind(opt(|j| j.seller_id.clone()))
                    .bind(chunk.iter().map(|j| j.priority).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|j| j.max_attempts).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|j| j.run_at).collect::<Vec<_>>())
                    .bind(now)
                    .fetch_all(pool)
                    .await?
                }
                Db::Sqlite(pool) => {
                    let rows = serde_json::Value::Array(
                        chunk
                            .iter()
                            .map(|j| {
                                serde_json::json!({
                                    "id": j.id, "kind": j.kind, "queue": j.queue, "payload": j.payload,
                                    "key": j.idempotency_key, "seller": j.seller_id, "priority": j.priority,
                                    "max_attempts": j.max_attempts, "run_at": j.run_at,
                                })
                            })
                            .collect(),
                    );
                    sqlx::query_scalar(
                        "INSERT INTO jobs (id, kind, queue, status, payload, idempotency_key, seller_id, priority, \
                         attempts, max_attempts, run_at, created_at, updated_at) \
                         SELECT value ->> 'id', value ->> 'kind', value ->> 'queue', 'queued', value ->> 'payload', \
                                value ->> 'key', value ->> 'seller', value ->> 'priority', 0, value ->> 'max_attempts', \
                                value ->> 'run_at', $2, $2 \
                         FROM json_each($1) WHERE true \
                         ON CONFLICT DO NOTHING RETURNING id",
                    )
                    .bind(rows.to_string())
                    .bind(now)
                    .fetch_all(pool)
                    .await?
                }
            };
            created.extend(ids);
        }
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            if created.contains(&job.id) {
                out.push((job.id.clone(), true));
                continue;
            }
            let existing = match &job.idempotency_key {
                Some(key) => self.job_id_by_idempotency_key(key).await?,
                None => None,
            };
            match existing {
                Some(id) => out.push((id, false)),
                None => {
                    return Err(DbError::Corrupt {
                        table: "jobs",
                        message: format!("job {} was neither inserted nor found", job.id),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn job_id_by_idempotency_key(&self, key: &str) -> Result<Option<String>, DbError> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// One job by id.
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        on_pool!(self, pool => {
            let row = sqlx::query(AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await?;
            row.as_ref().map(record_from_row).transpose()
        })
    }

    /// Several jobs by id (missing ids are skipped).
    pub async fn jobs_by_ids(&self, ids: &[String]) -> Result<Vec<JobRecord>, DbError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(INSERT_CHUNK) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id IN ({list})");
            on_pool!(self, pool => {
                let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id);
                }
                for row in q.fetch_all(pool).await? {
                    out.push(record_from_row(&row)?);
                }
            });
        }
        Ok(out)
    }

    /// Marks leased jobs as running with the attempt number the queue assigned.
    /// A job whose outcome for that attempt is already recorded is left alone.
    pub async fn mark_running(
        &self,
        started: &[(String, i32)],
        worker: &str,
    ) -> Result<(), DbError> {
        if started.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let json = serde_json::Value::Array(
            started
                .iter()
                .map(|(id, attempt)| serde_json::json!({"id": id, "attempt": attempt}))
                .collect(),
        )
        .to_string();
        match self {
            Db::Postgres(pool) => {
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE jobs SET status = 'running', attempts = u.attempt, worker_id = $2, \
                     started_at = $3, updated_at = $3 \
                     FROM {} \
                     WHERE jobs.id = u.id AND jobs.attempts <= u.attempt \
                     AND (jobs.status IN ('queued', 'running') OR (jobs.status = 'failed' AND jobs.attempts < u.attempt))",
                    locked_in_order("id text, attempt int")
                )))
                .bind(json)
                .bind(worker)
                .bind(now)
                .execute(pool)
                .await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query(
                    "UPDATE jobs SET status = 'running', attempts = u.attempt, worker_id = $2, \
                     started_at = $3, updated_at = $3 \
                     FROM (SELECT value ->> 'id' AS id, value ->> 'attempt' AS attempt FROM json_each($1)) AS u \
                     WHERE jobs.id = u.id AND jobs.attempts <= u.attempt \
                     AND (jobs.status IN ('queued', 'running') OR (jobs.status = 'failed' AND jobs.attempts < u.attempt))",
                )
                .bind(json)
                .bind(worker)
                .bind(now)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Writes the outcomes of finished attempts. An outcome of an attempt older
    /// than the job's current one (a worker that lost its lease) changes nothing;
    /// the running mark of a quick attempt may never have been written, so the
    /// outcome also records the attempt number and its start.
    /// Returns the ids whose row was updated.
    pub async fn record_outcomes(&self, outcomes: &[Outcome]) -> Result<Vec<String>, DbError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let json = serde_json::to_string(outcomes).map_err(|e| DbError::Corrupt {
            table: "jobs",
            message: e.to_string(),
        })?;
        let set = "status = u.status, last_error = COALESCE(u.error, jobs.last_error), \
             attempts = CASE WHEN u.status = 'queued' THEN u.attempt - 1 ELSE u.attempt END, \
             started_at = COALESCE(u.started_at, jobs.started_at), \
             run_at = COALESCE(u.run_at, jobs.run_at), lease_until = NULL, worker_id = NULL, updated_at = $2, \
             finished_at = CASE WHEN u.status IN ('succeeded', 'dead') THEN $2 ELSE NULL END, \
             progress_done = CASE WHEN u.status = 'succeeded' THEN COALESCE(jobs.progress_total, jobs.progress_done) ELSE jobs.progress_done END";
        let ids = match self {
            Db::Postgres(pool) => {
                sqlx::query_scalar(AssertSqlSafe(format!(
                    "UPDATE jobs SET {set} \
                     FROM {} \
                     WHERE jobs.id = u.id AND jobs.attempts <= u.attempt \
                     AND jobs.status NOT IN ('succeeded', 'dead', 'cancelled') RETURNING jobs.id",
                    locked_in_order("id text, attempt int, status text, error text, run_at bigint, started_at bigint")
                )))
                .bind(json)
                .bind(now)
                .fetch_all(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar(AssertSqlSafe(format!(
                    "UPDATE jobs SET {set} \
                     FROM (SELECT value ->> 'id' AS id, value ->> 'attempt' AS attempt, value ->> 'status' AS status, \
                           value ->> 'error' AS error, value ->> 'run_at' AS run_at, value ->> 'started_at' AS started_at \
                           FROM json_each($1)) AS u \
                     WHERE jobs.id = u.id AND jobs.attempts <= u.attempt \
                     AND jobs.status NOT IN ('succeeded', 'dead', 'cancelled') RETURNING jobs.id"
                )))
                .bind(json)
                .bind(now)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(ids)
    }

    /// Records a running job's progress.
    pub async fn set_progress(
        &self,
        id: &str,
        done: i64,
        total: Option<i64>,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET progress_done = $1, progress_total = COALESCE($2, progress_total), updated_at = $3 WHERE id = $4",
        )
        .bind(done)
        .bind(total)
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Dead jobs of `queue`, oldest id first, after the cursor `after` (an id).
    pub async fn dead_jobs(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobRecord>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE queue = $1 AND status = 'dead' AND id > $2 ORDER BY id LIMIT $3"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(queue)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(record_from_row).collect()
        })
    }

    /// Moves dead jobs of `queue` (one, or all when `id` is None) back to queued
    /// with a fresh attempt count. Returns the revived jobs.
    pub async fn revive_dead(
        &self,
        queue: &str,
        id: Option<&str>,
    ) -> Result<Vec<JobRecord>, DbError> {
        let sql = format!(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $1, updated_at = $1, finished_at = NULL, \
             lease_until = NULL, worker_id = NULL \
             WHERE queue = $2 AND status = 'dead' AND ($3 IS NULL OR id = $3) RETURNING {COLUMNS}"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(now_ms())
                .bind(queue)
                .bind(id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(record_from_row).collect()
        })
    }

    /// Deletes dead jobs of `queue` (one, or all when `id` is None). Returns their ids.
    pub async fn purge_dead(&self, queue: &str, id: Option<&str>) -> Result<Vec<String>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "DELETE FROM jobs WHERE queue = $1 AND status = 'dead' AND ($2 IS NULL OR id = $2) RETURNING id",
        )
        .bind(queue)
        .bind(id)
        .fetch_all(pool)
        .await)?)
    }

    /// Number of jobs per status in `queue`.
    pub async fn count_by_status(&self, queue: &str) -> Result<Vec<(JobStatus, i64)>, DbError> {
        let rows: Vec<(String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT status, COUNT(*) FROM jobs WHERE queue = $1 GROUP BY status",
        )
        .bind(queue)
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(s, n)| {
                s.parse()
                    .map(|st| (st, n))
                    .map_err(|e: fleet_jobs::UnknownStatus| DbError::Corrupt {
                        table: "jobs",
                        message: e.to_string(),
                    })
            })
            .collect()
    }
}
