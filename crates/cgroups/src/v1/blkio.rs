//! v1 blkio controller.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::V1Manager;
use crate::error::CgroupError;
use crate::fsutil;

/// CFQ's blkio.weight files disappeared with the legacy block layer (5.0);
/// on newer kernels BFQ provides blkio.bfq.weight with the same range.
fn weight_file(dir: &Path, cfq: &str, bfq: &str, resource: &str) -> Result<PathBuf, CgroupError> {
    let f = dir.join(cfq);
    if f.exists() {
        return Ok(f);
    }
    let b = dir.join(bfq);
    if b.exists() {
        return Ok(b);
    }
    Err(CgroupError::Unsupported {
        resource: resource.to_string(),
        path: f,
        why: format!("neither {cfq} (CFQ) nor {bfq} (BFQ) exists; block I/O weights need the CFQ or BFQ I/O scheduler"),
    })
}

pub(super) fn apply(m: &V1Manager, b: Option<&LinuxBlockIo>) -> Result<(), CgroupError> {
    let Some(b) = b else { return Ok(()) };
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    let wants_any = b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || throttles
            .iter()
            .any(|(_, v)| v.as_ref().is_some_and(|v| !v.is_empty()));
    if !wants_any {
        return Ok(());
    }
    let dir = m.require("blkio")?;
    if let Some(w) = b.weight() {
        let f = weight_file(
            dir,
            "blkio.weight",
            "blkio.bfq.weight",
            "linux.resources.blockIO.weight",
        )?;
        fsutil::write(&f, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight() {
        fsutil::write_required(
            &dir.join("blkio.leaf_weight"),
            &w.to_string(),
            "linux.resources.blockIO.leafWeight",
            "leaf weights exist only with the CFQ I/O scheduler, removed in Linux 5.0",
        )?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let f = weight_file(
                dir,
                "blkio.weight_device",
                "blkio.bfq.weight_device",
                "linux.resources.blockIO.weightDevice",
            )?;
            fsutil::write(&f, &format!("{}:{} {}", d.major(), d.minor(), w))?;
        }
        if let Some(w) = d.leaf_weight() {
            fsutil::write_required(
                &dir.join("blkio.leaf_weight_device"),
                &format!("{}:{} {}", d.major(), d.minor(), w),
                "linux.resources.blockIO.weightDevice[].leafWeight",
                "leaf weights exist only with the CFQ I/O scheduler, removed in Linux 5.0",
            )?;
        }
    }
    for (file, devs) in throttles {
        for d in devs.iter().flatten() {
            fsutil::write(
                &dir.join(file),
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}
