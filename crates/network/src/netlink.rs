//! The few rtnetlink requests berth needs (create a bridge or a veth pair, attach,
//! bring up, set an address or the default route, delete a link), written by hand.
//!
//! Why not `rtnetlink`: it is async on tokio, and these calls run in the short-lived
//! `berth` CLI and in the monitor's cleanup, sometimes on a thread that has joined a
//! container's network namespace; a dozen fixed-layout messages over one blocking
//! socket need no runtime, no extra threads and no new dependencies.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
/// `ifaddrmsg.ifa_flags`: no duplicate address detection, so the address is usable
/// at once instead of tentative for a second or more (the subnet is berth's alone).
const IFA_F_NODAD: u8 = 0x02;

const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

const IFF_UP: u32 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// A request being built: the netlink header, a fixed family header, attributes.
struct Msg {
    buf: Vec<u8>,
    /// Start offsets of open nested attributes.
    nests: Vec<usize>,
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

impl Msg {
    fn new(kind: u16, flags: u16, family_header: &[u8]) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish()
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&1u32.to_ne_bytes()); // seq
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        buf.extend_from_slice(family_header);
        buf.resize(align(buf.len()), 0);
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    fn str_attr(&mut self, kind: u16, s: &str) -> &mut Msg {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(kind, &d)
    }

    fn u32_attr(&mut self, kind: u16, v: u32) -> &mut Msg {
        self.attr(kind, &v.to_ne_bytes())
    }

    fn begin(&mut self, kind: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.attr(kind | NLA_F_NESTED, &[])
    }

    /// Raw bytes inside the open nest (a nested family header, as VETH_INFO_PEER has).
    fn raw(&mut self, data: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    fn end(&mut self) -> &mut Msg {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// `struct ifinfomsg`: family, type, index, flags, change.
fn ifinfo(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0] = libc::AF_UNSPEC as u8;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

/// A NETLINK_ROUTE socket, bound to the network namespace of the thread that opened it.
pub struct Netlink {
    fd: OwnedFd,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd })
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&self, msg: Msg) -> io::Result<()> {
        let buf = msg.finish();
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value for it.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: buf and addr are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut reply = vec![0u8; 8192];
        loop {
            // SAFETY: reply is a valid writable buffer of its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    reply.as_mut_ptr().cast(),
                    reply.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            let mut off = 0;
            while off + 16 <= n {
                let len =
                    u32::from_ne_bytes(reply[off..off + 4].try_into().unwrap_or_default()) as usize;
                let kind = u16::from_ne_bytes([reply[off + 4], reply[off + 5]]);
                if kind == NLMSG_ERROR && off + 20 <= n {
                    let code = i32::from_ne_bytes(
                        reply[off + 16..off + 20].try_into().unwrap_or_default(),
                    );
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
                if len < 16 {
                    break;
                }
                off += align(len);
            }
        }
    }

    /// Creates a bridge; `EEXIST` when it is there already.
    pub fn add_bridge(&self, name: &str, mtu: u32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifinfo(0, 0, 0));
        m.str_attr(IFLA_IFNAME, name).u32_attr(IFLA_MTU, mtu);
        m.begin(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "bridge")
            .end();
        self.request(m)
    }

