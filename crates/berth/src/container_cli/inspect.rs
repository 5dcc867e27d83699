//! `container inspect` in Docker's JSON shape, the top-level `inspect` that finds
//! containers and images alike, and `top`.

use std::path::PathBuf;

use anyhow::bail;
use berth_engine::{Container, Engine};
use serde_json::{json, Value};

use super::open_engine;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Containers to inspect (name, id or id prefix).
    #[arg(required = true)]
    containers: Vec<String>,
    /// Format each result with a Go template ('{{.State.Status}}', '{{json .Config}}').
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes.
    #[arg(short, long)]
    size: bool,
}

#[derive(clap::Args)]
pub struct AnyInspectArgs {
    /// Containers or images (name, id or id prefix).
    #[arg(required = true)]
    names: Vec<String>,
    /// Format each result with a Go template.
    #[arg(short, long)]
    format: Option<String>,
    /// Only this kind of object: container or image.
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes (containers).
    #[arg(short, long)]
    size: bool,
}

#[derive(clap::Args)]
pub struct TopArgs {
    container: String,
    /// ps options (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn container_json(engine: &Engine, c: &Container, size: bool) -> Value {
    let s = &c.state;
    let st = s.status;
    let args = berth_engine::spec::argv(&c.settings);
    let (path, rest) = args
        .split_first()
        .map_or((String::new(), vec![]), |(p, r)| (p.clone(), r.to_vec()));
    let snap = engine.images().snapshots_dir().join(&c.id);
    let vdir = engine.layout().volumes_dir();
    let mut mounts: Vec<Value> = c
        .settings
        .volume_mounts
        .iter()
        .map(|v| {
            json!({"Type": "volume", "Name": v.name, "Source": berth_engine::volumes::data_dir(&vdir, &v.name),
                   "Destination": v.destination, "Driver": "local", "Mode": "z", "RW": !v.read_only,
                   "Propagation": ""})
        })
        .collect();
    for m in &c.settings.host_config.mounts {
        match m.kind {
            berth_engine::model::MountType::Bind => mounts.push(json!({
                "Type": "bind", "Source": m.source, "Destination": m.target, "Mode": "",
                "RW": !m.read_only, "Propagation": if m.propagation.is_empty() { "rprivate" } else { &m.propagation }})),
            berth_engine::model::MountType::Tmpfs => mounts.push(json!({
                "Type": "tmpfs", "Source": "", "Destination": m.target, "Mode": "", "RW": !m.read_only, "Propagation": ""})),
            berth_engine::model::MountType::Volume => {}
        }
    }
    let mut health = Value::Null;
    if let Some(h) = &s.health {
        health = serde_json::to_value(h).unwrap_or(Value::Null);
    }
    let mut state = json!({
        "Status": st.as_str(),
        "Running": st.is_active(),
        "Paused": st == berth_engine::state::Status::Paused,
        "Restarting": st == berth_engine::state::Status::Restarting,
        "OOMKilled": s.oom_killed,
        "Dead": st == berth_engine::state::Status::Dead,
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at,
        "FinishedAt": s.finished_at,
    });
    if !health.is_null() {
        state["Health"] = health;
    }
    let dir = engine.layout().container_dir(&c.id);
    let mut v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": path,
        "Args": rest,
        "State": state,
        "Image": c.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": engine.layout().log_path(&c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": s.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": Value::Null,
        "HostConfig": c.settings.host_config,
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": snap.join("upper"), "WorkDir": snap.join("work"), "MergedDir": snap.join("merged")}},
        "Mounts": mounts,
        "Config": c.settings.config,
        "NetworkSettings": network_settings(engine, c),
    });
    if size {
        let rw = berth_engine::volumes::dir_size(&snap.join("upper"));
        let base = engine
            .images()
            .resolve(&c.image_id)
            .map(|i| i.size)
            .unwrap_or(0);
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(rw + base);
    }
    v
}

