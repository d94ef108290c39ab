//! Encryption at rest of stored credentials (bank details, account ids):
//! XChaCha20-Poly1305 under a key derived from the installation secret
//! (`SecretKey::derive("credentials")`), a random nonce per value, and the
//! owning row's id as associated data so a sealed value cannot be moved to
//! another row.

use crate::secret::SecretKey;
use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use std::fmt;

/// Format tag of sealed values, so the scheme can change later.
const PREFIX: &str = "v1:";

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Not a value this build sealed (unknown format or bad encoding).
    #[error("not a sealed value")]
    Malformed,
    /// The key or the associated data differ, or the value was altered.
    #[error("sealed value does not authenticate (another secret key, or altered)")]
    Inauthentic,
}

/// Seals and opens values with one derived key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// The sealer for stored credentials under `secret`.
    pub fn credentials(secret: &SecretKey) -> Sealer {
        let key = secret.derive("credentials");
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `plaintext` encrypted and bound to `context` (the row id), as text.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
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
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// The plaintext of `sealed`, which must have been sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = STANDARD.decode(body).map_err(|_| SealError::Malformed)?;
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
            Err(SealError::Inauthentic)
        ));
        assert!(matches!(
            s.open("seller-1", "v1:!!"),
            Err(SealError::Malformed)
        ));
        assert!(matches!(
            s.open("seller-1", "plain"),
            Err(SealError::Malformed)
        ));
    }
}
