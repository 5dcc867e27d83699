//! What the embedded DNS answers, decided from the records alone (no I/O): a name
//! of a container on a network the asking container shares is answered here;
//! anything else goes to the upstream servers, or fails when there are none.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::wire::{self, Query, Rdata};
use super::zone::{Entry, Zone};

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A finished response.
    Reply(Vec<u8>),
    /// Ask these servers, in order, and relay the first reply (SERVFAIL if none).
    Forward(Vec<SocketAddr>),
}

/// Parses a nameserver as resolv.conf or `--dns` give it (an address, port 53), or
/// `ADDR:PORT` / `[V6]:PORT` (the test override).
pub fn server_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    s.parse().ok()
}

/// The nameservers of a resolv.conf, loopback ones included: the server runs in the
/// host's namespace, where 127.0.0.53 is the host's own resolver.
pub fn resolv_conf_servers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("nameserver"))
                .then(|| f.next().and_then(server_addr))
                .flatten()
        })
        .collect()
}

/// The networks whose names the asker sees, the one asked on first: every network
/// its container is on, the container known by its address (normally on the network
/// it asked on; after a live disconnect of that network its queries still reach the
/// old gateway, routed, from an address on another network). An asker we do not
/// know sees the network it asked on.
fn visible<'a>(
    zones: &'a [Zone],
    here: &'a Zone,
    src: Ipv4Addr,
) -> (Vec<&'a Zone>, Option<&'a Entry>) {
    let me = here.endpoints.iter().find(|e| e.ip == src).or_else(|| {
        zones
            .iter()
            .flat_map(|z| &z.endpoints)
            .find(|e| e.ip == src)
    });
    let Some(me) = me else {
        return (vec![here], None);
    };
    let mine = |z: &Zone| z.endpoints.iter().any(|e| e.container == me.container);
    let mut out: Vec<&Zone> = Vec::new();
    if mine(here) {
        out.push(here);
    }
    out.extend(
        zones
            .iter()
            .filter(|z| z.gateway != here.gateway && mine(z)),
    );
    (out, Some(me))
}

