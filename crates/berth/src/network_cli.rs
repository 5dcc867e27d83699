//! `network create|ls|inspect|rm|prune|connect|disconnect`: bridge networks (see the
//! berth-network crate), and the hidden `dns-serve`, the embedded DNS server.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use berth_engine::Engine;
use berth_network::{ipam, records, NewNetwork};
use serde_json::{json, Value};

use crate::container_cli::open_engine;
use crate::format::{align, print_list, ListFormat};

#[derive(clap::Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// The embedded DNS server of the run root (started by berth on demand).
    #[command(hide = true)]
    DnsServe,
}

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container.
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., fd42::104), on a network created with --ipv6.
    #[arg(long)]
    ip6: Option<String>,
    network: String,
    container: String,
}

#[derive(clap::Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Network name.
    name: String,
    /// Driver to manage the network (only bridge).
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format (picked from 172.18-29.0.0/16 when omitted); with
    /// --ipv6, a second, IPv6 one (a unique local /64 when omitted).
    #[arg(long)]
    subnet: Vec<String>,
    /// Gateway for the subnet of its family (its first address when omitted).
    #[arg(long)]
    gateway: Vec<String>,
    /// Enable IPv6 networking.
    #[arg(long)]
    ipv6: bool,
    /// Allocate container addresses from a sub-range (CIDR inside --subnet).
    #[arg(long)]
    ip_range: Option<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network.
    #[arg(long)]
    label: Vec<String>,
    /// Driver options (com.docker.network.driver.mtu=N).
    #[arg(short, long)]
    opt: Vec<String>,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Only display network IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output.
    #[arg(long)]
    no_trunc: bool,
    /// Filter: name=NAME, id=ID, driver=DRIVER, label=KEY[=VALUE].
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    names: Vec<String>,
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

fn kv(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for i in items {
        match i.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                m.insert(k.to_string(), v.to_string());
            }
            _ if what == "label" && !i.is_empty() => {
                m.insert(i.clone(), String::new());
            }
            _ => anyhow::bail!("invalid {what} {i:?}: expected KEY=VALUE"),
        }
    }
    Ok(m)
}

/// Repeated `--subnet` / `--gateway` values: at most one IPv4 and one IPv6 value
/// (told apart by a `:`).
fn by_family(values: &[String], flag: &str) -> anyhow::Result<(Option<String>, Option<String>)> {
    let (mut v4, mut v6) = (None, None);
    for v in values {
        let slot = if v.contains(':') { &mut v6 } else { &mut v4 };
        if slot.replace(v.clone()).is_some() {
            anyhow::bail!(
                "invalid {flag} {v}: give at most one IPv4 and one IPv6 {flag} (berth's bridge \
                 networks have one subnet per family)"
            );
        }
    }
    Ok((v4, v6))
}

/// Docker's `network inspect` document.
fn inspect_value(engine: &Engine, n: &records::Network) -> anyhow::Result<Value> {
    let prefix = n.subnet()?.prefix;
    let v6 = n.v6()?;
    let mut containers = serde_json::Map::new();
    for a in ipam::allocations(engine.db(), &n.id)? {
        let name = engine
            .find(&a.container_id)
            .map(|c| c.name)
            .unwrap_or_default();
        containers.insert(
            a.container_id.clone(),
            json!({"Name": name, "EndpointID": format!("{}-{}", &a.container_id[..a.container_id.len().min(12)], n.short_id()), "MacAddress": a.mac,
                   "IPv4Address": format!("{}/{prefix}", a.ip),
                   "IPv6Address": match (a.ip6, v6) {
                       (Some(ip6), Some((s6, _))) => format!("{ip6}/{}", s6.prefix),
                       _ => String::new(),
                   }}),
        );
    }
    let mut ipam_config = json!({"Subnet": n.subnet, "Gateway": n.gateway});
    if !n.ip_range.is_empty() {
        ipam_config["IPRange"] = json!(n.ip_range);
    }
    let mut config = vec![ipam_config];
    if n.ipv6() {
        config.push(json!({"Subnet": n.subnet6, "Gateway": n.gateway6}));
    }
    let mut options = n.options.clone();
    options.insert("com.docker.network.bridge.name".into(), n.bridge.clone());
    Ok(json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local",
        "Driver": n.driver, "EnableIPv6": n.ipv6(),
        "IPAM": {"Driver": "default", "Options": {},
                 "Config": config},
        "Internal": n.internal, "Attachable": false, "Ingress": false,
        "Containers": containers, "Options": options, "Labels": n.labels,
    }))
}

/// Names and ids of the networks containers are configured with (even stopped ones):
/// prune leaves those alone, as Docker does.
pub(crate) fn referenced(engine: &Engine) -> anyhow::Result<HashSet<String>> {
    Ok(engine
        .list()?
        .into_iter()
        .flat_map(|c| {
            let mut n: Vec<String> = c
                .settings
                .endpoints()
                .into_iter()
                .map(|e| e.network)
                .collect();
            n.push(c.settings.host_config.network_mode);
            n
        })
        .collect())
}

