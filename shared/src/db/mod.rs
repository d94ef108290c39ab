//! The SQL database: PostgreSQL in production, SQLite for `fleet dev`, same schema.

pub mod api_keys;
pub mod categorize;
pub mod export_category_map;
pub mod exports;
pub mod idempotency;
pub mod jobs;
pub mod ledger;
pub mod listings;
pub mod media;
mod migrate;
pub mod notify;
pub mod notify_events;
pub mod payouts;
pub mod sealed;
pub mod taxonomy;

pub use migrate::SchemaState;

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use std::{str::FromStr, time::Duration};

/// Connections a process opens to the database at most, unless configured.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL could not be parsed or the server could not be reached.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        /// The URL, password masked.
        url: String,
        /// The driver error.
        source: sqlx::Error,
    },
    /// The schema is older than this build.
    #[error(
        "the database at {url} is not migrated (schema version {current}, this build needs {needed}): run `fleet migrate`"
    )]
    NotMigrated {
        /// The URL, password masked.
        url: String,
        /// Highest applied migration (0 for none).
        current: i64,
        /// Highest migration of this build.
        needed: i64,
    },
    /// The schema is newer than this build.
    #[error(
        "the database at {url} has schema version {current}, newer than this build knows ({known}): upgrade fleet"
    )]
    TooNew {
        /// The URL, password masked.
        url: String,
        /// Highest applied migration.
        current: i64,
        /// Highest migration of this build.
        known: i64,
    },
    /// Applying migrations failed.
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value could not be decoded.
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A pool on one of the two supported databases.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite (one file).
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds; the body is
/// compiled once per dialect.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Db {
    /// Opens a pool of the default size for `url` (`postgres://…` or `sqlite://…`); SQLite files are created.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        Db::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Opens a pool of at most `max_connections` for `url`; SQLite files are created.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Db, DbError> {
        let masked = crate::config::mask_url_password(url);
        let connect_err = |source| DbError::Connect {
            url: masked.clone(),
            source,
        };
        if url.starts_with("sqlite:") {
            if let Some(parent) = sqlite_file(url).and_then(|p| p.parent().map(ToOwned::to_owned))
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&parent).map_err(|e| connect_err(sqlx::Error::Io(e)))?;
            }
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_err)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.min(8))
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Db::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(connect_err)?;
            Ok(Db::Postgres(pool))
        }
    }

    /// Whether this is SQLite.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Db::Sqlite(_))
    }

    /// Connections a PostgreSQL server accepts from ordinary roles (None on SQLite).
    pub async fn server_connection_limit(&self) -> Result<Option<u32>, DbError> {
        match self {
            Db::Postgres(pool) => {
                let limit: i32 = sqlx::query_scalar(
                    "SELECT current_setting('max_connections')::int \
                     - current_setting('superuser_reserved_connections')::int",
                )
                .fetch_one(pool)
                .await?;
                Ok(Some(limit.max(0) as u32))
            }
            Db::Sqlite(_) => Ok(None),
        }
    }

    /// Checks the server answers a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// The file path of a `sqlite://path?opts` URL, if it names a file.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(std::path::PathBuf::from(path))
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
