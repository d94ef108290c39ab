//! The release job: at the end of an order's hold period, its funds become available.

use crate::runtime::{JobContext, JobError, JobHandler};
use fleet_jobs::payout::ReleaseFunds;
use fleet_shared::ledger::{Ledger, LedgerError, Rejection};

/// Runs [`ReleaseFunds`] jobs. Running one twice posts one release: the
/// transfer id is derived from the order (`release:<order id>`).
#[derive(Debug, Clone)]
pub struct ReleaseHandler {
    ledger: Ledger,
}

impl ReleaseHandler {
    /// A handler posting to `ledger`.
    pub fn new(ledger: Ledger) -> Self {
        ReleaseHandler { ledger }
    }
}

impl JobHandler for ReleaseHandler {
    type Job = ReleaseFunds;

    async fn handle(&self, job: ReleaseFunds, _ctx: JobContext) -> Result<(), JobError> {
        match self.ledger.release(&job.order_id).await {
            Ok(Some(recorded)) => {
                tracing::info!(
                    order_id = %job.order_id,
                    amount = recorded.event.amount,
                    replayed = recorded.replayed,
                    "funds released"
                );
                Ok(())
            }
            Ok(None) => {
                tracing::info!(order_id = %job.order_id, "nothing to release");
                Ok(())
            }
            // Queued early (clock skew between processes): try again after the backoff.
            Err(LedgerError::Rejected(Rejection::NotDue { release_at, .. })) => Err(
                JobError::Retry(format!("the hold period ends at {release_at} ms")),
            ),
            Err(err @ (LedgerError::Rejected(_) | LedgerError::UnknownOrder { .. })) => {
                Err(JobError::permanent(err))
            }
            Err(err) => Err(JobError::retry(err)),
        }
    }
}
