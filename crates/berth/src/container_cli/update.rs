//! `update` (resources and restart policy) and `port`.

use std::path::PathBuf;

use anyhow::bail;
use berth_engine::parse;
use berth_engine::ports::host_addr;
use berth_engine::update::UpdateRequest;

use super::open_engine;

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Number of CPUs.
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory limit.
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    port: Option<String>,
}

fn size(s: &Option<String>) -> anyhow::Result<Option<i64>> {
    Ok(match s.as_deref() {
        Some("-1") => Some(-1),
        Some(v) => Some(parse::parse_size(v)?),
        None => None,
    })
}

pub fn update(
    a: UpdateArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let req = UpdateRequest {
        memory: size(&a.memory)?,
        memory_swap: size(&a.memory_swap)?,
        memory_reservation: size(&a.memory_reservation)?,
        nano_cpus: a.cpus.as_deref().map(parse::parse_cpus).transpose()?,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        restart: a.restart.as_deref().map(parse::parse_restart).transpose()?,
    };
    let engine = open_engine(root, runroot)?;
    let mut failed = false;
    for n in &a.containers {
        match engine.update(n, &req) {
            Ok(_) => println!("{n}"),
            Err(e) => {
                failed = true;
                eprintln!("Error response from daemon: {e}");
            }
        }
    }
    Ok(i32::from(failed))
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`: where the running container's ports are
/// published, as `80/tcp -> 0.0.0.0:8080` lines (or only the addresses of one port).
pub fn port(a: PortArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let c = engine.find(&a.container)?;
    let published = engine.published_ports(&c);
    if let Some(p) = a.port {
        let key = if p.contains('/') {
            p
        } else {
            format!("{p}/tcp")
        };
        match published.get(&key) {
            Some(bs) if !bs.is_empty() => {
                for b in bs {
                    println!("{}:{}", host_addr(&b.host_ip), b.host_port);
                }
            }
            _ => bail!("no public port '{key}' published for {}", c.short_id()),
        }
        return Ok(0);
    }
    for (key, bs) in &published {
        for b in bs {
            println!("{key} -> {}:{}", host_addr(&b.host_ip), b.host_port);
        }
    }
    Ok(0)
}
