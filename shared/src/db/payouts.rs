//! Payout runs, payouts, sellers' payout destinations, SEPA batches and
//! reconciliation reports. Money itself moves only in the ledger
//! ([`crate::payout::Payouts`] posts the transfers); these rows record which
//! transfers a payout has reached and what the provider said.

use super::{Db, DbError};
use serde::Serialize;
use std::{fmt, str::FromStr};

fn corrupt(message: impl fmt::Display) -> DbError {
    DbError::Corrupt {
        table: "payouts",
        message: message.to_string(),
    }
}

/// Where a payout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Recorded; the funds have not moved yet.
    Created,
    /// Funds moved from available to in transit; the provider has not accepted it yet.
    InTransit,
    /// The provider accepted it (Stripe transfer created, or in a SEPA file).
    Submitted,
    /// Confirmed paid: funds in paid out.
    Paid,
    /// Failed: funds returned to available.
    Failed,
    /// Never sent: the balance no longer covered it when it was to move.
    Rejected,
}

impl PayoutStatus {
    /// Every status.
    pub const ALL: [PayoutStatus; 6] = [
        PayoutStatus::Created,
        PayoutStatus::InTransit,
        PayoutStatus::Submitted,
        PayoutStatus::Paid,
        PayoutStatus::Failed,
        PayoutStatus::Rejected,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Created => "created",
            PayoutStatus::InTransit => "in_transit",
            PayoutStatus::Submitted => "submitted",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Rejected => "rejected",
        }
    }
}

impl fmt::Display for PayoutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayoutStatus {
    type Err = DbError;

    fn from_str(s: &str) -> Result<Self, DbError> {
        PayoutStatus::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| corrupt(format!("unknown payout status `{s}`")))
    }
}

/// One payout: a seller's available balance in one currency, sent in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutRecord {
    /// Derived from run, seller and currency; the provider's idempotency key.
    pub id: String,
    /// The run that made it.
    pub run_id: String,
    /// The seller.
    pub seller_id: String,
    /// Currency.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
    /// `sepa` or `stripe`.
    pub provider: String,
    /// Where it is.
    pub status: PayoutStatus,
    /// The provider's id (Stripe transfer id).
    pub provider_ref: Option<String>,
    /// The SEPA batch it is in.
    pub batch_id: Option<String>,
    /// Why it failed or was rejected.
    pub failure: Option<String>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last status change (ms since epoch).
    pub updated_at: i64,
}

type PayoutRow = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

const PAYOUT_COLUMNS: &str = "id, run_id, seller_id, currency, amount, provider, status, provider_ref, batch_id, failure, created_at, updated_at";

fn payout_from_row(row: PayoutRow) -> Result<PayoutRecord, DbError> {
    let (
        id,
        run_id,
        seller_id,
        currency,
        amount,
        provider,
        status,
        provider_ref,
        batch_id,
        failure,
        created_at,
        updated_at,
    ) = row;
    Ok(PayoutRecord {
        id,
        run_id,
        seller_id,
        currency,
        amount,
        provider,
        status: status.parse()?,
        provider_ref,
        batch_id,
        failure,
        created_at,
        updated_at,
    })
}

/// A payout run: scheduled (one per period) or on demand for one seller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// `schedule:<period>` or `manual:<ulid>`.
    pub id: String,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// The one seller of an on-demand run.
    pub seller_id: Option<String>,
    /// Provider in force when it started.
    pub provider: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// Payouts it created.
    pub payouts: i64,
    /// Sellers with enough balance that were not paid (no payout destination, unsupported currency).
    pub skipped: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Finished (ms since epoch).
    pub finished_at: Option<i64>,
}

type RunRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);

const RUN_COLUMNS: &str =
    "id, trigger, seller_id, provider, status, payouts, skipped, error, created_at, finished_at";

fn run_from_row(r: RunRow) -> RunRecord {
    RunRecord {
        id: r.0,
        trigger: r.1,
        seller_id: r.2,
        provider: r.3,
        status: r.4,
        payouts: r.5,
        skipped: r.6,
        error: r.7,
        created_at: r.8,
        finished_at: r.9,
    }
}

/// A seller whose available balance in a currency is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payable {
    /// The seller.
    pub seller_id: String,
    /// Currency.
    pub currency: String,
    /// Available balance, minor units.
    pub available: i64,
}

