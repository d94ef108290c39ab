//! The ledger's SQL: order events, transfers and postings (append-only), and
//! balances derived from the postings. The rules live in [`crate::ledger`].
//!
//! Writing a batch of events is one transaction. On PostgreSQL it first
//! locks the sellers' four accounts in each currency (`FOR UPDATE`, in
//! account id order, so writers never deadlock); on SQLite it starts with
//! `BEGIN IMMEDIATE`, taking the single write lock before reading. Either way
//! the orders' states are read after the lock, and `UNIQUE (order_id, seq)` turns
//! any remaining race (an event naming another seller) into a retry.
//!
//! A batch of order events, one or a thousand, costs PostgreSQL five round
//! trips: `BEGIN`, the lock (the accounts are created first only when
//! missing), one read of the stored events and the orders' latest states, one
//! statement inserting transfers, postings and events (returning the stored
//! postings' sums, checked), `COMMIT`. Batching is how the backend gets past
//! the one-commit-per-event ceiling of the disk's flush time.

use super::{Db, DbError};
use crate::ledger::{
    Account, Bucket, Currency, EventType, Guard, LedgerError, OrderEvent, OrderState, Posting,
    Rules, Transfer, events,
};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// Accounts created by one statement: 5 parameters each stays under
/// SQLite's 32,766 and PostgreSQL's 65,535 for any batch.
const ACCOUNTS_PER_INSERT: usize = 1_000;

/// Attempts of a transaction that collided with a concurrent writer.
const MAX_TRIES: usize = 8;

/// One stored posting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostingRecord {
    /// The account id.
    pub account_id: String,
    /// The account's seller, None for platform accounts.
    pub seller_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// The account's bucket.
    pub bucket: Bucket,
    /// Signed minor units: positive credits the account, negative debits it.
    pub amount: i64,
}

impl From<&Posting> for PostingRecord {
    fn from(p: &Posting) -> Self {
        PostingRecord {
            account_id: p.account.id(),
            seller_id: p.account.seller_id.clone(),
            currency: p.account.currency.to_string(),
            bucket: p.account.bucket,
            amount: p.amount,
        }
    }
}

/// An order event as recorded, with what it caused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// `event:<event id>` or `release:<order id>`; also the id of its transfer.
    pub id: String,
    /// The backend's event id (None for releases).
    pub event_id: Option<String>,
    /// The order.
    pub order_id: String,
    /// What happened.
    pub kind: EventType,
    /// The seller.
    pub seller_id: String,
    /// Currency.
    pub currency: String,
    /// Minor units as posted (for a release: the amount released).
    pub amount: i64,
    /// The fee as posted by the backend, if it sent one.
    pub fee_requested: Option<i64>,
    /// The fee charged (`paid` only).
    pub fee: Option<i64>,
    /// The transfer it posted, if money moved.
    pub transfer_id: Option<String>,
    /// Its postings.
    pub postings: Vec<PostingRecord>,
    /// When the release job it scheduled is due (ms since epoch).
    pub schedules_release: Option<i64>,
    /// When it was recorded (ms since epoch).
    pub created_at: i64,
}

/// The result of posting an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The event as stored.
    pub event: EventRecord,
    /// True when it was already recorded and nothing changed.
    pub replayed: bool,
}

/// One bucket's balance of a seller in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketBalance {
    /// Currency.
    pub currency: String,
    /// Bucket.
    pub bucket: Bucket,
    /// Minor units.
    pub balance: i64,
}

/// One account's balance, derived from its postings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountBalance {
    /// Account id.
    pub account_id: String,
    /// Its seller (None: platform).
    pub seller_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// Bucket.
    pub bucket: Bucket,
    /// Sum of postings times the bucket's normal sign: what the account holds.
    pub balance: i64,
}

/// One line of a seller's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Posting id; the pagination cursor.
    pub id: i64,
    /// The transfer.
    pub transfer_id: String,
    /// What caused it (`paid`, `released`, …).
    pub kind: String,
    /// The order.
    pub order_id: Option<String>,
    /// The backend's event id, if any.
    pub event_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// The seller's bucket.
    pub bucket: Bucket,
    /// Change of that bucket's balance, in minor units.
    pub amount: i64,
    /// When (ms since epoch).
    pub created_at: i64,
}

fn corrupt(message: impl std::fmt::Display) -> DbError {
    DbError::Corrupt {
        table: "ledger",
        message: message.to_string(),
    }
}

fn parse_bucket(s: &str) -> Result<Bucket, DbError> {
    s.parse().map_err(corrupt)
}

