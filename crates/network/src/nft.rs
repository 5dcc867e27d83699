//! berth's nftables rules, in its own table `ip berth`, loaded with `nft -j -f -`.
//!
//! Every network gets base chains of its own (`post-<id>`, and for internal networks
//! `fwd-<id>` and `in-<id>`), named after the network: adding or removing one
//! network's rules is then one atomic batch that touches no other network's chains
//! and needs no rule handles, and separate berth stores (tests, rootless) on one host
//! never rebuild each other's rules.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::error::{NetError, Result};
use crate::records::Network;

pub const TABLE: &str = "berth";

fn chains(net: &Network) -> [(String, &'static str, &'static str, i32); 3] {
    let id = net.short_id();
    [
        (format!("post-{id}"), "nat", "postrouting", 100),
        (format!("fwd-{id}"), "filter", "forward", 0),
        (format!("in-{id}"), "filter", "input", 0),
    ]
}

fn chain(name: &str, kind: &str, hook: &str, prio: i32) -> Value {
    json!({"chain": {"family": "ip", "table": TABLE, "name": name,
        "type": kind, "hook": hook, "prio": prio, "policy": "accept"}})
}

fn rule(chain: &str, comment: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": "ip", "table": TABLE, "chain": chain,
        "comment": comment, "expr": expr}}})
}

fn ifname(key: &str, op: &str, name: &str) -> Value {
    json!({"match": {"op": op, "left": {"meta": {"key": key}}, "right": name}})
}

/// The batch that (re)writes the network's chains: masquerade for a normal network;
/// for an internal one, drops of everything that would leave the bridge (forwarded
/// elsewhere, or addressed to the host other than the gateway).
pub fn rules_for(net: &Network) -> Result<Value> {
    let subnet = net.subnet()?;
    let br = net.bridge.as_str();
    let [post, fwd, input] = chains(net);
    let mut batch = vec![json!({"add": {"table": {"family": "ip", "name": TABLE}}})];
    // add + flush: idempotent, so a start after a reboot or a crash rewrites them.
    for (name, kind, hook, prio) in [&post, &fwd, &input] {
        batch.push(json!({"add": chain(name, kind, hook, *prio)}));
        batch.push(json!({"flush": {"chain": {"family": "ip", "table": TABLE, "name": name}}}));
    }
    let tag = format!("berth network {}", net.name);
    if net.internal {
        batch.push(rule(
            &fwd.0,
            &tag,
            vec![
                ifname("iifname", "==", br),
                ifname("oifname", "!=", br),
                json!({"drop": null}),
            ],
        ));
        batch.push(rule(
            &fwd.0,
            &tag,
            vec![
                ifname("oifname", "==", br),
                ifname("iifname", "!=", br),
                json!({"drop": null}),
            ],
        ));
        batch.push(rule(
            &input.0,
            &tag,
            vec![
                ifname("iifname", "==", br),
                json!({"match": {"op": "!=",
                    "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                    "right": net.gateway}}),
                json!({"drop": null}),
            ],
        ));
    } else {
        // Bridges are isolated from each other as Docker's are: nothing is forwarded
        // from this bridge to another berth (or Docker) bridge, except connections a
        // published port DNATed.
        batch.push(rule(
            &fwd.0,
            &tag,
            vec![
                ifname("iifname", "==", br),
                json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}),
                json!({"accept": null}),
            ],
        ));
        for other in ["br-*", "berth*"] {
            batch.push(rule(
                &fwd.0,
                &tag,
                vec![
                    ifname("iifname", "==", br),
                    ifname("oifname", "!=", br),
                    ifname("oifname", "==", other),
                    json!({"drop": null}),
                ],
            ));
        }
        batch.push(rule(
            &post.0,
            &tag,
            vec![
                json!({"match": {"op": "==",
                    "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "right": {"prefix": {"addr": subnet.network().to_string(),
                                         "len": subnet.prefix}}}}),
                ifname("oifname", "!=", br),
                json!({"masquerade": null}),
            ],
        ));
    }
    Ok(json!({"nftables": batch}))
}

/// The batch that deletes the network's chains, whether or not they exist (each is
/// added, flushed and deleted in the one transaction).
pub fn removal_for(net: &Network) -> Value {
    let mut batch = vec![json!({"add": {"table": {"family": "ip", "name": TABLE}}})];
    for (name, kind, hook, prio) in chains(net) {
        batch.push(json!({"add": chain(&name, kind, hook, prio)}));
        batch.push(json!({"flush": {"chain": {"family": "ip", "table": TABLE, "name": name}}}));
        batch.push(json!({"delete": {"chain": {"family": "ip", "table": TABLE, "name": name}}}));
    }
    json!({"nftables": batch})
}

pub(crate) fn load(batch: &Value) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            NetError::io(
                "running nft (install the nftables package for bridge networks)",
                e,
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(batch.to_string().as_bytes())
            .map_err(|e| NetError::io("writing to nft", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::io("waiting for nft", e))?;
    if !out.status.success() {
        return Err(NetError::invalid(
            "nftables rules",
            format!(
                "nft failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

pub fn apply(net: &Network) -> Result<()> {
    if crate::firewall::uses_iptables() {
        return crate::iptables::apply(net);
    }
    load(&rules_for(net)?)
}

pub fn remove(net: &Network) -> Result<()> {
    if crate::firewall::uses_iptables() {
        crate::iptables::remove(net);
        return Ok(());
    }
    load(&removal_for(net))
}

/// Turns on IPv4 forwarding (outbound NAT needs it). Returns true when it was off,
/// so the caller can tell the user that a host setting changed.
pub fn enable_ip_forward() -> Result<bool> {
    const P: &str = "/proc/sys/net/ipv4/ip_forward";
    let now = std::fs::read_to_string(P).map_err(|e| NetError::io(format!("reading {P}"), e))?;
    if now.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(P, "1").map_err(|e| NetError::io(format!("writing {P}"), e))?;
    Ok(true)
}

/// `nft -c` parses and checks a batch against the kernel without committing it.
#[cfg(test)]
pub(crate) fn check(batch: &Value) {
    let Ok(mut child) = Command::new("nft")
        .args(["-c", "-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("nft is not installed: skipping the kernel check");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if String::from_utf8_lossy(&out.stderr).contains("Operation not permitted") {
        eprintln!("not root: skipping the kernel check");
        return;
    }
    assert!(
        out.status.success(),
        "{batch}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(internal: bool) -> Network {
        Network {
            id: "0123456789abcdef".repeat(4),
            name: "t".into(),
            driver: "bridge".into(),
            subnet: "10.199.250.0/24".into(),
            gateway: "10.199.250.1".into(),
            bridge: "br-0123456789ab".into(),
            internal,
            labels: Default::default(),
            options: Default::default(),
            created: String::new(),
            ip_range: String::new(),
        }
    }

    #[test]
    fn batches_are_accepted_by_nft() {
        let nat = rules_for(&net(false)).unwrap();
        assert!(nat.to_string().contains("masquerade"));
        check(&nat);
        let internal = rules_for(&net(true)).unwrap();
        assert!(!internal.to_string().contains("masquerade"));
        assert!(internal.to_string().contains("drop"));
        check(&internal);
        check(&removal_for(&net(true)));
    }
}
