//! Every stored sealed value (marketplace credentials, payout accounts,
//! webhook secrets), for re-sealing them under the current key after the
//! installation secret was rotated, so older keys can be retired.

use super::{Db, DbError, on_pool};
use crate::seal::Sealer;

/// A column of sealed values, its table's primary key, and the context each
/// row's value is bound to, from that key (as the code that seals it makes it).
struct SealedColumn {
    table: &'static str,
    column: &'static str,
    key: &'static [&'static str],
    context: fn(&[String]) -> String,
}

fn first_key(key: &[String]) -> String {
    key[0].clone()
}

const COLUMNS: [SealedColumn; 3] = [
    SealedColumn {
        table: "export_connections",
        column: "credentials",
        key: &["seller_id", "marketplace"],
        context: |key| crate::export::connection::context(&key[0], &key[1]),
    },
    SealedColumn {
        table: "payout_accounts",
        column: "sealed",
        key: &["seller_id"],
        context: first_key,
    },
    SealedColumn {
        table: "notify_webhook_endpoints",
        column: "secret_sealed",
        key: &["id"],
        context: first_key,
    },
];

/// What [`Db::reseal_all`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResealReport {
    /// Values sealed again under the current key.
    pub resealed: u64,
    /// Values already under it.
    pub current: u64,
    /// Values that could not be opened: `table: context: why`.
    pub failed: Vec<String>,
}

impl Db {
    /// Seals again, under `sealer`'s current key, every stored value sealed
    /// under an older one; calls `progress(done, total)` as it goes. A row
    /// changed meanwhile (its sealed value replaced) is left as it is.
    pub async fn reseal_all(
        &self,
        sealer: &Sealer,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ResealReport, DbError> {
        let mut rows = Vec::new();
        for c in &COLUMNS {
            let sql = format!("SELECT {}, {} FROM {}", c.column, c.key.join(", "), c.table);
            let found: Vec<Vec<String>> = on_pool!(self, pool => {
                use sqlx::Row;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .and_then(|rows| {
                        rows.iter()
                            .map(|r| (0..c.key.len() + 1).map(|i| r.try_get::<String, _>(i)).collect())
                            .collect()
                    })
            })?;
            rows.extend(found.into_iter().map(|values| (c, values)));
        }
        let total = rows.len() as u64;
        let mut report = ResealReport::default();
        for (done, (c, values)) in rows.into_iter().enumerate() {
            let (sealed, key) = (&values[0], &values[1..]);
            if sealer.is_current(sealed) {
                report.current += 1;
            } else {
                let context = (c.context)(key);
                match sealer.reseal(&context, sealed) {
                    Ok(new) => {
                        let at: Vec<String> = c
                            .key
                            .iter()
                            .enumerate()
                            .map(|(i, k)| format!("{k} = ${}", i + 3))
                            .collect();
                        let sql = format!(
                            "UPDATE {} SET {col} = $1 WHERE {col} = $2 AND {}",
                            c.table,
                            at.join(" AND "),
                            col = c.column
                        );
                        on_pool!(self, pool => {
                            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&new).bind(sealed);
                            for k in key {
                                q = q.bind(k);
                            }
                            q.execute(pool).await.map(|_| ())
                        })?;
                        report.resealed += 1;
                    }
                    Err(e) => report.failed.push(format!("{}: {context}: {e}", c.table)),
                }
            }
            progress(done as u64 + 1, total);
        }
        Ok(report)
    }
}
