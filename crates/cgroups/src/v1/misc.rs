//! v1 pids, hugetlb, net_cls/net_prio and rdma controllers.

use std::collections::HashMap;

use oci_spec::runtime::{LinuxHugepageLimit, LinuxNetwork, LinuxPids, LinuxRdma};

use super::V1Manager;
use crate::error::CgroupError;
use crate::fsutil;

pub(super) fn apply_pids(m: &V1Manager, p: Option<&LinuxPids>) -> Result<(), CgroupError> {
    let Some(p) = p else { return Ok(()) };
    let dir = m.require("pids")?;
    let v = if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".into()
    };
    fsutil::write(&dir.join("pids.max"), &v)
}

pub(super) fn apply_hugetlb(
    m: &V1Manager,
    limits: Option<&[LinuxHugepageLimit]>,
) -> Result<(), CgroupError> {
    let Some(limits) = limits.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let dir = m.require("hugetlb")?;
    for l in limits {
        let size = l.page_size();
        fsutil::write_required(
            &dir.join(format!("hugetlb.{size}.limit_in_bytes")),
            &l.limit().to_string(),
            &format!("linux.resources.hugepageLimits[{size}]"),
            "this host has no huge pages of that size (see /sys/kernel/mm/hugepages)",
        )?;
    }
    Ok(())
}

pub(super) fn apply_network(m: &V1Manager, n: Option<&LinuxNetwork>) -> Result<(), CgroupError> {
    let Some(n) = n else { return Ok(()) };
    if let Some(id) = n.class_id() {
        let dir = m.require("net_cls")?;
        fsutil::write(&dir.join("net_cls.classid"), &id.to_string())?;
    }
    for p in n.priorities().iter().flatten() {
        let dir = m.require("net_prio")?;
        fsutil::write(
            &dir.join("net_prio.ifpriomap"),
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

pub(super) fn apply_rdma(
    m: &V1Manager,
    r: Option<&HashMap<String, LinuxRdma>>,
) -> Result<(), CgroupError> {
    let Some(r) = r.filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    let dir = m.require("rdma")?;
    write_rdma(&dir.join("rdma.max"), r)
}

/// rdma.max has the same "<device> hca_handle=N hca_object=M" syntax in v1 and v2.
pub(crate) fn write_rdma(
    file: &std::path::Path,
    r: &HashMap<String, LinuxRdma>,
) -> Result<(), CgroupError> {
    let mut devices: Vec<_> = r.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, lim) in devices {
        let mut line = dev.clone();
        if let Some(h) = lim.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = lim.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > dev.len() {
            fsutil::write(file, &line)?;
        }
    }
    Ok(())
}
