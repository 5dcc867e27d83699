//! The registry end to end through the berth command: berth's own server, push, rmi,
//! pull, and a container run from the pulled image with `berth runtime`; then the same
//! with the Bearer token flow and htpasswd credentials (login/logout).

mod common;

use common::net::free_port;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Env {
    dir: tempfile::TempDir,
    server: Option<Child>,
    port: u16,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("store/snapshots")) {
            for e in entries.flatten() {
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(e.path().join("merged"))
                    .status();
            }
        }
    }
}

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

impl Env {
    fn start(extra: &[&str]) -> Option<Env> {
        common::setup("registry")?;
        let dir = tempfile::Builder::new()
            .prefix("berth-reg-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let mut cmd = berth();
        cmd.args([
            "registry",
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--root",
        ])
        .arg(dir.path().join("registry"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap());
        let server = cmd.spawn().expect("start berth registry serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Env {
            dir,
            server: Some(server),
            port,
        })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `berth --root <store> ARGS` with a private docker config dir.
    fn b(&self, args: &[&str]) -> std::process::Output {
        berth()
            .arg("--root")
            .arg(self.path("store"))
            .args(args)
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.b(args);
        assert!(
            o.status.success(),
            "berth {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn image(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }

    fn import_busybox(&self, name: &str) -> String {
        let tar = self.path("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(common::bundle::cached_rootfs())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        self.ok(&["import", "-c", r#"CMD ["sh"]"#, tar.to_str().unwrap(), name])
            .trim()
            .to_string()
    }

    fn run_from(&self, image: &str, script: &str) -> String {
        let rootfs = self.ok(&["image", "mount", image]).trim().to_string();
        let bundle = self.path("bundle");
        let _ = std::fs::remove_dir_all(&bundle);
        std::fs::create_dir(&bundle).unwrap();
        let st = berth()
            .args(["runtime", "spec", "--bundle"])
            .arg(&bundle)
            .status()
            .unwrap();
        assert!(st.success());
        let cfg_path = bundle.join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
        cfg["root"] = serde_json::json!({"path": rootfs, "readonly": false});
        cfg["process"]["terminal"] = serde_json::json!(false);
        cfg["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        cfg["linux"]["cgroupsPath"] = serde_json::json!(format!("/berth-itest/reg-{}", self.port));
        std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
        let out = berth()
            .arg("runtime")
            .arg("--root")
            .arg(self.path("state"))
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("reg-{}", self.port))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.ok(&["image", "unmount", image]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn blob_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn push_rmi_pull_run_through_berths_own_registry() {
    let Some(env) = Env::start(&[]) else { return };
    let name = env.image("test/busybox:1");
    let id = env.import_busybox(&name);
    let out = env.ok(&["push", &name]);
    assert!(
        out.contains("Pushed") && out.contains("digest: sha256:"),
        "{out}"
    );
    let again = env.ok(&["push", &name]);
    assert!(again.contains("already exists"), "{again}");
    env.ok(&["rmi", &name]);
    assert_eq!(env.ok(&["images", "-q"]).trim(), "");
    let out = env.ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(
        env.ok(&["images", "-q", "--no-trunc"]).trim(),
        id,
        "same image id after the round trip"
    );
    let digests = env.ok(&["images", "--digests", "--format", "{{.Digest}}"]);
    assert!(digests.trim().starts_with("sha256:"), "{digests}");
    assert!(env.ok(&["pull", &name]).contains("Image is up to date"));
    assert_eq!(
        env.run_from(&name, "echo pulled-and-ran").trim(),
        "pulled-and-ran"
    );
}

#[test]
fn corrupted_blob_on_the_server_is_refused() {
    let Some(env) = Env::start(&[]) else { return };
    let name = env.image("test/corrupt:1");
    env.import_busybox(&name);
    env.ok(&["push", &name]);
    env.ok(&["rmi", &name]);
    // Flip a byte in the biggest blob (the layer) behind the server's back.
    let mut blobs = blob_files(&env.path("registry"));
    blobs.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    let layer = blobs.last().expect("a blob");
    let mut data = std::fs::read(layer).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(layer, data).unwrap();
    let o = env.b(&["pull", &name]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.to_lowercase().contains("digest"), "{err}");
    assert_eq!(env.ok(&["images", "-q"]).trim(), "", "nothing stored");
}

#[test]
fn token_auth_login_push_pull_logout() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let Some(env) = Env::start(&["--htpasswd", htpasswd.to_str().unwrap(), "--token-issuer"])
    else {
        return;
    };
    let name = env.image("team/app:1");
    env.import_busybox(&name);
    let o = env.b(&["push", &name]);
    assert!(!o.status.success(), "push without credentials must fail");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("berth login"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bad = env.b(&[
        "login",
        "-u",
        "alice",
        "-p",
        "wrong",
        &format!("127.0.0.1:{}", env.port),
    ]);
    assert!(!bad.status.success());
    env.ok(&[
        "login",
        "-u",
        "alice",
        "-p",
        "s3cret",
        &format!("127.0.0.1:{}", env.port),
    ]);
    let cfg = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    assert!(cfg.contains(&format!("127.0.0.1:{}", env.port)), "{cfg}");
    env.ok(&["push", &name]);
    env.ok(&["rmi", &name]);
    env.ok(&["pull", &name]);
    env.ok(&["logout", &format!("127.0.0.1:{}", env.port)]);
    let cfg = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    assert!(!cfg.contains(&format!("127.0.0.1:{}\"", env.port)), "{cfg}");
    env.ok(&["rmi", &name]);
    assert!(
        !env.b(&["pull", &name]).status.success(),
        "pull after logout must fail"
    );
}