pub fn run(
    cmd: NetworkCmd,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    if let NetworkCmd::DnsServe = cmd {
        return dns_serve(runroot);
    }
    let engine = open_engine(root, runroot)?;
    let db = engine.db();
    match cmd {
        NetworkCmd::Create(a) => {
            let (subnet, subnet6) = by_family(&a.subnet, "--subnet")?;
            let (gateway, gateway6) = by_family(&a.gateway, "--gateway")?;
            let (n, notices) = berth_network::create(
                db,
                NewNetwork {
                    name: a.name,
                    driver: a.driver,
                    subnet,
                    gateway,
                    ipv6: a.ipv6,
                    subnet6,
                    gateway6,
                    ip_range: a.ip_range,
                    internal: a.internal,
                    labels: kv(&a.label, "label")?,
                    options: kv(&a.opt, "option")?,
                },
            )?;
            for m in notices {
                eprintln!("berth: {m}");
            }
            println!("{}", n.id);
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let mut list = records::list(db)?;
            for f in &a.filter {
                let (k, v) = f.split_once('=').unwrap_or((f, ""));
                match k {
                    "name" => list.retain(|x| x.name.contains(v)),
                    "id" => list.retain(|x| x.id.starts_with(v)),
                    "driver" => list.retain(|x| x.driver == v),
                    "label" => list.retain(|x| match v.split_once('=') {
                        Some((lk, lv)) => x.labels.get(lk).is_some_and(|y| y == lv),
                        None => x.labels.contains_key(v),
                    }),
                    _ => anyhow::bail!("invalid filter {k:?}: use name, id, driver or label"),
                }
            }
            let id = |n: &records::Network| {
                if a.no_trunc {
                    n.id.clone()
                } else {
                    n.short_id().to_string()
                }
            };
            if a.quiet {
                for n in &list {
                    println!("{}", id(n));
                }
                return Ok(0);
            }
            let format = ListFormat::parse(a.format.as_deref());
            if let ListFormat::Default = format {
                let mut rows = vec!["NETWORK ID\tNAME\tDRIVER\tSCOPE".to_string()];
                for n in &list {
                    rows.push(format!("{}\t{}\t{}\tlocal", id(n), n.name, n.driver));
                }
                print!("{}", align(&rows));
                return Ok(0);
            }
            let items: Vec<_> = list
                .iter()
                .map(|n| {
                    json!({"ID": id(n), "Name": n.name, "Driver": n.driver, "Scope": "local",
                           "Internal": n.internal, "CreatedAt": n.created,
                           "Labels": n.labels.iter().map(|(k, x)| format!("{k}={x}")).collect::<Vec<_>>().join(",")})
                })
                .collect();
            print_list(
                &format,
                &items,
                &[
                    ("ID", "NETWORK ID"),
                    ("Name", "NAME"),
                    ("Driver", "DRIVER"),
                    ("Scope", "SCOPE"),
                ],
            )?;
            Ok(0)
        }
        NetworkCmd::Inspect(a) => {
            let mut out = Vec::new();
            let mut failed = false;
            for n in &a.names {
                match records::find(db, n) {
                    Ok(net) => out.push(inspect_value(&engine, &net)?),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        failed = true;
                    }
                }
            }
            crate::format::print_inspect(&out, a.format.as_deref())?;
            Ok(i32::from(failed))
        }
        NetworkCmd::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                let r = if n == berth_network::DEFAULT_NETWORK {
                    Err(anyhow::anyhow!(
                        "bridge is a pre-defined network and cannot be removed"
                    ))
                } else {
                    berth_network::remove(db, &engine.layout().run_root, n).map_err(Into::into)
                };
                match r {
                    Ok(_) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        failed = true;
                    }
                }
            }
            Ok(i32::from(failed))
        }
        NetworkCmd::Connect(a) => {
            engine.network_connect(
                &a.network,
                &a.container,
                &a.alias,
                a.ip.as_deref(),
                a.ip6.as_deref(),
            )?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            engine.network_disconnect(&a.network, &a.container, a.force)?;
            Ok(0)
        }
        NetworkCmd::DnsServe => unreachable!("handled before the engine opens"),
        NetworkCmd::Prune(a) => {
            if !a.force
                && !crate::confirm::confirm(
                    "This will remove all custom networks not used by at least one container.",
                )
            {
                return Ok(0);
            }
            engine.release_stale_networking()?;
            let removed =
                berth_network::prune(db, &engine.layout().run_root, &referenced(&engine)?)?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in &removed {
                    println!("{}", n.name);
                }
            }
            Ok(0)
        }
    }
}

/// `network dns-serve`: forks away from the caller (which returns at once) and
/// serves until no network of the run root has containers. The run root comes from
/// `--runroot`, which berth always passes when it starts the server.
fn dns_serve(runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let Some(rr) = runroot else {
        anyhow::bail!("network dns-serve needs --runroot");
    };
    // Nothing has started a thread yet: the fork is safe here.
    if !berth_network::dns::detach_self()? {
        return Ok(0);
    }
    berth_network::dns::server::serve(rr)?;
    Ok(0)
}
