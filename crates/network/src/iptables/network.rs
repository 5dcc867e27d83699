//! A network's chains: masquerade of its subnet and isolation of its bridge, as
//! [`crate::nft::rules_for`] writes them, for IPv4 and (`--ipv6`) IPv6.

use super::{install, rule, uninstall, Chain, Family, Rule};
use crate::error::Result;
use crate::records::Network;

const POST: usize = 0;
const FWD: usize = 1;
const IN: usize = 2;

fn chains(net: &Network) -> [Chain; 3] {
    let id = net.short_id();
    let c = |table, from, name: &str| Chain {
        table,
        from,
        name: format!("BERTH-{name}-{id}"),
    };
    [
        c("nat", "POSTROUTING", "POST"),
        c("filter", "FORWARD", "FWD"),
        c("filter", "INPUT", "IN"),
    ]
}

/// The rules of one family: `cidr` is the family's subnet, `gw` its gateway.
fn rules(net: &Network, fam: Family, cidr: &str, gw: &str) -> Vec<Rule> {
    let br = net.bridge.as_str();
    if net.internal {
        let mut out = vec![
            rule(FWD, &["-i", br, "!", "-o", br, "-j", "DROP"]),
            rule(FWD, &["-o", br, "!", "-i", br, "-j", "DROP"]),
        ];
        if fam == Family::V6 {
            // Neighbour discovery goes to multicast and link-local addresses: without
            // it the gateway's own address could not be reached either. RETURN: past
            // the DROP below, on to the host's rules.
            for kind in ["neighbour-solicitation", "neighbour-advertisement"] {
                out.push(rule(
                    IN,
                    &[
                        "-i",
                        br,
                        "-p",
                        "ipv6-icmp",
                        "--icmpv6-type",
                        kind,
                        "-j",
                        "RETURN",
                    ],
                ));
            }
        }
        out.push(rule(IN, &["-i", br, "!", "-d", gw, "-j", "DROP"]));
        return out;
    }
    // Bridges are kept apart as under nftables: nothing forwarded from this bridge
    // to another berth or Docker bridge, except what a published port DNATed.
    // RETURN, not ACCEPT: the host's own rules still apply after.
    let mut out = vec![
        rule(
            FWD,
            &[
                "-i",
                br,
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "-j",
                "RETURN",
            ],
        ),
        rule(FWD, &["-i", br, "-o", br, "-j", "RETURN"]),
    ];
    for other in ["br-+", "berth+"] {
        out.push(rule(FWD, &["-i", br, "-o", other, "-j", "DROP"]));
    }
    out.push(rule(POST, &["-s", cidr, "!", "-o", br, "-j", "MASQUERADE"]));
    out
}

/// The network's NAT and isolation, in ip6tables too for an `--ipv6` network.
pub fn apply(net: &Network) -> Result<()> {
    let subnet = net.subnet()?;
    let mut families = vec![(
        Family::V4,
        format!("{}/{}", subnet.network(), subnet.prefix),
        net.gateway()?.to_string(),
    )];
    if let Some((s6, gw6)) = net.v6()? {
        families.push((
            Family::V6,
            format!("{}/{}", s6.network(), s6.prefix),
            gw6.to_string(),
        ));
    }
    let tag = format!("berth network {}", net.name);
    let chains = chains(net);
    for (fam, cidr, gw) in families {
        install(fam, &chains, &rules(net, fam, &cidr, &gw), &tag)?;
    }
    Ok(())
}

/// Removes the network's chains and jumps (the ip6tables ones too for an `--ipv6`
/// network). Safe to repeat.
pub fn remove(net: &Network) {
    let chains = chains(net);
    for &fam in Family::each(net.ipv6()) {
        uninstall(fam, &chains);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::shown;
    use super::*;

    /// nft's test network, with an IPv6 subnet.
    fn net(internal: bool) -> Network {
        Network {
            subnet6: "fd00:beef:1::/64".into(),
            gateway6: "fd00:beef:1::1".into(),
            ..crate::nft::tests::net(internal)
        }
    }

    #[test]
    fn v6_rules_mirror_v4_for_the_v6_subnet() {
        let n = net(false);
        let c = chains(&n);
        assert_eq!(c[POST].name, "BERTH-POST-0123456789ab");
        let v4 = shown(
            &c,
            &rules(&n, Family::V4, "10.199.250.0/24", "10.199.250.1"),
        );
        let v6 = shown(
            &c,
            &rules(&n, Family::V6, "fd00:beef:1::/64", "fd00:beef:1::1"),
        );
        assert_eq!(v4.len(), v6.len());
        assert!(v6.contains(
            &"-A BERTH-POST-0123456789ab -s fd00:beef:1::/64 ! -o br-0123456789ab -j MASQUERADE"
                .to_string()
        ));
        assert_eq!(v4[..4], v6[..4], "the same isolation");
    }

    #[test]
    fn internal_v6_lets_neighbour_discovery_in_and_never_accepts() {
        let n = net(true);
        let c = chains(&n);
        let v6 = shown(
            &c,
            &rules(&n, Family::V6, "fd00:beef:1::/64", "fd00:beef:1::1"),
        );
        let nd = v6.iter().position(|r| r.contains("neighbour-solicitation"));
        let drop = v6
            .iter()
            .position(|r| r.contains("! -d fd00:beef:1::1 -j DROP"));
        assert!(nd.is_some() && drop.is_some() && nd < drop, "{v6:?}");
        assert!(!v6.iter().any(|r| r.contains("MASQUERADE")));
        let v4 = shown(
            &c,
            &rules(&n, Family::V4, "10.199.250.0/24", "10.199.250.1"),
        );
        assert!(!v4.iter().any(|r| r.contains("icmpv6")), "{v4:?}");
        for r in v4.iter().chain(&v6) {
            assert!(r.ends_with("DROP") || r.ends_with("RETURN"), "{r}");
        }
    }
}
