//! Docker's `HostConfig`: what the container may use of the host.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Vec<String>,
    pub network_mode: String,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub shm_size: i64,
    pub sysctls: BTreeMap<String, String>,
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    pub devices: Vec<DeviceMapping>,
    pub init: Option<bool>,
    pub oom_score_adj: i64,
    pub group_add: Vec<String>,
    pub log_config: LogConfig,
    pub mounts: Vec<MountSpec>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub extra_hosts: Vec<String>,
    /// berth's own: what the monitor does when the healthcheck turns unhealthy
    /// (`none`, `kill`, `restart`), as Podman's `--health-on-failure`.
    #[serde(default)]
    pub health_on_failure: String,
    /// `--ip`: the container's address on its bridge network (Docker keeps it in
    /// `NetworkingConfig`'s IPAMConfig; berth has one network per container for now).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    /// `-p`: container port (`80/tcp`) to the host addresses it is published on.
    #[serde(default)]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `-P`: every exposed port on a free host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// berth's own: the host address for bindings that name none (berth.toml's
    /// `publish_address`, as dockerd's `ip` setting); empty means every address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub publish_address: String,
}

/// One host address a container port is published on. Empty `HostIp`: every
/// address; empty `HostPort`: a free port chosen at start; `A-B`: the first free
/// port of that range.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `""`/`no`, `on-failure`, `always`, `unless-stopped`.
    pub name: String,
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    #[default]
    Bind,
    Volume,
    Tmpfs,
}

/// One `--mount` (or `-v`/`--tmpfs`, normalised into this shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct MountSpec {
    #[serde(rename = "Type")]
    pub kind: MountType,
    #[serde(default)]
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    /// Bind propagation: `rprivate` (default), `private`, `rshared`, `shared`,
    /// `rslave`, `slave`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// Volume: do not copy the image's content into a new volume.
    #[serde(default)]
    pub no_copy: bool,
    /// Tmpfs size in bytes (0: the kernel's default) and mode (0: 1777).
    #[serde(default)]
    pub tmpfs_size: i64,
    #[serde(default)]
    pub tmpfs_mode: u32,
    /// Bind: create the host path if it is missing (`-v` does, `--mount` refuses).
    #[serde(default)]
    pub create_host_path: bool,
}
