//! Stored responses of POSTs sent with an `Idempotency-Key`, replayed on repeat.

use super::{Db, DbError, now_ms, on_pool};

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// SHA-256 of method, path and body of the original request.
    pub request_hash: String,
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

impl Db {
    /// The response stored for `(credential, key)`, if any.
    pub async fn stored_response(
        &self,
        credential: &str,
        key: &str,
    ) -> Result<Option<StoredResponse>, DbError> {
        let row: Option<(String, i32, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT request_hash, status, body FROM idempotency_keys WHERE credential = $1 AND key = $2",
        )
        .bind(credential)
        .bind(key)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(request_hash, status, body)| StoredResponse {
            request_hash,
            status: u16::try_from(status).unwrap_or(500),
            body,
        }))
    }

    /// Keeps a response; the first stored response for a key wins.
    pub async fn store_response(
        &self,
        credential: &str,
        key: &str,
        method: &str,
        path: &str,
        response: &StoredResponse,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO idempotency_keys (credential, key, method, path, request_hash, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(credential)
        .bind(key)
        .bind(method)
        .bind(path)
        .bind(&response.request_hash)
        .bind(i32::from(response.status))
        .bind(&response.body)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
