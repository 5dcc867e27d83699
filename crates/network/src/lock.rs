//! An exclusive `flock` on a file: what serialises berth processes that rewrite one
//! network's shared state (its DNS records, its pool of namespaces).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{NetError, Result};

/// An exclusive `flock` on a file, released when dropped (with the file).
pub struct Locked {
    _file: File,
}

impl Locked {
    /// Blocks until the lock is ours (`wait`), or returns `None` when another
    /// process holds it.
    pub fn take(path: &Path, wait: bool) -> Result<Option<Locked>> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| NetError::io(format!("opening {}", path.display()), e))?;
        let op = if wait {
            libc::LOCK_EX
        } else {
            libc::LOCK_EX | libc::LOCK_NB
        };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Ok(None);
            }
            return Err(NetError::io(format!("locking {}", path.display()), e));
        }
        Ok(Some(Locked { _file: f }))
    }
}
