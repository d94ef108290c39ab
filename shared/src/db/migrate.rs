//! Applying migrations and refusing to run on a schema of another version.

use super::{Db, DbError};
use sqlx::migrate::Migrator;

static POSTGRES: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How the database's schema compares with this build's migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// Highest applied migration version (0 when none).
    pub current: i64,
    /// Highest migration version this build ships.
    pub latest: i64,
}

impl Db {
    fn migrator(&self) -> &'static Migrator {
        match self {
            Db::Postgres(_) => &POSTGRES,
            Db::Sqlite(_) => &SQLITE,
        }
    }

    /// Applies every pending migration and loads the shipped taxonomy when its
    /// version is not loaded yet; running it again changes nothing.
    pub async fn migrate(&self) -> Result<SchemaState, DbError> {
        match self {
            Db::Postgres(pool) => POSTGRES.run(pool).await?,
            Db::Sqlite(pool) => SQLITE.run(pool).await?,
        }
        self.load_taxonomy(crate::taxonomy::Taxonomy::shipped())
            .await?;
        self.schema_state().await
    }

    /// Reads the applied migration version.
    pub async fn schema_state(&self) -> Result<SchemaState, DbError> {
        let latest = self.migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let exists_sql = match self {
            Db::Postgres(_) => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations'"
            }
            Db::Sqlite(_) => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
        };
        let exists: i64 =
            super::on_pool!(self, pool => sqlx::query_scalar(exists_sql).fetch_one(pool).await)?;
        let current: i64 = if exists == 0 {
            0
        } else {
            super::on_pool!(self, pool => sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success"
            ).fetch_one(pool).await)?
        };
        Ok(SchemaState { current, latest })
    }

    /// Fails unless the schema is exactly this build's.
    pub async fn ensure_migrated(&self, url: &str) -> Result<(), DbError> {
        let state = self.schema_state().await?;
        let url = crate::config::mask_url_password(url);
        if state.current < state.latest {
            return Err(DbError::NotMigrated {
                url,
                current: state.current,
                needed: state.latest,
            });
        }
        if state.current > state.latest {
            return Err(DbError::TooNew {
                url,
                current: state.current,
                known: state.latest,
            });
        }
        Ok(())
    }
}
