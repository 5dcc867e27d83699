//! A container's settings in the shapes Docker's API and `inspect` use (`Config`,
//! `HostConfig`), stored as JSON in the container's database row. Keeping Docker's
//! shapes makes `inspect` and a later Engine API a matter of serialising.

mod config;
mod host;

pub use config::{ContainerConfig, Empty, Healthcheck};
pub use host::{
    DeviceMapping, HostConfig, LogConfig, MountSpec, MountType, PortBinding, RestartPolicy, Ulimit,
};

use serde::{Deserialize, Serialize};

/// Everything `create` decided, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Settings {
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// Volumes this container mounts, resolved at create time (named and anonymous):
    /// `(volume name, destination, read_only)`.
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    /// The bridge networks it joins at start, in interface order (`eth0` first),
    /// with Docker's per-network endpoint settings. `None` in rows written before
    /// several networks existed: see [`Settings::endpoints`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<EndpointConfig>>,
}

impl Settings {
    /// The container's bridge networks in order: the recorded list, or for an
    /// older row its one `NetworkMode` network and `--ip`.
    pub fn endpoints(&self) -> Vec<EndpointConfig> {
        let h = &self.host_config;
        match &self.networks {
            Some(n) => n.clone(),
            None if berth_network::is_bridge_mode(&h.network_mode) => vec![EndpointConfig {
                network: h.network_mode.clone(),
                ipv4_address: h.ipv4_address.clone(),
                ..Default::default()
            }],
            None => Vec::new(),
        }
    }
}

/// One network a container is (to be) connected to: Docker's `EndpointSettings`
/// as `--network`, `--network-alias`, `--ip`, `--ip6`, `--mac-address` and `network
/// connect --alias --ip --ip6` give them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfig {
    /// The network's name.
    pub network: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    /// `--ip6` / `network connect --ip6`: on a network created with `--ipv6`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeMount {
    pub name: String,
    pub destination: String,
    pub read_only: bool,
    /// `nocopy`: do not populate the volume from the image.
    #[serde(default)]
    pub no_copy: bool,
}
