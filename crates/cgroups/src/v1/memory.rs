//! v1 memory controller.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::V1Manager;
use crate::error::CgroupError;
use crate::fsutil;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

pub(super) fn apply(m: &V1Manager, mem: Option<&LinuxMemory>) -> Result<(), CgroupError> {
    let Some(mem) = mem else { return Ok(()) };
    let wants_any = mem.limit().is_some()
        || mem.reservation().is_some()
        || mem.swap().is_some()
        || mem.kernel_tcp().is_some()
        || mem.swappiness().is_some()
        || mem.disable_oom_killer().is_some();
    if !wants_any {
        return Ok(());
    }
    let dir = m.require("memory")?;
    set_limits(dir, mem.limit(), mem.swap())?;
    if let Some(r) = mem.reservation() {
        fsutil::write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
    }
    if let Some(t) = mem.kernel_tcp() {
        fsutil::write_required(
            &dir.join("memory.kmem.tcp.limit_in_bytes"),
            &t.to_string(),
            "linux.resources.memory.kernelTCP",
            "the kernel has no TCP buffer accounting for cgroup v1 (CONFIG_MEMCG_KMEM)",
        )?;
    }
    if let Some(s) = mem.swappiness() {
        if s > 100 {
            return Err(CgroupError::InvalidResource {
                resource: "linux.resources.memory.swappiness".into(),
                value: s.to_string(),
                why: "must be between 0 and 100".into(),
            });
        }
        fsutil::write(&dir.join("memory.swappiness"), &s.to_string())?;
    }
    if let Some(disable) = mem.disable_oom_killer() {
        // Only setting it is meaningful; "0" would re-enable a killer that
        // another tool may have disabled on purpose.
        if disable {
            fsutil::write(&dir.join("memory.oom_control"), "1")?;
        }
    }
    Ok(())
}

/// The kernel keeps memsw >= limit at every instant, so the order of the
/// two writes depends on whether the limits grow or shrink.
fn set_limits(dir: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<(), CgroupError> {
    let limit_file = dir.join(LIMIT);
    let memsw_file = dir.join(MEMSW);
    let Some(swap) = swap else {
        if let Some(l) = limit {
            write_limit(&limit_file, l)?;
        }
        return Ok(());
    };
    if !memsw_file.exists() {
        return Err(CgroupError::Unsupported {
            resource: "linux.resources.memory.swap".into(),
            path: memsw_file,
            why: "swap accounting is disabled on this host; boot the kernel with swapaccount=1 (or CONFIG_MEMCG_SWAP) or drop the swap limit".into(),
        });
    }
    let swap_first = match limit {
        None => true,
        Some(_) if swap == -1 => true,
        Some(l) => {
            let current_memsw = fsutil::read_u64(&memsw_file)?;
            l < 0 || (l as u64) > current_memsw
        }
    };
    if swap_first {
        write_limit(&memsw_file, swap)?;
        if let Some(l) = limit {
            write_limit(&limit_file, l)?;
        }
    } else {
        if let Some(l) = limit {
            write_limit(&limit_file, l)?;
        }
        write_limit(&memsw_file, swap)?;
    }
    Ok(())
}

fn write_limit(file: &Path, v: i64) -> Result<(), CgroupError> {
    let value = v.to_string();
    fsutil::write_raw(file, &value).map_err(|e| {
        if e.raw_os_error() == Some(libc::EBUSY) {
            CgroupError::MemoryLimitBelowUsage {
                path: file.to_path_buf(),
                value,
            }
        } else {
            fsutil::write_err(file, &value, e)
        }
    })
}
