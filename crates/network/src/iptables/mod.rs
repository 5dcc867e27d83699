//! The iptables fallback: the same rules as [`crate::nft`] and [`crate::ports`], for
//! hosts without the `nft` tool, in chains of berth's own (`BERTH-POST-<network>`,
//! `BERTH-PRE-C<container>`, ...) that the built-in chains jump to. IPv4 rules go
//! to `iptables`; those of an `--ipv6` network or an IPv6 published port go to
//! `ip6tables`, in chains of the same names, as nftables' `ip6 berth` table mirrors
//! `ip berth`.
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

mod network;
mod ports;

use std::net::IpAddr;
use std::process::Command;

pub use network::{apply, remove};
pub use ports::{publish, unpublish};

use crate::error::{NetError, Result};

/// Which tool, and so which kernel tables, a rule goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// IPv4 always (a network's or container's v4 chains exist even when it also
    /// has v6 ones), IPv6 when `v6`.
    fn each(v6: bool) -> &'static [Family] {
        if v6 {
            &[Family::V4, Family::V6]
        } else {
            &[Family::V4]
        }
    }
}

/// One of berth's chains: its table, the built-in chain that jumps to it, its name.
#[derive(Debug)]
struct Chain {
    table: &'static str,
    from: &'static str,
    name: String,
}

/// A rule appended to one of berth's chains (by index in the chains installed with
/// it): match and target.
#[derive(Debug)]
struct Rule {
    chain: usize,
    args: Vec<String>,
}

fn rule(chain: usize, args: &[&str]) -> Rule {
    Rule {
        chain,
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

fn run(fam: Family, args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(fam.tool()).arg("-w").args(args).output()
}

/// Runs one command that must succeed.
fn ipt(fam: Family, args: &[&str]) -> Result<()> {
    let tool = fam.tool();
    let out = run(fam, args).map_err(|e| {
        NetError::io(
            format!(
                "running {tool} (install the iptables package, which provides iptables and \
                 ip6tables, or the nftables package for bridge networks)"
            ),
            e,
        )
    })?;
    if !out.status.success() {
        return Err(NetError::invalid(
            format!("{tool} rules"),
            format!(
                "{tool} {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

/// Runs one command whose failure is an answer (a check, a delete of what may not
/// be there, a tool that is not installed).
fn ipt_ok(fam: Family, args: &[&str]) -> bool {
    run(fam, args).is_ok_and(|o| o.status.success())
}

/// A chain of berth's, created empty or emptied.
fn fresh_chain(fam: Family, c: &Chain) -> Result<()> {
    if ipt_ok(fam, &["-t", c.table, "-N", &c.name]) {
        return Ok(());
    }
    ipt(fam, &["-t", c.table, "-F", &c.name])
}

/// Inserts the jump from the built-in chain first, unless it is there.
fn jump(fam: Family, c: &Chain) -> Result<()> {
    if ipt_ok(fam, &["-t", c.table, "-C", c.from, "-j", &c.name]) {
        return Ok(());
    }
    ipt(fam, &["-t", c.table, "-I", c.from, "-j", &c.name])
}

/// Removes a chain and every jump to it; nothing there is not an error.
fn drop_chain(fam: Family, c: &Chain) {
    while ipt_ok(fam, &["-t", c.table, "-D", c.from, "-j", &c.name]) {}
    if ipt_ok(fam, &["-t", c.table, "-F", &c.name]) {
        let _ = ipt_ok(fam, &["-t", c.table, "-X", &c.name]);
    }
}

/// (Re)writes `chains` with `rules`, each tagged with `comment`, then jumps to them.
fn install(fam: Family, chains: &[Chain], rules: &[Rule], comment: &str) -> Result<()> {
    for c in chains {
        fresh_chain(fam, c)?;
    }
    for r in rules {
        let c = &chains[r.chain];
        let mut a = vec!["-t", c.table, "-A", &c.name];
        a.extend(r.args.iter().map(String::as_str));
        a.extend_from_slice(&["-m", "comment", "--comment", comment]);
        ipt(fam, &a)?;
    }
    for c in chains {
        jump(fam, c)?;
    }
    Ok(())
}

fn uninstall(fam: Family, chains: &[Chain]) {
    for c in chains {
        drop_chain(fam, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One rule as `iptables -S` would start it: `-A <chain> <args>`.
    pub(super) fn shown(chains: &[Chain], rules: &[Rule]) -> Vec<String> {
        rules
            .iter()
            .map(|r| format!("-A {} {}", chains[r.chain].name, r.args.join(" ")))
            .collect()
    }

    #[test]
    fn families() {
        assert_eq!(Family::each(false), &[Family::V4]);
        assert_eq!(Family::each(true), &[Family::V4, Family::V6]);
        assert_eq!(Family::of("fd00::1".parse().unwrap()).tool(), "ip6tables");
        assert_eq!(Family::of("10.0.0.1".parse().unwrap()).tool(), "iptables");
    }
}
