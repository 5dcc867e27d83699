//! berth's nftables rules, in its own tables `ip berth` and (for `--ipv6` networks)
//! `ip6 berth`, loaded with `nft -j -f -`.
//!
//! Why two tables rather than one `inet` table: NAT in `inet` tables needs a newer
//! kernel and nft than berth otherwise asks for, every existing rule would change
//! (and with it what users and scripts see in `ip berth`), and a host with only IPv4
//! networks keeps no IPv6 table at all. The v6 chains have the same names and jobs
//! as the v4 ones and are written in the same batch, so they change atomically.
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

/// An nftables address family: `ip` or `ip6`, with the payload protocol of its
/// addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ip,
    Ip6,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }
}

pub(crate) fn table(f: Family) -> Value {
    json!({"add": {"table": {"family": f.name(), "name": TABLE}}})
}

pub(crate) fn chain(f: Family, name: &str, kind: &str, hook: &str, prio: i32) -> Value {
    json!({"chain": {"family": f.name(), "table": TABLE, "name": name,
        "type": kind, "hook": hook, "prio": prio, "policy": "accept"}})
}

pub(crate) fn flush(f: Family, name: &str) -> Value {
    json!({"flush": {"chain": {"family": f.name(), "table": TABLE, "name": name}}})
}

pub(crate) fn delete(f: Family, name: &str) -> Value {
    json!({"delete": {"chain": {"family": f.name(), "table": TABLE, "name": name}}})
}

pub(crate) fn rule(f: Family, chain: &str, comment: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": f.name(), "table": TABLE, "chain": chain,
        "comment": comment, "expr": expr}}})
}

/// Matches the packet's source or destination address (`field`) against a value.
pub(crate) fn addr(f: Family, field: &str, op: &str, right: Value) -> Value {
    json!({"match": {"op": op,
        "left": {"payload": {"protocol": f.name(), "field": field}},
        "right": right}})
}

fn ifname(key: &str, op: &str, name: &str) -> Value {
    json!({"match": {"op": op, "left": {"meta": {"key": key}}, "right": name}})
}

/// The batch that (re)writes the network's chains: masquerade for a normal network;
/// for an internal one, drops of everything that would leave the bridge (forwarded
/// elsewhere, or addressed to the host other than the gateway). An `--ipv6`
/// network gets the same chains for its v6 subnet in the `ip6` table.
pub fn rules_for(net: &Network) -> Result<Value> {
    let subnet = net.subnet()?;
    let mut batch = family_rules(
        net,
        Family::Ip,
        (subnet.network().to_string(), subnet.prefix),
        &net.gateway,
    );
    if let Some((s6, gw6)) = net.v6()? {
        batch.extend(family_rules(
            net,
            Family::Ip6,
            (s6.network().to_string(), s6.prefix),
            &gw6.to_string(),
        ));
    }
    Ok(json!({"nftables": batch}))
}

fn family_rules(net: &Network, f: Family, subnet: (String, u8), gateway: &str) -> Vec<Value> {
    let br = net.bridge.as_str();
    let [post, fwd, input] = chains(net);
    let mut batch = vec![table(f)];
    // add + flush: idempotent, so a start after a reboot or a crash rewrites them.
    for (name, kind, hook, prio) in [&post, &fwd, &input] {
        batch.push(json!({"add": chain(f, name, kind, hook, *prio)}));
        batch.push(flush(f, name));
    }
    let tag = format!("berth network {}", net.name);
    if net.internal {
        batch.push(rule(
            f,
            &fwd.0,
            &tag,
            vec![
                ifname("iifname", "==", br),
                ifname("oifname", "!=", br),
                json!({"drop": null}),
            ],
        ));
        batch.push(rule(
            f,
            &fwd.0,
            &tag,
            vec![
                ifname("oifname", "==", br),
                ifname("iifname", "!=", br),
                json!({"drop": null}),
            ],
        ));
        if f == Family::Ip6 {
            // Neighbour discovery goes to multicast and link-local addresses: without
            // it the gateway's own address could not be reached either.
            batch.push(rule(
                f,
                &input.0,
                &tag,
                vec![
                    ifname("iifname", "==", br),
                    json!({"match": {"op": "==",
                        "left": {"payload": {"protocol": "icmpv6", "field": "type"}},
                        "right": {"set": ["nd-neighbor-solicit", "nd-neighbor-advert"]}}}),
                    json!({"accept": null}),
                ],
            ));
        }
        batch.push(rule(
            f,
            &input.0,
            &tag,
            vec![
                ifname("iifname", "==", br),
                addr(f, "daddr", "!=", json!(gateway)),
                json!({"drop": null}),
            ],
        ));
    } else {
        // Bridges are isolated from each other as Docker's are: nothing is forwarded
        // from this bridge to another berth (or Docker) bridge, except connections a
        // published port DNATed.
        batch.push(rule(
            f,
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
                f,
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
            f,
            &post.0,
            &tag,
            vec![
                addr(
                    f,
                    "saddr",
                    "==",
                    json!({"prefix": {"addr": subnet.0, "len": subnet.1}}),
                ),
                ifname("oifname", "!=", br),
                json!({"masquerade": null}),
            ],
        ));
    }
    batch
}

/// The batch that deletes the network's chains, whether or not they exist (each is
/// added, flushed and deleted in the one transaction); the `ip6` ones too for an
/// `--ipv6` network.
pub fn removal_for(net: &Network) -> Value {
    let mut families = vec![Family::Ip];
    if net.ipv6() {
        families.push(Family::Ip6);
    }
    let mut batch = Vec::new();
    for f in families {
        batch.push(table(f));
        for (name, kind, hook, prio) in chains(net) {
            batch.push(json!({"add": chain(f, &name, kind, hook, prio)}));
            batch.push(flush(f, &name));
            batch.push(delete(f, &name));
        }
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
    turn_on("/proc/sys/net/ipv4/ip_forward")
}

/// Turns on IPv6 forwarding (`net.ipv6.conf.all.forwarding`) for `--ipv6`
/// networks. Returns true when it was off.
pub fn enable_ip6_forward() -> Result<bool> {
    turn_on("/proc/sys/net/ipv6/conf/all/forwarding")
}

fn turn_on(p: &str) -> Result<bool> {
    let now = std::fs::read_to_string(p).map_err(|e| NetError::io(format!("reading {p}"), e))?;
    if now.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(p, "1").map_err(|e| NetError::io(format!("writing {p}"), e))?;
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
pub(crate) mod tests {
    use super::*;

    /// A network record for tests (also the ports module's).
    pub(crate) fn net(internal: bool) -> Network {
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
            subnet6: String::new(),
            gateway6: String::new(),
        }
    }

    fn net6(internal: bool) -> Network {
        Network {
            subnet6: "fd00:beef:1::/64".into(),
            gateway6: "fd00:beef:1::1".into(),
            ..net(internal)
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

    #[test]
    fn ipv6_networks_get_the_same_chains_in_the_ip6_table() {
        let v4 = rules_for(&net(false)).unwrap().to_string();
        assert!(!v4.contains("\"ip6\""));
        let nat = rules_for(&net6(false)).unwrap();
        let text = nat.to_string();
        assert!(text.contains("\"family\":\"ip6\""));
        assert!(text.contains("\"addr\":\"fd00:beef:1::\",\"len\":64"));
        check(&nat);
        let internal = rules_for(&net6(true)).unwrap();
        assert!(internal.to_string().contains("fd00:beef:1::1"));
        check(&internal);
        let rm = removal_for(&net6(false)).to_string();
        assert!(rm.contains("\"ip6\""));
        check(&removal_for(&net6(false)));
    }
}
