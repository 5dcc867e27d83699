//! The embedded DNS for user-defined networks: containers on a network resolve
//! each other's names and aliases there, and everything else is forwarded to the
//! host's resolvers (or the container's `--dns` servers).
//!
//! berth has no daemon, so the server is a process of its own (`berth network
//! dns-serve`, a hidden mode of the CLI binary: it needs this crate and nothing of
//! the monitor's, and a second binary would have to be found and installed beside
//! berth for little gain: its pages are shared with the CLI's). The first start of
//! a container on such a network starts it; it listens on each network's gateway
//! address in the host's namespace (so loopback resolvers such as 127.0.0.53 work
//! as upstreams), reads its records from files that start, stop, connect and
//! disconnect rewrite (see [`zone`]), and exits when no network has containers.

pub mod resolve;
pub mod server;
pub mod wire;
pub mod zone;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{NetError, Result};

/// How long a start waits for the server to listen on a new network's gateway.
const LISTEN_WAIT: Duration = Duration::from_secs(5);

/// Whether something in this (the host's) namespace listens on UDP `ip:53`.
fn udp_listening(ip: Ipv4Addr) -> bool {
    // /proc/net/udp prints the address as the native-endian hex of its bytes.
    let want = format!("{:08X}:0035", u32::from_ne_bytes(ip.octets()));
    std::fs::read_to_string("/proc/net/udp").is_ok_and(|t| {
        t.lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
    })
}

/// Makes sure the run root's DNS server runs and listens on `gateways` (their
/// records were just written). `argv` runs `berth ... network dns-serve`.
pub fn ensure_server(run_root: &Path, argv: &[String], gateways: &[Ipv4Addr]) -> Result<()> {
    let dir = zone::dir(run_root);
    std::fs::create_dir_all(&dir)
        .map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
    let free = zone::Locked::take(&dir.join("server.lock"), false)?.is_some();
    if free {
        let (exe, args) = argv
            .split_first()
            .ok_or_else(|| NetError::invalid("DNS server command", "empty"))?;
        let log = dir.join("server.log");
        let stderr = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| NetError::io(format!("opening {}", log.display()), e))?;
        // `dns-serve` forks and returns at once (see [`detach_self`]); its child
        // is the server, adopted by init, so it never becomes our zombie.
        let st = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .status()
            .map_err(|e| NetError::io(format!("starting the DNS server {exe}"), e))?;
        if !st.success() {
            return Err(NetError::invalid(
                "DNS server",
                format!(
                    "{exe} network dns-serve failed ({st}); see {}",
                    log.display()
                ),
            ));
        }
    }
    let deadline = Instant::now() + LISTEN_WAIT;
    for gw in gateways {
        while !udp_listening(*gw) {
            if Instant::now() > deadline {
                return Err(NetError::invalid(
                    format!("DNS server on {gw}:53"),
                    format!(
                        "it does not listen (is port 53 of that address taken?); see {}",
                        dir.join("server.log").display()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// For `dns-serve`: forks, and the parent returns `false` (it should exit 0 at
/// once); the child, in a session of its own, returns `true` and serves. Must be
/// called while the process has a single thread.
pub fn detach_self() -> std::io::Result<bool> {
    // SAFETY: fork in a single-threaded process (the caller's contract); the child
    // only continues the ordinary Rust program.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: setsid has no memory effects; failure (already a leader)
            // is harmless.
            unsafe { libc::setsid() };
            // Not keeping the caller's working directory busy (a mount point).
            let _ = std::env::set_current_dir("/");
            Ok(true)
        }
        _ => Ok(false),
    }
}
