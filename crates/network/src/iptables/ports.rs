//! A container's published ports: DNAT and the masquerades that bring replies back,
//! as [`crate::ports::rules_for`] writes them, for IPv4 and IPv6 forwards.

use std::net::SocketAddr;

use super::{install, rule, uninstall, Chain, Family, Rule};
use crate::error::{NetError, Result};
use crate::ports::Forward;
use crate::records::Network;

const PRE: usize = 0;
const OUT: usize = 1;
const PST: usize = 2;

fn short(container_id: &str) -> &str {
    &container_id[..container_id.len().min(12)]
}

fn chains(container_id: &str) -> [Chain; 3] {
    let id = short(container_id);
    let c = |from, name: &str| Chain {
        table: "nat",
        from,
        name: format!("BERTH-{name}-C{id}"),
    };
    [
        c("PREROUTING", "PRE"),
        c("OUTPUT", "OUT"),
        c("POSTROUTING", "PST"),
    ]
}

/// The rules of one family: DNAT of its forwards, then the masquerades. The
/// hairpin one matches the network's subnet of the family (`cidr`) as source:
/// iptables cannot match the input interface in POSTROUTING as nftables can.
fn rules(fam: Family, bridge: &str, cidr: &str, forwards: &[Forward]) -> Vec<Rule> {
    let mut out = Vec::new();
    for f in forwards
        .iter()
        .filter(|f| Family::of(f.container_ip) == fam)
    {
        let hp = f.host_port.to_string();
        // `[addr]:port` for IPv6, as ip6tables wants it.
        let to = SocketAddr::new(f.container_ip, f.container_port).to_string();
        let ip;
        let mut args: Vec<&str> = match f.host_ip {
            Some(a) if !a.is_unspecified() => {
                ip = a.to_string();
                vec!["-d", &ip]
            }
            _ => vec!["-m", "addrtype", "--dst-type", "LOCAL"],
        };
        if fam == Family::V6 && f.host_ip.is_none_or(|a| a.is_unspecified()) {
            // ::1 cannot be DNATed out of the host (the monitor relays it): leave it
            // to whatever listens there.
            args.extend_from_slice(&["!", "-d", "::1"]);
        }
        args.extend_from_slice(&[
            "-p",
            &f.proto,
            "--dport",
            &hp,
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ]);
        out.push(rule(PRE, &args));
        out.push(rule(OUT, &args));
    }
    let dnat = ["-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"];
    // From the host's loopback: IPv4 only, IPv6 has no route_localnet.
    let sources: &[&str] = match fam {
        Family::V4 => &["127.0.0.0/8", cidr],
        Family::V6 => &[cidr],
    };
    for src in sources {
        let mut args = vec!["-o", bridge, "-s", src];
        args.extend_from_slice(&dnat);
        out.push(rule(PST, &args));
    }
    out
}

/// The container's published ports (replacing what it had): its chains in iptables
/// always, in ip6tables too when a forward is IPv6.
pub fn publish(container_id: &str, net: &Network, forwards: &[Forward]) -> Result<()> {
    let subnet = net.subnet()?;
    let mut families = vec![(
        Family::V4,
        format!("{}/{}", subnet.network(), subnet.prefix),
    )];
    if let Some(f) = forwards.iter().find(|f| f.container_ip.is_ipv6()) {
        let Some((s6, _)) = net.v6()? else {
            return Err(NetError::invalid(
                format!("publishing port {} on IPv6", f.host_port),
                format!("network {} has no IPv6 (create it with --ipv6)", net.name),
            ));
        };
        families.push((Family::V6, format!("{}/{}", s6.network(), s6.prefix)));
    }
    let tag = format!("berth container {}", short(container_id));
    let chains = chains(container_id);
    for (fam, cidr) in families {
        install(
            fam,
            &chains,
            &rules(fam, &net.bridge, &cidr, forwards),
            &tag,
        )?;
    }
    Ok(())
}

/// Removes the container's chains and jumps (`v6`: the ip6tables ones too). Safe
/// to repeat.
pub fn unpublish(container_id: &str, v6: bool) {
    let chains = chains(container_id);
    for &fam in Family::each(v6) {
        uninstall(fam, &chains);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::shown;
    use super::*;

    fn fwd(host: Option<&str>, to: &str) -> Forward {
        Forward {
            host_ip: host.map(|s| s.parse().unwrap()),
            host_port: 18080,
            proto: "tcp".into(),
            container_ip: to.parse().unwrap(),
            container_port: 80,
        }
    }

    #[test]
    fn each_family_gets_its_own_forwards() {
        let fws = [
            fwd(None, "10.1.2.3"),
            fwd(None, "fd00:beef::2"),
            fwd(Some("fd00:1::5"), "fd00:beef::2"),
        ];
        let c = chains("feedfacefeedface");
        assert_eq!(c[PST].name, "BERTH-PST-Cfeedfacefeed");
        let v6 = shown(&c, &rules(Family::V6, "br-x", "fd00:beef::/64", &fws));
        assert_eq!(
            v6,
            [
                "-A BERTH-PRE-Cfeedfacefeed -m addrtype --dst-type LOCAL ! -d ::1 -p tcp \
                 --dport 18080 -j DNAT --to-destination [fd00:beef::2]:80",
                "-A BERTH-OUT-Cfeedfacefeed -m addrtype --dst-type LOCAL ! -d ::1 -p tcp \
                 --dport 18080 -j DNAT --to-destination [fd00:beef::2]:80",
                "-A BERTH-PRE-Cfeedfacefeed -d fd00:1::5 -p tcp --dport 18080 -j DNAT \
                 --to-destination [fd00:beef::2]:80",
                "-A BERTH-OUT-Cfeedfacefeed -d fd00:1::5 -p tcp --dport 18080 -j DNAT \
                 --to-destination [fd00:beef::2]:80",
                "-A BERTH-PST-Cfeedfacefeed -o br-x -s fd00:beef::/64 -m conntrack \
                 --ctstate DNAT -j MASQUERADE",
            ]
        );
        let v4 = shown(&c, &rules(Family::V4, "br-x", "10.1.2.0/24", &fws));
        assert_eq!(v4.len(), 4, "{v4:?}");
        assert!(v4[0].ends_with("--to-destination 10.1.2.3:80"), "{v4:?}");
        assert!(v4[2].contains("-s 127.0.0.0/8"), "{v4:?}");
    }

    #[test]
    fn ipv6_needs_an_ipv6_network() {
        let mut net = crate::nft::tests::net(false);
        net.subnet6.clear();
        let e = publish("feedfacefeedface", &net, &[fwd(None, "fd00:beef::2")]).unwrap_err();
        assert!(e.to_string().contains("has no IPv6"), "{e}");
    }
}
