//! Docker's `--sig-proxy`: signals the attached CLI receives go to the container's
//! process. The signals are blocked before any thread starts and taken by one
//! thread with sigwait, so no async-signal-safety rules apply to the forwarding.

use std::path::PathBuf;

const PROXIED: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

fn set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset only write the local set we pass them.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        for &sig in PROXIED {
            libc::sigaddset(&mut s, sig);
        }
        s
    }
}

/// Must run before the caller starts any other thread, so every thread inherits
/// the mask.
pub fn start(runtime_root: PathBuf, id: String) {
    let s = set();
    // SAFETY: pthread_sigmask on the calling thread with a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &s, std::ptr::null_mut()) };
    std::thread::spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait with a valid set and a place for the result.
        let r = unsafe { libc::sigwait(&s, &mut sig) };
        if r != 0 {
            return;
        }
        if let Ok(c) = berth_runtime::lifecycle::Container::load(&runtime_root, &id) {
            let _ = c.kill(sig, false);
        }
    });
}