/// Decides the answer to `q`, asked on the network whose gateway is `gw` by `src`.
/// `host_servers`: the host's resolvers (or the test override).
pub fn resolve(
    zones: &[Zone],
    gw: Ipv4Addr,
    src: Ipv4Addr,
    q: &Query,
    host_servers: &[SocketAddr],
) -> Outcome {
    let reply =
        |rcode, aa, answers: &[Rdata]| Outcome::Reply(wire::response(q, rcode, aa, answers));
    let Some(here) = zones.iter().find(|z| z.gateway == gw) else {
        return reply(wire::REFUSED, false, &[]);
    };
    if q.qclass != wire::CLASS_IN {
        return reply(wire::NOTIMP, false, &[]);
    }
    let (nets, me) = visible(zones, here, src);
    if q.qtype == wire::TYPE_PTR {
        if let Some(ip) = wire::ptr_addr(&q.name) {
            let hit = nets
                .iter()
                .flat_map(|z| z.endpoints.iter())
                .find(|e| e.ip == ip && !e.names.is_empty());
            if let Some(e) = hit {
                return reply(wire::NOERROR, true, &[Rdata::Ptr(e.names[0].clone())]);
            }
        }
    } else {
        // The first network (in the asker's order) that knows the name answers with
        // every address the name has there (several containers may share an alias).
        for z in &nets {
            let hits: Vec<&Entry> = z
                .endpoints
                .iter()
                .filter(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(&q.name)))
                .collect();
            if hits.is_empty() {
                continue;
            }
            // Other types: the name exists, without records of that type.
            let answers: Vec<Rdata> = match q.qtype {
                wire::TYPE_A => hits.iter().map(|e| Rdata::A(e.ip)).collect(),
                wire::TYPE_AAAA => hits.iter().filter_map(|e| e.ip6.map(Rdata::Aaaa)).collect(),
                _ => Vec::new(),
            };
            return reply(wire::NOERROR, true, &answers);
        }
    }
    // Not ours. Containers only on internal networks have no way out, so nothing is
    // forwarded for them (as Docker does).
    if nets.iter().all(|z| z.internal) {
        return reply(wire::NXDOMAIN, false, &[]);
    }
    let own: Vec<SocketAddr> = me
        .map(|e| e.servers.iter().filter_map(|s| server_addr(s)).collect())
        .unwrap_or_default();
    let servers = if own.is_empty() {
        host_servers.to_vec()
    } else {
        own
    };
    // Never ourselves (a host whose resolv.conf names a gateway): that would loop.
    let servers: Vec<SocketAddr> = servers
        .into_iter()
        .filter(|s| !(s.port() == 53 && zones.iter().any(|z| IpAddr::V4(z.gateway) == s.ip())))
        .collect();
    if servers.is_empty() {
        return reply(wire::NXDOMAIN, false, &[]);
    }
    Outcome::Forward(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(c: &str, ip: [u8; 4], names: &[&str]) -> Entry {
        Entry {
            container: c.into(),
            ip: ip.into(),
            ip6: None,
            names: names.iter().map(|s| s.to_string()).collect(),
            servers: Vec::new(),
        }
    }

    fn q(name: &str, qtype: u16) -> Query {
        Query {
            id: 7,
            flags: 0x0100,
            name: name.into(),
            qtype,
            qclass: wire::CLASS_IN,
            question: vec![0, 0, 1, 0, 1],
        }
    }

    fn rcode(o: &Outcome) -> u8 {
        match o {
            Outcome::Reply(r) => r[3] & 0xf,
            Outcome::Forward(_) => 255,
        }
    }

    fn answers(o: &Outcome) -> u16 {
        match o {
            Outcome::Reply(r) => u16::from_be_bytes([r[6], r[7]]),
            Outcome::Forward(_) => 0,
        }
    }

    #[test]
    fn names_on_shared_networks_only() {
        let a = Zone {
            network: "a".into(),
            gateway: [10, 0, 1, 1].into(),
            internal: false,
            endpoints: vec![
                entry("c1", [10, 0, 1, 2], &["web", "www", "c1short"]),
                entry("c2", [10, 0, 1, 3], &["client"]),
                entry("c4", [10, 0, 1, 4], &["www"]),
            ],
        };
        let b = Zone {
            network: "b".into(),
            gateway: [10, 0, 2, 1].into(),
            internal: true,
            endpoints: vec![
                entry("c2", [10, 0, 2, 2], &["client"]),
                entry("c3", [10, 0, 2, 3], &["db"]),
            ],
        };
        let zones = [a, b];
        let up: Vec<SocketAddr> = vec!["127.0.0.1:5353".parse().unwrap()];
        let gw_a: Ipv4Addr = [10, 0, 1, 1].into();
        let ask =
            |src: [u8; 4], name: &str, t: u16| resolve(&zones, gw_a, src.into(), &q(name, t), &up);
        let r = ask([10, 0, 1, 3], "WEB", wire::TYPE_A);
        assert_eq!((rcode(&r), answers(&r)), (0, 1));
        // An alias two containers share: both addresses.
        assert_eq!(answers(&ask([10, 0, 1, 3], "www", wire::TYPE_A)), 2);
        // AAAA of a known name: no data, no error.
        let r = ask([10, 0, 1, 3], "web", wire::TYPE_AAAA);
        assert_eq!((rcode(&r), answers(&r)), (0, 0));
        // On an --ipv6 network, AAAA answers with the v6 address.
        let mut v6 = zones.clone();
        v6[0].endpoints[0].ip6 = Some("fd00:1::2".parse().unwrap());
        let r = resolve(
            &v6,
            gw_a,
            [10, 0, 1, 3].into(),
            &q("web", wire::TYPE_AAAA),
            &up,
        );
        assert_eq!((rcode(&r), answers(&r)), (0, 1));
        match &r {
            Outcome::Reply(b) => {
                assert!(b.ends_with(&"fd00:1::2".parse::<std::net::Ipv6Addr>().unwrap().octets()))
            }
            o => panic!("{o:?}"),
        }
        // c2 is also on b, so it sees db; c1 is not, so db is forwarded for it.
        assert_eq!(answers(&ask([10, 0, 1, 3], "db", wire::TYPE_A)), 1);
        assert_eq!(
            ask([10, 0, 1, 2], "db", wire::TYPE_A),
            Outcome::Forward(up.clone())
        );
        // Reverse lookups of known addresses.
        assert_eq!(
            answers(&ask([10, 0, 1, 3], "2.1.0.10.in-addr.arpa", wire::TYPE_PTR)),
            1
        );
        // c1 asking on b's gateway (routed there, not being on b) sees its own
        // networks' names, not b's.
        let gw_b: Ipv4Addr = [10, 0, 2, 1].into();
        let r = resolve(
            &zones,
            gw_b,
            [10, 0, 1, 2].into(),
            &q("client", wire::TYPE_A),
            &up,
        );
        assert_eq!(answers(&r), 1);
        let r = resolve(
            &zones,
            gw_b,
            [10, 0, 1, 2].into(),
            &q("db", wire::TYPE_A),
            &up,
        );
        assert_eq!(r, Outcome::Forward(up.clone()));
        // On the internal network alone nothing is forwarded.
        let r = resolve(
            &zones,
            [10, 0, 2, 1].into(),
            [10, 0, 2, 3].into(),
            &q("example.com", wire::TYPE_A),
            &up,
        );
        assert_eq!(rcode(&r), wire::NXDOMAIN);
        // Our own gateways are never upstreams.
        let loop_up: Vec<SocketAddr> = vec!["10.0.2.1:53".parse().unwrap()];
        let r = resolve(
            &zones,
            gw_a,
            [10, 0, 1, 2].into(),
            &q("x", wire::TYPE_A),
            &loop_up,
        );
        assert_eq!(rcode(&r), wire::NXDOMAIN);
        // No upstream at all: NXDOMAIN; a gateway we do not serve: REFUSED.
        let r = resolve(
            &zones,
            gw_a,
            [10, 0, 1, 2].into(),
            &q("x", wire::TYPE_A),
            &[],
        );
        assert_eq!(rcode(&r), wire::NXDOMAIN);
        let r = resolve(
            &zones,
            [10, 9, 9, 1].into(),
            [10, 9, 9, 2].into(),
            &q("web", wire::TYPE_A),
            &up,
        );
        assert_eq!(rcode(&r), wire::REFUSED);
    }

    #[test]
    fn a_containers_own_servers_replace_the_hosts() {
        let mut e = entry("c1", [10, 0, 1, 2], &["web"]);
        e.servers = vec!["10.9.9.9".into()];
        let zones = [Zone {
            network: "a".into(),
            gateway: [10, 0, 1, 1].into(),
            internal: false,
            endpoints: vec![e],
        }];
        let up: Vec<SocketAddr> = vec!["127.0.0.53:53".parse().unwrap()];
        let r = resolve(
            &zones,
            [10, 0, 1, 1].into(),
            [10, 0, 1, 2].into(),
            &q("example.com", wire::TYPE_A),
            &up,
        );
        assert_eq!(r, Outcome::Forward(vec!["10.9.9.9:53".parse().unwrap()]));
        assert_eq!(
            resolv_conf_servers("# c\nnameserver 127.0.0.53\nnameserver ::1\nsearch x\n"),
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
