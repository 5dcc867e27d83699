//! The registry client against Debian's distribution registry (docker-registry 2.8),
//! with images put there by skopeo from hand-built OCI layouts, or by berth's own push.
//! Tests skip (with a note) when docker-registry or skopeo is not installed.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_distribution::client::{
    self, credentials, manifest::Platform, ClientError, Progress, PullOptions, PushOptions,
};
use berth_image::ImageStore;
use sha2::{Digest as _, Sha256};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn tools_present() -> bool {
    let ok = have("docker-registry") && have("skopeo");
    if !ok {
        // Under CI a missing peer is a failure: a skipped interop test proves nothing.
        assert!(std::env::var("CI").as_deref() != Ok("true"), "skipping: docker-registry and skopeo are needed (apt-get install docker-registry skopeo)");
        eprintln!("skipping: docker-registry and skopeo are needed (apt-get install docker-registry skopeo)");
    }
    ok
}

/// No host berth.toml may change what these tests see.
fn isolate_config() {
    std::env::set_var("BERTH_CONFIG", "/nonexistent/berth.toml");
}

struct Registry {
    child: Child,
    addr: String,
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Child::kill signals exactly this child's pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_registry(htpasswd: Option<&str>) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut yml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
        storage.display()
    );
    if let Some(h) = htpasswd {
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, h).unwrap();
        yml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
            path.display()
        ));
    }
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, yml).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "registry did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry {
        child,
        addr,
        storage,
        _dir: dir,
    }
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// A tar of `files`, gzipped: (gz bytes, diff id).
fn layer(files: &[(&str, Vec<u8>)]) -> (Vec<u8>, String) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let diff = sha(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff)
}

fn write_blob(layout: &Path, data: &[u8]) -> String {
    let d = sha(data);
    let p = layout.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    d
}

/// Writes an image (config + layers) into the layout; returns the manifest descriptor
/// JSON and the config digest.
fn add_image(
    layout: &Path,
    arch: &str,
    layers: &[(Vec<u8>, String)],
) -> (serde_json::Value, String) {
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.1.clone()).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let cd = write_blob(layout, &config);
    let ls: Vec<_> = layers
        .iter()
        .map(|(gz, _)| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": write_blob(layout, gz), "size": gz.len()})
        })
        .collect();
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": ls});
    let m = serde_json::to_vec(&m).unwrap();
    let md = write_blob(layout, &m);
    (
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": m.len(),
            "platform": {"os": "linux", "architecture": arch}}),
        cd,
    )
}

fn write_index(layout: &Path, top: serde_json::Value) {
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let idx = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
}

