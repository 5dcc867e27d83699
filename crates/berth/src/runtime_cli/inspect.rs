//! spec, ps, list, events and features: the read-mostly verbs.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use berth_runtime::lifecycle::{list as list_containers, Container};
use berth_runtime::state::Status;
use clap::ValueEnum;
use serde_json::json;

use super::Globals;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct SpecArgs {
    /// Directory to write config.json into.
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    bundle: PathBuf,
}

#[derive(clap::Args)]
pub struct PsArgs {
    /// Container id.
    id: String,
    /// Output format: a `ps` table of the container's processes, or a JSON array of pids.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Options passed to ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Print only the container ids.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Container id.
    id: String,
    /// Print statistics once and exit.
    #[arg(long)]
    stats: bool,
    /// Interval between statistics while streaming.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    interval: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: use e.g. 5s, 500ms, 1m"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// `--rootless` is a global option (runc's), so `spec --rootless` arrives through it.
pub fn spec(a: SpecArgs, g: &Globals) -> anyhow::Result<i32> {
    berth_runtime::spec::write_spec(&a.bundle, g.rootless)?;
    Ok(0)
}

pub fn features() -> anyhow::Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&berth_runtime::features::features())?
    );
    Ok(0)
}

pub fn ps(a: PsArgs, g: &Globals) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, &a.id)?;
    let pids = c.pids()?;
    if a.format == Format::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column: pass options that include it")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{header}")?;
    for line in lines {
        let pid: Option<i32> = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            writeln!(stdout, "{line}")?;
        }
    }
    Ok(0)
}

pub fn list(a: ListArgs, g: &Globals) -> anyhow::Result<i32> {
    let entries = list_containers(&g.root)?;
    if a.quiet {
        for e in &entries {
            println!("{}", e.id);
        }
        return Ok(0);
    }
    if a.format == Format::Json {
        let v: Vec<_> = entries
            .iter()
            .map(|e| {
                json!({"ociVersion": berth_runtime::OCI_VERSION, "id": e.id, "pid": e.pid,
                       "status": e.status, "bundle": e.bundle, "created": e.created, "owner": e.owner})
            })
            .collect();
        println!("{}", serde_json::to_string(&v)?);
        return Ok(0);
    }
    let mut rows = vec![[
        "ID".to_string(),
        "PID".into(),
        "STATUS".into(),
        "BUNDLE".into(),
        "CREATED".into(),
        "OWNER".into(),
    ]];
    for e in &entries {
        rows.push([
            e.id.clone(),
            e.pid.to_string(),
            e.status.to_string(),
            e.bundle.display().to_string(),
            e.created.clone(),
            e.owner.clone(),
        ]);
    }
    print_table(&rows);
    Ok(0)
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// One-shot with `--stats`; otherwise a stats event every interval and an `oom` event
/// whenever the kernel's OOM killer hit the container, until it stops.
pub fn events(a: EventsArgs, g: &Globals) -> anyhow::Result<i32> {
    let mut ooms = None;
    loop {
        let c = Container::load(&g.root, &a.id)?;
        if c.status() == Status::Stopped {
            if a.stats || ooms.is_none() {
                bail!("container \"{}\" is stopped: no statistics to report", a.id);
            }
            return Ok(0);
        }
        if !a.stats {
            let now = c.oom_kill_count().unwrap_or(0);
            if ooms.is_some_and(|before| now > before) {
                println!("{}", json!({"type": "oom", "id": a.id}));
            }
            ooms = Some(now);
        }
        let ev = json!({"type": "stats", "id": a.id, "data": c.stats()?});
        println!("{}", serde_json::to_string(&ev)?);
        if a.stats {
            return Ok(0);
        }
        std::io::stdout().flush()?;
        std::thread::sleep(a.interval);
    }
}
