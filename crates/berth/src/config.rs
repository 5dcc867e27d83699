//! The command line's own settings in berth.toml (the file the registry client also
//! reads, `/etc/berth/berth.toml` or `$BERTH_CONFIG`):
//!
//! ```toml
//! [network]
//! # What --network is when it is not given: bridge (Docker's default), none, host,
//! # or a network's name. Podman's containers.conf `netns` plays this part.
//! default = "bridge"
//! # What `-p`/`-P` may publish (see publish_policy.rs): "all" (Docker's behaviour),
//! # "localhost" (loopback addresses only) or "none".
//! publish = "all"
//! # The host address a `-p` without one publishes on, as dockerd's `ip` setting:
//! # "127.0.0.1" keeps ports off other hosts unless a `-p` names an address.
//! publish_address = "0.0.0.0"
//! # Which packet filter holds berth's NAT, isolation and published-port rules:
//! # "auto" (nftables when the nft tool is installed, else iptables), "nftables" or
//! # "iptables". Change it only with no container running: rules are removed by
//! # the backend that is current then.
//! firewall = "auto"
//! ```

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    network: NetworkSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    #[serde(default = "bridge")]
    pub default: String,
    #[serde(default)]
    pub publish: crate::publish_policy::Policy,
    #[serde(default)]
    pub publish_address: Option<std::net::IpAddr>,
    #[serde(default, deserialize_with = "firewall")]
    pub firewall: Option<berth_network::firewall::Backend>,
}

fn firewall<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<berth_network::firewall::Backend>, D::Error> {
    let v = String::deserialize(d)?;
    berth_network::firewall::parse(&v).map_err(serde::de::Error::custom)
}

fn bridge() -> String {
    berth_network::DEFAULT_NETWORK.to_string()
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            default: bridge(),
            publish: Default::default(),
            publish_address: None,
            firewall: None,
        }
    }
}

fn parse(text: &str) -> Result<NetworkSection, toml::de::Error> {
    toml::from_str::<File>(text).map(|f| f.network)
}

/// Hands berth.toml's `firewall` to the network code and to the processes this one
/// starts (the monitor removes a container's rules), unless `BERTH_FIREWALL` already
/// says. A malformed file is left for the commands that read it to report.
pub fn export_firewall() {
    use berth_network::firewall::{Backend, ENV};
    if std::env::var_os(ENV).is_some() {
        return;
    }
    if let Ok(NetworkSection {
        firewall: Some(b), ..
    }) = network()
    {
        let name = match b {
            Backend::Nftables => "nftables",
            Backend::Iptables => "iptables",
        };
        // Called first thing in main, before any thread exists.
        std::env::set_var(ENV, name);
    }
}

/// The `[network]` section; a missing file gives the defaults, a malformed one an
/// error naming it.
pub fn network() -> anyhow::Result<NetworkSection> {
    // Read once per process: `run` asks for it at start, for the default network
    // and for the publish policy.
    static READ: std::sync::OnceLock<NetworkSection> = std::sync::OnceLock::new();
    if let Some(n) = READ.get() {
        return Ok(n.clone());
    }
    let n = read_network()?;
    Ok(READ.get_or_init(|| n).clone())
}

fn read_network() -> anyhow::Result<NetworkSection> {
    let path = berth_distribution::client::config::config_path();
    match std::fs::read_to_string(&path) {
        Ok(t) => parse(&t).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NetworkSection::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_network() {
        assert_eq!(parse("").unwrap().default, "bridge");
        assert_eq!(parse("[registries]\n").unwrap().default, "bridge");
        assert_eq!(
            parse("[network]\ndefault = \"none\"\n").unwrap().default,
            "none"
        );
        assert!(parse("[network]\ndefault = 3\n").is_err());
        let n =
            parse("[network]\npublish = \"localhost\"\npublish_address = \"127.0.0.1\"\n").unwrap();
        assert_eq!(n.publish, crate::publish_policy::Policy::Localhost);
        assert_eq!(n.publish_address, Some([127, 0, 0, 1].into()));
        assert!(parse("[network]\npublish = \"open\"\n").is_err());
        assert!(parse("[network]\npublish_address = \"localhost\"\n").is_err());
        assert!(
            parse("[network]\npubish = \"all\"\n").is_err(),
            "typos are errors"
        );
    }
}
