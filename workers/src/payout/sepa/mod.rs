//! The SEPA provider: one pain.001.001.03 credit-transfer file per payout
//! run, stored in the blob store for the finance team to upload to the bank.
//! The bank's answer comes back through the API's confirmation endpoint.

pub mod xml;

use super::{PayoutServices, run::run_created_at};
use crate::runtime::{JobContext, JobError, JobHandler};
use bytes::Bytes;
use fleet_jobs::payout::BuildSepaBatch;
use fleet_shared::{
    blob::BlobKey,
    db::{
        now_ms,
        payouts::{BatchRecord, PayoutStatus},
    },
    payout::{bank::BankAccount, destination},
};
use sha2::{Digest, Sha256};

/// The batch id (and MsgId) of a run's file: at most 35 characters.
pub fn batch_id(run_id: &str) -> String {
    format!(
        "sepa-{}",
        &hex::encode(Sha256::digest(run_id.as_bytes()))[..24]
    )
}

/// The blob key of a batch's XML.
pub fn blob_key(batch_id: &str) -> String {
    format!("payouts/sepa/{batch_id}.xml")
}

/// Runs [`BuildSepaBatch`]: fails payouts whose bank details are missing or
/// invalid (funds back to available), writes the file of the others, records
/// the batch and marks its payouts submitted. Running it again rewrites the
/// same file and records nothing new.
#[derive(Debug, Clone)]
pub struct SepaBatchHandler {
    services: PayoutServices,
}

impl SepaBatchHandler {
    /// A handler on `services`.
    pub fn new(services: PayoutServices) -> Self {
        SepaBatchHandler { services }
    }
}

impl JobHandler for SepaBatchHandler {
    type Job = BuildSepaBatch;

    async fn handle(&self, job: BuildSepaBatch, _ctx: JobContext) -> Result<(), JobError> {
        let s = &self.services;
        let db = s.payouts.db();
        let id = batch_id(&job.run_id);
        let debtor = s.sepa_debtor().map_err(JobError::Permanent)?;
        let sealer = s.sealer().map_err(JobError::Permanent)?;
        let created_at = run_created_at(db, &job.run_id).await?;
        let mut members = Vec::new();
        for p in db.run_payouts(&job.run_id).await.map_err(JobError::retry)? {
            let open = p.status == PayoutStatus::InTransit
                || (p.status == PayoutStatus::Submitted
                    && p.batch_id.as_deref() == Some(id.as_str()));
            if !open || p.currency != "EUR" {
                continue;
            }
            let dest = destination::load(db, &sealer, &p.seller_id)
                .await
                .map_err(JobError::retry)?;
            let bank = dest
                .and_then(|d| d.bank)
                .ok_or("no bank details")
                .and_then(|b| {
                    BankAccount::new(&b.name, &b.iban, &b.bic).map_err(|_| "invalid bank details")
                });
            match bank {
                Ok(bank) => members.push((p, bank)),
                Err(reason) => {
                    tracing::warn!(payout_id = %p.id, seller_id = %p.seller_id, reason, "SEPA payout failed");
                    s.payouts
                        .failed(&p.id, reason)
                        .await
                        .map_err(JobError::retry)?;
                }
            }
        }
        if members.is_empty() {
            tracing::info!(run_id = %job.run_id, "no SEPA payouts in this run");
            return Ok(());
        }
        let created = chrono::DateTime::from_timestamp_millis(created_at).unwrap_or_default();
        let batch = xml::Batch {
            message_id: id.clone(),
            created: created.format("%Y-%m-%dT%H:%M:%S").to_string(),
            execution_date: created.format("%Y-%m-%d").to_string(),
            debtor,
            credits: members
                .iter()
                .map(|(p, bank)| xml::Credit {
                    end_to_end_id: p.id.clone(),
                    amount_cents: p.amount,
                    name: bank.name.clone(),
                    iban: bank.iban.clone(),
                    bic: bank.bic.clone(),
                    remittance: format!("Payout {} seller {}", p.id, p.seller_id),
                })
                .collect(),
        };
        let body = xml::write(&batch).map_err(JobError::permanent)?;
        let key = blob_key(&id);
        let blob = BlobKey::new(&key).map_err(JobError::permanent)?;
        s.blobs
            .put_bytes(&blob, Bytes::from(body), "application/xml")
            .await
            .map_err(JobError::retry)?;
        let record = db
            .insert_sepa_batch(&BatchRecord {
                id: id.clone(),
                run_id: job.run_id.clone(),
                blob_key: key,
                payouts: members.len() as i64,
                ctrl_sum: members.iter().map(|(p, _)| p.amount).sum(),
                status: "created".to_owned(),
                created_at: now_ms(),
                confirmed_at: None,
            })
            .await
            .map_err(JobError::retry)?;
        for (p, _) in &members {
            s.payouts
                .submitted(&p.id, None, Some(&record.id))
                .await
                .map_err(JobError::retry)?;
        }
        tracing::info!(batch_id = %record.id, payouts = record.payouts, ctrl_sum = record.ctrl_sum, "SEPA batch written");
        Ok(())
    }
}
