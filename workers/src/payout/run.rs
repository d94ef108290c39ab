//! The payout run: for each seller whose available balance in a currency
//! reaches the configured minimum, one payout (available → in transit), then
//! the provider's jobs: one Stripe transfer job per payout, or one SEPA file
//! for the run. A retry resumes: payouts already recorded are reused (one
//! per seller and currency per run), opened if they were not.

use super::{PayoutServices, sepa};
use crate::runtime::{JobContext, JobError, JobHandler};
use fleet_jobs::payout::{BuildSepaBatch, RunPayouts, SendPayout};
use fleet_shared::{
    Db,
    config::PayoutProvider,
    db::{
        now_ms,
        payouts::{PayoutRecord, PayoutStatus},
    },
    payout::payout_id,
};

/// When the run was recorded (ms since epoch): fixes the SEPA file's dates across retries.
pub async fn run_created_at(db: &Db, run_id: &str) -> Result<i64, JobError> {
    Ok(db
        .payout_run(run_id)
        .await
        .map_err(JobError::retry)?
        .map_or_else(now_ms, |r| r.created_at))
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Payouts opened (funds in transit).
    pub payouts: i64,
    /// Balances at or above the minimum left unpaid (no destination, currency not paid by the provider).
    pub skipped: i64,
    /// Payouts rejected because the balance no longer covered them.
    pub rejected: i64,
}

/// Runs [`RunPayouts`] jobs.
#[derive(Debug, Clone)]
pub struct RunHandler {
    services: PayoutServices,
}

impl RunHandler {
    /// A handler on `services`.
    pub fn new(services: PayoutServices) -> Self {
        RunHandler { services }
    }

    /// Creates and opens the run's payouts and queues the provider's jobs.
    pub async fn run(&self, job: &RunPayouts) -> Result<RunSummary, JobError> {
        let s = &self.services;
        let db = s.payouts.db();
        let provider = s.config.payout.provider;
        let trigger = if job.run_id.starts_with("schedule:") {
            "schedule"
        } else {
            "manual"
        };
        db.create_payout_run(
            &job.run_id,
            trigger,
            job.seller_id.as_deref(),
            provider.as_str(),
            now_ms(),
        )
        .await
        .map_err(JobError::retry)?;
        if provider == PayoutProvider::Sepa
            && let Err(e) = s.sepa_debtor()
        {
            db.update_payout_run(&job.run_id, "failed", 0, 0, Some(&e), Some(now_ms()))
                .await
                .map_err(JobError::retry)?;
            return Err(JobError::Permanent(e));
        }
        db.update_payout_run(&job.run_id, "running", 0, 0, None, None)
            .await
            .map_err(JobError::retry)?;

        // Payouts recorded by an earlier attempt but not opened.
        for p in db.run_payouts(&job.run_id).await.map_err(JobError::retry)? {
            if p.status == PayoutStatus::Created {
                s.payouts.open(&p.id).await.map_err(JobError::retry)?;
            }
        }

        let mut summary = RunSummary::default();
        let with_destination = db
            .sellers_with_destination(provider.as_str())
            .await
            .map_err(JobError::retry)?;
        let payable = db
            .payable_balances(job.seller_id.as_deref())
            .await
            .map_err(JobError::retry)?;
        for b in payable {
            let Some(&minimum) = s.config.payout.minimum_payout.get(&b.currency) else {
                summary.skipped += 1;
                continue;
            };
            if b.available < minimum.max(1) {
                continue;
            }
            if (provider == PayoutProvider::Sepa && b.currency != "EUR")
                || !with_destination.contains(&b.seller_id)
            {
                summary.skipped += 1;
                continue;
            }
            let now = now_ms();
            let stored = db
                .insert_payout(&PayoutRecord {
                    id: payout_id(&job.run_id, &b.seller_id, &b.currency),
                    run_id: job.run_id.clone(),
                    seller_id: b.seller_id.clone(),
                    currency: b.currency.clone(),
                    amount: b.available,
                    provider: provider.as_str().to_owned(),
                    status: PayoutStatus::Created,
                    provider_ref: None,
                    batch_id: None,
                    failure: None,
                    created_at: now,
                    updated_at: now,
                })
                .await
                .map_err(JobError::retry)?;
            if stored.status == PayoutStatus::Created {
                s.payouts.open(&stored.id).await.map_err(JobError::retry)?;
            }
        }

        let payouts = db.run_payouts(&job.run_id).await.map_err(JobError::retry)?;
        let open: Vec<&PayoutRecord> = payouts
            .iter()
            .filter(|p| p.status == PayoutStatus::InTransit)
            .collect();
        summary.rejected = payouts
            .iter()
            .filter(|p| p.status == PayoutStatus::Rejected)
            .count() as i64;
        summary.payouts = payouts.len() as i64 - summary.rejected;
        match provider {
            PayoutProvider::Stripe => {
                let jobs: Vec<SendPayout> = open
                    .iter()
                    .map(|p| SendPayout {
                        payout_id: p.id.clone(),
                    })
                    .collect();
                s.enqueue(&jobs).await.map_err(JobError::Retry)?;
            }
            PayoutProvider::Sepa => {
                if !open.is_empty() {
                    s.enqueue(&[BuildSepaBatch {
                        run_id: job.run_id.clone(),
                    }])
                    .await
                    .map_err(JobError::Retry)?;
                }
            }
        }
        db.update_payout_run(
            &job.run_id,
            "done",
            summary.payouts,
            summary.skipped,
            None,
            Some(now_ms()),
        )
        .await
        .map_err(JobError::retry)?;
        tracing::info!(run_id = %job.run_id, payouts = summary.payouts, skipped = summary.skipped,
            rejected = summary.rejected, batch = %sepa::batch_id(&job.run_id), "payout run done");
        Ok(summary)
    }
}

impl JobHandler for RunHandler {
    type Job = RunPayouts;

    async fn handle(&self, job: RunPayouts, _ctx: JobContext) -> Result<(), JobError> {
        self.run(&job).await.map(|_| ())
    }
}
