//! cgroup v2: a single hierarchy; controllers must be enabled top-down
//! through cgroup.subtree_control before their files appear in a child.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::error::CgroupError;
use crate::fsutil;
use crate::mountinfo::strip_root;
use crate::stats::Stats;
use crate::{FreezerState, Manager, Version};

mod resources;
mod stats;
#[cfg(test)]
mod tests;

/// Controllers the runtime can configure; only those the parent offers are
/// enabled, so a host without e.g. hugetlb still works.
const WANTED_CONTROLLERS: &[&str] = &[
    "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc",
];

const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct V2Manager {
    root: PathBuf,
    dir: PathBuf,
}

impl V2Manager {
    /// `cgroups_path` is placed below `root` whether or not it is absolute.
    pub fn new(root: &Path, cgroups_path: &Path) -> Self {
        V2Manager {
            root: root.to_path_buf(),
            dir: root.join(strip_root(cgroups_path)),
        }
    }

    pub(crate) fn from_dir(root: &Path, dir: PathBuf) -> Self {
        V2Manager {
            root: root.to_path_buf(),
            dir,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Enables the wanted controllers in `parent`'s cgroup.subtree_control.
    fn enable_controllers(parent: &Path) -> Result<(), CgroupError> {
        let available = fsutil::read(&parent.join("cgroup.controllers"))?;
        let enabled = fsutil::read_opt(&parent.join("cgroup.subtree_control"))?.unwrap_or_default();
        let missing: Vec<&str> = available
            .split_whitespace()
            .filter(|c| WANTED_CONTROLLERS.contains(c))
            .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let file = parent.join("cgroup.subtree_control");
        let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
        if fsutil::write_raw(&file, &all.join(" ")).is_ok() {
            return Ok(());
        }
        // One refused controller (e.g. cpu while a real-time task sits in
        // the parent) must not keep the others off; settings that need a
        // missing controller fail later naming the missing file.
        for c in all {
            let _ = fsutil::write_raw(&file, &c);
        }
        Ok(())
    }

    fn set_freeze(&self, want: FreezerState) -> Result<(), CgroupError> {
        let file = self.dir.join("cgroup.freeze");
        if !file.exists() && self.dir.exists() {
            return Err(CgroupError::Unsupported {
                resource: "freezing".into(),
                path: file,
                why: "the cgroup v2 freezer needs Linux 5.2+".into(),
            });
        }
        let value = if want == FreezerState::Frozen {
            "1"
        } else {
            "0"
        };
        fsutil::write(&file, value)?;
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            let now = self.freezer_state()?;
            if now == want {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                if want == FreezerState::Frozen {
                    let _ = fsutil::write(&file, "0");
                }
                return Err(CgroupError::FreezeTimeout {
                    path: self.dir.join("cgroup.events"),
                    wanted: want.as_str(),
                    last: now.as_str().to_string(),
                    millis: FREEZE_TIMEOUT.as_millis() as u64,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// cgroup.freeze is the request, "frozen" in cgroup.events the outcome.
pub(crate) fn freezer_state_from(
    events_path: &Path,
    freeze: &str,
    events: &str,
) -> Result<FreezerState, CgroupError> {
    if freeze.trim() != "1" {
        return Ok(FreezerState::Thawed);
    }
    match fsutil::flat_keyed_value(events_path, events, "frozen")? {
        Some(1) => Ok(FreezerState::Frozen),
        _ => Ok(FreezerState::Freezing),
    }
}

impl Manager for V2Manager {
    fn version(&self) -> Version {
        Version::V2
    }

    fn create(&self) -> Result<(), CgroupError> {
        fsutil::mkdir_p(&self.dir)?;
        let rel = self.dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let mut parent = self.root.clone();
        let comps: Vec<_> = rel.components().collect();
        // Every ancestor from the root down to the direct parent must pass
        // the controllers on; the new cgroup itself keeps subtree_control
        // empty because processes will live in it.
        for comp in comps {
            Self::enable_controllers(&parent)?;
            parent.push(comp);
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        fsutil::write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn entry(&self) -> Result<crate::Entry, CgroupError> {
        crate::Entry::v2_dir(self.dir.clone())
    }

    fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        resources::apply(self, r)
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        self.set_freeze(FreezerState::Frozen)
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        self.set_freeze(FreezerState::Thawed)
    }

    fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        let freeze_file = self.dir.join("cgroup.freeze");
        // Kernels before 5.2 have no v2 freezer, so nothing can be frozen;
        // a missing cgroup directory, though, is an error worth reporting.
        let freeze = match fsutil::read_opt(&freeze_file)? {
            Some(f) => f,
            None if self.dir.is_dir() => return Ok(FreezerState::Thawed),
            None => fsutil::read(&freeze_file)?,
        };
        let events_path = self.dir.join("cgroup.events");
        let events = fsutil::read(&events_path)?;
        freezer_state_from(&events_path, &freeze, &events)
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        fsutil::pids_recursive(&self.dir)
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        stats::collect(&self.dir)
    }

    fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let file = self.dir.join("memory.events");
        let content = fsutil::read(&file)?;
        Ok(fsutil::flat_keyed_value(&file, &content, "oom_kill")?.unwrap_or(0))
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        fsutil::remove_tree(&self.dir)
    }

    fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    fn v1_mounts(&self) -> Vec<(String, PathBuf)> {
        Vec::new()
    }

    fn v2_path(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }
}
