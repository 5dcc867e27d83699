//! Where a container's files live: persistent ones under the store root (logs, the
//! generated /etc files), runtime ones under the run root (bundle, monitor socket and
//! state), which is a tmpfs on a normal host so a reboot clears it.

use std::path::{Path, PathBuf};

/// A unix socket path must fit `sockaddr_un.sun_path` (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, Clone)]
pub struct Layout {
    pub store_root: PathBuf,
    pub run_root: PathBuf,
}

impl Layout {
    /// The run root defaults to `/run/berth` for the default store and to `run/` inside
    /// any other store, so separate stores (tests, rootless) never share containers.
    pub fn new(store_root: &Path, run_root: Option<&Path>) -> Layout {
        let run_root = match run_root {
            Some(r) => r.to_path_buf(),
            None if store_root == berth_store::default_root() => PathBuf::from("/run/berth"),
            None => store_root.join("run"),
        };
        Layout {
            store_root: store_root.to_path_buf(),
            run_root,
        }
    }

    /// Persistent per-container files: `ctr.log`, `hosts`, `hostname`, `resolv.conf`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.store_root.join("containers").join(id)
    }

    /// The bundle and the monitor's files; gone after a reboot.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.run_root.join("containers").join(id)
    }

    /// The OCI runtime's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.run_root.join("runtime")
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.store_root.join("volumes")
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("ctr.log")
    }

    /// Checks that the monitor's sockets fit a unix socket address, so a long
    /// `--runroot` fails early with a clear message instead of inside the monitor.
    pub fn check_socket_paths(&self, id: &str) -> Result<(), String> {
        let longest = self.run_dir(id).join("console.sock");
        let len = longest.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(format!(
                "the run root {} is too long: socket paths under it take {len} bytes and a unix \
                 socket allows {MAX_SOCKET_PATH}; use a shorter --runroot",
                self.run_root.display()
            ));
        }
        Ok(())
    }
}
