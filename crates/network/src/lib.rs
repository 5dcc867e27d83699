//! Bridge networks for berth containers (issue 6, foundations): network records and
//! IPAM in the store's database, one Linux bridge per network, a veth pair per
//! container into a network namespace the engine owns, and outbound NAT (or, for
//! internal networks, isolation) in berth's own nftables table.

pub mod dns;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod iptables;
pub mod lock;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod pool;
pub mod ports;
pub mod records;
pub mod subnet6;

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use berth_store::Db;

pub use error::{NetError, Result};
use netlink::Netlink;
pub use records::{Network, NewNetwork, DEFAULT_NETWORK};

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
    /// On an `--ipv6` network: its IPv6 address, prefix length and gateway.
    pub v6: Option<V6>,
    pub netns: PathBuf,
    pub host_veth: String,
    /// Its name in the container: `eth0`, `eth1`, ...
    pub ifname: String,
}

/// A container's IPv6 address on an `--ipv6` network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6 {
    pub ip: Ipv6Addr,
    pub prefix: u8,
    pub gateway: Ipv6Addr,
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
    if let Some((s6, gw6)) = net.v6()? {
        enable_ipv6_on(&net.bridge)?;
        ok_if(nl.add_addr6(idx, gw6, s6.prefix), libc::EEXIST)
            .map_err(|e| NetError::io(what("adding the IPv6 gateway to"), e))?;
    }
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
    if !net.internal && net.ipv6() && nft::enable_ip6_forward()? {
        notices.push(
            "net.ipv6.conf.all.forwarding was 0: set it to 1 so containers on IPv6 networks \
             reach other networks through NAT (interfaces with accept_ra=1 now ignore router \
             advertisements; set accept_ra=2 where the host relies on them)"
                .to_string(),
        );
    }
    Ok(notices)
}

