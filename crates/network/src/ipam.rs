//! IPv4 address management persisted in the store's database. Each allocation is a
//! row of `network_allocations`; `UNIQUE(network_id, ip)` makes two processes that
//! pick the same free address at once collide in SQLite instead of on the wire, and
//! every pick runs inside one `BEGIN IMMEDIATE` transaction so they rarely even try.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use berth_store::Db;
use rusqlite::{params, OptionalExtension};

use crate::error::{NetError, Result};
use crate::records::Network;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `A.B.C.D/N`; host bits must be zero, as Docker requires.
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = |why: &str| NetError::invalid(format!("subnet {s:?}"), why.to_string());
        let (a, p) = s.split_once('/').ok_or_else(|| bad("expected A.B.C.D/N"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        // /31 and /32 leave no room for a gateway and a container.
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix length must be between 8 and 30"));
        }
        let net = Subnet { addr, prefix };
        if net.network() != addr {
            return Err(bad(&format!(
                "host bits are set; did you mean {}/{prefix}?",
                net.network()
            )));
        }
        Ok(net)
    }

    /// Parses an address range `A.B.C.D/N` (`--ip-range`): like a subnet, but any
    /// prefix length up to /32 (a range of one address).
    pub fn parse_range(s: &str) -> Result<Subnet> {
        let bad = |why: &str| NetError::invalid(format!("--ip-range {s:?}"), why.to_string());
        let (a, p) = s.split_once('/').ok_or_else(|| bad("expected A.B.C.D/N"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        if !(8..=32).contains(&prefix) {
            return Err(bad("the prefix length must be between 8 and 32"));
        }
        let net = Subnet { addr, prefix };
        if net.network() != addr {
            return Err(bad("host bits are set"));
        }
        Ok(net)
    }

    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Usable host addresses: neither the network nor the broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network() && ip != self.broadcast()
    }

    /// Docker's default gateway: the first host address.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        let m = u32::MAX << (32 - u32::from(p));
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub network_id: String,
    pub container_id: String,
    pub ip: Ipv4Addr,
    /// Its IPv6 address, on an `--ipv6` network.
    pub ip6: Option<Ipv6Addr>,
    pub mac: String,
    /// The interface it is in the container: `eth0`, `eth1`, ...
    pub ifname: String,
    /// The names the embedded DNS answers with this address on this network.
    pub dns_names: Vec<String>,
    /// The container's own upstream servers (`--dns`), which the embedded DNS asks
    /// for its other names instead of the host's.
    pub dns_servers: Vec<String>,
}

/// The `dns` column.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct DnsColumn {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    servers: Vec<String>,
}

/// What a container asks of one network.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
    /// `--ip6` (only on an `--ipv6` network).
    pub ip6: Option<Ipv6Addr>,
    /// `--mac-address` (already validated); else derived from the address.
    pub mac: Option<String>,
    pub ifname: String,
    pub dns_names: Vec<String>,
    pub dns_servers: Vec<String>,
}

