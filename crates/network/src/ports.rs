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

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::error::{NetError, Result};
use crate::nft::{self, TABLE};

/// One published port, resolved: host address (`None`: every local address), host
/// port, protocol, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub proto: String,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

fn chains(container_id: &str) -> [(String, &'static str, i32); 3] {
    let id = &container_id[..container_id.len().min(12)];
    [
        (format!("pre-c{id}"), "prerouting", -100),
        (format!("out-c{id}"), "output", -100),
        (format!("pst-c{id}"), "postrouting", 100),
    ]
}

fn base(name: &str, hook: &str, prio: i32) -> Value {
    json!({"chain": {"family": "ip", "table": TABLE, "name": name,
        "type": "nat", "hook": hook, "prio": prio, "policy": "accept"}})
}

fn rule(chain: &str, comment: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": "ip", "table": TABLE, "chain": chain,
        "comment": comment, "expr": expr}}})
}

fn eq(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

fn dnat_rule(chain: &str, tag: &str, f: &Forward) -> Value {
    let daddr = match f.host_ip {
        Some(ip) if !ip.is_unspecified() => eq(
            json!({"payload": {"protocol": "ip", "field": "daddr"}}),
            json!(ip.to_string()),
        ),
        _ => eq(
            json!({"fib": {"result": "type", "flags": ["daddr"]}}),
            json!("local"),
        ),
    };
    rule(
        chain,
        tag,
        vec![
            daddr,
            eq(
                json!({"payload": {"protocol": f.proto, "field": "dport"}}),
                json!(f.host_port),
            ),
            json!({"dnat": {"addr": f.container_ip.to_string(), "port": f.container_port}}),
        ],
    )
}

/// The batch that (re)writes the container's chains for `forwards` leaving through
/// `bridge`.
pub fn rules_for(container_id: &str, bridge: &str, forwards: &[Forward]) -> Value {
    let [pre, out, pst] = chains(container_id);
    let mut batch = vec![json!({"add": {"table": {"family": "ip", "name": TABLE}}})];
    for (name, hook, prio) in [&pre, &out, &pst] {
        batch.push(json!({"add": base(name, hook, *prio)}));
        batch.push(json!({"flush": {"chain": {"family": "ip", "table": TABLE, "name": name}}}));
    }
    let tag = format!(
        "berth container {}",
        &container_id[..container_id.len().min(12)]
    );
    for f in forwards {
        batch.push(dnat_rule(&pre.0, &tag, f));
        batch.push(dnat_rule(&out.0, &tag, f));
    }
    // Connections from the host's loopback addresses, and hairpin connections from
    // containers on the same bridge to a published port, are answered through the
    // host: masquerade what was DNATed and leaves through the bridge it came from or
    // comes from 127.0.0.0/8.
    let dnat = json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}});
    let oif = eq(json!({"meta": {"key": "oifname"}}), json!(bridge));
    batch.push(rule(
        &pst.0,
        &tag,
        vec![
            oif.clone(),
            dnat.clone(),
            eq(
                json!({"payload": {"protocol": "ip", "field": "saddr"}}),
                json!({"prefix": {"addr": "127.0.0.0", "len": 8}}),
            ),
            json!({"masquerade": null}),
        ],
    ));
    batch.push(rule(
        &pst.0,
        &tag,
        vec![
            oif,
            eq(json!({"meta": {"key": "iifname"}}), json!(bridge)),
            dnat,
            json!({"masquerade": null}),
        ],
    ));
    json!({"nftables": batch})
}

/// The batch that deletes the container's chains, whether or not they exist.
pub fn removal_for(container_id: &str) -> Value {
    let mut batch = vec![json!({"add": {"table": {"family": "ip", "name": TABLE}}})];
    for (name, hook, prio) in chains(container_id) {
        batch.push(json!({"add": base(&name, hook, prio)}));
        batch.push(json!({"flush": {"chain": {"family": "ip", "table": TABLE, "name": name}}}));
        batch.push(json!({"delete": {"chain": {"family": "ip", "table": TABLE, "name": name}}}));
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

/// Publishes `forwards` for the container (replacing what it had).
pub fn publish(container_id: &str, bridge: &str, forwards: &[Forward]) -> Result<()> {
    if forwards.is_empty() {
        return Ok(());
    }
    if forwards.iter().any(|f| {
        f.host_ip
            .is_none_or(|ip| ip.is_loopback() || ip.is_unspecified())
    }) {
        allow_localnet(bridge)?;
    }
    if crate::firewall::uses_iptables() {
        return crate::iptables::publish(container_id, bridge, forwards);
    }
    nft::load(&rules_for(container_id, bridge, forwards))
}

/// Removes the container's published ports. Safe to repeat.
pub fn unpublish(container_id: &str) -> Result<()> {
    if crate::firewall::uses_iptables() {
        crate::iptables::unpublish(container_id);
        return Ok(());
    }
    nft::load(&removal_for(container_id))
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
        nft::check(&removal_for("feedfacefeedface"));
    }
}
