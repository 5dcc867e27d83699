//! Test networks for the bridge and DNS tests: unique names and 10.199.X.0/24
//! subnets no host route uses, removed (with their containers, bridges and nft
//! chains) when the guard drops, also after a failed assertion; plus a fake
//! upstream DNS server on loopback and a finder for the embedded DNS server.

use std::cell::RefCell;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::engine::Engine;

pub use super::net::{free_subnet, gone, link_exists, nft_chain_exists, random_hex};

pub struct Net {
    pub name: String,
    pub id: String,
    pub bridge: String,
    /// The first three octets of its /24.
    pub prefix: String,
}

pub struct Nets<'a> {
    e: &'a Engine,
    made: RefCell<Vec<(String, String, String)>>,
}

impl<'a> Nets<'a> {
    pub fn new(e: &'a Engine) -> Nets<'a> {
        Nets {
            e,
            made: RefCell::new(Vec::new()),
        }
    }

    /// `network create --subnet 10.199.X.0/24 EXTRA... NAME`.
    #[track_caller]
    pub fn create(&self, extra: &[&str]) -> Net {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        self.create_with(|_| extra.clone())
    }

    /// Like [`Nets::create`], the extra arguments made from the subnet's prefix
    /// (`10.199.X`).
    #[track_caller]
    pub fn create_with(&self, extra: impl Fn(&str) -> Vec<String>) -> Net {
        let name = format!("dt{}", random_hex(6));
        let prefix = free_subnet();
        let subnet = format!("{prefix}.0/24");
        let extra = extra(&prefix);
        let mut args = vec!["network", "create", "--subnet", &subnet];
        args.extend(extra.iter().map(String::as_str));
        args.push(&name);
        let id = self.e.ok(&args).trim().to_string();
        assert_eq!(id.len(), 64, "network create prints the id: {id:?}");
        let bridge = format!("br-{}", &id[..12]);
        self.made
            .borrow_mut()
            .push((name.clone(), id.clone(), bridge.clone()));
        Net {
            name,
            id,
            bridge,
            prefix,
        }
    }
}

impl Drop for Nets<'_> {
    fn drop(&mut self) {
        let ids = self.e.container_ids();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(ids.iter().map(String::as_str));
            let _ = self.e.berth(&a);
        }
        for (name, id, bridge) in self.made.borrow().iter() {
            let _ = self.e.berth(&["network", "rm", name]);
            if link_exists(bridge) {
                let _ = Command::new("ip").args(["link", "del", bridge]).status();
            }
            for c in ["post", "fwd", "in"] {
                let chain = format!("{c}-{}", &id[..12]);
                if nft_chain_exists(&chain) {
                    let _ = Command::new("nft")
                        .args(["flush", "chain", "ip", "berth", &chain])
                        .status();
                    let _ = Command::new("nft")
                        .args(["delete", "chain", "ip", "berth", &chain])
                        .status();
                }
            }
        }
    }
}

/// Pids of the embedded DNS servers serving `runroot` (`berth ... --runroot R
/// network dns-serve`).
pub fn dns_servers(runroot: &Path) -> Vec<i32> {
    let want = runroot.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "dns-serve") && args.contains(&want) {
            out.push(pid);
        }
    }
    out
}

/// A DNS server on 127.0.0.1 standing in for the host's resolvers: it answers
/// `A <name>` for the names it was given and NXDOMAIN for the rest, and counts the
/// queries it saw. Stops when dropped.
pub struct FakeUpstream {
    pub addr: String,
    pub queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeUpstream {
    pub fn start(answers: &[(&str, [u8; 4])]) -> FakeUpstream {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let addr = sock.local_addr().unwrap().to_string();
        let answers: Vec<(String, [u8; 4])> =
            answers.iter().map(|(n, ip)| (n.to_string(), *ip)).collect();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queries.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::SeqCst);
                if let Some(r) = fake_reply(&buf[..n], &answers) {
                    let _ = sock.send_to(&r, from);
                }
            }
        });
        FakeUpstream {
            addr,
            queries,
            stop,
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The reply to one query: the question echoed, then an A record for a known name
/// (of an A query) or NXDOMAIN.
fn fake_reply(q: &[u8], answers: &[(String, [u8; 4])]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*q.get(at)?, *q.get(at + 1)?]);
    let end = at + 4;
    let name = labels.join(".");
    let hit = answers.iter().find(|(n, _)| *n == name).map(|(_, ip)| *ip);
    let mut r = q.get(..2)?.to_vec();
    let rcode = if hit.is_some() { 0 } else { 3 };
    r.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
    let an = u16::from(hit.is_some() && qtype == 1);
    r.extend_from_slice(&an.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..end)?);
    if let (Some(ip), 1) = (hit, an) {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ip);
    }
    Some(r)
}
