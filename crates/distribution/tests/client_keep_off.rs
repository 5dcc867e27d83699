//! `[images] keep_layer_blobs` in berth.toml: off, a pull keeps no compressed blob and a
//! push recompresses every time and keeps nothing; back on, a push keeps what it
//! compressed and the next push sends that. Its own test binary, because it points
//! `BERTH_CONFIG` (process-wide) at its own file.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_distribution::client::{self, Progress, PullOptions, PushOptions};
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
fn keep_layer_blobs_off_then_on() {
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

    // An OCI layout with one gzip layer (level 9, so berth's level 3 differs from it).
    let layout = dir.path().join("oci");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = berth_store::Digest::of_bytes(b);
        std::fs::write(blobs.join(d.hex()), b).unwrap();
        d.to_string()
    };
    let mut tb = tar::Builder::new(Vec::new());
    let data = b"keep me or not\n".repeat(1000);
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    tb.append_data(&mut h, "kept.txt", &data[..]).unwrap();
    let tar = tb.into_inner().unwrap();
    let diff = berth_store::Digest::of_bytes(&tar).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let blob = put(&gz);
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff]}}))
    .unwrap();
    let cd = put(&config);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob, "size": gz.len()}]}))
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
    let name = format!("{addr}/keep/src:1");
    let o = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let cfg = dir.path().join("berth.toml");
    std::fs::write(&cfg, "[images]\nkeep_layer_blobs = false\n").unwrap();
    std::env::set_var("BERTH_CONFIG", &cfg);
    let q = Arc::new(Progress::quiet());
    let store = ImageStore::open(&dir.path().join("root")).unwrap();
    client::pull(&store, &name, &PullOptions::default(), &q).unwrap();
    let img = store.resolve(&name).unwrap();
    let layer = store.layer(&img.layers[0]).unwrap().unwrap();
    assert_eq!(layer.blob, None, "nothing kept with keeping off");
    assert!(!store.layer_blob_path(&layer.dir).exists());

    let push = |to: &str| {
        store
            .tag(&img, &berth_image::ImageRef::parse(to).unwrap())
            .unwrap();
        client::push(&store, to, &PushOptions::default(), &q).unwrap()
    };
    let off = push(&format!("{addr}/keep/off:1"));
    assert_eq!((off.layers_pushed, off.layers_reused), (1, 0));
    assert_ne!(off.digest, md, "recompressed, so a new manifest");
    let layer = store.layer(&img.layers[0]).unwrap().unwrap();
    assert_eq!(layer.blob, None, "a push keeps nothing with keeping off");
    assert!(
        std::fs::read_dir(store.layers_dir().join(&layer.dir))
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with(".push-")),
        "no compressed copy left behind"
    );

    std::fs::write(&cfg, "[images]\nkeep_layer_blobs = true\n").unwrap();
    let on = push(&format!("{addr}/keep/on:1"));
    assert_eq!(on.layers_reused, 0);
    let kept = store
        .layer(&img.layers[0])
        .unwrap()
        .unwrap()
        .blob
        .expect("the push kept what it compressed");
    assert_eq!(
        on.digest, off.digest,
        "level-3 gzip of the same tar is reproducible"
    );
    let again = push(&format!("{addr}/keep/again:1"));
    assert_eq!(again.layers_reused, 1);
    assert_eq!(again.digest, on.digest);
    let bytes = std::fs::read(store.layer_blob_path(&layer.dir)).unwrap();
    assert_eq!(
        berth_store::Digest::of_bytes(&bytes).to_string(),
        kept.digest
    );
}
