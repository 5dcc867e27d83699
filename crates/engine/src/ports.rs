//! Published ports at start: the container's `-p`/`-P` bindings resolved to concrete
//! host ports (a free one where none was given, the first free one of a range),
//! checked against the ports other berth containers publish and against the host's
//! own sockets, handed to the network crate's DNAT rules, and recorded in the run
//! directory (`ports.json`, in the shape of Docker's `NetworkSettings.Ports`) for
//! `port`, `ps` and `inspect`. Everything here lives as long as the run.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use berth_monitor::config::{HoldConfig, ProxyConfig};
use berth_network::ports::Forward;
use berth_network::Endpoint;
use rustix::fs::{flock, FlockOperation};

use crate::engine::Engine;
use crate::error::{EngineError, IoContext, Result};
use crate::model::{PortBinding, Settings};
use crate::records::Container;

/// Docker's `NetworkSettings.Ports`: `80/tcp` to the host addresses it is on.
pub type PortMap = BTreeMap<String, Vec<PortBinding>>;

const PORTS_FILE: &str = "ports.json";

/// Whether the container asks for any published port.
pub fn wants_ports(s: &Settings) -> bool {
    !s.host_config.port_bindings.is_empty()
        || (s.host_config.publish_all_ports
            && s.config
                .exposed_ports
                .as_ref()
                .is_some_and(|p| !p.is_empty()))
}

/// The bindings to resolve: `-p`'s, and with `-P` every exposed port not already
/// bound, on a free port.
fn requested(s: &Settings) -> PortMap {
    let mut m = s.host_config.port_bindings.clone();
    if s.host_config.publish_all_ports {
        for k in s.config.exposed_ports.iter().flat_map(|p| p.keys()) {
            m.entry(k.clone())
                .or_insert_with(|| vec![PortBinding::default()]);
        }
    }
    let default_ip = &s.host_config.publish_address;
    for b in m.values_mut().flatten() {
        if b.host_ip.is_empty() {
            b.host_ip.clone_from(default_ip);
        }
    }
    m
}

fn split_key(key: &str) -> Result<(u16, String)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port = port
        .parse()
        .map_err(|_| EngineError::invalid(format!("port {key:?}"), "not a port number"))?;
    Ok((port, proto.to_string()))
}

/// A published port already taken (by berth): same protocol and port, and the same
/// address or either on every address of the family (`0.0.0.0` and `::` are two
/// DNAT rules in two tables, which never meet).
fn clashes(taken: &[(IpAddr, u16, String)], ip: IpAddr, port: u16, proto: &str) -> bool {
    taken.iter().any(|(i, p, pr)| {
        *p == port
            && pr == proto
            && i.is_ipv4() == ip.is_ipv4()
            && (*i == ip || i.is_unspecified() || ip.is_unspecified())
    })
}

