//! API keys: bearer credentials for integrations and ops, stored as SHA-256 hashes.

use super::{Db, DbError, now_ms, on_pool};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{fmt, str::FromStr};

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One seller's integration: sees only that seller's data.
    Seller,
    /// The marketplace backend: posts events, reads any seller's data.
    Backend,
    /// Operators: queues, dead jobs, scaling.
    Ops,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Seller => "seller",
            Role::Backend => "backend",
            Role::Ops => "ops",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not seller, backend or ops.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected seller, backend or ops)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "seller" => Ok(Role::Seller),
            "backend" => Ok(Role::Backend),
            "ops" => Ok(Role::Ops),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// A stored API key (without the secret).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// Human label.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The seller a seller key is bound to.
    pub seller_id: Option<String>,
    /// First characters of the secret, to recognise it.
    pub prefix: String,
    /// Creation time (ms since epoch).
    pub created_at: i64,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// Length of the random part of a key.
const SECRET_LEN: usize = 40;

/// The SHA-256 of a presented key, as stored.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let random: String = (0..SECRET_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("fleet_{random}")
}

type KeyRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
);

fn key_from_row(row: KeyRow) -> Result<ApiKey, DbError> {
    let (id, name, role, seller_id, prefix, created_at, revoked_at) = row;
    Ok(ApiKey {
        id,
        name,
        role: role.parse().map_err(|e: UnknownRole| DbError::Corrupt {
            table: "api_keys",
            message: e.to_string(),
        })?,
        seller_id,
        prefix,
        created_at,
        revoked_at,
    })
}

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    /// Seller keys need a seller id; other roles must not have one.
    #[error("{0}")]
    Invalid(&'static str),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Db {
    /// Creates a key; returns it with its secret, which is shown once and stored only hashed.
    pub async fn create_api_key(
        &self,
        name: &str,
        role: Role,
        seller_id: Option<&str>,
    ) -> Result<(ApiKey, String), CreateKeyError> {
        match (role, seller_id) {
            (Role::Seller, None) => {
                return Err(CreateKeyError::Invalid("a seller key needs --seller"));
            }
            (Role::Backend | Role::Ops, Some(_)) => {
                return Err(CreateKeyError::Invalid(
                    "only seller keys are bound to a seller",
                ));
            }
            _ => {}
        }
        let secret = generate_secret();
        let key = ApiKey {
            id: ulid::Ulid::new().to_string().to_lowercase(),
            name: name.to_owned(),
            role,
            seller_id: seller_id.map(ToOwned::to_owned),
            prefix: secret[..12].to_owned(),
            created_at: now_ms(),
            revoked_at: None,
        };
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO api_keys (id, name, role, seller_id, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(role.as_str())
        .bind(&key.seller_id)
        .bind(hash_key(&secret))
        .bind(&key.prefix)
        .bind(key.created_at)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(DbError::from))?;
        Ok((key, secret))
    }

    /// Every key, newest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, DbError> {
        let rows: Vec<KeyRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, role, seller_id, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at DESC, id DESC",
        )
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(key_from_row).collect()
    }

    /// Revokes a key by id; returns whether an active key was revoked.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, DbError> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// The active key whose secret is `secret`, if any.
    pub async fn find_api_key(&self, secret: &str) -> Result<Option<ApiKey>, DbError> {
        let row: Option<KeyRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, role, seller_id, prefix, created_at, revoked_at FROM api_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_key(secret))
        .fetch_optional(pool)
        .await)?;
        row.map(key_from_row).transpose()
    }
}
