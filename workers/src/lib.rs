//! Fleet's workers: the job runtime and one module per worker kind. Each kind
//! registers handlers for its queues; `fleet worker KIND` runs them.

pub mod categorize;
pub mod export;
pub mod media;
pub mod notify;
pub mod payout;
pub mod runtime;

use fleet_jobs::WorkerKind;
use fleet_shared::{Config, Db, Queues, blob::Blobs};
use runtime::Registry;
use std::sync::Arc;

/// What worker kinds use from the outside world: database, queues, blob store, settings.
#[derive(Debug, Clone)]
pub struct Services {
    /// The database.
    pub db: Db,
    /// The queue backend (for jobs that enqueue follow-up jobs).
    pub queues: Queues,
    /// The blob store.
    pub blobs: Blobs,
    /// Effective configuration.
    pub config: Arc<Config>,
}

/// The handlers of the given worker kinds.
pub fn registry(kinds: &[WorkerKind], services: &Services) -> Registry {
    let mut registry = Registry::new();
    for kind in kinds {
        match kind {
            WorkerKind::Media => {
                registry.register(
                    fleet_jobs::queues::MEDIA,
                    media::ProcessMediaHandler::new(services.clone()),
                );
            }
            WorkerKind::Payout => payout::register(&mut registry, services),
            WorkerKind::Categorize => categorize::register(&mut registry, services),
            WorkerKind::Notify => notify::register(&mut registry, services),
            WorkerKind::Export => export::register(&mut registry, services),
        }
    }
    registry
}