pub fn inspect(
    a: InspectArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let mut out = Vec::new();
    let mut failed = false;
    for n in &a.containers {
        match engine.find(n) {
            Ok(c) => out.push(container_json(&engine, &c, a.size)),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    crate::format::print_inspect(&out, a.format.as_deref())?;
    Ok(i32::from(failed))
}

/// Docker's `inspect`: each name is looked up as a container, then as an image.
pub fn inspect_any(
    a: AnyInspectArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let (containers, images) = match a.kind.as_deref() {
        None => (true, true),
        Some("container") => (true, false),
        Some("image") => (false, true),
        Some(k) => bail!("invalid --type {k:?}: use container or image"),
    };
    let mut out = Vec::new();
    let mut failed = false;
    for n in &a.names {
        if containers {
            if let Ok(c) = engine.find(n) {
                out.push(container_json(&engine, &c, a.size));
                continue;
            }
        }
        if images {
            if let Ok(img) = engine.images().resolve(n) {
                out.push(crate::image_cli::inspect::inspect_json(
                    engine.images(),
                    &img,
                )?);
                continue;
            }
        }
        eprintln!("Error: No such object: {n}");
        failed = true;
    }
    crate::format::print_inspect(&out, a.format.as_deref())?;
    Ok(i32::from(failed))
}

/// `top`: the container's processes, from its cgroup, shown by the host's `ps`
/// (its options as given, default `-ef`), as Docker does.
pub fn top(a: TopArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let c = engine.find(&a.container)?;
    if !c.state.status.is_active() {
        bail!("container {} is not running", c.short_id());
    }
    let pids = berth_runtime::lifecycle::Container::load(&engine.layout().runtime_root(), &c.id)?
        .pids()?;
    let ps_args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .map_err(|e| anyhow::anyhow!("running ps {}: {e}", ps_args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ps {} failed: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Ok(0);
    };
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| {
            anyhow::anyhow!("ps output has no PID column; include it in the ps options")
        })?;
    let mut rows = vec![header.split_whitespace().collect::<Vec<_>>().join("\t")];
    let ncols = header.split_whitespace().count();
    for l in lines {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pids.contains(&pid) {
            // The last column (the command) may hold spaces.
            let mut cols: Vec<String> = fields
                .iter()
                .take(ncols - 1)
                .map(|s| s.to_string())
                .collect();
            cols.push(
                fields
                    .iter()
                    .skip(ncols - 1)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            rows.push(cols.join("\t"));
        }
    }
    print!("{}", crate::format::align(&rows));
    Ok(0)
}

/// Docker's `NetworkSettings`: one entry per network in `Networks` (address,
/// gateway, MAC, aliases, DNS names while it runs; the settings alone while it is
/// stopped, as its addresses are released then). The top-level address fields
/// repeat the first network's, which Docker fills for its default network.
fn network_settings(engine: &Engine, c: &Container) -> Value {
    let mode = c.settings.host_config.network_mode.clone();
    let held = berth_network::endpoints_of(engine.db(), &c.id).unwrap_or_default();
    let configured = c.settings.endpoints();
    let mut networks = serde_json::Map::new();
    let mut first: Option<Value> = None;
    let empty_entry = || {
        json!({"IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
               "DriverOpts": null, "NetworkID": "", "EndpointID": "", "Gateway": "",
               "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
               "GlobalIPv6PrefixLen": 0, "DNSNames": null})
    };
    for ep in &configured {
        let mut v = empty_entry();
        if !ep.aliases.is_empty() {
            v["Aliases"] = json!(ep.aliases);
        }
        if !ep.ipv4_address.is_empty() || !ep.ipv6_address.is_empty() {
            let mut ipam = serde_json::Map::new();
            if !ep.ipv4_address.is_empty() {
                ipam.insert("IPv4Address".into(), json!(ep.ipv4_address));
            }
            if !ep.ipv6_address.is_empty() {
                ipam.insert("IPv6Address".into(), json!(ep.ipv6_address));
            }
            v["IPAMConfig"] = Value::Object(ipam);
        }
        if !ep.mac_address.is_empty() {
            v["MacAddress"] = json!(ep.mac_address);
        }
        if let Some((n, a)) = held.iter().find(|(n, _)| n.name == ep.network) {
            v["NetworkID"] = json!(n.id);
            v["EndpointID"] = json!(format!("{}-{}", &c.id[..12], n.short_id()));
            v["Gateway"] = json!(n.gateway);
            v["IPAddress"] = json!(a.ip.to_string());
            v["IPPrefixLen"] = json!(n.subnet().map(|s| s.prefix).unwrap_or(0));
            v["MacAddress"] = json!(a.mac);
            if let (Some(ip6), Ok(Some((s6, gw6)))) = (a.ip6, n.v6()) {
                v["GlobalIPv6Address"] = json!(ip6.to_string());
                v["GlobalIPv6PrefixLen"] = json!(s6.prefix);
                v["IPv6Gateway"] = json!(gw6.to_string());
            }
            if !a.dns_names.is_empty() {
                v["DNSNames"] = json!(a.dns_names);
            }
        }
        if first.is_none() {
            first = Some(v.clone());
        }
        networks.insert(ep.network.clone(), v);
    }
    if configured.is_empty() && !mode.starts_with("container:") {
        networks.insert(mode.clone(), empty_entry());
    }
    let top = first.unwrap_or_else(empty_entry);
    let sandbox = if held.is_empty() {
        String::new()
    } else {
        berth_network::netns::path(&engine.layout().run_root, &c.id)
            .to_string_lossy()
            .into_owned()
    };
    json!({
        "SandboxKey": sandbox,
        "Ports": engine.published_ports(c),
        "IPAddress": top["IPAddress"], "IPPrefixLen": top["IPPrefixLen"],
        "Gateway": top["Gateway"], "MacAddress": top["MacAddress"],
        "GlobalIPv6Address": top["GlobalIPv6Address"],
        "GlobalIPv6PrefixLen": top["GlobalIPv6PrefixLen"],
        "IPv6Gateway": top["IPv6Gateway"],
        "Networks": networks,
    })
}
