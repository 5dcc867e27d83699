//! Persistent network namespaces owned by the engine: a file under the run root with
//! the namespace bind-mounted on it, as `ip netns add` makes. The container's spec
//! joins it by path, so the namespace (and its veth end) exists before the container
//! and is configured from the host before the container's process runs.
//!
//! A namespace is made and entered on a thread of its own: `unshare` and `setns` of
//! CLONE_NEWNET change only the calling thread, so the process (and whatever other
//! threads it has) stays in the host's namespace, and nothing forks.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{NetError, Result};

/// `<run_root>/netns/<container id>`.
pub fn path(run_root: &Path, container_id: &str) -> PathBuf {
    run_root.join("netns").join(container_id)
}

fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// Whether a namespace is mounted on `file` (its file system is nsfs).
pub fn is_mounted(file: &Path) -> bool {
    // SAFETY: statfs is plain data; all-zero is a valid value for it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let Ok(c) = cstr(file) else { return false };
    // SAFETY: c is NUL-terminated and st is a valid out-pointer.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    // NSFS_MAGIC: the file system of /proc/*/ns/* and their bind mounts.
    r == 0 && st.f_type as i64 == 0x6e73_6673
}

/// Creates the namespace file for a container (a new, empty namespace bind-mounted on
/// it). An existing mounted one is kept: a start after a crash reuses it.
pub fn create(file: &Path) -> Result<()> {
    if is_mounted(file) {
        return Ok(());
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
    }
    // Bound from the thread that made it: only that thread is in the namespace.
    let target = file.to_path_buf();
    std::thread::spawn(move || -> Result<()> {
        // SAFETY: unshare with a constant flag; it changes only this thread, which
        // ends right after.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let e = io::Error::last_os_error();
            return Err(NetError::io(
                format!("creating the network namespace {}", target.display()),
                e,
            ));
        }
        bind(Path::new("/proc/thread-self/ns/net"), &target)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetError::io(
            "creating a network namespace",
            io::Error::other("the namespace thread panicked"),
        ))
    })
}

/// Mounts `src` on a new file `target` with `flags` (a bind or a move); on failure
/// the file is removed again.
fn mount_on(src: &Path, target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    File::create(target)?;
    let (s, t) = (cstr(src)?, cstr(target)?);
    // SAFETY: both paths are NUL-terminated; binds and moves take no fs type or data.
    let r = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        let _ = std::fs::remove_file(target);
        return Err(e);
    }
    Ok(())
}

/// Bind-mounts the namespace at `src` (a namespace file or `/proc/.../ns/net`) on a
/// new file `target`, which then holds the namespace alive as well.
pub fn bind(src: &Path, target: &Path) -> Result<()> {
    mount_on(src, target, libc::MS_BIND).map_err(|e| {
        NetError::io(
            format!("binding {} on {}", src.display(), target.display()),
            e,
        )
    })
}

/// Moves the namespace mounted on `src` to a new file `target`, leaving `src`
/// unlinked. A move (MS_MOVE) frees no mount, so unlike a bind and an unmount it
/// does not wait for an RCU grace period; the kernel refuses it where `src`'s parent
/// mount is shared (as `/` and `/run` are on systemd hosts), and then it is done
/// that way.
pub fn hand_over(src: &Path, target: &Path) -> Result<()> {
    match mount_on(src, target, libc::MS_MOVE) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => bind(src, target)?,
        Err(e) => {
            return Err(NetError::io(
                format!("moving {} to {}", src.display(), target.display()),
                e,
            ))
        }
    }
    remove(src)
}

/// Unmounts and unlinks the namespace file. The namespace itself ends when the last
/// process in it has exited, which takes its veth pair with it.
pub fn remove(file: &Path) -> Result<()> {
    if let Ok(c) = cstr(file) {
        // Unmounted until nothing is left (a start that raced might have stacked two).
        while is_mounted(file) {
            // SAFETY: c is NUL-terminated; MNT_DETACH so a busy mount cannot block
            // the cleanup.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                let e = io::Error::last_os_error();
                return Err(NetError::io(format!("unmounting {}", file.display()), e));
            }
        }
    }
    match std::fs::remove_file(file) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(NetError::io(format!("removing {}", file.display()), e))
        }
        _ => Ok(()),
    }
}

/// Runs `f` on a thread that has joined the namespace at `file`; netlink sockets it
/// opens belong to that namespace.
pub fn run_in<T: Send + 'static>(
    file: &Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = File::open(file)?;
    std::thread::spawn(move || {
        // SAFETY: setns on an open namespace fd; it moves only this thread, which
        // ends when f returns.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
}
