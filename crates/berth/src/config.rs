//! The command line's own settings in berth.toml (the file the registry client also
//! reads, `/etc/berth/berth.toml` or `$BERTH_CONFIG`):
//!
//! ```toml
//! [network]
//! # What --network is when it is not given: bridge (Docker's default), none, host,
//! # or a network's name. Podman's containers.conf `netns` plays this part.
//! default = "bridge"
//! ```

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    network: NetworkSection,
}

#[derive(Debug, Deserialize)]
pub struct NetworkSection {
    #[serde(default = "bridge")]
    pub default: String,
}

fn bridge() -> String {
    berth_network::DEFAULT_NETWORK.to_string()
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection { default: bridge() }
    }
}

fn parse(text: &str) -> Result<NetworkSection, toml::de::Error> {
    toml::from_str::<File>(text).map(|f| f.network)
}

/// The `[network]` section; a missing file gives the defaults, a malformed one an
/// error naming it.
pub fn network() -> anyhow::Result<NetworkSection> {
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
    }
}
