//! Operations: integrity of uploads, resumable uploads across restarts, garbage
//! collection, graceful shutdown, and interop with skopeo.

mod server_util;

use std::time::Duration;

use server_util::*;

fn blob_file(s: &TestServer, d: &str) -> std::path::PathBuf {
    let hex = d.strip_prefix("sha256:").unwrap();
    s.registry_root()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex)
}

fn uploads_left(s: &TestServer) -> usize {
    std::fs::read_dir(s.registry_root().join("uploads"))
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_upload_is_refused_and_nothing_is_stored() {
    let s = TestServer::start(|_| {}).await;
    let c = client();
    let data = b"the real content".to_vec();
    let claimed = digest(b"something else");

    // Monolithic.
    let r = c
        .post(s.url(&format!("/v2/x/blobs/uploads/?digest={claimed}")))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    // Chunked, wrong digest at the end.
    let r = c.post(s.url("/v2/x/blobs/uploads/")).send().await.unwrap();
    let r = c
        .patch(loc(&s, &r))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    let up = loc(&s, &r);
    let r = c
        .put(with_query(&up, &format!("digest={claimed}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    assert!(!blob_file(&s, &claimed).exists());
    assert!(!blob_file(&s, &digest(&data)).exists());
    assert_eq!(uploads_left(&s), 0, "failed uploads are discarded");
    let r = c
        .head(s.url(&format!("/v2/x/blobs/{claimed}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // An upload of the right content still works afterwards.
    push_blob(&s, &c, "x", &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_restart() {
    let mut s = TestServer::start(|_| {}).await;
    let c = client();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    let r = c
        .post(s.url("/v2/resume/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let path = r.headers()["location"].to_str().unwrap().to_owned();
    let r = c
        .patch(loc(&s, &r))
        .header("content-range", "0-99999")
        .body(data[..100_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    s.stop().await.unwrap();

    let s = TestServer::start_in(s.root, |_| {}).await;
    let r = c.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-99999");
    let r = c
        .patch(s.url(&path))
        .header("content-range", "100000-199999")
        .body(data[100_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let d = digest(&data);
    let r = c
        .put(with_query(&loc(&s, &r), &format!("digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .get(s.url(&format!("/v2/resume/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_unreferenced_blobs_only() {
    let mut s = TestServer::start(|_| {}).await;
    let c = client();
    let cfg = push_blob(&s, &c, "gc/img", b"{}").await;
    let layer = push_blob(&s, &c, "gc/img", b"referenced layer").await;
    let orphan = push_blob(&s, &c, "gc/img", b"nobody points here").await;
    let m = image_manifest((&cfg, 2), &[(&layer, 16)], serde_json::json!({}));
    put_manifest(&s, &c, "gc/img", "v1", MANIFEST, &m).await;
    // An index in another repository keeps its child manifest reachable.
    let r = c
        .post(s.url("/v2/gc/idx/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let stale_upload = loc(&s, &r);
    s.stop().await.unwrap();

    // Age the open upload past the stale limit.
    let up_dir = std::fs::read_dir(s.registry_root().join("uploads"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let old = std::time::SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
    std::fs::File::open(&up_dir)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let report = berth_distribution::server::gc(&s.registry_root()).unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert_eq!(report.blobs_kept, 3, "config, layer, manifest");
    assert_eq!(report.uploads_removed, 1);
    assert!(!blob_file(&s, &orphan).exists());
    assert!(blob_file(&s, &layer).exists());

    let s = TestServer::start_in(s.root, |_| {}).await;
    let r = c
        .head(s.url(&format!("/v2/gc/img/blobs/{orphan}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(s.url(&format!("/v2/gc/img/blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(s.url("/v2/gc/img/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(stale_upload.replace(&stale_upload[..stale_upload.find("/v2").unwrap()], &s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let mut s = TestServer::start(|_| {}).await;
    let c = client();
    let r = c
        .post(s.url("/v2/slow/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let up = loc(&s, &r);

    // A PATCH whose body arrives slowly: in flight when shutdown starts.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|x| (x, rx))
    }));
    let req = tokio::spawn(client().patch(&up).body(body).send());
    tx.send(Ok(b"first ".to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    s.signal_stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let task = s.task.take().unwrap();
    assert!(
        !task.is_finished(),
        "server waits for the in-flight request"
    );

    tx.send(Ok(b"second".to_vec())).await.unwrap();
    drop(tx);
    let r = req.await.unwrap().unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-11");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("server exits after the request")
        .unwrap()
        .unwrap();
    assert!(
        client().get(s.url("/v2/")).send().await.is_err(),
        "no longer listening"
    );
}

/// Writes an OCI image layout with one image (a config and one layer), tagged `1`.
fn oci_layout(dir: &std::path::Path) -> (String, String) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let src = dir.join("../layer-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello.txt"), "hello from berth\n").unwrap();
    let tar = dir.join("../layer.tar");
    let ok = std::process::Command::new("tar")
        .args(["--sort=name", "--owner=0", "--group=0", "--mtime=@0", "-C"])
        .arg(&src)
        .arg("-cf")
        .arg(&tar)
        .arg("hello.txt")
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let layer = std::fs::read(&tar).unwrap();
    let put = |b: &[u8]| {
        let d = digest(b);
        std::fs::write(blobs.join(d.strip_prefix("sha256:").unwrap()), b).unwrap();
        d
    };
    let ld = put(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [ld]}
    }))
    .unwrap();
    let cd = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}]
    }))
    .unwrap();
    let md = put(&manifest);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": MANIFEST, "digest": md, "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": "1"}}]
        }))
        .unwrap(),
    )
    .unwrap();
    (md, ld)
}

fn skopeo(args: &[&str], work: &std::path::Path) -> std::process::Output {
    // A private policy and auth file: the test must not depend on, or write
    // to, the machine's container configuration.
    let policy = work.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    std::process::Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .env("REGISTRY_AUTH_FILE", work.join("auth.json"))
        .env("HOME", work)
        .output()
        .unwrap()
}

fn have_skopeo() -> bool {
    let ok = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        // Under CI a missing peer is a failure: a skipped interop test proves nothing.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "skopeo not installed (apt-get install -y skopeo): interop test skipped"
        );
        eprintln!("skopeo not installed (apt-get install -y skopeo): interop test skipped");
    }
    ok
}

async fn skopeo_round_trip(s: &TestServer, creds: Option<&str>) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("src");
    let (md, ld) = oci_layout(&layout);
    let dest = format!("docker://{}/test/img:1", s.addr);
    let src = format!("oci:{}:1", layout.display());
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    if let Some(c) = creds {
        args.extend(["--dest-creds", c]);
    }
    args.extend([src.as_str(), dest.as_str()]);
    let work_path = work.path().to_owned();
    let out = tokio::task::spawn_blocking({
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let w = work_path.clone();
        move || skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>(), &w)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "skopeo push: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The image arrived: skopeo may re-serialise the manifest, so check its
    // content and that the served bytes match the served digest.
    let c = client();
    let mut req = c
        .get(s.url("/v2/test/img/manifests/1"))
        .header("accept", MANIFEST);
    if creds.is_some() {
        let realm = s.url("/token");
        let tok: serde_json::Value = c
            .get(realm)
            .query(&[("scope", "repository:test/img:pull")])
            .basic_auth("user", Some("secret"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        req = req.bearer_auth(tok["token"].as_str().unwrap());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let served = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = r.bytes().await.unwrap();
    assert_eq!(digest(&body), served);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    // skopeo gzips an uncompressed layer on its way to a registry, so the
    // pushed layer has a new digest.
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let pushed_layer = layers[0]["digest"].as_str().unwrap().to_owned();
    let _ = (md, ld);

    // And back.
    let out_dir = work.path().join("back");
    let back = format!("oci:{}:1", out_dir.display());
    let mut args = vec!["copy".to_owned(), "--src-tls-verify=false".to_owned()];
    if let Some(c) = creds {
        args.extend(["--src-creds".to_owned(), c.to_owned()]);
    }
    args.extend([dest.clone(), back]);
    let out = tokio::task::spawn_blocking(move || {
        skopeo(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &work_path,
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "skopeo pull: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = pushed_layer.strip_prefix("sha256:").unwrap();
    let back_layer = std::fs::read(out_dir.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(digest(&back_layer), pushed_layer);
    assert!(out_dir
        .join("blobs/sha256")
        .join(served.strip_prefix("sha256:").unwrap())
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_to_and_from_the_registry() {
    if !have_skopeo() {
        return;
    }
    let s = TestServer::start(|_| {}).await;
    skopeo_round_trip(&s, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_through_the_token_flow() {
    if !have_skopeo() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = bcrypt::hash_with_result("secret", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("user:{h}\n")).unwrap();
    let s = TestServer::start(|c| {
        c.htpasswd = Some(file);
        c.token_issuer = Some("berth-test".into());
    })
    .await;
    skopeo_round_trip(&s, Some("user:secret")).await;
}

/// podman 4.x with a private store (vfs, its own root and runroot): loads the
/// hand-made layout, pushes it to the registry, drops it and pulls it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_push_and_pull() {
    let root_user = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let have = std::process::Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have || !root_user {
        // Under CI a missing peer is a failure: a skipped interop test proves nothing.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "podman (as root) not available: interop test skipped"
        );
        eprintln!("podman (as root) not available: interop test skipped");
        return;
    }
    let s = TestServer::start(|_| {}).await;
    // podman names an oci: image after its path, and names must be lowercase.
    let work = tempfile::Builder::new()
        .prefix(&format!(
            "berth-podman-{}-{}",
            std::process::id(),
            s.addr.port()
        ))
        .rand_bytes(0)
        .tempdir()
        .unwrap();
    let layout = work.path().join("src");
    oci_layout(&layout);
    let w = work.path().to_owned();
    // podman insists that an auth file it is pointed at exists.
    std::fs::write(w.join("auth.json"), "{}").unwrap();
    let podman = move |args: &[&str]| {
        let out = std::process::Command::new("podman")
            .arg("--root")
            .arg(w.join("root"))
            .arg("--runroot")
            .arg(w.join("runroot"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args)
            .env("REGISTRY_AUTH_FILE", w.join("auth.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let dest = format!("{}/test/podman:1", s.addr);
    let src = format!("oci:{}:1", layout.display());
    let id = tokio::task::spawn_blocking(move || {
        let id = podman(&["pull", "-q", &src]);
        podman(&[
            "push",
            "--tls-verify=false",
            &id,
            &format!("docker://{dest}"),
        ]);
        podman(&["rmi", "-f", &id]);
        let pulled = podman(&["pull", "-q", "--tls-verify=false", &dest]);
        let _ = podman(&["rmi", "-f", &pulled]);
        (id, pulled)
    })
    .await
    .unwrap();
    assert_eq!(id.0, id.1, "same image (config digest) back");
}

/// Many clients pushing the same blob and racing on one tag: every request
/// succeeds and the result is one intact blob and a tag naming one of the
/// pushed manifests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_of_the_same_content() {
    let s = std::sync::Arc::new(TestServer::start(|_| {}).await);
    let c = client();
    let data: Vec<u8> = (0..500_000u32).map(|i| (i % 13) as u8).collect();
    let d = digest(&data);
    let cfg = push_blob(&s, &c, "race", b"{}").await;
    let mut tasks = Vec::new();
    for i in 0..12usize {
        let (s, c, data, d, cfg) = (s.clone(), c.clone(), data.clone(), d.clone(), cfg.clone());
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(s.url(&format!("/v2/race/blobs/uploads/?digest={d}")))
                .body(data.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let m = image_manifest(
                (&cfg, 2),
                &[(&d, data.len())],
                serde_json::json!({"annotations": {"n": i.to_string()}}),
            );
            let r = put_manifest(&s, &c, "race", "latest", MANIFEST, &m).await;
            assert_eq!(r.status(), 201);
            digest(&m)
        }));
    }
    let mut pushed = Vec::new();
    for t in tasks {
        pushed.push(t.await.unwrap());
    }
    let r = c
        .get(s.url(&format!("/v2/race/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(digest(&r.bytes().await.unwrap()), d);
    let r = c
        .head(s.url("/v2/race/manifests/latest"))
        .send()
        .await
        .unwrap();
    let tagged = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(pushed.contains(&tagged));
    assert_eq!(uploads_left(&s), 0);
    let tmp = std::fs::read_dir(s.registry_root().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "no staging files left behind");
}
