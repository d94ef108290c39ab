//! Running a set of queue workers in one process until shutdown.

use super::{
    backend::{LaneConfig, QueueBackend},
    registry::Registry,
    retry::RetryPolicy,
    service::JobService,
};
use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use fleet_shared::{
    Queues,
    config::{KindSettings, QueueSettings},
    queue::report::{WORKER_HEARTBEAT_MS, WORKER_LIVE_MS},
};
use std::{future::Future, sync::Arc, time::Duration};

pub use super::backend::LaneConfig as Lane;

/// Workers for several queues, sharing one process.
#[derive(Debug)]
pub struct WorkerPool {
    queues: Queues,
    registry: Arc<Registry>,
    lanes: Vec<(LaneConfig, Duration)>,
    grace: Duration,
    name: String,
}

impl WorkerPool {
    /// A pool over `queues` running the handlers in `registry`.
    pub fn new(queues: Queues, registry: Registry, settings: &QueueSettings) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned());
        WorkerPool {
            queues,
            registry: Arc::new(registry),
            lanes: Vec::new(),
            grace: Duration::from_secs(settings.shutdown_grace_secs),
            name: format!("{host}-{}", std::process::id()),
        }
    }

    /// Adds a worker for `queue` with the settings of its kind.
    pub fn add_queue(
        &mut self,
        queue: &str,
        kind: &KindSettings,
        settings: &QueueSettings,
    ) -> &mut Self {
        self.lanes.push((
            LaneConfig {
                queue: queue.to_owned(),
                concurrency: kind.concurrency,
                lease: Duration::from_secs(settings.lease_secs),
                idle_poll: Duration::from_millis(settings.idle_poll_ms),
                fetch_batch: settings.fetch_batch,
                prefetch: kind.concurrency * 2,
                retry: RetryPolicy::from_settings(kind),
            },
            Duration::from_secs(kind.timeout_secs),
        ));
        self
    }

    /// Adds a worker for `queue` with explicit lane settings (tests and benchmarks).
    pub fn add_lane(&mut self, lane: LaneConfig, timeout: Duration) -> &mut Self {
        self.lanes.push((lane, timeout));
        self
    }

    /// Runs every worker until `shutdown` resolves, then stops taking jobs, lets
    /// in-flight jobs finish within the grace period, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), apalis::prelude::MonitorError> {
        let mut kinds: Vec<&'static str> = self
            .lanes
            .iter()
            .filter_map(|(lane, _)| fleet_jobs::WorkerKind::of_queue(&lane.queue))
            .map(|k| k.as_str())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        let alive = tokio::spawn(announce(
            self.queues.clone(),
            kinds.clone(),
            self.name.clone(),
        ));
        let queues = self.queues.clone();
        let name = self.name.clone();
        let mut monitor = Monitor::new();
        for (lane, timeout) in self.lanes {
            let queues = self.queues.clone();
            let service = JobService {
                registry: Arc::clone(&self.registry),
                db: self.queues.db().clone(),
                timeout,
            };
            let name = format!("{}@{}", lane.queue, self.name);
            tracing::info!(queue = %lane.queue, concurrency = lane.concurrency, "starting worker");
            monitor = monitor.register(move |_restarts| {
                WorkerBuilder::new(name.as_str())
                    .backend(QueueBackend::new(queues.clone(), lane.clone()))
                    .concurrency(lane.concurrency)
                    .build(service.clone())
            });
        }
        let result = monitor
            .shutdown_timeout(self.grace)
            .run_with_signal(async move {
                shutdown.await;
                tracing::info!("shutting down: no new jobs; waiting for in-flight jobs");
                Ok(())
            })
            .await;
        alive.abort();
        if let Err(err) = queues.worker_gone(&kinds, &name).await {
            tracing::warn!(error = %err, "cannot remove this worker's heartbeat; it expires on its own");
        }
        result
    }
}

/// Records every few seconds that this process works on `kinds`, so
/// operators and `fleet supervise` count it among the live workers.
async fn announce(queues: Queues, kinds: Vec<&'static str>, name: String) {
    if kinds.is_empty() {
        return;
    }
    let every = Duration::from_millis(WORKER_HEARTBEAT_MS as u64);
    loop {
        if let Err(err) = queues.worker_seen(&kinds, &name, WORKER_LIVE_MS).await {
            tracing::warn!(error = %err, "cannot record this worker's heartbeat");
        }
        tokio::time::sleep(every).await;
    }
}
