//! Network rows in the store's database (`networks`), and the choice of a subnet for
//! networks created without one.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use berth_store::Db;
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{NetError, Result};
use crate::ipam::Subnet;
use crate::subnet6::{self, Subnet6};

/// Docker's MTU option for bridge networks.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";
pub const DEFAULT_MTU: u32 = 1500;
/// The default network's name and bridge, as `docker0` is Docker's.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "berth0";

#[derive(Debug, Clone, Serialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub subnet: String,
    pub gateway: String,
    /// The host's bridge device for this network.
    pub bridge: String,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub created: String,
    /// `--ip-range`: automatic addresses come from this part of the subnet only
    /// (empty: the whole subnet).
    pub ip_range: String,
    /// `--ipv6`: the IPv6 subnet and gateway (both empty: an IPv4-only network).
    pub subnet6: String,
    pub gateway6: String,
}

impl Network {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    pub fn mtu(&self) -> u32 {
        self.options
            .get(MTU_OPTION)
            .and_then(|m| m.parse().ok())
            .unwrap_or(DEFAULT_MTU)
    }

    pub fn subnet(&self) -> Result<Subnet> {
        Subnet::parse(&self.subnet)
    }

    /// Where automatic addresses come from: `--ip-range`, else the subnet.
    pub fn pool(&self) -> Result<Subnet> {
        if self.ip_range.is_empty() {
            self.subnet()
        } else {
            Subnet::parse_range(&self.ip_range)
        }
    }

    /// Whether containers on it get the embedded DNS server: every network but the
    /// default one, as in Docker.
    pub fn has_dns(&self) -> bool {
        self.name != DEFAULT_NETWORK
    }

    pub fn gateway(&self) -> Result<Ipv4Addr> {
        self.gateway
            .parse()
            .map_err(|_| NetError::invalid("gateway", self.gateway.clone()))
    }

    /// Whether it was created with `--ipv6`.
    pub fn ipv6(&self) -> bool {
        !self.subnet6.is_empty()
    }

    /// The IPv6 subnet and gateway of an `--ipv6` network.
    pub fn v6(&self) -> Result<Option<(Subnet6, Ipv6Addr)>> {
        if !self.ipv6() {
            return Ok(None);
        }
        let gw = self
            .gateway6
            .parse()
            .map_err(|_| NetError::invalid("IPv6 gateway", self.gateway6.clone()))?;
        Ok(Some((Subnet6::parse(&self.subnet6)?, gw)))
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    /// `--ipv6`, with an optional v6 `--subnet` and `--gateway`.
    pub ipv6: bool,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

const COLUMNS: &str = "id, name, driver, subnet, gateway, bridge, internal, labels, options, \
                       created, ip_range, subnet6, gateway6";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Network> {
    let map = |s: String| serde_json::from_str(&s).unwrap_or_default();
    Ok(Network {
        id: r.get(0)?,
        name: r.get(1)?,
        driver: r.get(2)?,
        subnet: r.get(3)?,
        gateway: r.get(4)?,
        bridge: r.get(5)?,
        internal: r.get(6)?,
        labels: map(r.get(7)?),
        options: map(r.get(8)?),
        created: r.get(9)?,
        ip_range: r.get(10)?,
        subnet6: r.get(11)?,
        gateway6: r.get(12)?,
    })
}

fn new_id() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| NetError::io("reading /dev/urandom", e))?;
    Ok(hex::encode(b))
}

fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // RFC 3339 in UTC, computed by hand: the civil-from-days algorithm (H. Hinnant).
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// The host's IPv4 routes (from /proc/net/route), which an automatically chosen
/// subnet must not shadow.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // The kernel prints the network-order address as a native integer.
        let prefix = mask.count_ones() as u8;
        if prefix == 0 {
            continue; // the default route overlaps everything and shadows nothing
        }
        out.push(Subnet {
            addr: Ipv4Addr::from(dst.to_ne_bytes()),
            prefix,
        });
    }
    out
}

fn is_default_store(db: &Db) -> bool {
    db.path().parent() == Some(berth_store::default_root().as_path())
}

