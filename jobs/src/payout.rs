//! Payout job contracts.

use crate::{Job, queues};
use serde::{Deserialize, Serialize};

/// Ends an order's hold period: moves its funds from pending to available.
/// Idempotent: the ledger posts at most one release per order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseFunds {
    /// The order whose funds are released.
    pub order_id: String,
    /// The event that scheduled this release (`delivered`, or a decided dispute).
    pub cause: String,
}

impl Job for ReleaseFunds {
    const KIND: &'static str = "payout.release";

    fn queue(&self) -> &str {
        queues::PAYOUT
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("payout.release:{}:{}", self.order_id, self.cause))
    }
}
