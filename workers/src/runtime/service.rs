//! The apalis service at the bottom of each worker: decode, dispatch to the
//! handler on its own task, enforce the timeout.

use super::{handler::JobContext, handler::JobError, registry::Registry};
use apalis_core::task::Task;
use fleet_shared::{Db, queue::Leased};
use futures::{FutureExt, future::BoxFuture};
use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

/// Runs one leased job with its registered handler.
#[derive(Clone)]
pub(crate) struct JobService {
    pub(crate) registry: Arc<Registry>,
    pub(crate) db: Db,
    pub(crate) timeout: Duration,
}

impl tower::Service<Task<Leased>> for JobService {
    type Response = ();
    type Error = JobError;
    type Future = BoxFuture<'static, Result<(), JobError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<Leased>) -> Self::Future {
        let job = task.args;
        let ctx = JobContext {
            id: job.id.clone(),
            queue: job.queue.clone(),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            db: self.db.clone(),
        };
        // Each job runs on its own task so CPU-heavy handlers use every core and
        // a panic or timeout is contained to the job.
        let mut handle =
            tokio::spawn(
                self.registry
                    .dispatch(&job.queue, &job.kind, &job.payload, ctx),
            );
        let timeout = self.timeout;
        async move {
            match tokio::time::timeout(timeout, &mut handle).await {
                Ok(Ok(result)) => result,
                Ok(Err(join)) => Err(JobError::Retry(panic_message(join))),
                Err(_) => {
                    handle.abort();
                    Err(JobError::Retry(format!(
                        "timed out after {}s",
                        timeout.as_secs_f64()
                    )))
                }
            }
        }
        .boxed()
    }
}

fn panic_message(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic payload".to_owned());
            format!("handler panicked: {text}")
        }
        Err(err) => format!("handler task ended: {err}"),
    }
}
