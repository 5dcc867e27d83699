//! `RUN --mount=type=cache` directories: one per id under the store, kept between
//! builds, and shared by steps running at the same time (stages built side by side,
//! other berth processes) as `sharing=` says: `shared` (the default) by any number
//! of steps, `locked` by one step at a time (the others wait for it), `private` by
//! one step, another one getting a new directory of its own that goes with the
//! step. The locks are flocks on a file beside the directory, so they hold between
//! processes and go with a process that dies.
//!
//! A new cache is made under a temporary name, seeded (from `from=`'s `source=`)
//! and then renamed into place without replacing: a step never sees a cache half
//! seeded, and of two steps making the same cache one wins.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use berth_dockerfile::{CacheSharing, Mount};
use rustix::fs::{flock, FlockOperation};
use serde_json::json;

use super::step::step_key;
use crate::error::{io_at, Result};

/// A cache directory held for a step: the lock (and a private directory) last as
/// long as this value.
pub(crate) struct CacheDir {
    pub path: PathBuf,
    _lock: File,
    _private: Option<tempfile::TempDir>,
}

/// Fills a new cache directory.
pub(crate) type Seed<'s> = dyn FnMut(&Path) -> Result<()> + 's;

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sets a new cache directory's mode and owner from the mount (root and 0755 by
/// default, as BuildKit).
fn own(dir: &Path, m: &Mount) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(m.mode.unwrap_or(0o755)));
    let _ = std::os::unix::fs::chown(dir, m.uid.or(Some(0)), m.gid.or(Some(0)));
}

/// Makes the cache `dir` if it is not there yet (its content from `seed`).
fn create(dir: &Path, m: &Mount, seed: &mut Seed<'_>) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let new = parent.join(format!(".new-{}", unique()));
    fs::create_dir(&new).map_err(io_at("creating", &new))?;
    own(&new, m);
    let placed = seed(&new).and_then(|()| {
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &new,
            rustix::fs::CWD,
            dir,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            // Another step made it first: theirs is the cache.
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(e) => Err(io_at("renaming into place", dir)(e.into())),
        }
    });
    let _ = fs::remove_dir_all(&new);
    placed
}

/// The cache `id` for a step, created (and seeded) if new, locked as `m.sharing`
/// says.
pub(crate) fn open(
    store_root: &Path,
    id: &str,
    m: &Mount,
    seed: &mut Seed<'_>,
) -> Result<CacheDir> {
    let base = store_root.join("build-cache-mounts");
    fs::create_dir_all(&base).map_err(io_at("creating", &base))?;
    let name = &step_key("cache-mount", &json!(id))[..32];
    let dir = base.join(name);
    let lock_path = base.join(format!("{name}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_at("opening", &lock_path))?;
    let locking = |op| flock(&lock, op).map_err(|e| io_at("locking", &lock_path)(e.into()));
    let mut private = None;
    match m.sharing {
        CacheSharing::Shared => locking(FlockOperation::LockShared)?,
        CacheSharing::Locked => locking(FlockOperation::LockExclusive)?,
        CacheSharing::Private => match flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let t = tempfile::Builder::new()
                    .prefix(".private-")
                    .tempdir_in(&base)
                    .map_err(io_at("creating a private cache in", &base))?;
                own(t.path(), m);
                seed(t.path())?;
                private = Some(t);
            }
            Err(e) => return Err(io_at("locking", &lock_path)(e.into())),
        },
    }
    let path = match &private {
        Some(t) => t.path().to_path_buf(),
        None => {
            create(&dir, m, seed)?;
            dir
        }
    };
    Ok(CacheDir {
        path,
        _lock: lock,
        _private: private,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(sharing: &str) -> Mount {
        let r = berth_dockerfile::parse(&format!(
            "FROM x\nRUN --mount=type=cache,target=/c,sharing={sharing} true\n"
        ))
        .unwrap();
        match &r.stages[0].instructions[0].kind {
            berth_dockerfile::InstructionKind::Run(r) => r.mounts[0].clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn seeded_once_shared_and_private() {
        let root = tempfile::tempdir().unwrap();
        let mut seeds = 0;
        let mut seed = |d: &Path| {
            seeds += 1;
            fs::write(d.join("seed"), "s").map_err(io_at("writing", d))
        };
        let a = open(root.path(), "x", &mount("shared"), &mut seed).unwrap();
        assert_eq!(fs::read_to_string(a.path.join("seed")).unwrap(), "s");
        // Shared: the same directory, not seeded again.
        let b = open(root.path(), "x", &mount("shared"), &mut seed).unwrap();
        assert_eq!(a.path, b.path);
        // Private while others hold it: a directory of its own, gone with it.
        let p = open(root.path(), "x", &mount("private"), &mut seed).unwrap();
        assert_ne!(p.path, a.path);
        let private = p.path.clone();
        drop(p);
        assert!(!private.exists());
        drop((a, b));
        // Private with nobody else: the cache itself.
        let p = open(root.path(), "x", &mount("private"), &mut seed).unwrap();
        assert!(p.path.join("seed").exists());
        drop(p);
        assert_eq!(seeds, 2);
    }

    #[test]
    fn locked_waits_for_the_holder() {
        let root = tempfile::tempdir().unwrap();
        let mut none = |_: &Path| Ok(());
        let held = open(root.path(), "l", &mount("locked"), &mut none).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut none = |_: &Path| Ok(());
                let c = open(root.path(), "l", &mount("locked"), &mut none).unwrap();
                tx.send(c.path.clone()).unwrap();
            });
            // Not before the holder lets go (a rendezvous, not a timing).
            assert!(rx.try_recv().is_err());
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(rx.try_recv().is_err(), "a second locked user got in");
            drop(held);
            assert!(rx.recv().is_ok());
        });
    }
}
