//! Bridge-network test helpers: test networks on free 10.199.X.0/24 subnets that are
//! removed (with their bridges and nft chains) when the test ends, also on failure.

use std::cell::RefCell;
use std::path::Path;
use std::process::Command;

use super::engine::Engine;

pub const BUSYBOX: &str = "/usr/bin/busybox";

pub fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut b = vec![0u8; n.div_ceil(2)];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect::<String>()[..n].to_string()
}

/// A host TCP port on 127.0.0.1 that nothing holds right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A random unique local /64: `fdXX:XXXX:XXXX::` (without the length), written as
/// berth writes addresses, so a host part can be appended (`{p6}2`).
pub fn random_ula() -> String {
    let h = random_hex(10);
    let ula = format!("fd{}:{}:{}::", &h[..2], &h[2..6], &h[6..10]);
    ula.parse::<std::net::Ipv6Addr>().unwrap().to_string()
}

/// A third octet X such that 10.199.X.0/24 is on no host route (another test's
/// bridge included). The address is claimed for real when the bridge gets it.
pub fn free_subnet() -> String {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    loop {
        let mut b = [0u8; 1];
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut b))
            .unwrap();
        let x = 1 + b[0] % 250;
        // /proc/net/route prints 10.199.X.0 as the native-endian hex of its bytes.
        let hex = format!("{:08X}", u32::from_ne_bytes([10, 199, x, 0]));
        if !routes.contains(&hex) {
            return format!("10.199.{x}");
        }
    }
}

/// The link disappears within a few seconds: a veth pair goes with its namespace,
/// which the kernel destroys asynchronously.
pub fn gone(name: &str) -> bool {
    super::host::wait_until(std::time::Duration::from_secs(10), || !link_exists(name))
}

pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

pub fn nft_chain_exists(chain: &str) -> bool {
    nft_chain_in("ip", chain)
}

/// Whether berth's table of `family` (`ip`, `ip6`) has the chain.
pub fn nft_chain_in(family: &str, chain: &str) -> bool {
    Command::new("nft")
        .args(["list", "chain", family, "berth", chain])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub struct Net {
    pub name: String,
    pub id: String,
    pub bridge: String,
    /// The first three octets of its /24.
    pub prefix: String,
}

/// The networks a test made: on drop (also after a failed assertion) their containers
/// are removed, then the networks, then whatever bridge or chain a failure left.
pub struct Nets<'a> {
    e: &'a Engine,
    made: RefCell<Vec<Net>>,
}

impl<'a> Nets<'a> {
    pub fn new(e: &'a Engine) -> Nets<'a> {
        Nets {
            e,
            made: RefCell::new(Vec::new()),
        }
    }

    #[track_caller]
    pub fn create(&self, extra: &[&str]) -> (String, String) {
        let name = format!("bt{}", random_hex(6));
        let prefix = free_subnet();
        let subnet = format!("{prefix}.0/24");
        let mut args = vec!["network", "create", "--subnet", &subnet];
        args.extend_from_slice(extra);
        args.push(&name);
        let id = self.e.ok(&args).trim().to_string();
        assert_eq!(id.len(), 64, "network create prints the id: {id:?}");
        self.made.borrow_mut().push(Net {
            name: name.clone(),
            id: id.clone(),
            bridge: format!("br-{}", &id[..12]),
            prefix: prefix.clone(),
        });
        (name, prefix)
    }

    pub fn bridge(&self, name: &str) -> String {
        self.made
            .borrow()
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.bridge.clone())
            .unwrap()
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
        for n in self.made.borrow().iter() {
            let _ = self.e.berth(&["network", "rm", &n.name]);
            if link_exists(&n.bridge) {
                let _ = Command::new("ip").args(["link", "del", &n.bridge]).status();
            }
            for c in ["post", "fwd", "in"] {
                let chain = format!("{c}-{}", &n.id[..12]);
                for family in ["ip", "ip6"] {
                    if nft_chain_in(family, &chain) {
                        let _ = Command::new("nft")
                            .args(["flush", "chain", family, "berth", &chain])
                            .status();
                        let _ = Command::new("nft")
                            .args(["delete", "chain", family, "berth", &chain])
                            .status();
                    }
                }
            }
            let _ = &n.prefix;
        }
    }
}

pub fn ip_of(e: &Engine, c: &str) -> String {
    e.inspect_f(c, "{{.NetworkSettings.IPAddress}}")
}

pub fn host_ping(ip: &str) -> bool {
    Command::new(BUSYBOX)
        .args(["ping", "-c1", "-W2", ip])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn netns_file(e: &Engine, id: &str) -> std::path::PathBuf {
    e.runroot.join("netns").join(id)
}

pub fn veth(id: &str) -> String {
    format!("vb{}", &id[..12])
}
