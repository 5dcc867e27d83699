//! HTTPS: a docker-registry serving TLS with a certificate from a test CA. Verified
//! HTTPS fails without the CA (saying where the CA goes), works with the CA in the system
//! bundle (`SSL_CERT_FILE`) or in certs.d, and `--tls-verify=false` accepts the
//! certificate anyway. Its own binary: it sets `BERTH_CERTS_D` and `SSL_CERT_FILE`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_distribution::client::{self, ClientError, Progress, PullOptions, TransportOptions};
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

fn run(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn https_with_certs_d_and_tls_verify_false() {
    if !have("docker-registry") || !have("skopeo") || !have("openssl") {
        // Under CI a missing peer is a failure: a skipped interop test proves nothing.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "skipping: docker-registry, skopeo and openssl are needed"
        );
        eprintln!("skipping: docker-registry, skopeo and openssl are needed");
        return;
    }
    std::env::set_var("BERTH_CONFIG", "/nonexistent/berth.toml");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=berth test CA",
        ],
    );
    run(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let yml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  tls:\n    certificate: {}\n    key: {}\n",
        d.join("storage").display(),
        d.join("srv.crt").display(),
        d.join("srv.key").display()
    );
    std::fs::write(d.join("config.yml"), yml).unwrap();
    let _reg = Kill(
        Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
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

    // A one-layer image via skopeo.
    let layout = d.join("oci");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let dg = berth_store::Digest::of_bytes(b);
        std::fs::write(blobs.join(dg.hex()), b).unwrap();
        dg.to_string()
    };
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    tb.append_data(&mut h, "tls", &b"yes\n"[..]).unwrap();
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
    let name = format!("{addr}/tls/img:1");
    let o = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let q = Arc::new(Progress::quiet());
    let verified = PullOptions {
        transport: TransportOptions {
            tls_verify: Some(true),
        },
        ..Default::default()
    };
    let certs_d = d.join("certs.d");
    std::fs::create_dir_all(certs_d.join(&addr)).unwrap();
    std::env::set_var("BERTH_CERTS_D", &certs_d);
    let store = ImageStore::open(&d.join("root")).unwrap();
    let e = client::pull(&store, &name, &verified, &q).unwrap_err();
    assert!(matches!(e, ClientError::Network { .. }), "{e}");
    assert!(e.to_string().contains(&addr), "{e}");
    assert!(
        e.to_string().contains(&format!("certs.d/{addr}/ca.crt")),
        "the error says where the CA goes: {e}"
    );

    // A CA in the system bundle (here one named by SSL_CERT_FILE, as OpenSSL reads it)
    // is trusted without certs.d.
    let bundle = d.join("system-bundle.pem");
    let mut pem = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    pem.extend(std::fs::read(d.join("ca.crt")).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    std::env::set_var("SSL_CERT_FILE", &bundle);
    let via_system = ImageStore::open(&d.join("root-system")).unwrap();
    assert_eq!(
        client::pull(&via_system, &name, &verified, &q)
            .unwrap()
            .image_id,
        cd
    );
    std::env::set_var("SSL_CERT_FILE", d.join("no-such-bundle.pem"));

    let insecure = PullOptions {
        transport: TransportOptions {
            tls_verify: Some(false),
        },
        ..Default::default()
    };
    assert_eq!(
        client::pull(&store, &name, &insecure, &q).unwrap().image_id,
        cd
    );

    std::fs::copy(d.join("ca.crt"), certs_d.join(&addr).join("ca.crt")).unwrap();
    let store2 = ImageStore::open(&d.join("root2")).unwrap();
    assert_eq!(
        client::pull(&store2, &name, &verified, &q)
            .unwrap()
            .image_id,
        cd
    );
}