/// The result of a batch of one event.
pub(crate) fn only(
    mut results: Vec<Result<Recorded, LedgerError>>,
) -> Result<Recorded, LedgerError> {
    results.pop().unwrap_or_else(|| {
        Err(LedgerError::Db(corrupt(
            "a batch of one event gave no result",
        )))
    })
}

/// Whether a failed transaction should simply be run again.
fn retryable(err: &LedgerError) -> bool {
    match err {
        LedgerError::Db(DbError::Query(sqlx::Error::Database(e))) => {
            e.is_unique_violation()
                || matches!(e.code().as_deref(), Some("40001" | "40P01"))
                || e.message().contains("database is locked")
        }
        _ => false,
    }
}

type EventRow = (
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
);

fn event_from_row(row: EventRow, postings: Vec<PostingRecord>) -> Result<EventRecord, DbError> {
    let (
        id,
        event_id,
        order_id,
        kind,
        seller_id,
        currency,
        amount,
        fee_requested,
        fee,
        transfer_id,
        schedules_release,
        created_at,
    ) = row;
    Ok(EventRecord {
        id,
        event_id,
        order_id,
        kind: kind.parse().map_err(corrupt)?,
        seller_id,
        currency,
        amount,
        fee_requested,
        fee,
        transfer_id,
        postings,
        schedules_release,
        created_at,
    })
}

/// The accounts of a seller and the platform in `currency`, seller's first, each group in id order.
fn accounts_of(seller_id: &str, currency: &Currency) -> Vec<Account> {
    let mut accounts: Vec<Account> = Bucket::SELLER
        .into_iter()
        .map(|b| Account::seller(seller_id, currency, b))
        .chain(
            Bucket::PLATFORM
                .into_iter()
                .map(|b| Account::platform(currency, b)),
        )
        .collect();
    accounts.sort_by_key(Account::id);
    accounts
}

/// `INSERT … ON CONFLICT DO NOTHING` of `n` accounts (5 parameters each).
fn insert_accounts_sql(n: usize) -> String {
    let rows = (0..n)
        .map(|i| {
            let b = i * 5;
            format!(
                "(${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO ledger_accounts (id, seller_id, currency, bucket, created_at) VALUES {rows} ON CONFLICT DO NOTHING"
    )
}

/// Locks up to `n` accounts by id, in id order (PostgreSQL).
fn lock_sql(n: usize) -> String {
    let ids = (1..=n.max(1))
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT id FROM ledger_accounts WHERE id IN ({ids}) ORDER BY id FOR UPDATE")
}

/// Runs `$body` inside a write transaction `$tx` on whichever pool `$db` holds.
macro_rules! write_tx {
    ($db:expr, $tx:ident => $body:block) => {
        match $db {
            Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                $body
            }
            Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                $body
            }
        }
    };
}