/// Lets a bridge hold IPv6 addresses on a host whose new interfaces start with IPv6
/// disabled (`net.ipv6.conf.default.disable_ipv6=1`).
fn enable_ipv6_on(bridge: &str) -> Result<()> {
    let p = format!("/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6");
    match std::fs::read_to_string(&p) {
        Ok(v) if v.trim() == "1" => {
            std::fs::write(&p, "0").map_err(|e| NetError::io(format!("writing {p}"), e))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(NetError::io(
            format!("reading {p} (is IPv6 disabled in the kernel?)"),
            e,
        )),
    }
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
pub fn remove(db: &Db, run_root: &Path, key: &str) -> Result<Network> {
    let net = records::find(db, key)?;
    let held = ipam::allocations(db, &net.id)?;
    if !held.is_empty() {
        return Err(NetError::InUse {
            name: net.name.clone(),
            count: held.len(),
        });
    }
    pool::drain(run_root, &net.id)?;
    teardown_bridge(&net)?;
    records::delete(db, &net.id)?;
    Ok(net)
}

/// `network prune`: removes every network no container refers to (`referenced` holds
/// the names and ids that containers' `--network` name) and none holds an address on.
pub fn prune(db: &Db, run_root: &Path, referenced: &HashSet<String>) -> Result<Vec<Network>> {
    let mut removed = Vec::new();
    for net in records::list(db)? {
        if net.name == DEFAULT_NETWORK
            || referenced.contains(&net.name)
            || referenced.contains(&net.id)
            || !ipam::allocations(db, &net.id)?.is_empty()
        {
            continue;
        }
        removed.push(remove(db, run_root, &net.id)?);
    }
    Ok(removed)
}

/// What a container asks of one network.
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    /// The network's name or id.
    pub network: String,
    pub ip: Option<Ipv4Addr>,
    /// `--ip6`.
    pub ip6: Option<Ipv6Addr>,
    /// A `--mac-address` checked with [`ipam::check_mac`].
    pub mac: Option<String>,
    /// The names the embedded DNS answers for it (container name, aliases, short id).
    pub dns_names: Vec<String>,
    /// The container's `--dns` servers: the embedded DNS forwards its other
    /// queries there instead of to the host's resolvers.
    pub dns_servers: Vec<String>,
}

/// The host end of interface `ifname` of a container: `eth0`'s is [`host_veth`],
/// `ethN`'s `vb<10 hex>-N` (the dash keeps the two forms apart).
pub fn host_veth_for(container_id: &str, ifname: &str) -> String {
    match ipam::if_index(ifname) {
        0 => host_veth(container_id),
        n => format!("vb{}-{n}", &container_id[..container_id.len().min(10)]),
    }
}

/// Connects a container that is about to start to its networks, in order: a fresh
/// namespace file at `<run_root>/netns/<id>`, and per network an address and a veth
/// pair from the network's bridge to `eth0`, `eth1`, ... in it (MTU, MAC, address;
/// the default route goes via the first). Networks with the embedded DNS get their
/// records written and the server started (`dns_server` is the argv that runs it).
/// On failure everything made here is undone.
pub fn attach(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    requests: &[EndpointRequest],
    dns_server: &[String],
) -> Result<(Vec<Endpoint>, Vec<String>)> {
    let file = netns::path(run_root, container_id);
    let made = (|| {
        // A namespace left by a crash may hold old interfaces: start from a fresh
        // one. The container is not running, so nothing else is in it.
        netns::remove(&file)?;
        let nets = requests
            .iter()
            .map(|r| resolve(db, &r.network))
            .collect::<Result<Vec<_>>>()?;
        // A container on one network may take an idle namespace of that network.
        let mut pooled = match nets.as_slice() {
            [only] => pool::take(run_root, &only.id, &file)?,
            _ => None,
        };
        if pooled.is_none() {
            netns::create(&file)?;
        }
        let mut eps: Vec<Endpoint> = Vec::new();
        let mut notices = Vec::new();
        for (i, (r, net)) in requests.iter().zip(nets).enumerate() {
            let at = Plumbing {
                ifname: format!("eth{i}"),
                default_route: i == 0,
                // The first network with IPv6 carries the v6 default route.
                default_route6: !eps.iter().any(|e| e.v6.is_some()),
                pooled: pooled.take(),
            };
            let (ep, n) = connect_one(db, run_root, container_id, r, net, at)?;
            eps.push(ep);
            notices.extend(n);
        }
        Ok((eps, notices))
    })();
    let (eps, mut notices) = match made {
        Ok(x) => x,
        Err(e) => {
            let _ = detach(db, run_root, container_id, false);
            return Err(e);
        }
    };
    notices.extend(publish_dns(db, run_root, &eps, dns_server));
    Ok((eps, notices))
}

/// Writes the DNS records of the endpoints' networks and makes sure the server
/// answers on them. A DNS failure does not fail the container: it is reported.
fn publish_dns(db: &Db, run_root: &Path, eps: &[Endpoint], dns_server: &[String]) -> Vec<String> {
    let nets: Vec<&Network> = eps
        .iter()
        .map(|e| &e.network)
        .filter(|n| n.has_dns())
        .collect();
    if nets.is_empty() {
        return Vec::new();
    }
    let r = (|| {
        for n in &nets {
            dns::zone::sync(db, run_root, n)?;
        }
        let gws = nets
            .iter()
            .map(|n| n.gateway())
            .collect::<Result<Vec<_>>>()?;
        dns::ensure_server(run_root, dns_server, &gws)
    })();
    match r {
        Ok(()) => Vec::new(),
        Err(e) => vec![format!("embedded DNS: {e}")],
    }
}

/// Where an endpoint goes in the container's namespace.
struct Plumbing {
    ifname: String,
    /// Whether its gateway is the default route (the first network's is).
    default_route: bool,
    /// Whether its IPv6 gateway (if it has one) is the IPv6 default route.
    default_route6: bool,
    /// The idle host end of a namespace taken from the network's pool, whose
    /// `eth0` is there already.
    pooled: Option<String>,
}

/// Allocates the container's address on one network and plumbs its interface into
/// its (existing) namespace.
fn connect_one(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    r: &EndpointRequest,
    net: Network,
    at: Plumbing,
) -> Result<(Endpoint, Vec<String>)> {
    let ifname = at.ifname.as_str();
    // After a reboot the bridge and the rules are gone while the row stays.
    let notices = if netlink::exists(&net.bridge) {
        Vec::new()
    } else {
        ensure_bridge(&net)?
    };
    let alloc = ipam::allocate(
        db,
        &net,
        container_id,
        &ipam::Request {
            ip: r.ip,
            ip6: r.ip6,
            mac: r.mac.clone(),
            ifname: ifname.to_string(),
            dns_names: if net.has_dns() {
                r.dns_names.clone()
            } else {
                Vec::new()
            },
            dns_servers: r.dns_servers.clone(),
        },
    )?;
    let ep = Endpoint {
        ip: alloc.ip,
        prefix: net.subnet()?.prefix,
        mac: alloc.mac.clone(),
        gateway: net.gateway()?,
        v6: match (alloc.ip6, net.v6()?) {
            (Some(ip), Some((s6, gw6))) => Some(V6 {
                ip,
                prefix: s6.prefix,
                gateway: gw6,
            }),
            _ => None,
        },
        netns: netns::path(run_root, container_id),
        host_veth: host_veth_for(container_id, ifname),
        ifname: ifname.to_string(),
        network: net,
    };
    if let Err(e) = plumb(&ep, &at) {
        let _ = ok_if(nl()?.del_link(&ep.host_veth), libc::ENODEV);
        let _ = ipam::release_one(db, &ep.network.id, container_id);
        return Err(e);
    }
    Ok((ep, notices))
}

fn plumb(ep: &Endpoint, at: &Plumbing) -> Result<()> {
    let (default_route, pooled) = (at.default_route, at.pooled.as_deref());
    let v6 = ep.v6;
    let default_route6 = at.default_route6;
    let nl = nl()?;
    ok_if(nl.del_link(&ep.host_veth), libc::ENODEV)
        .map_err(|e| NetError::io(format!("deleting stale {}", ep.host_veth), e))?;
    let mac = netlink::parse_mac(&ep.mac)
        .ok_or_else(|| NetError::invalid("MAC address", ep.mac.clone()))?;
    let br_idx = netlink::index(&ep.network.bridge)
        .map_err(|e| NetError::io(format!("finding bridge {}", ep.network.bridge), e))?;
    let attaching = || format!("attaching {} to {}", ep.host_veth, ep.network.bridge);
    match pooled {
        Some(idle) => {
            let idx =
                netlink::index(idle).map_err(|e| NetError::io(format!("finding {idle}"), e))?;
            nl.set_link_up(idx, Some(&ep.host_veth), None, Some(br_idx))
                .map_err(|e| NetError::io(attaching(), e))?;
        }
        None => {
            let ns = std::fs::File::open(&ep.netns)
                .map_err(|e| NetError::io(format!("opening {}", ep.netns.display()), e))?;
            nl.add_veth(
                &ep.host_veth,
                &ep.ifname,
                ns.as_raw_fd(),
                mac,
                ep.network.mtu(),
            )
            .map_err(|e| NetError::io(format!("creating veth pair {}", ep.host_veth), e))?;
            let host_idx = netlink::index(&ep.host_veth)
                .map_err(|e| NetError::io(format!("finding {}", ep.host_veth), e))?;
            nl.set_master_up(host_idx, br_idx)
                .map_err(|e| NetError::io(attaching(), e))?;
        }
    }
    let (ip, prefix, gw) = (ep.ip, ep.prefix, ep.gateway);
    let brd = ep.network.subnet()?.broadcast();
    let ifname = ep.ifname.clone();
    let fresh = pooled.is_none();
    netns::run_in(&ep.netns, move || {
        let nl = Netlink::open()?;
        // A new namespace's first interface also brings up lo: one trip into it.
        if default_route && fresh {
            nl.set_up(netlink::index("lo")?)?;
        }
        let eth = netlink::index(&ifname)?;
        nl.add_addr(eth, ip, prefix, brd)?;
        // A pooled eth0 still has the MAC of the container before.
        nl.set_link_up(eth, None, (!fresh).then_some(mac), None)?;
        if default_route {
            ok_if(nl.add_default_route(gw), libc::EEXIST)?;
        }
        // Added once the link is up: the kernel drops a down link's IPv6 addresses.
        if let Some(v6) = v6 {
            nl.add_addr6(eth, v6.ip, v6.prefix)?;
            if default_route6 {
                ok_if(nl.add_default_route6(v6.gateway), libc::EEXIST)?;
            }
        }
        Ok(())
    })
    .map_err(|e| {
        NetError::io(
            format!("configuring {} in {}", ep.ifname, ep.netns.display()),
            e,
        )
    })
}

/// `network connect` on a running container: the next free `ethN` in its namespace
/// (the default route only if it has no other network), and its DNS records.
pub fn connect_running(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    r: &EndpointRequest,
    dns_server: &[String],
) -> Result<(Endpoint, Vec<String>)> {
    let file = netns::path(run_root, container_id);
    if !netns::is_mounted(&file) {
        return Err(NetError::invalid(
            format!("container {}", &container_id[..container_id.len().min(12)]),
            "it has no network namespace of berth's (started with --network none, host or \
             container:NAME?)",
        ));
    }
    let held = ipam::of_container(db, container_id)?;
    let used: HashSet<u32> = held.iter().map(|a| ipam::if_index(&a.ifname)).collect();
    let n = (0..).find(|n| !used.contains(n)).unwrap_or(0);
    let at = Plumbing {
        ifname: format!("eth{n}"),
        default_route: held.is_empty(),
        default_route6: !held.iter().any(|a| a.ip6.is_some()),
        pooled: None,
    };
    let net = resolve(db, &r.network)?;
    let (ep, mut notices) = connect_one(db, run_root, container_id, r, net, at)?;
    notices.extend(publish_dns(
        db,
        run_root,
        std::slice::from_ref(&ep),
        dns_server,
    ));
    Ok((ep, notices))
}

/// `network disconnect` on a running container: removes its interface on the
/// network (deleting the host end takes the pair), releases the address, rewrites
/// the network's DNS records and, when that interface carried the default route,
/// moves it to the first remaining network.
pub fn disconnect_running(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    net: &Network,
) -> Result<()> {
    let held = ipam::of_container(db, container_id)?;
    if let Some(a) = held.iter().find(|a| a.network_id == net.id) {
        let veth = host_veth_for(container_id, &a.ifname);
        ok_if(nl()?.del_link(&veth), libc::ENODEV)
            .map_err(|e| NetError::io(format!("deleting {veth}"), e))?;
    }
    ipam::release_one(db, &net.id, container_id)?;
    if net.has_dns() {
        dns::zone::sync(db, run_root, net)?;
    }
    let file = netns::path(run_root, container_id);
    let rest = ipam::of_container(db, container_id)?;
    if let (Some(first), true) = (rest.first(), netns::is_mounted(&file)) {
        let gw = records::find(db, &first.network_id)?.gateway()?;
        // Each family's default route goes via the first network that has it.
        let gw6 = match rest.iter().find(|a| a.ip6.is_some()) {
            Some(a) => records::find(db, &a.network_id)?.v6()?.map(|(_, g)| g),
            None => None,
        };
        netns::run_in(&file, move || {
            let nl = Netlink::open()?;
            ok_if(nl.add_default_route(gw), libc::EEXIST)?;
            match gw6 {
                Some(g) => ok_if(nl.add_default_route6(g), libc::EEXIST),
                None => Ok(()),
            }
        })
        .map_err(|e| {
            NetError::io(
                format!("setting the default route in {}", file.display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// Disconnects a container that has stopped (or is being removed) from all its
/// networks: deletes the host ends of its veth pairs, unmounts and unlinks its
/// namespace file, releases its addresses and rewrites the DNS records of its
/// networks. Safe to repeat.
///
/// `reusable`: the container could not have changed its namespace (no
/// CAP_NET_ADMIN, no `net.*` sysctls, no other container joined it). Its namespace
/// then goes to the network's pool when it has one interface and the pool has room.
pub fn detach(db: &Db, run_root: &Path, container_id: &str, reusable: bool) -> Result<()> {
    let file = netns::path(run_root, container_id);
    let held = ipam::of_container(db, container_id)?;
    if let ([only], true) = (held.as_slice(), reusable && netns::is_mounted(&file)) {
        if only.ifname == "eth0" && return_to_pool(db, run_root, container_id, only, &file) {
            return release_all(db, run_root, container_id, &held);
        }
    }
    // Dropping the last reference to the namespace destroys it and the veth pairs
    // with it, in the kernel's own time: deleting the host ends ourselves
    // (RTM_DELLINK) waits for the kernel's network synchronisation, about 20 ms of
    // every container stop. Without a namespace file (a crash between the steps)
    // the host ends are deleted directly; a new start with the same id also deletes
    // host ends still lingering.
    if netns::is_mounted(&file) {
        netns::remove(&file)?;
    } else {
        let mut veths: Vec<String> = held
            .iter()
            .map(|a| host_veth_for(container_id, &a.ifname))
            .collect();
        veths.push(host_veth(container_id));
        for veth in veths {
            if netlink::exists(&veth) {
                ok_if(nl()?.del_link(&veth), libc::ENODEV)
                    .map_err(|e| NetError::io(format!("deleting {veth}"), e))?;
            }
        }
        netns::remove(&file)?;
    }
    release_all(db, run_root, container_id, &held)
}

/// Whether the namespace went to the pool (else it is left as it was, or half reset,
/// for the caller to destroy).
fn return_to_pool(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    a: &ipam::Allocation,
    file: &Path,
) -> bool {
    let Ok(net) = records::find(db, &a.network_id) else {
        return false;
    };
    let (Ok(subnet), Ok(v6)) = (net.subnet(), net.v6()) else {
        return false;
    };
    let r = pool::Returned {
        network_id: &a.network_id,
        container_id,
        file,
        ip: a.ip,
        prefix: subnet.prefix,
        ip6: a.ip6.zip(v6.map(|(s6, _)| s6.prefix)),
    };
    pool::give_back(run_root, &r).unwrap_or(false)
}

/// Releases the container's addresses and rewrites its networks' DNS records.
fn release_all(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    held: &[ipam::Allocation],
) -> Result<()> {
    ipam::release(db, container_id)?;
    for a in held {
        if let Ok(net) = records::find(db, &a.network_id) {
            if net.has_dns() {
                dns::zone::sync(db, run_root, &net)?;
            }
        }
    }
    Ok(())
}

/// New DNS names for a running container's endpoints (after a rename): `names`
/// gives them per network; the records of its DNS networks are rewritten.
pub fn rename_endpoints(
    db: &Db,
    run_root: &Path,
    container_id: &str,
    names: impl Fn(&Network) -> Vec<String>,
) -> Result<()> {
    for (net, _) in endpoints_of(db, container_id)? {
        if net.has_dns() {
            ipam::set_dns_names(db, &net.id, container_id, &names(&net))?;
            dns::zone::sync(db, run_root, &net)?;
        }
    }
    Ok(())
}

/// The container's endpoints as recorded (for `inspect`), in interface order.
pub fn endpoints_of(db: &Db, container_id: &str) -> Result<Vec<(Network, ipam::Allocation)>> {
    let mut out = Vec::new();
    for a in ipam::of_container(db, container_id)? {
        let net = records::find(db, &a.network_id)?;
        out.push((net, a));
    }
    Ok(out)
}
