//! Helpers shared by tests: fake cgroupfs trees and guards for real cgroups.

/// Written straight to fd 2: libtest captures eprintln! of passing tests,
/// which would hide that a test did not really run.
macro_rules! loud {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test run on this host uses at the same time.
pub fn unique_name() -> String {
    format!(
        "berth-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn skip(test: &str, why: &str) {
    loud!("\n!!!!!!!! {test}: SKIPPED ({why}) !!!!!!!!\n");
}

/// Root-only tests skip loudly for ordinary users, but CI must not pass
/// by skipping them.
pub fn require_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root, and CI=true forbids skipping");
    }
    skip(test, "needs root");
    false
}

pub fn cgroup2_mount() -> Option<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next()? != "cgroup2" {
            return None;
        }
        pre.split(' ').nth(4).map(PathBuf::from)
    })
}

/// A directory in a real cgroup hierarchy, removed on drop even when the
/// test panics.
pub struct TempCgroup {
    path: PathBuf,
}

impl TempCgroup {
    pub fn new(base: &Path) -> Self {
        let path = base.join(unique_name());
        fs::create_dir(&path).unwrap();
        TempCgroup { path }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempCgroup {
    fn drop(&mut self) {
        let _ = crate::fsutil::remove_tree(&self.path);
    }
}

/// Writes `content` to `dir/file`, creating `dir`.
pub fn put(dir: &Path, file: &str, content: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), content).unwrap();
}

pub fn get(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

pub fn resources(json: &str) -> oci_spec::runtime::LinuxResources {
    serde_json::from_str(json).unwrap()
}
