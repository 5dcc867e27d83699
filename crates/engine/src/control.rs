//! Signals and waiting: `stop` (the stop signal, then SIGKILL after the timeout),
//! `kill`, `pause`/`unpause`, `wait` and `restart`.

use std::fs;
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::records::Container;
use crate::state::{ContainerState, Status};

/// Docker's default grace period for `stop`.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Engine {
    fn runtime_container(&self, id: &str) -> Result<berth_runtime::lifecycle::Container> {
        Ok(berth_runtime::lifecycle::Container::load(
            &self.layout().runtime_root(),
            id,
        )?)
    }

    fn signal(&self, c: &Container, sig: libc::c_int, all: bool) -> Result<()> {
        match self
            .runtime_container(&c.id)
            .and_then(|r| Ok(r.kill(sig, all)?))
        {
            Ok(()) => Ok(()),
            // Exited between our look and the signal: nothing left to signal.
            Err(_) if !self.live_state(c).status.is_active() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Marks the container as stopped by the user, so its monitor does not apply the
    /// restart policy to this exit.
    fn mark_stopped(&self, id: &str) {
        let _ = fs::write(self.layout().run_dir(id).join("stopped"), b"");
    }

    /// `stop`: the stop signal (`signal` or the container's, else SIGTERM), SIGKILL
    /// after `timeout` seconds (the container's `StopTimeout`, else 10; negative waits
    /// forever). Returns the container as it ended.
    pub fn stop(&self, key: &str, signal: Option<&str>, timeout: Option<i64>) -> Result<Container> {
        let c = self.find(key)?;
        if !c.state.status.is_active() {
            return Ok(c);
        }
        self.mark_stopped(&c.id);
        if c.state.status == Status::Paused {
            let _ = self.runtime_container(&c.id).and_then(|r| Ok(r.resume()?));
        }
        let sig_name = signal
            .map(str::to_string)
            .or_else(|| c.settings.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = berth_runtime::signal::parse(&sig_name)?;
        let t = timeout
            .or(c.settings.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        self.signal(&c, sig, false)?;
        let grace = if t < 0 {
            Duration::from_secs(u64::MAX / 4)
        } else {
            Duration::from_secs(t as u64)
        };
        if !self.wait_monitor_gone(&c.id, grace) {
            self.signal(&c, libc::SIGKILL, true)?;
            if !self.wait_monitor_gone(&c.id, Duration::from_secs(30)) {
                return Err(EngineError::state(
                    &c.id,
                    "did not stop within 30 s of SIGKILL; its monitor may be stuck",
                ));
            }
        }
        self.find(&c.id)
    }

    /// `kill`: sends a signal (default SIGKILL). Unlike `stop`, the restart policy
    /// still applies, as in Docker.
    pub fn kill(&self, key: &str, signal: Option<&str>) -> Result<Container> {
        let c = self.find(key)?;
        if !c.state.status.is_active() {
            return Err(EngineError::state(&c.id, "is not running"));
        }
        let sig = berth_runtime::signal::parse(signal.unwrap_or("SIGKILL"))?;
        self.signal(&c, sig, sig == libc::SIGKILL)?;
        Ok(c)
    }

    pub fn pause(&self, key: &str) -> Result<Container> {
        let c = self.find(key)?;
        match c.state.status {
            Status::Running => {
                self.runtime_container(&c.id)?.pause()?;
                Ok(c)
            }
            Status::Paused => Err(EngineError::state(&c.id, "is already paused")),
            _ => Err(EngineError::state(&c.id, "is not running")),
        }
    }

    pub fn unpause(&self, key: &str) -> Result<Container> {
        let c = self.find(key)?;
        if c.state.status != Status::Paused {
            return Err(EngineError::state(&c.id, "is not paused"));
        }
        self.runtime_container(&c.id)?.resume()?;
        Ok(c)
    }

    /// `wait`: blocks until the container is not running and its monitor is done,
    /// then returns its final state.
    pub fn wait(&self, key: &str) -> Result<ContainerState> {
        let c = self.find(key)?;
        if c.state.status.is_active() || self.monitor_pid(&c.id).is_some() {
            // The socket answers with the exit once the monitor's cleanup is done; if
            // the monitor is already gone, fall through to the stored state.
            let _ = berth_monitor::client::wait_exit(&self.layout().run_dir(&c.id));
            self.wait_monitor_gone(&c.id, Duration::from_secs(60));
        }
        match self.find(&c.id) {
            Ok(c) => Ok(c.state),
            // Removed by --rm meanwhile: the exit code the monitor reported is lost
            // with the row; Docker's `wait` reports the removal as code 0 as well.
            Err(EngineError::NoSuchContainer(_)) => Ok(ContainerState {
                status: Status::Exited,
                ..Default::default()
            }),
            Err(e) => Err(e),
        }
    }

    pub fn restart(&self, key: &str, timeout: Option<i64>) -> Result<Container> {
        let c = self.stop(key, None, timeout)?;
        let (c, _) = self.start(&c.id, false)?;
        Ok(c)
    }
}
