//! Bridge networks for berth containers (issue 6, foundations): network records and
//! IPAM in the store's database, one Linux bridge per network, a veth pair per
//! container into a network namespace the engine owns, and outbound NAT (or, for
//! internal networks, isolation) in berth's own nftables table.

pub mod error;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod records;

use std::collections::HashSet;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use berth_store::Db;

pub use error::{NetError, Result};
use netlink::Netlink;
pub use records::{Network, NewNetwork, DEFAULT_NETWORK};

/// The name of the container's interface inside its namespace.
pub const CONTAINER_IFNAME: &str = "eth0";

/// Whether a `--network` value names a bridge network (rather than none or host).
pub fn is_bridge_mode(mode: &str) -> bool {
    !matches!(mode, "" | "none" | "host") && !mode.starts_with("container:")
}

/// The host end of a container's veth pair: `vb` + 12 hex of its id (15 bytes at
/// most fit a link name).
pub fn host_veth(container_id: &str) -> String {
    format!("vb{}", &container_id[..container_id.len().min(12)])
}

/// What a container got on its network.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub network: Network,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: String,
    pub gateway: Ipv4Addr,
    pub netns: PathBuf,
    pub host_veth: String,
}

fn nl() -> Result<Netlink> {
    Netlink::open().map_err(|e| NetError::io("opening a netlink socket", e))
}

fn ok_if(r: io::Result<()>, errno: i32) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(errno) => Ok(()),
        r => r,
    }
}

/// Makes sure the network's bridge exists with its gateway address and is up, its
/// nftables chains are loaded and, for a network with outbound NAT, IPv4 forwarding
/// is on. Returns notices for the user (a host setting that changed).
pub fn ensure_bridge(net: &Network) -> Result<Vec<String>> {
    let subnet = net.subnet()?;
    let gw = net.gateway()?;
    let nl = nl()?;
    let what = |w: &str| format!("{w} bridge {} of network {}", net.bridge, net.name);
    // The bridge's MTU follows its ports (the kernel re-derives it as they come and
    // go); each veth gets the network's, so a container's path has it.
    ok_if(nl.add_bridge(&net.bridge, net.mtu()), libc::EEXIST)
        .map_err(|e| NetError::io(what("creating"), e))?;
    let idx = netlink::index(&net.bridge).map_err(|e| NetError::io(what("finding"), e))?;
    ok_if(
        nl.add_addr(idx, gw, subnet.prefix, subnet.broadcast()),
        libc::EEXIST,
    )
    .map_err(|e| NetError::io(what("addressing"), e))?;
    nl.set_up(idx)
        .map_err(|e| NetError::io(what("bringing up"), e))?;
    nft::apply(net)?;
    let mut notices = Vec::new();
    if !net.internal && nft::enable_ip_forward()? {
        notices.push(
            "net.ipv4.ip_forward was 0: set it to 1 so containers on bridge networks reach \
             other networks through NAT"
                .to_string(),
        );
    }
    Ok(notices)
}

/// `network create`: the row, then the bridge and its rules (the row is deleted again
/// if those fail).
pub fn create(db: &Db, req: NewNetwork) -> Result<(Network, Vec<String>)> {
    let net = records::create(db, req, &records::host_routes())?;
    match ensure_bridge(&net) {
        Ok(n) => Ok((net, n)),
        Err(e) => {
            let _ = teardown_bridge(&net);
            let _ = records::delete(db, &net.id);
            Err(e)
        }
    }
}

/// The network a container names: `bridge` is created on first use.
pub fn resolve(db: &Db, key: &str) -> Result<Network> {
    match records::find(db, key) {
        Err(NetError::NotFound(_)) if key == DEFAULT_NETWORK => {
            match create(
                db,
                NewNetwork {
                    name: DEFAULT_NETWORK.into(),
                    ..Default::default()
                },
            ) {
                Ok((n, _)) => Ok(n),
                // Another process created it first.
                Err(NetError::NameInUse(_)) => records::find(db, key),
                Err(e) => Err(e),
            }
        }
        r => r,
    }
}

fn teardown_bridge(net: &Network) -> Result<()> {
    let nl = nl()?;
    ok_if(nl.del_link(&net.bridge), libc::ENODEV)
        .map_err(|e| NetError::io(format!("deleting bridge {}", net.bridge), e))?;
    nft::remove(net)
}

/// `network rm`: refused while a container holds an address on it; removes the
/// bridge, its nftables chains and the row.
pub fn remove(db: &Db, key: &str) -> Result<Network> {
    let net = records::find(db, key)?;
    let held = ipam::allocations(db, &net.id)?;
    if !held.is_empty() {
        return Err(NetError::InUse {
            name: net.name.clone(),
            count: held.len(),
        });
    }
    teardown_bridge(&net)?;
    records::delete(db, &net.id)?;
    Ok(net)
}

/// `network prune`: removes every network no container refers to (`referenced` holds
/// the names and ids that containers' `--network` name) and none holds an address on.
pub fn prune(db: &Db, referenced: &HashSet<String>) -> Result<Vec<Network>> {
    let mut removed = Vec::new();
    for net in records::list(db)? {
        if net.name == DEFAULT_NETWORK
            || referenced.contains(&net.name)
            || referenced.contains(&net.id)
            || !ipam::allocations(db, &net.id)?.is_empty()
        {
            continue;
        }
        removed.push(remove(db, &net.id)?);
    }
    Ok(removed)
}

