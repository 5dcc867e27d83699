//! `berth build --cache-to` / `--cache-from` end to end: a cache exported by one
//! store (a local OCI layout, or berth's own registry server on 127.0.0.1) makes a
//! second, fresh store with only the base image build the same image without
//! running a step; `mode=min` against `mode=max` on two stages; a corrupt blob in
//! the cache fails the build and stores nothing; bad flags fail before anything
//! runs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::build::context;
use common::engine::{show, text, Engine};

/// `build ARGS DIR`; stderr (the progress) and the image id on success.
#[track_caller]
fn build_ok(e: &Engine, dir: &Path, extra: &[&str]) -> (String, String) {
    let iid = e.path(&format!("iid-{}", std::process::id()));
    let _ = fs::remove_file(&iid);
    let mut args = vec!["build", "--iidfile", iid.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let o = e.berth(&args);
    assert!(o.status.success(), "build {extra:?} failed: {}", show(&o));
    (text(&o.stderr), fs::read_to_string(&iid).unwrap())
}

/// A second store whose busybox is the first store's very image (same id), as
/// `import` would stamp a new creation time and so a new id.
fn fresh_store_like(first: &Engine, name: &str) -> Option<Engine> {
    let second = Engine::new(name)?;
    let tar = first.path("busybox-image.tar");
    if !tar.exists() {
        first.ok(&["save", "-o", tar.to_str().unwrap(), "busybox:latest"]);
    }
    second.ok(&["rmi", "busybox:latest"]);
    second.ok(&["load", "-i", tar.to_str().unwrap()]);
    let id = |e: &Engine| e.ok(&["image", "inspect", "--format", "{{.Id}}", "busybox:latest"]);
    assert_eq!(id(&second), id(first));
    Some(second)
}

/// Steps that print a value only a real run produces ($((6*7)) is in the step's
/// title, 42 only in its output) and a timestamp, so a step that ran again would
/// give another image id.
const APP: &str = r#"FROM busybox
RUN echo ran-$((6*7)) && date +%s%N > /stamp
WORKDIR /app
COPY hello.txt .
RUN cat hello.txt > copy.txt && date +%s%N >> /stamp
RUN true
ENV MODE=cached
CMD ["cat", "/app/copy.txt"]
"#;

/// The layer blobs an exported layout's manifest lists.
fn layout_layers(dir: &Path) -> Vec<PathBuf> {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| {
        dir.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let m: serde_json::Value = serde_json::from_slice(
        &fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.berth.buildcache.config.v1+json"
    );
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap()))
        .collect()
}

#[test]
fn a_local_cache_rebuilds_the_same_image_in_a_fresh_store() {
    let Some(a) = Engine::new("bcio_local_a") else {
        return;
    };
    let dir = context(&a, "app", &[("hello.txt", "hello\n"), ("Dockerfile", APP)]);
    let cache = a.path("cache");
    let cache_to = format!("type=local,dest={}", cache.display());
    let (out, id) = build_ok(&a, &dir, &["-t", "app:1", "--cache-to", &cache_to]);
    assert!(out.contains("ran-42"), "{out}");
    assert!(out.contains("exporting cache to"), "{out}");
    assert!(cache.join("oci-layout").is_file() && cache.join("index.json").is_file());
    // Four layers (the two RUNs, WORKDIR and COPY); `RUN true` changed nothing.
    assert_eq!(layout_layers(&cache).len(), 4);

    let Some(b) = fresh_store_like(&a, "bcio_local_b") else {
        return;
    };
    // A cache that is not there is a warning, not an error.
    let missing = format!("type=local,src={}", a.path("no-such-cache").display());
    let cache_from = format!("type=local,src={}", cache.display());
    let (out, id2) = build_ok(
        &b,
        &dir,
        &[
            "-t",
            "app:1",
            "--cache-from",
            &missing,
            "--cache-from",
            &cache_from,
        ],
    );
    assert!(out.contains("WARNING: no build cache at"), "{out}");
    assert!(!out.contains("ran-42"), "a step ran again: {out}");
    assert_eq!(out.matches("CACHED").count(), 5, "{out}");
    assert_eq!(id2, id, "the same image id as the exporting build");
    let ran = b.ok(&["run", "--rm", "--network", "none", "app:1"]);
    assert_eq!(ran, "hello\n");

    // The imported steps are in the local cache now: no --cache-from needed.
    let (out, id3) = build_ok(&b, &dir, &[]);
    assert_eq!(out.matches("CACHED").count(), 5, "{out}");
    assert_eq!(id3, id);

    // Exporting again from the second store gives the same blobs (the layers keep
    // the blobs they were imported as).
    let again = b.path("cache-again");
    let to = format!("type=local,dest={}", again.display());
    build_ok(&b, &dir, &["--cache-to", &to]);
    let names = |d: &Path| {
        let mut v: Vec<_> = layout_layers(d)
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&again), names(&cache));
}

