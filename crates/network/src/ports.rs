//! Published ports: DNAT from host addresses to a container's address, in chains of
//! the container's own (`pre-c<id>`, `out-c<id>`, `pst-c<id>`) in berth's table.
//!
//! NAT chains see only the first packet of each connection (conntrack carries the
//! rest), so a base chain per container costs nothing per packet of an established
//! flow, and publishing or unpublishing is one atomic batch that needs no rule
//! handles and touches no other container.
//!
//! Traffic from the host itself (`curl 127.0.0.1:8080`) goes through the `output`
//! hook. A DNATed packet from 127.0.0.1 may leave through the bridge only with
//! `route_localnet` on it, and is masqueraded to the gateway address so the
//! container's reply comes back through the host. berth adds no `accept` to any
//! filter chain: a host firewall that drops forwarded traffic still decides.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::error::{NetError, Result};
use crate::nft::{self, addr, chain, delete, flush, rule, table, Family};
use crate::records::Network;

/// One published port, resolved: host address (`None`: every local address of the
/// container address's family), host port, protocol, and where it goes. Host and
/// container address are of one family: an IPv6 one goes in the `ip6` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub proto: String,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

impl Forward {
    fn family(&self) -> Family {
        match self.container_ip {
            IpAddr::V4(_) => Family::Ip,
            IpAddr::V6(_) => Family::Ip6,
        }
    }
}

fn chains(container_id: &str) -> [(String, &'static str, i32); 3] {
    let id = &container_id[..container_id.len().min(12)];
    [
        (format!("pre-c{id}"), "prerouting", -100),
        (format!("out-c{id}"), "output", -100),
        (format!("pst-c{id}"), "postrouting", 100),
    ]
}

fn eq(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

fn dnat_rule(f: Family, chain: &str, tag: &str, fw: &Forward) -> Vec<Value> {
    let mut expr = match fw.host_ip {
        Some(ip) if !ip.is_unspecified() => vec![addr(f, "daddr", "==", json!(ip.to_string()))],
        _ => vec![eq(
            json!({"fib": {"result": "type", "flags": ["daddr"]}}),
            json!("local"),
        )],
    };
    if f == Family::Ip6 && fw.host_ip.is_none_or(|ip| ip.is_unspecified()) {
        // ::1 cannot be DNATed out of the host (see [`publish`]): leave it to
        // whatever listens there instead of sending it into a black hole.
        expr.push(addr(f, "daddr", "!=", json!("::1")));
    }
    expr.push(eq(
        json!({"payload": {"protocol": fw.proto, "field": "dport"}}),
        json!(fw.host_port),
    ));
    expr.push(json!({"dnat": {"addr": fw.container_ip.to_string(), "port": fw.container_port}}));
    vec![rule(f, chain, tag, expr)]
}

/// The families a container's chains are in: IPv4 always (its chains are there
/// even when it publishes only on IPv6, so removal needs no record), IPv6 when
/// `v6`.
fn families(v6: bool) -> Vec<Family> {
    if v6 {
        vec![Family::Ip, Family::Ip6]
    } else {
        vec![Family::Ip]
    }
}

/// The batch that (re)writes the container's chains for `forwards` leaving through
/// `bridge`.
pub fn rules_for(container_id: &str, bridge: &str, forwards: &[Forward]) -> Value {
    let [pre, out, pst] = chains(container_id);
    let v6 = forwards.iter().any(|f| f.family() == Family::Ip6);
    let tag = format!(
        "berth container {}",
        &container_id[..container_id.len().min(12)]
    );
    let mut batch = Vec::new();
    for fam in families(v6) {
        batch.push(table(fam));
        for (name, hook, prio) in [&pre, &out, &pst] {
            batch.push(json!({"add": chain(fam, name, "nat", hook, *prio)}));
            batch.push(flush(fam, name));
        }
        for f in forwards.iter().filter(|f| f.family() == fam) {
            batch.extend(dnat_rule(fam, &pre.0, &tag, f));
            batch.extend(dnat_rule(fam, &out.0, &tag, f));
        }
        // Connections from the host's loopback addresses, and hairpin connections
        // from containers on the same bridge to a published port, are answered
        // through the host: masquerade what was DNATed and leaves through the bridge
        // it came from or comes from 127.0.0.0/8.
        let dnat =
            json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}});
        let oif = eq(json!({"meta": {"key": "oifname"}}), json!(bridge));
        if fam == Family::Ip {
            batch.push(rule(
                fam,
                &pst.0,
                &tag,
                vec![
                    oif.clone(),
                    dnat.clone(),
                    addr(
                        fam,
                        "saddr",
                        "==",
                        json!({"prefix": {"addr": "127.0.0.0", "len": 8}}),
                    ),
                    json!({"masquerade": null}),
                ],
            ));
        }
        batch.push(rule(
            fam,
            &pst.0,
            &tag,
            vec![
                oif,
                eq(json!({"meta": {"key": "iifname"}}), json!(bridge)),
                dnat,
                json!({"masquerade": null}),
            ],
        ));
    }
    json!({"nftables": batch})
}

