//! A container's bridge networks: connecting them at start (and undoing that),
//! the /etc files' view of them, and `network connect` / `network disconnect`,
//! live on a running container or recorded for the next start of a stopped one.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use berth_network::{Endpoint, EndpointRequest};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::etc_files::{self, Networking};
use crate::model::{EndpointConfig, Settings};
use crate::records::{self, Container};

/// Whether the container has (or may hold) bridge endpoints to release.
pub fn has_bridge_network(s: &Settings) -> bool {
    berth_network::is_bridge_mode(&s.host_config.network_mode) || !s.endpoints().is_empty()
}

/// The host's own address as `host-gateway` means it for a container without a
/// bridge network: the source address of the host's default route (connecting a
/// UDP socket sends nothing; it only asks the kernel for the route), else
/// loopback, which is the host too in the host's network.
fn host_address() -> Option<Ipv4Addr> {
    let routed = || {
        let s = UdpSocket::bind("0.0.0.0:0").ok()?;
        s.connect("192.0.2.1:9").ok()?;
        match s.local_addr().ok()?.ip() {
            std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
            _ => None,
        }
    };
    routed().or(Some(Ipv4Addr::LOCALHOST))
}

/// A container's addresses for /etc/hosts: each network's IPv4 one, then the IPv6
/// ones of its `--ipv6` networks, as Docker lists them.
fn addresses(
    per_network: impl Iterator<Item = (Ipv4Addr, Option<std::net::Ipv6Addr>)>,
) -> Vec<IpAddr> {
    let (v4, v6): (Vec<_>, Vec<_>) = per_network.unzip();
    v4.into_iter()
        .map(IpAddr::V4)
        .chain(v6.into_iter().flatten().map(IpAddr::V6))
        .collect()
}

/// The names the embedded DNS answers for a container on a network, as Docker's
/// `DNSNames`: its name, the network's aliases, its short id and its hostname.
fn dns_names(c: &Container, ep: &EndpointConfig) -> Vec<String> {
    let mut names = vec![c.name.trim_start_matches('/').to_string()];
    names.extend(ep.aliases.iter().cloned());
    names.push(c.short_id().to_string());
    names.push(c.settings.config.hostname.clone());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.to_ascii_lowercase()));
    names
}

impl Engine {
    /// `berth network dns-serve` on this engine's store and run root.
    fn dns_server_argv(&self) -> Vec<String> {
        vec![
            self.exe().to_string_lossy().into_owned(),
            "--root".into(),
            self.layout().store_root.to_string_lossy().into_owned(),
            "--runroot".into(),
            self.layout().run_root.to_string_lossy().into_owned(),
            "network".into(),
            "dns-serve".into(),
        ]
    }

    fn endpoint_request(&self, c: &Container, ep: &EndpointConfig) -> Result<EndpointRequest> {
        let ip =
            match ep.ipv4_address.as_str() {
                "" => None,
                s => Some(s.parse().map_err(|_| {
                    EngineError::invalid(format!("--ip {s}"), "not an IPv4 address")
                })?),
            };
        let ip6 =
            match ep.ipv6_address.as_str() {
                "" => None,
                s => Some(s.parse().map_err(|_| {
                    EngineError::invalid(format!("--ip6 {s}"), "not an IPv6 address")
                })?),
            };
        Ok(EndpointRequest {
            network: ep.network.clone(),
            ip,
            ip6,
            mac: (!ep.mac_address.is_empty()).then(|| ep.mac_address.clone()),
            dns_names: dns_names(c, ep),
            dns_servers: c.settings.host_config.dns.clone(),
        })
    }

    /// Connects a container's bridge networks before its start (see
    /// [`berth_network::attach`]); nothing for `none`, `host` and `container:`.
    pub(crate) fn connect(&self, c: &Container) -> Result<Vec<Endpoint>> {
        if !berth_network::is_bridge_mode(&c.settings.host_config.network_mode) {
            return Ok(Vec::new());
        }
        let reqs = c
            .settings
            .endpoints()
            .iter()
            .map(|ep| self.endpoint_request(c, ep))
            .collect::<Result<Vec<_>>>()?;
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let (eps, notices) = berth_network::attach(
            self.db(),
            &self.layout().run_root,
            &c.id,
            &reqs,
            &self.dns_server_argv(),
        )?;
        for n in notices {
            eprintln!("berth: {n}");
        }
        Ok(eps)
    }

