//! Blobs in a local directory, for `fleet dev`. Objects live at `root/<key>`,
//! their content type at `root/.meta/<key>`; writes go to `root/.tmp` and are
//! renamed into place, so a reader never sees half an object. A process
//! killed mid-write leaves its temporary file behind; opening the store
//! removes those older than an hour.

use super::{
    Blob, BlobError, BlobKey, BlobStore, ByteStream, DEFAULT_CONTENT_TYPE, ObjectMeta, Presigned,
    SignedMethod, UrlSigner,
};
use futures::StreamExt;
use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::io::AsyncWriteExt;

/// A temporary file this old belongs to a write that will never finish.
const STALE_TEMP: Duration = Duration::from_secs(60 * 60);

/// A blob store in a local directory; the API serves its signed URLs.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    signer: UrlSigner,
}

impl FsStore {
    /// Opens (creating if needed) the store at `root`, signing URLs with `signer`.
    pub async fn open(root: PathBuf, signer: UrlSigner) -> Result<FsStore, BlobError> {
        for dir in [root.clone(), root.join(".tmp"), root.join(".meta")] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|source| io_error("create", &dir.display().to_string(), source))?;
        }
        let swept = sweep_stale_temps(&root.join(".tmp"), STALE_TEMP);
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed temporary files of blob writes that never finished"
            );
        }
        Ok(FsStore { root, signer })
    }

    /// The directory holding the objects (what `file://` in `blob_url` names).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The signer whose URLs this store hands out (the API verifies with it).
    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }

    /// The file holding the object under `key` (which may not exist).
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn meta_path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(".meta").join(key.as_str())
    }

    async fn content_type(&self, key: &BlobKey) -> String {
        match tokio::fs::read_to_string(self.meta_path(key)).await {
            Ok(ct) if !ct.is_empty() => ct,
            _ => DEFAULT_CONTENT_TYPE.to_owned(),
        }
    }

    /// Writes `body` to a new temporary file and returns it with its size.
    async fn write_temp(
        &self,
        key: &BlobKey,
        mut body: ByteStream,
    ) -> Result<(TempFile, u64), BlobError> {
        let temp = TempFile(self.root.join(".tmp").join(ulid::Ulid::new().to_string()));
        let err = |source| io_error("write", key.as_str(), source);
        let mut file = tokio::fs::File::create(&temp.0).await.map_err(err)?;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(err)?;
            file.write_all(&chunk).await.map_err(err)?;
            size += chunk.len() as u64;
        }
        file.sync_all().await.map_err(err)?;
        Ok((temp, size))
    }
}

/// Removes the files in `dir` last modified more than `age` ago; returns how many.
/// Newer ones may belong to a write in progress in another process.
fn sweep_stale_temps(dir: &Path, age: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|elapsed| elapsed > age)
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

/// A temporary file removed on drop unless it was renamed into place.
struct TempFile(PathBuf);

impl TempFile {
    /// Moves the file to `dest`, creating its directory.
    async fn persist(self, dest: &Path) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(&self.0, dest).await
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn io_error(op: &'static str, key: &str, source: io::Error) -> BlobError {
    BlobError::Io {
        op,
        key: key.to_owned(),
        source,
    }
}

#[async_trait::async_trait]
impl BlobStore for FsStore {
    async fn put(
        &self,
        key: &BlobKey,
        body: ByteStream,
        content_type: &str,
    ) -> Result<ObjectMeta, BlobError> {
        let (object, size) = self.write_temp(key, body).await?;
        let type_bytes = bytes::Bytes::from(content_type.to_owned());
        let meta_bytes = futures::stream::once(async move { Ok(type_bytes) });
        let (meta, _) = self.write_temp(key, Box::pin(meta_bytes)).await?;
        let err = |source| io_error("store", key.as_str(), source);
        meta.persist(&self.meta_path(key)).await.map_err(err)?;
        object.persist(&self.path_of(key)).await.map_err(err)?;
        Ok(ObjectMeta {
            size,
            content_type: content_type.to_owned(),
        })
    }

