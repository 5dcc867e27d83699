//! The embedded DNS server process (`berth network dns-serve`): one per run root,
//! listening on UDP and TCP port 53 of the gateway of every network that has
//! records. It sleeps in poll(2) on its sockets and an inotify watch of the records
//! directory (no timer, no polling loop) and exits once no network has records.
//!
//! One server at a time holds `server.lock`. To exit it closes its sockets, drops
//! the lock and looks at the records once more: a command that wrote records while
//! the lock was still held relies on it, so when there are records again the server
//! takes the lock back (or leaves, when a new server already has it).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::resolve::{self, Outcome};
use super::wire;
use super::zone::{self, Locked, Zone};

/// Environment variable naming upstream servers (`ADDR[:PORT]`, comma-separated)
/// instead of the host's resolv.conf: for tests, which must not use real resolvers.
pub const UPSTREAM_ENV: &str = "BERTH_DNS_UPSTREAM";

/// Forwarded queries in flight at once; more get SERVFAIL rather than threads.
const MAX_FORWARDS: usize = 128;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const TCP_IDLE: Duration = Duration::from_secs(10);

struct Listener {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
}

struct Server {
    run_root: std::path::PathBuf,
    zones: Arc<Vec<Zone>>,
    listeners: BTreeMap<Ipv4Addr, Listener>,
    upstream_override: Option<Vec<SocketAddr>>,
    inflight: Arc<AtomicUsize>,
}

fn log(msg: &str) {
    eprintln!("berth dns: {msg}");
}

fn inotify(dir: &Path) -> io::Result<OwnedFd> {
    // SAFETY: inotify_init1 with constant flags returns a new descriptor or -1.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mask = libc::IN_CLOSE_WRITE
        | libc::IN_MOVED_TO
        | libc::IN_MOVED_FROM
        | libc::IN_DELETE
        | libc::IN_DELETE_SELF
        | libc::IN_MOVE_SELF;
    // SAFETY: fd is an inotify descriptor and path is NUL-terminated.
    if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Reads what inotify has; false once the watched directory itself is gone.
fn drain(fd: RawFd) -> bool {
    let mut buf = [0u8; 4096];
    let mut dir_alive = true;
    loop {
        // SAFETY: buf is valid for its length; the fd is non-blocking.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return dir_alive;
        }
        let mut at = 0usize;
        while at + 16 <= n as usize {
            let mask = u32::from_ne_bytes([buf[at + 4], buf[at + 5], buf[at + 6], buf[at + 7]]);
            let len = u32::from_ne_bytes([buf[at + 12], buf[at + 13], buf[at + 14], buf[at + 15]]);
            if mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED) != 0 {
                dir_alive = false;
            }
            at += 16 + len as usize;
        }
    }
}

fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    loop {
        // SAFETY: fds is a valid array of pollfd for its length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Server {
    fn upstreams(&self) -> Vec<SocketAddr> {
        match &self.upstream_override {
            Some(v) => v.clone(),
            None => resolve::resolv_conf_servers(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            ),
        }
    }

    /// Re-reads the records and listens on exactly the gateways they name.
    fn reload(&mut self) {
        let zones = zone::load_all(&self.run_root);
        let want: Vec<Ipv4Addr> = zones.iter().map(|z| z.gateway).collect();
        self.listeners.retain(|gw, _| want.contains(gw));
        for gw in want {
            if self.listeners.contains_key(&gw) {
                continue;
            }
            match bind(gw) {
                Ok(l) => {
                    self.listeners.insert(gw, l);
                }
                Err(e) => log(&format!("listening on {gw}:53: {e}")),
            }
        }
        self.zones = Arc::new(zones);
    }

    fn on_udp(&self, gw: Ipv4Addr) {
        let Some(l) = self.listeners.get(&gw) else {
            return;
        };
        let mut buf = [0u8; 4096];
        // Drained until it would block (the socket is non-blocking).
        while let Ok((n, from)) = l.udp.recv_from(&mut buf) {
            let SocketAddr::V4(from4) = from else {
                continue;
            };
            let ups = self.upstreams();
            match answer(&self.zones, gw, *from4.ip(), &buf[..n], &ups) {
                Some(Outcome::Reply(r)) => {
                    let _ = l.udp.send_to(&r, from);
                }
                Some(Outcome::Forward(servers)) => {
                    self.forward_udp(buf[..n].to_vec(), servers, l.udp.clone(), from)
                }
                None => {}
            }
        }
    }

    fn forward_udp(
        &self,
        query: Vec<u8>,
        servers: Vec<SocketAddr>,
        sock: Arc<UdpSocket>,
        to: SocketAddr,
    ) {
        let Some(slot) = Slot::take(&self.inflight) else {
            if let Ok(q) = wire::parse_query(&query) {
                let _ = sock.send_to(&wire::response(&q, wire::SERVFAIL, false, &[]), to);
            }
            return;
        };
        std::thread::spawn(move || {
            let _slot = slot;
            let reply = servers
                .iter()
                .find_map(|s| ask_udp(*s, &query).ok())
                .or_else(|| {
                    let q = wire::parse_query(&query).ok()?;
                    Some(wire::response(&q, wire::SERVFAIL, false, &[]))
                });
            if let Some(r) = reply {
                let _ = sock.send_to(&r, to);
            }
        });
    }

    fn on_tcp(&self, gw: Ipv4Addr) {
        let Some(l) = self.listeners.get(&gw) else {
            return;
        };
        while let Ok((stream, from)) = l.tcp.accept() {
            let SocketAddr::V4(from4) = from else {
                continue;
            };
            let Some(slot) = Slot::take(&self.inflight) else {
                continue; // dropped: the client retries
            };
            let zones = self.zones.clone();
            let ups = self.upstreams();
            std::thread::spawn(move || {
                let _slot = slot;
                let _ = serve_tcp(stream, &zones, gw, *from4.ip(), &ups);
            });
        }
    }
}

