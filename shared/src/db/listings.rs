//! The sellers' catalogue: the `listings` table the API writes (batch upserts
//! keyed by seller and SKU) and the export worker reads.

use super::{Db, DbError, now_ms, on_pool};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;

/// An item's condition, as sellers state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Never used, with tags or in its box.
    New,
    /// Used, no visible wear.
    LikeNew,
    /// Used, light wear.
    Good,
    /// Used, visible wear.
    Fair,
    /// Heavily used or damaged.
    Poor,
}

impl Condition {
    /// Every condition, best first.
    pub const ALL: [Condition; 5] = [
        Condition::New,
        Condition::LikeNew,
        Condition::Good,
        Condition::Fair,
        Condition::Poor,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::New => "new",
            Condition::LikeNew => "like_new",
            Condition::Good => "good",
            Condition::Fair => "fair",
            Condition::Poor => "poor",
        }
    }

    /// The condition stored as `s`.
    pub fn parse(s: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Who chose a listing's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CategorySource {
    /// The seller set it.
    Seller,
    /// The categorize worker chose it.
    Auto,
}

impl CategorySource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CategorySource::Seller => "seller",
            CategorySource::Auto => "auto",
        }
    }

    fn parse(s: &str) -> Option<CategorySource> {
        match s {
            "seller" => Some(CategorySource::Seller),
            "auto" => Some(CategorySource::Auto),
            _ => None,
        }
    }
}

/// A listing as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingRecord {
    /// Id (a ULID).
    pub id: String,
    /// Owning seller.
    pub seller_id: String,
    /// The seller's stock-keeping unit, unique per seller.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Description (plain text).
    pub description: String,
    /// Price in minor units of `currency`; absent until the seller sets one.
    pub price_minor: Option<i64>,
    /// ISO 4217 currency of the price.
    pub currency: Option<String>,
    /// Units in stock.
    pub quantity: i64,
    /// Condition.
    pub condition: Condition,
    /// Brand.
    pub brand: Option<String>,
    /// Size as the seller writes it.
    pub size: Option<String>,
    /// Colour.
    pub colour: Option<String>,
    /// Material.
    pub material: Option<String>,
    /// Shopify taxonomy category gid.
    pub category: Option<String>,
    /// Who set `category`.
    pub category_source: Option<CategorySource>,
    /// Ranked category suggestions left by the categorize worker (JSON), if any.
    pub category_suggestions: Option<Value>,
    /// Media ids of the photos, in display order.
    pub images: Vec<String>,
    /// Free attributes (a JSON object).
    pub attributes: Map<String, Value>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last change (ms since epoch).
    pub updated_at: i64,
}

/// What happens to a listing's category on a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategoryChange {
    /// Leave it as it is (a new listing gets none).
    Keep,
    /// The seller sets it (or clears it with `None`).
    Seller(Option<String>),
}

/// The seller-controlled fields of a listing, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingWrite {
    /// SKU.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Price in minor units.
    pub price_minor: Option<i64>,
    /// Currency of the price.
    pub currency: Option<String>,
    /// Units in stock.
    pub quantity: i64,
    /// Condition.
    pub condition: Condition,
    /// Brand.
    pub brand: Option<String>,
    /// Size.
    pub size: Option<String>,
    /// Colour.
    pub colour: Option<String>,
    /// Material.
    pub material: Option<String>,
    /// Category change.
    pub category: CategoryChange,
    /// Media ids, ordered.
    pub images: Vec<String>,
    /// Free attributes.
    pub attributes: Map<String, Value>,
}

impl ListingWrite {
    /// The fields of `record`, category kept: the starting point of a partial update.
    pub fn from_record(record: &ListingRecord) -> ListingWrite {
        ListingWrite {
            sku: record.sku.clone(),
            title: record.title.clone(),
            description: record.description.clone(),
            price_minor: record.price_minor,
            currency: record.currency.clone(),
            quantity: record.quantity,
            condition: record.condition,
            brand: record.brand.clone(),
            size: record.size.clone(),
            colour: record.colour.clone(),
            material: record.material.clone(),
            category: CategoryChange::Keep,
            images: record.images.clone(),
            attributes: record.attributes.clone(),
        }
    }

    fn category_columns(&self) -> (bool, Option<&str>, Option<&'static str>) {
        match &self.category {
            CategoryChange::Keep => (true, None, None),
            CategoryChange::Seller(category) => (
                false,
                category.as_deref(),
                category.as_ref().map(|_| CategorySource::Seller.as_str()),
            ),
        }
    }
}

/// The result of upserting one listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The listing's id.
    pub id: String,
    /// True when the SKU was new for the seller.
    pub created: bool,
}

