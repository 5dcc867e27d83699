//! The Bearer token flow, retries and resumed downloads, through a small axum proxy in
//! front of Debian's docker-registry: the proxy demands `Bearer` tokens from its own
//! `/token` realm, answers the first GET of each blob with 503, and cuts the first
//! complete blob download in half, so the client must retry and resume with `Range`.

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_distribution::client::{self, Progress, PullOptions, PushOptions};
use berth_image::ImageStore;

struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Child::kill signals exactly this child's pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_registry() -> Registry {
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
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry {
        child,
        addr,
        _dir: dir,
    }
}

struct Proxy {
    addr: String,
    upstream: String,
    http: reqwest::Client,
    tokens_issued: AtomicUsize,
    scopes: Mutex<Vec<String>>,
    failed_once: Mutex<HashSet<String>>,
    cut_done: AtomicBool,
    saw_range: AtomicBool,
}

async fn handle(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|x| x.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    if path == "/token" {
        p.tokens_issued.fetch_add(1, Ordering::SeqCst);
        let q = req.uri().query().unwrap_or_default().to_string();
        p.scopes.lock().unwrap().push(q);
        return axum::Json(serde_json::json!({"token": "good-token", "expires_in": 300}))
            .into_response();
    }
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|h| h == "Bearer good-token");
    if !authorized {
        let repo = path
            .strip_prefix("/v2/")
            .and_then(|r| {
                ["/manifests/", "/blobs/", "/tags/"]
                    .iter()
                    .find_map(|m| r.split_once(m).map(|(a, _)| a.to_string()))
            })
            .unwrap_or_default();
        let challenge = if repo.is_empty() {
            format!(
                r#"Bearer realm="http://{}/token",service="test-registry""#,
                p.addr
            )
        } else {
            format!(
                r#"Bearer realm="http://{}/token",service="test-registry",scope="repository:{repo}:pull""#,
                p.addr
            )
        };
        return (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", challenge)],
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
        )
            .into_response();
    }
    let is_blob_get = req.method() == "GET" && path.contains("/blobs/sha256:");
    let range = req.headers().get("range").cloned();
    if is_blob_get && p.failed_once.lock().unwrap().insert(path.clone()) {
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    if range.is_some() {
        p.saw_range.store(true, Ordering::SeqCst);
    }
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    headers.remove("host");
    headers.remove("authorization");
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    let up = p
        .http
        .request(method, format!("http://{}{pq}", p.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = up.status();
    let mut out_headers = up.headers().clone();
    out_headers.remove("content-length");
    out_headers.remove("transfer-encoding");
    if let Some(loc) = out_headers.get("location").and_then(|l| l.to_str().ok()) {
        let fixed = loc.replace(&p.upstream, &p.addr);
        out_headers.insert("location", HeaderValue::from_str(&fixed).unwrap());
    }
    let bytes = up.bytes().await.unwrap();
    let cut = is_blob_get
        && range.is_none()
        && bytes.len() > 1024
        && !p.cut_done.swap(true, Ordering::SeqCst);
    let body = if cut {
        // Half the blob, then a broken connection.
        let half = bytes.slice(..bytes.len() / 2);
        use futures_util::StreamExt;
        let first = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]);
        // The pause lets the client read the half before the reset discards it.
        let cut = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Err(std::io::Error::other("connection cut by the test proxy"))
        });
        Body::from_stream(first.chain(cut))
    } else {
        Body::from(bytes)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = out_headers;
    resp
}

fn start_proxy(upstream: &str) -> Arc<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let proxy = Arc::new(Proxy {
        addr: listener.local_addr().unwrap().to_string(),
        upstream: upstream.to_string(),
        http: reqwest::Client::new(),
        tokens_issued: AtomicUsize::new(0),
        scopes: Mutex::new(Vec::new()),
        failed_once: Mutex::new(HashSet::new()),
        cut_done: AtomicBool::new(false),
        saw_range: AtomicBool::new(false),
    });
    let state = proxy.clone();
    // The server thread ends with the test process.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(handle).with_state(state);
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    proxy
}

fn layer_tar(seed: u8) -> (Vec<u8>, String) {
    let mut b = tar::Builder::new(Vec::new());
    let mut x: u64 = 0x1234_5678 ^ seed as u64;
    let data: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, format!("file{seed}"), &data[..])
        .unwrap();
    let tar = b.into_inner().unwrap();
    let d = berth_store::Digest::of_bytes(&tar).to_string();
    (tar, d)
}

#[test]
fn bearer_tokens_retries_and_resumed_downloads() {
    if !have("docker-registry") {
        // Under CI a missing peer is a failure: a skipped interop test proves nothing.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "skipping: docker-registry is needed"
        );
        eprintln!("skipping: docker-registry is needed");
        return;
    }
    std::env::set_var("BERTH_CONFIG", "/nonexistent/berth.toml");
    let reg = start_registry();
    let proxy = start_proxy(&reg.addr);
    let work = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&work.path().join("root")).unwrap();
    let layers: Vec<_> = (0..2).map(layer_tar).collect();
    let sources: Vec<_> = layers
        .iter()
        .map(|(t, d)| {
            let t = t.clone();
            berth_image::store::LayerSource {
                diff_id: d.clone(),
                blob_digest: None,
                blob_verified: false,
                keep_blob_as: None,
                open: Box::new(move || {
                    Ok(Box::new(std::io::Cursor::new(t.clone())) as Box<dyn std::io::Read + Send>)
                }),
            }
        })
        .collect();
    store.add_layers(&sources).unwrap();
    let ids: Vec<&String> = layers.iter().map(|l| &l.1).collect();
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ids}}))
    .unwrap();
    let name = format!("{}/tok/img:1", proxy.addr);
    let r = berth_image::ImageRef::parse(&name).unwrap();
    let id = store.add_image(&config, None, &[r], None).unwrap().id;

    let q = Arc::new(Progress::quiet());
    let pushed = client::push(&store, &name, &PushOptions::default(), &q).unwrap();
    assert_eq!(pushed.layers_pushed, 2);
    assert!(proxy
        .scopes
        .lock()
        .unwrap()
        .iter()
        .any(|s| s.contains("pull%2Cpush") || s.contains("pull,push")));

    let fresh = ImageStore::open(&work.path().join("root2")).unwrap();
    let before = proxy.tokens_issued.load(Ordering::SeqCst);
    let out = client::pull(&fresh, &name, &PullOptions::default(), &q).unwrap();
    assert_eq!(out.image_id, id);
    // One token for the pull scope, reused for the manifest, config and both layers.
    assert_eq!(proxy.tokens_issued.load(Ordering::SeqCst) - before, 1);
    assert!(proxy.cut_done.load(Ordering::SeqCst));
    assert!(
        proxy.saw_range.load(Ordering::SeqCst),
        "the cut download resumed with Range"
    );
}