/// A counted place among the forwards and TCP connections in flight.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(n: &Arc<AtomicUsize>) -> Option<Slot> {
        if n.fetch_add(1, Ordering::SeqCst) >= MAX_FORWARDS {
            n.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(n.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn answer(
    zones: &[Zone],
    gw: Ipv4Addr,
    src: Ipv4Addr,
    msg: &[u8],
    ups: &[SocketAddr],
) -> Option<Outcome> {
    match wire::parse_query(msg) {
        Ok(q) => Some(resolve::resolve(zones, gw, src, &q, ups)),
        Err(wire::Bad::Drop) => None,
        Err(wire::Bad::Reply { id, flags, rcode }) => {
            Some(Outcome::Reply(wire::error_response(id, flags, rcode)))
        }
    }
}

fn bind(gw: Ipv4Addr) -> io::Result<Listener> {
    let addr = SocketAddr::new(IpAddr::V4(gw), 53);
    let udp = UdpSocket::bind(addr)?;
    udp.set_nonblocking(true)?;
    let tcp = TcpListener::bind(addr)?;
    tcp.set_nonblocking(true)?;
    Ok(Listener {
        udp: Arc::new(udp),
        tcp,
    })
}

fn ask_udp(server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let local = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let s = UdpSocket::bind(local)?;
    s.connect(server)?;
    s.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
    s.send(query)?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = s.recv(&mut buf)?;
        // Only the reply to this query (same id) is relayed.
        if n >= 12 && query.len() >= 2 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

fn ask_tcp(server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&server, UPSTREAM_TIMEOUT)?;
    s.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
    s.write_all(&(query.len() as u16).to_be_bytes())?;
    s.write_all(query)?;
    read_framed(&mut s)
}

fn read_framed(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg)?;
    Ok(msg)
}

/// DNS over TCP (RFC 7766): length-prefixed messages until the client closes or
/// stays idle.
fn serve_tcp(
    mut s: TcpStream,
    zones: &[Zone],
    gw: Ipv4Addr,
    src: Ipv4Addr,
    ups: &[SocketAddr],
) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(TCP_IDLE))?;
    loop {
        let msg = read_framed(&mut s)?;
        let reply = match answer(zones, gw, src, &msg, ups) {
            Some(Outcome::Reply(r)) => r,
            Some(Outcome::Forward(servers)) => {
                match servers.iter().find_map(|u| ask_tcp(*u, &msg).ok()) {
                    Some(r) => r,
                    None => match wire::parse_query(&msg) {
                        Ok(q) => wire::response(&q, wire::SERVFAIL, false, &[]),
                        Err(_) => return Ok(()),
                    },
                }
            }
            None => return Ok(()),
        };
        s.write_all(&(reply.len() as u16).to_be_bytes())?;
        s.write_all(&reply)?;
    }
}

/// The server's main loop; returns when no network has records any more (or the
/// run root is gone), or at once when another server holds the lock.
pub fn serve(run_root: &Path) -> io::Result<()> {
    // A TCP client that leaves mid-reply must be an EPIPE for its thread, not the
    // end of the server (the berth CLI restores SIGPIPE's default for pipes).
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let dir = zone::dir(run_root);
    std::fs::create_dir_all(&dir)?;
    let lock_path = dir.join("server.lock");
    let take = |wait| Locked::take(&lock_path, wait).map_err(|e| io::Error::other(e.to_string()));
    let Some(mut lock) = take(false)? else {
        return Ok(());
    };
    let watch = inotify(&dir)?;
    let upstream_override = std::env::var(UPSTREAM_ENV).ok().map(|v| {
        v.split(',')
            .filter_map(|s| resolve::server_addr(s.trim()))
            .collect()
    });
    let mut srv = Server {
        run_root: run_root.to_path_buf(),
        zones: Arc::new(Vec::new()),
        listeners: BTreeMap::new(),
        upstream_override,
        inflight: Arc::new(AtomicUsize::new(0)),
    };
    srv.reload();
    let mut dir_alive = true;
    loop {
        if srv.zones.is_empty() || !dir_alive {
            srv.listeners.clear();
            drop(lock);
            if !dir_alive || zone::load_all(run_root).is_empty() {
                return Ok(());
            }
            // Records came back while we were leaving: stay, unless a new server
            // has already taken over.
            match take(false)? {
                Some(l) => lock = l,
                None => return Ok(()),
            }
            srv.reload();
            continue;
        }
        let mut fds = vec![libc::pollfd {
            fd: watch.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let mut owners = Vec::new();
        for (gw, l) in &srv.listeners {
            for (fd, tcp) in [(l.udp.as_raw_fd(), false), (l.tcp.as_raw_fd(), true)] {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
                owners.push((*gw, tcp));
            }
        }
        poll(&mut fds)?;
        // Records first: a command that changed them returned before its container
        // could ask, so a query that is ready now must see the new records. The
        // records are re-read only when they changed, never per query.
        if fds[0].revents != 0 {
            dir_alive = drain(watch.as_raw_fd());
            srv.reload();
        }
        for (pfd, (gw, tcp)) in fds[1..].iter().zip(&owners) {
            if pfd.revents == 0 {
                continue;
            }
            if *tcp {
                srv.on_tcp(*gw);
            } else {
                srv.on_udp(*gw);
            }
        }
    }
}
