//! Export tables: sellers' marketplace connections (credentials sealed), export
//! runs with one item row per listing, and what each marketplace holds of a
//! listing (its remote id and a hash of what was sent).

use super::{Db, DbError, now_ms, on_pool};
use crate::export::{ExportMode, FileFormat, ItemStatus, RunStatus};
use fleet_jobs::export::Marketplace;
use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// A stored connection; `credentials` is the sealed secret part.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    /// Owning seller.
    pub seller_id: String,
    /// The marketplace.
    pub marketplace: Marketplace,
    /// Sealed secret fields (see [`crate::export::connection`]).
    pub credentials: String,
    /// Non-secret fields.
    pub settings: Map<String, Value>,
    /// `untested`, `ok`, `unauthorized` or `unreachable`.
    pub status: String,
    /// What the last test or export found, in plain words.
    pub status_message: Option<String>,
    /// When it was last tested (ms since epoch).
    pub tested_at: Option<i64>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last change (ms since epoch).
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    seller_id: String,
    marketplace: String,
    credentials: String,
    settings: String,
    status: String,
    status_message: Option<String>,
    tested_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn corrupt(table: &'static str, message: String) -> DbError {
    DbError::Corrupt { table, message }
}

impl TryFrom<ConnectionRow> for ConnectionRecord {
    type Error = DbError;

    fn try_from(r: ConnectionRow) -> Result<Self, DbError> {
        let bad = |what: &str| {
            corrupt(
                "export_connections",
                format!("{} {}: {what}", r.seller_id, r.marketplace),
            )
        };
        Ok(ConnectionRecord {
            marketplace: Marketplace::parse(&r.marketplace).ok_or_else(|| bad("marketplace"))?,
            settings: serde_json::from_str(&r.settings).map_err(|_| bad("settings"))?,
            seller_id: r.seller_id,
            credentials: r.credentials,
            status: r.status,
            status_message: r.status_message,
            tested_at: r.tested_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// An export run as stored, with its item counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Id (a ULID).
    pub id: String,
    /// Owning seller.
    pub seller_id: String,
    /// Target marketplace.
    pub marketplace: Marketplace,
    /// Push or file.
    pub mode: ExportMode,
    /// File format of a file-mode run.
    pub format: Option<FileFormat>,
    /// Validate and plan only; nothing is sent.
    pub dry_run: bool,
    /// The selection the seller posted (`{ids}` or `{all, filter}`).
    pub selection: Value,
    /// Where the run is.
    pub status: RunStatus,
    /// Why it failed, in plain words.
    pub error: Option<String>,
    /// Chunks planned.
    pub chunks: i64,
    /// Pass number: 0, then one more per retry of failed items.
    pub pass: i64,
    /// Blob keys of the files a file-mode run wrote.
    pub files: Vec<String>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last change (ms since epoch).
    pub updated_at: i64,
    /// When it reached a final status.
    pub finished_at: Option<i64>,
    /// Item counts by status.
    pub totals: RunTotals,
}

/// A run's item counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RunTotals {
    /// Listings in the run.
    pub total: i64,
    /// Not done yet.
    pub pending: i64,
    /// Accepted by the marketplace (or written to the file).
    pub succeeded: i64,
    /// Refused or invalid.
    pub failed: i64,
    /// Unchanged since the last export, or cancelled.
    pub skipped: i64,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    seller_id: String,
    marketplace: String,
    mode: String,
    format: Option<String>,
    dry_run: bool,
    selection: String,
    status: String,
    error: Option<String>,
    chunks: i64,
    pass: i64,
    files: String,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

const RUN_COLUMNS: &str = "id, seller_id, marketplace, mode, format, dry_run, selection, status, error, \
    chunks, pass, files, created_at, updated_at, finished_at";

impl RunRow {
    fn into_record(self, totals: RunTotals) -> Result<RunRecord, DbError> {
        let bad = |what: &str| corrupt("export_runs", format!("{}: {what}", self.id));
        Ok(RunRecord {
            marketplace: Marketplace::parse(&self.marketplace).ok_or_else(|| bad("marketplace"))?,
            mode: ExportMode::parse(&self.mode).ok_or_else(|| bad("mode"))?,
            format: match &self.format {
                Some(f) => Some(FileFormat::parse(f).ok_or_else(|| bad("format"))?),
                None => None,
            },
            status: RunStatus::parse(&self.status).ok_or_else(|| bad("status"))?,
            selection: serde_json::from_str(&self.selection).map_err(|_| bad("selection"))?,
            files: serde_json::from_str(&self.files).map_err(|_| bad("files"))?,
            id: self.id,
            seller_id: self.seller_id,
            dry_run: self.dry_run,
            error: self.error,
            chunks: self.chunks,
            pass: self.pass,
            created_at: self.created_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
            totals,
        })
    }
}

/// A new run.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Id (a ULID).
    pub id: String,
    /// Owning seller.
    pub seller_id: String,
    /// Target marketplace.
    pub marketplace: Marketplace,
    /// Push or file.
    pub mode: ExportMode,
    /// File format (file mode).
    pub format: Option<FileFormat>,
    /// Send nothing.
    pub dry_run: bool,
    /// The selection as posted.
    pub selection: Value,
}

/// One listing of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    /// The listing.
    pub listing_id: String,
    /// Its SKU when the run was planned.
    pub sku: Option<String>,
    /// The chunk that exports it.
    pub chunk: i64,
    /// Where it is.
    pub status: ItemStatus,
    /// Why it failed or was skipped, in plain words.
    pub error: Option<String>,
    /// What a succeeded item left out, in plain words.
    pub warning: Option<String>,
    /// The marketplace's id for it, once accepted.
    pub remote_id: Option<String>,
    /// Last change (ms since epoch).
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    listing_id: String,
    sku: Option<String>,
    chunk: i64,
    status: String,
    error: Option<String>,
    warning: Option<String>,
    remote_id: Option<String>,
    updated_at: i64,
}

impl TryFrom<ItemRow> for ItemRecord {
    type Error = DbError;