    /// Undoes [`Engine::connect`], reporting what fails: the published ports, the
    /// veth pairs, the namespace (to the network's pool when it may serve again),
    /// the addresses.
    pub(crate) fn disconnect(&self, c: &Container) {
        if let Err(e) = self.release_network(c, true) {
            eprintln!("berth: disconnecting container {}: {e}", c.short_id());
        }
    }

    /// [`Engine::disconnect`], returning the error. `may_pool`: the container's
    /// processes are known to be gone (not so for a container whose monitor was
    /// killed: its init may live on in the namespace).
    pub(crate) fn release_network(&self, c: &Container, may_pool: bool) -> Result<()> {
        if has_bridge_network(&c.settings) {
            self.unpublish(c);
            let reusable = may_pool && self.namespace_reusable(c);
            berth_network::detach(self.db(), &self.layout().run_root, &c.id, reusable)?;
        }
        Ok(())
    }

    /// Whether the container's network namespace is as berth made it, so another
    /// container may take it over: the container could not change it (no
    /// CAP_NET_ADMIN, no `net.*` sysctls) and no other container joined it
    /// (`--network container:ID`, even a stopped one, which may start again).
    fn namespace_reusable(&self, c: &Container) -> bool {
        let hc = &c.settings.host_config;
        let net_admin = |cap: &String| {
            let cap = cap.to_ascii_uppercase();
            matches!(cap.trim_start_matches("CAP_"), "NET_ADMIN" | "ALL")
        };
        if hc.privileged
            || hc.cap_add.iter().any(net_admin)
            || hc
                .sysctls
                .keys()
                .any(|k| k.starts_with("net.") || k.starts_with("net/"))
        {
            return false;
        }
        matches!(crate::records::network_joined(self.db(), &c.id), Ok(false))
    }

    /// What the /etc files say of the container's networks: its addresses,
    /// `host-gateway` (its first network's gateway, else the host's address) and
    /// the embedded DNS (on its first network that has one).
    pub(crate) fn etc_networking(&self, eps: &[Endpoint]) -> Networking {
        Networking {
            ips: addresses(eps.iter().map(|e| (e.ip, e.v6.map(|v| v.ip)))),
            host_gateway: eps.first().map(|e| e.gateway).or_else(host_address),
            dns: eps.iter().find(|e| e.network.has_dns()).map(|e| e.gateway),
        }
    }

    /// The /etc files' view from the recorded allocations (a running container).
    fn recorded_networking(&self, c: &Container) -> Result<Networking> {
        let eps = berth_network::endpoints_of(self.db(), &c.id)?;
        let dns = match eps.iter().find(|(n, _)| n.has_dns()) {
            Some((n, _)) => Some(n.gateway()?),
            None => None,
        };
        Ok(Networking {
            ips: addresses(eps.iter().map(|(_, a)| (a.ip, a.ip6))),
            host_gateway: match eps.first() {
                Some((n, _)) => Some(n.gateway()?),
                None => host_address(),
            },
            dns,
        })
    }

    /// After a live connect or disconnect: /etc/hosts lists the addresses it has
    /// now, and /etc/resolv.conf follows when its embedded DNS server changed (as
    /// Docker starts its resolver when a container joins its first user-defined
    /// network). An unchanged resolv.conf is left alone, with any edits made in it.
    fn refresh_etc(&self, c: &Container, s: &Settings, dns_before: Option<Ipv4Addr>) -> Result<()> {
        let n = self.recorded_networking(c)?;
        let dir = self.layout().container_dir(&c.id);
        etc_files::rewrite_hosts(&dir, s, &n)?;
        if n.dns != dns_before {
            etc_files::rewrite_resolv_conf(&dir, s, n.dns)?;
        }
        Ok(())
    }