fn skopeo_copy(layout: &Path, dest: &str, all: bool) {
    let mut cmd = Command::new("skopeo");
    cmd.arg("copy").arg("--dest-tls-verify=false");
    if all {
        cmd.arg("--all");
    }
    let out = cmd
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn layer_data(size: usize, i: usize, seed: u8) -> Vec<u8> {
    // Poorly compressible, deterministic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (i as u64) << 8 ^ seed as u64;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A single-platform image of `n` layers with `size` bytes of incompressible data each.
fn single_image(layout: &Path, n: usize, size: usize, seed: u8) -> String {
    let layers: Vec<_> = (0..n)
        .map(|i| {
            layer(&[
                (&format!("layer{i}/data.bin"), layer_data(size, i, seed)),
                (
                    &format!("layer{i}/hello.txt"),
                    format!("hello {i} {seed}\n").into_bytes(),
                ),
            ])
        })
        .collect();
    let (desc, cfg) = add_image(layout, "amd64", &layers);
    write_index(layout, desc);
    cfg
}

fn quiet() -> Arc<Progress> {
    Arc::new(Progress::quiet())
}

#[test]
fn pull_into_empty_store_then_up_to_date() {
    if !tools_present() {
        return;
    }
    isolate_config();
    let reg = start_registry(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let cfg = single_image(&layout, 4, 4 << 20, 1);
    let name = format!("{}/test/img:1", reg.addr);
    skopeo_copy(&layout, &name, false);

    let store = ImageStore::open(&work.path().join("root")).unwrap();
    let t = Instant::now();
    let out = client::pull(&store, &name, &PullOptions::default(), &quiet()).unwrap();
    eprintln!(
        "pull of 4 x 4 MiB layers: {:?} ({} bytes)",
        t.elapsed(),
        out.bytes_downloaded
    );
    assert_eq!(out.image_id, cfg);
    assert!(!out.up_to_date);
    assert_eq!(out.layers_downloaded, 4);
    let img = store.resolve(&name).unwrap();
    assert_eq!(img.id, cfg);
    assert_eq!(img.layers.len(), 4);
    assert!(img
        .repo_digests
        .contains(&format!("{}/test/img@{}", reg.addr, out.digest)));
    let top = store.layer(img.layers.last().unwrap()).unwrap().unwrap();
    let hello = store.layer_diff_path(&top.dir).join("layer3/hello.txt");
    assert_eq!(std::fs::read_to_string(hello).unwrap(), "hello 3 1\n");

    let t = Instant::now();
    let again = client::pull(&store, &name, &PullOptions::default(), &quiet()).unwrap();
    eprintln!("pull again (up to date): {:?}", t.elapsed());
    assert!(again.up_to_date);
    assert_eq!(again.layers_downloaded, 0);
    assert_eq!(again.bytes_downloaded, 0);

    // By digest too.
    let by_digest = format!("{}/test/img@{}", reg.addr, out.digest);
    let d = client::pull(&store, &by_digest, &PullOptions::default(), &quiet()).unwrap();
    assert_eq!(d.image_id, cfg);

    // Unknown tag: a clear not-found naming the repository.
    let e = client::pull(
        &store,
        &format!("{}/test/img:nope", reg.addr),
        &PullOptions::default(),
        &quiet(),
    )
    .unwrap_err();
    assert!(matches!(e, ClientError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("test/img"), "{e}");

    // --all-tags.
    skopeo_copy(&layout, &format!("{}/test/img:2", reg.addr), false);
    let all = client::pull_all_tags(
        &store,
        &format!("{}/test/img", reg.addr),
        &PullOptions::default(),
        &quiet(),
    )
    .unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn pulled_image_pushes_its_original_blobs_and_manifest() {
    if !tools_present() {
        return;
    }
    isolate_config();
    let src = start_registry(None);
    let dst = start_registry(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let cfg = single_image(&layout, 3, 1 << 20, 5);
    let name = format!("{}/keep/img:1", src.addr);
    skopeo_copy(&layout, &name, false);

    let store = ImageStore::open(&work.path().join("root")).unwrap();
    let pulled = client::pull(&store, &name, &PullOptions::default(), &quiet()).unwrap();
    let img = store.resolve(&name).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(pulled.digest.strip_prefix("sha256:").unwrap()),
        )
        .unwrap(),
    )
    .unwrap();
    let mut kept_bytes = 0;
    for (chain, desc) in img
        .layers
        .iter()
        .zip(manifest["layers"].as_array().unwrap())
    {
        let l = store.layer(chain).unwrap().unwrap();
        let blob = l.blob.expect("the pulled blob is kept");
        assert_eq!(blob.digest, desc["digest"].as_str().unwrap());
        assert_eq!(blob.media_type, desc["mediaType"].as_str().unwrap());
        let bytes = std::fs::read(store.layer_blob_path(&l.dir)).unwrap();
        assert_eq!(sha(&bytes), blob.digest);
        assert_eq!(bytes.len() as u64, blob.size);
        kept_bytes += blob.size;
    }
    assert_eq!(
        store.disk_usage_layers().unwrap(),
        img.size + kept_bytes,
        "kept blobs count in the store's disk usage"
    );

    // To another registry, in small chunks: the same bytes, hence the same manifest.
    let target = format!("{}/copy/img:1", dst.addr);
    store
        .tag(&img, &berth_image::ImageRef::parse(&target).unwrap())
        .unwrap();
    let opts = PushOptions {
        chunk_size: 64 << 10,
        ..Default::default()
    };
    let out = client::push(&store, &target, &opts, &quiet()).unwrap();
    assert_eq!(out.layers_pushed, 3);
    assert_eq!(out.layers_reused, 3);
    assert_eq!(
        out.digest, pulled.digest,
        "the source's manifest, unchanged"
    );
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha(&o.stdout), pulled.digest);

    // Removing the image removes the kept blobs with the layers.
    let dirs: Vec<PathBuf> = img
        .layers
        .iter()
        .map(|c| store.layer_blob_path(&store.layer(c).unwrap().unwrap().dir))
        .collect();
    store.remove(&cfg, true, &|_| false).unwrap();
    assert_eq!(store.disk_usage_layers().unwrap(), 0);
    for d in dirs {
        assert!(!d.exists(), "{} outlived its layer", d.display());
    }
}

#[test]
fn multi_platform_index_picks_the_platform() {
    if !tools_present() {
        return;
    }
    isolate_config();
    let reg = start_registry(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let amd = add_image(&layout, "amd64", &[layer(&[("arch", b"amd64\n".to_vec())])]);
    let arm = add_image(&layout, "arm64", &[layer(&[("arch", b"arm64\n".to_vec())])]);
    let idx = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [arm.0, amd.0]});
    let idx = serde_json::to_vec(&idx).unwrap();
    let idx_digest = write_blob(&layout, &idx);
    write_index(
        &layout,
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx_digest, "size": idx.len()}),
    );
    let name = format!("{}/multi/img:latest", reg.addr);
    skopeo_copy(&layout, &name, true);

    let store = ImageStore::open(&work.path().join("root")).unwrap();
    let out = client::pull(&store, &name, &PullOptions::default(), &quiet()).unwrap();
    assert_eq!(out.image_id, amd.1);
    assert_eq!(out.digest, idx_digest, "the repo digest is the index's");
    let opts = PullOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        ..Default::default()
    };
    let out = client::pull(&store, &name, &opts, &quiet()).unwrap();
    assert_eq!(out.image_id, arm.1);
    let opts = PullOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        ..Default::default()
    };
    let e = client::pull(&store, &name, &opts, &quiet()).unwrap_err();
    assert!(
        e.to_string()
            .contains("no matching manifest for linux/s390x"),
        "{e}"
    );
}

