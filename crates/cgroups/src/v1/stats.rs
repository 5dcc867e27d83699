//! Gathering v1 statistics. Anything the host does not provide (missing
//! hierarchy or file) is left at its default and so omitted from JSON.

use std::path::Path;

use super::V1Manager;
use crate::error::CgroupError;
use crate::fsutil::{self, read_opt, read_u64_opt};
use crate::stats::{
    BlkioEntry, BlkioStats, CpuStats, HugetlbStats, MemoryEntry, MemoryStats, PidsStats, Stats,
};

pub(super) fn collect(m: &V1Manager) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(d) = m.dir_of("cpuacct") {
        cpuacct(d, &mut s.cpu)?;
    }
    if let Some(d) = m.dir_of("cpu") {
        throttling(d, &mut s.cpu)?;
    }
    if let Some(d) = m.dir_of("memory") {
        s.memory = memory(d)?;
    }
    if let Some(d) = m.dir_of("pids") {
        s.pids = pids(d)?;
    }
    if let Some(d) = m.dir_of("blkio") {
        s.blkio = blkio(d)?;
    }
    if let Some(d) = m.dir_of("hugetlb") {
        hugetlb(d, &mut s)?;
    }
    Ok(s)
}

fn list(path: &Path) -> Result<Vec<u64>, CgroupError> {
    match read_opt(path)? {
        Some(c) => c
            .split_whitespace()
            .map(|v| fsutil::parse_u64(path, v))
            .collect(),
        None => Ok(Vec::new()),
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

pub(super) fn cpuacct(dir: &Path, cpu: &mut CpuStats) -> Result<(), CgroupError> {
    let u = &mut cpu.usage;
    u.total = read_u64_opt(&dir.join("cpuacct.usage"))?.unwrap_or(0);
    u.percpu = list(&dir.join("cpuacct.usage_percpu"))?;
    u.percpu_kernel = list(&dir.join("cpuacct.usage_percpu_sys"))?;
    u.percpu_user = list(&dir.join("cpuacct.usage_percpu_user"))?;
    match (
        read_u64_opt(&dir.join("cpuacct.usage_user"))?,
        read_u64_opt(&dir.join("cpuacct.usage_sys"))?,
    ) {
        (Some(user), Some(sys)) => {
            u.user = user;
            u.kernel = sys;
        }
        _ => {
            // Older kernels only report clock ticks in cpuacct.stat.
            let f = dir.join("cpuacct.stat");
            if let Some(c) = read_opt(&f)? {
                let ns_per_tick = 1_000_000_000 / clock_ticks();
                for (k, v) in fsutil::parse_flat_keyed(&f, &c)? {
                    match k.as_str() {
                        "user" => u.user = v * ns_per_tick,
                        "system" => u.kernel = v * ns_per_tick,
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

pub(super) fn throttling(dir: &Path, cpu: &mut CpuStats) -> Result<(), CgroupError> {
    let f = dir.join("cpu.stat");
    let Some(c) = read_opt(&f)? else {
        return Ok(());
    };
    for (k, v) in fsutil::parse_flat_keyed(&f, &c)? {
        match k.as_str() {
            "nr_periods" => cpu.throttling.periods = v,
            "nr_throttled" => cpu.throttling.throttled_periods = v,
            "throttled_time" => cpu.throttling.throttled_time = v,
            _ => {}
        }
    }
    Ok(())
}

fn memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    let get = |suffix: &str| read_u64_opt(&dir.join(format!("{prefix}.{suffix}")));
    Ok(MemoryEntry {
        limit: get("limit_in_bytes")?.unwrap_or(0),
        usage: get("usage_in_bytes")?.unwrap_or(0),
        max: get("max_usage_in_bytes")?.unwrap_or(0),
        failcnt: get("failcnt")?.unwrap_or(0),
    })
}

pub(super) fn memory(dir: &Path) -> Result<MemoryStats, CgroupError> {
    let mut m = MemoryStats {
        usage: memory_entry(dir, "memory")?,
        swap: memory_entry(dir, "memory.memsw")?,
        kernel: memory_entry(dir, "memory.kmem")?,
        kernel_tcp: memory_entry(dir, "memory.kmem.tcp")?,
        ..Default::default()
    };
    let f = dir.join("memory.stat");
    if let Some(c) = read_opt(&f)? {
        m.raw = fsutil::parse_flat_keyed(&f, &c)?.into_iter().collect();
        m.cache = m.raw.get("cache").copied().unwrap_or(0);
    }
    Ok(m)
}

pub(crate) fn pids(dir: &Path) -> Result<PidsStats, CgroupError> {
    let current = read_u64_opt(&dir.join("pids.current"))?.unwrap_or(0);
    let limit = match read_u64_opt(&dir.join("pids.max"))? {
        Some(u64::MAX) | None => 0,
        Some(v) => v,
    };
    Ok(PidsStats { current, limit })
}

/// Lines look like "8:0 Read 4096"; the trailing "Total N" line is a sum.
pub(super) fn parse_blkio_entries(
    path: &Path,
    content: &str,
) -> Result<Vec<BlkioEntry>, CgroupError> {
    let mut out = Vec::new();
    for line in content.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || CgroupError::Parse {
            path: path.to_path_buf(),
            line: line.to_string(),
            reason: "expected \"MAJ:MIN Op value\"".into(),
        };
        let (dev, op, value) = match f.as_slice() {
            [] | ["Total", _] => continue,
            [dev, value] => (*dev, "", *value),
            [dev, op, value] => (*dev, *op, *value),
            _ => return Err(bad()),
        };
        let (maj, min) = dev.split_once(':').ok_or_else(bad)?;
        out.push(BlkioEntry {
            major: maj.parse().map_err(|_| bad())?,
            minor: min.parse().map_err(|_| bad())?,
            op: op.to_string(),
            value: fsutil::parse_u64(path, value)?,
        });
    }
    Ok(out)
}

fn blkio(dir: &Path) -> Result<BlkioStats, CgroupError> {
    // Prefer CFQ's full set, then BFQ, then the throttle layer, which always
    // counts but only bytes and ios.
    let prefix = ["blkio.", "blkio.bfq.", "blkio.throttle."]
        .into_iter()
        .find(|p| dir.join(format!("{p}io_service_bytes_recursive")).exists());
    let Some(prefix) = prefix else {
        return Ok(BlkioStats::default());
    };
    let get = |name: &str| -> Result<Vec<BlkioEntry>, CgroupError> {
        let f = dir.join(format!("{prefix}{name}"));
        match read_opt(&f)? {
            Some(c) => parse_blkio_entries(&f, &c),
            None => Ok(Vec::new()),
        }
    };
    Ok(BlkioStats {
        io_service_bytes_recursive: get("io_service_bytes_recursive")?,
        io_serviced_recursive: get("io_serviced_recursive")?,
        io_queued_recursive: get("io_queued_recursive")?,
        io_service_time_recursive: get("io_service_time_recursive")?,
        io_wait_time_recursive: get("io_wait_time_recursive")?,
        io_merged_recursive: get("io_merged_recursive")?,
        io_time_recursive: get("time_recursive")?,
        sectors_recursive: get("sectors_recursive")?,
    })
}

fn hugetlb(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(".usage_in_bytes"))
        else {
            continue;
        };
        if size.contains('.') {
            continue; // hugetlb.<size>.rsvd.* reservation accounting
        }
        let get = |suffix: &str| read_u64_opt(&dir.join(format!("hugetlb.{size}.{suffix}")));
        s.hugetlb.insert(
            size.to_string(),
            HugetlbStats {
                usage: get("usage_in_bytes")?.unwrap_or(0),
                max: get("max_usage_in_bytes")?.unwrap_or(0),
                failcnt: get("failcnt")?.unwrap_or(0),
            },
        );
    }
    Ok(())
}

#[cfg(test)]
pub(super) fn clock_ticks_for_tests() -> u64 {
    clock_ticks()
}
