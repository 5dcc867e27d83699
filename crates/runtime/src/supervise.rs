//! The foreground side of `run` and `exec`: forward signals to the container process,
//! relay a pty between the caller's terminal and the container, and return the
//! process's exit status (128 + signal when it was killed).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags};

use crate::error::{IoContext, Result};
use crate::sys;

const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGCHLD,
];

/// Puts the caller's terminal in raw mode for the duration of a pty session.
struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let stdin = rustix::stdio::stdin();
        let Ok(saved) = rustix::termios::tcgetattr(stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Now, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                rustix::stdio::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

fn copy_winsize(master: BorrowedFd<'_>) {
    if let Ok(ws) = sys::winsize(rustix::stdio::stdin()) {
        let _ = sys::set_winsize(master, &ws);
    }
}

/// Copies what is readable on `from` to `to`; false at end of file or error.
fn pump(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match rustix::io::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match rustix::io::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

pub fn wait_foreground(pid: i32, pty_master: Option<OwnedFd>) -> Result<i32> {
    let set = sys::sigset(FORWARDED);
    sys::sigprocmask(libc::SIG_BLOCK, &set).ctx(|| "blocking signals".into())?;
    let sigfd = sys::signalfd(&set).ctx(|| "creating a signalfd".into())?;
    let _raw = pty_master.as_ref().filter(|_| sys::isatty(0)).map(|m| {
        copy_winsize(m.as_fd());
        RawMode::enter()
    });
    let stdin = rustix::stdio::stdin();
    let stdout = rustix::stdio::stdout();
    let mut stdin_open = pty_master.is_some();
    let mut master_open = pty_master.is_some();
    let mut exit: Option<i32> = None;
    // The process may have exited before SIGCHLD was blocked; that signal is lost.
    if let Some((_, st)) = sys::waitpid(pid, true).ctx(|| "waiting for the container".into())? {
        exit = Some(st.code());
    }
    while exit.is_none() || master_open {
        let mut fds = vec![PollFd::new(&sigfd, PollFlags::IN)];
        if let Some(m) = &pty_master {
            if master_open {
                fds.push(PollFd::from_borrowed_fd(m.as_fd(), PollFlags::IN));
            }
            if stdin_open {
                fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
            }
        }
        // Once the process is gone, drain the pty without blocking forever.
        let timeout = exit.map(|_| rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        });
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => break,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(std::io::Error::from(e)).ctx(|| "polling".into()),
        }
        let revents: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);
        if revents[0].contains(PollFlags::IN) {
            let sig = sys::read_signalfd(sigfd.as_fd()).ctx(|| "reading signals".into())?;
            match sig {
                libc::SIGCHLD => {
                    // Reap every exited child; only ours decides the exit code.
                    while let Ok(Some((p, st))) = sys::waitpid(-1, true) {
                        if p == pid {
                            exit = Some(st.code());
                        }
                    }
                }
                libc::SIGWINCH => {
                    if let Some(m) = &pty_master {
                        copy_winsize(m.as_fd());
                    }
                }
                other => {
                    let _ = sys::kill(pid, other);
                }
            }
        }
        if let Some(m) = &pty_master {
            let mut i = 1;
            if master_open {
                if !revents[i].is_empty() && !pump(m.as_fd(), stdout) {
                    master_open = false;
                }
                i += 1;
            }
            if stdin_open && !revents[i].is_empty() && !pump(stdin, m.as_fd()) {
                stdin_open = false;
            }
        }
    }
    let _ = sys::sigprocmask(libc::SIG_UNBLOCK, &set);
    let _ = stdout.as_raw_fd();
    match exit {
        Some(code) => Ok(code),
        None => Ok(sys::waitpid(pid, false)
            .ctx(|| "waiting for the container".into())?
            .map(|(_, st)| st.code())
            .unwrap_or(0)),
    }
}