    fn try_from(r: ItemRow) -> Result<Self, DbError> {
        Ok(ItemRecord {
            status: ItemStatus::parse(&r.status).ok_or_else(|| {
                corrupt(
                    "export_items",
                    format!("{}: status {}", r.listing_id, r.status),
                )
            })?,
            listing_id: r.listing_id,
            sku: r.sku,
            chunk: r.chunk,
            error: r.error,
            warning: r.warning,
            remote_id: r.remote_id,
            updated_at: r.updated_at,
        })
    }
}

/// What a marketplace holds of one listing.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RemoteRecord {
    /// The listing.
    pub listing_id: String,
    /// The marketplace's id.
    pub remote_id: String,
    /// The handle or SKU it was created under.
    pub handle: Option<String>,
    /// Hash of what was last sent.
    pub content_hash: String,
}

const REMOTE_UPSERT: &str = "INSERT INTO export_remote_ids (seller_id, marketplace, listing_id, remote_id, \
    handle, content_hash, exported_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (seller_id, marketplace, listing_id) DO UPDATE SET remote_id = excluded.remote_id, \
    handle = excluded.handle, content_hash = excluded.content_hash, exported_at = excluded.exported_at";

impl Db {
    /// Creates or replaces `seller_id`'s connection to `marketplace`; its status becomes `untested`.
    pub async fn put_connection(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        credentials: &str,
        settings: &Map<String, Value>,
    ) -> Result<ConnectionRecord, DbError> {
        let now = now_ms();
        let settings = Value::Object(settings.clone()).to_string();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO export_connections (seller_id, marketplace, credentials, settings, status, \
             status_message, tested_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'untested', NULL, NULL, $5, $5) \
             ON CONFLICT (seller_id, marketplace) DO UPDATE SET credentials = excluded.credentials, \
             settings = excluded.settings, status = 'untested', status_message = NULL, \
             tested_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(seller_id)
        .bind(marketplace.as_str())
        .bind(credentials)
        .bind(&settings)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        self.connection(seller_id, marketplace)
            .await?
            .ok_or_else(|| corrupt("export_connections", "vanished after insert".to_owned()))
    }

    /// `seller_id`'s connection to `marketplace`, if any.
    pub async fn connection(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
    ) -> Result<Option<ConnectionRecord>, DbError> {
        let row: Option<ConnectionRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT seller_id, marketplace, credentials, settings, status, status_message, tested_at, \
             created_at, updated_at FROM export_connections WHERE seller_id = $1 AND marketplace = $2",
        )
        .bind(seller_id)
        .bind(marketplace.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(ConnectionRecord::try_from).transpose()
    }

