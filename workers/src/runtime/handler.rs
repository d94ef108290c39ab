//! What a worker kind implements to run one job type.

use fleet_shared::{Db, DbError};
use std::future::Future;

/// Runs jobs of one type.
///
/// ```no_run
/// use fleet_jobs::Job;
/// use fleet_workers::runtime::{JobContext, JobError, JobHandler};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping;
/// # impl Job for Ping { const KIND: &'static str = "ping"; fn queue(&self) -> &str { "ping" } }
/// struct PingHandler;
///
/// impl JobHandler for PingHandler {
///     type Job = Ping;
///     async fn handle(&self, _job: Ping, ctx: JobContext) -> Result<(), JobError> {
///         ctx.progress(1, Some(1)).await.map_err(JobError::retry)?;
///         Ok(())
///     }
/// }
/// ```
pub trait JobHandler: Send + Sync + 'static {
    /// The payload this handler accepts.
    type Job: fleet_jobs::Job;

    /// Runs one attempt. Must be idempotent: after a crash the same attempt may run again.
    fn handle(
        &self,
        job: Self::Job,
        ctx: JobContext,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Why an attempt failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A transient failure (network, a busy peer): retried after a backoff.
    #[error("{0}")]
    Retry(String),
    /// The job can never succeed as given (bad input): dead at once.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// A transient failure from any error.
    pub fn retry(err: impl std::fmt::Display) -> Self {
        JobError::Retry(err.to_string())
    }

    /// A permanent failure from any error.
    pub fn permanent(err: impl std::fmt::Display) -> Self {
        JobError::Permanent(err.to_string())
    }

    /// Whether a retry is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, JobError::Permanent(_))
    }
}

/// What a handler knows about the attempt it runs, and how it reports progress.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// Job id.
    pub id: String,
    /// Queue the job came from.
    pub queue: String,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The database, for the handler's own reads and writes.
    pub db: Db,
}

impl JobContext {
    /// Records progress (`done` of `total` units) so the API can show it.
    pub async fn progress(&self, done: i64, total: Option<i64>) -> Result<(), DbError> {
        self.db.set_progress(&self.id, done, total).await
    }
}
