//! `run`/`create` flags, as Docker spells them, turned into the engine's create
//! request (Docker's `Config` and `HostConfig` shapes).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_engine::create::CreateRequest;
use berth_engine::model::{
    ContainerConfig, Empty, EndpointConfig, Healthcheck, HostConfig, LogConfig, MountSpec,
    MountType,
};
use berth_engine::parse::{self, VolumeFlag};

#[derive(clap::Args, Debug, Default)]
pub struct CreateArgs {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables (KEY=VALUE, or KEY to pass the caller's value).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read a file of environment variables.
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image ("" clears it).
    #[arg(long, allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name.
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set metadata on the container (KEY=VALUE).
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Read a file of labels (KEY=VALUE lines).
    #[arg(long)]
    pub label_file: Vec<PathBuf>,
    /// Bind mount a volume: [SOURCE:]DEST[:ro|rw|z|Z|nocopy|PROPAGATION].
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=..,target=..,readonly.
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory: PATH[:size=..,mode=..].
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long)]
    pub read_only: bool,
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Number of CPUs (e.g. 1.5).
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options (e.g. nofile=1024:2048).
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add Linux capabilities.
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Security options: seccomp=FILE|unconfined, no-new-privileges, label=disable.
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER][:PERMS]).
    #[arg(long)]
    pub device: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    /// (the host's catatonit or tini; BERTH_INIT_PATH names another).
    #[arg(long)]
    pub init: bool,
    /// Restart policy: no, on-failure[:max-retries], always, unless-stopped.
    #[arg(long)]
    pub restart: Option<String>,
    /// Command to run to check health.
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long)]
    pub health_retries: Option<i64>,
    /// Maximum time to allow one check to run.
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown.
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period.
    #[arg(long)]
    pub health_start_interval: Option<String>,
    /// Action when the container turns unhealthy: none, kill, restart.
    #[arg(long)]
    pub health_on_failure: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Signal to stop the container.
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long, allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Logging driver: json-file (default, rotated) or none.
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Log driver options: max-size=10m, max-file=3.
    #[arg(long)]
    pub log_opt: Vec<String>,
    /// Size of /dev/shm.
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Sysctl options (KEY=VALUE).
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add additional groups to join.
    #[arg(long)]
    pub group_add: Vec<String>,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long, allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Pull image before creating: missing, always, never.
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// Write the container ID to the file.
    #[arg(long)]
    pub cidfile: Option<PathBuf>,
    /// Connect a container to a network: bridge (the default, or what berth.toml's
    /// [network] default says), none, host, container:NAME, or the name of a network
    /// from `berth network create`. Repeat it for several networks (eth0, eth1, ...
    /// in order); `name=N,alias=A,ip=IP,mac-address=M` sets them per network.
    #[arg(long, alias = "net")]
    pub network: Vec<String>,
    /// IPv4 address on the container's (first) bridge network (e.g., 172.30.0.10).
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address on the container's (first) bridge network, created with --ipv6
    /// (e.g., fd42::10).
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add a network-scoped alias for the container (on its first network).
    #[arg(long, alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Container MAC address (on its first network, e.g., 92:d0:c6:0a:29:33).
    #[arg(long)]
    pub mac_address: Option<String>,
    /// Expose a port or a range of ports.
    #[arg(long)]
    pub expose: Vec<String>,
    /// Publish a container's port(s) to the host:
    /// [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 127.0.0.1:8080:80, 8000-8001:80-81/udp.
    /// Without HOST_PORT a free port is chosen (see `berth port`).
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// Publish all exposed ports (the image's EXPOSE and --expose) to free host ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Set custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long)]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Suppress the pull output.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image to run.
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn key_values(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for i in items {
        match i.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                m.insert(k.to_string(), v.to_string());
            }
            None if !i.is_empty() => {
                m.insert(i.clone(), String::new());
            }
            _ => bail!("invalid {what} {i:?}: use KEY=VALUE"),
        }
    }
    Ok(m)
}

fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        // Docker passes the caller's value for a bare KEY, and drops it when unset.
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

fn ports(items: &[String]) -> anyhow::Result<BTreeMap<String, Empty>> {
    let mut m = BTreeMap::new();
    for p in items {
        let (range, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            bail!("invalid --expose {p:?}: the protocol is tcp, udp or sctp");
        }
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let (a, b): (u16, u16) = (
            a.parse()
                .with_context(|| format!("invalid --expose {p:?}"))?,
            b.parse()
                .with_context(|| format!("invalid --expose {p:?}"))?,
        );
        if a == 0 || b < a {
            bail!("invalid --expose {p:?}: use PORT or START-END");
        }
        for port in a..=b {
            m.insert(format!("{port}/{proto}"), Empty {});
        }
    }
    Ok(m)
}

