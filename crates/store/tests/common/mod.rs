//! Re-exec helpers: a test re-runs its own binary (`--exact <test>`) with
//! `ROLE` set, and the test function plays the child part when it sees it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ROLE: &str = "BERTH_STORE_TEST_ROLE";
pub const ROOT: &str = "BERTH_STORE_TEST_ROOT";

pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

pub fn child_root() -> std::path::PathBuf {
    std::env::var_os(ROOT).expect("child without root").into()
}

/// A command re-running only `test` in this test binary as `role`.
pub fn child(test: &str, role: &str, root: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("current_exe"));
    c.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(ROOT, root)
        .stdin(Stdio::null());
    c
}

/// Kills (SIGKILL, by PID) and reaps the child if the test bails out early,
/// so no stray writer outlives a failed test.
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child already taken")
    }
    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("child already taken").id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `cond` until it is true; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
