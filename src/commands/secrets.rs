//! `fleet secrets reseal`: seal every stored secret again under the current
//! `secret_key`, after a rotation, so the old key can leave `secret_key_previous`.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// Stored-secret maintenance.
#[derive(Debug, clap::Subcommand)]
pub enum SecretsCommand {
    /// Re-seal marketplace credentials, payout accounts and webhook secrets
    /// sealed under a previous secret key with the current one.
    Reseal,
}

/// Runs a secrets command.
pub async fn run(file: Option<&Path>, cmd: SecretsCommand) -> anyhow::Result<()> {
    let config = crate::start::config(file)?;
    let db = crate::start::database(&config).await?;
    let sealer = fleet_shared::seal::Sealer::from_config(&config)?;
    match cmd {
        SecretsCommand::Reseal => {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} sealed values eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let report = db
                .reseal_all(&sealer, |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            println!(
                "resealed {} values under key {}; {} were already under it",
                report.resealed,
                sealer.key_id(),
                report.current
            );
            if !report.failed.is_empty() {
                for failure in &report.failed {
                    eprintln!("cannot open {failure}");
                }
                anyhow::bail!(
                    "{} values could not be opened: add the secret they were sealed under to secret_key_previous and run this again",
                    report.failed.len()
                );
            }
        }
    }
    Ok(())
}