/// Inserts `$transfer` and its postings in `$tx`, and checks what was stored
/// sums to zero.
macro_rules! write_transfer {
    ($tx:ident, $transfer:expr, $order_id:expr, $event_id:expr, $seller_id:expr, $now:expr) => {{
                sqlx::query(
                    "INSERT INTO ledger_transfers (id, kind, order_id, event_id, seller_id, currency, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&$transfer.id)
                .bind(&$transfer.kind)
                .bind($order_id)
                .bind($event_id)
                .bind($seller_id)
                .bind($transfer.currency.as_str())
                .bind($now)
                .execute(&mut *$tx)
                .await?;
                let values = (0..$transfer.postings().len())
                    .map(|i| {
                        let b = i * 7;
                        format!("(${}, ${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut q = sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO ledger_postings (transfer_id, account_id, seller_id, currency, bucket, amount, created_at) \
                     VALUES {values} RETURNING amount"
                )));
                for p in $transfer.postings() {
                    q = q
                        .bind(&$transfer.id)
                        .bind(p.account.id())
                        .bind(p.account.seller_id.clone())
                        .bind(p.account.currency.to_string())
                        .bind(p.account.bucket.as_str())
                        .bind(p.amount)
                        .bind($now);
                }
                // Debits equal credits: checked by `Transfer::new`, and again on what was stored.
                let stored: Vec<i64> = q.fetch_all(&mut *$tx).await?.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
                let (sum, count) = (stored.iter().map(|a| i128::from(*a)).sum::<i128>(), stored.len() as i64);
                if sum != 0 || count != $transfer.postings().len() as i64 {
                    return Err(LedgerError::Db(corrupt(format!(
                        "transfer {} stored {count} postings summing to {sum}",
                        $transfer.id
                    ))));
                }
    }};
}

impl Db {
    /// Records an order event posted by the backend. The same event id with
    /// the same content returns the stored record (`replayed`); with other
    /// content it is [`LedgerError::ConflictingReplay`].
    pub async fn record_order_event(
        &self,
        event: &OrderEvent,
        rules: &Rules,
        now: i64,
    ) -> Result<Recorded, LedgerError> {
        only(
            self.record_order_events(std::slice::from_ref(event), rules, now)
                .await?,
        )
    }

    /// Records order events in one transaction, in order, with one result
    /// each, as [`Db::record_order_event`] would one by one: an event the
    /// rules refuse fails alone. `Err` when the batch as a whole failed and
    /// nothing was written.
    pub async fn record_order_events(
        &self,
        events: &[OrderEvent],
        rules: &Rules,
        now: i64,
    ) -> Result<Vec<Result<Recorded, LedgerError>>, LedgerError> {
        let items: Vec<(String, &OrderEvent)> = events
            .iter()
            .map(|e| (format!("event:{}", e.event_id), e))
            .collect();
        self.record_with_retry(&items, rules, now).await
    }

    /// Releases an order's held funds (the end of its hold period).
    pub async fn release_order(
        &self,
        order_id: &str,
        rules: &Rules,
        now: i64,
    ) -> Result<Recorded, LedgerError> {
        let state = self
            .order_state(order_id)
            .await?
            .ok_or_else(|| LedgerError::UnknownOrder {
                order_id: order_id.to_owned(),
            })?;
        let event = OrderEvent {
            event_id: String::new(),
            kind: EventType::Released,
            order_id: order_id.to_owned(),
            seller_id: state.seller_id.clone(),
            amount: state.held(),
            currency: state.currency.clone(),
            fee: None,
        };
        let items = [(format!("release:{order_id}"), &event)];
        only(self.record_with_retry(&items, rules, now).await?)
    }

    /// Posts a balanced transfer that no order event caused (payouts,
    /// corrections), under the same account locks as order events. The id is
    /// the cause: a transfer already recorded under it is left alone (false).
    pub async fn post_transfer(
        &self,
        transfer: &Transfer,
        order_id: Option<&str>,
        now: i64,
    ) -> Result<bool, LedgerError> {
        self.post_transfer_guarded(transfer, order_id, &[], now)
            .await
    }

    /// [`Db::post_transfer`] refused unless every guard holds, checked under
    /// the same locks after the replay check (a transfer already posted is
    /// `Ok(false)` whatever the guards say now). Guarded accounts must be
    /// accounts of the transfer, so the locks cover them.
    pub async fn post_transfer_guarded(
        &self,
        transfer: &Transfer,
        order_id: Option<&str>,
        guards: &[Guard],
        now: i64,
    ) -> Result<bool, LedgerError> {
        let mut accounts: Vec<Account> = transfer
            .postings()
            .iter()
            .map(|p| p.account.clone())
            .collect();
        accounts.sort_by_key(Account::id);
        accounts.dedup();
        let seller_id = accounts.iter().find_map(|a| a.seller_id.clone());
        let insert = insert_accounts_sql(accounts.len());
        let is_pg = !self.is_sqlite();
        let locked: Vec<String> = accounts
            .iter()
            .filter(|a| a.seller_id.is_some())
            .map(Account::id)
            .collect();
        let lock = lock_sql(locked.len());
        write_tx!(self, tx => {
            let mut q = sqlx::query(AssertSqlSafe(insert));
            for a in &accounts {
                q = q
                    .bind(a.id())
                    .bind(a.seller_id.clone())
                    .bind(a.currency.to_string())
                    .bind(a.bucket.as_str())
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
            if is_pg && !locked.is_empty() {
                let mut q = sqlx::query(AssertSqlSafe(lock));
                for id in &locked {
                    q = q.bind(id);
                }
                q.fetch_all(&mut *tx).await?;
            }
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM ledger_transfers WHERE id = $1")
                    .bind(&transfer.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                tx.rollback().await?;
                return Ok(false);
            }
            for guard in guards {
                let refusal = match guard {
                    Guard::AtLeast { account, amount } => {
                        let sum: i64 = sqlx::query_scalar(
                            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_postings WHERE account_id = $1",
                        )
                        .bind(account.id())
                        .fetch_one(&mut *tx)
                        .await?;
                        let balance = sum * account.bucket.normal_sign();
                        (balance < *amount).then(|| LedgerError::Insufficient {
                            transfer_id: transfer.id.clone(),
                            account: account.id(),
                            balance,
                            needed: *amount,
                        })
                    }
                    Guard::Absent(id) | Guard::Present(id) => {
                        let found: Option<String> =
                            sqlx::query_scalar("SELECT id FROM ledger_transfers WHERE id = $1")
                                .bind(id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        match (guard, found) {
                            (Guard::Absent(_), Some(_)) => Some(LedgerError::Excluded {
                                transfer_id: transfer.id.clone(),
                                reason: format!("{id} was already posted"),
                            }),
                            (Guard::Present(_), None) => Some(LedgerError::Excluded {
                                transfer_id: transfer.id.clone(),
                                reason: format!("{id} was never posted"),
                            }),
                            _ => None,
                        }
                    }
                };
                if let Some(err) = refusal {
                    tx.rollback().await?;
                    return Err(err);
                }
            }
            write_transfer!(tx, transfer, order_id, None::<String>, seller_id.as_deref(), now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The order's state after its latest event, if it has any.
    pub async fn order_state(&self, order_id: &str) -> Result<Option<OrderState>, DbError> {
        let row: Option<String> = super::on_pool!(self, pool => sqlx::query_scalar(
            "SELECT state FROM ledger_events WHERE order_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(order_id)
        .fetch_optional(pool)
        .await)?;
        row.map(|s| serde_json::from_str(&s).map_err(corrupt))
            .transpose()
    }

    async fn record_with_retry(
        &self,
        items: &[(String, &OrderEvent)],
        rules: &Rules,
        now: i64,
    ) -> Result<Vec<Result<Recorded, LedgerError>>, LedgerError> {
        for _ in 0..MAX_TRIES {
            match self.try_record(items, rules, now).await {
                Err(err) if retryable(&err) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                other => return other,
            }
        }
        Err(LedgerError::Contended {
            order_id: items
                .first()
                .map(|(_, e)| e.order_id.clone())
                .unwrap_or_default(),
        })
    }

    /// Records `items` (ledger id, event) in one transaction, in order. An
    /// event the rules refuse, or a reused id, fails alone (its result); a
    /// database error fails the whole batch, which then wrote nothing.
    async fn try_record(
        &self,
        items: &[(String, &OrderEvent)],
        rules: &Rules,
        now: i64,
    ) -> Result<Vec<Result<Recorded, LedgerError>>, LedgerError> {
        let mut accounts: Vec<Account> = items
            .iter()
            .flat_map(|(_, e)| accounts_of(&e.seller_id, &e.currency))
            .collect();
        accounts.sort_by_key(Account::id);
        accounts.dedup();
        write_tx!(self, tx => {
            tx.lock_accounts(&accounts, now).await?;
            let keys: Vec<(&str, &str)> = items
                .iter()
                .map(|(id, e)| (id.as_str(), e.order_id.as_str()))
                .collect();
            let (existing, latest) = tx.events_and_latest(&keys).await?;
            let mut known: HashMap<String, EventRecord> = HashMap::new();
            for row in existing {
                let postings = match &row.9 {
                    Some(transfer) => {
                        let rows: Vec<(String, Option<String>, String, String, i64)> = sqlx::query_as(
                            "SELECT account_id, seller_id, currency, bucket, amount FROM ledger_postings \
                             WHERE transfer_id = $1 ORDER BY id",
                        )
                        .bind(transfer)
                        .fetch_all(&mut *tx)
                        .await?;
                        posting_records(rows)?
                    }
                    None => Vec::new(),
                };
                let record = event_from_row(row, postings)?;
                known.insert(record.id.clone(), record);
            }
            let mut orders: HashMap<String, (i64, Option<OrderState>)> = HashMap::new();
            for (order_id, (seq, state)) in latest {
                let state = serde_json::from_str::<OrderState>(&state).map_err(corrupt)?;
                orders.insert(order_id, (seq, Some(state)));
            }
            let mut results = Vec::with_capacity(items.len());
            let mut rows = Vec::new();
            for (id, event) in items {
                if let Some(stored) = known.get(id) {
                    results.push(replay_of(stored, event));
                    continue;
                }
                let (seq, state) = orders.get(&event.order_id).cloned().unwrap_or((0, None));
                match plan_event(id, event, seq, state.as_ref(), rules, now) {
                    Ok(row) => {
                        orders.insert(event.order_id.clone(), (row.seq, Some(row.next.clone())));
                        known.insert(id.clone(), row.record.clone());
                        results.push(Ok(Recorded { event: row.record.clone(), replayed: false }));
                        rows.push(row);
                    }
                    Err(err) => results.push(Err(err)),
                }
            }
            if rows.is_empty() {
                tx.rollback().await?;
            } else {
                tx.write_events(&rows).await?;
                tx.commit().await?;
            }
            Ok(results)
        })
    }

    /// A seller's balance per currency and bucket, derived from the postings.
    pub async fn seller_balances(&self, seller_id: &str) -> Result<Vec<BucketBalance>, DbError> {
        let rows: Vec<(String, String, i64)> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT currency, bucket, CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
             WHERE seller_id = $1 GROUP BY currency, bucket ORDER BY currency, bucket",
        )
        .bind(seller_id)
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(currency, bucket, sum)| {
                let bucket = parse_bucket(&bucket)?;
                Ok(BucketBalance {
                    currency,
                    bucket,
                    balance: sum * bucket.normal_sign(),
                })
            })
            .collect()
    }

    /// Every account's balance, derived from the postings.
    pub async fn account_balances(&self) -> Result<Vec<AccountBalance>, DbError> {
        let rows: Vec<(String, Option<String>, String, String, i64)> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT account_id, seller_id, currency, bucket, CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
             GROUP BY account_id, seller_id, currency, bucket ORDER BY account_id",
        )
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(account_id, seller_id, currency, bucket, sum)| {
                let bucket = parse_bucket(&bucket)?;
                Ok(AccountBalance {
                    account_id,
                    seller_id,
                    currency,
                    bucket,
                    balance: sum * bucket.normal_sign(),
                })
            })
            .collect()
    }

    /// The sum of all postings per currency: zero in a consistent ledger.
    pub async fn ledger_totals(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(super::on_pool!(self, pool => sqlx::query_as(
            "SELECT currency, CAST(SUM(amount) AS BIGINT) FROM ledger_postings GROUP BY currency ORDER BY currency",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// A seller's postings after posting id `after`, oldest first.
    pub async fn seller_ledger(
        &self,
        seller_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>, DbError> {
        let sql = "SELECT p.id, p.transfer_id, t.kind, t.order_id, t.event_id, p.currency, p.bucket, p.amount, p.created_at \
             FROM ledger_postings p JOIN ledger_transfers t ON t.id = p.transfer_id \
             WHERE p.seller_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3";
        super::on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(seller_id).bind(after).bind(limit).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let bucket: String = row.try_get("bucket")?;
                    Ok(LedgerEntry {
                        id: row.try_get("id")?,
                        transfer_id: row.try_get("transfer_id")?,
                        kind: row.try_get("kind")?,
                        order_id: row.try_get("order_id")?,
                        event_id: row.try_get("event_id")?,
                        currency: row.try_get("currency")?,
                        bucket: parse_bucket(&bucket)?,
                        amount: row.try_get("amount")?,
                        created_at: row.try_get("created_at")?,
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()
        })
    }
}

fn posting_records(
    rows: Vec<(String, Option<String>, String, String, i64)>,
) -> Result<Vec<PostingRecord>, DbError> {
    rows.into_iter()
        .map(|(account_id, seller_id, currency, bucket, amount)| {
            Ok(PostingRecord {
                account_id,
                seller_id,
                currency,
                bucket: parse_bucket(&bucket)?,
                amount,
            })
        })
        .collect()
}

/// An order event row to insert: the record it becomes, with what the row
/// stores beside it, and the transfer it posts when money moves.
struct NewEventRow {
    record: EventRecord,
    seq: i64,
    /// The order's state after the event, and as stored (JSON).
    next: OrderState,
    state: String,
    transfer: Option<Transfer>,
}

/// Plans `event` for an order at `seq` in `state` (None: no event yet): the
/// row to insert.
fn plan_event(
    id: &str,
    event: &OrderEvent,
    seq: i64,
    state: Option<&OrderState>,
    rules: &Rules,
    now: i64,
) -> Result<NewEventRow, LedgerError> {
    let internal = event.kind == EventType::Released;
    let plan = events::plan(rules, state, event, now)?;
    let amount = match (state, internal) {
        (Some(s), true) => s.held(),
        _ => event.amount,
    };
    let transfer = if plan.postings.is_empty() {
        None
    } else {
        Some(Transfer::new(
            id.to_owned(),
            event.kind.as_str(),
            &event.currency,
            plan.postings
                .iter()
                .map(|(account, amount)| Posting {
                    account: account.clone(),
                    amount: *amount,
                })
                .collect(),
        )?)
    };
    let postings = transfer
        .as_ref()
        .map(|t| t.postings().iter().map(PostingRecord::from).collect())
        .unwrap_or_default();
    let record = EventRecord {
        id: id.to_owned(),
        event_id: (!internal).then(|| event.event_id.clone()),
        order_id: event.order_id.clone(),
        kind: event.kind,
        seller_id: event.seller_id.clone(),
        currency: event.currency.to_string(),
        amount,
        fee_requested: event.fee,
        fee: plan.fee,
        transfer_id: transfer.as_ref().map(|t| t.id.clone()),
        postings,
        schedules_release: plan.schedule_release,
        created_at: now,
    };
    Ok(NewEventRow {
        record,
        seq: seq + 1,
        state: serde_json::to_string(&plan.next).map_err(corrupt)?,
        next: plan.next,
        transfer,
    })
}

/// The answer to `event` when its id is already recorded as `stored`: the
/// stored record when the content is the same, else a conflicting replay.
fn replay_of(stored: &EventRecord, event: &OrderEvent) -> Result<Recorded, LedgerError> {
    let same = event.kind == EventType::Released
        || (stored.kind == event.kind
            && stored.order_id == event.order_id
            && stored.seller_id == event.seller_id
            && stored.currency == event.currency.as_str()
            && stored.amount == event.amount
            && stored.fee_requested == event.fee);
    if !same {
        return Err(LedgerError::ConflictingReplay {
            event_id: event.event_id.clone(),
        });
    }
    Ok(Recorded {
        event: stored.clone(),
        replayed: true,
    })
}

/// The stored event under an id and the order's latest event, in one row set.
type JoinedRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    String,
);

/// The columns [`JoinedRow`] reads, after its tag.
const JOINED_COLUMNS: &str = "id, event_id, order_id, kind, seller_id, currency, amount, \
     fee_requested, fee, transfer_id, release_at, created_at, seq, state";

/// One read instead of two: the event stored under `$1` and the latest of order `$2` (SQLite).
fn event_and_latest_sql() -> String {
    format!(
        "SELECT 'existing', {JOINED_COLUMNS} FROM ledger_events WHERE id = $1 \
         UNION ALL SELECT * FROM (SELECT 'latest', {JOINED_COLUMNS} FROM ledger_events \
         WHERE order_id = $2 ORDER BY seq DESC LIMIT 1) AS latest"
    )
}

/// The events stored under the ids `$1` and the latest of each order in `$2`, in one read (PostgreSQL).
fn events_and_latest_sql() -> String {
    format!(
        "SELECT 'existing'::text, {JOINED_COLUMNS} FROM ledger_events WHERE id = ANY($1) \
         UNION ALL SELECT * FROM (SELECT DISTINCT ON (order_id) 'latest'::text, {JOINED_COLUMNS} \
         FROM ledger_events WHERE order_id = ANY($2) ORDER BY order_id, seq DESC) AS latest"
    )
}

/// What [`EventTx::events_and_latest`] found: the stored events, and each
/// order's latest (seq, state) by order id.
type Known = (Vec<EventRow>, HashMap<String, (i64, String)>);

/// Adds the rows of an events-and-latest read to `known`.
fn split_joined(rows: Vec<JoinedRow>, known: &mut Known) {
    for r in rows {
        if r.0 == "existing" {
            known.0.push((
                r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11, r.12,
            ));
        } else {
            known.1.insert(r.3, (r.13, r.14));
        }
    }
}

/// The steps of recording a batch of order events whose SQL differs by
/// dialect, on an open write transaction. PostgreSQL gets one statement per
/// step whatever the batch's size; SQLite runs in-process, where round trips
/// cost little, and takes one event at a time.
trait EventTx {
    /// Creates the events' accounts if missing and, on PostgreSQL, locks the
    /// sellers' accounts (`FOR UPDATE`, in id order).
    async fn lock_accounts(&mut self, accounts: &[Account], now: i64) -> Result<(), LedgerError>;
    /// The events stored under the `(id, order id)` keys' ids, and the latest
    /// (seq, state) of their orders.
    async fn events_and_latest(&mut self, keys: &[(&str, &str)]) -> Result<Known, LedgerError>;
    /// Inserts the events with their transfers and postings, and checks that
    /// every transfer's stored postings sum to zero.
    async fn write_events(&mut self, rows: &[NewEventRow]) -> Result<(), LedgerError>;
}

fn insert_accounts<'q, DB: sqlx::Database>(
    accounts: &'q [Account],
    now: i64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::query(AssertSqlSafe(insert_accounts_sql(accounts.len())));
    for a in accounts {
        q = q
            .bind(a.id())
            .bind(a.seller_id.clone())
            .bind(a.currency.to_string())
            .bind(a.bucket.as_str())
            .bind(now);
    }
    q
}

impl EventTx for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn lock_accounts(&mut self, accounts: &[Account], now: i64) -> Result<(), LedgerError> {
        let (sellers, platform): (Vec<&Account>, Vec<&Account>) =
            accounts.iter().partition(|a| a.seller_id.is_some());
        let sellers: Vec<String> = sellers.into_iter().map(Account::id).collect();
        let platform: Vec<String> = platform.into_iter().map(Account::id).collect();
        // Locks the seller's rows only (platform rows are shared by every
        // writer) and counts the platform's, to know whether all exist.
        let lock = "SELECT a.id, (SELECT COUNT(*) FROM ledger_accounts p WHERE p.id = ANY($2)) \
             FROM ledger_accounts a WHERE a.id = ANY($1) ORDER BY a.id FOR UPDATE OF a";
        let rows: Vec<(String, i64)> = sqlx::query_as(lock)
            .bind(&sellers)
            .bind(&platform)
            .fetch_all(&mut **self)
            .await?;
        let complete = rows.len() == sellers.len()
            && rows
                .first()
                .map_or(platform.is_empty(), |r| r.1 == platform.len() as i64);
        if !complete {
            for chunk in accounts.chunks(ACCOUNTS_PER_INSERT) {
                insert_accounts::<sqlx::Postgres>(chunk, now)
                    .execute(&mut **self)
                    .await?;
            }
            sqlx::query(lock)
                .bind(&sellers)
                .bind(&platform)
                .fetch_all(&mut **self)
                .await?;
        }
        Ok(())
    }

    async fn events_and_latest(&mut self, keys: &[(&str, &str)]) -> Result<Known, LedgerError> {
        let ids: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let mut orders: Vec<&str> = keys.iter().map(|k| k.1).collect();
        orders.sort_unstable();
        orders.dedup();
        let rows: Vec<JoinedRow> = sqlx::query_as(AssertSqlSafe(events_and_latest_sql()))
            .bind(&ids)
            .bind(&orders)
            .fetch_all(&mut **self)
            .await?;
        let mut known = Known::default();
        split_joined(rows, &mut known);
        Ok(known)
    }

    async fn write_events(&mut self, rows: &[NewEventRow]) -> Result<(), LedgerError> {
        let transfers: Vec<(&NewEventRow, &Transfer)> = rows
            .iter()
            .filter_map(|r| r.transfer.as_ref().map(|t| (r, t)))
            .collect();
        let postings: Vec<(&Transfer, &Posting)> = transfers
            .iter()
            .flat_map(|(_, t)| t.postings().iter().map(move |p| (*t, p)))
            .collect();
        let now = rows.first().map_or(0, |r| r.record.created_at);
        let (events, stored, unbalanced): (i64, i64, i64) = sqlx::query_as(
            "WITH t AS (INSERT INTO ledger_transfers (id, kind, order_id, event_id, seller_id, currency, created_at) \
               SELECT x.id, x.kind, x.order_id, x.event_id, x.seller_id, x.currency, $1 \
               FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                 AS x(id, kind, order_id, event_id, seller_id, currency) RETURNING id), \
             p AS (INSERT INTO ledger_postings (transfer_id, account_id, seller_id, currency, bucket, amount, created_at) \
               SELECT t.id, x.account_id, x.seller_id, x.currency, x.bucket, x.amount, $1 \
               FROM UNNEST($8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[]) \
                 WITH ORDINALITY AS x(transfer_id, account_id, seller_id, currency, bucket, amount, n) \
               JOIN t ON t.id = x.transfer_id ORDER BY x.n RETURNING transfer_id, amount), \
             e AS (INSERT INTO ledger_events (id, event_id, order_id, seq, kind, seller_id, currency, amount, \
                 fee_requested, fee, transfer_id, release_at, state, created_at) \
               SELECT x.id, x.event_id, x.order_id, x.seq, x.kind, x.seller_id, x.currency, x.amount, \
                 x.fee_requested, x.fee, x.transfer_id, x.release_at, x.state, $1 \
               FROM UNNEST($14::text[], $15::text[], $16::text[], $17::bigint[], $18::text[], $19::text[], \
                 $20::text[], $21::bigint[], $22::bigint[], $23::bigint[], $24::text[], $25::bigint[], $26::text[]) \
                 AS x(id, event_id, order_id, seq, kind, seller_id, currency, amount, fee_requested, fee, \
                   transfer_id, release_at, state) RETURNING id) \
             SELECT (SELECT COUNT(*) FROM e), (SELECT COUNT(*) FROM p), \
               (SELECT COUNT(*) FROM (SELECT 1 FROM p GROUP BY transfer_id HAVING SUM(amount) <> 0) AS u)",
        )
        .bind(now)
        .bind(transfers.iter().map(|(_, t)| t.id.as_str()).collect::<Vec<_>>())
        .bind(transfers.iter().map(|(_, t)| t.kind.as_str()).collect::<Vec<_>>())
        .bind(transfers.iter().map(|(r, _)| r.record.order_id.as_str()).collect::<Vec<_>>())
        .bind(transfers.iter().map(|(r, _)| r.record.event_id.as_deref()).collect::<Vec<_>>())
        .bind(transfers.iter().map(|(r, _)| r.record.seller_id.as_str()).collect::<Vec<_>>())
        .bind(transfers.iter().map(|(_, t)| t.currency.as_str()).collect::<Vec<_>>())
        .bind(postings.iter().map(|(t, _)| t.id.as_str()).collect::<Vec<_>>())
        .bind(postings.iter().map(|(_, p)| p.account.id()).collect::<Vec<_>>())
        .bind(postings.iter().map(|(_, p)| p.account.seller_id.as_deref()).collect::<Vec<_>>())
        .bind(postings.iter().map(|(t, _)| t.currency.as_str()).collect::<Vec<_>>())
        .bind(postings.iter().map(|(_, p)| p.account.bucket.as_str()).collect::<Vec<_>>())
        .bind(postings.iter().map(|(_, p)| p.amount).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.event_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.order_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.kind.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.seller_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.currency.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.amount).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.fee_requested).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.fee).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.transfer_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record.schedules_release).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
        .fetch_one(&mut **self)
        .await?;
        if events != rows.len() as i64 || stored != postings.len() as i64 || unbalanced != 0 {
            return Err(LedgerError::Db(corrupt(format!(
                "{} events stored as {events} events and {stored} of {} postings, \
                 {unbalanced} transfers unbalanced",
                rows.len(),
                postings.len()
            ))));
        }
        Ok(())
    }
}

impl EventTx for sqlx::Transaction<'static, sqlx::Sqlite> {
    async fn lock_accounts(&mut self, accounts: &[Account], now: i64) -> Result<(), LedgerError> {
        // `BEGIN IMMEDIATE` already holds the database's single write lock.
        for chunk in accounts.chunks(ACCOUNTS_PER_INSERT) {
            insert_accounts::<sqlx::Sqlite>(chunk, now)
                .execute(&mut **self)
                .await?;
        }
        Ok(())
    }

    async fn events_and_latest(&mut self, keys: &[(&str, &str)]) -> Result<Known, LedgerError> {
        let sql = event_and_latest_sql();
        let mut known = Known::default();
        for (id, order_id) in keys {
            let rows: Vec<JoinedRow> = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(order_id)
                .fetch_all(&mut **self)
                .await?;
            split_joined(rows, &mut known);
        }
        Ok(known)
    }

    async fn write_events(&mut self, rows: &[NewEventRow]) -> Result<(), LedgerError> {
        for row in rows {
            let record = &row.record;
            if let Some(t) = &row.transfer {
                let conn = &mut **self;
                write_transfer!(
                    conn,
                    t,
                    Some(record.order_id.as_str()),
                    record.event_id.clone(),
                    Some(record.seller_id.as_str()),
                    record.created_at
                );
            }
            insert_event_row::<sqlx::Sqlite>(row)
                .execute(&mut **self)
                .await?;
        }
        Ok(())
    }
}

fn insert_event_row<'q, DB: sqlx::Database>(
    row: &'q NewEventRow,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let record = &row.record;
    sqlx::query(
        "INSERT INTO ledger_events (id, event_id, order_id, seq, kind, seller_id, currency, amount, \
         fee_requested, fee, transfer_id, release_at, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(record.id.as_str())
    .bind(&record.event_id)
    .bind(record.order_id.as_str())
    .bind(row.seq)
    .bind(record.kind.as_str())
    .bind(record.seller_id.as_str())
    .bind(record.currency.as_str())
    .bind(record.amount)
    .bind(record.fee_requested)
    .bind(record.fee)
    .bind(&record.transfer_id)
    .bind(record.schedules_release)
    .bind(&row.state)
    .bind(record.created_at)
}
