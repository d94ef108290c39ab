//! Start-up shared by the commands: configuration, database, queues, signals.

use anyhow::Context;
use fleet_shared::{Config, Db, Queues, blob::Blobs, secret::SecretKey};
use std::path::Path;

/// Loads the configuration and sets up logging.
pub fn config(file: Option<&Path>) -> anyhow::Result<Config> {
    let config = Config::load(file)?;
    fleet_shared::telemetry::init_logging(&config);
    Ok(config)
}

/// Connects to the database and refuses to go on unless its schema is this build's.
pub async fn database(config: &Config) -> anyhow::Result<Db> {
    let url = config.database_url();
    let db = Db::connect_with(&url, config.database_max_connections).await?;
    db.ensure_migrated(&url).await?;
    Ok(db)
}

/// The queue backend the configuration selects: Redis when `redis_url` is set, else the database.
pub async fn queues(config: &Config, db: Db) -> anyhow::Result<Queues> {
    match &config.redis_url {
        Some(url) => Queues::redis(url, db).await.with_context(|| {
            format!(
                "cannot connect to Redis at {}",
                fleet_shared::config::mask_url_password(url)
            )
        }),
        None => Ok(Queues::sql(db)),
    }
}

/// The blob store the configuration selects, with URLs signed by the installation's secret key.
pub async fn blobs(config: &Config) -> anyhow::Result<Blobs> {
    let secret = SecretKey::load(config)?;
    let blobs = fleet_shared::blob::open(config, &secret).await?;
    Ok(blobs)
}
