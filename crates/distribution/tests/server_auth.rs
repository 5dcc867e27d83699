//! Basic auth, the token flow, TLS and read-only mode.

mod server_util;

use server_util::*;

/// An htpasswd file with `user`/`secret` in htpasswd -B format ($2y$).
fn htpasswd(dir: &std::path::Path) -> std::path::PathBuf {
    let h = bcrypt::hash_with_result("secret", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    let path = dir.join("htpasswd");
    // A non-bcrypt entry is ignored (and logged), not fatal.
    std::fs::write(&path, format!("user:{h}\nold:{{SHA}}abcdef\n")).unwrap();
    path
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd(dir.path());
    let s = TestServer::start(|c| c.htpasswd = Some(file)).await;
    let c = client();
    let r = c.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(&r), "Basic realm=\"berth-registry\"");
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    let r = c
        .get(s.url("/v2/"))
        .basic_auth("user", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(s.url("/v2/"))
        .basic_auth("user", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(s.url("/v2/"))
        .basic_auth("old", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(s.url("/v2/a/blobs/uploads/"))
        .basic_auth("user", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

async fn get_token(
    c: &reqwest::Client,
    realm: &str,
    scope: &str,
    creds: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut req = c
        .get(realm)
        .query(&[("service", "berth-registry"), ("scope", scope)]);
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_flow() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd(dir.path());
    let s = TestServer::start(|c| {
        c.htpasswd = Some(file);
        c.token_issuer = Some("berth-test".into());
        c.anonymous_pull = true;
    })
    .await;
    let c = client();
    let realm = s.url("/token");

    // /v2/ challenges with the realm; a repository request names its scope.
    let r = c.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&r),
        format!("Bearer realm=\"{realm}\",service=\"berth-registry\"")
    );
    let r = c
        .post(s.url("/v2/test/img/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&r),
        format!("Bearer realm=\"{realm}\",service=\"berth-registry\",scope=\"repository:test/img:pull,push\"")
    );

    // Wrong password: no token.
    let r = get_token(
        &c,
        &realm,
        "repository:test/img:pull,push",
        Some(("user", "nope")),
    )
    .await;
    assert_eq!(r.status(), 401);

    // Good credentials: a push token that works for this repository only.
    let r = get_token(
        &c,
        &realm,
        "repository:test/img:pull,push",
        Some(("user", "secret")),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(v["access_token"], v["token"]);
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    assert!(v["issued_at"].is_string());
    let r = c
        .get(s.url("/v2/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let data = b"token pushed blob";
    let d = digest(data);
    let r = c
        .post(s.url(&format!("/v2/test/img/blobs/uploads/?digest={d}")))
        .bearer_auth(&token)
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .get(s.url(&format!("/v2/test/img/blobs/{d}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(s.url(&format!("/v2/other/blobs/{d}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("error=\"insufficient_scope\""));

    // A tampered token is rejected.
    let mut forged = token.clone();
    forged.insert(5, 'x');
    let r = c
        .get(s.url("/v2/"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("invalid_token"));

    // Anonymous: asked for pull,push, granted pull only.
    let r = get_token(&c, &realm, "repository:test/img:pull,push", None).await;
    assert_eq!(r.status(), 200);
    let anon = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .get(s.url(&format!("/v2/test/img/blobs/{d}")))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(s.url("/v2/test/img/blobs/uploads/"))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&r),
        format!("Bearer realm=\"{realm}\",service=\"berth-registry\",scope=\"repository:test/img:pull,push\",error=\"insufficient_scope\"")
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");

    // Catalog needs its own scope.
    let r = get_token(&c, &realm, "registry:catalog:*", Some(("user", "secret"))).await;
    let cat = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .get(s.url("/v2/_catalog"))
        .bearer_auth(&cat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(s.url("/v2/_catalog"))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_self_signed_cert() {
    let dir = tempfile::tempdir().unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert_pem = ck.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let s = TestServer::start(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await;
    assert!(s.base.starts_with("https://127.0.0.1:"));
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = c.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let d = push_blob(&s, &c, "tls/repo", &vec![7u8; 1 << 20]).await;
    let r = c
        .get(s.url(&format!("/v2/tls/repo/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), 1 << 20);
    // Plain HTTP to the TLS port gets nothing useful.
    let plain = format!("http://{}/v2/", s.addr);
    assert!(client()
        .get(plain)
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_writes() {
    // Populate, then serve the same root read-only.
    let mut rw = TestServer::start(|_| {}).await;
    let c = client();
    let d = push_blob(&rw, &c, "ro/img", b"content").await;
    rw.stop().await.unwrap();
    let root = rw.root;
    let s = TestServer::start_in(root, |c| c.read_only = true).await;

    let r = c
        .get(s.url(&format!("/v2/ro/img/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for req in [
        c.post(s.url("/v2/ro/img/blobs/uploads/")),
        c.put(s.url("/v2/ro/img/manifests/t")).body("{}"),
        c.delete(s.url(&format!("/v2/ro/img/blobs/{d}"))),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(error_code(r).await, "UNSUPPORTED");
    }
    let r = c
        .get(s.url(&format!("/v2/ro/img/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
