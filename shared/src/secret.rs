//! The installation's secret key: signs blob URLs and derives the keys that
//! encrypt stored credentials. Set `FLEET_SECRET_KEY`; on an embedded (SQLite)
//! install it is generated once into `data_dir/secret.key`.

use crate::Config;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::{fmt, io::Write, path::Path};

/// Shortest accepted `FLEET_SECRET_KEY`, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Why the secret key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured key is too short to be safe.
    #[error(
        "secret_key is too short: use at least {MIN_SECRET_LEN} characters (FLEET_SECRET_KEY; `openssl rand -hex 32` makes one)"
    )]
    TooShort,
    /// Several processes share a server database, so a per-machine key would differ between them.
    #[error(
        "secret_key must be set when the database is PostgreSQL, so every API and worker process shares it (FLEET_SECRET_KEY; `openssl rand -hex 32` makes one)"
    )]
    Required,
    /// The generated key file could not be read or written.
    #[error("cannot use secret key file {path}: {source}")]
    File {
        /// The key file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// The master secret; derive purpose-specific keys from it with [`SecretKey::derive`].
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// A key from configured text (at least [`MIN_SECRET_LEN`] bytes).
    pub fn from_text(text: &str) -> Result<SecretKey, SecretError> {
        if text.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort);
        }
        Ok(SecretKey(Sha256::digest(text.as_bytes()).into()))
    }

    /// The key `config` names, or the one generated in its data directory for SQLite installs.
    pub fn load(config: &Config) -> Result<SecretKey, SecretError> {
        if let Some(text) = &config.secret_key {
            return SecretKey::from_text(text);
        }
        if config.database_url().starts_with("postgres") {
            return Err(SecretError::Required);
        }
        let path = config.data_dir.join("secret.key");
        let text = read_or_create(&path).map_err(|source| SecretError::File {
            path: path.display().to_string(),
            source,
        })?;
        SecretKey::from_text(text.trim())
    }

    /// A 32-byte key for one purpose (`"blob-url"`, `"credentials"`), independent of the others.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Reads the key file, creating it (mode 0600) with 32 random bytes in hex when absent.
fn read_or_create(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            Ok(text)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_refused() {
        assert!(matches!(
            SecretKey::from_text("short"),
            Err(SecretError::TooShort)
        ));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = SecretKey::from_text(&"a".repeat(32)).unwrap();
        let b = SecretKey::from_text(&"b".repeat(32)).unwrap();
        assert_ne!(a.derive("blob-url"), a.derive("credentials"));
        assert_ne!(a.derive("blob-url"), b.derive("blob-url"));
        assert_eq!(a.derive("blob-url"), a.derive("blob-url"));
    }

    #[test]
    fn generated_key_is_kept_across_loads() {
        let dir = std::env::temp_dir().join(format!("fleet-secret-{}", ulid::Ulid::new()));
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let first = SecretKey::load(&config).unwrap();
        let second = SecretKey::load(&config).unwrap();
        assert_eq!(first.derive("x"), second.derive("x"));
        let text = std::fs::read_to_string(dir.join("secret.key")).unwrap();
        assert_eq!(text.len(), 64);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn postgres_installs_must_configure_a_key() {
        let config = Config {
            database_url: Some("postgres://localhost/fleet".to_owned()),
            ..Config::default()
        };
        assert!(matches!(
            SecretKey::load(&config),
            Err(SecretError::Required)
        ));
    }
}