#[test]
fn a_corrupt_blob_fails_the_build_and_stores_nothing() {
    let Some(a) = Engine::new("bcio_corrupt_a") else {
        return;
    };
    let dir = context(&a, "app", &[("hello.txt", "hello\n"), ("Dockerfile", APP)]);
    let cache = a.path("cache");
    build_ok(
        &a,
        &dir,
        &[
            "--cache-to",
            &format!("type=local,dest={}", cache.display()),
        ],
    );
    // Flip one byte of every layer blob, keeping the sizes.
    for p in layout_layers(&cache) {
        let mut bytes = fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&p, bytes).unwrap();
    }
    let Some(b) = fresh_store_like(&a, "bcio_corrupt_b") else {
        return;
    };
    let images_before = b.ok(&["images", "-q", "--no-trunc"]);
    let iid = b.path("iid");
    let o = b.berth(&[
        "build",
        "--iidfile",
        iid.to_str().unwrap(),
        "-t",
        "broken:1",
        "--cache-from",
        &format!("type=local,src={}", cache.display()),
        dir.to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(err.contains("failed digest verification"), "{err}");
    assert!(!iid.exists());
    assert_eq!(b.ok(&["images", "-q", "--no-trunc"]), images_before);
    assert!(b.berth(&["image", "inspect", "broken:1"]).status.code() != Some(0));
    // Nothing half-imported is left to hit: the build runs every step and works.
    let (out, _) = build_ok(&b, &dir, &["-t", "fine:1"]);
    assert!(out.contains("ran-42"), "{out}");
    assert_eq!(
        b.ok(&["run", "--rm", "--network", "none", "fine:1"]),
        "hello\n"
    );
}

/// The builder stage's output is copied into the final stage, which is built FROM
/// busybox: mode=min exports the final stage's steps only.
const TWO_STAGES: &str = r#"FROM busybox AS builder
RUN echo built-$((6*7)) && echo artifact > /artifact
FROM busybox
COPY --from=builder /artifact /artifact
RUN cat /artifact > /copy && date +%s%N > /stamp
"#;

#[test]
fn mode_min_leaves_out_the_builder_stage_and_max_keeps_it() {
    let Some(a) = Engine::new("bcio_mode_a") else {
        return;
    };
    let dir = context(&a, "two", &[("Dockerfile", TWO_STAGES)]);
    let min = a.path("min");
    let max = a.path("max");
    let (out, id) = build_ok(
        &a,
        &dir,
        &[
            "--cache-to",
            &format!("type=local,dest={}", min.display()),
            "--cache-to",
            &format!("type=local,dest={},mode=max", max.display()),
        ],
    );
    assert!(out.contains("built-42"), "{out}");
    assert!(out.contains("(2 records)"), "min: COPY and RUN: {out}");
    assert!(
        out.contains("(3 records)"),
        "max: the builder's RUN too: {out}"
    );

    // min: the builder's RUN is not in the cache, so it runs again (its output is
    // needed to know the COPY's key); COPY and the final RUN then hit.
    let Some(b) = fresh_store_like(&a, "bcio_mode_b") else {
        return;
    };
    let from = format!("type=local,src={}", min.display());
    let (out, id_min) = build_ok(&b, &dir, &["--cache-from", &from]);
    assert!(out.contains("built-42"), "{out}");
    assert_eq!(out.matches("CACHED").count(), 2, "{out}");
    assert_eq!(id_min, id);

    // max: nothing runs.
    let Some(c) = fresh_store_like(&a, "bcio_mode_c") else {
        return;
    };
    let from = format!("type=local,src={}", max.display());
    let (out, id_max) = build_ok(&c, &dir, &["--cache-from", &from]);
    assert!(!out.contains("built-42"), "{out}");
    assert_eq!(out.matches("CACHED").count(), 3, "{out}");
    assert_eq!(id_max, id);
}

struct Registry {
    server: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn start_registry() -> Registry {
    let dir = tempfile::Builder::new()
        .prefix("bcio-reg-")
        .tempdir()
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Command::new(common::engine::BERTH)
        .args([
            "registry",
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--root",
        ])
        .arg(dir.path().join("registry"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.path().join("server.log")).unwrap())
        .spawn()
        .expect("start berth registry serve");
    let reg = Registry { server, port, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "registry did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    reg
}

#[test]
fn a_registry_cache_rebuilds_the_same_image_in_a_fresh_store() {
    let Some(a) = Engine::new("bcio_reg_a") else {
        return;
    };
    let reg = start_registry();
    let dir = context(&a, "app", &[("hello.txt", "hello\n"), ("Dockerfile", APP)]);
    let r = format!("127.0.0.1:{}/cache/app:buildcache", reg.port);
    let (out, id) = build_ok(
        &a,
        &dir,
        &[
            "-t",
            "app:1",
            "--cache-to",
            &format!("type=registry,ref={r},mode=max"),
        ],
    );
    assert!(out.contains("ran-42"), "{out}");
    assert!(out.contains(&format!("exporting cache to {r}")), "{out}");
    // A second export finds the blobs there and moves the tag only.
    build_ok(&a, &dir, &["--cache-to", &format!("type=registry,ref={r}")]);

    let Some(b) = fresh_store_like(&a, "bcio_reg_b") else {
        return;
    };
    // The shorthand: a bare reference is a registry cache.
    let (out, id2) = build_ok(&b, &dir, &["-t", "app:1", "--cache-from", &r]);
    assert!(!out.contains("ran-42"), "a step ran again: {out}");
    assert_eq!(out.matches("CACHED").count(), 5, "{out}");
    assert_eq!(id2, id);
    assert_eq!(
        b.ok(&["run", "--rm", "--network", "none", "app:1"]),
        "hello\n"
    );
    // A tag with no cache behind it: a warning, and the build runs.
    let Some(c) = fresh_store_like(&a, "bcio_reg_c") else {
        return;
    };
    let none = format!("127.0.0.1:{}/cache/none:x", reg.port);
    let (out, _) = build_ok(&c, &dir, &["--cache-from", &none]);
    assert!(out.contains("WARNING: no build cache at"), "{out}");
    assert!(out.contains("ran-42"), "{out}");

    // Layer blobs altered on the server (found by the digests a local export of
    // the same layers gives): refused by digest, nothing stored.
    let local = a.path("same-layers");
    build_ok(
        &a,
        &dir,
        &[
            "--cache-to",
            &format!("type=local,dest={}", local.display()),
        ],
    );
    for p in layout_layers(&local) {
        let hex = p.file_name().unwrap().to_str().unwrap().to_string();
        let on_server = reg
            .dir
            .path()
            .join("registry/blobs/sha256")
            .join(&hex[..2])
            .join(&hex);
        let mut bytes = fs::read(&on_server).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&on_server, bytes).unwrap();
    }
    let Some(d) = fresh_store_like(&a, "bcio_reg_d") else {
        return;
    };
    let before = d.ok(&["images", "-q", "--no-trunc"]);
    let o = d.berth(&["build", "--cache-from", &r, dir.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(err.contains("failed digest verification"), "{err}");
    assert_eq!(d.ok(&["images", "-q", "--no-trunc"]), before);
}

#[test]
fn bad_cache_flags_fail_before_anything_runs() {
    let Some(e) = Engine::new("bcio_flags") else {
        return;
    };
    let dir = context(&e, "app", &[("hello.txt", "hello\n"), ("Dockerfile", APP)]);
    for (flag, value, says) in [
        ("--cache-to", "type=inline", "type=inline"),
        ("--cache-to", "type=gha,url=x", "type=gha is not supported"),
        ("--cache-to", "type=local", "needs dest=DIR"),
        (
            "--cache-to",
            "type=local,dest=/tmp/x,mode=all",
            "use min or max",
        ),
        (
            "--cache-to",
            "type=local,dest=/tmp/x,color=red",
            "unknown attribute color=",
        ),
        ("--cache-to", "type=registry", "needs ref="),
        (
            "--cache-from",
            "type=local,dest=/tmp/x",
            "unknown attribute dest=",
        ),
        ("--cache-from", "type=registry,ref=Bad/Name", "ref=Bad/Name"),
    ] {
        let o = e.berth(&["build", flag, value, dir.to_str().unwrap()]);
        assert!(!o.status.success(), "{flag} {value}: {}", show(&o));
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!("invalid {flag}")) && err.contains(says),
            "{flag} {value}: {err}"
        );
        assert!(!err.contains("#1 "), "nothing may run: {err}");
    }
}
