//! Payouts in the ledger: the four transfers a payout can post and the
//! status machine that chooses among them. Both the API (SEPA confirmations,
//! Stripe webhooks) and the payout worker (runs, provider calls) use it.
//!
//! ```text
//! created --open--> in_transit --provider accepts--> submitted
//!    |                  |   \                           |   \
//! rejected          failed   paid <---------------------+    failed
//!                  (returned)  \--later failure--> failed (reversed)
//! ```
//!
//! Each transfer's id is derived from the payout id (`payout:<id>`,
//! `payout_paid:<id>`, `payout_returned:<id>`, `payout_reversed:<id>`), so it
//! is posted at most once; guards checked under the ledger's locks make
//! "paid" and "returned" exclude each other and keep the opening transfer
//! within the available balance. The status row follows the ledger: after a
//! crash between the two, repeating the step posts nothing and moves the row.

pub mod bank;
pub mod destination;
pub mod signature;

use crate::{
    Db, DbError,
    db::{
        now_ms,
        payouts::{PayoutRecord, PayoutStatus, StatusChange},
    },
    ledger::{Account, Bucket, Currency, Guard, LedgerError, Posting, Transfer},
};
use sha2::{Digest, Sha256};

/// Why a payout step failed.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// No such payout.
    #[error("no payout {0}")]
    NotFound(String),
    /// The step does not apply in the payout's status.
    #[error("payout {id} is {status}: cannot {step}")]
    WrongStatus {
        /// The payout.
        id: String,
        /// Its status.
        status: PayoutStatus,
        /// What was asked.
        step: &'static str,
    },
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A job could not be queued.
    #[error("queueing a payout job failed: {0}")]
    Queue(#[from] crate::QueueError),
}

/// Records the run `run_id` (if new) and queues its job; both are idempotent,
/// so replicas of the scheduler or a repeated request start one run.
pub async fn start_run(
    queues: &crate::Queues,
    config: &crate::Config,
    run_id: &str,
    trigger: &str,
    seller_id: Option<&str>,
) -> Result<(), PayoutError> {
    queues
        .db()
        .create_payout_run(
            run_id,
            trigger,
            seller_id,
            config.payout.provider.as_str(),
            now_ms(),
        )
        .await?;
    let job = fleet_jobs::payout::RunPayouts {
        run_id: run_id.to_owned(),
        seller_id: seller_id.map(str::to_owned),
    };
    let max_attempts = i32::try_from(config.kinds.of(fleet_jobs::WorkerKind::Payout).max_attempts)
        .unwrap_or(i32::MAX);
    let new = crate::db::jobs::NewJob::of(&job, max_attempts).map_err(|e| {
        PayoutError::Db(DbError::Corrupt {
            table: "jobs",
            message: e.to_string(),
        })
    })?;
    queues.enqueue(vec![new]).await?;
    Ok(())
}

/// The id of the payout of `seller` in `currency` made by `run`: stable across retries of the run.
pub fn payout_id(run_id: &str, seller_id: &str, currency: &str) -> String {
    let digest = Sha256::digest(format!("{run_id}\0{seller_id}\0{currency}").as_bytes());
    format!("po-{}", &hex::encode(digest)[..24])
}

/// The ledger transfer that opens `payout` (available → in transit).
pub fn opening_transfer_id(payout_id: &str) -> String {
    format!("payout:{payout_id}")
}

/// The ledger transfer that settles `payout` as paid (in transit → paid out).
pub fn paid_transfer_id(payout_id: &str) -> String {
    format!("payout_paid:{payout_id}")
}

/// The ledger transfer that returns a failed `payout` (in transit → available).
pub fn returned_transfer_id(payout_id: &str) -> String {
    format!("payout_returned:{payout_id}")
}

/// The ledger transfer that reverses a paid `payout` that failed later (paid out → available).
pub fn reversed_transfer_id(payout_id: &str) -> String {
    format!("payout_reversed:{payout_id}")
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// This call posted the transfer.
    Now,
    /// It was done before (a replay): nothing changed.
    Already,
}

