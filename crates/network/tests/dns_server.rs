//! The embedded DNS server loop on its own, as root: it listens on the gateway its
//! records name (here a loopback address, 127.88.X.1, so nothing leaves the host),
//! answers a record's name over UDP and TCP, forwards other names over UDP and TCP
//! to a fake upstream on 127.0.0.1 (never the host's resolvers), picks up changed
//! records before the next query, and returns once the records are gone.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_network::dns::server::{serve, UPSTREAM_ENV};
use berth_network::dns::zone::{self, Entry, Zone};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        b.push(l.len() as u8);
        b.extend_from_slice(l.as_bytes());
    }
    b.extend_from_slice(&[0, 0, 1, 0, 1]);
    b
}

/// The A addresses of a response (answers follow the echoed question; each one
/// names it by a 2-byte pointer).
fn addresses(r: &[u8], qlen: usize) -> Vec<Ipv4Addr> {
    let n = u16::from_be_bytes([r[6], r[7]]) as usize;
    let mut at = qlen;
    let mut out = Vec::new();
    for _ in 0..n {
        let rdlen = u16::from_be_bytes([r[at + 10], r[at + 11]]) as usize;
        if rdlen == 4 {
            out.push(Ipv4Addr::new(
                r[at + 12],
                r[at + 13],
                r[at + 14],
                r[at + 15],
            ));
        }
        at += 12 + rdlen;
    }
    out
}

fn ask_udp(server: SocketAddr, id: u16, name: &str) -> Vec<u8> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(&query(id, name), server).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = s.recv_from(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn ask_tcp(server: SocketAddr, id: u16, name: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = query(id, name);
    s.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    s.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut r).unwrap();
    r
}

/// The upstream's answer to anything: A 192.0.2.77, echoing the question.
fn upstream_reply(q: &[u8]) -> Vec<u8> {
    let mut r = q[..2].to_vec();
    r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    r.extend_from_slice(&q[12..]);
    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 77]);
    r
}

/// A fake upstream on 127.0.0.1, UDP and TCP on one port number.
fn fake_upstream() -> SocketAddr {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(&upstream_reply(&buf[..n]), from);
        }
    });
    std::thread::spawn(move || {
        for mut s in tcp.incoming().flatten() {
            let mut len = [0u8; 2];
            if s.read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
            if s.read_exact(&mut q).is_err() {
                continue;
            }
            let r = upstream_reply(&q);
            let _ = s.write_all(&(r.len() as u16).to_be_bytes());
            let _ = s.write_all(&r);
        }
    });
    addr
}

fn write_zone(run_root: &std::path::Path, gw: Ipv4Addr, entries: &[(&str, [u8; 4])]) {
    let z = Zone {
        network: "t".into(),
        gateway: gw,
        internal: false,
        endpoints: entries
            .iter()
            .map(|(n, ip)| Entry {
                container: format!("c-{n}"),
                ip: (*ip).into(),
                ip6: None,
                names: vec![n.to_string()],
                servers: Vec::new(),
            })
            .collect(),
    };
    let dir = zone::dir(run_root);
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(".tmp");
    std::fs::write(&tmp, serde_json::to_vec(&z).unwrap()).unwrap();
    std::fs::rename(&tmp, zone::file(run_root, "net1")).unwrap();
}

#[test]
fn answers_forwards_reloads_and_exits() {
    if !is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the DNS server test needs root (binding port 53)"
        );
        eprintln!("not root: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run_root = dir.path().to_path_buf();
    let mut b = [0u8; 1];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .unwrap();
    let gw = Ipv4Addr::new(127, 88, 1 + b[0] % 250, 1);
    let server: SocketAddr = (gw, 53).into();
    // The only test in this binary: no other thread reads the environment.
    std::env::set_var(UPSTREAM_ENV, fake_upstream().to_string());
    write_zone(&run_root, gw, &[("web", [10, 0, 0, 2])]);

    let (done_tx, done) = mpsc::channel();
    let rr = run_root.clone();
    std::thread::spawn(move || {
        let _ = done_tx.send(serve(&rr).map_err(|e| e.to_string()));
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(server).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server never listened on {server}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let qlen = query(1, "web").len();
    let r = ask_udp(server, 1, "web");
    assert_eq!(&r[..2], &[0, 1]);
    assert_eq!(addresses(&r, qlen), vec![Ipv4Addr::new(10, 0, 0, 2)]);
    let r = ask_tcp(server, 2, "WEB");
    assert_eq!(addresses(&r, qlen), vec![Ipv4Addr::new(10, 0, 0, 2)]);

    let qlen = query(3, "outside.test").len();
    let r = ask_udp(server, 3, "outside.test");
    assert_eq!(&r[..2], &[0, 3], "the upstream's reply, relayed");
    assert_eq!(addresses(&r, qlen), vec![Ipv4Addr::new(192, 0, 2, 77)]);
    let r = ask_tcp(server, 4, "outside.test");
    assert_eq!(addresses(&r, qlen), vec![Ipv4Addr::new(192, 0, 2, 77)]);

    // New records are seen by the next query, with no wait in between.
    write_zone(
        &run_root,
        gw,
        &[("web", [10, 0, 0, 2]), ("db", [10, 0, 0, 3])],
    );
    let qlen = query(5, "db").len();
    let r = ask_udp(server, 5, "db");
    assert_eq!(addresses(&r, qlen), vec![Ipv4Addr::new(10, 0, 0, 3)]);

    // No records: the server returns and stops listening.
    std::fs::remove_file(zone::file(&run_root, "net1")).unwrap();
    let out = done
        .recv_timeout(Duration::from_secs(10))
        .expect("the server did not exit without records");
    assert_eq!(out, Ok(()));
    assert!(TcpStream::connect(server).is_err());
}
