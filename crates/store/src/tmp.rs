//! Temp files under `<root>/tmp` and the lock protocol that tells live ones
//! from the leftovers of crashed processes.
//!
//! A writer holds an exclusive `flock` on its temp file for as long as the file
//! matters. The kernel drops the lock when the process dies, however it dies,
//! so "unlocked" reliably means "abandoned". Cleanup takes the lock itself
//! before unlinking, so it can never delete a file a live writer holds.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{flock, FlockOperation};

use crate::error::StoreError;

/// Prefix of blob writers' temp files: these are removed as soon as they are
/// unlocked, whatever their age.
pub(crate) const BLOB_PREFIX: &str = "blob-";

/// Other entries in tmp/ (callers' own temp files and directories) are only
/// considered abandoned when unlocked *and* this old, since callers are not
/// required to lock them.
pub(crate) const STALE_AGE: Duration = Duration::from_secs(60 * 60);

/// Tries to take the exclusive lock without waiting; `Ok(false)` if someone
/// else holds it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{nanos:x}-{n}", std::process::id())
}

/// Creates a new file in `dir` and locks it.
///
/// Between `open` and `flock` a concurrent cleanup could lock and unlink the
/// fresh (still unlocked) file; we would then hold a lock on an orphan inode.
/// Checking that the path still names our inode after locking closes that gap.
pub(crate) fn create_locked(dir: &Path, prefix: &str) -> Result<(File, PathBuf), StoreError> {
    loop {
        let path = dir.join(unique_name(prefix));
        let file = match OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io("create temp file", path, e)),
        };
        if !try_lock(&file).map_err(|e| StoreError::io("lock temp file", &path, e))? {
            continue;
        }
        let ours = file
            .metadata()
            .map_err(|e| StoreError::io("stat temp file", &path, e))?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => return Ok((file, path)),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io("stat temp file", path, e)),
        }
    }
}

/// Removes abandoned entries from `dir`. Best effort: a leftover that cannot
/// be removed now only costs disk space and will be retried next time, so it
/// must not stop the store from opening.
pub(crate) fn cleanup(dir: &Path) -> Result<(), StoreError> {
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io("read directory", dir, e))?;
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let ours = entry.file_name().to_string_lossy().starts_with(BLOB_PREFIX);
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= STALE_AGE);
        if !ours && !old {
            continue;
        }
        if meta.file_type().is_symlink() {
            let _ = fs::remove_file(&path);
            continue;
        }
        // O_NONBLOCK so a stray FIFO cannot hang the open; O_NOFOLLOW in case
        // the entry was swapped for a symlink since we looked.
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        else {
            continue;
        };
        if !try_lock(&file).unwrap_or(false) {
            continue;
        }
        // Still holding the lock, so no writer can adopt the entry meanwhile.
        let _ = if meta.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_keeps_locked_and_young_foreign_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (_live, live_path) = create_locked(dir.path(), BLOB_PREFIX).unwrap();
        let (dead, dead_path) = create_locked(dir.path(), BLOB_PREFIX).unwrap();
        drop(dead);
        let foreign = dir.path().join("caller-temp");
        fs::write(&foreign, b"x").unwrap();
        fs::create_dir(dir.path().join("caller-dir")).unwrap();

        cleanup(dir.path()).unwrap();

        assert!(live_path.exists(), "locked temp file must survive");
        assert!(!dead_path.exists(), "unlocked blob temp file must go");
        assert!(foreign.exists(), "young caller files are left alone");
        assert!(dir.path().join("caller-dir").exists());
    }
}