impl CreateArgs {
    pub fn to_request(&self) -> anyhow::Result<CreateRequest> {
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(parse::parse_env_file(f)?);
        }
        env.extend(self.env.iter().filter_map(|e| env_entry(e)));
        let mut labels = BTreeMap::new();
        for f in &self.label_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading label file {}", f.display()))?;
            let lines: Vec<String> = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect();
            labels.extend(key_values(&lines, "label")?);
        }
        labels.extend(key_values(&self.label, "label")?);

        let mut mounts: Vec<MountSpec> = Vec::new();
        let mut anon_volumes = BTreeMap::new();
        let mut binds = Vec::new();
        for v in &self.volume {
            match parse::parse_volume(v)? {
                VolumeFlag::Mount(m) => {
                    binds.push(v.clone());
                    mounts.push(m)
                }
                VolumeFlag::Anonymous { target, read_only } => {
                    if read_only {
                        mounts.push(MountSpec {
                            kind: MountType::Volume,
                            target,
                            read_only,
                            ..Default::default()
                        });
                    } else {
                        anon_volumes.insert(target, Empty {});
                    }
                }
            }
        }
        for m in &self.mount {
            mounts.push(parse::parse_mount(m)?);
        }
        for t in &self.tmpfs {
            mounts.push(parse::parse_tmpfs(t)?);
        }

        let dur = |s: &Option<String>| -> anyhow::Result<i64> {
            Ok(match s {
                Some(s) => parse::parse_duration_ns(s)?,
                None => 0,
            })
        };
        let healthcheck = if self.no_healthcheck {
            if self.health_cmd.is_some() {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            Some(Healthcheck {
                test: vec!["NONE".into()],
                ..Default::default()
            })
        } else {
            let h = Healthcheck {
                test: self
                    .health_cmd
                    .as_ref()
                    .map(|c| vec!["CMD-SHELL".to_string(), c.clone()])
                    .unwrap_or_default(),
                interval: dur(&self.health_interval)?,
                timeout: dur(&self.health_timeout)?,
                start_period: dur(&self.health_start_period)?,
                start_interval: dur(&self.health_start_interval)?,
                retries: self.health_retries.unwrap_or(0),
            };
            (h != Healthcheck::default()).then_some(h)
        };
        let size = |s: &Option<String>| -> anyhow::Result<i64> {
            Ok(match s.as_deref() {
                Some("-1") => -1,
                Some(s) => parse::parse_size(s)?,
                None => 0,
            })
        };
        let networks = self.endpoints()?;
        let network = networks
            .first()
            .map(|e| e.network.clone())
            .unwrap_or_default();
        if network.starts_with("container:")
            && (self.hostname.is_some() || !self.dns.is_empty() || !self.add_host.is_empty())
        {
            bail!(
                "conflicting options: --network {network} shares that container's network, \
                 its hostname, /etc/hosts and DNS settings (drop -h, --dns, --add-host)"
            );
        }
        for h in &self.add_host {
            check_add_host(h)?;
        }
        if let Some(a) = &self.health_on_failure {
            if !matches!(a.as_str(), "none" | "kill" | "restart") {
                bail!("invalid --health-on-failure {a:?}: use none, kill or restart");
            }
        }
        if let Some(o) = self.oom_score_adj {
            if !(-1000..=1000).contains(&o) {
                bail!("invalid --oom-score-adj {o}: the range is -1000 to 1000");
            }
        }
        let mut port_bindings = BTreeMap::new();
        for p in &self.publish {
            parse::parse_publish(p, &mut port_bindings)?;
        }
        if (!port_bindings.is_empty() || self.publish_all) && network == "host" {
            eprintln!("WARNING: Published ports are discarded when using host network mode");
        }
        let config = ContainerConfig {
            hostname: self.hostname.clone().unwrap_or_default(),
            domainname: self.domainname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin: self.interactive,
            attach_stdout: true,
            attach_stderr: true,
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: self.interactive,
            env,
            cmd: (!self.command.is_empty()).then(|| self.command.clone()),
            image: self.image.clone(),
            volumes: (!anon_volumes.is_empty()).then_some(anon_volumes),
            working_dir: self.workdir.clone().unwrap_or_default(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    vec![String::new()]
                } else {
                    vec![e.clone()]
                }
            }),
            labels,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            healthcheck,
            exposed_ports: {
                let mut p = ports(&self.expose)?;
                // Docker exposes what it publishes.
                p.extend(port_bindings.keys().map(|k| (k.clone(), Empty {})));
                (!p.is_empty()).then_some(p)
            },
        };
        let mut host_config = HostConfig {
            port_bindings,
            publish_all_ports: self.publish_all,
            binds,
            network_mode: network,
            ipv4_address: networks
                .first()
                .map(|e| e.ipv4_address.clone())
                .unwrap_or_default(),
            restart_policy: match &self.restart {
                Some(r) => parse::parse_restart(r)?,
                None => Default::default(),
            },
            auto_remove: false,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            readonly_rootfs: self.read_only,
            security_opt: self.security_opt.clone(),
            tmpfs: BTreeMap::new(),
            shm_size: size(&self.shm_size)?,
            sysctls: key_values(&self.sysctl, "sysctl")?,
            memory: size(&self.memory)?,
            memory_swap: size(&self.memory_swap)?,
            memory_reservation: size(&self.memory_reservation)?,
            nano_cpus: match &self.cpus {
                Some(c) => parse::parse_cpus(c)?,
                None => 0,
            },
            cpu_shares: self.cpu_shares.unwrap_or(0),
            cpuset_cpus: self.cpuset_cpus.clone().unwrap_or_default(),
            pids_limit: self.pids_limit,
            ulimits: self
                .ulimit
                .iter()
                .map(|u| parse::parse_ulimit(u))
                .collect::<Result<_, _>>()?,
            devices: self
                .device
                .iter()
                .map(|d| berth_engine::spec::devices::parse(d))
                .collect::<Result<_, _>>()?,
            init: self.init.then_some(true),
            oom_score_adj: self.oom_score_adj.unwrap_or(0),
            group_add: self.group_add.clone(),
            log_config: LogConfig {
                kind: self
                    .log_driver
                    .clone()
                    .unwrap_or_else(|| "json-file".into()),
                config: key_values(&self.log_opt, "--log-opt")?,
            },
            mounts,
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            extra_hosts: self.add_host.clone(),
            health_on_failure: self.health_on_failure.clone().unwrap_or_default(),
            ..Default::default()
        };
        if host_config.network_mode != "host" {
            let net_cfg = crate::config::network()?;
            if let Some(a) = net_cfg.publish_address {
                host_config.publish_address = a.to_string();
            }
            crate::publish_policy::check(net_cfg.publish, &host_config, net_cfg.publish_address)?;
        }
        if host_config.memory > 0 && host_config.memory < 6 << 20 {
            bail!("invalid --memory: the minimum memory limit is 6MB");
        }
        Ok(CreateRequest {
            name: self.name.clone(),
            config,
            host_config,
            networks,
        })
    }

    /// The `--network` values in order, with `--ip`, `--network-alias` and
    /// `--mac-address` on the first, as Docker's CLI applies them.
    fn endpoints(&self) -> anyhow::Result<Vec<EndpointConfig>> {
        let mut out = Vec::new();
        for v in &self.network {
            out.push(parse_network(v)?);
        }
        if out.is_empty() {
            out.push(EndpointConfig {
                network: crate::config::network()?.default,
                ..Default::default()
            });
        }
        if let Some(first) = out.first_mut() {
            if let Some(ip) = &self.ip {
                first.ipv4_address = ip.clone();
            }
            if let Some(ip6) = &self.ip6 {
                first.ipv6_address = ip6.clone();
            }
            first.aliases.extend(self.network_alias.iter().cloned());
            if let Some(m) = &self.mac_address {
                first.mac_address = m.clone();
            }
        }
        Ok(out)
    }
}