    /// Replaces the sealed credentials (a refreshed token), keeping everything else.
    pub async fn set_connection_credentials(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        credentials: &str,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE export_connections SET credentials = $1, updated_at = $2 \
             WHERE seller_id = $3 AND marketplace = $4",
        )
        .bind(credentials)
        .bind(now_ms())
        .bind(seller_id)
        .bind(marketplace.as_str())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records what a test or an export found about the connection.
    pub async fn set_connection_status(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        status: &str,
        message: Option<&str>,
    ) -> Result<(), DbError> {
        let now = now_ms();
        on_pool!(self, pool => sqlx::query(
            "UPDATE export_connections SET status = $1, status_message = $2, tested_at = $3, updated_at = $3 \
             WHERE seller_id = $4 AND marketplace = $5",
        )
        .bind(status)
        .bind(message)
        .bind(now)
        .bind(seller_id)
        .bind(marketplace.as_str())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Deletes the connection; false if there was none.
    pub async fn delete_connection(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
    ) -> Result<bool, DbError> {
        let deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM export_connections WHERE seller_id = $1 AND marketplace = $2",
        )
        .bind(seller_id)
        .bind(marketplace.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted == 1)
    }

    /// Stores a new run in `planning`.
    pub async fn create_run(&self, run: &NewRun) -> Result<RunRecord, DbError> {
        let now = now_ms();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO export_runs (id, seller_id, marketplace, mode, format, dry_run, selection, status, \
             error, chunks, pass, files, created_at, updated_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'planning', NULL, 0, 0, '[]', $8, $8, NULL)",
        )
        .bind(&run.id)
        .bind(&run.seller_id)
        .bind(run.marketplace.as_str())
        .bind(run.mode.as_str())
        .bind(run.format.map(FileFormat::as_str))
        .bind(run.dry_run)
        .bind(run.selection.to_string())
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        self.run(&run.id)
            .await?
            .ok_or_else(|| corrupt("export_runs", "vanished after insert".to_owned()))
    }

    /// The run `id` with its totals, if it exists.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>, DbError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM export_runs WHERE id = $1");
        let row: Option<RunRow> = on_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        match row {
            Some(row) => {
                let totals = self.run_totals(id).await?;
                row.into_record(totals).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The status of run `id`, if it exists (cheaper than [`Db::run`]).
    pub async fn run_status(&self, id: &str) -> Result<Option<RunStatus>, DbError> {
        let status: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT status FROM export_runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(status.as_deref().and_then(RunStatus::parse))
    }

    /// Up to `limit` of `seller_id`'s runs, newest first, older than the run `before`.
    pub async fn list_runs(
        &self,
        seller_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, DbError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM export_runs WHERE seller_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<RunRow> = on_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(seller_id)
            .bind(before.unwrap_or("~"))
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut totals = self.runs_totals(&ids).await?;
        rows.into_iter()
            .map(|row| {
                let t = totals.remove(&row.id).unwrap_or_default();
                row.into_record(t)
            })
            .collect()
    }

    /// Item counts of run `id` by status.
    pub async fn run_totals(&self, id: &str) -> Result<RunTotals, DbError> {
        Ok(self
            .runs_totals(&[id])
            .await?
            .remove(id)
            .unwrap_or_default())
    }

    /// Item counts by status of each of the runs `ids` (one query for a page of runs).
    async fn runs_totals(&self, ids: &[&str]) -> Result<HashMap<String, RunTotals>, DbError> {
        let mut out: HashMap<String, RunTotals> = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(String, String, i64)> = on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT run_id, status, COUNT(*) FROM export_items WHERE run_id IN (",
            );
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            q.push(") GROUP BY run_id, status");
            q.build_query_as().fetch_all(pool).await
        })?;
        for (run, status, n) in rows {
            let totals = out.entry(run).or_default();
            totals.total += n;
            match ItemStatus::parse(&status) {
                Some(ItemStatus::Pending) => totals.pending += n,
                Some(ItemStatus::Succeeded) => totals.succeeded += n,
                Some(ItemStatus::Failed) => totals.failed += n,
                Some(ItemStatus::Skipped) => totals.skipped += n,
                None => {}
            }
        }
        Ok(out)
    }

