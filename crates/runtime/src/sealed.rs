//! CVE-2019-5736: a process inside the container could open /proc/PID/exe of a runtime
//! process that entered it and overwrite the runtime binary on the host. Every runtime
//! invocation that forks into a container first re-executes itself from a sealed
//! in-memory copy, so that /proc/PID/exe is a memfd that cannot be written.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use crate::error::{IoContext, Result};
use crate::sys;

fn is_sealed_copy() -> bool {
    let Ok(f) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    const WANT: libc::c_int =
        libc::F_SEAL_SEAL | libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    sys::get_seals(f.as_fd()).is_ok_and(|s| s & WANT == WANT)
}

/// Returns only when already running from a sealed copy; otherwise replaces the process.
pub fn ensure_sealed() -> Result<()> {
    if is_sealed_copy() {
        return Ok(());
    }
    let exe = std::fs::File::open("/proc/self/exe").ctx(|| "opening /proc/self/exe".into())?;
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
    sys::add_seals(
        memfd.as_fd(),
        libc::F_SEAL_SEAL | libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK,
    )
    .ctx(|| "sealing the runtime copy".into())?;
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    let err = sys::fexecve(memfd.as_fd(), &argv, &envp);
    Err(err).ctx(|| "re-executing from the sealed copy".into())
}
