//! cgroup v1: one directory per hierarchy, each hierarchy carrying one or
//! more controllers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::error::CgroupError;
use crate::fsutil;
use crate::mountinfo::strip_root;
use crate::stats::Stats;
use crate::{FreezerState, Manager, Version};

mod blkio;
mod cpu;
mod devices;
mod memory;
mod misc;
pub(crate) use misc::write_rdma;
pub(crate) use stats::pids as pids_stats;
mod stats;
#[cfg(test)]
mod tests;

/// This cgroup's place in one v1 hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    name: String,
    controllers: Vec<String>,
    mount: PathBuf,
    dir: PathBuf,
}

impl Hierarchy {
    pub(crate) fn new(
        name: String,
        controllers: Vec<String>,
        mount: PathBuf,
        dir: PathBuf,
    ) -> Self {
        Hierarchy {
            name,
            controllers,
            mount,
            dir,
        }
    }
}

#[derive(Debug, Clone)]
pub struct V1Manager {
    hierarchies: Vec<Hierarchy>,
}

const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

impl V1Manager {
    /// `hierarchies` are (mount name, mount point) pairs such as
    /// ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct"); the controllers are
    /// taken from the comma-separated name. `cgroups_path` is placed below
    /// each mount point whether or not it is absolute.
    pub fn with_hierarchies(hierarchies: Vec<(String, PathBuf)>, cgroups_path: &Path) -> Self {
        let hierarchies = hierarchies
            .into_iter()
            .map(|(name, mount)| {
                let controllers = name.split(',').map(str::to_string).collect();
                let dir = mount.join(strip_root(cgroups_path));
                Hierarchy::new(name, controllers, mount, dir)
            })
            .collect();
        V1Manager { hierarchies }
    }

    pub(crate) fn from_hierarchies(hierarchies: Vec<Hierarchy>) -> Self {
        V1Manager { hierarchies }
    }

    /// This cgroup's directory in the hierarchy carrying `controller`.
    pub(crate) fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    /// Like [`Self::dir_of`], but a spec asking for a controller the host
    /// lacks is an error rather than silently ignored.
    pub(crate) fn require(&self, controller: &str) -> Result<&Path, CgroupError> {
        self.dir_of(controller)
            .ok_or_else(|| CgroupError::NoHierarchy {
                controller: controller.to_string(),
                mountinfo: PathBuf::from("/proc/self/mountinfo"),
            })
    }

    fn create_in(h: &Hierarchy) -> Result<(), CgroupError> {
        let has_cpuset = h.controllers.iter().any(|c| c == "cpuset");
        let rel = h.dir.strip_prefix(&h.mount).unwrap_or(Path::new(""));
        let mut cur = h.mount.clone();
        for comp in rel.components() {
            let parent = cur.clone();
            cur.push(comp);
            if !cur.exists() {
                fsutil::mkdir_p(&cur)?;
            }
            if has_cpuset {
                cpu::inherit_cpuset(&parent, &cur)?;
            }
        }
        Ok(())
    }

    fn freezer_dir(&self) -> Result<&Path, CgroupError> {
        self.require("freezer")
    }