#[test]
fn corrupt_blob_is_refused_and_nothing_stored() {
    if !tools_present() {
        return;
    }
    isolate_config();
    let reg = start_registry(None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    single_image(&layout, 2, 64 << 10, 2);
    let name = format!("{}/bad/img:1", reg.addr);
    skopeo_copy(&layout, &name, false);
    // Flip a byte in every layer blob on the server, keeping sizes.
    let manifest: serde_json::Value = {
        let idx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let d = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap())
            .unwrap()
    };
    for l in manifest["layers"].as_array().unwrap() {
        let hex = &l["digest"].as_str().unwrap()[7..];
        let p = reg
            .storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n / 2] ^= 0xff;
        std::fs::write(&p, b).unwrap();
    }
    let store = ImageStore::open(&work.path().join("root")).unwrap();
    let e = client::pull(&store, &name, &PullOptions::default(), &quiet()).unwrap_err();
    assert!(matches!(e, ClientError::Digest { .. }), "{e}");
    assert!(e.to_string().contains("digest"), "{e}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(store.disk_usage_layers().unwrap(), 0);
    let leftovers: Vec<_> = std::fs::read_dir(store.layers_dir())
        .unwrap()
        .flatten()
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// An image of three layers in a local store, added the way `load` adds layers.
fn local_image(store: &ImageStore, tag: &str, seed: u8) -> String {
    let layers: Vec<(Vec<u8>, String)> = (0..3)
        .map(|i| layer(&[(&format!("f{i}"), layer_data(300_000, i, seed))]))
        .collect();
    let sources: Vec<_> = layers
        .iter()
        .map(|(gz, d)| {
            let gz = gz.clone();
            berth_image::store::LayerSource {
                diff_id: d.clone(),
                blob_digest: None,
                blob_verified: false,
                keep_blob_as: None,
                open: Box::new(move || {
                    Ok(Box::new(std::io::Cursor::new(gz.clone())) as Box<dyn std::io::Read + Send>)
                }),
            }
        })
        .collect();
    store.add_layers(&sources).unwrap();
    let ids: Vec<&String> = layers.iter().map(|l| &l.1).collect();
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ids}});
    let config = serde_json::to_vec(&config).unwrap();
    let r = berth_image::ImageRef::parse(tag).unwrap();
    store.add_image(&config, None, &[r], None).unwrap().id
}

#[test]
fn push_rmi_pull_round_trip_and_existing_layers() {
    if !tools_present() {
        return;
    }
    isolate_config();
    let reg = start_registry(None);
    let work = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&work.path().join("root")).unwrap();
    let name = format!("{}/rt/img:v1", reg.addr);
    let id = local_image(&store, &name, 7);

    // Small chunks exercise the PATCH upload path.
    let opts = PushOptions {
        chunk_size: 64 << 10,
        ..Default::default()
    };
    let out = client::push(&store, &name, &opts, &quiet()).unwrap();
    assert_eq!(out.layers_pushed, 3);
    assert!(store
        .resolve(&name)
        .unwrap()
        .repo_digests
        .contains(&format!("{}/rt/img@{}", reg.addr, out.digest)));

    assert_eq!(out.layers_reused, 0, "a local image has no kept blobs yet");
    let again = client::push(&store, &name, &PushOptions::default(), &quiet()).unwrap();
    assert_eq!(again.layers_existing, 3);
    assert_eq!(
        again.layers_reused, 3,
        "the first push kept what it compressed"
    );
    assert_eq!(
        again.digest, out.digest,
        "regenerated blobs are reproducible"
    );

    // Same registry, other repository: blobs are mounted rather than uploaded.
    let other = format!("{}/other/img:v1", reg.addr);
    store
        .tag(
            &store.resolve(&name).unwrap(),
            &berth_image::ImageRef::parse(&other).unwrap(),
        )
        .unwrap();
    let mounted = client::push(&store, &other, &PushOptions::default(), &quiet()).unwrap();
    assert_eq!(mounted.layers_pushed, 0);

    store.remove(&id, true, &|_| false).unwrap();
    assert!(store.list().unwrap().is_empty());
    let pulled = client::pull(&store, &name, &PullOptions::default(), &quiet()).unwrap();
    assert_eq!(pulled.image_id, id);
    assert_eq!(pulled.digest, out.digest);

    // skopeo (another client) reads what berth pushed.
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha(&o.stdout), out.digest);
}