/// `--network NAME` or Docker's advanced form `name=N[,alias=A][,ip=IP][,mac-address=M]`.
fn parse_network(v: &str) -> anyhow::Result<EndpointConfig> {
    if !v.starts_with("name=") {
        return Ok(EndpointConfig {
            network: v.to_string(),
            ..Default::default()
        });
    }
    let mut ep = EndpointConfig::default();
    for part in v.split(',') {
        match part.split_once('=') {
            Some(("name", n)) => ep.network = n.to_string(),
            Some(("alias", a)) => ep.aliases.push(a.to_string()),
            Some(("ip", ip)) => ep.ipv4_address = ip.to_string(),
            Some(("ip6", ip)) => ep.ipv6_address = ip.to_string(),
            Some(("mac-address", m)) => ep.mac_address = m.to_string(),
            _ => bail!("invalid --network {v:?}: use name=N,alias=A,ip=IP,ip6=IP6,mac-address=M"),
        }
    }
    Ok(ep)
}

/// `--add-host NAME:IP` (or `NAME=IP`), the IP an address or `host-gateway`.
fn check_add_host(h: &str) -> anyhow::Result<()> {
    let Some((name, ip)) = h.split_once([':', '=']) else {
        bail!("invalid argument {h:?} for \"--add-host\" flag: expected NAME:IP");
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || (ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err()) {
        bail!("invalid argument {h:?} for \"--add-host\" flag: invalid IP address {ip:?}");
    }
    Ok(())
}