/// Which of a seller's listings to read; every field narrows the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingFilter {
    /// Exactly this SKU.
    pub sku: Option<String>,
    /// This condition.
    pub condition: Option<Condition>,
    /// This category gid.
    pub category: Option<String>,
    /// Only listings with (true) or without (false) a category.
    pub has_category: Option<bool>,
    /// This brand (exact).
    pub brand: Option<String>,
    /// Changed at or after this time (ms since epoch).
    pub updated_since: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    seller_id: String,
    sku: String,
    title: String,
    description: String,
    price_minor: Option<i64>,
    currency: Option<String>,
    quantity: i64,
    condition: String,
    brand: Option<String>,
    size: Option<String>,
    colour: Option<String>,
    material: Option<String>,
    category: Option<String>,
    category_source: Option<String>,
    category_suggestions: Option<String>,
    images: String,
    attributes: String,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, seller_id, sku, title, description, price_minor, currency, quantity, condition, \
    brand, size, colour, material, category, category_source, \
    (SELECT result FROM categorize_suggestions s WHERE s.listing_id = listings.id) AS category_suggestions, \
    images, attributes, created_at, updated_at";

impl TryFrom<Row> for ListingRecord {
    type Error = DbError;

    fn try_from(r: Row) -> Result<Self, DbError> {
        let corrupt = |message: String| DbError::Corrupt {
            table: "listings",
            message,
        };
        Ok(ListingRecord {
            condition: Condition::parse(&r.condition)
                .ok_or_else(|| corrupt(format!("listing {}: condition `{}`", r.id, r.condition)))?,
            category_source: r.category_source.as_deref().and_then(CategorySource::parse),
            category_suggestions: r
                .category_suggestions
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            images: serde_json::from_str(&r.images)
                .map_err(|e| corrupt(format!("listing {}: images: {e}", r.id)))?,
            attributes: serde_json::from_str(&r.attributes)
                .map_err(|e| corrupt(format!("listing {}: attributes: {e}", r.id)))?,
            id: r.id,
            seller_id: r.seller_id,
            sku: r.sku,
            title: r.title,
            description: r.description,
            price_minor: r.price_minor,
            currency: r.currency,
            quantity: r.quantity,
            brand: r.brand,
            size: r.size,
            colour: r.colour,
            material: r.material,
            category: r.category,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn json_text(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

const UPSERT_SQL: &str = "INSERT INTO listings (id, seller_id, sku, title, description, price_minor, currency, quantity, \
     condition, brand, size, colour, material, category, category_source, images, attributes, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
     ON CONFLICT (seller_id, sku) DO UPDATE SET title = excluded.title, description = excluded.description, \
     price_minor = excluded.price_minor, currency = excluded.currency, quantity = excluded.quantity, \
     condition = excluded.condition, brand = excluded.brand, size = excluded.size, colour = excluded.colour, \
     material = excluded.material, \
     category = CASE WHEN $19 THEN listings.category ELSE excluded.category END, \
     category_source = CASE WHEN $19 THEN listings.category_source ELSE excluded.category_source END, \
     images = excluded.images, attributes = excluded.attributes, updated_at = excluded.updated_at \
     RETURNING id";

impl Db {
    /// Creates or replaces `seller_id`'s listings by SKU, in one transaction;
    /// the results are in the order of `items`. SKUs must be distinct.
    pub async fn upsert_listings(
        &self,
        seller_id: &str,
        items: &[ListingWrite],
    ) -> Result<Vec<Upserted>, DbError> {
        let now = now_ms();
        let mut results = Vec::with_capacity(items.len());
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for item in items {
                let new_id = ulid::Ulid::new().to_string().to_lowercase();
                let (keep, category, source) = item.category_columns();
                let id: String = sqlx::query_scalar(UPSERT_SQL)
                    .bind(&new_id)
                    .bind(seller_id)
                    .bind(&item.sku)
                    .bind(&item.title)
                    .bind(&item.description)
                    .bind(item.price_minor)
                    .bind(&item.currency)
                    .bind(item.quantity)
                    .bind(item.condition.as_str())
                    .bind(&item.brand)
                    .bind(&item.size)
                    .bind(&item.colour)
                    .bind(&item.material)
                    .bind(category)
                    .bind(source)
                    .bind(json_text(&item.images))
                    .bind(json_text(&item.attributes))
                    .bind(now)
                    .bind(keep)
                    .fetch_one(&mut *tx)
                    .await?;
                results.push(Upserted { created: id == new_id, id });
            }
            tx.commit().await?;
        });
        Ok(results)
    }

    /// The listing `id`, if it exists.
    pub async fn listing(&self, id: &str) -> Result<Option<ListingRecord>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM listings WHERE id = $1");
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(ListingRecord::try_from).transpose()
    }

    /// Up to `limit` of `seller_id`'s listings matching `filter`, ordered by id, after the id `after`.
    pub async fn list_listings(
        &self,
        seller_id: &str,
        filter: &ListingFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ListingRecord>, DbError> {
        let mut sql = format!("SELECT {COLUMNS} FROM listings WHERE seller_id = $1");
        // Text parameters first (numbered from $2), then the numeric ones.
        let mut texts: Vec<&str> = Vec::new();
        for (column, op, value) in [
            ("id", ">", after),
            ("sku", "=", filter.sku.as_deref()),
            ("condition", "=", filter.condition.map(Condition::as_str)),
            ("category", "=", filter.category.as_deref()),
            ("brand", "=", filter.brand.as_deref()),
        ] {
            if let Some(value) = value {
                sql.push_str(&format!(" AND {column} {op} ${}", texts.len() + 2));
                texts.push(value);
            }
        }
        let next = texts.len() + 2;
        if filter.updated_since.is_some() {
            sql.push_str(&format!(" AND updated_at >= ${next}"));
        }
        match filter.has_category {
            Some(true) => sql.push_str(" AND category IS NOT NULL"),
            Some(false) => sql.push_str(" AND category IS NULL"),
            None => {}
        }
        let limit_param = next + usize::from(filter.updated_since.is_some());
        sql.push_str(&format!(" ORDER BY id LIMIT ${limit_param}"));
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql.clone())).bind(seller_id);
            for text in &texts {
                q = q.bind(*text);
            }
            if let Some(since) = filter.updated_since {
                q = q.bind(since);
            }
            q.bind(limit).fetch_all(pool).await
        })?;
        rows.into_iter().map(ListingRecord::try_from).collect()
    }

    /// The listings of `seller_id` among `ids` (others and unknown ids are left out), ordered by id.
    pub async fn listings_by_ids(
        &self,
        seller_id: &str,
        ids: &[String],
    ) -> Result<Vec<ListingRecord>, DbError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks = (0..chunk.len())
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {COLUMNS} FROM listings WHERE seller_id = $1 AND id IN ({marks}) ORDER BY id"
            );
            let rows: Vec<Row> = on_pool!(self, pool => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql.clone())).bind(seller_id);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await
            })?;
            for row in rows {
                out.push(ListingRecord::try_from(row)?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Replaces the seller fields of listing `id`; None if it does not exist.
    /// Fails with a unique violation when the new SKU is another listing's.
    pub async fn update_listing(
        &self,
        id: &str,
        item: &ListingWrite,
    ) -> Result<Option<ListingRecord>, DbError> {
        let (keep, category, source) = item.category_columns();
        let updated = on_pool!(self, pool => sqlx::query(
            "UPDATE listings SET sku = $1, title = $2, description = $3, price_minor = $4, currency = $5, \
             quantity = $6, condition = $7, brand = $8, size = $9, colour = $10, material = $11, \
             category = CASE WHEN $12 THEN category ELSE $13 END, \
             category_source = CASE WHEN $12 THEN category_source ELSE $14 END, \
             images = $15, attributes = $16, updated_at = $17 WHERE id = $18",
        )
        .bind(&item.sku)
        .bind(&item.title)
        .bind(&item.description)
        .bind(item.price_minor)
        .bind(&item.currency)
        .bind(item.quantity)
        .bind(item.condition.as_str())
        .bind(&item.brand)
        .bind(&item.size)
        .bind(&item.colour)
        .bind(&item.material)
        .bind(keep)
        .bind(category)
        .bind(source)
        .bind(json_text(&item.images))
        .bind(json_text(&item.attributes))
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if updated == 0 {
            return Ok(None);
        }
        self.listing(id).await
    }

    /// Makes `gid` listing `id`'s category, chosen automatically, unless the
    /// seller has chosen one; returns whether it was set.
    pub async fn apply_auto_category(&self, id: &str, gid: &str) -> Result<bool, DbError> {
        let updated = on_pool!(self, pool => sqlx::query(
            "UPDATE listings SET category = $1, category_source = 'auto', updated_at = $2 \
             WHERE id = $3 AND (category_source IS NULL OR category_source <> 'seller')",
        )
        .bind(gid)
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(updated == 1)
    }

    /// Deletes listing `id`; false if it did not exist.
    pub async fn delete_listing(&self, id: &str) -> Result<bool, DbError> {
        on_pool!(self, pool => sqlx::query("DELETE FROM categorize_suggestions WHERE listing_id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        let deleted = on_pool!(self, pool => sqlx::query("DELETE FROM listings WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(deleted == 1)
    }
}

/// Whether `err` is a unique-constraint violation (a SKU already used by the seller).
pub fn is_unique_violation(err: &DbError) -> bool {
    matches!(err, DbError::Query(sqlx::Error::Database(e)) if e.is_unique_violation())
}
