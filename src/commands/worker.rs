//! `fleet worker KIND…`: run workers of the given kinds.

use anyhow::Context;
use fleet_jobs::WorkerKind;
use fleet_shared::{Config, Queues, blob::Blobs};
use fleet_workers::{Services, runtime::WorkerPool};
use std::{path::Path, sync::Arc};

/// Worker kinds to run.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One or more of: media, export, notify, categorize, payout.
    #[arg(required = true, value_name = "KIND")]
    kinds: Vec<WorkerKind>,
}

/// Runs until SIGTERM or Ctrl-C, then drains in-flight jobs within the grace period.
pub async fn run(file: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let config = crate::start::config(file)?;
    let db = crate::start::database(&config).await?;
    let queues = crate::start::queues(&config, db).await?;
    let blobs = crate::start::blobs(&config).await?;
    if let Some(addr) = config.worker_metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (set FLEET_WORKER_METRICS_LISTEN)")
        })?;
        let app = fleet_api::routes::metrics::worker_endpoints(fleet_shared::telemetry::metrics());
        tracing::info!(%addr, "worker metrics listening");
        tokio::spawn(async move { axum_serve(listener, app).await });
    }
    let pool = pool(&config, queues, blobs, &args.kinds);
    pool.run(fleet_shared::signal::shutdown()).await?;
    tracing::info!("workers stopped");
    Ok(())
}

/// A pool with one worker per queue of each kind.
pub fn pool(config: &Config, queues: Queues, blobs: Blobs, kinds: &[WorkerKind]) -> WorkerPool {
    let services = Services {
        db: queues.db().clone(),
        queues: queues.clone(),
        blobs,
        config: Arc::new(config.clone()),
    };
    let registry = fleet_workers::registry(kinds, &services);
    let mut pool = WorkerPool::new(queues, registry, &config.queue);
    for kind in kinds {
        for queue in kind.queues() {
            pool.add_queue(queue, config.kinds.of(*kind), &config.queue);
        }
    }
    pool
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    if let Err(err) = axum::serve(listener, app).await {
        tracing::error!(error = %err, "worker metrics server stopped");
    }
}
