//! cgroup v1 and v2 management behind one [`Manager`] interface, with the
//! version chosen at run time by [`open`].

use std::path::{Path, PathBuf};

mod bpf_devices;
pub mod convert;
mod entry;
mod error;
mod fsutil;
pub mod mountinfo;
mod stats;
mod v1;
mod v2;

pub use entry::Entry;
pub use error::CgroupError;
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};
pub use v1::V1Manager;
pub use v2::V2Manager;

/// The conventional mount point of the cgroup filesystem(s).
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Frozen,
    /// Freezing was requested but some task has not stopped yet.
    Freezing,
}

impl FreezerState {
    pub fn as_str(self) -> &'static str {
        match self {
            FreezerState::Thawed => "THAWED",
            FreezerState::Frozen => "FROZEN",
            FreezerState::Freezing => "FREEZING",
        }
    }
}

impl std::fmt::Display for FreezerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Operations on one container's cgroup, whichever cgroup version backs it.
pub trait Manager: Send {
    fn version(&self) -> Version;
    /// Creates the cgroup (and missing parents) in every hierarchy.
    fn create(&self) -> Result<(), CgroupError>;
    /// Moves a process (all its threads) into the cgroup.
    fn add_task(&self, pid: i32) -> Result<(), CgroupError>;
    /// Opens the cgroup for a process about to be forked, which then enters it
    /// without [`Manager::add_task`]'s cost (see [`Entry`]).
    fn entry(&self) -> Result<Entry, CgroupError>;
    /// Applies OCI `linux.resources`; unset fields are left untouched.
    fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), CgroupError>;
    /// Freezes every task and returns once the kernel reports FROZEN.
    fn freeze(&self) -> Result<(), CgroupError>;
    fn thaw(&self) -> Result<(), CgroupError>;
    fn freezer_state(&self) -> Result<FreezerState, CgroupError>;
    /// Every pid in this cgroup and its descendants, sorted.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// How many times the kernel OOM killer killed a task in this cgroup.
    fn oom_kill_count(&self) -> Result<u64, CgroupError>;
    /// Removes the cgroup and its descendants; a missing cgroup is not an error.
    fn destroy(&self) -> Result<(), CgroupError>;
    fn exists(&self) -> bool;
    /// v1 only: (hierarchy mount name, this cgroup's dir in it); empty on v2.
    fn v1_mounts(&self) -> Vec<(String, PathBuf)>;
    /// v2 only: this cgroup's dir.
    fn v2_path(&self) -> Option<PathBuf>;
}

/// Tells v2 (a cgroup2 filesystem mounted at `root`) from v1 (anything else,
/// normally a tmpfs holding one mount per hierarchy; a hybrid host's
/// cgroup2 mount at `root/unified` does not make it v2).
pub fn detect(root: &Path) -> Result<Version, CgroupError> {
    let st = rustix::fs::statfs(root).map_err(|e| CgroupError::Detect {
        path: root.to_path_buf(),
        source: e.into(),
    })?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between libc targets
    if st.f_type as i64 == CGROUP2_SUPER_MAGIC {
        Ok(Version::V2)
    } else {
        Ok(Version::V1)
    }
}

/// Opens the manager for `cgroups_path` (the OCI `linux.cgroupsPath`;
/// relative paths are placed under the caller's own cgroup) under `root`.
/// Nothing is created until [`Manager::create`].
pub fn open(root: &Path, cgroups_path: &Path) -> Result<Box<dyn Manager>, CgroupError> {
    let proc_cgroup = Path::new("/proc/self/cgroup");
    let own = mountinfo::parse_proc_cgroup(&fsutil::read(proc_cgroup)?, proc_cgroup)?;
    match detect(root)? {
        Version::V2 => {
            let own_v2 = own
                .iter()
                .find(|c| c.hierarchy_id == 0)
                .map(|c| c.path.as_path());
            let dir = mountinfo::resolve(root, Path::new("/"), own_v2, cgroups_path);
            Ok(Box::new(V2Manager::from_dir(root, dir)))
        }
        Version::V1 => {
            let mi = Path::new("/proc/self/mountinfo");
            let mounts = mountinfo::parse_v1_mounts(&fsutil::read(mi)?, root, mi)?;
            if mounts.is_empty() {
                return Err(CgroupError::NoHierarchy {
                    controller: "any".into(),
                    mountinfo: mi.to_path_buf(),
                });
            }
            let hierarchies = mounts
                .into_iter()
                .map(|m| {
                    // Both files list a co-mounted hierarchy's controllers,
                    // but nothing promises the same order.
                    let mut want = m.controllers.clone();
                    want.sort();
                    let own_path = own
                        .iter()
                        .find(|c| {
                            let mut have = c.controllers.clone();
                            have.sort();
                            c.hierarchy_id != 0 && have == want
                        })
                        .map(|c| c.path.as_path());
                    let dir =
                        mountinfo::resolve(&m.mount_point, &m.mount_root, own_path, cgroups_path);
                    v1::Hierarchy::new(m.name, m.controllers, m.mount_point, dir)
                })
                .collect();
            Ok(Box::new(V1Manager::from_hierarchies(hierarchies)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_tmpdir_is_v1() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(detect(t.path()).unwrap(), Version::V1);
    }

    #[test]
    fn detect_missing_root_names_path() {
        let e = detect(Path::new("/nonexistent/berth")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/berth"), "{e}");
    }

    #[test]
    fn detect_real_root() {
        let v = detect(Path::new(DEFAULT_ROOT)).unwrap();
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        assert_eq!(v == Version::V2, unified);
    }
}

#[cfg(test)]
mod test_support;
