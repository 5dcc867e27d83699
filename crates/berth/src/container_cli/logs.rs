//! `logs`: reads the monitor's json-file log (rotated files oldest first), with
//! `--tail`, `--since`/`--until`, `-t`, and `-f` following the live file across
//! rotations until the container stops.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::open_engine;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs ("all" for everything).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m).
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or relative time.
    #[arg(long)]
    until: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// Show extra details provided to logs.
    #[arg(long)]
    details: bool,
    container: String,
}

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

fn parse_time(s: &str) -> anyhow::Result<SystemTime> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(SystemTime::now() - d);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s.trim_end_matches('Z')) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    bail!("invalid time {s:?}: use an RFC 3339 timestamp, a Unix time or a duration such as 10m")
}

fn entry_time(e: &Entry) -> Option<SystemTime> {
    humantime::parse_rfc3339(&e.time).ok()
}

struct Filter {
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    timestamps: bool,
}

impl Filter {
    fn keep(&self, e: &Entry) -> bool {
        let t = entry_time(e);
        if let (Some(s), Some(t)) = (self.since, t) {
            if t < s {
                return false;
            }
        }
        if let (Some(u), Some(t)) = (self.until, t) {
            if t > u {
                return false;
            }
        }
        true
    }

    fn print(&self, e: &Entry) {
        let text = if self.timestamps {
            format!("{} {}", e.time, e.log)
        } else {
            e.log.clone()
        };
        if e.stream == "stderr" {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

fn files(log: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if let Some(num) = n
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix('.'))
                    .and_then(|r| r.parse().ok())
                {
                    rotated.push((num, e.path()));
                }
            }
        }
    }
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    out.push(log.to_path_buf());
    out
}

fn read_entries(p: &Path) -> Vec<Entry> {
    let Ok(f) = File::open(p) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

pub fn logs(a: LogsArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let _ = a.details;
    let engine = open_engine(root, runroot)?;
    let c = engine.find(&a.container)?;
    if c.settings.host_config.log_config.kind == "none" {
        bail!("configured logging driver does not support reading: container {} uses the none driver", c.short_id());
    }
    let filter = Filter {
        since: a.since.as_deref().map(parse_time).transpose()?,
        until: a.until.as_deref().map(parse_time).transpose()?,
        timestamps: a.timestamps,
    };
    let tail: Option<usize> = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse().with_context(|| format!("invalid --tail {n:?}: use a number or all"))?),
    };
    let log = engine.layout().log_path(&c.id);
    let mut entries: Vec<Entry> = Vec::new();
    for f in files(&log) {
        entries.extend(read_entries(&f).into_iter().filter(|e| filter.keep(e)));
    }
    let start = tail.map_or(0, |n| entries.len().saturating_sub(n));
    for e in &entries[start..] {
        filter.print(e);
    }
    if !a.follow {
        return Ok(0);
    }
    follow(&engine, &c.id, &log, &filter)
}

/// Follows the live file from its current end; a rotation (new inode) restarts at
/// the new file's beginning. Ends once the container has stopped and its monitor,
/// which writes the log, is gone.
fn follow(engine: &berth_engine::Engine, id: &str, log: &Path, filter: &Filter) -> anyhow::Result<i32> {
    let open = |p: &Path| -> Option<(BufReader<File>, u64)> {
        let f = File::open(p).ok()?;
        let ino = f.metadata().ok()?.ino();
        Some((BufReader::new(f), ino))
    };
    let mut cur = open(log);
    if let Some((r, _)) = &mut cur {
        r.seek(SeekFrom::End(0))?;
    }
    let mut partial = String::new();
    // Set once the container is seen stopped: one more pass reads what the monitor
    // wrote between our last read and its exit.
    let mut finishing = false;
    loop {
        let mut progressed = false;
        if let Some((r, _)) = &mut cur {
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        progressed = true;
                        partial.push_str(&line);
                        if partial.ends_with('\n') {
                            if let Ok(e) = serde_json::from_str::<Entry>(&partial) {
                                if filter.keep(&e) {
                                    filter.print(&e);
                                }
                            }
                            partial.clear();
                        }
                    }
                }
            }
        }
        if !progressed {
            let rotated = match (&cur, std::fs::metadata(log)) {
                (Some((_, ino)), Ok(md)) => md.ino() != *ino,
                (None, Ok(_)) => true,
                _ => false,
            };
            if rotated {
                cur = open(log);
                partial.clear();
                continue;
            }
            let running = engine
                .find(id)
                .map(|c| c.state.status.is_active())
                .unwrap_or(false);
            if finishing {
                return Ok(0);
            }
            if !running && engine.monitor_pid(id).is_none() {
                finishing = true;
                continue;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
