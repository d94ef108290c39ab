//! Reconciliation: compares what the providers hold (Stripe's transfer list,
//! confirmed SEPA batches) and the ledger's payout transfers with each
//! payout's status, and records every mismatch for ops — including SEPA
//! payouts left in transit longer than `payout.sepa_confirm_days` (a batch
//! the bank never confirmed, or a payout no file carries).

use super::{
    PayoutServices,
    stripe::client::{StripeClient, StripeTransfer},
};
use crate::runtime::{JobContext, JobError, JobHandler};
use fleet_jobs::payout::Reconcile;
use fleet_shared::{
    db::{
        now_ms,
        payouts::{Mismatch, PayoutRecord, PayoutStatus},
    },
    payout::{opening_transfer_id, paid_transfer_id, returned_transfer_id, reversed_transfer_id},
};
use std::collections::{BTreeMap, HashSet};

/// Runs [`Reconcile`] jobs.
#[derive(Debug, Clone)]
pub struct ReconcileHandler {
    services: PayoutServices,
}

impl ReconcileHandler {
    /// A handler on `services`.
    pub fn new(services: PayoutServices) -> Self {
        ReconcileHandler { services }
    }
}

struct Findings(Vec<Mismatch>);

impl Findings {
    fn add(
        &mut self,
        payout: Option<&str>,
        provider_ref: Option<&str>,
        kind: &str,
        message: String,
    ) {
        self.0.push(Mismatch {
            id: format!("{:06}", self.0.len() + 1),
            payout_id: payout.map(str::to_owned),
            provider_ref: provider_ref.map(str::to_owned),
            kind: kind.to_owned(),
            message,
        });
    }
}

/// The ledger transfers a payout in `status` must have: the accepted sets.
fn expected_transfers(p: &PayoutRecord) -> Vec<Vec<String>> {
    let open = opening_transfer_id(&p.id);
    match p.status {
        PayoutStatus::Created | PayoutStatus::Rejected => vec![vec![]],
        PayoutStatus::InTransit | PayoutStatus::Submitted => vec![vec![open]],
        PayoutStatus::Paid => vec![vec![open, paid_transfer_id(&p.id)]],
        PayoutStatus::Failed => vec![
            vec![open.clone(), returned_transfer_id(&p.id)],
            vec![open, paid_transfer_id(&p.id), reversed_transfer_id(&p.id)],
        ],
    }
}

fn check_ledger(p: &PayoutRecord, ledger: &HashSet<String>, findings: &mut Findings) {
    let mut present: Vec<String> = [
        opening_transfer_id(&p.id),
        paid_transfer_id(&p.id),
        returned_transfer_id(&p.id),
        reversed_transfer_id(&p.id),
    ]
    .into_iter()
    .filter(|t| ledger.contains(t))
    .collect();
    present.sort();
    let ok = expected_transfers(p).into_iter().any(|mut set| {
        set.sort();
        set == present
    });
    if !ok {
        findings.add(
            Some(&p.id),
            p.provider_ref.as_deref(),
            "ledger_disagrees",
            format!("payout is {} but the ledger holds {:?}", p.status, present),
        );
    }
}

fn check_stripe(p: &PayoutRecord, transfers: &[&StripeTransfer], findings: &mut Findings) {
    let sent = matches!(p.status, PayoutStatus::Submitted | PayoutStatus::Paid)
        || (p.status == PayoutStatus::Failed && p.provider_ref.is_some());
    match transfers {
        [] if sent => findings.add(
            Some(&p.id),
            p.provider_ref.as_deref(),
            "missing_at_provider",
            format!("payout is {} but Stripe has no transfer for it", p.status),
        ),
        [] => {}
        [t] => {
            if !sent && p.status != PayoutStatus::InTransit {
                findings.add(
                    Some(&p.id),
                    Some(&t.id),
                    "unexpected_at_provider",
                    format!("payout is {} but Stripe holds transfer {}", p.status, t.id),
                );
            } else if p.status == PayoutStatus::InTransit {
                findings.add(
                    Some(&p.id),
                    Some(&t.id),
                    "not_recorded",
                    format!(
                        "Stripe holds transfer {} but the payout was never marked sent",
                        t.id
                    ),
                );
            }
            if t.amount != p.amount || !t.currency.eq_ignore_ascii_case(&p.currency) {
                findings.add(
                    Some(&p.id),
                    Some(&t.id),
                    "amount_differs",
                    format!(
                        "Stripe transferred {} {} for a payout of {} {}",
                        t.amount, t.currency, p.amount, p.currency
                    ),
                );
            }
            if p.provider_ref.as_deref().is_some_and(|r| r != t.id) {
                findings.add(
                    Some(&p.id),
                    Some(&t.id),
                    "reference_differs",
                    format!("payout records {:?}, Stripe holds {}", p.provider_ref, t.id),
                );
            }
            if t.reversed && p.status != PayoutStatus::Failed {
                findings.add(
                    Some(&p.id),
                    Some(&t.id),
                    "reversed_at_provider",
                    format!("Stripe reversed {} but the payout is {}", t.id, p.status),
                );
            }
        }
        many => findings.add(
            Some(&p.id),
            None,
            "duplicate_at_provider",
            format!(
                "Stripe holds {} transfers for one payout: {:?}",
                many.len(),
                many.iter().map(|t| t.id.as_str()).collect::<Vec<_>>()
            ),
        ),
    }
}

/// Whole days from `then` to `now` (both ms since epoch).
fn days_since(then: i64, now: i64) -> i64 {
    now.saturating_sub(then) / (24 * 3_600 * 1_000)
}