/// A seller's stored payout destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDestination {
    /// The seller.
    pub seller_id: String,
    /// The sealed [`crate::payout::bank::PayoutDestination`] JSON.
    pub sealed: String,
    /// Last four characters of the IBAN, for display.
    pub iban_last4: Option<String>,
    /// Whether a Stripe account is set.
    pub has_stripe: bool,
    /// Whether bank details are set.
    pub has_bank: bool,
    /// Last change (ms since epoch).
    pub updated_at: i64,
}

/// A SEPA credit-transfer file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRecord {
    /// Also the file's MsgId.
    pub id: String,
    /// The run it pays.
    pub run_id: String,
    /// Where the XML is in the blob store.
    pub blob_key: String,
    /// Transactions in it.
    pub payouts: i64,
    /// Their sum, in cents.
    pub ctrl_sum: i64,
    /// `created`, `paid` or `failed`.
    pub status: String,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// When the finance team confirmed it (ms since epoch).
    pub confirmed_at: Option<i64>,
}

type BatchRow = (String, String, String, i64, i64, String, i64, Option<i64>);

fn batch_from_row(r: BatchRow) -> BatchRecord {
    BatchRecord {
        id: r.0,
        run_id: r.1,
        blob_key: r.2,
        payouts: r.3,
        ctrl_sum: r.4,
        status: r.5,
        created_at: r.6,
        confirmed_at: r.7,
    }
}

/// A reconciliation of provider records with the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationRecord {
    /// Id.
    pub id: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Payouts and provider records compared.
    pub checked: i64,
    /// Mismatches found.
    pub mismatches: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// Started (ms since epoch).
    pub created_at: i64,
    /// Finished (ms since epoch).
    pub finished_at: Option<i64>,
}

/// One disagreement between a provider and the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Id (ordered within a reconciliation).
    pub id: String,
    /// The payout concerned, if known.
    pub payout_id: Option<String>,
    /// The provider's record, if any.
    pub provider_ref: Option<String>,
    /// snake_case kind (`missing_at_provider`, `amount_differs`, …).
    pub kind: String,
    /// What differs, for humans.
    pub message: String,
}

/// What else a status change records (unset fields keep their value).
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusChange<'a> {
    /// The provider's id.
    pub provider_ref: Option<&'a str>,
    /// The SEPA batch.
    pub batch_id: Option<&'a str>,
    /// Why it failed.
    pub failure: Option<&'a str>,
}

type ReconciliationRow = (String, String, i64, i64, Option<String>, i64, Option<i64>);
type MismatchRow = (String, Option<String>, Option<String>, String, String);

/// A page of rows keyed by id, and the cursor for the next one.
pub type Page<T> = (Vec<T>, Option<String>);

fn page<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next = if more { rows.last().map(key) } else { None };
    (rows, next)
}

impl Db {
    /// Records a run unless one with this id exists; true when created.
    pub async fn create_payout_run(
        &self,
        id: &str,
        trigger: &str,
        seller_id: Option<&str>,
        provider: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let done = super::on_pool!(self, pool => sqlx::query(
            "INSERT INTO payout_runs (id, trigger, seller_id, provider, status, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id).bind(trigger).bind(seller_id).bind(provider).bind(now)
        .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// A run by id.
    pub async fn payout_run(&self, id: &str) -> Result<Option<RunRecord>, DbError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM payout_runs WHERE id = $1");
        let row: Option<RunRow> = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id).fetch_optional(pool).await)?;
        Ok(row.map(run_from_row))
    }