/// Posts payout transfers and moves payout rows.
#[derive(Debug, Clone)]
pub struct Payouts {
    db: Db,
}

impl Payouts {
    /// Payouts on `db`.
    pub fn new(db: Db) -> Payouts {
        Payouts { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn load(&self, id: &str) -> Result<PayoutRecord, PayoutError> {
        self.db
            .payout(id)
            .await?
            .ok_or_else(|| PayoutError::NotFound(id.to_owned()))
    }

    async fn post(
        &self,
        p: &PayoutRecord,
        id: String,
        kind: &str,
        from: Bucket,
        to: Bucket,
        guards: &[Guard],
    ) -> Result<bool, PayoutError> {
        let currency = Currency::new(&p.currency).map_err(|e| {
            PayoutError::Db(DbError::Corrupt {
                table: "payouts",
                message: e.to_string(),
            })
        })?;
        let transfer = Transfer::new(
            id,
            kind,
            &currency,
            vec![
                Posting {
                    account: Account::seller(&p.seller_id, &currency, from),
                    amount: -p.amount * from.normal_sign(),
                },
                Posting {
                    account: Account::seller(&p.seller_id, &currency, to),
                    amount: p.amount * to.normal_sign(),
                },
            ],
        )
        .map_err(LedgerError::from)?;
        Ok(self
            .db
            .post_transfer_guarded(&transfer, None, guards, now_ms())
            .await?)
    }

    /// Moves the payout's amount from available to in transit, if the
    /// available balance still covers it; otherwise the payout is `rejected`.
    /// Returns the payout as it ends up.
    pub async fn open(&self, id: &str) -> Result<PayoutRecord, PayoutError> {
        let p = self.load(id).await?;
        if p.status != PayoutStatus::Created {
            return Ok(p);
        }
        let currency = Currency::new(&p.currency).map_err(|e| {
            PayoutError::Db(DbError::Corrupt {
                table: "payouts",
                message: e.to_string(),
            })
        })?;
        let guard = Guard::AtLeast {
            account: Account::seller(&p.seller_id, &currency, Bucket::Available),
            amount: p.amount,
        };
        let now = now_ms();
        match self
            .post(
                &p,
                opening_transfer_id(id),
                "payout",
                Bucket::Available,
                Bucket::InTransit,
                &[guard],
            )
            .await
        {
            Ok(_) => {
                self.db
                    .set_payout_status(
                        id,
                        &[PayoutStatus::Created],
                        PayoutStatus::InTransit,
                        StatusChange::default(),
                        now,
                    )
                    .await?;
            }
            Err(PayoutError::Ledger(err @ LedgerError::Insufficient { .. })) => {
                self.db
                    .set_payout_status(
                        id,
                        &[PayoutStatus::Created],
                        PayoutStatus::Rejected,
                        StatusChange {
                            failure: Some(&err.to_string()),
                            ..StatusChange::default()
                        },
                        now,
                    )
                    .await?;
            }
            Err(other) => return Err(other),
        }
        self.load(id).await
    }

    /// Records that the provider accepted the payout (its id there, or the batch it is in).
    pub async fn submitted(
        &self,
        id: &str,
        provider_ref: Option<&str>,
        batch_id: Option<&str>,
    ) -> Result<(), PayoutError> {
        self.db
            .set_payout_status(
                id,
                &[PayoutStatus::InTransit, PayoutStatus::Submitted],
                PayoutStatus::Submitted,
                StatusChange {
                    provider_ref,
                    batch_id,
                    ..StatusChange::default()
                },
                now_ms(),
            )
            .await?;
        Ok(())
    }

    /// Settles the payout as paid: in transit → paid out. Refused once it was returned.
    pub async fn paid(&self, id: &str, provider_ref: Option<&str>) -> Result<Settled, PayoutError> {
        let p = self.load(id).await?;
        match p.status {
            PayoutStatus::Created | PayoutStatus::Rejected | PayoutStatus::Failed => {
                return Err(PayoutError::WrongStatus {
                    id: id.to_owned(),
                    status: p.status,
                    step: "mark it paid",
                });
            }
            _ => {}
        }
        let posted = self
            .post(
                &p,
                paid_transfer_id(id),
                "payout_paid",
                Bucket::InTransit,
                Bucket::PaidOut,
                &[
                    Guard::Present(opening_transfer_id(id)),
                    Guard::Absent(returned_transfer_id(id)),
                ],
            )
            .await?;
        self.db
            .set_payout_status(
                id,
                &[
                    PayoutStatus::InTransit,
                    PayoutStatus::Submitted,
                    PayoutStatus::Paid,
                ],
                PayoutStatus::Paid,
                StatusChange {
                    provider_ref,
                    ..StatusChange::default()
                },
                now_ms(),
            )
            .await?;
        Ok(if posted {
            Settled::Now
        } else {
            Settled::Already
        })
    }

    /// Records that the seller's own bank payout of the funds failed after
    /// they reached the seller's Stripe account (a connected account's
    /// `payout.failed`). The transfer arrived, so the payout is settled as
    /// paid if it was not yet, and the failure is noted on it; no funds move
    /// back to available: Stripe keeps them in the seller's balance, and
    /// returning them here would pay the seller twice.
    pub async fn bank_payout_failed(&self, id: &str, reason: &str) -> Result<Settled, PayoutError> {
        let settled = self.paid(id, None).await?;
        self.db
            .set_payout_status(
                id,
                &[PayoutStatus::Paid],
                PayoutStatus::Paid,
                StatusChange {
                    failure: Some(reason),
                    ..StatusChange::default()
                },
                now_ms(),
            )
            .await?;
        Ok(settled)
    }

    /// Settles the payout as failed: its funds go back to available (from in
    /// transit, or from paid out when it had been confirmed paid).
    pub async fn failed(&self, id: &str, reason: &str) -> Result<Settled, PayoutError> {
        let p = self.load(id).await?;
        match p.status {
            PayoutStatus::Created | PayoutStatus::Rejected => {
                return Err(PayoutError::WrongStatus {
                    id: id.to_owned(),
                    status: p.status,
                    step: "mark it failed",
                });
            }
            _ => {}
        }
        let returned = self
            .post(
                &p,
                returned_transfer_id(id),
                "payout_returned",
                Bucket::InTransit,
                Bucket::Available,
                &[
                    Guard::Present(opening_transfer_id(id)),
                    Guard::Absent(paid_transfer_id(id)),
                ],
            )
            .await;
        let posted = match returned {
            Ok(posted) => posted,
            // It had been paid: the failure came later (a reversal).
            Err(PayoutError::Ledger(LedgerError::Excluded { .. })) => {
                self.post(
                    &p,
                    reversed_transfer_id(id),
                    "payout_reversed",
                    Bucket::PaidOut,
                    Bucket::Available,
                    &[Guard::Present(paid_transfer_id(id))],
                )
                .await?
            }
            Err(other) => return Err(other),
        };
        self.db
            .set_payout_status(
                id,
                &[
                    PayoutStatus::InTransit,
                    PayoutStatus::Submitted,
                    PayoutStatus::Paid,
                    PayoutStatus::Failed,
                ],
                PayoutStatus::Failed,
                StatusChange {
                    failure: Some(reason),
                    ..StatusChange::default()
                },
                now_ms(),
            )
            .await?;
        Ok(if posted {
            Settled::Now
        } else {
            Settled::Already
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payout_ids_are_stable_and_distinct() {
        let a = payout_id("schedule:2026-11-25T06:00Z", "s1", "EUR");
        assert_eq!(a, payout_id("schedule:2026-11-25T06:00Z", "s1", "EUR"));
        assert_ne!(a, payout_id("schedule:2026-11-25T06:00Z", "s1", "GBP"));
        assert_ne!(a, payout_id("schedule:2026-11-26T06:00Z", "s1", "EUR"));
        assert_eq!(a.len(), 27);
        assert!(a.len() <= 35, "fits a SEPA EndToEndId");
    }
}
