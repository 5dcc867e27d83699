//! Userland TCP relays for published ports that DNAT cannot carry: IPv6 loopback
//! (`-p [::1]:8080:80`), whose packets the kernel drops rather than route out of a
//! bridge (IPv6 has no `route_localnet`). Docker serves these with its userland
//! proxy too. The monitor binds them before the container starts (a port taken
//! meanwhile fails the start) and relays on threads of its own until it exits; the
//! threads inherit the monitor's blocked signals, so signals still reach its
//! signalfd.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::config::ProxyConfig;

/// Small stacks: a relay thread only copies between two sockets.
const STACK: usize = 64 << 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds every listener first (so one that fails leaves none bound), then relays.
pub fn start(proxies: &[ProxyConfig]) -> io::Result<()> {
    let mut bound = Vec::new();
    for p in proxies {
        let l = TcpListener::bind(p.listen)
            .map_err(|e| io::Error::new(e.kind(), format!("publishing {}: {e}", p.listen)))?;
        bound.push((l, p.target));
    }
    for (l, target) in bound {
        thread::Builder::new()
            .name("proxy".into())
            .stack_size(STACK)
            .spawn(move || accept_loop(l, target))?;
    }
    Ok(())
}

fn accept_loop(l: TcpListener, target: SocketAddr) {
    for client in l.incoming().flatten() {
        let _ = thread::Builder::new()
            .name("relay".into())
            .stack_size(STACK)
            .spawn(move || relay(client, target));
    }
}

/// Copies both ways until each side has shut down its half.
fn relay(client: TcpStream, target: SocketAddr) {
    let Ok(upstream) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else {
        return;
    };
    let (Ok(mut c_read), Ok(mut u_write)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = thread::Builder::new()
        .name("relay".into())
        .stack_size(STACK)
        .spawn(move || {
            let _ = pump(&mut c_read, &mut u_write);
            let _ = u_write.shutdown(Shutdown::Write);
        });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = pump(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    if let Ok(t) = up {
        let _ = t.join();
    }
}

/// `io::copy` with a larger buffer: between two sockets std has no zero-copy path
/// and copies through 8 KiB, a quarter of what a 256 MB transfer wants.
fn pump(from: &mut TcpStream, to: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn relays_both_ways_and_half_closes() {
        let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let target = server.local_addr().unwrap();
        let echo = thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got).unwrap();
            s.write_all(b"!").unwrap();
        });
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let listen = probe.local_addr().unwrap();
        drop(probe);
        start(&[ProxyConfig { listen, target }]).unwrap();
        let mut c = TcpStream::connect(listen).unwrap();
        c.write_all(b"hello").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello!");
        echo.join().unwrap();
        assert!(
            start(&[ProxyConfig { listen, target }]).is_err(),
            "port in use"
        );
    }
}
