//! The double-entry ledger of seller money: accounts, balanced transfers,
//! the rules that turn order events into postings, and fees.
//!
//! Why here and not in `workers/payout`: the API must answer an order event
//! synchronously — a replay with the stored result, 409 for an event out of
//! order or a refund above what was paid — and the API never depends on the
//! workers. Validating in the API and posting later in a job would accept
//! events the ledger then refuses, with nobody left to tell. So the rules
//! (pure functions: [`events::plan`], [`fees`]) live in `shared`, their SQL in
//! [`crate::db::ledger`], and both the API (order events) and the payout
//! worker (the release job) call [`Ledger`]. Posting one event is one short
//! transaction, cheap enough for the request path.

pub mod accounts;
pub mod events;
pub mod fees;
pub mod transfer;

pub use accounts::{Account, Bucket, Currency, InvalidCurrency};
pub use events::{EventType, OrderEvent, OrderState, Rejection, Rules};
pub use fees::FeePolicy;
pub use transfer::{Guard, Posting, Transfer, TransferError};

use crate::{
    Config, DbError, QueueError, Queues,
    db::{
        jobs::NewJob,
        ledger::{EventRecord, Recorded, only},
        now_ms,
    },
};
use fleet_jobs::{Job, WorkerKind, payout::ReleaseFunds};

/// Why the ledger did not record an event.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The event is not allowed in the order's current state.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The event id was already used for an event with other content.
    #[error("event {event_id} was already recorded with other content")]
    ConflictingReplay {
        /// The event id.
        event_id: String,
    },
    /// A release for an order the ledger does not know.
    #[error("no order {order_id} in the ledger")]
    UnknownOrder {
        /// The order.
        order_id: String,
    },
    /// The postings of a transfer do not balance (a bug in the rules).
    #[error(transparent)]
    Unbalanced(#[from] TransferError),
    /// Concurrent writers kept colliding on the same order.
    #[error("order {order_id} is being changed concurrently; retry")]
    Contended {
        /// The order.
        order_id: String,
    },
    /// A guarded transfer would take an account below what it must hold.
    #[error("{account} holds {balance}, less than the {needed} transfer {transfer_id} needs")]
    Insufficient {
        /// The transfer refused.
        transfer_id: String,
        /// The account.
        account: String,
        /// Its balance.
        balance: i64,
        /// What it had to hold.
        needed: i64,
    },
    /// A guarded transfer excluded by one already posted, or missing its cause.
    #[error("transfer {transfer_id} refused: {reason}")]
    Excluded {
        /// The transfer refused.
        transfer_id: String,
        /// `<id> was already posted` or `<id> was never posted`.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The release job could not be queued.
    #[error("queueing the release job failed: {0}")]
    Queue(#[from] QueueError),
}

impl From<sqlx::Error> for LedgerError {
    fn from(err: sqlx::Error) -> Self {
        LedgerError::Db(DbError::Query(err))
    }
}

/// Posts order events and releases held funds, queueing release jobs as the rules ask.
#[derive(Debug, Clone)]
pub struct Ledger {
    queues: Queues,
    rules: Rules,
    max_attempts: i32,
}

impl Ledger {
    /// A ledger on `queues`' database, with fees and hold period from `config`.
    pub fn new(queues: Queues, config: &Config) -> Ledger {
        let payout = &config.payout;
        Ledger {
            queues,
            rules: Rules {
                fees: FeePolicy {
                    percent_bps: payout.fee_percent_bps,
                    fixed_minor: payout.fee_fixed_minor,
                },
                hold_ms: payout.hold_ms(),
            },
            max_attempts: i32::try_from(config.kinds.of(WorkerKind::Payout).max_attempts)
                .unwrap_or(i32::MAX),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Records `event` (or finds it recorded: a replay changes nothing) and
    /// queues the release job it schedules. Queueing is repeated on replays,
    /// so a crash between the commit and the queue is healed by the
    /// backend's retry; the job's idempotency key keeps it single.
    pub async fn post(&self, event: &OrderEvent) -> Result<Recorded, LedgerError> {
        only(self.post_batch(std::slice::from_ref(event)).await?)
    }

    /// [`Ledger::post`] for many events in one transaction, one result each
    /// in order: an event the rules refuse fails alone. `Err` when the batch
    /// failed as a whole and nothing was recorded.
    pub async fn post_batch(
        &self,
        events: &[OrderEvent],
    ) -> Result<Vec<Result<Recorded, LedgerError>>, LedgerError> {
        let results = self
            .queues
            .db()
            .record_order_events(events, &self.rules, now_ms())
            .await?;
        let releases = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter_map(|r| Some((&r.event, r.event.schedules_release?)))
            .map(|(event, run_at)| self.release_job(event, run_at))
            .collect::<Result<Vec<_>, _>>()?;
        if !releases.is_empty() {
            self.queues.enqueue(releases).await?;
        }
        Ok(results)
    }

    /// Ends the hold period of `order_id` now. `Ok(None)` when there is
    /// nothing to do: already released (by an earlier run or by `completed`)
    /// or held by an open dispute, whose decision schedules a new release.
    pub async fn release(&self, order_id: &str) -> Result<Option<Recorded>, LedgerError> {
        match self
            .queues
            .db()
            .release_order(order_id, &self.rules, now_ms())
            .await
        {
            Ok(recorded) => Ok(Some(recorded)),
            Err(LedgerError::Rejected(
                Rejection::AlreadyReleased { .. } | Rejection::DisputeOpen { .. },
            )) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The job that releases `event`'s order at `run_at`.
    fn release_job(&self, event: &EventRecord, run_at: i64) -> Result<NewJob, DbError> {
        let job = ReleaseFunds {
            order_id: event.order_id.clone(),
            cause: event.id.clone(),
        };
        let payload = serde_json::to_string(&job).map_err(|e| DbError::Corrupt {
            table: "jobs",
            message: e.to_string(),
        })?;
        Ok(NewJob {
            id: ulid::Ulid::new().to_string().to_lowercase(),
            kind: ReleaseFunds::KIND.to_owned(),
            queue: job.queue().to_owned(),
            payload,
            idempotency_key: job.idempotency_key(),
            seller_id: Some(event.seller_id.clone()),
            priority: 0,
            max_attempts: self.max_attempts,
            run_at,
        })
    }
}
