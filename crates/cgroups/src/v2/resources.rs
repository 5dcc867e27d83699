//! Applying OCI resources (cgroup v1 units) to cgroup v2 files, converting
//! where the two differ.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::V2Manager;
use crate::convert::{
    blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2, v2_limit,
};
use crate::error::CgroupError;
use crate::fsutil;

pub(super) fn apply(m: &V2Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let dir = m.dir();
    if let Some(cpu) = r.cpu() {
        apply_cpu(dir, cpu)?;
    }
    if let Some(mem) = r.memory() {
        apply_memory(dir, mem)?;
    }
    if let Some(p) = r.pids() {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        write(dir, "pids.max", &v, "linux.resources.pids.limit")?;
    }
    if let Some(b) = r.block_io() {
        apply_io(dir, b)?;
    }
    for l in r.hugepage_limits().iter().flatten() {
        let size = l.page_size();
        write(
            dir,
            &format!("hugetlb.{size}.max"),
            &l.limit().to_string(),
            &format!("linux.resources.hugepageLimits[{size}]"),
        )?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(CgroupError::Unsupported {
                resource: "linux.resources.network".into(),
                path: dir.to_path_buf(),
                why: "cgroup v2 has no net_cls/net_prio controllers; tag or prioritise traffic with BPF or nftables (socket cgroupv2 match) instead".into(),
            });
        }
    }
    if let Some(rdma) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
        let f = dir.join("rdma.max");
        if !f.exists() {
            return Err(missing("linux.resources.rdma", &f));
        }
        crate::v1::write_rdma(&f, rdma)?;
    }
    if let Some(u) = r.unified() {
        apply_unified(dir, u)?;
    }
    if let Some(devs) = r.devices().as_ref().filter(|d| !d.is_empty()) {
        crate::bpf_devices::apply(dir, devs)?;
    }
    Ok(())
}

fn missing(resource: &str, file: &Path) -> CgroupError {
    CgroupError::Unsupported {
        resource: resource.to_string(),
        path: file.to_path_buf(),
        why: "the controller that provides this file is not enabled for this cgroup (check cgroup.controllers of the parent) or not built into the kernel".into(),
    }
}

/// Missing files mean the controller is not enabled in this cgroup; say so
/// in terms of the spec field rather than a bare ENOENT.
fn write(dir: &Path, file: &str, value: &str, resource: &str) -> Result<(), CgroupError> {
    let f = dir.join(file);
    if !f.exists() {
        return Err(missing(resource, &f));
    }
    fsutil::write(&f, value)
}

