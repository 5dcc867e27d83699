//! Starting a monitor and following its start-up on the sync pipe (fd 3).

use crate::config::MonitorConfig;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fd number on which the monitor reports its progress.
pub const SYNC_FD: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// `attach.sock` accepts connections; the container is not started yet.
    Listening,
    Started {
        pid: i32,
    },
    Failed {
        error: String,
        exit_code: i32,
    },
}

#[derive(Debug)]
pub struct Launcher {
    reader: BufReader<File>,
    run_dir: PathBuf,
}

/// Spawns `monitor_exe --config config_path` and waits for its first process,
/// which exits as soon as the daemon half has forked off.
pub fn launch(monitor_exe: &Path, config_path: &Path) -> io::Result<Launcher> {
    let run_dir = MonitorConfig::load(config_path)?.run_dir;
    let (r, w) = pipe()?;
    let wfd = w.as_raw_fd();
    let mut cmd = Command::new(monitor_exe);
    cmd.arg("--config")
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe calls (dup2, fcntl) on fds it does not own.
    unsafe {
        cmd.pre_exec(move || {
            if wfd == SYNC_FD {
                // dup2 onto itself keeps FD_CLOEXEC, so clear it by hand.
                if libc::fcntl(wfd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(wfd, SYNC_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(w);
    let st = child.wait()?;
    let mut launcher = Launcher {
        reader: BufReader::new(File::from(r)),
        run_dir,
    };
    if !st.success() {
        // It failed before forking, so nothing else holds the pipe and this
        // read cannot block; its event says why.
        let why = match launcher.next_event() {
            Ok(Event::Failed { error, .. }) => error,
            _ => format!("exited with {st}"),
        };
        return Err(io::Error::other(format!(
            "{}: {why}",
            monitor_exe.display()
        )));
    }
    Ok(launcher)
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and nothing else owns them.
    Ok(unsafe {
        use std::os::fd::FromRawFd;
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    })
}

impl Launcher {
    /// The next event; after `Started` or `Failed` the monitor closes the pipe.
    pub fn next_event(&mut self) -> io::Result<Event> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::other(format!(
                    "the container monitor died without reporting; see {} \
                     (state.json, runtime.log)",
                    self.run_dir.display()
                )));
            }
            if line.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(line.trim()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad monitor event {line:?}: {e}"),
                )
            });
        }
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_wire_format() {
        let s = serde_json::to_string(&Event::Started { pid: 7 }).unwrap();
        assert_eq!(s, r#"{"event":"started","pid":7}"#);
        let e: Event =
            serde_json::from_str(r#"{"event":"failed","error":"x","exit_code":127}"#).unwrap();
        assert_eq!(
            e,
            Event::Failed {
                error: "x".into(),
                exit_code: 127
            }
        );
        let l: Event = serde_json::from_str(r#"{"event":"listening"}"#).unwrap();
        assert_eq!(l, Event::Listening);
    }
}
