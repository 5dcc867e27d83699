//! Gathering v2 statistics in runc's shape (v1-style units and names).

use std::path::Path;

use crate::error::CgroupError;
use crate::fsutil::{self, read_opt, read_u64_opt};
use crate::stats::{BlkioEntry, HugetlbStats, MemoryEntry, Stats};

fn flat(path: &Path) -> Result<Vec<(String, u64)>, CgroupError> {
    match read_opt(path)? {
        Some(c) => fsutil::parse_flat_keyed(path, &c),
        None => Ok(Vec::new()),
    }
}

fn limit_of(v: Option<u64>) -> u64 {
    v.unwrap_or(u64::MAX)
}

pub(super) fn collect(dir: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();

    for (k, v) in flat(&dir.join("cpu.stat"))? {
        let u = &mut s.cpu.usage;
        let t = &mut s.cpu.throttling;
        match k.as_str() {
            "usage_usec" => u.total = v * 1000,
            "user_usec" => u.user = v * 1000,
            "system_usec" => u.kernel = v * 1000,
            "nr_periods" => t.periods = v,
            "nr_throttled" => t.throttled_periods = v,
            "throttled_usec" => t.throttled_time = v * 1000,
            _ => {}
        }
    }

    if let Some(current) = read_u64_opt(&dir.join("memory.current"))? {
        let max_events = flat(&dir.join("memory.events"))?;
        let event = |name: &str| {
            max_events
                .iter()
                .find(|(k, _)| k == name)
                .map_or(0, |(_, v)| *v)
        };
        s.memory.usage = MemoryEntry {
            usage: current,
            limit: limit_of(read_u64_opt(&dir.join("memory.max"))?),
            max: read_u64_opt(&dir.join("memory.peak"))?.unwrap_or(0),
            failcnt: event("max"),
        };
        // v1 reports swap as memory+swap; keep that meaning for consumers
        // written against runc.
        if let Some(swap) = read_u64_opt(&dir.join("memory.swap.current"))? {
            let swap_max = limit_of(read_u64_opt(&dir.join("memory.swap.max"))?);
            s.memory.swap = MemoryEntry {
                usage: swap + current,
                limit: swap_max.saturating_add(s.memory.usage.limit),
                max: 0,
                failcnt: 0,
            };
        }
        s.memory.raw = flat(&dir.join("memory.stat"))?.into_iter().collect();
        s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    }

    s.pids = crate::v1::pids_stats(dir)?;

    let io = dir.join("io.stat");
    if let Some(c) = read_opt(&io)? {
        let (bytes, ios) = parse_io_stat(&io, &c)?;
        s.blkio.io_service_bytes_recursive = bytes;
        s.blkio.io_serviced_recursive = ios;
    }

    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(size) = name
                .strip_prefix("hugetlb.")
                .and_then(|r| r.strip_suffix(".current"))
            else {
                continue;
            };
            if size.contains('.') {
                continue;
            }
            let events = flat(&dir.join(format!("hugetlb.{size}.events")))?;
            s.hugetlb.insert(
                size.to_string(),
                HugetlbStats {
                    usage: read_u64_opt(&dir.join(&name))?.unwrap_or(0),
                    max: 0,
                    failcnt: events
                        .iter()
                        .find(|(k, _)| k == "max")
                        .map_or(0, |(_, v)| *v),
                },
            );
        }
    }
    Ok(s)
}

/// io.stat lines: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
pub(crate) fn parse_io_stat(
    path: &Path,
    content: &str,
) -> Result<(Vec<BlkioEntry>, Vec<BlkioEntry>), CgroupError> {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || CgroupError::Parse {
            path: path.to_path_buf(),
            line: line.to_string(),
            reason: "expected \"MAJ:MIN key=value ...\"".into(),
        };
        let mut it = line.split_whitespace();
        let dev = it.next().ok_or_else(bad)?;
        let (maj, min) = dev.split_once(':').ok_or_else(bad)?;
        let (major, minor) = (
            maj.parse().map_err(|_| bad())?,
            min.parse().map_err(|_| bad())?,
        );
        for kv in it {
            let (k, v) = kv.split_once('=').ok_or_else(bad)?;
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value: fsutil::parse_u64(path, v)?,
            });
        }
    }
    Ok((bytes, ios))
}