    /// Adds `(listing_id, sku, chunk)` items to run `id` as pending; items already there stay as they are.
    pub async fn add_run_items(
        &self,
        id: &str,
        items: &[(String, String, i64)],
    ) -> Result<(), DbError> {
        let now = now_ms();
        for batch in items.chunks(200) {
            let mut sql = String::from(
                "INSERT INTO export_items (run_id, listing_id, sku, chunk, status, error, remote_id, updated_at) VALUES ",
            );
            for i in 0..batch.len() {
                let p = i * 3;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "($1, ${}, ${}, ${}, 'pending', NULL, NULL, $2)",
                    p + 3,
                    p + 4,
                    p + 5
                ));
            }
            sql.push_str(" ON CONFLICT (run_id, listing_id) DO NOTHING");
            on_pool!(self, pool => {
                let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(id).bind(now);
                for (listing, sku, chunk) in batch {
                    q = q.bind(listing).bind(sku).bind(*chunk);
                }
                q.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Marks run `id` planned and running (unless it was cancelled meanwhile); returns
    /// its chunk count (one more than the highest chunk of its items), or None if cancelled.
    pub async fn set_run_planned(&self, id: &str) -> Result<Option<i64>, DbError> {
        let chunks: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "UPDATE export_runs SET chunks = (SELECT COALESCE(MAX(chunk) + 1, 0) FROM export_items \
             WHERE run_id = $1), status = 'running', updated_at = $2 \
             WHERE id = $1 AND status IN ('planning', 'running') RETURNING chunks",
        )
        .bind(id)
        .bind(now_ms())
        .fetch_optional(pool)
        .await)?;
        Ok(chunks)
    }