    /// Creates a veth pair whose peer is made directly in the namespace `peer_ns`
    /// under `peer_name` with `peer_mac`: it never appears in the host's namespace, so
    /// no rename or move can race another container's.
    pub fn add_veth(
        &self,
        host_name: &str,
        peer_name: &str,
        peer_ns: RawFd,
        peer_mac: [u8; 6],
        mtu: u32,
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifinfo(0, 0, 0));
        m.str_attr(IFLA_IFNAME, host_name).u32_attr(IFLA_MTU, mtu);
        m.begin(IFLA_LINKINFO).str_attr(IFLA_INFO_KIND, "veth");
        m.begin(IFLA_INFO_DATA).begin(VETH_INFO_PEER);
        m.raw(&ifinfo(0, 0, 0))
            .str_attr(IFLA_IFNAME, peer_name)
            .u32_attr(IFLA_MTU, mtu)
            .attr(IFLA_ADDRESS, &peer_mac)
            .u32_attr(IFLA_NET_NS_FD, peer_ns as u32);
        m.end().end().end();
        self.request(m)
    }

    /// Attaches a link to a bridge (`master`) and brings it up.
    pub fn set_master_up(&self, index: i32, master: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0, &ifinfo(index, IFF_UP, IFF_UP));
        m.u32_attr(IFLA_MASTER, master as u32);
        self.request(m)
    }

    pub fn set_up(&self, index: i32) -> io::Result<()> {
        self.request(Msg::new(RTM_NEWLINK, 0, &ifinfo(index, IFF_UP, IFF_UP)))
    }

    pub fn set_down(&self, index: i32) -> io::Result<()> {
        self.request(Msg::new(RTM_NEWLINK, 0, &ifinfo(index, 0, IFF_UP)))
    }

    /// Changes a link in one request and brings it up: a new name (the kernel renames
    /// only a link that is down: the change comes before the flags), a new MAC, a
    /// new master.
    pub fn set_link_up(
        &self,
        index: i32,
        name: Option<&str>,
        mac: Option<[u8; 6]>,
        master: Option<i32>,
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0, &ifinfo(index, IFF_UP, IFF_UP));
        if let Some(n) = name {
            m.str_attr(IFLA_IFNAME, n);
        }
        if let Some(a) = mac {
            m.attr(IFLA_ADDRESS, &a);
        }
        if let Some(i) = master {
            m.u32_attr(IFLA_MASTER, i as u32);
        }
        self.request(m)
    }

    /// Renames a link that is down.
    pub fn rename(&self, index: i32, name: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0, &ifinfo(index, 0, 0));
        m.str_attr(IFLA_IFNAME, name);
        self.request(m)
    }

    /// Deletes a link by name; `ENODEV` when there is none.
    pub fn del_link(&self, name: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_DELLINK, 0, &ifinfo(0, 0, 0));
        m.str_attr(IFLA_IFNAME, name);
        self.request(m)
    }

    /// Adds `ip/prefix` to a link; `EEXIST` when it has it.
    pub fn add_addr(&self, index: i32, ip: Ipv4Addr, prefix: u8, brd: Ipv4Addr) -> io::Result<()> {
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        let mut h = [0u8; 8];
        h[0] = libc::AF_INET as u8;
        h[1] = prefix;
        h[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &h);
        m.attr(IFA_LOCAL, &ip.octets())
            .attr(IFA_ADDRESS, &ip.octets())
            .attr(IFA_BROADCAST, &brd.octets());
        self.request(m)
    }

    /// Removes `ip/prefix` from a link; `EADDRNOTAVAIL` when it does not have it.
    pub fn del_addr(&self, index: i32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut h = [0u8; 8];
        h[0] = libc::AF_INET as u8;
        h[1] = prefix;
        h[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let mut m = Msg::new(RTM_DELADDR, 0, &h);
        m.attr(IFA_LOCAL, &ip.octets());
        self.request(m)
    }

    /// Adds the IPv6 `ip/prefix` to a link, without duplicate address detection;
    /// `EEXIST` when it has it.
    pub fn add_addr6(&self, index: i32, ip: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = Msg::new(
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifaddr6(index, prefix, IFA_F_NODAD),
        );
        m.attr(IFA_LOCAL, &ip.octets())
            .attr(IFA_ADDRESS, &ip.octets());
        self.request(m)
    }

    /// Removes the IPv6 `ip/prefix` from a link; `EADDRNOTAVAIL` when it does not
    /// have it.
    pub fn del_addr6(&self, index: i32, ip: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = Msg::new(RTM_DELADDR, 0, &ifaddr6(index, prefix, 0));
        m.attr(IFA_LOCAL, &ip.octets())
            .attr(IFA_ADDRESS, &ip.octets());
        self.request(m)
    }

    /// The default route via `gateway` in the main table.
    pub fn add_default_route(&self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut m = Msg::new(
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            &rtmsg(libc::AF_INET as u8),
        );
        m.attr(RTA_GATEWAY, &gateway.octets());
        self.request(m)
    }

    /// The IPv6 default route via `gateway` in the main table.
    pub fn add_default_route6(&self, gateway: Ipv6Addr) -> io::Result<()> {
        let mut m = Msg::new(
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            &rtmsg(libc::AF_INET6 as u8),
        );
        m.attr(RTA_GATEWAY, &gateway.octets());
        self.request(m)
    }
}

/// `struct ifaddrmsg` of an IPv6 address: family, prefixlen, flags, scope, index.
fn ifaddr6(index: i32, prefix: u8, flags: u8) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[0] = libc::AF_INET6 as u8;
    h[1] = prefix;
    h[2] = flags;
    h[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
    h
}

/// `struct rtmsg` of a unicast route in the main table: family, dst_len, src_len,
/// tos, table, protocol, scope, type, flags.
fn rtmsg(family: u8) -> [u8; 12] {
    [
        family,
        0,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ]
}

/// The index of a link in the calling thread's network namespace.
pub fn index(name: &str) -> io::Result<i32> {
    let c = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i as i32)
}

pub fn exists(name: &str) -> bool {
    index(name).is_ok()
}

/// Parses `02:42:...` into bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}
