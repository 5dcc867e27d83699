//! The terminal side of an attached container: output frames to stdout/stderr, stdin
//! to the container (with Docker's detach keys), window size changes for a tty, and
//! signals proxied to the container when it has no tty.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use berth_monitor::client::AttachClient;
use berth_monitor::protocol::{ExitInfo, Frame};

pub enum Outcome {
    Exited(ExitInfo),
    Detached,
    /// The monitor went away without an exit (killed).
    Lost,
}

/// Docker's `--detach-keys` syntax: `ctrl-p,ctrl-q`, `a`, `ctrl-@`...
pub fn parse_detach_keys(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for k in s.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b] if b.is_ascii_alphabetic() => b.to_ascii_lowercase() - b'a' + 1,
                b"@" => 0,
                b"[" => 27,
                b"\\" => 28,
                b"]" => 29,
                b"^" => 30,
                b"_" => 31,
                _ => bail!("invalid detach key {k:?}"),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            bail!("invalid detach key {k:?}: use a character or ctrl-<key>, comma separated");
        }
    }
    Ok(out)
}

/// Puts the terminal in raw mode while attached to a tty, restoring it on drop.
struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = rustix::termios::tcgetattr(&stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

fn window_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    (ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

pub struct Options {
    pub stdin: bool,
    pub tty: bool,
    pub detach_keys: Vec<u8>,
}

/// Streams until the container exits, the user detaches, or the monitor goes away.
/// Returns the client too: after an exit frame asking for the cleanup, the caller
/// reports it done on the same connection.
pub fn stream(client: AttachClient, opts: Options) -> anyhow::Result<(Outcome, AttachClient)> {
    let detached = Arc::new(AtomicBool::new(false));
    let _raw = (opts.tty && opts.stdin && std::io::stdin().is_terminal()).then(RawMode::enter);
    if opts.tty {
        let mut c = client
            .try_clone()
            .context("cloning the attach connection")?;
        if let Some((r, w)) = window_size() {
            let _ = c.resize(r, w);
        }
        // Polling the size is simpler than a SIGWINCH handler and costs nothing
        // noticeable at this rate.
        std::thread::spawn(move || {
            let mut last = window_size();
            loop {
                std::thread::sleep(Duration::from_millis(250));
                let now = window_size();
                if now != last {
                    if let Some((r, w)) = now {
                        if c.resize(r, w).is_err() {
                            return;
                        }
                    }
                    last = now;
                }
            }
        });
    }
    if opts.stdin {
        let mut c = client
            .try_clone()
            .context("cloning the attach connection")?;
        let keys = opts.detach_keys.clone();
        let detached = detached.clone();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 8192];
            let mut matched = 0usize;
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = c.close_stdin();
                        return;
                    }
                    Ok(n) => n,
                };
                let mut out = Vec::with_capacity(n);
                for &b in &buf[..n] {
                    if !keys.is_empty() && b == keys[matched] {
                        matched += 1;
                        if matched == keys.len() {
                            detached.store(true, Ordering::SeqCst);
                            let _ = c.send_stdin(&out);
                            let _ = c.stream().shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        continue;
                    }
                    // A partial sequence that did not complete is passed on.
                    out.extend_from_slice(&keys[..matched]);
                    matched = 0;
                    out.push(b);
                }
                if !out.is_empty() && c.send_stdin(&out).is_err() {
                    return;
                }
            }
        });
    }
    let mut client = client;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        match client.recv() {
            Ok(Some(Frame::Stdout(d))) => {
                let mut o = stdout.lock();
                let _ = o.write_all(&d);
                let _ = o.flush();
            }
            Ok(Some(Frame::Stderr(d))) => {
                let mut e = stderr.lock();
                let _ = e.write_all(&d);
                let _ = e.flush();
            }
            Ok(Some(Frame::Exit(info))) => return Ok((Outcome::Exited(info), client)),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                if detached.load(Ordering::SeqCst) {
                    return Ok((Outcome::Detached, client));
                }
                return Ok((Outcome::Lost, client));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }
}
