//! `process.terminal`: a pty allocated from the container's own devpts instance. The
//! slave becomes the process's stdio and controlling terminal; the master goes to the
//! caller (over `--console-socket`, or to the runtime itself for a foreground `run`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_safepath::{proc_fd_path, Root};
use rustix::fs::{Mode, OFlags};

use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

fn finish_open(master: OwnedFd, size: Option<(u16, u16)>) -> Result<Pty> {
    rustix::pty::unlockpt(&master)
        .map_err(std::io::Error::from)
        .ctx(|| "unlocking the pty".into())?;
    let slave = sys::open_pty_peer(master.as_fd()).ctx(|| "opening the pty peer".into())?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys::set_winsize(slave.as_fd(), &ws).ctx(|| "setting the console size".into())?;
    }
    Ok(Pty { master, slave })
}

/// Opens a pty through the rootfs's /dev/ptmx (before pivot_root).
pub fn open_in_root(root: &Root, size: Option<(u16, u16)>) -> Result<Pty> {
    let master = root
        .open_at(
            Path::new("/dev/ptmx"),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            0,
        )
        .map_err(|e| {
            RuntimeError::Config(format!(
                "process.terminal is set but the container has no usable /dev/ptmx (mount devpts on /dev/pts with newinstance,ptmxmode=0666): {e}"
            ))
        })?;
    finish_open(master, size)
}

/// Opens a pty in the current root (an `exec` that already joined the mount namespace).
pub fn open_here(size: Option<(u16, u16)>) -> Result<Pty> {
    let master = rustix::fs::open(
        "/dev/ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .ctx(|| "opening /dev/ptmx in the container".into())?;
    finish_open(master, size)
}

/// The terminal belongs to the user the process runs as, so it can set its modes.
pub fn chown_to_user(slave: BorrowedFd<'_>, user: &oci_spec::runtime::User) -> Result<()> {
    rustix::fs::fchown(
        slave,
        Some(rustix::fs::Uid::from_raw(user.uid())),
        Some(rustix::fs::Gid::from_raw(user.gid())),
    )
    .map_err(std::io::Error::from)
    .ctx(|| format!("giving the terminal to uid {}", user.uid()))
}

/// Makes the slave the controlling terminal and stdio of this (new session) process.
pub fn become_console(slave: BorrowedFd<'_>) -> Result<()> {
    sys::setsid().ctx(|| "starting a session for the terminal".into())?;
    sys::set_controlling_tty(slave).ctx(|| "setting the controlling terminal".into())?;
    for fd in 0..3 {
        sys::dup2(slave, fd).ctx(|| format!("attaching the terminal as fd {fd}"))?;
    }
    Ok(())
}

/// Binds the pty slave over /dev/console, as container tools expect a console there.
pub fn bind_console(root: &Root, slave: BorrowedFd<'_>) -> Result<()> {
    let target = root.create_file(Path::new("/dev/console"), 0o600)?;
    sys::mount(
        Some(&proc_fd_path(slave)),
        &proc_fd_path(target.as_fd()),
        None,
        libc::MS_BIND,
        None,
    )
    .ctx(|| "binding the terminal on /dev/console".into())
}

/// Connects to the caller's `--console-socket` (before fork, in the runtime's view).
pub fn connect_socket(path: &Path) -> Result<OwnedFd> {
    use rustix::net::{
        connect, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType,
    };
    let sock = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(std::io::Error::from)
    .ctx(|| "creating a socket".into())?;
    let addr = SocketAddrUnix::new(path)
        .map_err(std::io::Error::from)
        .ctx(|| format!("console socket path {}", path.display()))?;
    connect(&sock, &addr)
        .map_err(std::io::Error::from)
        .ctx(|| format!("connecting to console socket {}", path.display()))?;
    Ok(sock)
}

/// Sends the master to the console socket with SCM_RIGHTS (the message is the pty's
/// name, which is what runc sends and what its consumers log).
pub fn send_master(sock: BorrowedFd<'_>, master: BorrowedFd<'_>) -> Result<()> {
    crate::channel::send_fd(sock, master, b"/dev/ptmx")
        .ctx(|| "sending the pty master to the console socket".into())
}
