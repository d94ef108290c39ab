//! The payout worker: ends hold periods (released order funds become
//! available), runs payouts (scheduled by `payout.schedule` and on demand),
//! hands them to the configured provider (SEPA files or Stripe Connect), and
//! reconciles the provider's records with the ledger. The ledger itself lives
//! in `fleet_shared::ledger` and the payout state machine in
//! `fleet_shared::payout`, because the API posts order events and provider
//! confirmations synchronously and never depends on this crate.

mod reconcile;
mod release;
pub mod run;
pub mod schedule;
pub mod sepa;
pub mod stripe;

pub use reconcile::ReconcileHandler;
pub use release::ReleaseHandler;
pub use run::RunHandler;
pub use sepa::SepaBatchHandler;
pub use stripe::SendHandler;

use crate::{Services, runtime::Registry};
use fleet_jobs::{Job, WorkerKind, queues};
use fleet_shared::{
    Config, Queues,
    blob::Blobs,
    db::jobs::NewJob,
    ledger::Ledger,
    payout::{Payouts, bank},
    seal::Sealer,
};
use std::sync::Arc;

/// What the payout handlers share.
#[derive(Debug, Clone)]
pub struct PayoutServices {
    /// Payout transfers and status rows.
    pub payouts: Payouts,
    /// The queues, for follow-up jobs.
    pub queues: Queues,
    /// Where SEPA files go.
    pub blobs: Blobs,
    /// Settings.
    pub config: Arc<Config>,
}

impl PayoutServices {
    /// From the worker's services.
    pub fn new(services: &Services) -> Self {
        PayoutServices {
            payouts: Payouts::new(services.db.clone()),
            queues: services.queues.clone(),
            blobs: services.blobs.clone(),
            config: Arc::clone(&services.config),
        }
    }

    /// The sealer of stored payout destinations.
    pub fn sealer(&self) -> Result<Sealer, String> {
        Sealer::from_config(&self.config).map_err(|e| e.to_string())
    }

    /// The platform's account as SEPA debtor, from configuration.
    pub fn sepa_debtor(&self) -> Result<sepa::xml::Debtor, String> {
        let p = &self.config.payout;
        let missing = "SEPA payouts need the platform's account: set FLEET_PAYOUT__SEPA_DEBTOR_IBAN and FLEET_PAYOUT__SEPA_DEBTOR_BIC";
        let iban = p.sepa_debtor_iban.as_deref().ok_or(missing)?;
        let bic = p.sepa_debtor_bic.as_deref().ok_or(missing)?;
        Ok(sepa::xml::Debtor {
            name: p.sepa_debtor_name.clone(),
            iban: bank::check_iban(iban)?,
            bic: bank::check_bic(bic)?,
        })
    }

    /// Queues `jobs` on the payout queue with the kind's attempt limit.
    pub async fn enqueue<J: Job>(&self, jobs: &[J]) -> Result<(), String> {
        let max_attempts = i32::try_from(self.config.kinds.of(WorkerKind::Payout).max_attempts)
            .unwrap_or(i32::MAX);
        let new = jobs
            .iter()
            .map(|j| NewJob::of(j, max_attempts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for chunk in new.chunks(1_000) {
            self.queues
                .enqueue(chunk.to_vec())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Registers the payout handlers on the `payout` queue, and starts the payout
/// schedule when called inside a runtime and `payout.schedule` is set.
pub fn register(registry: &mut Registry, services: &Services) {
    let ledger = Ledger::new(services.queues.clone(), &services.config);
    let payout = PayoutServices::new(services);
    registry
        .register(queues::PAYOUT, ReleaseHandler::new(ledger))
        .register(queues::PAYOUT, RunHandler::new(payout.clone()))
        .register(queues::PAYOUT, SendHandler::new(payout.clone()))
        .register(queues::PAYOUT, SepaBatchHandler::new(payout.clone()))
        .register(queues::PAYOUT, ReconcileHandler::new(payout.clone()));
    if tokio::runtime::Handle::try_current().is_ok() {
        schedule::spawn(payout);
    }
}
