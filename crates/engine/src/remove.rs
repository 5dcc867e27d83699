//! `rm` and `container prune`, and the cleanup a monitor runs when its container
//! has exited for good (record the final state, unmount the rootfs, `--rm`).

use std::fs;
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::records;
use crate::state::{ContainerState, Status};
use crate::volumes;

impl Engine {
    /// Removes a container: with `force` a running one is killed first; with
    /// `volumes` its anonymous volumes go too.
    pub fn remove(&self, key: &str, force: bool, remove_volumes: bool) -> Result<()> {
        let c = self.find(key)?;
        if c.state.status.is_active() {
            if !force {
                let what = if c.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(EngineError::state(
                    &c.id,
                    format!("is {what}: stop the container before removing it, or use rm -f"),
                ));
            }
            let _ = fs::write(self.layout().run_dir(&c.id).join("stopped"), b"");
            if let Ok(r) =
                berth_runtime::lifecycle::Container::load(&self.layout().runtime_root(), &c.id)
            {
                let _ = r.resume();
                let _ = r.kill(libc::SIGKILL, true);
            }
        }
        if !self.wait_monitor_gone(&c.id, Duration::from_secs(30)) {
            if let Some(pid) = self.monitor_pid(&c.id) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        if let Ok(r) =
            berth_runtime::lifecycle::Container::load(&self.layout().runtime_root(), &c.id)
        {
            let _ = r.delete(true);
        }
        // The row may already be gone: the monitor's cleanup of an `--rm` container.
        if records::find(self.db(), &c.id).is_err() {
            return Ok(());
        }
        self.purge(&c, remove_volumes)
    }

    /// Deletes what a stopped container owns: its rootfs snapshot, its files, its row
    /// and, with `remove_volumes`, the anonymous volumes no other container uses.
    fn purge(&self, c: &crate::records::Container, remove_volumes: bool) -> Result<()> {
        self.release_network(c, true)?;
        self.images().remove_snapshot(&c.id)?;
        let _ = fs::remove_dir_all(self.layout().container_dir(&c.id));
        let _ = fs::remove_dir_all(self.layout().run_dir(&c.id));
        let vdir = self.layout().volumes_dir();
        let anon: Vec<String> = c
            .settings
            .volume_mounts
            .iter()
            .filter_map(|v| volumes::get(self.db(), &vdir, &v.name).ok())
            .filter(|v| v.anonymous)
            .map(|v| v.name)
            .collect();
        records::delete(self.db(), &c.id)?;
        if remove_volumes {
            for v in anon {
                if volumes::users(self.db(), &v)?.is_empty() {
                    volumes::remove(self.db(), &vdir, &v, false)?;
                }
            }
        }
        Ok(())
    }

    /// Run by the monitor (`berth container cleanup ID`) after the container exited
    /// for good and the runtime state was deleted.
    pub fn cleanup(&self, id: &str) -> Result<()> {
        let c = records::find(self.db(), id)?;
        let run_dir = self.layout().run_dir(&c.id);
        // The monitor leaves the runtime's state to us: deleting it here saves a
        // process per container exit.
        if let Ok(r) =
            berth_runtime::lifecycle::Container::load(&self.layout().runtime_root(), &c.id)
        {
            r.delete(true)?;
        }
        let state = match berth_monitor::state::read(&run_dir) {
            Ok(Some(m)) => ContainerState::from_monitor(&m),
            _ => ContainerState {
                status: Status::Exited,
                exit_code: 255,
                error: "the monitor left no state".into(),
                ..ContainerState::default()
            },
        };
        let mut state = state;
        if state.status.is_active() {
            state.status = Status::Exited;
        }
        state.pid = 0;
        state.manually_stopped = run_dir.join("stopped").exists();
        records::update_state(self.db(), &c.id, &state)?;
        // The container has exited for good: its address and veth go now, as Docker
        // releases a stopped container's endpoint.
        if c.settings.host_config.auto_remove && crate::networking::has_bridge_network(&c.settings)
        {
            // The network release mostly waits on the kernel (netlink, the pool's
            // mounts) and the snapshot's removal needs only its path: side by side,
            // a bridged `run --rm` ends as soon as the longer of the two.
            let dir = self.images().snapshot_dir(&c.id);
            let removed = std::thread::scope(|s| {
                let h = s.spawn(|| berth_image::snapshot::remove_snapshot_dir(&dir));
                self.disconnect(&c);
                h.join()
            });
            match removed {
                Ok(r) => r?,
                Err(_) => return Err(EngineError::state(&c.id, "removing its snapshot panicked")),
            }
        } else {
            self.disconnect(&c);
        }
        if c.settings.host_config.auto_remove {
            // Docker's --rm takes the anonymous volumes along.
            return self.purge(&c, true);
        }
        self.images().unmount_snapshot(&c.id)?;
        let _ = fs::remove_dir_all(&run_dir);
        Ok(())
    }

    /// `container prune`: removes every stopped container. Returns the ids removed.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for c in self.list()? {
            if !c.state.status.is_active() && self.monitor_pid(&c.id).is_none() {
                self.remove(&c.id, false, false)?;
                removed.push(c.id);
            }
        }
        Ok(removed)
    }

    /// Releases the network resources of containers that no longer run: after a host
    /// reboot, or a monitor killed before its cleanup, addresses stay allocated and
    /// namespace files, veths and published-port rules may remain. Run by `system
    /// boot`, `network prune` and `system prune`. Returns the containers released.
    pub fn release_stale_networking(&self) -> Result<Vec<String>> {
        let containers: std::collections::HashMap<String, crate::records::Container> = self
            .list()?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let mut released = Vec::new();
        for net in berth_network::records::list(self.db())? {
            for a in berth_network::ipam::allocations(self.db(), &net.id)? {
                let id = a.container_id;
                match containers.get(&id) {
                    Some(c) if c.state.status.is_active() || self.monitor_pid(&id).is_some() => {
                        continue
                    }
                    Some(c) => {
                        if let Err(e) = self.release_network(c, false) {
                            eprintln!("berth: disconnecting container {}: {e}", c.short_id());
                        }
                    }
                    None => {
                        let _ = berth_network::ports::unpublish(&id, net.ipv6());
                        berth_network::detach(self.db(), &self.layout().run_root, &id, false)?;
                    }
                }
                released.push(id);
            }
        }
        Ok(released)
    }
}
