//! Fleet's workers: the job runtime and one module per worker kind. Each kind
//! registers handlers for its queues; `fleet worker KIND` runs them.

pub mod runtime;

use fleet_jobs::WorkerKind;
use runtime::Registry;

/// The handlers of the given worker kinds.
pub fn registry(kinds: &[WorkerKind]) -> Registry {
    let registry = Registry::new();
    for kind in kinds {
        tracing::debug!(%kind, "registering handlers");
    }
    registry
}
