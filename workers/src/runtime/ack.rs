//! The backend middleware that turns each attempt's result into an outcome:
//! success, retry after backoff, or dead.

use super::{backend::LaneState, handler::JobError};
use apalis_core::{error::BoxDynError, task::Task};
use fleet_shared::{
    db::{jobs::Outcome, now_ms},
    queue::Leased,
};
use futures::{FutureExt, future::BoxFuture};
use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

/// Wraps a worker's service so every finished attempt is recorded.
#[derive(Clone)]
pub struct AckLayer {
    pub(crate) lane: Arc<LaneState>,
}

impl<S> tower::Layer<S> for AckLayer {
    type Service = AckService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AckService {
            inner,
            lane: Arc::clone(&self.lane),
        }
    }
}

/// See [`AckLayer`].
#[derive(Clone)]
pub struct AckService<S> {
    inner: S,
    lane: Arc<LaneState>,
}

impl<S> tower::Service<Task<Leased>> for AckService<S>
where
    S: tower::Service<Task<Leased>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError>,
{
    type Response = ();
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<(), BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Leased>) -> Self::Future {
        let job = task.args.clone();
        let lane = Arc::clone(&self.lane);
        let started_at = now_ms();
        lane.started(&job, started_at);
        let fut = self.inner.call(task);
        let started = Instant::now();
        async move {
            let result = fut.await.map(|_| ()).map_err(Into::into);
            let elapsed = started.elapsed();
            let outcome = Outcome {
                started_at: Some(started_at),
                duration_ms: Some(elapsed.as_millis() as u64),
                ..outcome_of(&lane, &job, &result)
            };
            let label = outcome.status.as_str();
            metrics::counter!("fleet_job_attempts_total", "queue" => job.queue.clone(), "outcome" => label).increment(1);
            metrics::histogram!("fleet_job_duration_seconds", "queue" => job.queue.clone()).record(elapsed.as_secs_f64());
            match &outcome.error {
                None => tracing::debug!(job_id = %job.id, queue = %job.queue, attempt = job.attempt, ?elapsed, "job succeeded"),
                Some(error) => tracing::warn!(job_id = %job.id, queue = %job.queue, attempt = job.attempt, outcome = label, %error, "job attempt failed"),
            }
            lane.record(outcome);
            result
        }
        .boxed()
    }
}

fn outcome_of(lane: &LaneState, job: &Leased, result: &Result<(), BoxDynError>) -> Outcome {
    let err = match result {
        Ok(()) => return Outcome::succeeded(&job.id, job.attempt),
        Err(err) => err,
    };
    let (message, permanent) = match err.downcast_ref::<JobError>() {
        Some(e) => (e.to_string(), e.is_permanent()),
        None => (err.to_string(), false),
    };
    if permanent || job.attempt >= job.max_attempts {
        Outcome::dead(&job.id, job.attempt, message)
    } else {
        let delay = lane.retry.delay(job.attempt);
        Outcome::retry(
            &job.id,
            job.attempt,
            message,
            now_ms() + delay.as_millis() as i64,
        )
    }
}
