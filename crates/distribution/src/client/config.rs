//! `/etc/berth/berth.toml` (or `$BERTH_CONFIG`): per-registry settings, as Docker's
//! daemon.json `insecure-registries` and `registry-mirrors` but keyed by registry.
//!
//! ```toml
//! [registries."127.0.0.1:5000"]
//! insecure = true
//! [registries."docker.io"]
//! mirrors = ["127.0.0.1:5001"]
//! [images]
//! keep_layer_blobs = true   # the default
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::error::{ClientError, Result};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BerthConfig {
    #[serde(default)]
    pub registries: HashMap<String, RegistrySettings>,
    #[serde(default)]
    pub images: ImageSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageSettings {
    /// Keep each layer's compressed blob (as pulled, or as last pushed) beside its
    /// unpacked tree, so `push` sends those bytes instead of recompressing. Costs the
    /// compressed size again on disk; off means every push gzips every layer.
    #[serde(default = "yes")]
    pub keep_layer_blobs: bool,
}

impl Default for ImageSettings {
    fn default() -> Self {
        ImageSettings {
            keep_layer_blobs: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistrySettings {
    /// Accept plain HTTP and unverifiable certificates.
    #[serde(default)]
    pub insecure: bool,
    /// Hosts tried, in order, before the registry itself when pulling.
    #[serde(default)]
    pub mirrors: Vec<String>,
}

pub fn config_path() -> PathBuf {
    std::env::var_os("BERTH_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/berth/berth.toml"))
}

impl BerthConfig {
    /// A missing file is an empty config; a malformed one is an error (silently
    /// ignoring an `insecure` the user wrote would be a confusing failure later).
    pub fn load() -> Result<BerthConfig> {
        let path = config_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(ClientError::Config {
                    path: path.display().to_string(),
                    why: e.to_string(),
                })
            }
        };
        Self::parse(&text).map_err(|why| ClientError::Config {
            path: path.display().to_string(),
            why,
        })
    }

    pub fn parse(text: &str) -> std::result::Result<BerthConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn registry(&self, host: &str) -> RegistrySettings {
        self.registries.get(host).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_insecure_and_mirrors() {
        let c = BerthConfig::parse(
            "[registries.\"127.0.0.1:5000\"]\ninsecure = true\n[registries.\"docker.io\"]\nmirrors = [\"127.0.0.1:5001\"]\n",
        )
        .unwrap();
        assert!(c.registry("127.0.0.1:5000").insecure);
        assert_eq!(c.registry("docker.io").mirrors, vec!["127.0.0.1:5001"]);
        assert!(!c.registry("quay.io").insecure);
        assert!(c.images.keep_layer_blobs, "keeping blobs is the default");
    }

    #[test]
    fn keeping_layer_blobs_can_be_turned_off() {
        let c = BerthConfig::parse("[images]\nkeep_layer_blobs = false\n").unwrap();
        assert!(!c.images.keep_layer_blobs);
        assert!(
            BerthConfig::parse("[images]\n")
                .unwrap()
                .images
                .keep_layer_blobs
        );
    }
}
