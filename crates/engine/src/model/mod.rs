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
