//! The payout worker: ends hold periods (moves released order funds from
//! pending to available). The ledger itself — accounts, transfers, the
//! order-event rules and fees — lives in `fleet_shared::ledger`, because the
//! API posts order events synchronously and never depends on this crate.

mod release;

pub use release::ReleaseHandler;

use crate::{Services, runtime::Registry};
use fleet_jobs::queues;
use fleet_shared::ledger::Ledger;

/// Registers the payout handlers on the `payout` queue.
pub fn register(registry: &mut Registry, services: &Services) {
    let ledger = Ledger::new(services.queues.clone(), &services.config);
    registry.register(queues::PAYOUT, ReleaseHandler::new(ledger));
}
