//! Manifests by tag or digest: GET/HEAD/PUT/DELETE. Bytes and media type are
//! stored exactly as pushed, so digests never change on the way back out.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;
use berth_store::Digest;

use super::{empty, finish, hv, DOCKER_CONTENT_DIGEST, OCI_SUBJECT};
use crate::server::error::{RegistryError, Result};
use crate::server::names::Reference;
use crate::server::storage::ManifestLink;
use crate::server::AppState;

/// The spec's suggested manifest size limit.
const MAX_MANIFEST: usize = 4 << 20;

fn resolve(st: &AppState, name: &str, reference: &str) -> Result<ManifestLink> {
    let unknown = || RegistryError::ManifestUnknown(format!("manifest {reference} not in {name}"));
    let d = match Reference::parse(reference)? {
        Reference::Digest(d) => d,
        Reference::Tag(t) => st.storage.resolve_tag(name, &t).ok_or_else(unknown)?,
    };
    st.storage.manifest(name, &d).ok_or_else(unknown)
}

pub fn get(st: &AppState, name: &str, reference: &str, head: bool) -> Result<Response> {
    let link = resolve(st, name, reference)?;
    let b = empty(StatusCode::OK)
        .header(header::CONTENT_TYPE, hv(&link.media_type))
        .header(DOCKER_CONTENT_DIGEST, hv(link.digest.as_str()))
        .header(header::ETAG, format!("\"{}\"", link.digest))
        .header(header::CONTENT_LENGTH, link.size);
    if head {
        return finish(b);
    }
    let bytes = std::fs::read(st.storage.blob_path(&link.digest))?;
    b.body(Body::from(bytes)).map_err(RegistryError::internal)
}

pub async fn put(st: &AppState, name: &str, reference: &str, req: Request) -> Result<Response> {
    let reference = Reference::parse(reference)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_owned());
    let bytes = axum::body::to_bytes(req.into_body(), MAX_MANIFEST)
        .await
        .map_err(|e| RegistryError::ManifestInvalid(format!("manifest body: {e}")))?;
    let digest = Digest::of_bytes(&bytes);
    if let Reference::Digest(want) = &reference {
        if want != &digest {
            return Err(RegistryError::DigestInvalid(format!(
                "manifest hashes to {digest}, not {want}"
            )));
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::ManifestInvalid(format!("not JSON: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(RegistryError::ManifestInvalid(
            "manifest is not a JSON object".into(),
        ));
    };
    let media_type = content_type
        .filter(|c| !c.is_empty())
        .or_else(|| {
            obj.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .ok_or_else(|| RegistryError::ManifestInvalid("no Content-Type and no mediaType".into()))?;
    // An image manifest may only point at blobs the repository has (the spec's
    // MANIFEST_BLOB_UNKNOWN); index children and subjects may be pushed later.
    let mut required = Vec::new();
    if let Some(c) = obj.get("config") {
        required.push(c);
    }
    if let Some(layers) = obj.get("layers").and_then(|l| l.as_array()) {
        required.extend(layers.iter());
    }
    for desc in required {
        let d = desc
            .get("digest")
            .and_then(|d| d.as_str())
            .ok_or_else(|| RegistryError::ManifestInvalid("descriptor without digest".into()))
            .and_then(|s| {
                Digest::parse(s).map_err(|e| RegistryError::ManifestInvalid(e.to_string()))
            })?;
        if st.storage.repo_blob_size(name, &d).is_none() {
            return Err(RegistryError::ManifestBlobUnknown(format!(
                "blob {d} not in {name}"
            )));
        }
    }
    let subject = obj
        .get("subject")
        .and_then(|s| s.get("digest"))
        .and_then(|d| d.as_str())
        .map(|s| Digest::parse(s).map_err(|e| RegistryError::ManifestInvalid(e.to_string())))
        .transpose()?;
    st.storage.put_blob_bytes(&digest, &bytes)?;
    let link = ManifestLink {
        digest: digest.clone(),
        media_type,
        size: bytes.len() as u64,
    };
    let tag = match &reference {
        Reference::Tag(t) => Some(t.as_str()),
        Reference::Digest(_) => None,
    };
    st.storage
        .put_manifest(name, &link, tag, subject.as_ref())?;
    let mut b = empty(StatusCode::CREATED)
        .header(
            header::LOCATION,
            hv(&format!("/v2/{name}/manifests/{digest}")),
        )
        .header(DOCKER_CONTENT_DIGEST, hv(digest.as_str()))
        .header(header::CONTENT_LENGTH, 0);
    if let Some(s) = &subject {
        b = b.header(OCI_SUBJECT, hv(s.as_str()));
    }
    finish(b)
}

pub fn delete(st: &AppState, name: &str, reference: &str) -> Result<Response> {
    let found = match Reference::parse(reference)? {
        Reference::Tag(t) => st.storage.delete_tag(name, &t)?,
        Reference::Digest(d) => st.storage.delete_manifest(name, &d)?,
    };
    if !found {
        return Err(RegistryError::ManifestUnknown(format!(
            "manifest {reference} not in {name}"
        )));
    }
    finish(empty(StatusCode::ACCEPTED).header(header::CONTENT_LENGTH, 0))
}
