//! End-user JWTs issued by the marketplace's identity service: HS256 with a
//! shared secret, or RS256 with public keys from a JWKS file.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;

/// Why a JWT configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// The JWKS file could not be read.
    #[error("cannot read JWKS file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JWKS file is not a valid key set.
    #[error("JWKS file {path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The verified identity in a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserClaims {
    /// The user (`sub`).
    pub sub: String,
    /// The seller the user acts for, if the token says.
    pub seller_id: Option<String>,
}

struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies end-user tokens against the configured keys.
pub struct JwtVerifier {
    keys: Vec<Key>,
    issuer: Option<String>,
    audience: Option<String>,
    seller_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Loads the keys configured in `settings`; with none, every token is rejected.
    pub fn from_settings(
        settings: &fleet_shared::config::JwtSettings,
    ) -> Result<Self, JwtConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = &settings.hs256_secret {
            keys.push(Key {
                kid: None,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.as_bytes()),
            });
        }
        if let Some(path) = &settings.jwks_file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| JwtConfigError::Read {
                path: shown.clone(),
                source,
            })?;
            let set: JwkSet = serde_json::from_str(&text).map_err(|e| JwtConfigError::Invalid {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk).map_err(|e| JwtConfigError::Invalid {
                    path: shown.clone(),
                    message: e.to_string(),
                })?;
                keys.push(Key {
                    kid: jwk.common.key_id.clone(),
                    algorithm: Algorithm::RS256,
                    key,
                });
            }
        }
        Ok(JwtVerifier {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            seller_claim: settings
                .seller_claim
                .clone()
                .unwrap_or_else(|| "seller_id".to_owned()),
        })
    }

    /// Whether any key is configured.
    pub fn is_enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Verifies signature, expiry, issuer and audience; returns the user.
    pub fn verify(&self, token: &str) -> Result<UserClaims, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        let candidates = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| match (&header.kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            });
        let mut last = format!("no key for algorithm {:?}", header.alg);
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.leeway = 30;
            validation.set_required_spec_claims(&["exp", "sub"]);
            if let Some(iss) = &self.issuer {
                validation.set_issuer(&[iss]);
            }
            match &self.audience {
                Some(aud) => validation.set_audience(&[aud]),
                None => validation.validate_aud = false,
            }
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => return self.claims(data.claims),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    fn claims(&self, claims: Value) -> Result<UserClaims, String> {
        let sub = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err("token has no `sub`".to_owned()),
        };
        let seller_id = match claims.get(&self.seller_claim) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(UserClaims { sub, seller_id })
    }
}
