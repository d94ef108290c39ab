//! Encryption at rest of stored credentials (bank details, marketplace
//! tokens): XChaCha20-Poly1305 under a key derived from the installation
//! secret (`SecretKey::derive("credentials")`), a random nonce per value, and
//! the owning row's id as associated data so a sealed value cannot be moved to
//! another row.
//!
//! Sealed values name their key (`v2:{key id}:{base64}`), so the secret can be
//! rotated: set the new `secret_key` and list the old one in
//! `secret_key_previous`; values sealed under it still open, and every value
//! sealed from then on uses the new key. (XChaCha20-Poly1305 rather than
//! AES-256-GCM: its 192-bit random nonces are safe for any number of values
//! under one key, where AES-GCM's 96-bit random nonces are not.)

use crate::{
    Config,
    secret::{SecretError, SecretKey},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use sha2::{Digest, Sha256};
use std::fmt;

/// Format tag of values that name their key.
const PREFIX: &str = "v2:";
/// Format tag of values sealed before keys had ids (opened with any known key).
const PREFIX_V1: &str = "v1:";

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Not a value this build sealed (unknown format or bad encoding).
    #[error("not a sealed value")]
    Malformed,
    /// The key or the associated data differ, or the value was altered.
    #[error("sealed value does not authenticate (another secret key, or altered)")]
    Inauthentic,
    /// Sealed under a key that is neither `secret_key` nor in `secret_key_previous`.
    #[error(
        "sealed under key {0}, which is neither secret_key nor in secret_key_previous: add the old secret to secret_key_previous"
    )]
    UnknownKey(String),
}

/// One derived key and its id.
#[derive(Clone)]
struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn new(secret: &SecretKey) -> Key {
        let key = secret.derive("credentials");
        Key {
            id: hex::encode(&Sha256::digest(key)[..4]),
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    fn open(&self, context: &str, bytes: &[u8]) -> Result<Vec<u8>, SealError> {
        if bytes.len() < 24 + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Inauthentic)
    }
}

/// Seals with the current key; opens with it or a previous one.
#[derive(Clone)]
pub struct Sealer {
    current: Key,
    previous: Vec<Key>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// The sealer for stored credentials under `secret`.
    pub fn credentials(secret: &SecretKey) -> Sealer {
        Sealer {
            current: Key::new(secret),
            previous: Vec::new(),
        }
    }

    /// The sealer `config` names: `secret_key`, and `secret_key_previous` for opening older values.
    pub fn from_config(config: &Config) -> Result<Sealer, SecretError> {
        let mut sealer = Sealer::credentials(&SecretKey::load(config)?);
        for text in &config.secret_key_previous {
            sealer.previous.push(Key::new(&SecretKey::from_text(text)?));
        }
        Ok(sealer)
    }

    /// The id sealed values name for the current key.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Whether `sealed` is already under the current key (nothing to reseal).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }

    /// `sealed` opened and sealed again under the current key, for the same `context`.
    pub fn reseal(&self, context: &str, sealed: &str) -> Result<String, SealError> {
        Ok(self.seal(context, &self.open(context, sealed)?))
    }

    /// `plaintext` encrypted and bound to `context` (the row id), as text.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_else(|_| {
                unreachable!("XChaCha20-Poly1305 accepts any message length used here")
            });
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", self.current.id, STANDARD.encode(out))
    }

    /// The plaintext of `sealed`, which must have been sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let keys = || std::iter::once(&self.current).chain(&self.previous);
        if let Some(rest) = sealed.strip_prefix(PREFIX) {
            let (id, body) = rest.split_once(':').ok_or(SealError::Malformed)?;
            let bytes = STANDARD.decode(body).map_err(|_| SealError::Malformed)?;
            let key = keys()
                .find(|k| k.id == id)
                .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
            return key.open(context, &bytes);
        }
        let body = sealed.strip_prefix(PREFIX_V1).ok_or(SealError::Malformed)?;
        let bytes = STANDARD.decode(body).map_err(|_| SealError::Malformed)?;
        let mut outcome = Err(SealError::Inauthentic);
        for key in keys() {
            outcome = key.open(context, &bytes);
            if outcome.is_ok() {
                break;
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(text: &str) -> Sealer {
        Sealer::credentials(&SecretKey::from_text(&text.repeat(32)).unwrap())
    }

    #[test]
    fn round_trip_bound_to_key_and_context() {
        let s = sealer("a");
        let sealed = s.seal("seller-1", b"DE89370400440532013000");
        assert!(!sealed.contains("DE89"));
        assert_ne!(
            sealed,
            s.seal("seller-1", b"DE89370400440532013000"),
            "fresh nonce"
        );
        assert_eq!(
            s.open("seller-1", &sealed).unwrap(),
            b"DE89370400440532013000"
        );
        assert!(matches!(
            s.open("seller-2", &sealed),
            Err(SealError::Inauthentic)
        ));
        assert!(matches!(
            sealer("b").open("seller-1", &sealed),
            Err(SealError::UnknownKey(_))
        ));
        assert!(matches!(
            s.open("seller-1", "v2:abcd:!!"),
            Err(SealError::Malformed)
        ));
        assert!(matches!(
            s.open("seller-1", "plain"),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn rotation_opens_values_of_the_previous_key() {
        let old_text = "o".repeat(32);
        let mut config = Config {
            secret_key: Some(old_text.clone()),
            ..Config::default()
        };
        let old = Sealer::from_config(&config).unwrap();
        let sealed = old.seal("row", b"token");
        assert!(sealed.starts_with(&format!("v2:{}:", old.key_id())));

        config.secret_key = Some("n".repeat(32));
        let without = Sealer::from_config(&config).unwrap();
        let err = without.open("row", &sealed).unwrap_err();
        assert!(err.to_string().contains("secret_key_previous"), "{err}");

        config.secret_key_previous = vec![old_text];
        let rotated = Sealer::from_config(&config).unwrap();
        assert_eq!(rotated.open("row", &sealed).unwrap(), b"token");
        assert!(!rotated.is_current(&sealed));
        let resealed = rotated.reseal("row", &sealed).unwrap();
        assert!(rotated.is_current(&resealed));
        assert_eq!(rotated.open("row", &resealed).unwrap(), b"token");
        assert!(rotated.reseal("another row", &sealed).is_err());
        assert_ne!(rotated.key_id(), old.key_id());
        assert!(resealed.starts_with(&format!("v2:{}:", rotated.key_id())));
        assert!(matches!(
            old.open("row", &resealed),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn values_sealed_before_key_ids_still_open() {
        let s = sealer("a");
        let v2 = s.seal("row", b"iban");
        let body = v2.rsplit(':').next().unwrap();
        assert_eq!(s.open("row", &format!("v1:{body}")).unwrap(), b"iban");
        assert!(matches!(
            sealer("b").open("row", &format!("v1:{body}")),
            Err(SealError::Inauthentic)
        ));
    }
}
