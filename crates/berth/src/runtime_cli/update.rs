//! `update`: new resource limits from a JSON file (`-r FILE`, `-r -` for stdin) and/or
//! runc's individual flags, applied to the live cgroup.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use berth_runtime::lifecycle::Container;
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use super::Globals;

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Container id.
    id: String,
    /// linux.resources JSON ("-" reads stdin).
    #[arg(short, long, value_name = "FILE")]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (-1 for unlimited).
    #[arg(long)]
    memory: Option<i64>,
    /// Memory soft limit in bytes.
    #[arg(long)]
    memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes (-1 for unlimited).
    #[arg(long)]
    memory_swap: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for unlimited).
    #[arg(long)]
    cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CPUs the container may use (0-3, 0,1).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Maximum number of processes (0 or -1 for unlimited).
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    #[arg(long)]
    blkio_weight: Option<u16>,
}

fn merge(into: &mut Value, key: &str, sub: &str, v: Value) {
    into[key][sub] = v;
}

pub fn update(a: UpdateArgs, g: &Globals) -> anyhow::Result<i32> {
    let mut res: Value = match &a.resources {
        Some(p) => {
            let mut data = String::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_string(&mut data)
                    .context("reading resources from stdin")?;
            } else {
                data = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
            }
            serde_json::from_str(&data).context("parsing the resources JSON")?
        }
        None => json!({}),
    };
    if let Some(v) = a.memory {
        merge(&mut res, "memory", "limit", json!(v));
    }
    if let Some(v) = a.memory_reservation {
        merge(&mut res, "memory", "reservation", json!(v));
    }
    if let Some(v) = a.memory_swap {
        merge(&mut res, "memory", "swap", json!(v));
    }
    if let Some(v) = a.cpu_shares {
        merge(&mut res, "cpu", "shares", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        merge(&mut res, "cpu", "quota", json!(v));
    }
    if let Some(v) = a.cpu_period {
        merge(&mut res, "cpu", "period", json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        merge(&mut res, "cpu", "cpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        merge(&mut res, "cpu", "mems", json!(v));
    }
    if let Some(v) = a.pids_limit {
        merge(&mut res, "pids", "limit", json!(v));
    }
    if let Some(v) = a.blkio_weight {
        merge(&mut res, "blockIO", "weight", json!(v));
    }
    let resources: LinuxResources = serde_json::from_value(res).context("invalid resources")?;
    Container::load(&g.root, &a.id)?.update(&resources)?;
    Ok(0)
}
