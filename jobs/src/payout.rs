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

/// A payout run: pays every seller (or the one named) whose available balance reaches the minimum.
/// Idempotent per run: a retry resumes the run's payouts and creates no second one per seller and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPayouts {
    /// `schedule:<period>` or `manual:<ulid>`.
    pub run_id: String,
    /// Only this seller (an on-demand payout).
    pub seller_id: Option<String>,
}

impl Job for RunPayouts {
    const KIND: &'static str = "payout.run";

    fn queue(&self) -> &str {
        queues::PAYOUT
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("payout.run:{}", self.run_id))
    }
}

/// Sends one payout to Stripe Connect, with the payout id as idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPayout {
    /// The payout.
    pub payout_id: String,
}

impl Job for SendPayout {
    const KIND: &'static str = "payout.send";

    fn queue(&self) -> &str {
        queues::PAYOUT
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("payout.send:{}", self.payout_id))
    }
}

/// Writes the SEPA credit-transfer file (pain.001.001.03) of a run's payouts to the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSepaBatch {
    /// The run.
    pub run_id: String,
}

impl Job for BuildSepaBatch {
    const KIND: &'static str = "payout.sepa_batch";

    fn queue(&self) -> &str {
        queues::PAYOUT
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("payout.sepa_batch:{}", self.run_id))
    }
}

/// Compares the provider's records with the ledger and records every mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconcile {
    /// The reconciliation's id.
    pub reconciliation_id: String,
}

impl Job for Reconcile {
    const KIND: &'static str = "payout.reconcile";

    fn queue(&self) -> &str {
        queues::PAYOUT
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("payout.reconcile:{}", self.reconciliation_id))
    }
}
