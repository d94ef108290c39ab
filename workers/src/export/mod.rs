//! The export worker: plans a run into chunks, pushes each chunk to the
//! marketplace (any worker of the marketplace's queue takes any chunk), and
//! writes file-mode runs as import files in the blob store.

mod amazon;
mod chunk;
mod etsy;
mod file;
mod listing;
mod plan;
mod shopify;

pub use chunk::ChunkHandler;
pub use file::FileHandler;
pub use plan::PlanHandler;

use crate::{
    Services,
    runtime::{JobError, Registry},
};
use fleet_jobs::export::Marketplace;
use fleet_shared::{
    db::exports::RunRecord,
    http::{HttpClient, HttpSettings},
    ratelimit::TokenBuckets,
    seal::Sealer,
};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Registers the plan, chunk and file handlers on every marketplace's queue.
pub fn register(registry: &mut Registry, services: &Services) {
    let shared = Shared::new(services.clone());
    for marketplace in Marketplace::ALL {
        registry.register(marketplace.queue(), PlanHandler::new(shared.clone()));
        registry.register(marketplace.queue(), ChunkHandler::new(shared.clone()));
        registry.register(marketplace.queue(), FileHandler::new(shared.clone()));
    }
}

/// What the export handlers share: services, the outbound client and the rate-limit buckets.
#[derive(Debug, Clone)]
pub struct Shared {
    services: Services,
    buckets: Arc<OnceCell<Arc<TokenBuckets>>>,
}

impl Shared {
    fn new(services: Services) -> Shared {
        Shared {
            services,
            buckets: Arc::new(OnceCell::new()),
        }
    }

    /// The marketplaces' token buckets: in Redis when configured, shared by every worker.
    async fn buckets(&self) -> Result<Arc<TokenBuckets>, String> {
        self.buckets
            .get_or_try_init(|| async {
                TokenBuckets::connect(self.services.config.redis_url.as_deref())
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
            .map_err(|e| e.to_string())
    }

    /// The run `id` unless it is final (None: nothing left to do); a missing run fails the job for good.
    async fn live_run(&self, id: &str) -> Result<Option<RunRecord>, JobError> {
        let run = self
            .services
            .db
            .run(id)
            .await
            .map_err(JobError::retry)?
            .ok_or_else(|| JobError::Permanent(format!("export run {id} does not exist")))?;
        Ok((!run.status.is_final()).then_some(run))
    }

    fn sealer(&self) -> Result<Sealer, String> {
        Sealer::from_config(&self.services.config).map_err(|e| e.to_string())
    }

    fn http(&self) -> Result<HttpClient, String> {
        HttpClient::new(HttpSettings::default()).map_err(|e| e.to_string())
    }
}