    /// Listing ids of chunk `chunk` of run `id` still pending, in id order.
    pub async fn pending_chunk_items(&self, id: &str, chunk: i64) -> Result<Vec<String>, DbError> {
        let ids: Vec<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT listing_id FROM export_items WHERE run_id = $1 AND chunk = $2 AND status = 'pending' \
             ORDER BY listing_id",
        )
        .bind(id)
        .bind(chunk)
        .fetch_all(pool)
        .await)?;
        Ok(ids)
    }

    /// Up to `limit` items of run `id` after listing id `after`, all or of one status.
    pub async fn run_items(
        &self,
        id: &str,
        status: Option<ItemStatus>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ItemRecord>, DbError> {
        let by_status = if status.is_some() {
            " AND status = $4"
        } else {
            ""
        };
        let sql = format!(
            "SELECT listing_id, sku, chunk, status, error, warning, remote_id, updated_at FROM export_items \
             WHERE run_id = $1 AND listing_id > $2{by_status} ORDER BY listing_id LIMIT $3"
        );
        let rows: Vec<ItemRow> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(after.unwrap_or(""))
                .bind(limit);
            if let Some(status) = status {
                q = q.bind(status.as_str());
            }
            q.fetch_all(pool).await
        })?;
        rows.into_iter().map(ItemRecord::try_from).collect()
    }

    /// Settles one pending item of run `id`; false when it was no longer pending (cancelled).
    pub async fn settle_item(
        &self,
        id: &str,
        listing_id: &str,
        status: ItemStatus,
        error: Option<&str>,
        remote_id: Option<&str>,
    ) -> Result<bool, DbError> {
        let updated = on_pool!(self, pool => sqlx::query(
            "UPDATE export_items SET status = $1, error = $2, remote_id = $3, updated_at = $4, \
             warning = CASE WHEN $1 = 'succeeded' THEN warning ELSE NULL END \
             WHERE run_id = $5 AND listing_id = $6 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(remote_id)
        .bind(now_ms())
        .bind(id)
        .bind(listing_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(updated == 1)
    }

    /// Notes on a still pending item what its export leaves out (kept when it succeeds).
    pub async fn set_item_warning(
        &self,
        id: &str,
        listing_id: &str,
        warning: &str,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE export_items SET warning = $1, updated_at = $2 \
             WHERE run_id = $3 AND listing_id = $4 AND status = 'pending'",
        )
        .bind(warning)
        .bind(now_ms())
        .bind(id)
        .bind(listing_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Records that `marketplace` holds `remote` for `seller_id` (before the item settles:
    /// a listing created in several calls is found again if the chunk is redone).
    pub async fn put_remote_listing(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        remote: &RemoteRecord,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(REMOTE_UPSERT)
            .bind(seller_id)
            .bind(marketplace.as_str())
            .bind(&remote.listing_id)
            .bind(&remote.remote_id)
            .bind(&remote.handle)
            .bind(&remote.content_hash)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records in one transaction that `marketplace` accepted `remote` and that the item succeeded.
    pub async fn settle_exported(
        &self,
        id: &str,
        seller_id: &str,
        marketplace: Marketplace,
        remote: &RemoteRecord,
    ) -> Result<(), DbError> {
        let now = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(REMOTE_UPSERT)
            .bind(seller_id)
            .bind(marketplace.as_str())
            .bind(&remote.listing_id)
            .bind(&remote.remote_id)
            .bind(&remote.handle)
            .bind(&remote.content_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE export_items SET status = 'succeeded', error = NULL, remote_id = $1, updated_at = $2 \
                 WHERE run_id = $3 AND listing_id = $4 AND status = 'pending'",
            )
            .bind(&remote.remote_id)
            .bind(now)
            .bind(id)
            .bind(&remote.listing_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Settles every still pending item of run `id` as `status` (a file run that wrote them all).
    pub async fn settle_pending_items(&self, id: &str, status: ItemStatus) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE export_items SET status = $1, updated_at = $2 WHERE run_id = $3 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Fails every pending item of run `id` with `error` and the run with `run_error` (a stop: revoked credentials).
    pub async fn stop_run(&self, id: &str, error: &str, run_error: &str) -> Result<(), DbError> {
        let now = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE export_items SET status = 'failed', error = $1, updated_at = $2 \
                 WHERE run_id = $3 AND status = 'pending'",
            )
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE export_runs SET status = 'failed', error = $1, updated_at = $2, finished_at = $2 \
                 WHERE id = $3 AND status IN ('planning', 'running')",
            )
            .bind(run_error)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Moves run `id` to its final status when no item is pending; returns the status it has then.
    pub async fn finish_run_if_done(&self, id: &str) -> Result<Option<RunStatus>, DbError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE export_runs SET status = CASE WHEN EXISTS (SELECT 1 FROM export_items \
             WHERE run_id = $1 AND status = 'failed') THEN 'completed_with_errors' ELSE 'succeeded' END, \
             updated_at = $2, finished_at = $2 \
             WHERE id = $1 AND status = 'running' AND NOT EXISTS (SELECT 1 FROM export_items \
             WHERE run_id = $1 AND status = 'pending')",
        )
        .bind(id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ()))?;
        self.run_status(id).await
    }

    /// Cancels run `id` unless it is final: pending items become skipped. Returns whether it was cancelled.
    pub async fn cancel_run(&self, id: &str) -> Result<bool, DbError> {
        let now = now_ms();
        let cancelled = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE export_runs SET status = 'cancelled', updated_at = $1, finished_at = $1 \
                 WHERE id = $2 AND status IN ('planning', 'running')",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE export_items SET status = 'skipped', error = 'cancelled', updated_at = $1 \
                     WHERE run_id = $2 AND status = 'pending'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n == 1)
        })?;
        Ok(cancelled)
    }

    /// Makes the failed items of final run `id` pending again under a new pass; returns
    /// the pass and the chunks to run, or None when the run is not final or was cancelled.
    pub async fn retry_failed_items(&self, id: &str) -> Result<Option<(i64, Vec<i64>)>, DbError> {
        let now = now_ms();
        let retried = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let pass: Option<i64> = sqlx::query_scalar(
                "UPDATE export_runs SET status = 'running', error = NULL, pass = pass + 1, \
                 updated_at = $1, finished_at = NULL \
                 WHERE id = $2 AND status IN ('completed_with_errors', 'failed') RETURNING pass",
            )
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(pass) = pass else {
                return Ok(None);
            };
            sqlx::query(
                "UPDATE export_items SET status = 'pending', error = NULL, warning = NULL, updated_at = $1 \
                 WHERE run_id = $2 AND status = 'failed'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let chunks: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT chunk FROM export_items WHERE run_id = $1 AND status = 'pending' ORDER BY chunk",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some((pass, chunks)))
        })?;
        Ok(retried)
    }

    /// Records the files a file-mode run wrote.
    pub async fn set_run_files(&self, id: &str, files: &[String]) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE export_runs SET files = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(serde_json::to_string(files).unwrap_or_else(|_| "[]".to_owned()))
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// What `marketplace` holds of `seller_id`'s listings among `listing_ids`, by listing id.
    pub async fn remote_listings(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        listing_ids: &[String],
    ) -> Result<HashMap<String, RemoteRecord>, DbError> {
        let mut out = HashMap::with_capacity(listing_ids.len());
        for chunk in listing_ids.chunks(500) {
            let marks = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT listing_id, remote_id, handle, content_hash FROM export_remote_ids \
                 WHERE seller_id = $1 AND marketplace = $2 AND listing_id IN ({marks})"
            );
            let rows: Vec<RemoteRecord> = on_pool!(self, pool => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql.clone()))
                    .bind(seller_id)
                    .bind(marketplace.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await
            })?;
            out.extend(rows.into_iter().map(|r| (r.listing_id.clone(), r)));
        }
        Ok(out)
    }
}
