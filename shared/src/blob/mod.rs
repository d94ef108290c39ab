//! The blob store: where uploaded media, variants and export files live. One
//! trait, [`BlobStore`], with two implementations chosen by `blob_url`:
//! [`S3Store`] (`s3://bucket?endpoint=…`) for production and [`FsStore`]
//! (`file:///path`) for `fleet dev`, whose presigned URLs the API serves.
//!
//! ```no_run
//! # async fn example(blobs: fleet_shared::blob::Blobs) -> Result<(), fleet_shared::blob::BlobError> {
//! use fleet_shared::blob::BlobKey;
//! let key = BlobKey::new("media/01J0/source")?;
//! blobs.put_bytes(&key, bytes::Bytes::from_static(b"..."), "image/jpeg").await?;
//! let upload = blobs.presign_put(&key, "image/jpeg", Some(3), std::time::Duration::from_secs(900)).await?;
//! println!("{} {}", upload.method, upload.url);
//! # Ok(()) }
//! ```

mod fs;
mod key;
mod location;
mod s3;
mod signed_url;

pub use fs::FsStore;
pub use key::BlobKey;
pub use location::{BlobLocation, S3Settings};
pub use s3::S3Store;
pub use signed_url::{BLOB_ROUTE_PREFIX, SignatureError, SignedMethod, SignedQuery, UrlSigner};

use crate::{Config, secret::SecretKey};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::{collections::BTreeMap, fmt, io, pin::Pin, sync::Arc, time::Duration, time::SystemTime};

/// Content type of objects stored without one.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A stream of object bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The configured blob store, shared by every handler and worker.
pub type Blobs = Arc<dyn BlobStore>;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key is not acceptable.
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey {
        /// The key (truncated).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// No object under that key.
    #[error("no blob at {0}")]
    NotFound(String),
    /// The object is bigger than the caller allows.
    #[error("blob {key} is larger than {limit} bytes")]
    TooLarge {
        /// The key.
        key: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// `blob_url` cannot be used.
    #[error(
        "invalid blob_url {url:?}: {reason} (FLEET_BLOB_URL: `file:///path` or `s3://bucket?endpoint=http://host:9000&path_style=true`)"
    )]
    Config {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A local file operation failed.
    #[error("blob store: cannot {op} {key}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The key or path.
        key: String,
        /// The cause.
        source: io::Error,
    },
    /// The S3 service failed or refused.
    #[error("S3: cannot {op} {key}: {message}")]
    S3 {
        /// The operation.
        op: &'static str,
        /// The key (or bucket).
        key: String,
        /// The service's message.
        message: String,
    },
}

/// What is known about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// Content type given at upload (`application/octet-stream` when none was).
    pub content_type: String,
}

/// An object being read: its metadata and its bytes.
pub struct Blob {
    /// Size and type.
    pub meta: ObjectMeta,
    /// The bytes, streamed.
    pub body: ByteStream,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blob")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// A request a client may make without credentials until `expires_at`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Presigned {
    /// `PUT` or `GET`.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers the client must send with exactly these values.
    pub headers: BTreeMap<String, String>,
    /// When the URL stops working (RFC 3339).
    pub expires_at: String,
}

impl Presigned {
    fn new(
        method: &str,
        url: String,
        headers: BTreeMap<String, String>,
        expires_at: SystemTime,
    ) -> Self {
        Presigned {
            method: method.to_owned(),
            url,
            headers,
            expires_at: humantime::format_rfc3339_seconds(expires_at).to_string(),
        }
    }
}

/// Object storage: streaming put and get, head, delete, and presigned URLs.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Stores `body` under `key`, replacing any object there; the object appears whole or not at all.
    async fn put(
        &self,
        key: &BlobKey,
        body: ByteStream,
        content_type: &str,
    ) -> Result<ObjectMeta, BlobError>;

    /// Streams the object under `key`; [`BlobError::NotFound`] if there is none.
    async fn get(&self, key: &BlobKey) -> Result<Blob, BlobError>;

    /// The object's metadata, or `None` if there is no object under `key`.
    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectMeta>, BlobError>;

    /// Removes the object under `key`; removing a missing object succeeds.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Removes every object whose key starts with `prefix/` and returns how many.
    async fn delete_prefix(&self, prefix: &BlobKey) -> Result<u64, BlobError>;

    /// A URL through which a client uploads `key` with `content_type` (and exactly `content_length` bytes when given).
    async fn presign_put(
        &self,
        key: &BlobKey,
        content_type: &str,
        content_length: Option<u64>,
        ttl: Duration,
    ) -> Result<Presigned, BlobError>;

    /// A URL through which a client downloads `key`.
    async fn presign_get(&self, key: &BlobKey, ttl: Duration) -> Result<Presigned, BlobError>;

    /// Checks the store answers (for `/readyz`).
    async fn check(&self) -> Result<(), BlobError>;

    /// The local store, when this is one (the API serves its signed URLs).
    fn as_fs(&self) -> Option<&FsStore> {
        None
    }
}

impl dyn BlobStore {
    /// Stores `bytes` under `key`.
    pub async fn put_bytes(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ObjectMeta, BlobError> {
        self.put(
            key,
            Box::pin(futures::stream::once(async { Ok(bytes) })),
            content_type,
        )
        .await
    }

    /// Streams the local file at `path` into `key`, never holding it whole in memory.
    pub async fn put_file(
        &self,
        key: &BlobKey,
        path: &std::path::Path,
        content_type: &str,
    ) -> Result<ObjectMeta, BlobError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| BlobError::Io {
                op: "open",
                key: path.display().to_string(),
                source,
            })?;
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        self.put(key, Box::pin(body), content_type).await
    }

    /// Reads the whole object under `key`, refusing objects over `limit` bytes.
    pub async fn get_bytes(&self, key: &BlobKey, limit: u64) -> Result<Bytes, BlobError> {
        let mut blob = self.get(key).await?;
        let too_large = || BlobError::TooLarge {
            key: key.to_string(),
            limit,
        };
        if blob.meta.size > limit {
            return Err(too_large());
        }
        let mut out = bytes::BytesMut::with_capacity(blob.meta.size as usize);
        while let Some(chunk) = blob.body.next().await {
            let chunk = chunk.map_err(|source| BlobError::Io {
                op: "read",
                key: key.to_string(),
                source,
            })?;
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

/// Opens the store `config.blob_url()` names.
pub async fn open(config: &Config, secret: &SecretKey) -> Result<Blobs, BlobError> {
    match BlobLocation::parse(&config.blob_url())? {
        BlobLocation::Fs { root } => {
            let signer = UrlSigner::new(secret.derive("blob-url"), &config.public_url());
            Ok(Arc::new(FsStore::open(root, signer).await?))
        }
        BlobLocation::S3(settings) => {
            let credentials = match (&config.s3_access_key_id, &config.s3_secret_access_key) {
                (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
                (None, None) => None,
                _ => {
                    return Err(BlobError::Config {
                        url: config.blob_url(),
                        reason: "set both s3_access_key_id and s3_secret_access_key, or neither"
                            .to_owned(),
                    });
                }
            };
            Ok(Arc::new(S3Store::connect(settings, credentials).await))
        }
    }
}
