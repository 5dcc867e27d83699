//! `ps` / `container ls`: Docker's columns, filters and `--format`.

use std::path::PathBuf;

use anyhow::bail;
use berth_engine::state::Status;
use berth_engine::Container;
use serde_json::{json, Value};

use super::open_engine;
use crate::format::{align, print_list, ListFormat};
use crate::human;

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    size: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long, default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Filter: id, name, label, status, exited, ancestor, health, before, since.
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output: table, json, or a Go template ('{{.ID}} {{.Names}}').
    #[arg(long)]
    format: Option<String>,
}

/// Docker's STATUS column.
pub fn status_text(c: &Container) -> String {
    let s = &c.state;
    let since = |t: &str| human::ago(Some(t));
    match s.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let up = human::ago(Some(&s.started_at));
            let mut t = format!("Up {}", up.trim_end_matches(" ago"));
            if s.status == Status::Paused {
                t.push_str(" (Paused)");
            } else if let Some(h) = &s.health {
                match h.status.as_str() {
                    "starting" => t.push_str(" (health: starting)"),
                    "" => {}
                    other => t.push_str(&format!(" ({other})")),
                }
            }
            t
        }
        Status::Restarting => format!("Restarting ({}) {}", s.exit_code, since(&s.finished_at)),
        Status::Exited => format!("Exited ({}) {}", s.exit_code, since(&s.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

pub fn command_text(c: &Container, trunc: bool) -> String {
    let cmd = berth_engine::spec::argv(&c.settings).join(" ");
    let cmd = if trunc && cmd.chars().count() > 20 {
        format!("{}…", cmd.chars().take(19).collect::<String>())
    } else {
        cmd
    };
    format!("\"{cmd}\"")
}

fn created_at(t: &str) -> String {
    humantime::parse_rfc3339_weak(t.trim_end_matches('Z').split('.').next().unwrap_or(t))
        .map(|t| {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
        })
        .unwrap_or_default()
}

fn matches(c: &Container, f: &str, all: &[Container]) -> anyhow::Result<bool> {
    let (k, v) = f.split_once('=').unwrap_or((f, ""));
    let position = |key: &str| -> anyhow::Result<String> {
        all.iter()
            .find(|x| x.id.starts_with(key) || x.name == key)
            .map(|x| x.created.clone())
            .ok_or_else(|| anyhow::anyhow!("No such container: {key}"))
    };
    Ok(match k {
        "id" => c.id.starts_with(v),
        "name" => c.name.contains(v.trim_start_matches('/')),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.settings.config.labels.get(lk).is_some_and(|x| x == lv),
            None => c.settings.config.labels.contains_key(v),
        },
        "status" => {
            if Status::parse(v).is_none() {
                bail!("invalid filter 'status={v}': use created, restarting, running, removing, paused, exited or dead");
            }
            c.state.status.as_str() == v
        }
        "exited" => {
            c.state.status == Status::Exited && v.parse::<i32>().ok() == Some(c.state.exit_code)
        }
        "ancestor" => c.image == v || c.image_id.contains(v) || c.settings.config.image == v,
        "health" => {
            let h = c.state.health.as_ref().map_or("none", |h| h.status.as_str());
            h == v
        }
        "before" => c.created < position(v)?,
        "since" => c.created > position(v)?,
        _ => bail!("invalid filter {k:?}: use id, name, label, status, exited, ancestor, health, before or since"),
    })
}

pub fn ps(a: PsArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let all = engine.list()?;
    let mut list: Vec<&Container> = all.iter().collect();
    let last = if a.latest { 1 } else { a.last };
    if !a.all && last < 0 && a.filter.is_empty() {
        list.retain(|c| c.state.status.is_active());
    }
    for f in &a.filter {
        let mut keep = Vec::new();
        for c in list {
            if matches(c, f, &all)? {
                keep.push(c);
            }
        }
        list = keep;
    }
    if last >= 0 {
        list.truncate(last as usize);
    }
    if a.quiet {
        for c in &list {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(0);
    }
    let trunc = !a.no_trunc;
    let size_of = |c: &Container| -> String {
        let upper = engine.images().snapshots_dir().join(&c.id).join("upper");
        let rw = berth_engine::volumes::dir_size(&upper);
        let virt = engine
            .images()
            .resolve(&c.image_id)
            .map(|i| i.size)
            .unwrap_or(0);
        format!("{} (virtual {})", human::size(rw), human::size(rw + virt))
    };
    let items: Vec<Value> = list
        .iter()
        .map(|c| {
            let mut v = json!({
                "ID": if trunc { c.short_id() } else { &c.id },
                "Image": c.image,
                "Command": command_text(c, trunc),
                "CreatedAt": created_at(&c.created),
                "RunningFor": human::ago(Some(&c.created)),
                "Status": status_text(c),
                "State": c.state.status.as_str(),
                "Ports": ports_text(&engine.published_ports(c), c),
                "Names": c.name,
                "Labels": c.settings.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": c.settings.volume_mounts.iter().map(|m| m.name.clone()).collect::<Vec<_>>().join(","),
                "Networks": networks_column(c),
                "LocalVolumes": c.settings.volume_mounts.len().to_string(),
            });
            if a.size {
                v["Size"] = json!(size_of(c));
            }
            v
        })
        .collect();
    let format = ListFormat::parse(a.format.as_deref());
    if let ListFormat::Default = format {
        let mut rows = vec![format!(
            "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES{}",
            if a.size { "\tSIZE" } else { "" }
        )];
        for i in &items {
            let s = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            let mut row = format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                s("ID"),
                s("Image"),
                s("Command"),
                s("RunningFor"),
                s("Status"),
                s("Ports"),
                s("Names")
            );
            if a.size {
                row.push('\t');
                row.push_str(&s("Size"));
            }
            rows.push(row);
        }
        print!("{}", align(&rows));
        return Ok(0);
    }
    print_list(
        &format,
        &items,
        &[
            ("ID", "CONTAINER ID"),
            ("RunningFor", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Names", "NAMES"),
        ],
    )?;
    Ok(0)
}

/// The PORTS column: `0.0.0.0:8080->80/tcp` per published binding, then the exposed
/// ports nothing publishes, as Docker lists them.
fn ports_text(published: &berth_engine::ports::PortMap, c: &Container) -> String {
    let mut out: Vec<String> = Vec::new();
    for (key, bindings) in published {
        for b in bindings {
            out.push(format!(
                "{}:{}->{key}",
                berth_engine::ports::host_addr(&b.host_ip),
                b.host_port
            ));
        }
    }
    for key in c
        .settings
        .config
        .exposed_ports
        .iter()
        .flat_map(|p| p.keys())
    {
        if !published.contains_key(key) {
            out.push(key.clone());
        }
    }
    out.join(", ")
}

/// Docker's `Networks` column: every network the container is on, comma-separated.
fn networks_column(c: &berth_engine::records::Container) -> String {
    let eps = c.settings.endpoints();
    if eps.is_empty() {
        return c.settings.host_config.network_mode.clone();
    }
    eps.iter()
        .map(|e| e.network.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
