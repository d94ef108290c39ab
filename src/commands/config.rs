//! `fleet config`: the effective settings, secrets masked.

use std::path::Path;

/// Prints the configuration as TOML.
pub fn run(file: Option<&Path>) -> anyhow::Result<()> {
    let config = fleet_shared::Config::load(file)?;
    print!("{}", config.to_masked_toml());
    Ok(())
}
