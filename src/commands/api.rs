//! `fleet api`: serve the HTTP API.

use anyhow::Context;
use std::path::Path;

/// Serves until SIGTERM or Ctrl-C.
pub async fn run(file: Option<&Path>) -> anyhow::Result<()> {
    let config = crate::start::config(file)?;
    let db = crate::start::database(&config).await?;
    let queues = crate::start::queues(&config, db).await?;
    let blobs = crate::start::blobs(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (set FLEET_LISTEN)", config.listen))?;
    tracing::info!(listen = %config.listen, queues = queues.backend_name(), "API listening");
    let state = fleet_api::AppState::new(config, queues, blobs).await?;
    fleet_api::serve(listener, state, fleet_shared::signal::shutdown()).await?;
    Ok(())
}
