//! Which handler runs which job kind on which queue.

use super::handler::{JobContext, JobError, JobHandler};
use fleet_jobs::Job;
use futures::{FutureExt, future::BoxFuture};
use std::{collections::HashMap, sync::Arc};

type Erased =
    Arc<dyn Fn(&str, JobContext) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync>;

/// Handlers by queue and job kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, HashMap<&'static str, Erased>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (queue, kinds) in &self.handlers {
            map.entry(queue, &kinds.keys().collect::<Vec<_>>());
        }
        map.finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Runs jobs of `H::Job`'s kind arriving on `queue` with `handler`.
    pub fn register<H: JobHandler>(&mut self, queue: &str, handler: H) -> &mut Self {
        let handler = Arc::new(handler);
        let erased: Erased = Arc::new(move |payload: &str, ctx: JobContext| {
            let job: Result<H::Job, _> = serde_json::from_str(payload);
            let handler = Arc::clone(&handler);
            async move {
                let job = job.map_err(|e| {
                    JobError::Permanent(format!("invalid {} payload: {e}", H::Job::KIND))
                })?;
                handler.handle(job, ctx).await
            }
            .boxed()
        });
        self.handlers
            .entry(queue.to_owned())
            .or_default()
            .insert(H::Job::KIND, erased);
        self
    }

    /// Queues that have at least one handler.
    pub fn queues(&self) -> Vec<String> {
        let mut queues: Vec<String> = self.handlers.keys().cloned().collect();
        queues.sort();
        queues
    }

    /// Starts the handler for `kind` on `queue`; a job with no handler fails permanently.
    pub(crate) fn dispatch(
        &self,
        queue: &str,
        kind: &str,
        payload: &str,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        match self.handlers.get(queue).and_then(|kinds| kinds.get(kind)) {
            Some(handler) => handler(payload, ctx),
            None => {
                let err = JobError::Permanent(format!(
                    "no handler for job kind `{kind}` on queue `{queue}`"
                ));
                async move { Err(err) }.boxed()
            }
        }
    }
}