    async fn get(&self, key: &BlobKey) -> Result<Blob, BlobError> {
        let file = match tokio::fs::File::open(self.path_of(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(key.to_string()));
            }
            Err(e) => return Err(io_error("read", key.as_str(), e)),
        };
        let stat = file
            .metadata()
            .await
            .map_err(|e| io_error("read", key.as_str(), e))?;
        if !stat.is_file() {
            return Err(BlobError::NotFound(key.to_string()));
        }
        let meta = ObjectMeta {
            size: stat.len(),
            content_type: self.content_type(key).await,
        };
        let body = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        Ok(Blob {
            meta,
            body: Box::pin(body),
        })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectMeta>, BlobError> {
        match tokio::fs::metadata(self.path_of(key)).await {
            Ok(stat) if stat.is_file() => Ok(Some(ObjectMeta {
                size: stat.len(),
                content_type: self.content_type(key).await,
            })),
            Ok(_) => Ok(None),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(io_error("stat", key.as_str(), e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        for path in [self.path_of(key), self.meta_path(key)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("delete", key.as_str(), e)),
            }
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &BlobKey) -> Result<u64, BlobError> {
        let objects = self.path_of(prefix);
        let metas = self.meta_path(prefix);
        let err = |source| io_error("delete", prefix.as_str(), source);
        tokio::task::spawn_blocking(move || {
            let count = count_files(&objects)?;
            for dir in [objects, metas] {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => {}
                    Err(e) if is_absent(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(count)
        })
        .await
        .map_err(|e| err(io::Error::other(e)))?
        .map_err(err)
    }

    async fn presign_put(
        &self,
        key: &BlobKey,
        content_type: &str,
        content_length: Option<u64>,
        ttl: Duration,
    ) -> Result<Presigned, BlobError> {
        let (url, expires_at) = self.signer.sign(
            SignedMethod::Put,
            key,
            ttl,
            Some(content_type),
            content_length,
        );
        let headers = BTreeMap::from([("content-type".to_owned(), content_type.to_owned())]);
        Ok(Presigned::new("PUT", url, headers, expires_at))
    }

    async fn presign_get(&self, key: &BlobKey, ttl: Duration) -> Result<Presigned, BlobError> {
        let (url, expires_at) = self.signer.sign(SignedMethod::Get, key, ttl, None, None);
        Ok(Presigned::new("GET", url, BTreeMap::new(), expires_at))
    }

    async fn check(&self) -> Result<(), BlobError> {
        let probe = futures::stream::once(async { Ok(bytes::Bytes::from_static(b"ok")) });
        let probe_key = BlobKey::new("readyz-probe")?;
        // Written to the temporary area only, and removed on drop.
        self.write_temp(&probe_key, Box::pin(probe)).await.map(drop)
    }

    fn as_fs(&self) -> Option<&FsStore> {
        Some(self)
    }
}

/// Whether a filesystem error means the path does not exist (or a parent is a file).
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Counts regular files under `dir` (0 if it does not exist or is a file).
fn count_files(dir: &Path) -> io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut count = 0;
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            count += count_files(&entry.path())?;
        } else {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[tokio::test]
    async fn opening_removes_only_stale_temporary_files() {
        let root = std::env::temp_dir().join(format!("fleet-fs-{}", ulid::Ulid::new()));
        let tmp = root.join(".tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let stale = tmp.join("killed-mid-write");
        let fresh = tmp.join("still-writing");
        for path in [&stale, &fresh] {
            std::fs::write(path, b"half an object").unwrap();
        }
        let long_ago = SystemTime::now() - STALE_TEMP - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let signer = UrlSigner::new([7; 32], "http://127.0.0.1:8080");
        FsStore::open(root.clone(), signer).await.unwrap();
        assert!(!stale.exists(), "a stale temporary file is removed");
        assert!(fresh.exists(), "a recent one may be a write in progress");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
