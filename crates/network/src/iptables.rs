//! The iptables fallback: the same rules as [`crate::nft`] and [`crate::ports`], for
//! hosts without the `nft` tool, in chains of berth's own (`BERTH-POST-<network>`,
//! `BERTH-PRE-C<container>`, ...) that the built-in chains jump to.
//!
//! Two differences follow from iptables' model, where an ACCEPT in any chain ends
//! the packet's walk through that table:
//! - berth's filter chains only DROP or RETURN, never ACCEPT, so a host policy in
//!   the built-in chains (ufw, firewalld, hand-written rules) still decides what is
//!   let through, as it does under nftables;
//! - they are inserted first in FORWARD/INPUT, so a host ACCEPT placed before them
//!   cannot let traffic past a network's isolation.
//!
//! Every change is a handful of `iptables -w` calls (not one atomic batch as with
//! nftables): a chain is created or flushed, filled, then jumped to, so a failure
//! part-way leaves at worst an unused chain, which the next apply or remove clears.

use std::process::Command;

use crate::error::{NetError, Result};
use crate::ports::Forward;
use crate::records::Network;

fn run(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("iptables").arg("-w").args(args).output()
}

fn no_ipv6(what: &str) -> NetError {
    NetError::invalid(
        what,
        "the iptables fallback handles IPv4 only: install nftables (the nft tool) for IPv6",
    )
}