/// Docker's scheme: 02:42 and the four bytes of the address, so a MAC is unique
/// wherever the address is and needs no state of its own.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// Checks a `--mac-address`: six hex octets separated by `:` or `-`, not multicast
/// (a multicast source address is dropped by every bridge). Returns it normalised.
pub fn check_mac(mac: &str) -> Result<String> {
    let bad = |why: &str| NetError::invalid(format!("--mac-address {mac}"), why.to_string());
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return Err(bad("expected six hex octets such as 02:42:ac:11:00:02"));
    }
    let mut b = [0u8; 6];
    for (o, p) in b.iter_mut().zip(&parts) {
        *o = u8::from_str_radix(p, 16).map_err(|_| bad("not a hex octet"))?;
    }
    if b[0] & 1 == 1 {
        return Err(bad("it is a multicast address"));
    }
    if b == [0; 6] {
        return Err(bad("it is all zeros"));
    }
    Ok(b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// The container's address on the network: the one it already holds (a restart keeps
/// it), else `req.ip` (`--ip`, anywhere in the subnet), else the lowest free host
/// address of the network's pool (`--ip-range`, or the whole subnet). On an `--ipv6`
/// network the same for its IPv6 address (`--ip6`, else the lowest free one after
/// the gateway). The row also records the interface and the DNS names, refreshed on
/// every call.
pub fn allocate(db: &Db, net: &Network, container_id: &str, req: &Request) -> Result<Allocation> {
    let subnet = Subnet::parse(&net.subnet)?;
    let pool = net.pool()?;
    let gateway: Ipv4Addr = net
        .gateway
        .parse()
        .map_err(|_| NetError::invalid("gateway", net.gateway.clone()))?;
    let v6 = net.v6()?;
    let requested = req.ip;
    if let Some(ip) = requested {
        if !subnet.is_host(ip) || ip == gateway {
            return Err(NetError::invalid(
                format!("--ip {ip}"),
                format!(
                    "not a free host address of network {} ({subnet}, gateway {gateway})",
                    net.name
                ),
            ));
        }
    }
    if let Some(ip6) = req.ip6 {
        check_ip6(net, ip6)?;
    }
    let names = serde_json::to_string(&DnsColumn {
        names: req.dns_names.clone(),
        servers: req.dns_servers.clone(),
    })
    .unwrap_or_default();
    let outcome = db.write(|tx| {
        let held: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT ip, ip6 FROM network_allocations \
                 WHERE network_id = ?1 AND container_id = ?2",
                params![net.id, container_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if held.is_some() {
            tx.execute(
                "DELETE FROM network_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![net.id, container_id],
            )?;
        }
        let held4 = held
            .as_ref()
            .and_then(|(ip, _)| ip.parse::<Ipv4Addr>().ok());
        let held6 = held
            .as_ref()
            .and_then(|(_, ip6)| ip6.as_deref()?.parse::<Ipv6Addr>().ok());
        let ip = match (held4, requested) {
            (Some(h), r) if r.is_none_or(|r| r == h) => h,
            (_, Some(r)) => r,
            (_, None) => {
                let used: HashSet<Ipv4Addr> = used(tx, &net.id, "ip")?;
                let first = u32::from(pool.network());
                let last = u32::from(pool.broadcast());
                let free = (first..=last)
                    .map(Ipv4Addr::from)
                    .find(|ip| subnet.is_host(*ip) && *ip != gateway && !used.contains(ip));
                match free {
                    Some(ip) => ip,
                    None => return Ok(Err(())),
                }
            }
        };
        let ip6 = match (v6, held6, req.ip6) {
            (None, _, _) => None,
            (Some(_), Some(h), r) if r.is_none_or(|r| r == h) => Some(h),
            (Some(_), _, Some(r)) => Some(r),
            (Some((s6, gw6)), _, None) => {
                let used: HashSet<Ipv6Addr> = used(tx, &net.id, "ip6")?;
                // Lowest free after the subnet's own address: at most one more than
                // there are allocations and gateway to step over.
                let first = u128::from(s6.network());
                let last = u128::from(s6.last());
                let free = (first..=last)
                    .map(Ipv6Addr::from)
                    .take(used.len() + 3)
                    .find(|ip| s6.is_host(*ip) && *ip != gw6 && !used.contains(ip));
                match free {
                    Some(ip) => Some(ip),
                    None => return Ok(Err(())),
                }
            }
        };
        let mac = req.mac.clone().unwrap_or_else(|| mac_for(ip));
        tx.execute(
            "INSERT INTO network_allocations \
             (network_id, container_id, ip, mac, ifname, dns, ip6) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                net.id,
                container_id,
                ip.to_string(),
                mac,
                req.ifname,
                names,
                ip6.map(|i| i.to_string())
            ],
        )?;
        Ok(Ok((ip, ip6)))
    });
    match outcome {
        Ok(Ok((ip, ip6))) => Ok(Allocation {
            network_id: net.id.clone(),
            container_id: container_id.to_string(),
            ip,
            ip6,
            mac: req.mac.clone().unwrap_or_else(|| mac_for(ip)),
            ifname: req.ifname.clone(),
            dns_names: req.dns_names.clone(),
            dns_servers: req.dns_servers.clone(),
        }),
        Ok(Err(())) => Err(NetError::Exhausted {
            network: net.name.clone(),
            subnet: if net.ip_range.is_empty() {
                net.subnet.clone()
            } else {
                format!("{}, range {}", net.subnet, net.ip_range)
            },
        }),
        Err(berth_store::StoreError::Sqlite(e)) if is_unique_violation(&e) => {
            Err(NetError::AddressInUse {
                ip: requested
                    .map(|i| i.to_string())
                    .or(req.ip6.map(|i| i.to_string()))
                    .unwrap_or_default(),
                network: net.name.clone(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// The addresses of one family (`ip` or `ip6` column) held on the network.
fn used<T: std::str::FromStr + std::hash::Hash + Eq>(
    tx: &rusqlite::Transaction<'_>,
    network_id: &str,
    column: &str,
) -> rusqlite::Result<HashSet<T>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {column} FROM network_allocations WHERE network_id = ?1 AND {column} IS NOT NULL"
    ))?;
    let out = stmt
        .query_map([network_id], |r| r.get::<_, String>(0))?
        .filter_map(|r| r.ok()?.parse().ok())
        .collect();
    Ok(out)
}

/// Checks an `--ip6`: the network has IPv6 and it is a host address of its subnet
/// other than the gateway.
pub fn check_ip6(net: &Network, ip6: Ipv6Addr) -> Result<()> {
    match net.v6()? {
        None => Err(NetError::invalid(
            format!("--ip6 {ip6}"),
            format!("network {} has no IPv6 (create it with --ipv6)", net.name),
        )),
        Some((s6, gw6)) if !s6.is_host(ip6) || ip6 == gw6 => Err(NetError::invalid(
            format!("--ip6 {ip6}"),
            format!(
                "not a free host address of network {} ({s6}, gateway {gw6})",
                net.name
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// Replaces the DNS names of the container's endpoint on a network (after a
/// rename), keeping its upstream servers.
pub fn set_dns_names(
    db: &Db,
    network_id: &str,
    container_id: &str,
    names: &[String],
) -> Result<()> {
    db.write(|tx| {
        let old: Option<String> = tx
            .query_row(
                "SELECT dns FROM network_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![network_id, container_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(old) = old {
            let mut col: DnsColumn = serde_json::from_str(&old).unwrap_or_default();
            col.names = names.to_vec();
            tx.execute(
                "UPDATE network_allocations SET dns = ?3 WHERE network_id = ?1 AND container_id = ?2",
                params![network_id, container_id, serde_json::to_string(&col).unwrap_or_default()],
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Releases every address the container holds (on any network).
pub fn release(db: &Db, container_id: &str) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            "DELETE FROM network_allocations WHERE container_id = ?1",
            [container_id],
        )?;
        Ok(())
    })?;
    Ok(())
}

/// Releases the container's address on one network.
pub fn release_one(db: &Db, network_id: &str, container_id: &str) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            "DELETE FROM network_allocations WHERE network_id = ?1 AND container_id = ?2",
            [network_id, container_id],
        )?;
        Ok(())
    })?;
    Ok(())
}

const ALLOC_COLUMNS: &str = "network_id, container_id, ip, mac, ifname, dns, ip6";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Allocation> {
    let dns: DnsColumn = serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default();
    Ok(Allocation {
        network_id: r.get(0)?,
        container_id: r.get(1)?,
        ip: r
            .get::<_, String>(2)?
            .parse()
            .unwrap_or(Ipv4Addr::UNSPECIFIED),
        ip6: r.get::<_, Option<String>>(6)?.and_then(|s| s.parse().ok()),
        mac: r.get(3)?,
        ifname: r.get(4)?,
        dns_names: dns.names,
        dns_servers: dns.servers,
    })
}

/// The number in `ethN`, for ordering a container's interfaces.
pub fn if_index(ifname: &str) -> u32 {
    ifname
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(u32::MAX)
}

pub fn allocations(db: &Db, network_id: &str) -> Result<Vec<Allocation>> {
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {ALLOC_COLUMNS} FROM network_allocations \
         WHERE network_id = ?1 ORDER BY container_id"
    ))?;
    let rows = stmt
        .query_map([network_id], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The container's allocations, in interface order (`eth0` first).
pub fn of_container(db: &Db, container_id: &str) -> Result<Vec<Allocation>> {
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {ALLOC_COLUMNS} FROM network_allocations WHERE container_id = ?1"
    ))?;
    let mut rows = stmt
        .query_map([container_id], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.sort_by_key(|a| if_index(&a.ifname));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{self, NewNetwork};

    fn req(ip: Ipv4Addr) -> Request {
        Request {
            ip: Some(ip),
            ..Default::default()
        }
    }

    fn db() -> (tempfile::TempDir, Db) {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&d.path().join("db.sqlite")).unwrap();
        (d, db)
    }

    fn net(db: &Db, subnet: &str) -> Network {
        records::create(
            db,
            NewNetwork {
                name: format!("n{}", subnet.replace(['.', '/'], "-")),
                subnet: Some(subnet.into()),
                ..Default::default()
            },
            &[],
        )
        .unwrap()
    }

    #[test]
    fn subnet_math() {
        let s = Subnet::parse("10.199.3.0/24").unwrap();
        assert_eq!(s.first_host(), Ipv4Addr::new(10, 199, 3, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 199, 3, 255));
        assert!(s.is_host(Ipv4Addr::new(10, 199, 3, 7)));
        assert!(!s.is_host(Ipv4Addr::new(10, 199, 3, 255)));
        assert!(!s.contains(Ipv4Addr::new(10, 199, 4, 1)));
        assert!(Subnet::parse("10.199.3.1/24").is_err());
        assert!(Subnet::parse("10.199.3.0/31").is_err());
        assert!(Subnet::parse("10.199.0.0/16")
            .unwrap()
            .overlaps(&Subnet::parse("10.199.3.0/24").unwrap()));
        assert!(!Subnet::parse("10.199.4.0/24")
            .unwrap()
            .overlaps(&Subnet::parse("10.199.3.0/24").unwrap()));
    }

    #[test]
    fn allocates_lowest_free_after_gateway_and_keeps_it() {
        let (_d, db) = db();
        let n = net(&db, "10.199.5.0/24");
        assert_eq!(n.gateway, "10.199.5.1");
        let a = allocate(&db, &n, "c1", &Request::default()).unwrap();
        assert_eq!(a.ip, Ipv4Addr::new(10, 199, 5, 2));
        assert_eq!(a.mac, "02:42:0a:c7:05:02");
        let b = allocate(&db, &n, "c2", &Request::default()).unwrap();
        assert_eq!(b.ip, Ipv4Addr::new(10, 199, 5, 3));
        // Asking again (a restart) returns the same address.
        assert_eq!(
            allocate(&db, &n, "c1", &Request::default()).unwrap().ip,
            a.ip
        );
        assert_eq!(allocations(&db, &n.id).unwrap().len(), 2);
    }

    #[test]
    fn exhaustion_and_release() {
        let (_d, db) = db();
        // A /30 has two hosts: the gateway and one container.
        let n = net(&db, "10.199.6.0/30");
        allocate(&db, &n, "c1", &Request::default()).unwrap();
        assert!(matches!(
            allocate(&db, &n, "c2", &Request::default()),
            Err(NetError::Exhausted { .. })
        ));
        release(&db, "c1").unwrap();
        assert_eq!(
            allocate(&db, &n, "c2", &Request::default()).unwrap().ip,
            Ipv4Addr::new(10, 199, 6, 2)
        );
        assert!(of_container(&db, "c1").unwrap().is_empty());
    }

    #[test]
    fn ip_range_limits_automatic_addresses_and_macs_are_checked() {
        let (_d, db) = db();
        let n = records::create(
            &db,
            NewNetwork {
                name: "ranged".into(),
                subnet: Some("10.199.8.0/24".into()),
                ip_range: Some("10.199.8.128/30".into()),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        let got: Vec<Ipv4Addr> = ["c1", "c2", "c3", "c4"]
            .iter()
            .map(|c| allocate(&db, &n, c, &Request::default()).unwrap().ip)
            .collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 199, 8, 128));
        assert_eq!(got[3], Ipv4Addr::new(10, 199, 8, 131));
        assert!(matches!(
            allocate(&db, &n, "c5", &Request::default()),
            Err(NetError::Exhausted { .. })
        ));
        // --ip may still name any free address of the subnet.
        let outside = Ipv4Addr::new(10, 199, 8, 9);
        assert_eq!(allocate(&db, &n, "c6", &req(outside)).unwrap().ip, outside);
        let bad = NewNetwork {
            name: "r2".into(),
            subnet: Some("10.199.9.0/24".into()),
            ip_range: Some("10.199.10.0/28".into()),
            ..Default::default()
        };
        assert!(records::create(&db, bad, &[]).is_err());

        assert_eq!(check_mac("02-42-AC-11-00-09").unwrap(), "02:42:ac:11:00:09");
        assert!(check_mac("01:00:5e:00:00:01").is_err(), "multicast");
        assert!(check_mac("02:42:ac:11:00").is_err());
        assert!(check_mac("zz:42:ac:11:00:01").is_err());
        let m = Request {
            ip: Some(Ipv4Addr::new(10, 199, 8, 77)),
            mac: Some("02:00:00:00:00:07".into()),
            ifname: "eth1".into(),
            dns_names: vec!["web".into()],
            ..Default::default()
        };
        let a = allocate(&db, &n, "c7", &m).unwrap();
        assert_eq!(a.mac, "02:00:00:00:00:07");
        let rows = of_container(&db, "c7").unwrap();
        assert_eq!(rows[0].ifname, "eth1");
        assert_eq!(rows[0].dns_names, vec!["web".to_string()]);
        release_one(&db, &n.id, "c7").unwrap();
        assert!(of_container(&db, "c7").unwrap().is_empty());
    }

    #[test]
    fn requested_addresses() {
        let (_d, db) = db();
        let n = net(&db, "10.199.7.0/24");
        let ip = Ipv4Addr::new(10, 199, 7, 50);
        assert_eq!(allocate(&db, &n, "c1", &req(ip)).unwrap().ip, ip);
        assert!(matches!(
            allocate(&db, &n, "c2", &req(ip)),
            Err(NetError::AddressInUse { .. })
        ));
        // Outside the subnet, the gateway, the broadcast address: refused.
        for bad in [
            Ipv4Addr::new(10, 199, 8, 5),
            Ipv4Addr::new(10, 199, 7, 1),
            Ipv4Addr::new(10, 199, 7, 255),
        ] {
            assert!(matches!(
                allocate(&db, &n, "c3", &req(bad)),
                Err(NetError::Invalid { .. })
            ));
        }
        // The automatic pick skips the taken one.
        assert_eq!(
            allocate(&db, &n, "c4", &Request::default()).unwrap().ip,
            Ipv4Addr::new(10, 199, 7, 2)
        );
    }

    #[test]
    fn ipv6_addresses_beside_the_v4_ones() {
        let (_d, db) = db();
        let n = records::create(
            &db,
            NewNetwork {
                name: "v6".into(),
                subnet: Some("10.199.11.0/24".into()),
                ipv6: true,
                subnet6: Some("fd00:199:11::/64".into()),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        assert_eq!(n.gateway6, "fd00:199:11::1");
        let a = allocate(&db, &n, "c1", &Request::default()).unwrap();
        assert_eq!(a.ip6, Some("fd00:199:11::2".parse().unwrap()));
        let want: Ipv6Addr = "fd00:199:11::50".parse().unwrap();
        let b = Request {
            ip6: Some(want),
            ..Default::default()
        };
        assert_eq!(allocate(&db, &n, "c2", &b).unwrap().ip6, Some(want));
        assert!(matches!(
            allocate(&db, &n, "c3", &b),
            Err(NetError::AddressInUse { .. })
        ));
        // A restart keeps both; the next automatic one skips what is taken.
        assert_eq!(
            allocate(&db, &n, "c1", &Request::default()).unwrap().ip6,
            a.ip6
        );
        let c = allocate(&db, &n, "c4", &Request::default()).unwrap();
        assert_eq!(c.ip6, Some("fd00:199:11::3".parse().unwrap()));
        assert_eq!(of_container(&db, "c4").unwrap()[0].ip6, c.ip6);
        // The gateway, the subnet's own address, another subnet: refused.
        for bad in ["fd00:199:11::1", "fd00:199:11::", "fd00:199:12::5"] {
            let r = Request {
                ip6: Some(bad.parse().unwrap()),
                ..Default::default()
            };
            assert!(allocate(&db, &n, "c5", &r).is_err(), "{bad}");
        }
        // A v4-only network has none, and refuses --ip6.
        let v4 = net(&db, "10.199.12.0/24");
        assert_eq!(
            allocate(&db, &v4, "c6", &Request::default()).unwrap().ip6,
            None
        );
        let r = Request {
            ip6: Some(want),
            ..Default::default()
        };
        assert!(allocate(&db, &v4, "c7", &r).is_err());
        // Without a v6 subnet, a unique local /64 from the network's id.
        let auto = records::create(
            &db,
            NewNetwork {
                name: "auto6".into(),
                ipv6: true,
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        let (s6, gw6) = auto.v6().unwrap().unwrap();
        assert_eq!((s6.addr.octets()[0], s6.prefix), (0xfd, 64));
        assert_eq!(gw6, s6.first_host());
        // A v6 subnet without --ipv6, or one overlapping another network's: refused.
        let no_flag = NewNetwork {
            name: "x".into(),
            subnet6: Some("fd00:5::/64".into()),
            ..Default::default()
        };
        assert!(records::create(&db, no_flag, &[]).is_err());
        let overlap = NewNetwork {
            name: "y".into(),
            ipv6: true,
            subnet6: Some("fd00:199::/32".into()),
            ..Default::default()
        };
        assert!(records::create(&db, overlap, &[]).is_err());
    }
}
