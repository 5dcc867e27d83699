//! How a newly forked, single-threaded process gets into a cgroup without anyone
//! writing its pid to `cgroup.procs`.
//!
//! Moving a whole process (`cgroup.procs`, or any write naming a pid) takes the
//! kernel's threadgroup lock for writing, and taking that lock waits for an RCU
//! grace period: 6–15 ms on a small VM, a third of a short container's life. A
//! process that moves only itself, one thread, is exempt from that lock. So:
//!
//! - on v1 the parent opens each hierarchy's `tasks` file before forking and the
//!   child, still single-threaded, writes `0` (itself) to each;
//! - on v2 `tasks` does not exist and `cgroup.threads` only moves threads within a
//!   domain, but the kernel can place the child at fork: `clone3` with
//!   `CLONE_INTO_CGROUP` and the cgroup's directory, which [`Entry::dir_fd`] gives.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use crate::error::CgroupError;
use crate::fsutil;

/// A cgroup opened for a process about to be forked into it.
#[derive(Debug)]
pub struct Entry {
    how: How,
}

#[derive(Debug)]
enum How {
    /// Each v1 hierarchy's `tasks` file, opened for writing.
    Tasks(Vec<(PathBuf, File)>),
    /// The v2 cgroup's directory, for `CLONE_INTO_CGROUP`.
    Dir(File),
}

impl Entry {
    pub(crate) fn v1_tasks(dirs: impl IntoIterator<Item = PathBuf>) -> Result<Self, CgroupError> {
        let files = dirs
            .into_iter()
            .map(|dir| {
                let path = dir.join("tasks");
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|source| fsutil::write_err(&path, "0", source))?;
                Ok((path, f))
            })
            .collect::<Result<Vec<_>, CgroupError>>()?;
        Ok(Entry {
            how: How::Tasks(files),
        })
    }

    pub(crate) fn v2_dir(dir: PathBuf) -> Result<Self, CgroupError> {
        let f = File::open(&dir).map_err(|source| CgroupError::Read {
            hint: crate::error::read_hint(&source),
            path: dir,
            source,
        })?;
        Ok(Entry { how: How::Dir(f) })
    }

    /// The v2 cgroup's directory, for `clone3(CLONE_INTO_CGROUP)`; `None` on v1,
    /// where the child calls [`Entry::enter_self`] instead.
    pub fn dir_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.how {
            How::Dir(f) => Some(f.as_fd()),
            How::Tasks(_) => None,
        }
    }

    /// In the forked child, which must be single-threaded: moves the calling
    /// thread, and so the whole process, into every v1 hierarchy's cgroup. Does
    /// nothing on v2 (the child was forked into the cgroup).
    pub fn enter_self(&self) -> Result<(), CgroupError> {
        let How::Tasks(files) = &self.how else {
            return Ok(());
        };
        for (path, f) in files {
            // One write(2) of "0": the kernel reads 0 as the writing thread.
            (&*f)
                .write_all(b"0")
                .map_err(|source| fsutil::write_err(path, "0", source))?;
        }
        Ok(())
    }
}
