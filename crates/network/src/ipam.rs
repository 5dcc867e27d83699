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

    fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
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
}

/// Docker's scheme: 02:42 and the four bytes of the address, so a MAC is unique
/// wherever the address is and needs no state of its own.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// The container's address on the network: the one it already holds (a restart keeps
/// it), else `requested` (`--ip`), else the lowest free host address.
pub fn allocate(
    db: &Db,
    net: &Network,
    container_id: &str,
    requested: Option<Ipv4Addr>,
) -> Result<Allocation> {
    let subnet = Subnet::parse(&net.subnet)?;
    let gateway: Ipv4Addr = net
        .gateway
        .parse()
        .map_err(|_| NetError::invalid("gateway", net.gateway.clone()))?;
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
    let outcome = db.write(|tx| {
        let held: Option<String> = tx
            .query_row(
                "SELECT ip FROM network_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![net.id, container_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(ip) = held {
            let ip: Ipv4Addr = ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
            if requested.is_none_or(|r| r == ip) {
                return Ok(Ok(ip));
            }
            tx.execute(
                "DELETE FROM network_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![net.id, container_id],
            )?;
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
                let first = u32::from(subnet.first_host());
                let last = u32::from(subnet.broadcast()) - 1;
                let free = (first..=last)
                    .map(Ipv4Addr::from)
                    .find(|ip| *ip != gateway && !used.contains(ip));
                match free {
                    Some(ip) => ip,
                    None => return Ok(Err(())),
                }
            }
        };
        tx.execute(
            "INSERT INTO network_allocations (network_id, container_id, ip, mac) \
             VALUES (?1, ?2, ?3, ?4)",
            params![net.id, container_id, ip.to_string(), mac_for(ip)],
        )?;
        Ok(Ok(ip))
    });
    match outcome {
        Ok(Ok(ip)) => Ok(Allocation {
            network_id: net.id.clone(),
            container_id: container_id.to_string(),
            ip,
            mac: mac_for(ip),
        }),
        Ok(Err(())) => Err(NetError::Exhausted {
            network: net.name.clone(),
            subnet: net.subnet.clone(),
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

pub fn allocations(db: &Db, network_id: &str) -> Result<Vec<Allocation>> {
    let mut stmt = db.conn().prepare(
        "SELECT network_id, container_id, ip, mac FROM network_allocations \
         WHERE network_id = ?1 ORDER BY container_id",
    )?;
    let rows = stmt
        .query_map([network_id], |r| {
            Ok(Allocation {
                network_id: r.get(0)?,
                container_id: r.get(1)?,
                ip: r
                    .get::<_, String>(2)?
                    .parse()
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                mac: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The container's allocation, on whichever network it has one.
pub fn of_container(db: &Db, container_id: &str) -> Result<Option<Allocation>> {
    let row = db
        .conn()
        .query_row(
            "SELECT network_id, container_id, ip, mac FROM network_allocations \
             WHERE container_id = ?1",
            [container_id],
            |r| {
                Ok(Allocation {
                    network_id: r.get(0)?,
                    container_id: r.get(1)?,
                    ip: r
                        .get::<_, String>(2)?
                        .parse()
                        .unwrap_or(Ipv4Addr::UNSPECIFIED),
                    mac: r.get(3)?,
                })
            },
        )
        .optional()?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{self, NewNetwork};

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
        let a = allocate(&db, &n, "c1", None).unwrap();
        assert_eq!(a.ip, Ipv4Addr::new(10, 199, 5, 2));
        assert_eq!(a.mac, "02:42:0a:c7:05:02");
        let b = allocate(&db, &n, "c2", None).unwrap();
        assert_eq!(b.ip, Ipv4Addr::new(10, 199, 5, 3));
        // Asking again (a restart) returns the same address.
        assert_eq!(allocate(&db, &n, "c1", None).unwrap().ip, a.ip);
        assert_eq!(allocations(&db, &n.id).unwrap().len(), 2);
    }

    #[test]
    fn exhaustion_and_release() {
        let (_d, db) = db();
        // A /30 has two hosts: the gateway and one container.
        let n = net(&db, "10.199.6.0/30");
        allocate(&db, &n, "c1", None).unwrap();
        assert!(matches!(
            allocate(&db, &n, "c2", None),
            Err(NetError::Exhausted { .. })
        ));
        release(&db, "c1").unwrap();
        assert_eq!(
            allocate(&db, &n, "c2", None).unwrap().ip,
            Ipv4Addr::new(10, 199, 6, 2)
        );
        assert!(of_container(&db, "c1").unwrap().is_none());
    }

    #[test]
    fn requested_addresses() {
        let (_d, db) = db();
        let n = net(&db, "10.199.7.0/24");
        let ip = Ipv4Addr::new(10, 199, 7, 50);
        assert_eq!(allocate(&db, &n, "c1", Some(ip)).unwrap().ip, ip);
        assert!(matches!(
            allocate(&db, &n, "c2", Some(ip)),
            Err(NetError::AddressInUse { .. })
        ));
        // Outside the subnet, the gateway, the broadcast address: refused.
        for bad in [
            Ipv4Addr::new(10, 199, 8, 5),
            Ipv4Addr::new(10, 199, 7, 1),
            Ipv4Addr::new(10, 199, 7, 255),
        ] {
            assert!(matches!(
                allocate(&db, &n, "c3", Some(bad)),
                Err(NetError::Invalid { .. })
            ));
        }
        // The automatic pick skips the taken one.
        assert_eq!(
            allocate(&db, &n, "c4", None).unwrap().ip,
            Ipv4Addr::new(10, 199, 7, 2)
        );
    }
}
