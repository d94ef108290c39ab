//! The installation's VAPID key pair (RFC 8292), which signs Web Push
//! requests: `notify.vapid_private_key`, or a key derived from `secret_key`.
//! Browsers subscribe with its public key (`GET /v1/push/vapid-public-key`).

use crate::{
    Config,
    secret::{SecretError, SecretKey},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::elliptic_curve::sec1::ToEncodedPoint;

/// Why the VAPID key is not usable.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    /// `notify.vapid_private_key` is not 32 bytes of base64url, or not a P-256 scalar.
    #[error(
        "notify.vapid_private_key must be a P-256 private key, 32 bytes base64url (`npx web-push generate-vapid-keys` prints one)"
    )]
    Malformed,
    /// The key is derived from `secret_key`, which could not be loaded.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// A VAPID private key.
#[derive(Clone)]
pub struct VapidKey(p256::SecretKey);

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VapidKey(public: {})", self.public_key())
    }
}

impl VapidKey {
    /// The key `config` names, or the one derived from its `secret_key`.
    pub fn from_config(config: &Config) -> Result<VapidKey, VapidError> {
        let bytes = match &config.notify.vapid_private_key {
            Some(text) => URL_SAFE_NO_PAD
                .decode(text.trim().trim_end_matches('='))
                .map_err(|_| VapidError::Malformed)?,
            None => SecretKey::load(config)?.derive("vapid").to_vec(),
        };
        p256::SecretKey::from_slice(&bytes)
            .map(VapidKey)
            .map_err(|_| VapidError::Malformed)
    }

    /// The 32-byte private scalar.
    pub fn private_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The public key, uncompressed SEC1 (65 bytes) in base64url: the
    /// `applicationServerKey` browsers subscribe with and the `k=` of requests.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.public_key().to_encoded_point(false).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_keys_are_checked_and_derived_keys_are_stable() {
        let mut config = Config {
            secret_key: Some("k".repeat(40)),
            ..Config::default()
        };
        let derived = VapidKey::from_config(&config).unwrap();
        assert_eq!(
            derived.public_key(),
            VapidKey::from_config(&config).unwrap().public_key()
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(derived.public_key()).unwrap().len(),
            65
        );
        config.notify.vapid_private_key = Some(URL_SAFE_NO_PAD.encode(derived.private_bytes()));
        assert_eq!(
            VapidKey::from_config(&config).unwrap().public_key(),
            derived.public_key()
        );
        for bad in ["", "c2hvcnQ", "!!!"] {
            config.notify.vapid_private_key = Some(bad.to_owned());
            assert!(matches!(
                VapidKey::from_config(&config),
                Err(VapidError::Malformed)
            ));
        }
    }
}
