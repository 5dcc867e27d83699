//! Mirrors from berth.toml: a docker.io pull is served by the configured mirror (a
//! local docker-registry), without touching Docker Hub. Its own test binary, because
//! it points `BERTH_CONFIG` (process-wide) at its own file.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_distribution::client::{self, Progress, PullOptions};
use berth_image::ImageStore;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        // Child::kill signals exactly this child's pid.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn docker_io_pull_goes_to_the_mirror() {
    if !have("docker-registry") || !have("skopeo") {
        // Under CI a missing peer is a failure: a skipped interop test proves nothing.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "skipping: docker-registry and skopeo are needed"
        );
        eprintln!("skipping: docker-registry and skopeo are needed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let yml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
        dir.path().join("storage").display()
    );
    std::fs::write(dir.path().join("config.yml"), yml).unwrap();
    let _reg = Kill(
        Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // An OCI layout with one empty-ish layer, copied to the mirror as library/mirrored.
    let layout = dir.path().join("oci");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = berth_store::Digest::of_bytes(b);
        std::fs::write(blobs.join(d.hex()), b).unwrap();
        d.to_string()
    };
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    tb.append_data(&mut h, "mirror", &b"hello\n"[..]).unwrap();
    let tar = tb.into_inner().unwrap();
    let diff = put(&tar);
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff]}}))
    .unwrap();
    let cd = put(&config);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff, "size": tar.len()}]}))
    .unwrap();
    let md = put(&m);
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": m.len()}]}))
        .unwrap(),
    )
    .unwrap();
    let o = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{addr}/library/mirrored:1"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let cfg = dir.path().join("berth.toml");
    std::fs::write(
        &cfg,
        format!("[registries.\"docker.io\"]\nmirrors = [\"{addr}\"]\n"),
    )
    .unwrap();
    std::env::set_var("BERTH_CONFIG", &cfg);
    std::env::set_var("DOCKER_CONFIG", dir.path().join("docker"));
    let store = ImageStore::open(&dir.path().join("root")).unwrap();
    let out = client::pull(
        &store,
        "mirrored:1",
        &PullOptions::default(),
        &Arc::new(Progress::quiet()),
    )
    .unwrap();
    assert_eq!(out.image_id, cd);
    assert_eq!(out.display, "mirrored:1");
    let img = store.resolve("mirrored:1").unwrap();
    assert!(img
        .tags
        .contains(&"docker.io/library/mirrored:1".to_string()));
}
