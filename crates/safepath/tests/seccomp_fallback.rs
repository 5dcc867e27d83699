//! `Root::open` must pick the walk when openat2 is blocked, as container
//! seccomp profiles do (EPERM) or old kernels do (ENOSYS). A filter cannot be
//! removed once installed, so each case runs in a re-executed copy of this
//! test binary.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use berth_safepath::{fd_real_path, Resolver, Root};

const CHILD_ENV: &str = "BERTH_SAFEPATH_SECCOMP_ERRNO";

/// Make openat2 fail with `errno` for the calling thread. No arch check: this
/// only has to work for the test binary's own native syscalls.
fn block_openat2(errno: i32) {
    let ins = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let prog = [
        // Load seccomp_data.nr.
        ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
        ins(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            0,
            1,
            libc::SYS_openat2 as u32,
        ),
        ins(
            libc::BPF_RET | libc::BPF_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | errno as u32,
        ),
        ins(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl with integer arguments; no memory is passed.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    // SAFETY: `fprog` points at `prog`, both alive for the duration of the
    // call; the kernel copies the program and keeps no reference.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

fn child(errno: i32) {
    block_openat2(errno);
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    fs::create_dir_all(base.join("etc")).unwrap();
    symlink("/etc", base.join("a")).unwrap();
    let root = Root::open(&base).unwrap();
    assert_eq!(root.resolver(), Resolver::Walk);
    let fd = root.resolve(Path::new("/a/../../a")).unwrap();
    assert_eq!(
        fd_real_path(std::os::fd::AsFd::as_fd(&fd)).unwrap(),
        base.join("etc")
    );
    // A Root forced to openat2 under the same filter must fail loudly, not
    // silently resolve on the host.
    let forced = Root::with_mode(&base, Resolver::Openat2).unwrap();
    match forced.resolve(Path::new("/a")) {
        Err(e) => assert_eq!(e.raw_os_error(), Some(errno), "{e}"),
        // ENOSYS is retried with the walk (seccomp added after the probe).
        Ok(fd) => {
            assert_eq!(errno, libc::ENOSYS);
            assert_eq!(
                fd_real_path(std::os::fd::AsFd::as_fd(&fd)).unwrap(),
                base.join("etc")
            );
        }
    }
}

fn run_child(errno: i32) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "openat2_blocked_by_seccomp",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, errno.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child with errno {errno} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

#[test]
fn openat2_blocked_by_seccomp() {
    match std::env::var(CHILD_ENV) {
        Ok(errno) => child(errno.parse().unwrap()),
        Err(_) => {
            run_child(libc::EPERM);
            run_child(libc::ENOSYS);
        }
    }
}
