//! The syscall boundary: every raw call the runtime makes that no safe crate wraps the way
//! we need it. Each wrapper turns the C convention (-1 + errno) into `io::Result` so the
//! rest of the crate stays free of `unsafe`.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Converts a path or string to a C string; an interior NUL is an invalid-input error.
pub fn cstr(s: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} contains a NUL byte", s.as_ref()),
        )
    })
}

pub enum Forked {
    Child,
    Parent(libc::pid_t),
}

/// fork(2). The runtime is single-threaded everywhere it forks (no async runtime, no
/// helper threads), so the child may keep running Rust code.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the calling process is single-threaded, so no lock can be held by another
    // thread at the moment of the fork; the child only runs this crate's code.
    let pid = check(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid)
    })
}

/// The kernel's `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2, 5.7+).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP`: a u64 flag, beyond what clone(2)'s int flags can carry.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A fork whose child starts life in the cgroup v2 directory `cgroup`
/// (`clone3` with `CLONE_INTO_CGROUP`), so no pid is ever written to
/// `cgroup.procs`. Fails on kernels before 5.7 (ENOSYS, E2BIG or EINVAL) and when
/// the kernel refuses the cgroup; the caller then forks and moves the child.
pub fn fork_into_cgroup(cgroup: BorrowedFd<'_>) -> io::Result<Forked> {
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM and with no stack behaves like fork
    // (copy-on-write of the whole address space), and the caller is
    // single-threaded; `args` is a valid clone_args of the size passed, alive for
    // the call.
    let pid = check_long(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid as libc::pid_t)
    })
}

/// A fork whose child becomes a sibling of the caller (CLONE_PARENT): the container's
/// init is forked by an intermediate process that then exits, and this keeps init a
/// direct child of the runtime so that `run` can wait for it.
pub fn fork_sibling() -> io::Result<Forked> {
    // SAFETY: raw clone with a null stack behaves like fork (copy-on-write of the whole
    // address space); the caller is single-threaded, and no pointers are passed.
    let pid = check_long(unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid as libc::pid_t)
    })
}

/// Leaves the process without running destructors or atexit handlers: used by forked
/// children that must not flush buffers or unwind state that belongs to the parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is a valid open descriptor borrowed for the call.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only flags.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(cstr).transpose()?;
    let data = data.filter(|d| !d.is_empty()).map(cstr).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a NUL-terminated string that outlives the call.
    check(unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data) as *const libc::c_void,
        )
    })
    .map(drop)
}

pub fn umount2(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let target = cstr(target)?;
    // SAFETY: target is a valid C string.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

pub fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let new_root = cstr(new_root)?;
    let put_old = cstr(put_old)?;
    // SAFETY: both arguments are valid C strings.
    check_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) with AT_RECURSIVE: the only way to make a whole bind tree read-only
/// (`rro`) without racing new submounts.
pub fn mount_setattr_recursive(target: &Path, set: u64, clear: u64) -> io::Result<()> {
    let target = cstr(target)?;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: target is a valid C string and attr a properly laid out mount_attr whose
    // size is passed alongside.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe a valid byte slice.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe a valid byte slice.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments. The raw syscall is used on purpose: glibc's
    // wrapper would broadcast to other threads, and there are none.
    check_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments (see setresuid).
    check_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

pub fn setgroups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: the pointer and length describe a valid slice of gid_t (u32).
    check_long(unsafe {
        libc::syscall(
            libc::SYS_setgroups,
            gids.len() as libc::size_t,
            gids.as_ptr(),
        )
    })
    .map(drop)
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the options used through this helper take integer arguments only.
    check(unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

pub fn set_keepcaps(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong)
}

pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// A non-dumpable process cannot be ptraced or have its /proc files opened by processes
/// inside the container while it still holds host file descriptors.
pub fn set_dumpable(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong)
}

pub fn personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: integer argument only.
    check(unsafe { libc::personality(persona) }).map(drop)
}

pub fn getrlimit(resource: libc::c_int) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit.
    check(unsafe {
        libc::prlimit(
            0,
            resource as libc::__rlimit_resource_t,
            std::ptr::null(),
            &mut lim,
        )
    })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit; the old-value pointer is null.
    check(unsafe {
        libc::prlimit(
            0,
            resource as libc::__rlimit_resource_t,
            &lim,
            std::ptr::null_mut(),
        )
    })
    .map(drop)
}

pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments.
    check(unsafe { libc::setsid() }).map(drop)
}

pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument; fd is valid.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// Opens the peer (slave) side of a pty master without going through a path, so a
/// hostile /dev/pts inside the container cannot substitute another file.
pub fn open_pty_peer(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags as its argument and returns a new fd.
    let fd = check(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the ioctl returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn dup2(old: BorrowedFd<'_>, new: RawFd) -> io::Result<()> {
    // SAFETY: old is valid; dup2 atomically replaces `new`, which the caller means to own.
    check(unsafe { libc::dup2(old.as_raw_fd(), new) }).map(drop)
}

/// Marks every descriptor from `first` up as close-on-exec, so nothing the runtime holds
/// (state dir, cgroup dirs, sockets) leaks into the container (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOEXEC only sets flags on descriptors.
    check(unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) })
        .map(drop)
}

pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    // SAFETY: path and every element are valid C strings kept alive by the caller's
    // vectors; both arrays are null-terminated.
    unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

/// execveat(fd, "", AT_EMPTY_PATH): runs a sealed in-memory copy of the binary.
pub fn fexecve(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let empty = c"";
    // SAFETY: fd is valid; the arrays are null-terminated and their strings outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv_ptrs.as_ptr(),
            env_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

pub fn memfd_create(name: &CStr, flags: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: name is a valid C string.
    let fd = check(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: memfd_create returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: F_ADD_SEALS takes an integer argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

pub fn get_seals(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: F_GET_SEALS takes no argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

pub fn sendfile_all(out: BorrowedFd<'_>, input: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        // SAFETY: both fds are valid; a null offset uses and advances the file position.
        let n = unsafe {
            libc::sendfile(
                out.as_raw_fd(),
                input.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        left -= n as u64;
    }
    Ok(())
}

pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

pub enum WaitStatus {
    Exited(i32),
    Signaled(i32),
}

impl WaitStatus {
    /// The shell convention: 128 + signal number for a killed process.
    pub fn code(&self) -> i32 {
        match *self {
            WaitStatus::Exited(c) => c,
            WaitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// waitpid; returns None with WNOHANG when the child is still running.
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> io::Result<Option<(libc::pid_t, WaitStatus)>> {
    let mut status = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: status is a valid writable int.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        let ws = if libc::WIFEXITED(status) {
            WaitStatus::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            WaitStatus::Signaled(libc::WTERMSIG(status))
        } else {
            continue;
        };
        return Ok(Some((r, ws)));
    }
}

pub fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it fully.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in signals {
        // SAFETY: set is initialised; invalid signal numbers only return EINVAL.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

pub fn sigprocmask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: set is a valid sigset_t; the old-set pointer is null.
    check(unsafe { libc::sigprocmask(how, set, std::ptr::null_mut()) }).map(drop)
}

/// Resets every signal disposition to default and unblocks all signals: exec keeps the
/// mask and ignored signals, and the container must not inherit the runtime's.
pub fn reset_signals() -> io::Result<()> {
    for sig in 1..32 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always valid for catchable signals.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let all = sigset(&(1..32).collect::<Vec<_>>());
    sigprocmask(libc::SIG_UNBLOCK, &all)
}

pub fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    // SAFETY: set is a valid sigset_t; -1 asks for a new descriptor.
    let fd = check(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) })?;
    // SAFETY: signalfd returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one signal number from a signalfd.
pub fn read_signalfd(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: signalfd_siginfo is plain data.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: info is a writable buffer of exactly `size` bytes.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        )
    };
    if n as usize != size {
        return Err(io::Error::last_os_error());
    }
    Ok(info.ssi_signo as libc::c_int)
}

pub fn winsize(fd: BorrowedFd<'_>) -> io::Result<libc::winsize> {
    // SAFETY: winsize is plain data.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the valid pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

pub fn set_winsize(fd: BorrowedFd<'_>, ws: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads a winsize from the valid pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) }).map(drop)
}

/// Brings the loopback interface of the current network namespace up, as runc and Docker
/// do for a new network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: creating a socket has no memory-safety preconditions.
    let sock =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the socket was just created and is owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: ifreq is plain data.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills the flags of the named interface into req.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the flags member of the union was just written by the kernel.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the flags from req.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let p = cstr(path)?;
    // SAFETY: p is a valid C string.
    check(unsafe { libc::mkfifo(p.as_ptr(), mode as libc::mode_t) }).map(drop)
}

pub fn access_exec(path: &Path) -> bool {
    let Ok(p) = cstr(path) else { return false };
    // SAFETY: p is a valid C string.
    unsafe { libc::access(p.as_ptr(), libc::X_OK) == 0 }
}

pub fn geteuid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

pub fn getegid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getegid() }
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getpid() }
}

pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Gives the process a fresh anonymous session keyring so the container cannot read or
/// add to the keys of the runtime's session. Hosts where keyrings are unavailable or
/// filtered are not an error (runc behaves the same).
pub fn join_session_keyring() -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a null name asks for an anonymous keyring; no other pointers are passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if r == -1 {
        let e = io::Error::last_os_error();
        if matches!(
            e.raw_os_error(),
            Some(libc::ENOSYS | libc::EACCES | libc::EPERM | libc::EDQUOT)
        ) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// A detached, read-only bind mount of `path` (a single file), as an O_PATH fd: the
/// binary can be executed from it, and nothing can write to the file through it.
pub fn open_tree_readonly(path: &Path) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let p = cstr(path)?;
    // SAFETY: p is a valid C string; open_tree returns a new descriptor or -1.
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            p.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    })?;
    // SAFETY: open_tree returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: fd is valid, the path is empty with AT_EMPTY_PATH, attr is a properly laid
    // out mount_attr whose size is passed alongside.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(fd)
}

