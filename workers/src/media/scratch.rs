//! Scratch directories of video jobs (the downloaded upload and the renditions
//! being written: hundreds of MB). Each holds a `lock` file locked (flock) for
//! as long as its attempt runs; a directory whose lock can be taken belongs to
//! a worker that died without cleaning up (SIGKILL, OOM killer, power loss),
//! and the next video job on the machine removes it.

use std::{
    fs::{self, File},
    io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// Name prefix of every scratch directory (`fleet-video-{job}-{random}`).
pub const PREFIX: &str = "fleet-video-";

/// The lock file inside a scratch directory.
const LOCK: &str = "lock";

/// Age past which a scratch directory without a lock file is an orphan: one whose worker died
/// in the instant between creating it and locking it, or one made before directories had locks.
const ORPHAN_AGE: Duration = Duration::from_secs(60 * 60);

/// A job's scratch directory, locked while this value lives and removed when it is dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    _lock: File,
}

impl Scratch {
    /// Creates a scratch directory for job `job` in `parent` (which must exist).
    pub fn create(parent: &Path, job: &str) -> io::Result<Scratch> {
        let job: String = job
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            .take(64)
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{job}-"))
            .tempdir_in(parent)?;
        // Locked under a name the sweep ignores, then renamed into place: a `lock` file is always
        // held, unless its worker is gone.
        let staging = dir.path().join(".lock");
        let lock = File::create(&staging)?;
        lock.try_lock().map_err(io::Error::from)?;
        fs::rename(&staging, dir.path().join(LOCK))?;
        Ok(Scratch { dir, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the scratch directories in `parent` left by attempts that are gone: those whose lock
/// can be taken, and unlocked orphans older than an hour. Returns the directories removed.
/// Directories of running attempts, in this process or any other, are left alone.
pub fn sweep(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX)
            || !entry.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        let path = entry.path();
        // Held while the directory is removed, so two sweeps do not race over it.
        let lock = match File::open(path.join(LOCK)) {
            Ok(lock) if lock.try_lock().is_ok() => Some(lock),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_orphan(&path) => None,
            Err(_) => continue,
        };
        match fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %path.display(), error = %e, "cannot remove a stale video scratch directory");
            }
        }
        drop(lock);
    }
    removed
}

fn is_orphan(dir: &Path) -> bool {
    fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age >= ORPHAN_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_directories_of_gone_attempts_only() {
        let parent = tempfile::tempdir().unwrap();
        let live = Scratch::create(parent.path(), "01jlive/../x").unwrap();
        let name = live
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("fleet-video-01jlivex-"), "{name}");
        std::fs::write(live.path().join("source"), b"video").unwrap();

        // A dead attempt: its directory stays, but its lock is released with its process.
        let Scratch { dir, _lock } = Scratch::create(parent.path(), "01jdead").unwrap();
        let dead_path = dir.keep();
        drop(_lock);
        std::fs::write(dead_path.join("720.mp4"), b"partial").unwrap();
        // A directory without a lock file, just created: maybe being set up right now.
        let fresh = parent.path().join("fleet-video-new");
        std::fs::create_dir(&fresh).unwrap();
        // Something else.
        let other = parent.path().join("other");
        std::fs::create_dir(&other).unwrap();

        assert_eq!(sweep(parent.path()), vec![dead_path.clone()]);
        assert!(!dead_path.exists());
        assert!(live.path().join("source").exists());
        assert!(fresh.exists() && other.exists());

        let path = live.path().to_owned();
        drop(live);
        assert!(!path.exists(), "removed when dropped");
    }
}