    fn live_netns(&self, c: &Container) -> bool {
        c.state.status.is_active()
            && berth_network::netns::is_mounted(&berth_network::netns::path(
                &self.layout().run_root,
                &c.id,
            ))
    }

    /// `rename`: the new name, and the DNS records that carry it at once.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        crate::names::validate_name(new_name)?;
        let c = self.find(key)?;
        records::rename(self.db(), &c.id, new_name)?;
        let renamed = Container {
            name: new_name.to_string(),
            ..c.clone()
        };
        let eps = renamed.settings.endpoints();
        berth_network::rename_endpoints(self.db(), &self.layout().run_root, &c.id, |net| {
            let ep = eps
                .iter()
                .find(|e| e.network == net.name)
                .cloned()
                .unwrap_or_default();
            dns_names(&renamed, &ep)
        })?;
        Ok(())
    }

    /// `network connect [--alias A] [--ip IP] [--ip6 IP6] NET CTR`: recorded in the
    /// container's settings, and on a running container a new `ethN` at once (with
    /// its /etc/hosts lines and DNS records).
    pub fn network_connect(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
        ip: Option<&str>,
        ip6: Option<&str>,
    ) -> Result<()> {
        let c = self.find(container)?;
        let mode = &c.settings.host_config.network_mode;
        if !berth_network::is_bridge_mode(mode) {
            return Err(EngineError::invalid(
                format!("container {}", c.name),
                format!(
                    "it uses --network {mode}: a container sharing the host's or another \
                     container's network, or without one (none), cannot be connected to \
                     other networks"
                ),
            ));
        }
        let mut ep = EndpointConfig {
            network: network.to_string(),
            aliases: aliases.to_vec(),
            ipv4_address: ip.unwrap_or_default().to_string(),
            ipv6_address: ip6.unwrap_or_default().to_string(),
            mac_address: String::new(),
        };
        self.check_endpoint(&mut ep)?;
        let mut eps = c.settings.endpoints();
        if eps.iter().any(|e| e.network == ep.network) {
            return Err(berth_network::NetError::Endpoint(format!(
                "endpoint with name {} already exists in network {}",
                c.name, ep.network
            ))
            .into());
        }
        eps.push(ep.clone());
        let mut s = c.settings.clone();
        s.networks = Some(eps);
        records::update_settings(self.db(), &c.id, &s)?;
        if !self.live_netns(&c) {
            return Ok(());
        }
        let dns_before = self.recorded_networking(&c)?.dns;
        let req = self.endpoint_request(&c, &ep)?;
        let live = berth_network::connect_running(
            self.db(),
            &self.layout().run_root,
            &c.id,
            &req,
            &self.dns_server_argv(),
        );
        let notices = match live {
            Ok((_, n)) => n,
            Err(e) => {
                records::update_settings(self.db(), &c.id, &c.settings)?;
                return Err(e.into());
            }
        };
        for n in notices {
            eprintln!("berth: {n}");
        }
        self.refresh_etc(&c, &s, dns_before)
    }

    /// `network disconnect [-f] NET CTR`: removed from the container's settings and,
    /// on a running container, its interface on that network goes at once. `force`
    /// also releases an address the settings no longer name (a stale endpoint).
    pub fn network_disconnect(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let c = self.find(container)?;
        let net = berth_network::records::find(self.db(), network)?;
        let mut eps = c.settings.endpoints();
        let before = eps.len();
        eps.retain(|e| e.network != net.name && e.network != net.id);
        let held = berth_network::ipam::of_container(self.db(), &c.id)?
            .iter()
            .any(|a| a.network_id == net.id);
        if eps.len() == before && !(force && held) {
            return Err(berth_network::NetError::Endpoint(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            ))
            .into());
        }
        let mut s = c.settings.clone();
        s.networks = Some(eps);
        records::update_settings(self.db(), &c.id, &s)?;
        let dns_before = self.recorded_networking(&c)?.dns;
        if held {
            berth_network::disconnect_running(self.db(), &self.layout().run_root, &c.id, &net)?;
        }
        if self.live_netns(&c) {
            self.refresh_etc(&c, &s, dns_before)?;
        }
        Ok(())
    }
}
