//! v1 cpu and cpuset controllers.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::V1Manager;
use crate::error::CgroupError;
use crate::fsutil;

pub(super) fn apply(m: &V1Manager, cpu: Option<&LinuxCpu>) -> Result<(), CgroupError> {
    let Some(cpu) = cpu else { return Ok(()) };
    if cpu.cpus().is_some() || cpu.mems().is_some() {
        let dir = m.require("cpuset")?;
        // mems before cpus does not matter to the kernel, but both must be
        // non-empty before tasks can join, so write whichever is given.
        if let Some(c) = cpu.cpus() {
            fsutil::write(&dir.join("cpuset.cpus"), c)?;
        }
        if let Some(mems) = cpu.mems() {
            fsutil::write(&dir.join("cpuset.mems"), mems)?;
        }
    }
    let wants_cpu = cpu.shares().is_some()
        || cpu.quota().is_some()
        || cpu.period().is_some()
        || cpu.burst().is_some()
        || cpu.realtime_runtime().is_some()
        || cpu.realtime_period().is_some()
        || cpu.idle().is_some();
    if !wants_cpu {
        return Ok(());
    }
    let dir = m.require("cpu")?;
    if let Some(s) = cpu.shares() {
        fsutil::write(&dir.join("cpu.shares"), &s.to_string())?;
    }
    // The kernel validates quota against the current period, so a new
    // period has to be in place first.
    if let Some(p) = cpu.period() {
        fsutil::write(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
    }
    if let Some(q) = cpu.quota() {
        let q = if q < 0 { -1 } else { q };
        fsutil::write(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    if let Some(b) = cpu.burst() {
        fsutil::write_required(
            &dir.join("cpu.cfs_burst_us"),
            &b.to_string(),
            "linux.resources.cpu.burst",
            "this kernel has no CFS burst support (needs Linux 5.14+)",
        )?;
    }
    let rt_why = "the kernel was built without CONFIG_RT_GROUP_SCHED, so real-time CPU time cannot be limited per cgroup";
    if let Some(p) = cpu.realtime_period() {
        fsutil::write_required(
            &dir.join("cpu.rt_period_us"),
            &p.to_string(),
            "linux.resources.cpu.realtimePeriod",
            rt_why,
        )?;
    }
    if let Some(r) = cpu.realtime_runtime() {
        fsutil::write_required(
            &dir.join("cpu.rt_runtime_us"),
            &r.to_string(),
            "linux.resources.cpu.realtimeRuntime",
            rt_why,
        )?;
    }
    if let Some(i) = cpu.idle() {
        fsutil::write_required(
            &dir.join("cpu.idle"),
            &i.to_string(),
            "linux.resources.cpu.idle",
            "this kernel has no SCHED_IDLE cgroup support (needs Linux 5.15+)",
        )?;
    }
    Ok(())
}

/// A fresh v1 cpuset starts with empty cpus and mems, and the kernel refuses
/// to attach tasks to it until both are set; inherit the parent's.
pub(super) fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let current = fsutil::read_opt(&own)?;
        if current.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            continue;
        }
        let from = fsutil::read(&parent.join(file))?;
        let from = from.trim();
        if from.is_empty() {
            continue;
        }
        if current.is_some() {
            fsutil::write(&own, from)?;
        } else {
            // Only a fake tree (tests, or a directory that is not cgroupfs)
            // lacks the file; the kernel always creates it on mkdir.
            std::fs::write(&own, from).map_err(|e| fsutil::write_err(&own, from, e))?;
        }
    }
    Ok(())
}
