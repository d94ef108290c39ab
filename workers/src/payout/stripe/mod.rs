//! The Stripe Connect provider: one transfer per payout to the seller's
//! connected account, with the payout id as idempotency key, so a retry after
//! a crash (before or after Stripe answered) creates no second transfer.
//! Stripe's webhooks (`transfer.created`, `transfer.reversed`) settle the
//! payout through the API.

pub mod client;

use super::PayoutServices;
use crate::runtime::{JobContext, JobError, JobHandler};
use client::{NewTransfer, StripeClient, StripeError};
use fleet_jobs::payout::SendPayout;
use fleet_shared::{db::payouts::PayoutStatus, payout::destination};

/// Runs [`SendPayout`] jobs.
#[derive(Debug, Clone)]
pub struct SendHandler {
    services: PayoutServices,
}

impl SendHandler {
    /// A handler on `services`.
    pub fn new(services: PayoutServices) -> Self {
        SendHandler { services }
    }
}

impl JobHandler for SendHandler {
    type Job = SendPayout;

    async fn handle(&self, job: SendPayout, _ctx: JobContext) -> Result<(), JobError> {
        let s = &self.services;
        let db = s.payouts.db();
        let Some(mut p) = db.payout(&job.payout_id).await.map_err(JobError::retry)? else {
            return Err(JobError::Permanent(format!("no payout {}", job.payout_id)));
        };
        if p.status == PayoutStatus::Created {
            p = s.payouts.open(&p.id).await.map_err(JobError::retry)?;
        }
        if p.status != PayoutStatus::InTransit {
            tracing::info!(payout_id = %p.id, status = %p.status, "payout already sent or settled");
            return Ok(());
        }
        let sealer = s.sealer().map_err(JobError::Permanent)?;
        let account = destination::load(db, &sealer, &p.seller_id)
            .await
            .map_err(JobError::retry)?
            .and_then(|d| d.stripe_account);
        let Some(account) = account else {
            s.payouts
                .failed(&p.id, "the seller has no Stripe connected account")
                .await
                .map_err(JobError::retry)?;
            return Ok(());
        };
        let cfg = &s.config.payout;
        let client = StripeClient::new(&cfg.stripe_api_base, cfg.stripe_secret_key.as_deref())
            .map_err(JobError::permanent)?;
        let sent = client
            .create_transfer(&NewTransfer {
                payout_id: &p.id,
                amount: p.amount,
                currency: &p.currency,
                destination: &account,
                transfer_group: &p.run_id,
            })
            .await;
        match sent {
            Ok(transfer) => {
                s.payouts
                    .submitted(&p.id, Some(&transfer.id), None)
                    .await
                    .map_err(JobError::retry)?;
                tracing::info!(payout_id = %p.id, transfer = %transfer.id, amount = p.amount, "Stripe transfer created");
                Ok(())
            }
            // Same key with other parameters: a bug on our side, never a reason to pay again.
            Err(StripeError::Refused { kind, message, .. }) if kind == "idempotency_error" => {
                Err(JobError::Permanent(format!(
                    "Stripe idempotency error for payout {}: {message}",
                    p.id
                )))
            }
            Err(StripeError::Refused {
                message, status, ..
            }) => {
                let reason = format!("Stripe refused the transfer ({status}): {message}");
                s.payouts
                    .failed(&p.id, &reason)
                    .await
                    .map_err(JobError::retry)?;
                tracing::warn!(payout_id = %p.id, %reason, "payout failed; funds returned");
                Ok(())
            }
            Err(err) => Err(JobError::retry(err)),
        }
    }
}
