//! Thin wrappers over the syscalls std does not offer; every `unsafe` of the
//! monitor process lives here.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub enum Fork {
    Parent,
    Child,
}

/// Only called while the process has a single thread.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: the monitor is single-threaded when it forks, so the child
    // inherits no locked mutexes.
    match check(unsafe { libc::fork() })? {
        0 => Ok(Fork::Child),
        _ => Ok(Fork::Parent),
    }
}

pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it skips atexit handlers and stdio
    // flushing, which belong to the process that keeps running.
    unsafe { libc::_exit(code) }
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: plain syscall without pointers.
    check(unsafe { libc::setsid() }).map(drop)
}

pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on fds; replacing `to` is the intent.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// Takes ownership of an inherited fd if it is open.
pub fn take_inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only queries the fd table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the fd is open and, by the launch contract, ours alone.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_cloexec(&owned).ok()?;
    Some(owned)
}

pub fn set_cloexec(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: fcntl on a live fd with an integer argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

pub fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a live fd with integer arguments.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both fds were just created and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

const HANDLED: [libc::c_int; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP and returns a non-blocking
/// signalfd for them. Blocking rather than ignoring: std clears the mask in
/// children, whereas an ignored disposition would leak into the container.
pub fn signalfd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t for all the calls below.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in HANDLED {
            libc::sigaddset(&mut set, s);
        }
    }
    // SAFETY: valid set pointer; a null old-set pointer is allowed.
    check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })?;
    // SAFETY: valid set pointer; -1 asks for a new fd.
    let fd = check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: fd was just created.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Signal numbers pending on a signalfd.
pub fn read_signals(mut f: &std::fs::File) -> Vec<i32> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 128];
    while let Ok(128) = f.read(&mut buf) {
        out.push(u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as i32);
    }
    out
}

/// Reaps one exited child: (pid, exit code or 128+signal).
pub fn reap_any() -> Option<(i32, i32)> {
    let mut status = 0;
    // SAFETY: waitpid writes into our status variable.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    Some((pid, decode_status(status)))
}

pub fn decode_status(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: plain syscall; a stale pid only yields ESRCH.
        unsafe { libc::kill(pid, sig) };
    }
}

pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: the slice is valid for fds.len() entries.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(r as usize)
}

pub fn set_winsize(fd: &impl AsRawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Receives one fd sent with SCM_RIGHTS; the payload bytes are ignored.
pub fn recv_fd(sock: &impl AsRawFd) -> io::Result<OwnedFd> {
    let mut data = [0u8; 512];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // u64 elements give the cmsghdr alignment the kernel expects.
    let mut control = [0u64; 32];
    // SAFETY: msghdr is plain data and all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at buffers that outlive the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found: Option<OwnedFd> = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // bounded by msg_controllen; each SCM_RIGHTS payload holds whole fds.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p = libc::CMSG_DATA(c) as *const RawFd;
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = OwnedFd::from_raw_fd(p.add(i).read_unaligned());
                    // Extra fds are closed on drop; only the first is the pty.
                    if found.is_none() {
                        found = Some(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    found.ok_or_else(|| io::Error::other("console socket message carried no fd"))
}

/// This binary's own read-only file mappings, as (start, length, executable).
fn exe_mappings() -> Vec<(usize, usize, bool)> {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return Vec::new();
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    let exe = exe.to_string_lossy();
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        if !line.ends_with(exe.as_ref()) || perms.contains('w') {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
            out.push((a, b - a, perms.contains('x')));
        }
    }
    out
}

/// Marks this binary's own mappings as randomly accessed: the kernel then maps
/// only the page that faulted instead of its neighbourhood, so a long-lived,
/// mostly idle monitor keeps only the code it runs resident. Best effort.
pub fn advise_random_exe() {
    for (a, len, _) in exe_mappings() {
        // SAFETY: madvise on a range of our own read-only file mapping, taken from
        // /proc/self/maps; MADV_RANDOM only changes read-ahead and fault-around.
        unsafe { libc::madvise(a as *mut libc::c_void, len, libc::MADV_RANDOM) };
    }
}

/// Drops the startup code (argument parsing, the runtime launch) from this
/// process's resident set once the container runs: executable pages are never
/// written, so they fault back in unchanged from the file if used again. Only
/// executable mappings: read-only data may hold relocated (private, dirty)
/// pages that must not be discarded.
pub fn release_startup_code() {
    for (a, len, exec) in exe_mappings() {
        if exec {
            // SAFETY: MADV_DONTNEED on our own executable, never-written file
            // mapping only drops page table entries; the content is reloaded from
            // the file on the next access.
            unsafe { libc::madvise(a as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        }
    }
}
