//! One test's world: a bundle, a private `--root`, container ids, and the
//! cleanup that runs even when the test panics.

use super::bundle;
use super::host;
use super::runtime::{self, Call, Out};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Container state as printed by `state ID`.
#[derive(Debug, Clone)]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: String,
    pub pid: i64,
    pub bundle: String,
    pub raw: Value,
}

impl State {
    pub fn parse(text: &str) -> State {
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {text}"));
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        State {
            oci_version: s("ociVersion"),
            id: s("id"),
            status: s("status"),
            pid: v["pid"].as_i64().unwrap_or(0),
            bundle: s("bundle"),
            raw: v.clone(),
        }
    }
}

pub struct TestCtx {
    pub name: String,
    /// Everything the test creates on the host lives below here.
    pub dir: tempfile::TempDir,
    /// The runtime's `--root`, private to this test.
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Captured runtime output files.
    pub scratch: PathBuf,
    /// Edited freely by the test; written to config.json by create/run.
    pub config: Value,
    /// The test's main container id.
    pub id: String,
    ids: RefCell<Vec<String>>,
}

impl TestCtx {
    pub(super) fn new(name: &str) -> TestCtx {
        let dir = tempfile::Builder::new()
            .prefix("berth-itest-")
            .tempdir()
            .expect("tempdir");
        // World-traversable so a user-namespaced container root (mapped to a
        // non-zero host uid) can still reach its rootfs.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod tempdir");
        let root = dir.path().join("root");
        let bundle_dir = dir.path().join("bundle");
        let scratch = dir.path().join("scratch");
        for d in [&root, &bundle_dir, &scratch] {
            std::fs::create_dir(d).expect("mkdir");
        }
        std::fs::set_permissions(&bundle_dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod bundle");
        let rootfs = bundle_dir.join("rootfs");
        bundle::copy_rootfs(&rootfs);

        let mut ctx = TestCtx {
            name: name.to_string(),
            root,
            bundle: bundle_dir,
            rootfs,
            scratch,
            config: Value::Null,
            id: String::new(),
            ids: RefCell::new(Vec::new()),
            dir,
        };
        ctx.id = ctx.new_id();
        // The runtime's own default spec is the base, so the suite also
        // exercises `spec` and inherits whatever defaults the runtime picks.
        let bundle_path = ctx.bundle.clone();
        let spec = ctx
            .rt_with(
                &["spec"],
                Call {
                    cwd: Some(&bundle_path),
                    ..Default::default()
                },
            )
            .check();
        let text = std::fs::read_to_string(ctx.bundle.join("config.json"))
            .unwrap_or_else(|e| panic!("`spec` wrote no config.json ({e}): {spec}"));
        ctx.config = serde_json::from_str(&text).expect("spec output is JSON");
        ctx.config["process"]["terminal"] = json!(false);
        ctx
    }

    /// A fresh container id, cleaned up when the test ends.
    pub fn new_id(&self) -> String {
        let id = format!(
            "itest-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn rt<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Out {
        self.rt_with(args, Call::default())
    }

    pub fn rt_with<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], call: Call<'_>) -> Out {
        runtime::invoke(&self.root, &self.scratch, args, call)
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }

    /// Container process is `sh -c SCRIPT`.
    pub fn sh(&mut self, script: &str) {
        self.set_args(&["sh", "-c", script]);
    }

    /// Adds a mount to the config.
    pub fn add_mount(&mut self, m: Value) {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .push(m);
    }

    /// A host directory (mode 0777) bind-mounted read-write at `dest` in the
    /// container: the channel for markers and results that must be read
    /// from the host while the container runs.
    pub fn share(&mut self, dest: &str) -> PathBuf {
        let host = self
            .dir
            .path()
            .join(format!("share{}", dest.replace('/', "-")));
        std::fs::create_dir_all(&host).expect("mkdir share");
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        self.add_mount(json!({
            "destination": dest,
            "type": "bind",
            "source": host,
            "options": ["rbind", "rw"],
        }));
        host
    }

    /// Writes the config for container `id`, giving it its own cgroup.
    pub fn write_config_for(&self, id: &str) {
        let mut cfg = self.config.clone();
        if cfg["linux"]["cgroupsPath"].is_null() {
            cfg["linux"]["cgroupsPath"] = json!(format!("/{}/{id}", host::CGROUP_PARENT));
        }
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .expect("write config.json");
    }

    fn bundle_str(&self) -> String {
        self.bundle.display().to_string()
    }

    /// `run --bundle B ID` in the foreground, returning the container's
    /// output and exit code.
    pub fn run(&self) -> Out {
        self.run_id(&self.id)
    }

    pub fn run_id(&self, id: &str) -> Out {
        self.write_config_for(id);
        self.rt(&["run", "--bundle", &self.bundle_str(), id])
    }

    pub fn create(&self) -> Out {
        self.create_id(&self.id)
    }

    pub fn create_id(&self, id: &str) -> Out {
        self.write_config_for(id);
        self.rt(&["create", "--bundle", &self.bundle_str(), id])
    }

    pub fn start(&self) -> Out {
        self.rt(&["start", &self.id])
    }

    pub fn state(&self) -> State {
        self.state_of(&self.id)
    }

    pub fn state_of(&self, id: &str) -> State {
        State::parse(&self.rt(&["state", id]).check().stdout)
    }

    /// Polls `state` until it reports `status`; panics after `timeout`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> State {
        let mut last = None;
        let ok = host::wait_until(timeout, || {
            let out = self.rt(&["state", id]);
            let st = out.ok().then(|| State::parse(&out.stdout));
            let hit = st.as_ref().is_some_and(|s| s.status == status);
            last = Some(out);
            hit
        });
        let last = last.expect("at least one state call");
        assert!(ok, "container {id} never reached {status}: {last}");
        State::parse(&last.stdout)
    }

    /// create + start of the current config, asserting success; for tests
    /// that need a running container (use a long-running process).
    pub fn start_detached(&self) -> State {
        self.create().check();
        self.start().check();
        self.wait_status(&self.id, "running", Duration::from_secs(10))
    }

    /// `exec ID ARGS...` with the exec options placed before the id.
    pub fn exec(&self, opts: &[&str], args: &[&str]) -> Out {
        let mut v: Vec<&str> = vec!["exec"];
        v.extend_from_slice(opts);
        v.push(&self.id);
        v.extend_from_slice(args);
        self.rt(&v)
    }

    /// A host path in this test's temp dir (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for TestCtx {
    fn drop(&mut self) {
        let quick = |args: &[&str]| {
            runtime::invoke(
                &self.root,
                &self.scratch,
                args,
                Call {
                    timeout: Some(Duration::from_secs(20)),
                    ..Default::default()
                },
            )
        };
        for id in self.ids.borrow().iter() {
            let _ = quick(&["kill", "--all", id, "KILL"]);
            let _ = quick(&["delete", "--force", id]);
        }
        host::rmdir_cgroup_parents();
    }
}
