//! The verbs that act on an existing container: start, state, kill, delete, pause,
//! resume, update, ps and list.

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use berth_cgroups::{FreezerState, Manager};
use oci_spec::runtime::LinuxResources;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};

use crate::error::{IoContext, Result, RuntimeError};
use crate::hooks::{self, Kind};
use crate::state::{self, StateFile, Status};
use crate::{cgroup, sys};

/// A loaded container: its state file and a handle on its cgroup.
pub struct Container {
    pub state: StateFile,
    pub cgroup: Box<dyn Manager>,
    pub root: std::path::PathBuf,
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let state = StateFile::load(root, id)?;
        let cgroup = cgroup::open(&state.cgroup_root, &state.cgroups_path)?;
        Ok(Container {
            state,
            cgroup,
            root: root.to_path_buf(),
        })
    }

    pub fn status(&self) -> Status {
        self.state.status(&self.root, || {
            matches!(self.cgroup.freezer_state(), Ok(FreezerState::Frozen))
        })
    }

    fn wrong_state(
        &self,
        status: Status,
        action: &'static str,
        needed: &'static str,
    ) -> RuntimeError {
        RuntimeError::WrongState {
            id: self.state.id.clone(),
            status: status.to_string(),
            action,
            needed,
        }
    }

    pub fn state_json(&self) -> Result<String> {
        let status = self.status();
        serde_json::to_string_pretty(&self.state.output(status))
            .map_err(std::io::Error::other)
            .ctx(|| "encoding state".into())
    }

    fn hook_state(&self, status: Status) -> Vec<u8> {
        serde_json::to_vec(&self.state.output(status)).unwrap_or_default()
    }

    /// Releases the waiting init: it blocks opening the fifo for writing until we open it
    /// for reading, then writes one byte and execs.
    pub fn start(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Created {
            return Err(self.wrong_state(status, "start", "created"));
        }
        let dir = self.state.dir(&self.root);
        let fifo_path = dir.join(state::EXEC_FIFO);
        let fifo = rustix::fs::open(
            &fifo_path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)
        .ctx(|| format!("opening {}", fifo_path.display()))?;
        loop {
            let mut fds = [PollFd::new(&fifo, PollFlags::IN)];
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            };
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(std::io::Error::from(e)).ctx(|| "waiting on the exec fifo".into())
                }
            }
            let ready = fds[0].revents();
            if ready.contains(PollFlags::IN) {
                let mut b = [0u8; 1];
                match rustix::io::read(fifo.as_fd(), &mut b) {
                    Ok(1) => break,
                    Ok(_) | Err(rustix::io::Errno::AGAIN) => {}
                    Err(e) => {
                        return Err(std::io::Error::from(e)).ctx(|| "reading the exec fifo".into())
                    }
                }
            }
            if !self.state.init_alive() {
                return Err(RuntimeError::Init(format!(
                    "container \"{}\" init exited before it could be started",
                    self.state.id
                )));
            }
        }
        let _ = fs::remove_file(&fifo_path);
        self.wait_exec(&fifo)?;
        // A poststart hook failure is reported but does not undo the start (spec).
        if let Err(e) = hooks::run_all(
            Kind::Poststart,
            self.state.config.hooks().as_ref(),
            &self.hook_state(Status::Running),
        ) {
            eprintln!("berth-runtime: warning: {e}");
        }
        Ok(())
    }

    /// Init keeps its end of the fifo open (close-on-exec) until it has run the
    /// startContainer hooks and exec'd: end-of-file means the user's process runs, or
    /// that init failed on the way (then it is gone).
    fn wait_exec(&self, fifo: &rustix::fd::OwnedFd) -> Result<()> {
        let mut failed = false;
        loop {
            let mut fds = [PollFd::new(fifo, PollFlags::IN)];
            match poll(&mut fds, None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(std::io::Error::from(e)).ctx(|| "waiting for the exec".into())
                }
            }
            let mut b = [0u8; 64];
            match rustix::io::read(fifo.as_fd(), &mut b) {
                Ok(0) => break,
                Ok(n) => failed |= b[..n].contains(&b'E'),
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(std::io::Error::from(e)).ctx(|| "reading the exec fifo".into())
                }
            }
        }
        if failed {
            return Err(RuntimeError::Init(format!(
                "container \"{}\" failed to start its process (its error went to the container's stderr)",
                self.state.id
            )));
        }
        Ok(())
    }

    pub fn kill(&self, sig: libc::c_int, all: bool) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.wrong_state(status, "kill", "created, running or paused"));
        }
        if all {
            cgroup::kill_all(self.cgroup.as_ref(), sig);
            return Ok(());
        }
        sys::kill(self.state.pid, sig).ctx(|| format!("signalling pid {}", self.state.pid))?;
        // A paused container only sees the signal once thawed; SIGKILL must not wait.
        if status == Status::Paused && sig == libc::SIGKILL {
            let _ = self.cgroup.thaw();
        }
        Ok(())
    }

    pub fn delete(&self, force: bool) -> Result<()> {
        let status = self.status();
        match status {
            Status::Stopped => {}
            Status::Created | Status::Creating => {}
            Status::Running | Status::Paused if force => {}
            _ => {
                return Err(RuntimeError::WrongState {
                    id: self.state.id.clone(),
                    status: status.to_string(),
                    action: "delete",
                    needed: "stopped (or use --force)",
                })
            }
        }
        if status != Status::Stopped {
            if self.state.pid > 0 && self.state.init_alive() {
                let _ = sys::kill(self.state.pid, libc::SIGKILL);
            }
            cgroup::kill_all(self.cgroup.as_ref(), libc::SIGKILL);
            wait_gone(&self.state);
        } else if self.cgroup.exists() {
            // The init is gone but a shared-pid-namespace container may leave others.
            cgroup::kill_all(self.cgroup.as_ref(), libc::SIGKILL);
        }
        // A cgroup that cannot be removed keeps the state too, so `delete` can be
        // retried once whatever holds it is gone.
        self.cgroup.destroy()?;
        if let Err(e) = hooks::run_all(
            Kind::Poststop,
            self.state.config.hooks().as_ref(),
            &self.hook_state(Status::Stopped),
        ) {
            eprintln!("berth-runtime: warning: {e}");
        }
        let dir = self.state.dir(&self.root);
        fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))
    }

    pub fn pause(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Running {
            return Err(self.wrong_state(status, "pause", "running"));
        }
        Ok(self.cgroup.freeze()?)
    }

    pub fn resume(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Paused {
            return Err(self.wrong_state(status, "resume", "paused"));
        }
        Ok(self.cgroup.thaw()?)
    }

    pub fn update(&mut self, resources: &LinuxResources) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.wrong_state(status, "update", "created, running or paused"));
        }
        self.cgroup.apply(resources)?;
        // Remember the new limits so `state`/`exec` see what is in force.
        if let Some(linux) = self.state.config.linux_mut() {
            let merged = merge_resources(linux.resources().clone().unwrap_or_default(), resources);
            linux.set_resources(Some(merged));
        }
        self.state.save(&self.root)
    }

    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(self.cgroup.pids()?)
    }

    pub fn oom_kill_count(&self) -> Result<u64> {
        Ok(self.cgroup.oom_kill_count()?)
    }

    pub fn stats(&self) -> Result<berth_cgroups::Stats> {
        Ok(self.cgroup.stats()?)
    }
}

fn merge_resources(mut base: LinuxResources, new: &LinuxResources) -> LinuxResources {
    if new.memory().is_some() {
        base.set_memory(*new.memory());
    }
    if new.cpu().is_some() {
        base.set_cpu(new.cpu().clone());
    }
    if new.pids().is_some() {
        base.set_pids(*new.pids());
    }
    if new.block_io().is_some() {
        base.set_block_io(new.block_io().clone());
    }
    if new.unified().is_some() {
        base.set_unified(new.unified().clone());
    }
    base
}

fn wait_gone(st: &StateFile) {
    for _ in 0..2000 {
        if !st.init_alive() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub struct ListEntry {
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: std::path::PathBuf,
    pub created: String,
    pub owner: String,
}

pub fn list(root: &Path) -> Result<Vec<ListEntry>> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        let Ok(c) = Container::load(root, &id) else {
            continue;
        };
        let status = c.status();
        out.push(ListEntry {
            pid: if status == Status::Stopped {
                0
            } else {
                c.state.pid
            },
            status,
            bundle: c.state.bundle.clone(),
            created: c.state.created.clone(),
            owner: c.state.owner.clone(),
            id,
        });
    }
    Ok(out)
}
