//! CVE-2019-5736: a process inside the container could open /proc/PID/exe of a runtime
//! process that entered it and overwrite the runtime binary on the host. Every runtime
//! invocation that forks into a container first makes sure it runs from a copy of the
//! binary that cannot be written:
//!
//! 1. a binary already on a read-only mount, or already a sealed memfd, is safe as is;
//! 2. otherwise re-exec through a detached, read-only bind mount of the binary
//!    (open_tree + mount_setattr): no copy, nothing attached to any mount namespace,
//!    and writes through /proc/PID/exe fail with EROFS;
//! 3. where that is not permitted (rootless, kernels before 5.12) re-exec from a sealed
//!    memfd copy (F_SEAL_WRITE|SHRINK|GROW|SEAL).
//!
//! Copying the binary into a memfd cost about 6 ms per invocation here (a 5 MB copy and
//! the page faults after it), half of a container start; the read-only bind costs
//! nothing measurable. `BERTH_EXE_SEAL=memfd` forces the copy (tests use it).

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::sys;

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;

/// Whether the executable behind `fd` cannot be written: a sealed memfd or a file on a
/// read-only mount.
pub fn is_protected(fd: BorrowedFd<'_>) -> bool {
    sys::get_seals(fd).is_ok_and(|s| s & SEALS == SEALS) || sys::on_readonly_mount(fd)
}

fn argv_envp() -> (Vec<CString>, Vec<CString>) {
    let argv = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    (argv, envp)
}

/// Returns only when already running from a protected binary; otherwise replaces the
/// process with one that is.
pub fn ensure_sealed() -> Result<()> {
    let exe = std::fs::File::open("/proc/self/exe").ctx(|| "opening /proc/self/exe".into())?;
    if is_protected(exe.as_fd()) {
        return Ok(());
    }
    let (argv, envp) = argv_envp();
    let force_memfd = std::env::var_os("BERTH_EXE_SEAL").is_some_and(|v| v == "memfd");
    if !force_memfd {
        if let Ok(ro) = sys::open_tree_readonly(Path::new("/proc/self/exe")) {
            // Only returns on failure; fall through to the copy then.
            let _ = sys::fexecve(ro.as_fd(), &argv, &envp);
        }
    }
    let len = exe
        .metadata()
        .ctx(|| "reading the runtime binary's size".into())?
        .len();
    let memfd = sys::memfd_create(
        c"berth-runtime",
        libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
    )
    .ctx(|| "creating a sealed copy of the runtime".into())?;
    sys::sendfile_all(memfd.as_fd(), exe.as_fd(), len)
        .ctx(|| "copying the runtime binary".into())?;
    sys::add_seals(memfd.as_fd(), SEALS).ctx(|| "sealing the runtime copy".into())?;
    let err = sys::fexecve(memfd.as_fd(), &argv, &envp);
    Err(err).ctx(|| "re-executing from the sealed copy".into())
}