    /// Sets a run's status and figures.
    pub async fn update_payout_run(
        &self,
        id: &str,
        status: &str,
        payouts: i64,
        skipped: i64,
        error: Option<&str>,
        finished_at: Option<i64>,
    ) -> Result<(), DbError> {
        super::on_pool!(self, pool => sqlx::query(
            "UPDATE payout_runs SET status = $2, payouts = $3, skipped = $4, error = $5, finished_at = $6 WHERE id = $1",
        )
        .bind(id).bind(status).bind(payouts).bind(skipped).bind(error).bind(finished_at)
        .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Runs, newest first; the cursor is the last run's `created_at:id`.
    pub async fn payout_runs(
        &self,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<RunRecord>, DbError> {
        let (at, id) = parse_cursor(cursor);
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM payout_runs WHERE (created_at < $1 OR (created_at = $1 AND id < $2)) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows: Vec<RunRow> = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(at).bind(&id).bind(limit + 1).fetch_all(pool).await)?;
        Ok(page(
            rows.into_iter().map(run_from_row).collect(),
            limit,
            |r| format!("{}:{}", r.created_at, r.id),
        ))
    }

    /// Every seller and currency with a positive available balance (one seller's, if given).
    pub async fn payable_balances(&self, seller_id: Option<&str>) -> Result<Vec<Payable>, DbError> {
        let rows: Vec<(String, String, i64)> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT seller_id, currency, CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
             WHERE bucket = 'available' AND seller_id IS NOT NULL AND ($1 IS NULL OR seller_id = $1) \
             GROUP BY seller_id, currency HAVING SUM(amount) > 0 ORDER BY seller_id, currency",
        )
        .bind(seller_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(seller_id, currency, available)| Payable {
                seller_id,
                currency,
                available,
            })
            .collect())
    }

