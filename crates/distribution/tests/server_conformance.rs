//! The registry server against the OCI distribution-spec conformance checks
//! (pull, push, content discovery, content management), over real HTTP.

mod server_util;

use server_util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_and_errors() {
    let s = TestServer::start(|_| {}).await;
    let c = client();
    let r = c.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );

    // Missing things are 404 with the spec's codes.
    let missing = digest(b"nothing");
    let r = c
        .get(s.url(&format!("/v2/a/b/blobs/{missing}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = c
        .head(s.url(&format!("/v2/a/b/blobs/{missing}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(s.url("/v2/a/b/manifests/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = c.get(s.url("/v2/a/b/tags/list")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");

    // Malformed input is 400 with a conforming body.
    let r = put_manifest(&s, &c, "a/b", "sha256:totallywrong", MANIFEST, b"{}").await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = c.get(s.url("/v2/Bad_Name/tags/list")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "NAME_INVALID");
    let r = c.get(s.url("/v2/a/blobs/sha256:xyz")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_monolithic_streamed_chunked_and_pull() {
    let s = TestServer::start(|_| {}).await;
    let c = client();
    let repo = "conf/push";

    // POST with ?digest= and the body: 201 straight away.
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let cd = digest(&config);
    let r = c
        .post(s.url(&format!("/v2/{repo}/blobs/uploads/?digest={cd}")))
        .header("content-type", "application/octet-stream")
        .body(config.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], cd.as_str());
    assert!(r.headers().contains_key("location"));

    // Streamed: POST, PATCH without Content-Range, PUT ?digest= with no body.
    let blob_a = vec![b'a'; 300_000];
    let ad = digest(&blob_a);
    let r = c
        .post(s.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers().contains_key("docker-upload-uuid"));
    assert_eq!(r.headers()["range"], "0-0");
    let r = c
        .patch(loc(&s, &r))
        .body(blob_a.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-299999");
    let r = c
        .put(with_query(&loc(&s, &r), &format!("digest={ad}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Chunked: out-of-order chunk is 416; in-order chunks then a final PUT chunk.
    let blob_b: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let bd = digest(&blob_b);
    let (c1, c2) = blob_b.split_at(60_000);
    let r = c
        .post(s.url(&format!("/v2/{repo}/blobs/uploads/")))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    let upload = loc(&s, &r);
    let r = c
        .patch(&upload)
        .header("content-range", format!("60000-{}", blob_b.len() - 1))
        .body(c2.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = c
        .patch(&upload)
        .header("content-range", "0-59999")
        .header("content-type", "application/octet-stream")
        .body(c1.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let next = loc(&s, &r);
    let r = c.get(&next).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-59999");
    let r = c
        .put(with_query(&next, &format!("digest={bd}")))
        .header("content-range", format!("60000-{}", blob_b.len() - 1))
        .body(c2.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c.get(&next).send().await.unwrap();
    assert_eq!(r.status(), 404, "finished upload is gone");

    // Pull the blob back, whole and by range.
    let r = c
        .get(s.url(&format!("/v2/{repo}/blobs/{bd}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], bd.as_str());
    assert_eq!(r.bytes().await.unwrap().as_ref(), blob_b.as_slice());
    let r = c
        .head(s.url(&format!("/v2/{repo}/blobs/{bd}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "100000");
    let r = c
        .get(s.url(&format!("/v2/{repo}/blobs/{bd}")))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &blob_b[10..20]);
    let r = c
        .get(s.url(&format!("/v2/{repo}/blobs/{bd}")))
        .header("range", "bytes=200000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);

    // Manifest: referencing a missing blob is refused.
    let missing = digest(b"not pushed");
    let bad = image_manifest(
        (&cd, config.len()),
        &[(&missing, 10)],
        serde_json::json!({}),
    );
    let r = put_manifest(&s, &c, repo, "v1", MANIFEST, &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let r = put_manifest(&s, &c, repo, "v1", MANIFEST, b"not json").await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");

    let m = image_manifest(
        (&cd, config.len()),
        &[(&ad, blob_a.len()), (&bd, blob_b.len())],
        serde_json::json!({}),
    );
    let md = digest(&m);
    for tag in ["test0", "test1", "test2", "test3"] {
        let r = put_manifest(&s, &c, repo, tag, MANIFEST, &m).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["docker-content-digest"], md.as_str());
        assert!(r.headers().contains_key("location"));
    }
    // By digest, and the digest must match the body.
    let r = put_manifest(&s, &c, repo, &md, MANIFEST, &m).await;
    assert_eq!(r.status(), 201);
    let r = put_manifest(&s, &c, repo, &digest(b"x"), MANIFEST, &m).await;
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    for reference in ["test0", md.as_str()] {
        let r = c
            .get(s.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("accept", MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], md.as_str());
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            m.as_slice(),
            "bytes exactly as pushed"
        );
        let r = c
            .head(s.url(&format!("/v2/{repo}/manifests/{reference}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-length"], m.len().to_string().as_str());
        assert_eq!(r.headers()["docker-content-digest"], md.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount() {
    let s = TestServer::start(|_| {}).await;
    let c = client();
    let d = push_blob(&s, &c, "src/repo", b"shared layer").await;
    let r = c
        .post(s.url(&format!(
            "/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/dst/repo/blobs/{d}").as_str()
    );
    let r = c
        .head(s.url(&format!("/v2/dst/repo/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Not in the source: falls back to a fresh upload session.
    let other = digest(b"elsewhere");
    let r = c
        .post(s.url(&format!(
            "/v2/dst/repo/blobs/uploads/?mount={other}&from=src/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("/blobs/uploads/"));

    // A blob in another repository is not visible without a link.
    let r = c
        .head(s.url(&format!("/v2/third/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_tags_catalog_referrers() {
    let s = TestServer::start(|_| {}).await;
    let c = client();
    let repo = "disc/img";
    let empty = push_blob(&s, &c, repo, b"{}").await;
    assert_eq!(
        empty,
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    let layer = push_blob(&s, &c, repo, b"layer").await;
    let subject = image_manifest((&empty, 2), &[(&layer, 5)], serde_json::json!({}));
    let sd = digest(&subject);

    // A referrer pushed before its subject exists is fine.
    let ref_a = image_manifest(
        (&empty, 2),
        &[(&layer, 5)],
        serde_json::json!({
            "artifactType": "application/vnd.test.a",
            "subject": {"mediaType": MANIFEST, "digest": sd, "size": subject.len()},
            "annotations": {"k": "a"}
        }),
    );
    let r = put_manifest(&s, &c, repo, &digest(&ref_a), MANIFEST, &ref_a).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["oci-subject"], sd.as_str());
    let r = put_manifest(&s, &c, repo, "v1", MANIFEST, &subject).await;
    assert_eq!(r.status(), 201);
    // A referrer whose artifact type comes from its config media type.
    let mut ref_b: serde_json::Value = serde_json::from_slice(&image_manifest(
        (&empty, 2),
        &[(&layer, 5)],
        serde_json::json!({"subject": {"mediaType": MANIFEST, "digest": sd, "size": subject.len()}, "annotations": {"k": "b"}}),
    ))
    .unwrap();
    ref_b["config"]["mediaType"] = "application/vnd.test.b".into();
    let ref_b = serde_json::to_vec(&ref_b).unwrap();
    put_manifest(&s, &c, repo, &digest(&ref_b), MANIFEST, &ref_b).await;
    // An index referrer.
    let ref_idx = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": INDEX, "artifactType": "application/vnd.test.a",
        "manifests": [{"mediaType": MANIFEST, "digest": digest(&ref_a), "size": ref_a.len()}],
        "subject": {"mediaType": MANIFEST, "digest": sd, "size": subject.len()},
        "annotations": {"k": "idx"}
    }))
    .unwrap();
    let r = put_manifest(&s, &c, repo, &digest(&ref_idx), INDEX, &ref_idx).await;
    assert_eq!(r.status(), 201);

    let r = c
        .get(s.url(&format!("/v2/{repo}/referrers/{sd}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], INDEX);
    let v: serde_json::Value = r.json().await.unwrap();
    let ms = v["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 3);
    assert!(ms.iter().all(|m| m["annotations"]["k"].is_string()));
    let r = c
        .get(s.url(&format!(
            "/v2/{repo}/referrers/{sd}?artifactType=application/vnd.test.a"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    let r = c
        .get(s.url(&format!(
            "/v2/{repo}/referrers/{sd}?artifactType=application/vnd.test.b"
        )))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["manifests"][0]["artifactType"], "application/vnd.test.b");
    // Unknown subject: empty index, still 200.
    let r = c
        .get(s.url(&format!("/v2/{repo}/referrers/{}", digest(b"zzz"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["manifests"].as_array().unwrap().is_empty());

    // Tags: sorted, n limits, last starts after, Link points to the next page.
    for t in ["d", "a", "c", "b", "e"] {
        put_manifest(&s, &c, repo, t, MANIFEST, &subject).await;
    }
    let r = c
        .get(s.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["name"], repo);
    assert_eq!(
        v["tags"],
        serde_json::json!(["a", "b", "c", "d", "e", "v1"])
    );
    let r = c
        .get(s.url(&format!("/v2/{repo}/tags/list?n=2")))
        .send()
        .await
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        format!("</v2/{repo}/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let r = c.get(s.url(next)).send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["c", "d"]));
    let r = c
        .get(s.url(&format!("/v2/{repo}/tags/list?n=10&last=d")))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("link"));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["e", "v1"]));

    // Catalog with multi-component names.
    push_blob(&s, &c, "other", b"x").await;
    put_manifest(&s, &c, "zz/top/deep", "t", MANIFEST, &{
        let d = push_blob(&s, &c, "zz/top/deep", b"{}").await;
        image_manifest((&d, 2), &[], serde_json::json!({}))
    })
    .await;
    let r = c.get(s.url("/v2/_catalog")).send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["repositories"],
        serde_json::json!(["disc/img", "zz/top/deep"])
    );
    let r = c.get(s.url("/v2/_catalog?n=1")).send().await.unwrap();
    assert!(r.headers()["link"]
        .to_str()
        .unwrap()
        .contains("last=disc/img"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_management_deletes() {
    let s = TestServer::start(|_| {}).await;
    let c = client();
    let repo = "mgmt/img";
    let cfg = push_blob(&s, &c, repo, b"{}").await;
    let layer = push_blob(&s, &c, repo, b"layer data").await;
    let m = image_manifest((&cfg, 2), &[(&layer, 10)], serde_json::json!({}));
    let md = digest(&m);
    put_manifest(&s, &c, repo, "keep", MANIFEST, &m).await;
    put_manifest(&s, &c, repo, "drop", MANIFEST, &m).await;

    // Deleting a tag leaves the manifest.
    let r = c
        .delete(s.url(&format!("/v2/{repo}/manifests/drop")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = c
        .get(s.url(&format!("/v2/{repo}/manifests/drop")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(s.url(&format!("/v2/{repo}/manifests/{md}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Deleting by digest removes the manifest and its tags.
    let r = c
        .delete(s.url(&format!("/v2/{repo}/manifests/{md}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    for reference in ["keep", md.as_str()] {
        let r = c
            .get(s.url(&format!("/v2/{repo}/manifests/{reference}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = c
        .delete(s.url(&format!("/v2/{repo}/manifests/{md}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(s.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!([]));

    // Blobs.
    let r = c
        .delete(s.url(&format!("/v2/{repo}/blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = c
        .get(s.url(&format!("/v2/{repo}/blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .delete(s.url(&format!("/v2/{repo}/blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Cancelling an upload.
    let r = c
        .post(s.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .unwrap();
    let up = loc(&s, &r);
    let r = c.delete(&up).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = c.get(&up).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_can_be_disabled() {
    let s = TestServer::start(|c| c.delete_enabled = false).await;
    let c = client();
    let d = push_blob(&s, &c, "r", b"x").await;
    let r = c
        .delete(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
}