/// The batch that deletes the container's chains, whether or not they exist (those
/// in the `ip6` table too when `v6`).
pub fn removal_for(container_id: &str, v6: bool) -> Value {
    let mut batch = Vec::new();
    for fam in families(v6) {
        batch.push(table(fam));
        for (name, hook, prio) in chains(container_id) {
            batch.push(json!({"add": chain(fam, &name, "nat", hook, prio)}));
            batch.push(flush(fam, &name));
            batch.push(delete(fam, &name));
        }
    }
    json!({"nftables": batch})
}

/// Lets DNATed packets from 127.0.0.0/8 leave through `bridge`.
fn allow_localnet(bridge: &str) -> Result<()> {
    let p = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    match std::fs::read_to_string(&p) {
        Ok(v) if v.trim() == "1" => Ok(()),
        _ => std::fs::write(&p, "1").map_err(|e| NetError::io(format!("writing {p}"), e)),
    }
}

/// Why `[::1]` cannot be published: IPv6 has no `route_localnet`, and the kernel
/// drops a packet from ::1 that a DNAT sends out of a non-loopback interface
/// before any postrouting masquerade could change its source.
pub const LOOPBACK6_REFUSAL: &str = "IPv6 loopback (::1) cannot be forwarded to a container \
     by DNAT (the kernel drops packets from ::1 that would leave through the bridge); \
     publish on [::] or another host IPv6 address, or on 127.0.0.1";

/// Publishes `forwards` for the container (replacing what it had).
pub fn publish(container_id: &str, net: &Network, forwards: &[Forward]) -> Result<()> {
    let bridge = net.bridge.as_str();
    if forwards.is_empty() {
        return Ok(());
    }
    if let Some(f) = forwards
        .iter()
        .find(|f| f.host_ip.is_some_and(|ip| ip.is_loopback() && ip.is_ipv6()))
    {
        return Err(NetError::invalid(
            format!("publishing [::1]:{}", f.host_port),
            LOOPBACK6_REFUSAL,
        ));
    }
    if forwards.iter().any(|f| {
        f.family() == Family::Ip
            && f.host_ip
                .is_none_or(|ip| ip.is_loopback() || ip.is_unspecified())
    }) {
        allow_localnet(bridge)?;
    }
    if crate::firewall::uses_iptables() {
        return crate::iptables::publish(container_id, net, forwards);
    }
    nft::load(&rules_for(container_id, bridge, forwards))
}

/// Removes the container's published ports (`v6`: it had IPv6 ones). Safe to
/// repeat.
pub fn unpublish(container_id: &str, v6: bool) -> Result<()> {
    if crate::firewall::uses_iptables() {
        crate::iptables::unpublish(container_id, v6);
        return Ok(());
    }
    nft::load(&removal_for(container_id, v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(ip: Option<&str>) -> Forward {
        Forward {
            host_ip: ip.map(|s| s.parse().unwrap()),
            host_port: 18080,
            proto: "tcp".into(),
            container_ip: "10.1.2.3".parse().unwrap(),
            container_port: 80,
        }
    }

    #[test]
    fn batch_shape() {
        let b = rules_for(
            "0123456789abcdef",
            "br-x",
            &[fwd(None), fwd(Some("127.0.0.1"))],
        );
        let text = b.to_string();
        assert!(text.contains("\"pre-c0123456789ab\""));
        assert!(text.contains("\"fib\""));
        assert!(text.contains("\"127.0.0.1\""));
        assert!(text.contains("{\"dnat\":{\"addr\":\"10.1.2.3\",\"port\":80}}"));
        // 3 chains added and flushed, 2 rules × 2 hooks, 2 masquerades.
        let n = b["nftables"].as_array().unwrap().len();
        assert_eq!(n, 1 + 6 + 4 + 2);
    }

    #[test]
    fn batches_are_accepted_by_nft() {
        let b = rules_for(
            "feedfacefeedface",
            "br-x",
            &[fwd(None), fwd(Some("10.9.9.9"))],
        );
        nft::check(&b);
        nft::check(&removal_for("feedfacefeedface", false));
    }

    #[test]
    fn ipv6_forwards_go_to_the_ip6_table() {
        let v6 = Forward {
            host_ip: None,
            host_port: 18080,
            proto: "tcp".into(),
            container_ip: "fd00:beef::2".parse().unwrap(),
            container_port: 80,
        };
        let b = rules_for("feedfacefeedface", "br-x", &[fwd(None), v6.clone()]);
        let text = b.to_string();
        assert!(text.contains("\"family\":\"ip6\""));
        assert!(text.contains("\"addr\":\"fd00:beef::2\""));
        // Published on every v6 address but ::1, which cannot be forwarded.
        assert!(text.contains("\"op\":\"!=\",\"right\":\"::1\""));
        nft::check(&b);
        nft::check(&removal_for("feedfacefeedface", true));
        let lo6 = Forward {
            host_ip: Some("::1".parse().unwrap()),
            ..v6
        };
        let e = publish("feedfacefeedface", &nft::tests::net(false), &[lo6]).unwrap_err();
        assert!(e.to_string().contains("::1"), "{e}");
    }
}