/// Connects a container that is about to start: its address, a fresh namespace file
/// at `<run_root>/netns/<id>`, and a veth pair from the network's bridge to `eth0`
/// in it, configured (address, MTU, lo, default route). On failure everything made
/// here is undone.
pub fn attach(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    network: &str,
    requested_ip: Option<Ipv4Addr>,
) -> Result<(Endpoint, Vec<String>)> {
    let net = resolve(db, network)?;
    // After a reboot the bridge and the rules are gone while the row stays.
    let notices = if netlink::exists(&net.bridge) {
        Vec::new()
    } else {
        ensure_bridge(&net)?
    };
    let alloc = ipam::allocate(db, &net, container_id, requested_ip)?;
    let ep = Endpoint {
        ip: alloc.ip,
        prefix: net.subnet()?.prefix,
        mac: alloc.mac.clone(),
        gateway: net.gateway()?,
        netns: netns::path(run_root, container_id),
        host_veth: host_veth(container_id),
        network: net,
    };
    match plumb(&ep) {
        Ok(()) => Ok((ep, notices)),
        Err(e) => {
            let _ = detach(db, run_root, container_id);
            Err(e)
        }
    }
}

fn plumb(ep: &Endpoint) -> Result<()> {
    // A namespace left by a crash may hold an old eth0: start from a fresh one. The
    // container is not running, so nothing else is in it.
    netns::remove(&ep.netns)?;
    netns::create(&ep.netns)?;
    let nl = nl()?;
    ok_if(nl.del_link(&ep.host_veth), libc::ENODEV)
        .map_err(|e| NetError::io(format!("deleting stale {}", ep.host_veth), e))?;
    let ns = std::fs::File::open(&ep.netns)
        .map_err(|e| NetError::io(format!("opening {}", ep.netns.display()), e))?;
    let mac = netlink::parse_mac(&ep.mac)
        .ok_or_else(|| NetError::invalid("MAC address", ep.mac.clone()))?;
    let mtu = ep.network.mtu();
    nl.add_veth(&ep.host_veth, CONTAINER_IFNAME, ns.as_raw_fd(), mac, mtu)
        .map_err(|e| NetError::io(format!("creating veth pair {}", ep.host_veth), e))?;
    let host_idx = netlink::index(&ep.host_veth)
        .map_err(|e| NetError::io(format!("finding {}", ep.host_veth), e))?;
    let br_idx = netlink::index(&ep.network.bridge)
        .map_err(|e| NetError::io(format!("finding bridge {}", ep.network.bridge), e))?;
    nl.set_master_up(host_idx, br_idx).map_err(|e| {
        NetError::io(
            format!("attaching {} to {}", ep.host_veth, ep.network.bridge),
            e,
        )
    })?;
    let (ip, prefix, gw) = (ep.ip, ep.prefix, ep.gateway);
    let brd = ep.network.subnet()?.broadcast();
    netns::run_in(&ep.netns, move || {
        let nl = Netlink::open()?;
        nl.set_up(netlink::index("lo")?)?;
        let eth = netlink::index(CONTAINER_IFNAME)?;
        nl.add_addr(eth, ip, prefix, brd)?;
        nl.set_up(eth)?;
        nl.add_default_route(gw)
    })
    .map_err(|e| {
        NetError::io(
            format!("configuring {CONTAINER_IFNAME} in {}", ep.netns.display()),
            e,
        )
    })
}

/// Disconnects a container that has stopped (or is being removed): deletes the host
/// end of its veth pair, unmounts and unlinks its namespace file and releases its
/// address. Safe to repeat.
pub fn detach(db: &Db, run_root: &Path, container_id: &str) -> Result<()> {
    let file = netns::path(run_root, container_id);
    // Dropping the last reference to the namespace destroys it and the veth pair
    // with it, in the kernel's own time: deleting the host end ourselves
    // (RTM_DELLINK) waits for the kernel's network synchronisation, about 20 ms of
    // every container stop. Without a namespace file (a crash between the steps)
    // the host end is deleted directly; a new start with the same id also deletes a
    // host end still lingering.
    if netns::is_mounted(&file) {
        netns::remove(&file)?;
    } else {
        let veth = host_veth(container_id);
        if netlink::exists(&veth) {
            ok_if(nl()?.del_link(&veth), libc::ENODEV)
                .map_err(|e| NetError::io(format!("deleting {veth}"), e))?;
        }
        netns::remove(&file)?;
    }
    ipam::release(db, container_id)
}

/// The container's endpoint as recorded (for `inspect`): its network and allocation.
pub fn endpoint_of(db: &Db, container_id: &str) -> Result<Option<(Network, ipam::Allocation)>> {
    let Some(a) = ipam::of_container(db, container_id)? else {
        return Ok(None);
    };
    let net = records::find(db, &a.network_id)?;
    Ok(Some((net, a)))
}