/// Candidates for networks created without `--subnet`: /16s of 172.18–29, with the
/// default network's own four first for it.
fn candidates(default: bool) -> Vec<Subnet> {
    let first: &[u8] = if default { &[30, 31, 29, 28] } else { &[] };
    first
        .iter()
        .copied()
        .chain(18u8..=29)
        .map(|b| Subnet {
            addr: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .collect()
}

pub fn list(db: &Db) -> Result<Vec<Network>> {
    let mut stmt = db
        .conn()
        .prepare(&format!("SELECT {COLUMNS} FROM networks ORDER BY name"))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// By exact name, full id or unique id prefix, as Docker looks networks up.
pub fn find(db: &Db, key: &str) -> Result<Network> {
    let conn = db.conn();
    let q = format!("SELECT {COLUMNS} FROM networks WHERE name = ?1 OR id = ?1");
    if let Some(n) = conn.query_row(&q, [key], from_row).optional()? {
        return Ok(n);
    }
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_hexdigit()) {
        let all = list(db)?;
        let key = key.to_ascii_lowercase();
        let mut hits = all.into_iter().filter(|n| n.id.starts_with(&key));
        if let (Some(n), None) = (hits.next(), hits.next()) {
            return Ok(n);
        }
    }
    Err(NetError::NotFound(key.to_string()))
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok || matches!(name, "none" | "host") {
        return Err(NetError::invalid(
            format!("network name {name:?}"),
            "use [a-zA-Z0-9][a-zA-Z0-9_.-]*, other than none and host",
        ));
    }
    Ok(())
}

/// Inserts a network row: checks the name, the driver and the options, picks or checks
/// the subnet (never overlapping another berth network) and the gateway. `routes` are
/// the host's routes (see [`host_routes`]), which an automatic subnet avoids.
pub fn create(db: &Db, req: NewNetwork, routes: &[Subnet]) -> Result<Network> {
    check_name(&req.name)?;
    let driver = if req.driver.is_empty() {
        "bridge".to_string()
    } else {
        req.driver.clone()
    };
    if driver != "bridge" {
        return Err(NetError::invalid(
            format!("driver {driver:?}"),
            "berth supports the bridge driver",
        ));
    }
    for (k, v) in &req.options {
        match k.as_str() {
            MTU_OPTION => {
                if !v.parse::<u32>().is_ok_and(|m| (68..=65535).contains(&m)) {
                    return Err(NetError::invalid(
                        format!("option {k}={v}"),
                        "the MTU must be a number from 68 to 65535",
                    ));
                }
            }
            _ => {
                return Err(NetError::invalid(
                    format!("option {k:?}"),
                    format!("berth's bridge driver takes {MTU_OPTION}"),
                ))
            }
        }
    }
    if req.gateway.is_some() && req.subnet.is_none() {
        return Err(NetError::invalid("--gateway", "it needs --subnet"));
    }
    if req.ip_range.is_some() && req.subnet.is_none() {
        return Err(NetError::invalid("--ip-range", "it needs --subnet"));
    }
    if (req.subnet6.is_some() || req.gateway6.is_some()) && !req.ipv6 {
        return Err(NetError::invalid(
            "IPv6 --subnet/--gateway",
            "they need --ipv6",
        ));
    }
    if req.gateway6.is_some() && req.subnet6.is_none() {
        return Err(NetError::invalid(
            "IPv6 --gateway",
            "it needs an IPv6 --subnet",
        ));
    }
    let id = new_id()?;
    let default = req.name == DEFAULT_NETWORK;
    // `berth0` belongs to the default store; the default network of any other store
    // (tests, a second root) gets a bridge of its own so the two never share one.
    let bridge = if default && is_default_store(db) {
        DEFAULT_BRIDGE.to_string()
    } else {
        format!("br-{}", &id[..12])
    };
    let labels = serde_json::to_string(&req.labels).unwrap_or_default();
    let options = serde_json::to_string(&req.options).unwrap_or_default();
    let created = now();
    // An automatic v6 subnet must not shadow a route of the host's either.
    let routes6 = if req.ipv6 && req.subnet6.is_none() {
        subnet6::host_routes6()
    } else {
        Vec::new()
    };
    let outcome = db.write(|tx| {
        // Inside the write transaction: two concurrent creates cannot both take the
        // same free subnet.
        let mut stmt = tx.prepare("SELECT subnet, subnet6 FROM networks")?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        let taken: Vec<Subnet> = rows
            .iter()
            .filter_map(|(s, _)| Subnet::parse(s).ok())
            .collect();
        let taken6: Vec<Subnet6> = rows
            .iter()
            .filter_map(|(_, s)| Subnet6::parse(s).ok())
            .collect();
        let picked = pick(&req, default, &taken, routes)
            .and_then(|p| Ok((p, pick6(&req, &id, &taken6, &routes6)?)));
        let ((subnet, gateway, ip_range), (subnet6, gateway6)) = match picked {
            Ok(p) => p,
            // Nothing written yet: committing the empty transaction is harmless.
            Err(e) => return Ok(Err(e)),
        };
        let inserted = tx.execute(
            &format!(
                "INSERT INTO networks ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            params![
                id,
                req.name,
                driver,
                subnet.to_string(),
                gateway.to_string(),
                bridge,
                req.internal,
                labels,
                options,
                created,
                ip_range,
                subnet6,
                gateway6
            ],
        );
        match inserted {
            Ok(_) => Ok(Ok(())),
            Err(e) if is_unique_violation(&e) => Ok(Err(NetError::NameInUse(req.name.clone()))),
            Err(e) => Err(e.into()),
        }
    });
    outcome??;
    find(db, &id)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// The subnet (given, or the first free candidate), the gateway and the address range
/// of a new network.
fn pick(
    req: &NewNetwork,
    default: bool,
    taken: &[Subnet],
    routes: &[Subnet],
) -> Result<(Subnet, Ipv4Addr, String)> {
    let subnet = match &req.subnet {
        Some(s) => {
            let s = Subnet::parse(s)?;
            if let Some(t) = taken.iter().find(|t| t.overlaps(&s)) {
                return Err(NetError::invalid(
                    format!("subnet {s}"),
                    format!("it overlaps {t}, the subnet of another network"),
                ));
            }
            s
        }
        None => candidates(default)
            .into_iter()
            .find(|c| !taken.iter().chain(routes).any(|t| t.overlaps(c)))
            .ok_or_else(|| {
                NetError::invalid(
                    "subnet",
                    "every automatic subnet is in use or routed on the host; pass --subnet",
                )
            })?,
    };
    let gateway = match &req.gateway {
        Some(g) => {
            let ip: Ipv4Addr = g
                .parse()
                .map_err(|_| NetError::invalid(format!("--gateway {g}"), "not an IPv4 address"))?;
            if !subnet.is_host(ip) {
                return Err(NetError::invalid(
                    format!("--gateway {g}"),
                    format!("not a host address of {subnet}"),
                ));
            }
            ip
        }
        None => subnet.first_host(),
    };
    let range = match &req.ip_range {
        Some(r) => {
            let range = Subnet::parse_range(r)?;
            let inside = subnet.contains(range.network()) && range.prefix >= subnet.prefix;
            if !inside {
                return Err(NetError::invalid(
                    format!("--ip-range {r}"),
                    format!("it is not inside the subnet {subnet}"),
                ));
            }
            range.to_string()
        }
        None => String::new(),
    };
    Ok((subnet, gateway, range))
}

/// The IPv6 subnet (given, or the first free unique local /64 of the network's id)
/// and gateway of an `--ipv6` network; empty strings for an IPv4-only one.
fn pick6(
    req: &NewNetwork,
    id: &str,
    taken: &[Subnet6],
    routes: &[Subnet6],
) -> Result<(String, String)> {
    if !req.ipv6 {
        return Ok((String::new(), String::new()));
    }
    let subnet = match &req.subnet6 {
        Some(s) => {
            let s = Subnet6::parse(s)?;
            if let Some(t) = taken.iter().find(|t| t.overlaps(&s)) {
                return Err(NetError::invalid(
                    format!("subnet {s}"),
                    format!("it overlaps {t}, the IPv6 subnet of another network"),
                ));
            }
            s
        }
        None => subnet6::ula_candidates(id)
            .into_iter()
            .find(|c| !taken.iter().chain(routes).any(|t| t.overlaps(c)))
            .ok_or_else(|| {
                NetError::invalid(
                    "IPv6 subnet",
                    "no free unique local /64 was found; pass an IPv6 --subnet",
                )
            })?,
    };
    let gateway = match &req.gateway6 {
        Some(g) => {
            let ip: Ipv6Addr = g
                .parse()
                .map_err(|_| NetError::invalid(format!("--gateway {g}"), "not an IPv6 address"))?;
            if !subnet.is_host(ip) {
                return Err(NetError::invalid(
                    format!("--gateway {g}"),
                    format!("not a host address of {subnet}"),
                ));
            }
            ip
        }
        None => subnet.first_host(),
    };
    Ok((subnet.to_string(), gateway.to_string()))
}

/// Deletes the row; the caller has checked that no container holds an address on it
/// and removed its bridge.
pub fn delete(db: &Db, id: &str) -> Result<()> {
    db.write(|tx| {
        tx.execute("DELETE FROM networks WHERE id = ?1", [id])?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_subnets_and_options() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&d.path().join("db.sqlite")).unwrap();
        let n = create(
            &db,
            NewNetwork {
                name: "a".into(),
                subnet: Some("10.199.9.0/24".into()),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        assert_eq!(n.bridge, format!("br-{}", &n.id[..12]));
        assert_eq!(n.mtu(), DEFAULT_MTU);
        assert_eq!(find(&db, &n.id[..6]).unwrap().name, "a");
        let again = NewNetwork {
            name: "a".into(),
            subnet: Some("10.199.10.0/24".into()),
            ..Default::default()
        };
        assert!(matches!(
            create(&db, again, &[]),
            Err(NetError::NameInUse(_))
        ));
        let overlap = NewNetwork {
            name: "b".into(),
            subnet: Some("10.199.0.0/16".into()),
            ..Default::default()
        };
        assert!(create(&db, overlap, &[]).is_err());
        let bad_mtu = NewNetwork {
            name: "c".into(),
            options: [(MTU_OPTION.to_string(), "9".to_string())].into(),
            ..Default::default()
        };
        assert!(create(&db, bad_mtu, &[]).is_err());
        // The default network avoids a subnet the host routes.
        let routes = [Subnet::parse("172.30.0.0/16").unwrap()];
        let def = NewNetwork {
            name: DEFAULT_NETWORK.into(),
            ..Default::default()
        };
        let def = create(&db, def, &routes).unwrap();
        // Not the default store: the default network's bridge is its own.
        assert_eq!(def.subnet, "172.31.0.0/16");
        assert_eq!(def.bridge, format!("br-{}", &def.id[..12]));
        assert_eq!(def.gateway, "172.31.0.1");
        assert!(create(
            &db,
            NewNetwork {
                name: "host".into(),
                ..Default::default()
            },
            &[]
        )
        .is_err());
    }
}