#[test]
fn basic_auth_login_logout_and_helper() {
    if !tools_present() || !have("htpasswd") {
        // Under CI a missing peer is a failure: a skipped interop test proves nothing.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "skipping: htpasswd (apache2-utils) is needed"
        );
        eprintln!("skipping: htpasswd (apache2-utils) is needed");
        return;
    }
    isolate_config();
    let h = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .unwrap();
    let reg = start_registry(Some(&String::from_utf8_lossy(&h.stdout)));
    let work = tempfile::tempdir().unwrap();
    let docker_config = work.path().join("docker");
    // Only this test reads credentials for its own registry address.
    std::env::set_var("DOCKER_CONFIG", &docker_config);
    let store = ImageStore::open(&work.path().join("root")).unwrap();
    let name = format!("{}/auth/img:1", reg.addr);
    local_image(&store, &name, 3);

    let e = client::push(&store, &name, &PushOptions::default(), &quiet()).unwrap_err();
    assert!(matches!(e, ClientError::Unauthorized { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("berth login {}", reg.addr)),
        "{e}"
    );

    let bad = credentials::Credentials {
        username: "alice".into(),
        secret: "wrong".into(),
    };
    let e = client::login(&reg.addr, &bad, &Default::default()).unwrap_err();
    assert!(matches!(e, ClientError::LoginFailed { .. }), "{e}");
    assert!(!docker_config.join("config.json").exists());

    let good = credentials::Credentials {
        username: "alice".into(),
        secret: "s3cret".into(),
    };
    client::login(&reg.addr, &good, &Default::default()).unwrap();
    let cfg_path = docker_config.join("config.json");
    assert_eq!(
        std::fs::metadata(&cfg_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["auths"][&reg.addr]["auth"], "YWxpY2U6czNjcmV0");
    client::push(&store, &name, &PushOptions::default(), &quiet()).unwrap();
    let store2 = ImageStore::open(&work.path().join("root2")).unwrap();
    client::pull(&store2, &name, &PullOptions::default(), &quiet()).unwrap();

    assert!(client::logout(&reg.addr).unwrap());
    assert!(!client::logout(&reg.addr).unwrap());
    let store3 = ImageStore::open(&work.path().join("root3")).unwrap();
    let e = client::pull(&store3, &name, &PullOptions::default(), &quiet()).unwrap_err();
    assert!(matches!(e, ClientError::Unauthorized { .. }), "{e}");

    // A credential helper on PATH, configured for this registry.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let state = work.path().join("helper-state.json");
    let script = format!(
        "#!/bin/sh\ninput=$(cat)\ncase \"$1\" in\n  store) printf '%s' \"$input\" > {s} ;;\n  get) if [ -f {s} ]; then cat {s}; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  erase) if [ -f {s} ]; then rm {s}; else echo 'credentials not found in native keychain'; exit 1; fi ;;\nesac\n",
        s = state.display()
    );
    let helper = bin.join("docker-credential-test");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::env::set_var("PATH", path);
    std::fs::write(
        &cfg_path,
        serde_json::to_vec(&serde_json::json!({"credHelpers": {reg.addr.clone(): "test"}}))
            .unwrap(),
    )
    .unwrap();
    let whereto = client::login(&reg.addr, &good, &Default::default()).unwrap();
    assert_eq!(whereto, "docker-credential-test");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(stored["Username"], "alice");
    assert_eq!(credentials::get(&reg.addr).unwrap(), Some(good.clone()));
    client::pull(&store3, &name, &PullOptions::default(), &quiet()).unwrap();
    assert!(client::logout(&reg.addr).unwrap());
    assert!(!state.exists());
    assert_eq!(credentials::get(&reg.addr).unwrap(), None);
}
