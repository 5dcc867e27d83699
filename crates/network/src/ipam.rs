//! IPv4 address management persisted in the store's database. Each allocation is a
//! row of `network_allocations`; `UNIQUE(network_id, ip)` makes two processes that
//! pick the same free address at once collide in SQLite instead of on the wire, and
//! every pick runs inside one `BEGIN IMMEDIATE` transaction so they rarely even try.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;

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
/// address of the network's pool (`--ip-range`, or the whole subnet). The row also
/// records the interface and the DNS names, refreshed on every call.
pub fn allocate(db: &Db, net: &Network, container_id: &str, req: &Request) -> Result<Allocation> {
    let subnet = Subnet::parse(&net.subnet)?;
    let pool = net.pool()?;
    let gateway: Ipv4Addr = net
        .gateway
        .parse()
        .map_err(|_| NetError::invalid("gateway", net.gateway.clone()))?;
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
    let names = serde_json::to_string(&DnsColumn {
        names: req.dns_names.clone(),
        servers: req.dns_servers.clone(),
    })
    .unwrap_or_default();
    let outcome = db.write(|tx| {
        let held: Option<String> = tx
            .query_row(
                "SELECT ip FROM network_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![net.id, container_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(ip) = held {
            tx.execute(
                "DELETE FROM network_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![net.id, container_id],
            )?;
            let ip: Ipv4Addr = ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
            if requested.is_none_or(|r| r == ip) {
                let mac = req.mac.clone().unwrap_or_else(|| mac_for(ip));
                tx.execute(
                    "INSERT INTO network_allocations \
                     (network_id, container_id, ip, mac, ifname, dns) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![net.id, container_id, ip.to_string(), mac, req.ifname, names],
                )?;
                return Ok(Ok(ip));
            }
        }
        let ip = match requested {
            Some(ip) => ip,
            None => {
                let mut stmt =
                    tx.prepare("SELECT ip FROM network_allocations WHERE network_id = ?1")?;
                let used: HashSet<Ipv4Addr> = stmt
                    .query_map([&net.id], |r| r.get::<_, String>(0))?
                    .filter_map(|r| r.ok()?.parse().ok())
                    .collect();
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
        let mac = req.mac.clone().unwrap_or_else(|| mac_for(ip));
        tx.execute(
            "INSERT INTO network_allocations \
             (network_id, container_id, ip, mac, ifname, dns) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![net.id, container_id, ip.to_string(), mac, req.ifname, names],
        )?;
        Ok(Ok(ip))
    });
    match outcome {
        Ok(Ok(ip)) => Ok(Allocation {
            network_id: net.id.clone(),
            container_id: container_id.to_string(),
            ip,
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
                ip: requested.map(|i| i.to_string()).unwrap_or_default(),
                network: net.name.clone(),
            })
        }
        Err(e) => Err(e.into()),
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

const ALLOC_COLUMNS: &str = "network_id, container_id, ip, mac, ifname, dns";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Allocation> {
    let dns: DnsColumn = serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default();
    Ok(Allocation {
        network_id: r.get(0)?,
        container_id: r.get(1)?,
        ip: r
            .get::<_, String>(2)?
            .parse()
            .unwrap_or(Ipv4Addr::UNSPECIFIED),
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
}
