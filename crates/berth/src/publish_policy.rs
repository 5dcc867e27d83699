//! berth.toml's `[network] publish` and `publish_address`: what a container may
//! publish, checked when it is created and again when it is started (the file may
//! have changed in between).
//!
//! berth's DNAT rules never open a host firewall (see docs/networking.md), but a
//! port published on every address is still reachable from other hosts wherever the
//! firewall allows it. A host that must not expose containers by accident says
//! `publish = "localhost"` (loopback only) or `"none"`; `publish_address` changes
//! what a `-p` without an address means, as dockerd's `ip` setting does.

use std::net::IpAddr;

use anyhow::bail;
use berth_engine::model::HostConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    #[default]
    All,
    Localhost,
    None,
}

/// Refuses what the policy does not allow, naming the port and the setting.
/// `address`: where bindings that name no address go.
pub fn check(policy: Policy, hc: &HostConfig, address: Option<IpAddr>) -> anyhow::Result<()> {
    if policy == Policy::All {
        return Ok(());
    }
    let setting = "berth.toml [network] publish";
    if policy == Policy::None && (!hc.port_bindings.is_empty() || hc.publish_all_ports) {
        bail!("publishing ports is turned off on this host ({setting} = \"none\"): drop -p/-P");
    }
    if hc.publish_all_ports && !address.is_some_and(|a| a.is_loopback()) {
        bail!(
            "-P publishes on every host address, which {setting} = \"localhost\" forbids: \
             publish with -p 127.0.0.1:PORT:PORT, or set publish_address = \"127.0.0.1\""
        );
    }
    for (port, bs) in &hc.port_bindings {
        for b in bs {
            let ip = if b.host_ip.is_empty() {
                address
            } else {
                b.host_ip.trim_matches(['[', ']']).parse().ok()
            };
            if !ip.is_some_and(|a| a.is_loopback()) {
                let shown = if b.host_ip.is_empty() {
                    "every address"
                } else {
                    &b.host_ip
                };
                bail!(
                    "port {port} would be published on {shown}, which {setting} = \
                     \"localhost\" forbids: publish it on 127.0.0.1 (-p 127.0.0.1:HOST:CONTAINER)"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::model::PortBinding;
    use std::collections::BTreeMap;

    fn hc(bindings: &[(&str, &str)], all: bool) -> HostConfig {
        let mut m: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
        for (ip, port) in bindings {
            m.entry(format!("{port}/tcp"))
                .or_default()
                .push(PortBinding {
                    host_ip: ip.to_string(),
                    host_port: port.to_string(),
                });
        }
        HostConfig {
            port_bindings: m,
            publish_all_ports: all,
            ..Default::default()
        }
    }

    #[test]
    fn policies() {
        let lo: Option<IpAddr> = Some([127, 0, 0, 1].into());
        assert!(check(Policy::All, &hc(&[("", "80")], true), None).is_ok());
        assert!(check(Policy::None, &hc(&[], false), None).is_ok());
        assert!(check(Policy::None, &hc(&[("127.0.0.1", "80")], false), None).is_err());
        assert!(check(Policy::None, &hc(&[], true), lo).is_err());
        assert!(check(Policy::Localhost, &hc(&[("127.0.0.1", "80")], false), None).is_ok());
        assert!(check(Policy::Localhost, &hc(&[("[::1]", "80")], false), None).is_ok());
        assert!(check(Policy::Localhost, &hc(&[("", "80")], false), lo).is_ok());
        assert!(check(Policy::Localhost, &hc(&[("", "80")], false), None).is_err());
        assert!(check(Policy::Localhost, &hc(&[("0.0.0.0", "80")], false), lo).is_err());
        assert!(check(Policy::Localhost, &hc(&[("10.1.2.3", "80")], false), lo).is_err());
        assert!(check(Policy::Localhost, &hc(&[], true), None).is_err());
        assert!(check(Policy::Localhost, &hc(&[], true), lo).is_ok());
    }
}
