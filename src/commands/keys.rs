//! `fleet keys`: create, list and revoke API keys.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use fleet_shared::db::api_keys::Role;
use std::path::Path;

/// Key management.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once and stored only hashed.
    Create {
        /// seller (bound to --seller), backend (the marketplace backend) or ops (operators).
        #[arg(long)]
        role: Role,
        /// The seller a seller key is bound to.
        #[arg(long, value_name = "SELLER_ID")]
        seller: Option<String>,
        /// A label to recognise the key by.
        #[arg(long, default_value = "unnamed")]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id; it stops working within seconds.
    Revoke {
        /// The key id shown by `fleet keys list`.
        id: String,
    },
}

/// Runs a key command.
pub async fn run(file: Option<&Path>, cmd: KeysCommand) -> anyhow::Result<()> {
    let config = crate::start::config(file)?;
    let db = crate::start::database(&config).await?;
    match cmd {
        KeysCommand::Create { role, seller, name } => {
            let (key, secret) = db.create_api_key(&name, role, seller.as_deref()).await?;
            println!("created {} key {} ({})", key.role, key.id, key.name);
            println!("{secret}");
            eprintln!("store it now: the secret is not shown again");
        }
        KeysCommand::List => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_header([
                "id", "name", "role", "seller", "prefix", "created", "revoked",
            ]);
            for key in db.list_api_keys().await? {
                table.add_row([
                    key.id,
                    key.name,
                    key.role.to_string(),
                    key.seller_id.unwrap_or_default(),
                    format!("{}…", key.prefix),
                    time(key.created_at),
                    key.revoked_at.map(time).unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
        KeysCommand::Revoke { id } => {
            if db.revoke_api_key(&id).await? {
                println!("revoked key {id}");
            } else {
                anyhow::bail!("no active key with id {id} (see `fleet keys list`)");
            }
        }
    }
    Ok(())
}

fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