fn apply_cpu(dir: &Path, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(c) = cpu.cpus() {
        write(dir, "cpuset.cpus", c, "linux.resources.cpu.cpus")?;
    }
    if let Some(mems) = cpu.mems() {
        write(dir, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
    }
    if let Some(s) = cpu.shares() {
        let w = cpu_shares_to_weight(s);
        if w > 0 {
            write(
                dir,
                "cpu.weight",
                &w.to_string(),
                "linux.resources.cpu.shares",
            )?;
        }
    }
    if cpu.quota().is_some() || cpu.period().is_some() {
        let quota = match cpu.quota() {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            // Only the period changes: keep the quota that is in force,
            // since cpu.max always takes both.
            None => fsutil::read_opt(&dir.join("cpu.max"))?
                .and_then(|c| c.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "max".into()),
        };
        let value = match cpu.period() {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        write(dir, "cpu.max", &value, "linux.resources.cpu.quota/period")?;
    }
    if let Some(b) = cpu.burst() {
        write(
            dir,
            "cpu.max.burst",
            &b.to_string(),
            "linux.resources.cpu.burst",
        )?;
    }
    if let Some(i) = cpu.idle() {
        write(dir, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
    }
    let rt = [
        cpu.realtime_runtime().map(|v| v.to_string()),
        cpu.realtime_period().map(|v| v.to_string()),
    ];
    if rt.iter().flatten().any(|v| v != "0") {
        return Err(CgroupError::Unsupported {
            resource: "linux.resources.cpu.realtimeRuntime/realtimePeriod".into(),
            path: dir.join("cpu.rt_runtime_us"),
            why: "cgroup v2 cannot limit real-time CPU time per cgroup; drop these fields".into(),
        });
    }
    Ok(())
}

fn apply_memory(dir: &Path, mem: &LinuxMemory) -> Result<(), CgroupError> {
    if let Some(swap) = mem.swap() {
        let value =
            memory_swap_to_v2(swap, mem.limit()).map_err(|why| CgroupError::InvalidResource {
                resource: "linux.resources.memory.swap".into(),
                value: swap.to_string(),
                why,
            })?;
        if let Some(v) = value {
            let f = dir.join("memory.swap.max");
            if !f.exists() {
                return Err(CgroupError::Unsupported {
                    resource: "linux.resources.memory.swap".into(),
                    path: f,
                    why: "swap accounting is disabled on this host (kernel built without CONFIG_MEMCG_SWAP or booted with swapaccount=0) or the memory controller is not enabled here".into(),
                });
            }
            fsutil::write(&f, &v)?;
        }
    }
    if let Some(l) = mem.limit() {
        write(
            dir,
            "memory.max",
            &v2_limit(l),
            "linux.resources.memory.limit",
        )?;
    }
    if let Some(r) = mem.reservation() {
        write(
            dir,
            "memory.low",
            &v2_limit(r),
            "linux.resources.memory.reservation",
        )?;
    }
    // swappiness, disableOOMKiller and kernel limits have no per-cgroup v2
    // file; like runc and crun we leave them unapplied.
    Ok(())
}

fn apply_io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = dir.join("io.bfq.weight");
    // BFQ takes the v1 range unchanged; io.weight needs the conversion.
    let weight = |w: u16| -> (&'static str, String) {
        if bfq.exists() {
            ("io.bfq.weight", w.to_string())
        } else {
            ("io.weight", blkio_weight_to_io_weight(w.into()).to_string())
        }
    };
    if let Some(w) = b.weight() {
        let (file, v) = weight(w);
        let v = if file == "io.weight" {
            format!("default {v}")
        } else {
            v
        };
        write(dir, file, &v, "linux.resources.blockIO.weight")?;
    }
    if let Some(w) = b.leaf_weight() {
        if w != 0 {
            return Err(CgroupError::Unsupported {
                resource: "linux.resources.blockIO.leafWeight".into(),
                path: dir.join("io.weight"),
                why: "cgroup v2 has no leaf weights; drop the field".into(),
            });
        }
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let (file, v) = weight(w);
            write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), v),
                "linux.resources.blockIO.weightDevice",
            )?;
        }
    }
    // io.max takes "MAJ:MIN key=value..." and leaves unnamed keys alone, so
    // all limits of one device go in one line.
    let mut per_dev: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
    let lists = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in lists {
        for d in list.iter().flatten() {
            // v1 uses 0 to remove a limit; v2 spells that "max".
            let v = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            per_dev
                .entry((d.major(), d.minor()))
                .or_default()
                .push(format!("{key}={v}"));
        }
    }
    for ((maj, min), kv) in per_dev {
        write(
            dir,
            "io.max",
            &format!("{maj}:{min} {}", kv.join(" ")),
            "linux.resources.blockIO.throttle*",
        )?;
    }
    Ok(())
}

/// Keys are file names relative to the cgroup; refuse anything that could
/// leave the cgroup directory or touch the interface files the runtime
/// itself manages.
fn apply_unified(
    dir: &Path,
    u: &std::collections::HashMap<String, String>,
) -> Result<(), CgroupError> {
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in keys {
        let bad = |why: &str| CgroupError::InvalidResource {
            resource: format!("linux.resources.unified[{k:?}]"),
            value: v.clone(),
            why: why.to_string(),
        };
        if k.is_empty() || k.contains('/') || k.starts_with('.') {
            return Err(bad(
                "keys must be plain cgroup file names such as \"memory.high\"",
            ));
        }
        if matches!(
            k.as_str(),
            "cgroup.procs"
                | "cgroup.threads"
                | "cgroup.subtree_control"
                | "cgroup.freeze"
                | "cgroup.kill"
        ) {
            return Err(bad(
                "this file is managed by the runtime and cannot be set through unified",
            ));
        }
        let f = dir.join(k);
        if !f.exists() {
            let controller = k.split('.').next().unwrap_or(k);
            return Err(CgroupError::Unsupported {
                resource: format!("linux.resources.unified[{k:?}]"),
                path: f,
                why: format!("no such file: the {controller} controller is not enabled for this cgroup or the kernel does not have this file"),
            });
        }
        fsutil::write(&f, v)?;
    }
    Ok(())
}
