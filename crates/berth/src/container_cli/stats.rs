//! `stats`: CPU, memory, block I/O and pids per running container, from its cgroup.
//! CPU % needs two samples; `--no-stream` takes them half a second apart, the live
//! view redraws every second.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{json, Value};

use super::open_engine;
use crate::format::{align, print_list, ListFormat};
use crate::human;

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

struct Sample {
    cpu_ns: u64,
    at: Instant,
    mem: u64,
    limit: u64,
    read: u64,
    write: u64,
    pids: u64,
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn sample(runtime_root: &std::path::Path, id: &str, host_mem: u64) -> Option<Sample> {
    let c = berth_runtime::lifecycle::Container::load(runtime_root, id).ok()?;
    let s = c.stats().ok()?;
    let inactive = s
        .memory
        .raw
        .get("total_inactive_file")
        .or_else(|| s.memory.raw.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    let mut limit = s.memory.usage.limit;
    if limit == 0 || limit > host_mem {
        limit = host_mem;
    }
    let (mut read, mut write) = (0, 0);
    for e in &s.blkio.io_service_bytes_recursive {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => read += e.value,
            "write" => write += e.value,
            _ => {}
        }
    }
    Some(Sample {
        cpu_ns: s.cpu.usage.total,
        at: Instant::now(),
        mem: s.memory.usage.usage.saturating_sub(inactive),
        limit,
        read,
        write,
        pids: s.pids.current,
    })
}

pub fn stats(
    a: StatsArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let rt = engine.layout().runtime_root();
    let host_mem = host_memory();
    let format = ListFormat::parse(a.format.as_deref());
    let mut prev: std::collections::HashMap<String, Sample> = Default::default();
    let mut first = true;
    loop {
        let list: Vec<_> = if a.containers.is_empty() {
            engine
                .list()?
                .into_iter()
                .filter(|c| a.all || c.state.status.is_active())
                .collect()
        } else {
            a.containers
                .iter()
                .map(|n| engine.find(n))
                .collect::<Result<_, _>>()?
        };
        if first {
            for c in &list {
                if let Some(s) = sample(&rt, &c.id, host_mem) {
                    prev.insert(c.id.clone(), s);
                }
            }
            std::thread::sleep(Duration::from_millis(500));
            first = false;
        }
        let mut items: Vec<Value> = Vec::new();
        for c in &list {
            let now = sample(&rt, &c.id, host_mem);
            let id = if a.no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            };
            let v = match (&now, prev.get(&c.id)) {
                (Some(n), Some(p)) => {
                    let wall = n.at.duration_since(p.at).as_nanos().max(1) as f64;
                    let cpu = n.cpu_ns.saturating_sub(p.cpu_ns) as f64 / wall * 100.0;
                    let mem_pct = if n.limit > 0 {
                        n.mem as f64 / n.limit as f64 * 100.0
                    } else {
                        0.0
                    };
                    json!({"ID": id, "Container": id, "Name": c.name,
                           "CPUPerc": format!("{cpu:.2}%"),
                           "MemUsage": format!("{} / {}", bin(n.mem), bin(n.limit)),
                           "MemPerc": format!("{mem_pct:.2}%"),
                           "NetIO": "0B / 0B",
                           "BlockIO": format!("{} / {}", human::size(n.read), human::size(n.write)),
                           "PIDs": n.pids.to_string()})
                }
                _ => {
                    json!({"ID": id, "Container": id, "Name": c.name, "CPUPerc": "--", "MemUsage": "-- / --",
                            "MemPerc": "--", "NetIO": "--", "BlockIO": "--", "PIDs": "--"})
                }
            };
            items.push(v);
            if let Some(n) = now {
                prev.insert(c.id.clone(), n);
            }
        }
        if !a.no_stream {
            // Clear the screen and redraw, as Docker's live view does.
            print!("\x1b[2J\x1b[H");
        }
        if let ListFormat::Default = format {
            let mut rows = vec![
                "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS"
                    .to_string(),
            ];
            for i in &items {
                let s = |k: &str| i[k].as_str().unwrap_or_default().to_string();
                rows.push(format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    s("ID"),
                    s("Name"),
                    s("CPUPerc"),
                    s("MemUsage"),
                    s("MemPerc"),
                    s("NetIO"),
                    s("BlockIO"),
                    s("PIDs")
                ));
            }
            print!("{}", align(&rows));
        } else {
            print_list(
                &format,
                &items,
                &[
                    ("ID", "CONTAINER ID"),
                    ("CPUPerc", "CPU %"),
                    ("MemUsage", "MEM USAGE / LIMIT"),
                    ("MemPerc", "MEM %"),
                    ("NetIO", "NET I/O"),
                    ("BlockIO", "BLOCK I/O"),
                ],
            )?;
        }
        if a.no_stream {
            return Ok(0);
        }
        if !a.containers.is_empty() && list.iter().all(|c| !c.state.status.is_active()) {
            bail!("all the containers given have stopped");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Docker prints memory in binary units (MiB, GiB).
fn bin(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.4}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
        + U[i]
}

#[cfg(test)]
mod tests {
    #[test]
    fn binary_units() {
        assert_eq!(super::bin(1024 * 1024), "1MiB");
        assert_eq!(super::bin(1536), "1.5KiB");
        assert_eq!(super::bin(0), "0B");
    }
}