/// Whether the file behind `fd` sits on a read-only mount.
pub fn on_readonly_mount(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstatvfs(fd).is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// A new, detached tmpfs (fsopen/fsconfig/fsmount): filled before it is attached
/// anywhere, with no staging directory on any filesystem.
pub fn detached_tmpfs(options: &[String], attrs: u64) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_FLAG: libc::c_uint = 0;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    let name = c"tmpfs";
    // SAFETY: name is a valid C string; fsopen returns a new descriptor or -1.
    let fs = check_long(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: fsopen returned a fresh descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    for opt in options {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (cstr(k)?, Some(cstr(v)?)),
            None => (cstr(opt)?, None),
        };
        let (cmd, vptr) = match &value {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: fs is valid; key and value are C strings alive for the call.
        check_long(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                cmd,
                key.as_ptr(),
                vptr,
                0,
            )
        })?;
    }
    // SAFETY: fs is valid; CMD_CREATE takes no pointers.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })?;
    // SAFETY: fs is a configured filesystem context; fsmount returns a new mount fd.
    let m = check_long(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })?;
    // SAFETY: fsmount returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(m as RawFd) })
}

/// Sets mount attributes on a detached (or any) mount given by fd.
pub fn mount_setattr_fd(fd: BorrowedFd<'_>, set: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: fd is valid; the path is empty with AT_EMPTY_PATH; attr is a properly laid
    // out mount_attr whose size is passed alongside.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Attaches a detached mount onto the directory `target` (an O_PATH fd resolved
/// inside the rootfs, so nothing is looked up by name again).
pub fn move_mount_to(mnt: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let empty = c"";
    // SAFETY: both fds are valid; the paths are empty C strings used with the
    // EMPTY_PATH flags.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Installs a classic-BPF seccomp filter (an array of 8-byte `sock_filter`s) for
/// the calling thread, with no flags, as libseccomp's load does for a filter
/// without notify rules or filter flags.
pub fn seccomp_set_filter(bpf: &[u8]) -> io::Result<()> {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    let insns = bpf.len() / std::mem::size_of::<libc::sock_filter>();
    let whole = bpf
        .chunks_exact(std::mem::size_of::<libc::sock_filter>())
        .remainder()
        .is_empty();
    if !whole || insns == 0 || insns > u16::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed BPF program",
        ));
    }
    // Copied into properly aligned instructions: the byte buffer has no alignment
    // guarantee.
    let prog: Vec<libc::sock_filter> = bpf
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: insns as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) reads `fprog` and the instructions it points to, both
    // alive for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod clone3_tests {
    use super::*;

    /// A private cgroup2 mount and a cgroup in it, removed on drop.
    struct Cgroup2 {
        mount: tempfile::TempDir,
        dir: std::path::PathBuf,
    }

    impl Drop for Cgroup2 {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.dir);
            let _ = std::process::Command::new("umount")
                .arg(self.mount.path())
                .status();
        }
    }

    /// The child may only make raw syscalls (the test process has other threads):
    /// it reads /proc/self/cgroup into a stack buffer and exits 0 when `want` is in it.
    fn child_checks_cgroup(want: &[u8]) -> ! {
        let mut buf = [0u8; 4096];
        // SAFETY: raw open/read/close on a NUL-terminated literal and a stack buffer.
        let n = unsafe {
            let fd = libc::open(c"/proc/self/cgroup".as_ptr(), libc::O_RDONLY);
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            n
        };
        let got = &buf[..n.max(0) as usize];
        let found = got.windows(want.len()).any(|w| w == want);
        exit_now(if found { 0 } else { 1 })
    }

    #[test]
    fn clone3_places_the_child_in_a_v2_cgroup() {
        if !rustix::process::geteuid().is_root() {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "clone3_places_the_child_in_a_v2_cgroup needs root, and CI=true forbids skipping"
            );
            eprintln!("!!!!!!!! clone3_places_the_child_in_a_v2_cgroup: SKIPPED (needs root)");
            return;
        }
        // A cgroup2 mount of our own: the host may have v1 only, where the v2
        // hierarchy still exists (without controllers) and can be mounted anywhere.
        let mount = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(mount.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting cgroup2 on {}", mount.path().display());
        let name = format!("berth-clone3-{}", std::process::id());
        let cg = Cgroup2 {
            dir: mount.path().join(&name),
            mount,
        };
        std::fs::create_dir(&cg.dir).unwrap();
        let dir = std::fs::File::open(&cg.dir).unwrap();
        let want = format!("0::/{name}\n");
        match fork_into_cgroup(std::os::fd::AsFd::as_fd(&dir)).unwrap() {
            Forked::Child => child_checks_cgroup(want.as_bytes()),
            Forked::Parent(pid) => {
                let (_, st) = waitpid(pid, false).unwrap().unwrap();
                assert!(
                    matches!(st, WaitStatus::Exited(0)),
                    "the child was not born in {name}"
                );
            }
        }
    }
}
