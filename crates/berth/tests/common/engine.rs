//! Driving `berth run/ps/logs/...` against a private store: `Engine::new` makes a
//! temp store root and a short run root, imports the busybox rootfs as
//! `busybox:latest`, and its Drop removes every container, unmounts what is left
//! and deletes both dirs, also when the test panics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::host;

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");
pub const T30: Duration = Duration::from_secs(30);

pub struct Engine {
    pub root: tempfile::TempDir,
    pub runroot: PathBuf,
    pub work: tempfile::TempDir,
    /// The upstream servers of the embedded DNS a command starts
    /// (`BERTH_DNS_UPSTREAM`): never the host's real resolvers in a test. By
    /// default the discard port on loopback, where nothing answers.
    pub dns_upstream: std::cell::RefCell<String>,
}

/// The busybox rootfs as a tar, built once per test binary: importing it is then
/// just an unpack into the test's own store.
fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        // Named after the cached rootfs, so every test binary and run shares one
        // tar and a new rootfs gets a new one.
        let rootfs = super::bundle::cached_rootfs();
        let name = rootfs.file_name().unwrap().to_string_lossy();
        let tar = rootfs.with_file_name(format!("{name}.tar"));
        if tar.exists() {
            return tar;
        }
        // Built beside it and renamed, so a concurrent binary never reads half a tar.
        let tmp = rootfs.with_file_name(format!("{name}.tar.{}", std::process::id()));
        let st = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .arg("-cf")
            .arg(&tmp)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success(), "tar of the busybox rootfs failed");
        std::fs::rename(&tmp, &tar).unwrap();
        tar
    })
}

fn random_hex() -> String {
    let mut b = [0u8; 4];
    getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("/dev/urandom");
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

impl Engine {
    /// `None` when not root (see `common::setup`).
    pub fn new(test: &str) -> Option<Engine> {
        if !super::gate::root_gate(test) {
            return None;
        }
        let root = tempfile::Builder::new()
            .prefix(&format!("bt-{test}-"))
            .tempdir()
            .unwrap();
        // Monitor sockets must fit 107 bytes, so the run root stays short.
        let runroot = PathBuf::from(format!("/run/bt-{}", random_hex()));
        std::fs::create_dir_all(&runroot).unwrap();
        let work = tempfile::Builder::new()
            .prefix(&format!("bt-work-{test}-"))
            .tempdir()
            .unwrap();
        let e = Engine {
            root,
            runroot,
            work,
            dns_upstream: std::cell::RefCell::new("127.0.0.1:9".into()),
        };
        let tar = busybox_tar().to_str().unwrap().to_string();
        e.ok(&["import", &tar, "busybox:latest"]);
        Some(e)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root")
            .arg(self.root.path())
            .arg("--runroot")
            .arg(&self.runroot)
            .args(args)
            .env_remove("BERTH_ROOT")
            .env_remove("BERTH_RUNROOT")
            .env("BERTH_DNS_UPSTREAM", &*self.dns_upstream.borrow())
            .stdin(Stdio::null());
        c
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("spawn berth")
    }

    /// Runs berth with `input` on its stdin.
    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth")
    }

    /// Stdout of a command that must succeed.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", show(&o));
        text(&o.stdout)
    }

    /// A command that must fail with `code`; returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.berth(args);
        assert_eq!(o.status.code(), Some(code), "berth {args:?}: {}", show(&o));
        text(&o.stderr)
    }

    /// `run -d ARGS` and the new container's full id.
    #[track_caller]
    pub fn run_d(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let id = self.ok(&a).trim().to_string();
        assert_eq!(id.len(), 64, "run -d prints the id: {id:?}");
        id
    }

    /// `inspect -f FORMAT NAME`, trimmed.
    #[track_caller]
    pub fn inspect_f(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    pub fn status(&self, name: &str) -> String {
        self.inspect_f(name, "{{.State.Status}}")
    }

    /// Polls the inspect format until it prints `want`.
    #[track_caller]
    pub fn wait_for(&self, name: &str, format: &str, want: &str) {
        let mut last = String::new();
        let ok = host::wait_until(T30, || {
            let o = self.berth(&["inspect", "-f", format, name]);
            last = text(&o.stdout).trim().to_string();
            last == want
        });
        assert!(ok, "{name}: {format} stayed {last:?}, expected {want:?}");
    }

    /// A scratch path outside the store.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    pub fn container_ids(&self) -> Vec<String> {
        let o = self.berth(&["ps", "-aq", "--no-trunc"]);
        text(&o.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Everything that would betray a container left behind: its row, snapshot,
    /// mounts, run dir and cgroups. Empty when `id` is fully gone.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut left = Vec::new();
        if self.container_ids().iter().any(|c| c == id) {
            left.push("listed by ps -a".to_string());
        }
        let snap = self.root.path().join("snapshots").join(id);
        if snap.exists() {
            left.push(format!("snapshot dir {}", snap.display()));
        }
        // Other containers of the test may still be mounted; only this one's count.
        for m in host::mounts_under(self.root.path()) {
            if m.contains(id) {
                left.push(format!("mount {m}"));
            }
        }
        let run = self.runroot.join("containers").join(id);
        if run.exists() {
            left.push(format!("run dir {}", run.display()));
        }
        let ctr = self.root.path().join("containers").join(id);
        if ctr.exists() {
            left.push(format!("container dir {}", ctr.display()));
        }
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in rd.flatten() {
                let p = e.path().join("berth").join(id);
                if p.exists() {
                    left.push(format!("cgroup {}", p.display()));
                }
            }
        }
        if Path::new("/sys/fs/cgroup/berth").join(id).exists() {
            left.push(format!("cgroup /sys/fs/cgroup/berth/{id}"));
        }
        left
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Takes the store's networks with it (its default network's bridge and nft
        // chains included); what follows catches what a broken reset would leave.
        let o = self.berth(&["system", "reset", "-f"]);
        if !o.status.success() {
            eprintln!("system reset -f failed: {}", show(&o));
        }
        let ids = self.container_ids();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f", "-v"];
            a.extend(ids.iter().map(String::as_str));
            let _ = self.berth(&a);
        }
        // Whatever a failing test or a bug left mounted must go before the dirs.
        let mut mounts = host::mounts_under(self.root.path());
        mounts.extend(host::mounts_under(&self.runroot));
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        let _ = std::fs::remove_dir_all(&self.runroot);
    }
}
