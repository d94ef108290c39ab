//! The categorize worker's tables: results cached by a hash of the text, and
//! the latest suggestions of each listing with what was done with them.

use super::{Db, DbError, now_ms, on_pool};

/// The stored suggestions of one listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingSuggestions {
    /// The listing.
    pub listing_id: String,
    /// Cache key of the text they were computed from.
    pub text_key: String,
    /// The classification, as JSON.
    pub result: String,
    /// The category applied from them, if any.
    pub applied_gid: Option<String>,
    /// `applied`, `below_threshold`, `seller_set`, `no_listing` or `pending`.
    pub outcome: String,
    /// When (ms since epoch).
    pub updated_at: i64,
}

impl Db {
    /// A cached classification (JSON) by key.
    pub async fn categorize_cached(&self, key: &str) -> Result<Option<String>, DbError> {
        let row: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT result FROM categorize_results WHERE key = $1")
            .bind(key).fetch_optional(pool).await)?;
        Ok(row)
    }

    /// Stores a classification (JSON) under `key`; an existing entry is kept.
    pub async fn categorize_store(
        &self,
        key: &str,
        provider: &str,
        result: &str,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO categorize_results (key, provider, result, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO NOTHING")
            .bind(key).bind(provider).bind(result).bind(now_ms())
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Records a listing's latest suggestions and outcome (replacing older ones).
    pub async fn categorize_record(&self, s: &ListingSuggestions) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO categorize_suggestions (listing_id, text_key, result, applied_gid, outcome, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (listing_id) DO UPDATE SET text_key = excluded.text_key, result = excluded.result,
                applied_gid = excluded.applied_gid, outcome = excluded.outcome, updated_at = excluded.updated_at")
            .bind(&s.listing_id).bind(&s.text_key).bind(&s.result).bind(&s.applied_gid)
            .bind(&s.outcome).bind(s.updated_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// A listing's latest suggestions.
    pub async fn categorize_suggestions(
        &self,
        listing_id: &str,
    ) -> Result<Option<ListingSuggestions>, DbError> {
        let row: Option<(String, String, String, Option<String>, String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT listing_id, text_key, result, applied_gid, outcome, updated_at
             FROM categorize_suggestions WHERE listing_id = $1")
            .bind(listing_id).fetch_optional(pool).await)?;
        Ok(row.map(
            |(listing_id, text_key, result, applied_gid, outcome, updated_at)| ListingSuggestions {
                listing_id,
                text_key,
                result,
                applied_gid,
                outcome,
                updated_at,
            },
        ))
    }
}