    fn set_freezer(&self, want: FreezerState) -> Result<(), CgroupError> {
        let file = self.freezer_dir()?.join("freezer.state");
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            // Rewriting the target state restarts a freeze that stalled on
            // a task that was forking at the time.
            fsutil::write(&file, want.as_str())?;
            let now = parse_freezer_state(&file, &fsutil::read(&file)?)?;
            if now == want {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                if want == FreezerState::Frozen {
                    // Leaving tasks half frozen would hang the container.
                    let _ = fsutil::write(&file, FreezerState::Thawed.as_str());
                }
                return Err(CgroupError::FreezeTimeout {
                    path: file,
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

pub(crate) fn parse_freezer_state(path: &Path, s: &str) -> Result<FreezerState, CgroupError> {
    match s.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FROZEN" => Ok(FreezerState::Frozen),
        "FREEZING" => Ok(FreezerState::Freezing),
        other => Err(CgroupError::Parse {
            path: path.to_path_buf(),
            line: other.to_string(),
            reason: "expected THAWED, FREEZING or FROZEN".into(),
        }),
    }
}

impl Manager for V1Manager {
    fn version(&self) -> Version {
        Version::V1
    }

    fn create(&self) -> Result<(), CgroupError> {
        // An empty parent cgroup may be removed by someone else (another manager
        // cleaning up) between our mkdir and our first write into it: start over a
        // few times instead of failing on that race.
        self.hierarchies.iter().try_for_each(|h| {
            let mut tries = 0;
            loop {
                match Self::create_in(h) {
                    Err(e) if tries < 5 && e.is_not_found() => tries += 1,
                    other => return other,
                }
            }
        })
    }

    fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        self.hierarchies
            .iter()
            .try_for_each(|h| fsutil::write(&h.dir.join("cgroup.procs"), &pid))
    }

    fn entry(&self) -> Result<crate::Entry, CgroupError> {
        crate::Entry::v1_tasks(self.hierarchies.iter().map(|h| h.dir.clone()))
    }

    fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(unified) = r.unified() {
            if !unified.is_empty() {
                let mut keys: Vec<&str> = unified.keys().map(String::as_str).collect();
                keys.sort_unstable();
                return Err(CgroupError::InvalidResource {
                    resource: "unified".into(),
                    value: keys.join(", "),
                    why: "linux.resources.unified holds cgroup v2 files and this host uses cgroup v1; express these settings with the v1 fields (memory, cpu, pids, ...) instead".into(),
                });
            }
        }
        // cpuset first: memory pages are placed according to mems.
        cpu::apply(self, r.cpu().as_ref())?;
        memory::apply(self, r.memory().as_ref())?;
        misc::apply_pids(self, r.pids().as_ref())?;
        blkio::apply(self, r.block_io().as_ref())?;
        misc::apply_hugetlb(self, r.hugepage_limits().as_deref())?;
        misc::apply_network(self, r.network().as_ref())?;
        misc::apply_rdma(self, r.rdma().as_ref())?;
        devices::apply(self, r.devices().as_deref())?;
        Ok(())
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        self.set_freezer(FreezerState::Frozen)
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        self.set_freezer(FreezerState::Thawed)
    }

    fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        // Without a freezer hierarchy nothing can ever be frozen.
        let Some(dir) = self.dir_of("freezer") else {
            return Ok(FreezerState::Thawed);
        };
        let file = dir.join("freezer.state");
        parse_freezer_state(&file, &fsutil::read(&file)?)
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        // Every hierarchy holds the same processes; prefer ones that are
        // normally present.
        let dir = ["pids", "freezer", "memory", "cpu"]
            .iter()
            .find_map(|c| self.dir_of(c))
            .or_else(|| self.hierarchies.first().map(|h| h.dir.as_path()));
        match dir {
            Some(d) => fsutil::pids_recursive(d),
            None => Ok(Vec::new()),
        }
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        stats::collect(self)
    }

    fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let file = self.require("memory")?.join("memory.oom_control");
        let content = fsutil::read(&file)?;
        // Kernels before 4.13 have no oom_kill line: nothing was counted.
        Ok(fsutil::flat_keyed_value(&file, &content, "oom_kill")?.unwrap_or(0))
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        // Try every hierarchy so one failure does not leak the others.
        let mut first_err = None;
        for h in &self.hierarchies {
            if let Err(e) = fsutil::remove_tree(&h.dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn exists(&self) -> bool {
        self.hierarchies.iter().any(|h| h.dir.is_dir())
    }

    fn v1_mounts(&self) -> Vec<(String, PathBuf)> {
        self.hierarchies
            .iter()
            .map(|h| (h.name.clone(), h.dir.clone()))
            .collect()
    }

    fn v2_path(&self) -> Option<PathBuf> {
        None
    }
}
