//! Content discovery: tag list, catalog (both paginated with `n`/`last` and a
//! `Link` header) and the referrers API.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{hv, param, OCI_FILTERS_APPLIED};
use crate::server::error::{RegistryError, Result};
use crate::server::names::parse_digest;
use crate::server::AppState;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Applies `last` and `n`; returns the page and whether more follow.
fn page(all: Vec<String>, q: &[(String, String)]) -> Result<(Vec<String>, bool)> {
    let mut items: Vec<String> = match param(q, "last") {
        Some(last) => all.into_iter().filter(|t| t.as_str() > last).collect(),
        None => all,
    };
    let n = match param(q, "n") {
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| RegistryError::Unsupported(format!("invalid n={n}")))?,
        ),
        None => None,
    };
    let more = n.is_some_and(|n| items.len() > n);
    if let Some(n) = n {
        items.truncate(n);
    }
    Ok((items, more))
}

fn json_page(body: serde_json::Value, next: Option<String>) -> Response {
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(next) = next {
        resp.headers_mut().insert(header::LINK, hv(&next));
    }
    resp
}

pub fn tags(st: &AppState, name: &str, q: &[(String, String)]) -> Result<Response> {
    let all = st
        .storage
        .tags(name)
        .ok_or_else(|| RegistryError::NameUnknown(format!("repository {name} not known")))?;
    let (tags, more) = page(all, q)?;
    let next = match (more, tags.last()) {
        (true, Some(last)) => Some(format!(
            "</v2/{name}/tags/list?n={}&last={last}>; rel=\"next\"",
            tags.len()
        )),
        _ => None,
    };
    Ok(json_page(
        serde_json::json!({"name": name, "tags": tags}),
        next,
    ))
}

pub fn catalog(st: &AppState, q: &[(String, String)]) -> Result<Response> {
    let (repos, more) = page(st.storage.catalog(), q)?;
    let next = match (more, repos.last()) {
        (true, Some(last)) => Some(format!(
            "</v2/_catalog?n={}&last={last}>; rel=\"next\"",
            repos.len()
        )),
        _ => None,
    };
    Ok(json_page(serde_json::json!({"repositories": repos}), next))
}

pub fn referrers(
    st: &AppState,
    name: &str,
    digest: &str,
    q: &[(String, String)],
) -> Result<Response> {
    let subject = parse_digest(digest)?;
    let filter = param(q, "artifactType");
    let mut manifests = Vec::new();
    for d in st.storage.referrers(name, &subject) {
        let Some(link) = st.storage.manifest(name, &d) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(st.storage.blob_path(&d)) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        // The spec: artifactType, else the config's media type.
        let artifact_type = v.get("artifactType").and_then(|a| a.as_str()).or_else(|| {
            v.get("config")
                .and_then(|c| c.get("mediaType"))
                .and_then(|m| m.as_str())
        });
        if filter.is_some() && artifact_type != filter {
            continue;
        }
        let mut desc = serde_json::json!({
            "mediaType": link.media_type,
            "digest": d.as_str(),
            "size": link.size,
        });
        if let Some(a) = artifact_type {
            desc["artifactType"] = a.into();
        }
        if let Some(ann) = v.get("annotations") {
            desc["annotations"] = ann.clone();
        }
        manifests.push(desc);
    }
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": manifests,
    });
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, INDEX)],
        body.to_string(),
    )
        .into_response();
    if filter.is_some() {
        resp.headers_mut()
            .insert(OCI_FILTERS_APPLIED, hv("artifactType"));
    }
    Ok(resp)
}
