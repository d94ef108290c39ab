//! A test-only job kind whose effect is a database row, so tests that kill
//! worker processes can assert what happened, not what was logged.

use fleet_shared::{Db, db::now_ms};
use fleet_workers::runtime::{JobContext, JobError, JobHandler};
use serde::{Deserialize, Serialize};

/// Sleeps, then records its effect once (keyed by job id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectJob {
    /// Queue it runs on.
    pub queue: String,
    /// How long the job works before its effect.
    pub sleep_ms: u64,
}

impl fleet_jobs::Job for EffectJob {
    const KIND: &'static str = "test.effect";
    fn queue(&self) -> &str {
        &self.queue
    }
}

/// Creates the tables the effect job writes: one row per run, one per effect.
pub async fn create_tables(db: &Db) {
    for sql in [
        "CREATE TABLE IF NOT EXISTS test_runs (job_id TEXT NOT NULL, pid BIGINT NOT NULL, attempt INTEGER NOT NULL, at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS test_effects (job_id TEXT PRIMARY KEY, pid BIGINT NOT NULL, at BIGINT NOT NULL)",
    ] {
        match db {
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .expect("create test tables");
    }
}

/// `(pid, attempt)` of every run of `job_id`, in order.
pub async fn runs(db: &Db, job_id: &str) -> Vec<(i64, i32)> {
    let sql = "SELECT pid, attempt FROM test_runs WHERE job_id = $1 ORDER BY at, attempt";
    match db {
        Db::Postgres(pool) => sqlx::query_as(sql).bind(job_id).fetch_all(pool).await,
        Db::Sqlite(pool) => sqlx::query_as(sql).bind(job_id).fetch_all(pool).await,
    }
    .expect("read test runs")
}

/// Pids whose run of `job_id` completed its effect.
pub async fn effects(db: &Db, job_id: &str) -> Vec<i64> {
    let sql = "SELECT pid FROM test_effects WHERE job_id = $1";
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(sql).bind(job_id).fetch_all(pool).await,
        Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(job_id).fetch_all(pool).await,
    }
    .expect("read test effects")
}

/// Runs [`EffectJob`]s.
pub struct EffectHandler;

impl JobHandler for EffectHandler {
    type Job = EffectJob;

    async fn handle(&self, job: EffectJob, ctx: JobContext) -> Result<(), JobError> {
        let pid = i64::from(std::process::id());
        let run = "INSERT INTO test_runs (job_id, pid, attempt, at) VALUES ($1, $2, $3, $4)";
        let effect =
            "INSERT INTO test_effects (job_id, pid, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        match &ctx.db {
            Db::Postgres(pool) => sqlx::query(run)
                .bind(&ctx.id)
                .bind(pid)
                .bind(ctx.attempt)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ()),
            Db::Sqlite(pool) => sqlx::query(run)
                .bind(&ctx.id)
                .bind(pid)
                .bind(ctx.attempt)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ()),
        }
        .map_err(JobError::retry)?;
        tokio::time::sleep(std::time::Duration::from_millis(job.sleep_ms)).await;
        match &ctx.db {
            Db::Postgres(pool) => sqlx::query(effect)
                .bind(&ctx.id)
                .bind(pid)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ()),
            Db::Sqlite(pool) => sqlx::query(effect)
                .bind(&ctx.id)
                .bind(pid)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ()),
        }
        .map_err(JobError::retry)
    }
}
