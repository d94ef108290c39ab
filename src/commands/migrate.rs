//! `fleet migrate`: apply pending migrations.

use std::path::Path;

/// Applies migrations and reports the schema version.
pub async fn run(file: Option<&Path>) -> anyhow::Result<()> {
    let config = crate::start::config(file)?;
    let url = config.database_url();
    let db = fleet_shared::Db::connect(&url).await?;
    let before = db.schema_state().await?;
    let after = db.migrate().await?;
    if before.current == after.current {
        println!("database is up to date (schema version {})", after.current);
    } else {
        println!(
            "migrated database from schema version {} to {}",
            before.current, after.current
        );
    }
    Ok(())
}
