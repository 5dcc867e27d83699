//! `create`: the user's settings merged with the image's defaults (Docker's rules for
//! Env, Entrypoint/Cmd, WorkingDir, User, Labels, Volumes, ExposedPorts, StopSignal,
//! Healthcheck), a new id and name, volumes, the database row and the rootfs snapshot.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::Engine;
use crate::error::{EngineError, IoContext, Result};
use crate::model::{
    ContainerConfig, Empty, EndpointConfig, Healthcheck, HostConfig, MountType, Settings,
    VolumeMount,
};
use crate::records::{self, Container};
use crate::state::ContainerState;
use crate::{names, volumes};

pub struct CreateRequest {
    pub name: Option<String>,
    /// `Image` names the image; `Cmd`/`Entrypoint` are `None` when not given
    /// (`Some(vec![])` for `--entrypoint ""`).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// Every `--network` in order with its endpoint settings (empty: the one
    /// network of `HostConfig.NetworkMode`, with `--ip`).
    pub networks: Vec<EndpointConfig>,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Docker's merge of the image config (`config` object of the image JSON) under the
/// user's settings.
pub fn merge(image: &Value, user: &ContainerConfig) -> ContainerConfig {
    let mut c = user.clone();
    // Env: the image's, then the user's, a later KEY replacing an earlier one.
    let mut env: Vec<String> = strings(&image["Env"]).unwrap_or_default();
    for e in &user.env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    c.env = env;
    // A new entrypoint drops the image's Cmd, as in Docker.
    match &user.entrypoint {
        Some(ep) => {
            c.entrypoint = if ep.len() == 1 && ep[0].is_empty() {
                Some(vec![])
            } else {
                Some(ep.clone())
            };
            if user.cmd.as_ref().is_none_or(|v| v.is_empty()) {
                c.cmd = None;
            }
        }
        None => {
            c.entrypoint = strings(&image["Entrypoint"]);
            if user.cmd.as_ref().is_none_or(|v| v.is_empty()) {
                c.cmd = strings(&image["Cmd"]);
            }
        }
    }
    if c.working_dir.is_empty() {
        c.working_dir = image["WorkingDir"].as_str().unwrap_or_default().to_string();
    }
    if c.user.is_empty() {
        c.user = image["User"].as_str().unwrap_or_default().to_string();
    }
    let mut labels: BTreeMap<String, String> = image["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels.extend(user.labels.clone());
    c.labels = labels;
    let mut vols: BTreeMap<String, Empty> = keys(&image["Volumes"])
        .into_iter()
        .map(|k| (k, Empty {}))
        .collect();
    vols.extend(user.volumes.clone().unwrap_or_default());
    c.volumes = (!vols.is_empty()).then_some(vols);
    let mut ports: BTreeMap<String, Empty> = keys(&image["ExposedPorts"])
        .into_iter()
        .map(|k| (k, Empty {}))
        .collect();
    ports.extend(user.exposed_ports.clone().unwrap_or_default());
    c.exposed_ports = (!ports.is_empty()).then_some(ports);
    if c.stop_signal.is_none() {
        c.stop_signal = image["StopSignal"].as_str().map(str::to_string);
    }
    c.healthcheck = merge_health(&image["Healthcheck"], user.healthcheck.as_ref());
    c
}

fn merge_health(image: &Value, user: Option<&Healthcheck>) -> Option<Healthcheck> {
    let img: Option<Healthcheck> = serde_json::from_value(image.clone()).ok();
    match (img, user) {
        (None, None) => None,
        (Some(i), None) => Some(i),
        (None, Some(u)) => Some(u.clone()),
        (Some(i), Some(u)) => {
            let pick = |a: i64, b: i64| if a != 0 { a } else { b };
            Some(Healthcheck {
                test: if u.test.is_empty() {
                    i.test
                } else {
                    u.test.clone()
                },
                interval: pick(u.interval, i.interval),
                timeout: pick(u.timeout, i.timeout),
                start_period: pick(u.start_period, i.start_period),
                start_interval: pick(u.start_interval, i.start_interval),
                retries: pick(u.retries, i.retries),
            })
        }
    }
}

impl Engine {
    /// Checks one network a container names (`--network` or `network connect`):
    /// it exists (`bridge` is made on first use; Docker fails at create on an
    /// unknown network), `--ip` is in its subnet, the MAC is valid, and aliases are
    /// only on user-defined networks. Stores the network by name, so `network
    /// inspect` and `network rm` find its users.
    pub(crate) fn check_endpoint(&self, ep: &mut EndpointConfig) -> Result<()> {
        let net = berth_network::resolve(self.db(), &ep.network)?;
        if !ep.ipv4_address.is_empty() {
            let ip: std::net::Ipv4Addr = ep.ipv4_address.parse().map_err(|_| {
                EngineError::invalid(format!("--ip {}", ep.ipv4_address), "not an IPv4 address")
            })?;
            if !net.subnet()?.is_host(ip) {
                return Err(EngineError::invalid(
                    format!("--ip {ip}"),
                    format!("not in network {}'s subnet {}", net.name, net.subnet),
                ));
            }
        }
        if !ep.ipv6_address.is_empty() {
            let ip6: std::net::Ipv6Addr = ep.ipv6_address.parse().map_err(|_| {
                EngineError::invalid(format!("--ip6 {}", ep.ipv6_address), "not an IPv6 address")
            })?;
            berth_network::ipam::check_ip6(&net, ip6)?;
        }
        if !ep.mac_address.is_empty() {
            ep.mac_address = berth_network::ipam::check_mac(&ep.mac_address)?;
        }
        if !ep.aliases.is_empty() && !net.has_dns() {
            return Err(EngineError::invalid(
                "--network-alias",
                "network-scoped aliases are supported only for containers in user-defined \
                 networks",
            ));
        }
        ep.network = net.name;
        Ok(())
    }

    pub fn create(&self, req: CreateRequest) -> Result<Container> {
        let image = self.images().resolve(&req.config.image)?;
        let image_cfg = self.images().config(&image)?;
        let mut config = merge(image_cfg.container_config(), &req.config);
        if config.entrypoint.as_ref().is_none_or(|v| v.is_empty())
            && config.cmd.as_ref().is_none_or(|v| v.is_empty())
        {
            return Err(EngineError::invalid(
                format!("container of image {}", req.config.image),
                "No command specified: the image has no Entrypoint or Cmd; give a command after the image",
            ));
        }
        let mut host_config = req.host_config;
        let mut networks = None;
        if let (true, Some(first)) = (host_config.network_mode.is_empty(), req.networks.first()) {
            host_config.network_mode = first.network.clone();
        }
        if host_config.network_mode.is_empty() {
            host_config.network_mode = "none".into();
        }
        if let Some(other) = host_config.network_mode.strip_prefix("container:") {
            // Docker's `--network container:NAME`: stored with the full id, and the
            // hostname is the other container's.
            let other = records::find(self.db(), other)?;
            if !host_config.ipv4_address.is_empty() {
                return Err(EngineError::invalid(
                    "--ip",
                    "it cannot be combined with --network container:NAME",
                ));
            }
            host_config.network_mode = format!("container:{}", other.id);
            if config.hostname.is_empty() {
                config.hostname = other.settings.config.hostname.clone();
                config.domainname = other.settings.config.domainname.clone();
            }
        } else if berth_network::is_bridge_mode(&host_config.network_mode) {
            let mut eps = req.networks.clone();
            if eps.is_empty() {
                eps.push(EndpointConfig {
                    network: host_config.network_mode.clone(),
                    ipv4_address: host_config.ipv4_address.clone(),
                    ..Default::default()
                });
            }
            for ep in &mut eps {
                self.check_endpoint(ep)?;
            }
            for (i, ep) in eps.iter().enumerate() {
                if eps[..i].iter().any(|o| o.network == ep.network) {
                    return Err(EngineError::invalid(
                        format!("--network {}", ep.network),
                        "the container is already connected to it",
                    ));
                }
            }
            host_config.network_mode = eps[0].network.clone();
            host_config.ipv4_address = eps[0].ipv4_address.clone();
            networks = Some(eps);
        } else if !host_config.ipv4_address.is_empty() {
            return Err(EngineError::invalid(
                "--ip",
                "it needs --network NAME of a bridge network",
            ));
        }
        if networks.is_none() && req.networks.len() > 1 {
            return Err(EngineError::invalid(
                "--network",
                "conflicting options: cannot attach both user-defined and non-user-defined \
                 network-modes",
            ));
        }
        if networks.is_none() && req.networks.iter().any(|e| !e.ipv6_address.is_empty()) {
            return Err(EngineError::invalid(
                "--ip6",
                "it needs --network NAME of a bridge network created with --ipv6",
            ));
        }
        if networks.is_none() {
            // none, host, container:NAME: no endpoint for these to apply to.
            if req.networks.iter().any(|e| !e.aliases.is_empty()) {
                return Err(EngineError::invalid(
                    "--network-alias",
                    "network-scoped aliases are supported only for containers in \
                     user-defined networks",
                ));
            }
            if req.networks.iter().any(|e| !e.mac_address.is_empty()) {
                return Err(EngineError::invalid(
                    "--mac-address",
                    format!(
                        "conflicting options: mac-address and the network mode {}",
                        host_config.network_mode
                    ),
                ));
            }
        }
        if host_config.log_config.kind.is_empty() {
            host_config.log_config.kind = "json-file".into();
        }
        let id = names::new_id();
        if config.hostname.is_empty() {
            config.hostname = if host_config.network_mode == "host" {
                rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned()
            } else {
                id[..12].to_string()
            };
        }
        if let Some(n) = &req.name {
            names::validate_name(n)?;
        }
        self.layout()
            .check_socket_paths(&id)
            .map_err(|why| EngineError::invalid("run root", why))?;

        // Volumes: named and anonymous from the mounts, then the image's and `-v
        // /path` ones no mount covers.
        let mut volume_mounts = Vec::new();
        let mut created_anon = Vec::new();
        let vdir = self.layout().volumes_dir();
        let result = (|| -> Result<()> {
            for m in host_config
                .mounts
                .iter()
                .filter(|m| m.kind == MountType::Volume)
            {
                let v = if m.source.is_empty() {
                    let v =
                        volumes::create(self.db(), &vdir, None, BTreeMap::new(), BTreeMap::new())?;
                    created_anon.push(v.name.clone());
                    v
                } else {
                    volumes::create(
                        self.db(),
                        &vdir,
                        Some(&m.source),
                        BTreeMap::new(),
                        BTreeMap::new(),
                    )?
                };
                volume_mounts.push(VolumeMount {
                    name: v.name,
                    destination: m.target.clone(),
                    read_only: m.read_only,
                    no_copy: m.no_copy,
                });
            }
            let covered = |p: &str| {
                let p = p.trim_end_matches('/');
                host_config
                    .mounts
                    .iter()
                    .any(|m| m.target.trim_end_matches('/') == p)
                    || host_config
                        .tmpfs
                        .keys()
                        .any(|t| t.trim_end_matches('/') == p)
            };
            for p in config.volumes.iter().flat_map(|v| v.keys()) {
                if covered(p) {
                    continue;
                }
                let v = volumes::create(self.db(), &vdir, None, BTreeMap::new(), BTreeMap::new())?;
                created_anon.push(v.name.clone());
                volume_mounts.push(VolumeMount {
                    name: v.name,
                    destination: p.clone(),
                    read_only: false,
                    no_copy: false,
                });
            }
            Ok(())
        })();
        let undo_volumes = |anon: &[String]| {
            for v in anon {
                let _ = volumes::remove(self.db(), &vdir, v, true);
            }
        };
        if let Err(e) = result {
            undo_volumes(&created_anon);
            return Err(e);
        }

        let settings = Settings {
            config,
            host_config,
            volume_mounts,
            networks,
        };
        let mut container = Container {
            id: id.clone(),
            name: String::new(),
            image_id: image.id.clone(),
            image: req.config.image.clone(),
            created: berth_image::store::now(),
            settings,
            state: ContainerState::default(),
        };
        let inserted = match &req.name {
            Some(n) => {
                container.name = n.clone();
                records::insert(self.db(), &container)
            }
            None => {
                // A generated name can collide with another container's; try others.
                let mut r = Ok(());
                for attempt in 0..20 {
                    container.name = names::random_name();
                    if attempt >= 10 {
                        container.name.push_str(&format!("_{attempt}"));
                    }
                    r = records::insert(self.db(), &container);
                    if !matches!(r, Err(EngineError::NameInUse { .. })) {
                        break;
                    }
                }
                r
            }
        };
        if let Err(e) = inserted {
            undo_volumes(&created_anon);
            return Err(e);
        }
        let dir = self.layout().container_dir(&id);
        let prepared = std::fs::create_dir_all(&dir)
            .ctx(|| format!("creating {}", dir.display()))
            .and_then(|_| self.mount_rootfs(&container, &image).map(drop));
        if let Err(e) = prepared {
            let _ = self.remove(&id, true, true);
            return Err(e);
        }
        Ok(container)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> ContainerConfig {
        ContainerConfig::default()
    }

    #[test]
    fn image_defaults_apply() {
        let img = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "WorkingDir": "/w",
                         "User": "www", "Labels": {"l": "i"}, "Volumes": {"/data": {}},
                         "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT"});
        let mut u = user();
        u.env = vec!["A=2".into(), "B=3".into()];
        let c = merge(&img, &u);
        assert_eq!(c.env, vec!["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.user, "www");
        assert!(c.volumes.unwrap().contains_key("/data"));
        assert!(c.exposed_ports.unwrap().contains_key("80/tcp"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    }

    #[test]
    fn entrypoint_override_drops_image_cmd() {
        let img = json!({"Entrypoint": ["/init"], "Cmd": ["serve"]});
        let mut u = user();
        u.entrypoint = Some(vec!["/bin/echo".into()]);
        let c = merge(&img, &u);
        assert_eq!(c.entrypoint, Some(vec!["/bin/echo".to_string()]));
        assert_eq!(c.cmd, None);
        // Only a command: the image's entrypoint stays.
        let mut u = user();
        u.cmd = Some(vec!["debug".into()]);
        let c = merge(&img, &u);
        assert_eq!(c.entrypoint, Some(vec!["/init".to_string()]));
        assert_eq!(c.cmd, Some(vec!["debug".to_string()]));
        // --entrypoint "" clears it.
        let mut u = user();
        u.entrypoint = Some(vec![String::new()]);
        u.cmd = Some(vec!["ls".into()]);
        let c = merge(&img, &u);
        assert_eq!(c.entrypoint, Some(vec![]));
        assert_eq!(c.cmd, Some(vec!["ls".to_string()]));
    }

    #[test]
    fn healthcheck_merges_field_by_field() {
        let img =
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5, "Retries": 2}});
        let mut u = user();
        u.healthcheck = Some(Healthcheck {
            interval: 7,
            ..Default::default()
        });
        let h = merge(&img, &u).healthcheck.unwrap();
        assert_eq!(h.test, vec!["CMD-SHELL", "true"]);
        assert_eq!((h.interval, h.retries), (7, 2));
    }
}
