//! Fetching an upload from the blob store with its SHA-256: whole into memory
//! for photos, streamed into a temporary file for videos.

use fleet_shared::blob::{BlobError, BlobKey, Blobs};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Reads `key` into memory (at most `limit` bytes) and returns it with its hex SHA-256.
pub async fn to_memory(
    blobs: &Blobs,
    key: &BlobKey,
    limit: u64,
) -> Result<(bytes::Bytes, String), BlobError> {
    let bytes = blobs.get_bytes(key, limit).await?;
    let sha = hex::encode(Sha256::digest(&bytes));
    Ok((bytes, sha))
}

/// Streams `key` into a new file at `path` (at most `limit` bytes, refused as soon as it
/// grows past it) and returns its hex SHA-256, computed on the way.
pub async fn to_file(
    blobs: &Blobs,
    key: &BlobKey,
    limit: u64,
    path: &Path,
) -> Result<String, BlobError> {
    let io = |op: &'static str| {
        let key = key.to_string();
        move |source| BlobError::Io { op, key, source }
    };
    let too_large = || BlobError::TooLarge {
        key: key.to_string(),
        limit,
    };
    let mut blob = blobs.get(key).await?;
    if blob.meta.size > limit {
        return Err(too_large());
    }
    let mut file = tokio::fs::File::create(path).await.map_err(io("create"))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while let Some(chunk) = blob.body.next().await {
        let chunk = chunk.map_err(io("read"))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(too_large());
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io("write"))?;
    }
    file.flush().await.map_err(io("write"))?;
    Ok(hex::encode(hasher.finalize()))
}
