//! Uploaded media: the `media` table the API writes at upload time and the
//! media worker completes.

use super::{Db, DbError, now_ms, on_pool};
use serde::{Deserialize, Serialize};

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaStatus {
    /// A URL was issued; the bytes have not been confirmed.
    AwaitingUpload,
    /// Uploaded and queued or being processed.
    Processing,
    /// Variants are ready.
    Ready,
    /// Processing failed; `error` says why.
    Failed,
}

impl MediaStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::AwaitingUpload => "awaiting_upload",
            MediaStatus::Processing => "processing",
            MediaStatus::Ready => "ready",
            MediaStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> MediaStatus {
        match s {
            "processing" => MediaStatus::Processing,
            "ready" => MediaStatus::Ready,
            "failed" => MediaStatus::Failed,
            _ => MediaStatus::AwaitingUpload,
        }
    }
}

/// One stored variant of a media item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVariant {
    /// Ladder name (`"640"`).
    pub name: String,
    /// Blob key.
    pub key: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `jpeg`, `webp` or `mp4`.
    pub format: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A row of the `media` table.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRecord {
    /// Id (a ULID).
    pub id: String,
    /// Owning seller, if any.
    pub seller_id: Option<String>,
    /// Uploading end user, if any.
    pub user_id: Option<String>,
    /// `listing_photo`, `avatar` or `listing_video`.
    pub purpose: String,
    /// Life-cycle state.
    pub status: MediaStatus,
    /// Content type the client declared.
    pub content_type: String,
    /// Size the client declared, in bytes.
    pub size_bytes: i64,
    /// Original file name, if given.
    pub filename: Option<String>,
    /// Blob key of the uploaded source.
    pub source_key: String,
    /// SHA-256 (hex) of the source, once processed.
    pub source_sha256: Option<String>,
    /// The processing job, once enqueued.
    pub job_id: Option<String>,
    /// Real format found in the bytes.
    pub format: Option<String>,
    /// Upright width.
    pub width: Option<i32>,
    /// Upright height.
    pub height: Option<i32>,
    /// Duration of a video, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Variants made.
    pub variants: Vec<StoredVariant>,
    /// BlurHash placeholder.
    pub blurhash: Option<String>,
    /// ThumbHash placeholder (base64).
    pub thumbhash: Option<String>,
    /// Why processing failed.
    pub error: Option<String>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last change (ms since epoch).
    pub updated_at: i64,
}

/// A new upload.
#[derive(Debug, Clone)]
pub struct NewMedia {
    /// Id (a ULID).
    pub id: String,
    /// Owning seller, if any.
    pub seller_id: Option<String>,
    /// Uploading end user, if any.
    pub user_id: Option<String>,
    /// Purpose.
    pub purpose: String,
    /// Declared content type.
    pub content_type: String,
    /// Declared size.
    pub size_bytes: i64,
    /// Original file name.
    pub filename: Option<String>,
    /// Where the client uploads the source.
    pub source_key: String,
}

