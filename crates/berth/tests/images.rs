//! Image store end to end: import, list, inspect, tag, save, rmi, load, mount a snapshot
//! and run a container on it with `berth runtime`, refcounts of shared layers, and many
//! concurrent loads into one store. Every test has its own store root.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Berth {
    root: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Berth {
    fn new() -> Option<Berth> {
        common::setup("images")?;
        Some(Berth {
            root: tempfile::Builder::new()
                .prefix("berth-img-root-")
                .tempdir()
                .unwrap(),
            work: tempfile::Builder::new()
                .prefix("berth-img-work-")
                .tempdir()
                .unwrap(),
        })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root").arg(self.root.path()).args(args);
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// A tarball of the busybox root the runtime tests use.
    fn rootfs_tar(&self) -> PathBuf {
        let tar = self.path("rootfs.tar");
        if !tar.exists() {
            let st = Command::new("tar")
                .arg("-C")
                .arg(common::bundle::cached_rootfs())
                .args(["-cf"])
                .arg(&tar)
                .arg(".")
                .status()
                .unwrap();
            assert!(st.success());
        }
        tar
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Unmount any snapshot a failing test left mounted before the dirs go.
        if let Ok(entries) = std::fs::read_dir(self.root.path().join("snapshots")) {
            for e in entries.flatten() {
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(e.path().join("merged"))
                    .status();
            }
        }
    }
}

fn import_busybox(b: &Berth, tag: &str) -> String {
    let tar = b.rootfs_tar();
    b.ok(&[
        "import",
        "-c",
        r#"CMD ["sh"]"#,
        "-m",
        "test import",
        tar.to_str().unwrap(),
        tag,
    ])
    .trim()
    .to_string()
}

#[test]
fn import_list_inspect_history_tag() {
    let Some(b) = Berth::new() else { return };
    let id = import_busybox(&b, "busybox:test");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let images = b.ok(&["images"]);
    assert!(images.starts_with("REPOSITORY"), "{images}");
    assert!(
        images.contains("busybox") && images.contains("test") && images.contains(&id[7..19]),
        "{images}"
    );
    let q = b.ok(&["images", "-q"]);
    assert_eq!(q.trim(), &id[7..19]);
    let fmt = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(fmt.trim(), "busybox:test");
    let inspect: serde_json::Value =
        serde_json::from_str(&b.ok(&["image", "inspect", "busybox:test"])).unwrap();
    assert_eq!(inspect[0]["Id"], id);
    assert_eq!(inspect[0]["RepoTags"][0], "busybox:test");
    assert_eq!(inspect[0]["Config"]["Cmd"][0], "sh");
    assert_eq!(inspect[0]["Os"], "linux");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        b.ok(&["inspect", "--format", "{{.Id}}", &id[7..15]]).trim(),
        id
    );
    let history = b.ok(&["history", "busybox:test"]);
    assert!(
        history.contains("berth import") && history.contains("test import"),
        "{history}"
    );
    b.ok(&["tag", "busybox:test", "localhost:5000/team/bb:v1"]);
    let images = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("localhost:5000/team/bb:v1"), "{images}");
    // Removing one of two tags only untags.
    let out = b.ok(&["rmi", "localhost:5000/team/bb:v1"]);
    assert_eq!(out.trim(), "Untagged: localhost:5000/team/bb:v1");
    assert!(b.ok(&["images", "-q"]).contains(&id[7..19]));
    let bad = b.run(&["rmi", "no-such-image"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("No such image: no-such-image"));
    let bad = b.run(&["tag", "busybox:test", "Bad Name"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid reference format"));
}

#[test]
fn save_rmi_load_round_trip_both_formats() {
    let Some(b) = Berth::new() else { return };
    let id = import_busybox(&b, "busybox:rt");
    for format in ["docker-archive", "oci-archive"] {
        let archive = b.path(&format!("{format}.tar"));
        b.ok(&[
            "save",
            "--format",
            format,
            "-o",
            archive.to_str().unwrap(),
            "busybox:rt",
        ]);
        let out = b.ok(&["rmi", "busybox:rt"]);
        assert!(out.contains("Deleted: ") && out.contains(&id), "{out}");
        assert_eq!(b.ok(&["images", "-q"]).trim(), "");
        // Nothing of the image is left on disk.
        let layers: Vec<_> = std::fs::read_dir(b.root.path().join("layers"))
            .unwrap()
            .flatten()
            .collect();
        assert!(layers.is_empty(), "{layers:?}");
        let out = b.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out.trim(), "Loaded image: busybox:rt", "{format}");
        assert_eq!(
            b.ok(&["images", "--no-trunc", "-q"]).trim(),
            id,
            "{format}: same id after the round trip"
        );
    }
    // stdin and gzip-compressed input.
    let archive = b.path("docker-archive.tar");
    let gz = b.path("img.tar.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {} > {}", archive.display(), gz.display()))
        .status()
        .unwrap();
    assert!(st.success());
    b.ok(&["rmi", "busybox:rt"]);
    let out = b
        .cmd(&["load"])
        .stdin(std::fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(b.ok(&["images"]).contains("busybox"));
}

#[test]
fn shared_layers_survive_rmi_of_one_image() {
    let Some(b) = Berth::new() else { return };
    let a = import_busybox(&b, "one:latest");
    let tar = b.rootfs_tar();
    let other = b.ok(&[
        "import",
        "-c",
        "CMD [\"true\"]",
        tar.to_str().unwrap(),
        "two:latest",
    ]);
    assert_ne!(a, other.trim(), "different configs, different images");
    let layers = || {
        std::fs::read_dir(b.root.path().join("layers"))
            .unwrap()
            .flatten()
            .count()
    };
    assert_eq!(layers(), 1, "the identical layer is stored once");
    b.ok(&["rmi", "one:latest"]);
    assert_eq!(layers(), 1, "two:latest still uses the layer");
    let df = b.ok(&["system", "df"]);
    assert!(df.contains("Images") && df.contains("Build Cache"), "{df}");
    b.ok(&["rmi", "two:latest"]);
    assert_eq!(layers(), 0);
}

#[test]
fn mounted_snapshot_runs_with_berth_runtime() {
    let Some(b) = Berth::new() else { return };
    import_busybox(&b, "busybox:run");
    let rootfs = b.ok(&["image", "mount", "busybox:run"]).trim().to_string();
    assert!(Path::new(&rootfs).join("bin/busybox").exists());
    let bundle = b.path("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_berth"))
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
    cfg["process"]["args"] =
        serde_json::json!(["sh", "-c", "echo from-snapshot > /written; cat /written"]);
    cfg["linux"]["cgroupsPath"] =
        serde_json::json!(format!("/berth-itest/img-{}", std::process::id()));
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let state_root = b.path("state");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("runtime")
        .arg("--root")
        .arg(&state_root)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(format!("img-{}", std::process::id()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from-snapshot");
    // The write went to the snapshot's upper dir, never into the shared layer.
    let upper = Path::new(&rootfs).parent().unwrap().join("upper/written");
    assert!(upper.exists());
    b.ok(&["image", "unmount", "busybox:run"]);
    assert!(!Path::new(&rootfs).join("bin/busybox").exists());
}

#[test]
fn twenty_parallel_loads_share_one_store() {
    let Some(b) = Berth::new() else { return };
    import_busybox(&b, "busybox:par");
    let archive = b.path("par.tar");
    b.ok(&["save", "-o", archive.to_str().unwrap(), "busybox:par"]);
    b.ok(&["rmi", "busybox:par"]);
    let children: Vec<_> = (0..20)
        .map(|_| {
            b.cmd(&["load", "-q", "-i", archive.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 1);
    let layers = std::fs::read_dir(b.root.path().join("layers"))
        .unwrap()
        .flatten()
        .count();
    assert_eq!(
        layers, 1,
        "one layer dir, no leftovers from the losers of the race"
    );
    let db = rusqlite_free_integrity(b.root.path());
    assert!(db, "database integrity");
}

/// `PRAGMA integrity_check` through the sqlite3 shell would need another package; the
/// store's own open runs migrations and queries, which fail on a corrupt file.
fn rusqlite_free_integrity(root: &Path) -> bool {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(root)
        .args(["images", "--no-trunc"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn copy_driver_snapshot_applies_whiteouts() {
    let Some(b) = Berth::new() else { return };
    import_busybox(&b, "busybox:copy");
    let rootfs = String::from_utf8(
        b.cmd(&["image", "mount", "busybox:copy"])
            .env("BERTH_STORAGE_DRIVER", "copy")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let rootfs = Path::new(rootfs.trim());
    assert!(rootfs.join("bin/busybox").exists(), "{}", rootfs.display());
    // A copy, not a mount: the store's layer is untouched by writes.
    assert!(!common::host::mounts_under(rootfs.parent().unwrap())
        .iter()
        .any(|m| m.contains("merged")));
    std::fs::write(rootfs.join("new-file"), "x").unwrap();
    let layer_dirs: Vec<_> = std::fs::read_dir(b.root.path().join("layers"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!layer_dirs[0].path().join("diff/new-file").exists());
    b.ok(&["image", "unmount", "busybox:copy"]);
}

#[test]
fn filters_prune_and_errors() {
    let Some(b) = Berth::new() else { return };
    let tar = b.rootfs_tar();
    let tar = tar.to_str().unwrap();
    b.ok(&["import", "-c", "LABEL tier=base", tar, "labelled:1"]);
    b.ok(&["import", "-c", "CMD [\"true\"]", tar]);
    let dangling = b.ok(&[
        "images",
        "--filter",
        "dangling=true",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(dangling.trim(), "<none>:<none>");
    let labelled = b.ok(&[
        "images",
        "--filter",
        "label=tier=base",
        "--format",
        "{{.Repository}}",
    ]);
    assert_eq!(labelled.trim(), "labelled");
    let by_ref = b.ok(&["images", "label*", "--format", "{{.Tag}}"]);
    assert_eq!(by_ref.trim(), "1");
    let bad = b.run(&["images", "--filter", "nonsense=1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid filter"));
    // prune removes only the dangling image without -a, everything unused with -a.
    let out = b.ok(&["image", "prune", "-f"]);
    assert!(
        out.contains("deleted: sha256:") && out.contains("Total reclaimed space"),
        "{out}"
    );
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 1);
    b.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(b.ok(&["images", "-q"]).trim(), "");
    // Bad input leaves the store as it was.
    let bad = b.run(&["load", "-i", "/etc/hostname"]);
    assert!(!bad.status.success());
    let bad = b.run(&["import", "/nonexistent.tar", "x:1"]);
    assert!(!bad.status.success());
    assert_eq!(b.ok(&["images", "-q"]).trim(), "");
}

/// 125 layers (Docker's maximum is 127): the overlay lowerdir option must still fit in
/// the kernel's one page, and every layer must be visible in the snapshot.
#[test]
fn many_layers_fit_overlay_options() {
    let Some(b) = Berth::new() else { return };
    let layout = b.path("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> (String, usize) {
        let hex = sha256_hex(data);
        std::fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..125 {
        let mut builder = tar::Builder::new(Vec::new());
        let content = format!("layer {i}\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder
            .append_data(&mut h, format!("l/{i:03}"), content.as_bytes())
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let (digest, size) = put(&tar);
        diff_ids.push(digest.clone());
        layers.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}));
    }
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let (cdigest, csize) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
        "layers": layers});
    let (mdigest, msize) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": mdigest, "size": msize, "annotations": {"io.containerd.image.name": "docker.io/library/many:layers"}}]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    assert_eq!(
        b.ok(&["load", "-i", layout.to_str().unwrap()]).trim(),
        "Loaded image: many:layers"
    );
    let rootfs = b.ok(&["image", "mount", "many:layers"]).trim().to_string();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mountinfo
            .lines()
            .any(|l| l.contains(&rootfs) && l.contains(" - overlay ")),
        "{rootfs} is not an overlay mount"
    );
    let count = std::fs::read_dir(Path::new(&rootfs).join("l"))
        .unwrap()
        .count();
    assert_eq!(count, 125);
    assert_eq!(
        std::fs::read_to_string(Path::new(&rootfs).join("l/124")).unwrap(),
        "layer 124\n"
    );
    b.ok(&["image", "unmount", "many:layers"]);
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