/// How a host address is written beside a port: `[::]` for IPv6, as Docker does.
pub fn host_addr(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// Whether a host socket holds the port (a listening TCP socket or a bound UDP one).
fn host_free(ip: IpAddr, port: u16, proto: &str) -> bool {
    match proto {
        "tcp" => TcpListener::bind((ip, port)).is_ok(),
        "udp" => UdpSocket::bind((ip, port)).is_ok(),
        _ => true,
    }
}

/// A port the kernel considers free on `ip`, from its ephemeral range.
fn kernel_pick(ip: IpAddr, proto: &str) -> Option<u16> {
    match proto {
        "udp" => UdpSocket::bind((ip, 0))
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
        _ => TcpListener::bind((ip, 0))
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
    }
}

fn in_use(ip: IpAddr, port: u16, proto: &str, why: &str) -> EngineError {
    EngineError::invalid(
        format!("publishing {}:{port}/{proto}", host_addr(&ip.to_string())),
        format!("{why}; pick another host port or stop what holds it"),
    )
}

fn choose(
    b: &PortBinding,
    proto: &str,
    default_ip: IpAddr,
    taken: &[(IpAddr, u16, String)],
) -> Result<(IpAddr, u16)> {
    let ip = match b.host_ip.as_str() {
        "" => default_ip,
        s => s.parse().map_err(|_| {
            EngineError::invalid(format!("host address {s:?}"), "not an IP address")
        })?,
    };
    let usable = |p: u16| !clashes(taken, ip, p, proto) && host_free(ip, p, proto);
    match b.host_port.split_once('-') {
        _ if b.host_port.is_empty() => {
            for _ in 0..64 {
                match kernel_pick(ip, proto) {
                    Some(p) if !clashes(taken, ip, p, proto) => return Ok((ip, p)),
                    Some(_) => continue,
                    None => break,
                }
            }
            Err(in_use(ip, 0, proto, "no free host port was found"))
        }
        Some((a, z)) => {
            let (a, z): (u16, u16) = (
                a.parse().map_err(|_| {
                    EngineError::invalid(format!("host port {:?}", b.host_port), "not a range")
                })?,
                z.parse().map_err(|_| {
                    EngineError::invalid(format!("host port {:?}", b.host_port), "not a range")
                })?,
            );
            (a..=z)
                .find(|p| usable(*p))
                .map(|p| (ip, p))
                .ok_or_else(|| in_use(ip, a, proto, &format!("every port of {a}-{z} is taken")))
        }
        None => {
            let p: u16 = b.host_port.parse().map_err(|_| {
                EngineError::invalid(format!("host port {:?}", b.host_port), "not a port number")
            })?;
            if clashes(taken, ip, p, proto) {
                return Err(in_use(ip, p, proto, "another berth container publishes it"));
            }
            if !host_free(ip, p, proto) {
                return Err(in_use(ip, p, proto, "a host process is bound to it"));
            }
            Ok((ip, p))
        }
    }
}

fn read_map(path: &Path) -> PortMap {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

impl Engine {
    fn ports_path(&self, id: &str) -> std::path::PathBuf {
        self.layout().run_dir(id).join(PORTS_FILE)
    }

    /// The ports the running container publishes (empty when it is not running).
    pub fn published_ports(&self, c: &Container) -> PortMap {
        if !c.state.status.is_active() {
            return PortMap::new();
        }
        read_map(&self.ports_path(&c.id))
    }

    /// Every published port of the store's other containers.
    fn taken_ports(&self, except: &str) -> Vec<(IpAddr, u16, String)> {
        let dir = self.layout().run_root.join("containers");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name().to_str() == Some(except) {
                continue;
            }
            for (key, bindings) in read_map(&e.path().join(PORTS_FILE)) {
                let Ok((_, proto)) = split_key(&key) else {
                    continue;
                };
                for b in bindings {
                    if let (Ok(ip), Ok(p)) = (b.host_ip.parse(), b.host_port.parse()) {
                        out.push((ip, p, proto.clone()));
                    }
                }
            }
        }
        out
    }

    /// Resolves and publishes the container's ports to its address on `ep` (its
    /// first network); the run directory must exist. A binding without a host
    /// address is published on `0.0.0.0` and, when the network has IPv6, on `::` with
    /// the same port, as Docker does. Serialised across processes by a lock in the
    /// run root, so two starts cannot take the same port.
    ///
    /// `[::1]` bindings cannot be DNATed (the kernel drops what a DNAT sends from
    /// IPv6 loopback out of a bridge): they are returned as userland relays to the
    /// container's IPv4 address, for the monitor to serve, as Docker's proxy does.
    /// Every DNATed host port is returned too, for the monitor to hold.
    pub(crate) fn publish(
        &self,
        c: &Container,
        ep: &Endpoint,
    ) -> Result<(Vec<ProxyConfig>, Vec<HoldConfig>)> {
        let (ip, ip6) = (ep.ip, ep.v6.map(|v| v.ip));
        let wanted = requested(&c.settings);
        if wanted.is_empty() {
            return Ok(Default::default());
        }
        let lock_path = self.layout().run_root.join("ports.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx(|| format!("opening {}", lock_path.display()))?;
        flock(&lock, FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)
            .ctx(|| format!("locking {}", lock_path.display()))?;
        let mut taken = self.taken_ports(&c.id);
        let mut map = PortMap::new();
        let mut forwards = Vec::new();
        for (key, bindings) in &wanted {
            let (cport, proto) = split_key(key)?;
            for b in bindings {
                let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
                let (hip, hport) = choose(b, &proto, any4, &taken)?;
                let mut on = vec![hip];
                if b.host_ip.is_empty() && ip6.is_some() {
                    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
                    let same = PortBinding {
                        host_ip: String::new(),
                        host_port: hport.to_string(),
                    };
                    on.push(choose(&same, &proto, any6, &taken)?.0);
                }
                for hip in on {
                    let container_ip = match hip {
                        IpAddr::V4(_) => IpAddr::V4(ip),
                        // Relayed by the monitor, to the IPv4 address.
                        IpAddr::V6(h) if h.is_loopback() => IpAddr::V4(ip),
                        IpAddr::V6(h) => match ip6 {
                            Some(i6) => IpAddr::V6(i6),
                            None => {
                                return Err(EngineError::invalid(
                                    format!("publishing [{h}]:{hport}/{proto}"),
                                    format!(
                                        "network {} has no IPv6 (create it with --ipv6) or \
                                         publish on an IPv4 address",
                                        ep.network.name
                                    ),
                                ))
                            }
                        },
                    };
                    taken.push((hip, hport, proto.clone()));
                    map.entry(key.clone()).or_default().push(PortBinding {
                        host_ip: hip.to_string(),
                        host_port: hport.to_string(),
                    });
                    forwards.push(Forward {
                        host_ip: (!hip.is_unspecified()).then_some(hip),
                        host_port: hport,
                        proto: proto.clone(),
                        container_ip,
                        container_port: cport,
                    });
                }
            }
        }
        // Recorded before the rules go in, so a failure half way is still cleaned up
        // by `unpublish`.
        let path = self.ports_path(&c.id);
        fs::write(&path, serde_json::to_vec(&map).unwrap_or_default())
            .ctx(|| format!("writing {}", path.display()))?;
        let (relayed, dnat): (Vec<Forward>, Vec<Forward>) = forwards
            .into_iter()
            .partition(|f| f.host_ip.is_some_and(|h| h.is_ipv6() && h.is_loopback()));
        berth_network::ports::publish(&c.id, &ep.network, &dnat)?;
        let holds = dnat
            .iter()
            .filter(|f| matches!(f.proto.as_str(), "tcp" | "udp"))
            .map(|f| HoldConfig {
                addr: SocketAddr::new(
                    f.host_ip.unwrap_or(match f.container_ip {
                        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                    }),
                    f.host_port,
                ),
                udp: f.proto == "udp",
            })
            .collect();
        let proxies = relayed
            .into_iter()
            .map(|f| ProxyConfig {
                listen: SocketAddr::new(
                    f.host_ip.unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                    f.host_port,
                ),
                target: SocketAddr::new(IpAddr::V4(ip), f.container_port),
            })
            .collect();
        Ok((proxies, holds))
    }

    /// Removes the container's published ports, if it had any. Safe to repeat.
    pub(crate) fn unpublish(&self, c: &Container) {
        let path = self.ports_path(&c.id);
        if !path.exists() && !wants_ports(&c.settings) {
            return;
        }
        // IPv6 chains exist only if it published on an IPv6 address (recorded before
        // the rules went in) or asked to.
        let v6 = read_map(&path)
            .values()
            .chain(c.settings.host_config.port_bindings.values())
            .flatten()
            .any(|b| b.host_ip.contains(':'));
        if let Err(e) = berth_network::ports::unpublish(&c.id, v6) {
            eprintln!(
                "berth: unpublishing the ports of container {}: {e}",
                c.short_id()
            );
        }
        let _ = fs::remove_file(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn clash_rules() {
        let any: IpAddr = Ipv4Addr::UNSPECIFIED.into();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let taken = vec![(lo, 8080, "tcp".to_string())];
        // The families' wildcards are separate rules.
        let any6: IpAddr = Ipv6Addr::UNSPECIFIED.into();
        assert!(!clashes(&taken, any6, 8080, "tcp"));
        assert!(clashes(
            &[(any6, 8080, "tcp".into())],
            "::1".parse().unwrap(),
            8080,
            "tcp"
        ));
        assert_eq!(host_addr("::"), "[::]");
        assert_eq!(host_addr("0.0.0.0"), "0.0.0.0");
        assert!(clashes(&taken, lo, 8080, "tcp"));
        assert!(clashes(&taken, any, 8080, "tcp"));
        assert!(!clashes(&taken, other, 8080, "tcp"));
        assert!(!clashes(&taken, lo, 8080, "udp"));
        assert!(!clashes(&taken, lo, 8081, "tcp"));
    }

    #[test]
    fn choose_fixed_range_and_free() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // A port a host socket holds is refused, and skipped in a range.
        let held = TcpListener::bind((lo, 0)).unwrap();
        let hp = held.local_addr().unwrap().port();
        let e = choose(&b("127.0.0.1", &hp.to_string()), "tcp", lo, &[]).unwrap_err();
        assert!(e.to_string().contains("host process"), "{e}");
        let taken = vec![(lo, hp + 1, "tcp".to_string())];
        if let Ok((_, p)) = choose(&b("", &format!("{hp}-{}", hp + 3)), "tcp", lo, &taken) {
            assert!(
                p > hp + 1,
                "{p} should skip {hp} (held) and {} (taken)",
                hp + 1
            );
        }
        let (ip, p) = choose(&b("", ""), "tcp", lo, &[]).unwrap();
        assert_eq!(ip, lo);
        assert!(p > 0);
        assert!(choose(&b("x", "1"), "tcp", lo, &[]).is_err());
    }

    #[test]
    fn publish_all_adds_exposed_ports() {
        let mut s = Settings::default();
        s.config.exposed_ports = Some(
            [
                ("80/tcp".to_string(), crate::model::Empty {}),
                ("53/udp".into(), crate::model::Empty {}),
            ]
            .into_iter()
            .collect(),
        );
        s.host_config
            .port_bindings
            .insert("80/tcp".into(), vec![b("", "8080")]);
        assert_eq!(requested(&s).len(), 1);
        s.host_config.publish_all_ports = true;
        let r = requested(&s);
        assert_eq!(r["80/tcp"], vec![b("", "8080")]);
        assert_eq!(r["53/udp"], vec![b("", "")]);
        assert!(wants_ports(&s));
    }
}