/// What processing found and made.
#[derive(Debug, Clone)]
pub struct MediaResult {
    /// SHA-256 of the source.
    pub source_sha256: String,
    /// Real format.
    pub format: String,
    /// Upright width.
    pub width: i32,
    /// Upright height.
    pub height: i32,
    /// Duration of a video, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Variants.
    pub variants: Vec<StoredVariant>,
    /// BlurHash.
    pub blurhash: Option<String>,
    /// ThumbHash.
    pub thumbhash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    seller_id: Option<String>,
    user_id: Option<String>,
    purpose: String,
    status: String,
    content_type: String,
    size_bytes: i64,
    filename: Option<String>,
    source_key: String,
    source_sha256: Option<String>,
    job_id: Option<String>,
    format: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
    duration_ms: Option<i64>,
    variants: Option<String>,
    blurhash: Option<String>,
    thumbhash: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, seller_id, user_id, purpose, status, content_type, size_bytes, filename, source_key, \
    source_sha256, job_id, format, width, height, duration_ms, variants, blurhash, thumbhash, error, created_at, updated_at";

impl From<Row> for MediaRecord {
    fn from(r: Row) -> Self {
        MediaRecord {
            id: r.id,
            seller_id: r.seller_id,
            user_id: r.user_id,
            purpose: r.purpose,
            status: MediaStatus::parse(&r.status),
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            filename: r.filename,
            source_key: r.source_key,
            source_sha256: r.source_sha256,
            job_id: r.job_id,
            format: r.format,
            width: r.width,
            height: r.height,
            duration_ms: r.duration_ms,
            variants: r
                .variants
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default(),
            blurhash: r.blurhash,
            thumbhash: r.thumbhash,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Db {
    /// Records a new upload awaiting its bytes.
    pub async fn insert_media(&self, media: &NewMedia) -> Result<MediaRecord, DbError> {
        let now = now_ms();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO media (id, seller_id, user_id, purpose, status, content_type, size_bytes, filename, \
             source_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(&media.id)
        .bind(&media.seller_id)
        .bind(&media.user_id)
        .bind(&media.purpose)
        .bind(MediaStatus::AwaitingUpload.as_str())
        .bind(&media.content_type)
        .bind(media.size_bytes)
        .bind(&media.filename)
        .bind(&media.source_key)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        self.media(&media.id)
            .await?
            .ok_or_else(|| DbError::Corrupt {
                table: "media",
                message: format!("row {} missing after insert", media.id),
            })
    }

    /// The media item `id`, if it exists.
    pub async fn media(&self, id: &str) -> Result<Option<MediaRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM media WHERE id = $1");
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(MediaRecord::from))
    }

    /// A processed item with the same source digest, whose variants can be reused.
    pub async fn ready_media_by_sha(&self, sha256: &str) -> Result<Option<MediaRecord>, DbError> {
        let sql =
            format!("SELECT {COLUMNS} FROM media WHERE source_sha256 = $1 AND status = $2 LIMIT 1");
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(sha256)
            .bind(MediaStatus::Ready.as_str())
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(MediaRecord::from))
    }

    /// Moves an upload to `processing` with its job; false if it was not awaiting upload.
    pub async fn media_uploaded(&self, id: &str, job_id: &str) -> Result<bool, DbError> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE media SET status = $1, job_id = $2, error = NULL, updated_at = $3 WHERE id = $4 AND status = $5",
        )
        .bind(MediaStatus::Processing.as_str())
        .bind(job_id)
        .bind(now_ms())
        .bind(id)
        .bind(MediaStatus::AwaitingUpload.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records the variants of a processed item.
    pub async fn media_ready(&self, id: &str, result: &MediaResult) -> Result<(), DbError> {
        let variants = serde_json::to_string(&result.variants).unwrap_or_else(|_| "[]".to_owned());
        on_pool!(self, pool => sqlx::query(
            "UPDATE media SET status = $1, source_sha256 = $2, format = $3, width = $4, height = $5, variants = $6, \
             blurhash = $7, thumbhash = $8, duration_ms = $9, error = NULL, updated_at = $10 WHERE id = $11",
        )
        .bind(MediaStatus::Ready.as_str())
        .bind(&result.source_sha256)
        .bind(&result.format)
        .bind(result.width)
        .bind(result.height)
        .bind(variants)
        .bind(&result.blurhash)
        .bind(&result.thumbhash)
        .bind(result.duration_ms)
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(Into::into)
    }

    /// Marks an item failed with a reason for the uploader.
    pub async fn media_failed(&self, id: &str, error: &str) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query("UPDATE media SET status = $1, error = $2, updated_at = $3 WHERE id = $4")
            .bind(MediaStatus::Failed.as_str())
            .bind(error)
            .bind(now_ms())
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(Into::into)
    }

    /// Deletes the row of `id`; returns how many other items share its source digest.
    pub async fn delete_media(&self, id: &str, sha256: Option<&str>) -> Result<i64, DbError> {
        on_pool!(self, pool => sqlx::query("DELETE FROM media WHERE id = $1").bind(id).execute(pool).await.map(|_| ()))?;
        let Some(sha) = sha256 else { return Ok(0) };
        let others: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE source_sha256 = $1")
            .bind(sha)
            .fetch_one(pool)
            .await)?;
        Ok(others)
    }
}
