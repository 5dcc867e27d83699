//! The engine: the image store (and through it the one database), where containers'
//! files live, and the binaries it runs (the runtime and the monitor). Every container
//! command goes through it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_image::ImageStore;
use berth_store::Db;

use crate::error::{EngineError, Result};
use crate::layout::Layout;
use crate::records::{self, Container};
use crate::state::{ContainerState, Status};

pub struct Engine {
    images: ImageStore,
    layout: Layout,
    /// The `berth` binary: the OCI runtime (`berth runtime`) and the cleanup hook.
    exe: PathBuf,
    monitor_exe: PathBuf,
}

impl Engine {
    pub fn open(store_root: &Path, run_root: Option<&Path>) -> Result<Engine> {
        let images = ImageStore::open(store_root)?;
        let exe = std::env::current_exe()
            .map_err(|e| EngineError::invalid("berth executable", e.to_string()))?;
        let monitor_exe = std::env::var_os("BERTH_MONITOR")
            .map(PathBuf::from)
            .unwrap_or_else(|| exe.with_file_name("berth-monitor"));
        Ok(Engine {
            images,
            layout: Layout::new(store_root, run_root),
            exe,
            monitor_exe,
        })
    }

    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    pub fn db(&self) -> &Db {
        self.images.store().db()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn exe(&self) -> &Path {
        &self.exe
    }

    pub fn monitor_exe(&self) -> &Path {
        &self.monitor_exe
    }

    /// The argv prefix that runs the OCI runtime on this engine's state root: the
    /// slim `berth-runtime` binary installed beside `berth` when there is one (it
    /// starts faster), else `berth runtime`.
    pub fn runtime_argv(&self) -> Vec<String> {
        let root = self.layout.runtime_root().to_string_lossy().into_owned();
        let slim = self.exe.with_file_name("berth-runtime");
        if slim.is_file() {
            return vec![slim.to_string_lossy().into_owned(), "--root".into(), root];
        }
        vec![
            self.exe.to_string_lossy().into_owned(),
            "runtime".into(),
            "--root".into(),
            root,
        ]
    }

    /// Finds a container and fills in its live state.
    pub fn find(&self, key: &str) -> Result<Container> {
        let mut c = records::find(self.db(), key)?;
        c.state = self.live_state(&c);
        Ok(c)
    }

    pub fn list(&self) -> Result<Vec<Container>> {
        let mut all = records::list(self.db())?;
        for c in &mut all {
            c.state = self.live_state(c);
        }
        Ok(all)
    }

    pub fn monitor_pid(&self, id: &str) -> Option<i32> {
        let text = std::fs::read_to_string(self.layout.run_dir(id).join("monitor.pid")).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        pid_alive(pid).then_some(pid)
    }

    /// The state as it is now: the monitor's state file while one runs, the stored
    /// row otherwise. A row that says running without a monitor or run directory
    /// (the host rebooted, or the monitor was killed) reads as exited with 255, as
    /// Docker shows containers that were running when its daemon died.
    pub fn live_state(&self, c: &Container) -> ContainerState {
        let run_dir = self.layout.run_dir(&c.id);
        let monitor = self.monitor_pid(&c.id);
        let mut s = match berth_monitor::state::read(&run_dir) {
            Ok(Some(m)) => ContainerState::from_monitor(&m),
            _ => c.state.clone(),
        };
        // The monitor removes its pid file when it exits normally, so a file naming a
        // dead process means it was killed: the container may live on, but nothing
        // collects its output, records its exit or applies its restart policy any
        // more. Docker marks a container whose shim died as exited, and so do we;
        // `start` and `rm -f` force-delete the orphaned process.
        let monitor_killed = monitor.is_none() && run_dir.join("monitor.pid").exists();
        let orphaned = monitor_killed || !(s.pid > 0 && pid_alive(s.pid));
        if s.status.is_active() && monitor.is_none() && orphaned {
            // Starting: the row says running before the monitor has written anything.
            if run_dir.join("monitor.json").exists() && c.state.pid == 0 && s.pid == 0 {
                if let Ok(md) = std::fs::metadata(run_dir.join("monitor.json")) {
                    let fresh = md
                        .modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age < Duration::from_secs(10));
                    if fresh {
                        return s;
                    }
                }
            }
            s.status = Status::Exited;
            s.exit_code = 255;
            s.pid = 0;
            if s.error.is_empty() {
                s.error = "the container's monitor is gone (host reboot or killed monitor)".into();
            }
        }
        if s.status == Status::Running && self.runtime_paused(&c.id) {
            s.status = Status::Paused;
        }
        s
    }

    fn runtime_paused(&self, id: &str) -> bool {
        berth_runtime::lifecycle::Container::load(&self.layout.runtime_root(), id)
            .map(|c| c.status() == berth_runtime::state::Status::Paused)
            .unwrap_or(false)
    }

    /// Waits until the container's monitor has exited (its cleanup done), up to
    /// `timeout`. Returns false on timeout.
    pub fn wait_monitor_gone(&self, id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        while self.monitor_pid(id).is_some() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        true
    }
}

pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // A zombie still answers kill(0); /proc's state tells it apart.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|st| st != 'Z' && st != 'X'),
        Err(_) => false,
    }
}
