//! What the engine tells the monitor: one JSON file per container start.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorConfig {
    pub id: String,
    /// Argv prefix of the OCI runtime, e.g. `["/usr/local/bin/berth", "runtime", "--root", "/run/berth/runtime"]`.
    pub runtime: Vec<String>,
    pub bundle: PathBuf,
    pub run_dir: PathBuf,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default)]
    pub wait_for_attach: bool,
    #[serde(default)]
    pub oom_file: Option<PathBuf>,
    #[serde(default)]
    pub cleanup: Vec<String>,
    /// Published ports the kernel cannot DNAT (IPv6 loopback), relayed by the
    /// monitor for as long as it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<ProxyConfig>,
    /// Host ports published by DNAT, bound (never listened on) by the monitor for
    /// as long as it runs, so no host process can take them meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<HoldConfig>,
}

/// A host port to hold: `udp` false for TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldConfig {
    pub addr: std::net::SocketAddr,
    #[serde(default)]
    pub udp: bool,
}

/// One userland TCP relay: connections accepted on `listen` go to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyConfig {
    pub listen: std::net::SocketAddr,
    pub target: std::net::SocketAddr,
}

impl MonitorConfig {
    pub fn load(path: &Path) -> std::io::Result<MonitorConfig> {
        let text = std::fs::read(path)?;
        serde_json::from_slice(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LogDriver {
    #[default]
    #[serde(rename = "json-file")]
    JsonFile,
    #[serde(rename = "none")]
    None,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogConfig {
    #[serde(default)]
    pub driver: LogDriver,
    #[serde(default)]
    pub path: PathBuf,
    /// Bytes; 0 means no rotation.
    #[serde(default)]
    pub max_size: u64,
    /// Files kept including the live one; 0 or 1 keeps no rotated file.
    #[serde(default)]
    pub max_file: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RestartName {
    #[default]
    #[serde(rename = "no", alias = "")]
    No,
    #[serde(rename = "on-failure")]
    OnFailure,
    #[serde(rename = "always")]
    Always,
    #[serde(rename = "unless-stopped")]
    UnlessStopped,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestartPolicy {
    #[serde(default)]
    pub name: RestartName,
    /// Only for `on-failure`; 0 means unlimited.
    #[serde(default)]
    pub max_retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    None,
    Kill,
    Restart,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthConfig {
    /// An OCI process JSON for `<runtime> exec --process`.
    pub process_file: PathBuf,
    pub interval_ns: u64,
    #[serde(default)]
    pub timeout_ns: u64,
    #[serde(default)]
    pub start_period_ns: u64,
    #[serde(default)]
    pub start_interval_ns: u64,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_defaults() {
        let c: MonitorConfig = serde_json::from_str(
            r#"{"id":"x","runtime":["rt"],"bundle":"/b","run_dir":"/r",
                "log":{"driver":"none"},"restart":{"name":"on-failure","max_retries":2}}"#,
        )
        .unwrap();
        assert_eq!(c.log.driver, LogDriver::None);
        assert_eq!(c.restart.name, RestartName::OnFailure);
        assert_eq!(c.restart.max_retries, 2);
        assert!(!c.tty && c.healthcheck.is_none() && c.cleanup.is_empty());
        let back = serde_json::to_string(&c).unwrap();
        assert!(back.contains(r#""driver":"none""#), "{back}");
    }
}
