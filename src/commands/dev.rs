//! `fleet dev`: the whole platform in one process on SQLite and local files.

use anyhow::Context;
use fleet_jobs::WorkerKind;
use fleet_shared::{Db, db::api_keys::Role};
use std::{net::SocketAddr, path::Path};

/// Options of `fleet dev`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address for the API (default 127.0.0.1:8080, or FLEET_LISTEN).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

/// Migrates, ensures a local ops key, then runs the API and every worker kind until Ctrl-C.
pub async fn run(file: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let mut config = crate::start::config(file)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create data directory {} (set FLEET_DATA_DIR)",
            config.data_dir.display()
        )
    })?;
    let url = config.database_url();
    let db = Db::connect_with(&url, config.database_max_connections).await?;
    db.migrate().await?;
    let key = dev_key(&db, &config.data_dir).await?;
    let queues = crate::start::queues(&config, db).await?;
    let blobs = crate::start::blobs(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (pass --listen or set FLEET_LISTEN)",
                config.listen
            )
        })?;
    let public = config.public_url();
    let pool = super::worker::pool(&config, queues.clone(), blobs.clone(), &WorkerKind::ALL);
    let state = fleet_api::AppState::new(config, queues, blobs).await?;

    println!("Fleet is running at {public}");
    println!("  API key (ops): {key}");
    println!("  try: curl -H 'Authorization: Bearer {key}' {public}/v1/ops/queues");
    println!("  docs: {public}/openapi.json   metrics: {public}/metrics");
    println!("Press Ctrl-C to stop.");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let api = tokio::spawn(fleet_api::serve(listener, state, wait(stopped.clone())));
    let workers = tokio::spawn(pool.run(wait(stopped)));
    fleet_shared::signal::shutdown().await;
    let _ = stop.send(true);
    api.await??;
    workers.await??;
    Ok(())
}

/// The ops key `fleet dev` prints: reused from the data directory while it is valid.
async fn dev_key(db: &Db, data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("dev-api-key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if db.find_api_key(existing).await?.is_some() {
            return Ok(existing.to_owned());
        }
    }
    let (_, secret) = db.create_api_key("fleet dev", Role::Ops, None).await?;
    write_private(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
