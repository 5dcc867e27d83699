//! Manifest lists end to end: two local images of different platforms (the second
//! one made from the first by rewriting its config in a saved archive), `berth
//! manifest create/add/annotate/inspect/push/rm`, the index as berth's registry
//! server and skopeo see it, and a pull of each platform into a fresh store.

mod common;

use common::net::free_port;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest as _;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

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
    }
}

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Env {
    fn start() -> Option<Env> {
        if !common::gate::root_gate("manifest_list") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-mlist-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let server = berth()
            .args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--root")
            .arg(dir.path().join("registry"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .spawn()
            .expect("start berth registry serve");
        let env = Env {
            dir,
            server: Some(server),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(env)
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `berth --root <dir>/<store> ARGS`.
    fn b_in(&self, store: &str, args: &[&str]) -> Output {
        berth()
            .arg("--root")
            .arg(self.path(store))
            .args(args)
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn b(&self, args: &[&str]) -> Output {
        self.b_in("store", args)
    }

    fn ok_in(&self, store: &str, args: &[&str]) -> String {
        let o = self.b_in(store, args);
        assert!(o.status.success(), "berth {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_in("store", args)
    }

    /// Fails, saying `want` (case-insensitive) on stderr.
    fn fails(&self, args: &[&str], want: &str) {
        let o = self.b(args);
        assert!(
            !o.status.success(),
            "berth {args:?} must fail: {}",
            text(&o)
        );
        let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
        assert!(
            err.contains(&want.to_lowercase()),
            "berth {args:?}: expected {want:?} in: {err}"
        );
    }

    fn name(&self, repo: &str) -> String {
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

    /// A copy of `source` whose config says `arch` (variant v8), loaded under `name`:
    /// `save` to a docker-archive, rewrite the config and the archive's manifest,
    /// `load`. Returns the new image id.
    fn other_platform(&self, source: &str, name: &str, arch: &str) -> String {
        let work = self.path("arch-work");
        std::fs::create_dir_all(&work).unwrap();
        let saved = self.path("saved.tar");
        self.ok(&["save", "-o", saved.to_str().unwrap(), source]);
        untar(&saved, &work);
        let manifest_path = work.join("manifest.json");
        let mut manifest: Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        let config_name = manifest[0]["Config"].as_str().unwrap().to_string();
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(work.join(&config_name)).unwrap()).unwrap();
        config["architecture"] = arch.into();
        config["variant"] = "v8".into();
        let bytes = serde_json::to_vec(&config).unwrap();
        let hex = hex::encode(sha2::Sha256::digest(&bytes));
        std::fs::write(work.join(format!("{hex}.json")), &bytes).unwrap();
        std::fs::remove_file(work.join(&config_name)).unwrap();
        manifest[0]["Config"] = format!("{hex}.json").into();
        manifest[0]["RepoTags"] = serde_json::json!([name]);
        std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        let edited = self.path("edited.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&work)
            .arg("-cf")
            .arg(&edited)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        self.ok(&["load", "-i", edited.to_str().unwrap()]);
        format!("sha256:{hex}")
    }

    /// GET of a manifest from the registry's HTTP API: content type and body.
    fn get_manifest(&self, repo: &str, reference: &str) -> (String, Vec<u8>) {
        let headers = self.path("headers.txt");
        let out = Command::new("curl")
            .args(["-sSf", "-H"])
            .arg(format!(
                "Accept: {OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"
            ))
            .arg("-D")
            .arg(&headers)
            .arg(format!(
                "http://127.0.0.1:{}/v2/{repo}/manifests/{reference}",
                self.port
            ))
            .output()
            .expect("curl (scripts/packages.sh test installs it)");
        assert!(out.status.success(), "curl: {}", text(&out));
        let head = std::fs::read_to_string(&headers).unwrap();
        let ct = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        (ct, out.stdout)
    }
}

fn untar(tar: &Path, dir: &Path) {
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-xf")
        .arg(tar)
        .status()
        .unwrap();
    assert!(st.success());
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The entry of `index` for `arch`.
fn entry<'a>(index: &'a Value, arch: &str) -> &'a Value {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap_or_else(|| panic!("no {arch} entry in {index}"))
}

#[test]
fn manifest_list_create_annotate_push_pull() {
    let Some(env) = Env::start() else { return };
    let other = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let host_id = env.import_busybox("local/bb:host");
    let other_id = env.other_platform("local/bb:host", "local/bb:other", other);
    assert_ne!(host_id, other_id);

    let list = env.name("test/multi:1");
    let created = env.ok(&["manifest", "create", &list, "local/bb:host"]);
    assert!(!created.trim().is_empty(), "create prints the list id");
    env.fails(
        &["manifest", "create", &list],
        "already exists; use --amend",
    );
    env.ok(&["manifest", "add", &list, "local/bb:other"]);
    env.ok(&[
        "manifest",
        "annotate",
        &list,
        "local/bb:other",
        "--annotation",
        "org.example.note=second platform",
        "--os-version",
        "9.9",
    ]);
    let inspect: Value =
        serde_json::from_str(&env.ok(&["manifest", "inspect", &list])).expect("inspect is JSON");
    assert_eq!(inspect["schemaVersion"], 2, "{inspect}");
    assert_eq!(inspect["mediaType"], OCI_INDEX, "{inspect}");
    assert_eq!(
        inspect["manifests"].as_array().unwrap().len(),
        2,
        "{inspect}"
    );
    let host_entry = entry(&inspect, host_arch());
    let other_entry = entry(&inspect, other);
    assert_eq!(host_entry["platform"]["os"], "linux");
    assert_eq!(other_entry["platform"]["variant"], "v8", "from the config");
    assert_eq!(other_entry["platform"]["os.version"], "9.9");
    assert_eq!(
        other_entry["annotations"]["org.example.note"],
        "second platform"
    );
    for e in [host_entry, other_entry] {
        assert!(e["digest"].as_str().unwrap().starts_with("sha256:"), "{e}");
        assert!(e["size"].as_u64().unwrap() > 0, "{e}");
    }
    env.ok(&["manifest", "exists", &list]);
    assert!(!env
        .b(&["manifest", "exists", &env.name("test/nolist:1")])
        .status
        .success());

    // Refused commands leave the list and the images as they were.
    let images_before = env.ok(&["images", "-q", "--no-trunc"]);
    let list_before = env.ok(&["manifest", "inspect", &list]);
    env.fails(
        &["manifest", "add", &list, "local/missing:1"],
        "No such image",
    );
    env.fails(
        &[
            "manifest",
            "create",
            &env.name("test/other:1"),
            "local/bb:host",
            "local/missing:1",
        ],
        "No such image",
    );
    env.fails(
        &["manifest", "push", &env.name("test/nolist:1")],
        "no manifest list named",
    );
    env.fails(
        &[
            "manifest",
            "add",
            &list,
            "local/bb:host",
            "--annotation",
            "oops",
        ],
        "KEY=VALUE",
    );
    assert_eq!(env.ok(&["manifest", "inspect", &list]), list_before);
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]), images_before);
    assert!(!env
        .b(&["manifest", "exists", &env.name("test/other:1")])
        .status
        .success());

    env.ok(&["manifest", "push", &list]);

    // The tag resolves to the index, with both image manifests pushed by digest.
    let (ct, body) = env.get_manifest("test/multi", "1");
    assert_eq!(ct, OCI_INDEX);
    let index: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
    for (arch, id) in [(host_arch(), &host_id), (other, &other_id)] {
        let listed = entry(&index, arch);
        let digest = listed["digest"].as_str().unwrap();
        assert_eq!(
            listed,
            entry(&inspect, arch),
            "the pushed index is the inspected one"
        );
        let (mt, m) = env.get_manifest("test/multi", digest);
        assert_eq!(sha256(&m), digest);
        assert_eq!(mt, listed["mediaType"].as_str().unwrap());
        assert_eq!(m.len() as u64, listed["size"].as_u64().unwrap());
        let m: Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(m["config"]["digest"].as_str().unwrap(), id.as_str());
    }

    // `berth push` of the image alone sends the very manifest the index names.
    let single = env.name("test/single:other");
    env.ok(&["tag", "local/bb:other", &single]);
    env.ok(&["push", &single]);
    let (_, alone) = env.get_manifest("test/single", "other");
    assert_eq!(
        sha256(&alone),
        entry(&index, other)["digest"].as_str().unwrap()
    );

    // `berth push LIST` pushes the same index.
    env.ok(&["push", &list]);
    let (ct, again) = env.get_manifest("test/multi", "1");
    assert_eq!(ct, OCI_INDEX);
    assert_eq!(again, body);

    match Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{list}"))
        .output()
    {
        Ok(o) => {
            assert!(o.status.success(), "skopeo: {}", text(&o));
            assert_eq!(o.stdout, body, "skopeo sees the same index");
        }
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "skopeo is missing ({e}); scripts/packages.sh test installs it"
            );
            common::loud("manifest_list: skopeo missing, its check SKIPPED");
        }
    }

    // Each platform pulls into a fresh store as the image it was made from.
    env.ok_in(
        "pull-other",
        &["pull", "--platform", &format!("linux/{other}"), &list],
    );
    assert_eq!(
        env.ok_in("pull-other", &["images", "-q", "--no-trunc"])
            .trim(),
        other_id
    );
    env.ok_in("pull-host", &["pull", &list]);
    assert_eq!(
        env.ok_in("pull-host", &["images", "-q", "--no-trunc"])
            .trim(),
        host_id
    );

    let rm = env.ok(&["manifest", "rm", &list]);
    assert!(
        rm.contains("Untagged: ") && rm.contains("Deleted: "),
        "{rm}"
    );
    assert!(!env.b(&["manifest", "exists", &list]).status.success());
    assert_eq!(
        env.ok(&["images", "-q", "--no-trunc"]).lines().count(),
        2,
        "the listed images stay"
    );
    env.fails(&["manifest", "push", &list], "no manifest list named");
    env.fails(&["manifest", "rm", &list], "no manifest list named");
}
