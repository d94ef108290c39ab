//! The `taxonomy_categories` table: the shipped taxonomy, loaded once per
//! taxonomy version (at `migrate`), and the picker queries the API runs on it.

use super::{Db, DbError, now_ms, on_pool};
use crate::taxonomy::Taxonomy;
use serde::Serialize;
use sqlx::Row;

/// One row of `taxonomy_categories`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryRow {
    /// Short id (`aa-1-13-8`).
    pub id: String,
    /// Full gid.
    pub gid: String,
    /// Parent's short id.
    pub parent_id: Option<String>,
    /// Own name.
    pub name: String,
    /// `Top > … > Name`.
    pub full_path: String,
    /// 1 for top-level areas.
    pub depth: i64,
    /// Direct children.
    pub child_count: i64,
}

/// Filters of a category listing.
#[derive(Debug, Clone, Default)]
pub struct CategoryFilter {
    /// Case-insensitive words that must all occur in the full path.
    pub search: Option<String>,
    /// Only direct children of this short id; `Some("")` means top-level areas.
    pub parent: Option<String>,
    /// Only categories whose `(full_path, id)` sorts after this.
    pub after: Option<(String, String)>,
    /// At most this many rows.
    pub limit: i64,
}

const COLUMNS: &str = "id, gid, parent_id, name, full_path, depth, child_count";

impl Db {
    /// Loads `taxonomy` unless its version is already loaded; returns whether it loaded.
    /// A new version replaces the old rows in one transaction.
    pub async fn load_taxonomy(&self, taxonomy: &Taxonomy) -> Result<bool, DbError> {
        let have: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT version FROM taxonomy_versions WHERE version = $1")
            .bind(&taxonomy.version).fetch_optional(pool).await)?;
        if have.is_some() {
            return Ok(false);
        }
        let rows: Vec<serde_json::Value> = taxonomy
            .categories
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id, "gid": c.gid, "parent_id": c.parent_id, "name": c.name,
                    "full_path": c.full_path, "path_lower": c.full_path.to_lowercase(),
                    "depth": c.depth, "child_count": c.child_count,
                })
            })
            .collect();
        let json = serde_json::Value::Array(rows).to_string();
        let count = i64::try_from(taxonomy.categories.len()).unwrap_or(i64::MAX);
        let insert_pg = "INSERT INTO taxonomy_categories
            (id, gid, parent_id, name, full_path, path_lower, depth, child_count)
            SELECT id, gid, parent_id, name, full_path, path_lower, depth, child_count
            FROM json_to_recordset($1::json) AS x(id text, gid text, parent_id text, name text,
                full_path text, path_lower text, depth integer, child_count integer)";
        let insert_sqlite = "INSERT INTO taxonomy_categories
            (id, gid, parent_id, name, full_path, path_lower, depth, child_count)
            SELECT json_extract(value, '$.id'), json_extract(value, '$.gid'),
                json_extract(value, '$.parent_id'), json_extract(value, '$.name'),
                json_extract(value, '$.full_path'), json_extract(value, '$.path_lower'),
                json_extract(value, '$.depth'), json_extract(value, '$.child_count')
            FROM json_each($1)";
        let version_sql = "INSERT INTO taxonomy_versions (version, categories, loaded_at)
            VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING";
        match self {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // Serialises concurrent loaders (two processes migrating at once).
                sqlx::query("LOCK TABLE taxonomy_versions IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                let again: Option<String> =
                    sqlx::query_scalar("SELECT version FROM taxonomy_versions WHERE version = $1")
                        .bind(&taxonomy.version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if again.is_some() {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM taxonomy_categories")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(insert_pg).bind(&json).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM taxonomy_versions")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(version_sql)
                    .bind(&taxonomy.version)
                    .bind(count)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM taxonomy_categories")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(insert_sqlite)
                    .bind(&json)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM taxonomy_versions")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(version_sql)
                    .bind(&taxonomy.version)
                    .bind(count)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(true)
    }

    /// Categories matching `filter`, ordered by full path.
    pub async fn taxonomy_categories(
        &self,
        filter: &CategoryFilter,
    ) -> Result<Vec<CategoryRow>, DbError> {
        let mut sql = format!("SELECT {COLUMNS} FROM taxonomy_categories WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let next = |binds: &mut Vec<String>, value: String| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(search) = &filter.search {
            for word in search.split_whitespace().take(8) {
                let pattern = format!("%{}%", escape_like(&word.to_lowercase()));
                let p = next(&mut binds, pattern);
                sql.push_str(&format!(" AND path_lower LIKE {p} ESCAPE '\\'"));
            }
        }
        match filter.parent.as_deref() {
            Some("") => sql.push_str(" AND parent_id IS NULL"),
            Some(parent) => {
                let p = next(&mut binds, parent.to_owned());
                sql.push_str(&format!(" AND parent_id = {p}"));
            }
            None => {}
        }
        if let Some((path, id)) = &filter.after {
            let a = next(&mut binds, path.clone());
            let b = next(&mut binds, id.clone());
            sql.push_str(&format!(
                " AND (full_path > {a} OR (full_path = {a} AND id > {b}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY full_path, id LIMIT {}",
            filter.limit.clamp(1, 1_000)
        ));
        let rows = on_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for b in &binds {
                q = q.bind(b);
            }
            q.fetch_all(pool).await?.iter().map(|r| Ok(CategoryRow {
                id: r.try_get("id")?,
                gid: r.try_get("gid")?,
                parent_id: r.try_get("parent_id")?,
                name: r.try_get("name")?,
                full_path: r.try_get("full_path")?,
                depth: r.try_get::<i32, _>("depth")?.into(),
                child_count: r.try_get::<i32, _>("child_count")?.into(),
            })).collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        Ok(rows)
    }

    /// One category by short id, if it exists.
    pub async fn taxonomy_category(&self, id: &str) -> Result<Option<CategoryRow>, DbError> {
        let id = crate::taxonomy::short_id(id).to_owned();
        let sql = format!("SELECT {COLUMNS} FROM taxonomy_categories WHERE id = $1");
        let row = on_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(&id).fetch_optional(pool).await? {
                None => None,
                Some(r) => Some(CategoryRow {
                    id: r.try_get("id")?,
                    gid: r.try_get("gid")?,
                    parent_id: r.try_get("parent_id")?,
                    name: r.try_get("name")?,
                    full_path: r.try_get("full_path")?,
                    depth: r.try_get::<i32, _>("depth")?.into(),
                    child_count: r.try_get::<i32, _>("child_count")?.into(),
                }),
            }
        });
        Ok(row)
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