impl ReconcileHandler {
    async fn reconcile(&self, id: &str) -> Result<(i64, Vec<Mismatch>), String> {
        let s = &self.services;
        let db = s.payouts.db();
        let ledger = db.payout_transfer_ids().await.map_err(|e| e.to_string())?;
        let now = now_ms();
        // A SEPA payout still in transit before this (ms since epoch) is stuck.
        let stuck_before = s
            .config
            .payout
            .sepa_confirm_ms()
            .map(|ms| now.saturating_sub(ms));
        let mut findings = Findings(Vec::new());
        let mut checked = 0i64;

        // Stripe: its transfer list against the payouts.
        let cfg = &s.config.payout;
        let transfers = match &cfg.stripe_secret_key {
            Some(_) => StripeClient::new(&cfg.stripe_api_base, cfg.stripe_secret_key.as_deref())
                .map_err(|e| e.to_string())?
                .list_transfers()
                .await
                .map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        let mut by_payout: BTreeMap<&str, Vec<&StripeTransfer>> = BTreeMap::new();
        for t in &transfers {
            match t.metadata.get("payout_id") {
                Some(pid) => by_payout.entry(pid.as_str()).or_default().push(t),
                None => findings.add(
                    None,
                    Some(&t.id),
                    "unknown_at_provider",
                    format!("Stripe transfer {} carries no payout_id", t.id),
                ),
            }
        }
        let mut known: HashSet<String> = HashSet::new();
        for provider in ["stripe", "sepa"] {
            let mut after = String::new();
            loop {
                let page = db
                    .provider_payouts(provider, &after, 1_000)
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                after = last.id.clone();
                for p in &page {
                    checked += 1;
                    check_ledger(p, &ledger, &mut findings);
                    // In transit and in no file: the batch job never wrote it.
                    if provider == "sepa"
                        && p.status == PayoutStatus::InTransit
                        && p.batch_id.is_none()
                        && stuck_before.is_some_and(|t| p.updated_at < t)
                    {
                        findings.add(
                            Some(&p.id),
                            None,
                            "stuck_in_transit",
                            format!(
                                "payout has been in transit for {} days and is in no SEPA file",
                                days_since(p.updated_at, now)
                            ),
                        );
                    }
                    if provider == "stripe" {
                        known.insert(p.id.clone());
                        let ts = by_payout
                            .get(p.id.as_str())
                            .map(Vec::as_slice)
                            .unwrap_or_default();
                        check_stripe(p, ts, &mut findings);
                    }
                }
            }
        }
        for (pid, ts) in &by_payout {
            if !known.contains(*pid) {
                for t in ts {
                    findings.add(
                        Some(pid),
                        Some(&t.id),
                        "unknown_at_provider",
                        format!(
                            "Stripe transfer {} names payout {pid}, which Fleet does not know",
                            t.id
                        ),
                    );
                }
            }
        }

        // SEPA: each batch's members and control sum against its confirmation.
        let mut cursor: Option<String> = None;
        loop {
            let (batches, next) = db
                .sepa_batches(cursor.as_deref(), 500)
                .await
                .map_err(|e| e.to_string())?;
            for b in &batches {
                checked += 1;
                let members = db.batch_payouts(&b.id).await.map_err(|e| e.to_string())?;
                let sum: i64 = members.iter().map(|p| p.amount).sum();
                if members.len() as i64 != b.payouts || sum != b.ctrl_sum {
                    findings.add(None, Some(&b.id), "batch_differs", format!(
                        "batch {} lists {} payouts for {} cents; the ledger's payouts are {} for {} cents",
                        b.id, b.payouts, b.ctrl_sum, members.len(), sum));
                }
                // Written, handed to the bank, and never confirmed paid or failed.
                let unconfirmed =
                    b.status == "created" && stuck_before.is_some_and(|t| b.created_at < t);
                for p in &members {
                    if unconfirmed && p.status == PayoutStatus::Submitted {
                        findings.add(
                            Some(&p.id),
                            Some(&b.id),
                            "stuck_in_transit",
                            format!(
                                "batch {} was written {} days ago and never confirmed: payout {} is still in transit",
                                b.id,
                                days_since(b.created_at, now),
                                p.id
                            ),
                        );
                    }
                    let fine = match b.status.as_str() {
                        "created" => p.status == PayoutStatus::Submitted,
                        "paid" => matches!(p.status, PayoutStatus::Paid | PayoutStatus::Failed),
                        _ => p.status == PayoutStatus::Failed,
                    };
                    if !fine {
                        findings.add(
                            Some(&p.id),
                            Some(&b.id),
                            "batch_status_differs",
                            format!(
                                "batch {} is {} but payout {} is {}",
                                b.id, b.status, p.id, p.status
                            ),
                        );
                    }
                }
            }
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        tracing::info!(
            reconciliation_id = id,
            checked,
            mismatches = findings.0.len(),
            "reconciliation done"
        );
        Ok((checked, findings.0))
    }
}

impl JobHandler for ReconcileHandler {
    type Job = Reconcile;

    async fn handle(&self, job: Reconcile, _ctx: JobContext) -> Result<(), JobError> {
        let db = self.services.payouts.db();
        let id = &job.reconciliation_id;
        db.create_reconciliation(id, now_ms())
            .await
            .map_err(JobError::retry)?;
        match self.reconcile(id).await {
            Ok((checked, mismatches)) => {
                db.finish_reconciliation(id, checked, &mismatches, None, now_ms())
                    .await
                    .map_err(JobError::retry)?;
                Ok(())
            }
            Err(e) => {
                db.finish_reconciliation(id, 0, &[], Some(&e), now_ms())
                    .await
                    .map_err(JobError::retry)?;
                Err(JobError::Retry(e))
            }
        }
    }
}