    /// Records `payout` (status `created`) unless its run already has one for
    /// that seller and currency; returns the stored one either way.
    pub async fn insert_payout(&self, payout: &PayoutRecord) -> Result<PayoutRecord, DbError> {
        super::on_pool!(self, pool => sqlx::query(
            "INSERT INTO payouts (id, run_id, seller_id, currency, amount, provider, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&payout.id).bind(&payout.run_id).bind(&payout.seller_id).bind(&payout.currency)
        .bind(payout.amount).bind(&payout.provider).bind(payout.status.as_str()).bind(payout.created_at)
        .execute(pool).await.map(|r| r.rows_affected()))?;
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE run_id = $1 AND seller_id = $2 AND currency = $3"
        );
        let row: PayoutRow = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&payout.run_id).bind(&payout.seller_id).bind(&payout.currency)
            .fetch_one(pool).await)?;
        payout_from_row(row)
    }

    /// A payout by id.
    pub async fn payout(&self, id: &str) -> Result<Option<PayoutRecord>, DbError> {
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE id = $1");
        let row: Option<PayoutRow> = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id).fetch_optional(pool).await)?;
        row.map(payout_from_row).transpose()
    }

    /// The payouts of a run, by id.
    pub async fn run_payouts(&self, run_id: &str) -> Result<Vec<PayoutRecord>, DbError> {
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE run_id = $1 ORDER BY id");
        let rows: Vec<PayoutRow> = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(run_id).fetch_all(pool).await)?;
        rows.into_iter().map(payout_from_row).collect()
    }

    /// The payouts in a SEPA batch, by id.
    pub async fn batch_payouts(&self, batch_id: &str) -> Result<Vec<PayoutRecord>, DbError> {
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE batch_id = $1 ORDER BY id");
        let rows: Vec<PayoutRow> = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(batch_id).fetch_all(pool).await)?;
        rows.into_iter().map(payout_from_row).collect()
    }

    /// Payouts of one provider, by id after `after` (for reconciliation).
    pub async fn provider_payouts(
        &self,
        provider: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<PayoutRecord>, DbError> {
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE provider = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows: Vec<PayoutRow> = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(provider).bind(after).bind(limit).fetch_all(pool).await)?;
        rows.into_iter().map(payout_from_row).collect()
    }

    /// A seller's payouts (or, with no seller, those in `status`), newest first; cursor `created_at:id`.
    pub async fn list_payouts(
        &self,
        seller_id: Option<&str>,
        status: Option<PayoutStatus>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<PayoutRecord>, DbError> {
        let (at, id) = parse_cursor(cursor);
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE ($1 IS NULL OR seller_id = $1) AND ($2 IS NULL OR status = $2) \
             AND (created_at < $3 OR (created_at = $3 AND id < $4)) ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let rows: Vec<PayoutRow> = super::on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(seller_id).bind(status.map(PayoutStatus::as_str)).bind(at).bind(&id).bind(limit + 1)
            .fetch_all(pool).await)?;
        let rows = rows
            .into_iter()
            .map(payout_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(rows, limit, |p| format!("{}:{}", p.created_at, p.id)))
    }

    /// Moves a payout to `to` if it is in one of `from`; true when it moved.
    /// `provider_ref`, `batch_id` and `failure` are set when given.
    pub async fn set_payout_status(
        &self,
        id: &str,
        from: &[PayoutStatus],
        to: PayoutStatus,
        change: StatusChange<'_>,
        now: i64,
    ) -> Result<bool, DbError> {
        let StatusChange {
            provider_ref,
            batch_id,
            failure,
        } = change;
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let list = (0..from.len())
            .map(|i| format!("${}", i + 7))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE payouts SET status = $2, provider_ref = COALESCE($3, provider_ref), batch_id = COALESCE($4, batch_id), \
             failure = COALESCE($5, failure), updated_at = $6 WHERE id = $1 AND status IN ({list})"
        );
        let done = super::on_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id).bind(to.as_str()).bind(provider_ref).bind(batch_id).bind(failure).bind(now);
            for s in &from {
                q = q.bind(*s);
            }
            q.execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Stores a seller's sealed payout destination.
    pub async fn put_payout_destination(&self, d: &StoredDestination) -> Result<(), DbError> {
        super::on_pool!(self, pool => sqlx::query(
            "INSERT INTO payout_accounts (seller_id, sealed, iban_last4, has_stripe, has_bank, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seller_id) DO UPDATE SET sealed = excluded.sealed, \
             iban_last4 = excluded.iban_last4, has_stripe = excluded.has_stripe, has_bank = excluded.has_bank, \
             updated_at = excluded.updated_at",
        )
        .bind(&d.seller_id).bind(&d.sealed).bind(&d.iban_last4).bind(d.has_stripe).bind(d.has_bank).bind(d.updated_at)
        .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A seller's sealed payout destination.
    pub async fn payout_destination(
        &self,
        seller_id: &str,
    ) -> Result<Option<StoredDestination>, DbError> {
        let row: Option<(String, String, Option<String>, bool, bool, i64)> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT seller_id, sealed, iban_last4, has_stripe, has_bank, updated_at FROM payout_accounts WHERE seller_id = $1",
        )
        .bind(seller_id).fetch_optional(pool).await)?;
        Ok(row.map(
            |(seller_id, sealed, iban_last4, has_stripe, has_bank, updated_at)| StoredDestination {
                seller_id,
                sealed,
                iban_last4,
                has_stripe,
                has_bank,
                updated_at,
            },
        ))
    }

    /// Sellers with a destination for `provider` (`sepa`: bank details, `stripe`: a connected account).
    pub async fn sellers_with_destination(
        &self,
        provider: &str,
    ) -> Result<std::collections::HashSet<String>, DbError> {
        let column = if provider == "stripe" {
            "has_stripe"
        } else {
            "has_bank"
        };
        let sql = format!("SELECT seller_id FROM payout_accounts WHERE {column}");
        let rows: Vec<String> = super::on_pool!(self, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(pool).await)?;
        Ok(rows.into_iter().collect())
    }

    /// Ids of every payout transfer in the ledger (for reconciliation).
    pub async fn payout_transfer_ids(&self) -> Result<std::collections::HashSet<String>, DbError> {
        let rows: Vec<String> = super::on_pool!(self, pool => sqlx::query_scalar(
            "SELECT id FROM ledger_transfers WHERE kind IN ('payout', 'payout_paid', 'payout_returned', 'payout_reversed')",
        )
        .fetch_all(pool).await)?;
        Ok(rows.into_iter().collect())
    }

    /// Records a SEPA batch unless its run has one; returns the stored one.
    pub async fn insert_sepa_batch(&self, b: &BatchRecord) -> Result<BatchRecord, DbError> {
        super::on_pool!(self, pool => sqlx::query(
            "INSERT INTO sepa_batches (id, run_id, blob_key, payouts, ctrl_sum, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&b.id).bind(&b.run_id).bind(&b.blob_key).bind(b.payouts).bind(b.ctrl_sum).bind(&b.status).bind(b.created_at)
        .execute(pool).await.map(|r| r.rows_affected()))?;
        self.sepa_batch(&b.id)
            .await?
            .ok_or_else(|| corrupt(format!("SEPA batch {} vanished", b.id)))
    }

    /// A SEPA batch by id.
    pub async fn sepa_batch(&self, id: &str) -> Result<Option<BatchRecord>, DbError> {
        let row: Option<BatchRow> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT id, run_id, blob_key, payouts, ctrl_sum, status, created_at, confirmed_at FROM sepa_batches WHERE id = $1",
        )
        .bind(id).fetch_optional(pool).await)?;
        Ok(row.map(batch_from_row))
    }

    /// SEPA batches, newest first; cursor `created_at:id`.
    pub async fn sepa_batches(
        &self,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<BatchRecord>, DbError> {
        let (at, id) = parse_cursor(cursor);
        let rows: Vec<BatchRow> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT id, run_id, blob_key, payouts, ctrl_sum, status, created_at, confirmed_at FROM sepa_batches \
             WHERE (created_at < $1 OR (created_at = $1 AND id < $2)) ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(at).bind(&id).bind(limit + 1).fetch_all(pool).await)?;
        Ok(page(
            rows.into_iter().map(batch_from_row).collect(),
            limit,
            |b| format!("{}:{}", b.created_at, b.id),
        ))
    }

    /// Marks a batch confirmed with `status` (once); true when it changed.
    pub async fn confirm_sepa_batch(
        &self,
        id: &str,
        status: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let done = super::on_pool!(self, pool => sqlx::query(
            "UPDATE sepa_batches SET status = $2, confirmed_at = $3 WHERE id = $1 AND status = 'created'",
        )
        .bind(id).bind(status).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records a reconciliation (status `running`) unless it exists.
    pub async fn create_reconciliation(&self, id: &str, now: i64) -> Result<(), DbError> {
        super::on_pool!(self, pool => sqlx::query(
            "INSERT INTO payout_reconciliations (id, status, created_at) VALUES ($1, 'running', $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Replaces a reconciliation's findings and marks it finished.
    pub async fn finish_reconciliation(
        &self,
        id: &str,
        checked: i64,
        mismatches: &[Mismatch],
        error: Option<&str>,
        now: i64,
    ) -> Result<(), DbError> {
        let status = if error.is_some() { "failed" } else { "done" };
        super::on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM payout_mismatches WHERE reconciliation_id = $1")
                .bind(id).execute(&mut *tx).await?;
            for m in mismatches {
                sqlx::query(
                    "INSERT INTO payout_mismatches (id, reconciliation_id, payout_id, provider_ref, kind, message, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&m.id).bind(id).bind(&m.payout_id).bind(&m.provider_ref).bind(&m.kind).bind(&m.message).bind(now)
                .execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE payout_reconciliations SET status = $2, checked = $3, mismatches = $4, error = $5, finished_at = $6 WHERE id = $1",
            )
            .bind(id).bind(status).bind(checked).bind(mismatches.len() as i64).bind(error).bind(now)
            .execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// A reconciliation by id.
    pub async fn reconciliation(&self, id: &str) -> Result<Option<ReconciliationRecord>, DbError> {
        let row: Option<ReconciliationRow> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT id, status, checked, mismatches, error, created_at, finished_at FROM payout_reconciliations WHERE id = $1",
        )
        .bind(id).fetch_optional(pool).await)?;
        Ok(row.map(|r| ReconciliationRecord {
            id: r.0,
            status: r.1,
            checked: r.2,
            mismatches: r.3,
            error: r.4,
            created_at: r.5,
            finished_at: r.6,
        }))
    }

    /// The mismatches a reconciliation found, in id order after `after`.
    pub async fn reconciliation_mismatches(
        &self,
        id: &str,
        after: &str,
        limit: i64,
    ) -> Result<Page<Mismatch>, DbError> {
        let rows: Vec<MismatchRow> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT id, payout_id, provider_ref, kind, message FROM payout_mismatches \
             WHERE reconciliation_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(id).bind(after).bind(limit + 1).fetch_all(pool).await)?;
        let rows = rows
            .into_iter()
            .map(|(id, payout_id, provider_ref, kind, message)| Mismatch {
                id,
                payout_id,
                provider_ref,
                kind,
                message,
            })
            .collect();
        Ok(page(rows, limit, |m| m.id.clone()))
    }
}

/// `created_at:id` → (created_at, id); no cursor starts from the newest.
fn parse_cursor(cursor: Option<&str>) -> (i64, String) {
    cursor
        .and_then(|c| c.split_once(':'))
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_owned())))
        .unwrap_or((i64::MAX, String::new()))
}

/// Whether `cursor` is one [`Db::payout_runs`] and friends accept.
pub fn valid_cursor(cursor: &str) -> bool {
    cursor
        .split_once(':')
        .is_some_and(|(at, _)| at.parse::<i64>().is_ok())
}
