//! Sellers' category-map overrides: per seller and marketplace, a Fleet
//! category (short Shopify taxonomy id) and the Etsy taxonomy id or Amazon
//! product type everything under it maps to.

use super::{Db, DbError, now_ms, on_pool};
use crate::export::category_map::CategoryMap;
use fleet_jobs::export::Marketplace;

/// One stored override.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CategoryOverride {
    /// Short category id (`aa-1-13`).
    pub category: String,
    /// Etsy taxonomy id or Amazon product type.
    pub target: String,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last change (ms since epoch).
    pub updated_at: i64,
}

impl Db {
    /// Creates or replaces `seller_id`'s overrides of `marketplace`, all or none.
    pub async fn put_category_overrides(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        entries: &[(String, String)],
    ) -> Result<(), DbError> {
        let now = now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (category, target) in entries {
                sqlx::query(
                    "INSERT INTO export_category_overrides (seller_id, marketplace, category, target, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (seller_id, marketplace, category) DO UPDATE SET \
                     target = excluded.target, updated_at = excluded.updated_at",
                )
                .bind(seller_id)
                .bind(marketplace.as_str())
                .bind(category)
                .bind(target)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Up to `limit` of `seller_id`'s overrides of `marketplace` after category `after`, by category.
    pub async fn category_overrides(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CategoryOverride>, DbError> {
        let rows = on_pool!(self, pool => sqlx::query_as(
            "SELECT category, target, created_at, updated_at FROM export_category_overrides \
             WHERE seller_id = $1 AND marketplace = $2 AND category > $3 ORDER BY category LIMIT $4",
        )
        .bind(seller_id)
        .bind(marketplace.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }

    /// `seller_id`'s whole category map of `marketplace` (at most one override per taxonomy category).
    pub async fn category_map(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
    ) -> Result<CategoryMap, DbError> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT category, target FROM export_category_overrides \
             WHERE seller_id = $1 AND marketplace = $2",
        )
        .bind(seller_id)
        .bind(marketplace.as_str())
        .fetch_all(pool)
        .await)?;
        Ok(CategoryMap::new(marketplace, rows))
    }

    /// Deletes one override; false if there was none.
    pub async fn delete_category_override(
        &self,
        seller_id: &str,
        marketplace: Marketplace,
        category: &str,
    ) -> Result<bool, DbError> {
        let deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM export_category_overrides \
             WHERE seller_id = $1 AND marketplace = $2 AND category = $3",
        )
        .bind(seller_id)
        .bind(marketplace.as_str())
        .bind(category)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted == 1)
    }
}