/// Runs one iptables command that must succeed.
fn ipt(args: &[&str]) -> Result<()> {
    let out = run(args).map_err(|e| {
        NetError::io(
            "running iptables (install the iptables or the nftables package for bridge networks)",
            e,
        )
    })?;
    if !out.status.success() {
        return Err(NetError::invalid(
            "iptables rules",
            format!(
                "iptables {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

/// Runs one iptables command whose failure is an answer (a check, a delete of what
/// may not be there).
fn ipt_ok(args: &[&str]) -> bool {
    run(args).is_ok_and(|o| o.status.success())
}

/// A chain of berth's, created empty or emptied.
fn fresh_chain(table: &str, chain: &str) -> Result<()> {
    if ipt_ok(&["-t", table, "-N", chain]) {
        return Ok(());
    }
    ipt(&["-t", table, "-F", chain])
}

/// Inserts the jump from a built-in chain first, unless it is there.
fn jump(table: &str, from: &str, chain: &str) -> Result<()> {
    if ipt_ok(&["-t", table, "-C", from, "-j", chain]) {
        return Ok(());
    }
    ipt(&["-t", table, "-I", from, "-j", chain])
}

/// Removes a chain and every jump to it; nothing there is not an error.
fn drop_chain(table: &str, from: &str, chain: &str) {
    while ipt_ok(&["-t", table, "-D", from, "-j", chain]) {}
    if ipt_ok(&["-t", table, "-F", chain]) {
        let _ = ipt_ok(&["-t", table, "-X", chain]);
    }
}

fn add(table: &str, chain: &str, comment: &str, rule: &[&str]) -> Result<()> {
    let mut a = vec!["-t", table, "-A", chain];
    a.extend_from_slice(rule);
    a.extend_from_slice(&["-m", "comment", "--comment", comment]);
    ipt(&a)
}

/// (table, built-in chain, berth's chain) of a network.
fn network_chains(net: &Network) -> [(&'static str, &'static str, String); 3] {
    let id = net.short_id();
    [
        ("nat", "POSTROUTING", format!("BERTH-POST-{id}")),
        ("filter", "FORWARD", format!("BERTH-FWD-{id}")),
        ("filter", "INPUT", format!("BERTH-IN-{id}")),
    ]
}

/// The network's NAT and isolation, as [`crate::nft::rules_for`] writes them.
pub fn apply(net: &Network) -> Result<()> {
    if net.ipv6() {
        return Err(no_ipv6(&format!("network {}", net.name)));
    }
    let subnet = net.subnet()?;
    let cidr = format!("{}/{}", subnet.network(), subnet.prefix);
    let gw = net.gateway()?.to_string();
    let br = net.bridge.as_str();
    let [post, fwd, input] = network_chains(net);
    let tag = format!("berth network {}", net.name);
    for (table, _, chain) in [&post, &fwd, &input] {
        fresh_chain(table, chain)?;
    }
    if net.internal {
        add(
            "filter",
            &fwd.2,
            &tag,
            &["-i", br, "!", "-o", br, "-j", "DROP"],
        )?;
        add(
            "filter",
            &fwd.2,
            &tag,
            &["-o", br, "!", "-i", br, "-j", "DROP"],
        )?;
        add(
            "filter",
            &input.2,
            &tag,
            &["-i", br, "!", "-d", &gw, "-j", "DROP"],
        )?;
    } else {
        // Bridges are kept apart as under nftables: nothing forwarded from this
        // bridge to another berth or Docker bridge, except what a published port
        // DNATed. RETURN, not ACCEPT: the host's own rules still apply after.
        let dnat = [
            "-i",
            br,
            "-m",
            "conntrack",
            "--ctstate",
            "DNAT",
            "-j",
            "RETURN",
        ];
        add("filter", &fwd.2, &tag, &dnat)?;
        add(
            "filter",
            &fwd.2,
            &tag,
            &["-i", br, "-o", br, "-j", "RETURN"],
        )?;
        for other in ["br-+", "berth+"] {
            add(
                "filter",
                &fwd.2,
                &tag,
                &["-i", br, "-o", other, "-j", "DROP"],
            )?;
        }
        add(
            "nat",
            &post.2,
            &tag,
            &["-s", &cidr, "!", "-o", br, "-j", "MASQUERADE"],
        )?;
    }
    for (table, from, chain) in [&post, &fwd, &input] {
        jump(table, from, chain)?;
    }
    Ok(())
}

pub fn remove(net: &Network) {
    for (table, from, chain) in network_chains(net) {
        drop_chain(table, from, &chain);
    }
}

fn container_chains(container_id: &str) -> [(&'static str, String); 3] {
    let id = &container_id[..container_id.len().min(12)];
    [
        ("PREROUTING", format!("BERTH-PRE-C{id}")),
        ("OUTPUT", format!("BERTH-OUT-C{id}")),
        ("POSTROUTING", format!("BERTH-PST-C{id}")),
    ]
}

/// The container's published ports, as [`crate::ports::rules_for`] writes them.
/// The hairpin masquerade matches the network's subnet as source: iptables cannot
/// match the input interface in POSTROUTING as nftables can.
pub fn publish(container_id: &str, net: &Network, forwards: &[Forward]) -> Result<()> {
    if let Some(f) = forwards.iter().find(|f| f.container_ip.is_ipv6()) {
        return Err(no_ipv6(&format!("publishing port {} on IPv6", f.host_port)));
    }
    let bridge = net.bridge.as_str();
    let subnet = net.subnet()?;
    let cidr = format!("{}/{}", subnet.network(), subnet.prefix);
    let [pre, out, pst] = container_chains(container_id);
    let tag = format!(
        "berth container {}",
        &container_id[..container_id.len().min(12)]
    );
    for (_, chain) in [&pre, &out, &pst] {
        fresh_chain("nat", chain)?;
    }
    for f in forwards {
        let (hp, to) = (
            f.host_port.to_string(),
            format!("{}:{}", f.container_ip, f.container_port),
        );
        let ip;
        let mut rule: Vec<&str> = match f.host_ip {
            Some(a) if !a.is_unspecified() => {
                ip = a.to_string();
                vec!["-d", &ip]
            }
            _ => vec!["-m", "addrtype", "--dst-type", "LOCAL"],
        };
        rule.extend_from_slice(&[
            "-p",
            &f.proto,
            "--dport",
            &hp,
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ]);
        add("nat", &pre.1, &tag, &rule)?;
        add("nat", &out.1, &tag, &rule)?;
    }
    let dnat = ["-m", "conntrack", "--ctstate", "DNAT"];
    let mut lo = vec!["-o", bridge, "-s", "127.0.0.0/8"];
    lo.extend_from_slice(&dnat);
    lo.extend_from_slice(&["-j", "MASQUERADE"]);
    add("nat", &pst.1, &tag, &lo)?;
    let mut hairpin = vec!["-o", bridge, "-s", &cidr];
    hairpin.extend_from_slice(&dnat);
    hairpin.extend_from_slice(&["-j", "MASQUERADE"]);
    add("nat", &pst.1, &tag, &hairpin)?;
    for (from, chain) in [&pre, &out, &pst] {
        jump("nat", from, chain)?;
    }
    Ok(())
}

pub fn unpublish(container_id: &str) {
    for (from, chain) in container_chains(container_id) {
        drop_chain("nat", from, &chain);
    }
}
