//! Blob uploads: POST (start, monolithic, cross-repository mount), PATCH
//! chunks, PUT to finish, GET status, DELETE to cancel.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;

use super::{empty, finish, hv, param, query, Ctx, DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID};
use crate::server::auth::{Access, Action};
use crate::server::error::{RegistryError, Result};
use crate::server::names::{parse_digest, validate_name};
use crate::server::AppState;

fn upload_location(name: &str, uuid: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{uuid}")
}

/// The `Range` header for an upload holding `size` bytes (inclusive end;
/// `0-0` for an empty upload, as the distribution registry sends).
fn range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn accepted(name: &str, uuid: &str, size: u64, status: StatusCode) -> Result<Response> {
    finish(
        empty(status)
            .header(header::LOCATION, hv(&upload_location(name, uuid)))
            .header(header::RANGE, range(size))
            .header(DOCKER_UPLOAD_UUID, hv(uuid))
            .header(header::CONTENT_LENGTH, 0),
    )
}

fn created(name: &str, d: &berth_store::Digest) -> Result<Response> {
    finish(
        empty(StatusCode::CREATED)
            .header(header::LOCATION, hv(&format!("/v2/{name}/blobs/{d}")))
            .header(DOCKER_CONTENT_DIGEST, hv(d.as_str()))
            .header(header::CONTENT_LENGTH, 0),
    )
}

pub async fn post(ctx: &Ctx<'_>, name: &str, req: Request) -> Result<Response> {
    let st = ctx.st;
    let q = query(&req);
    if let Some(mount) = param(&q, "mount") {
        let d = parse_digest(mount)?;
        // Mount only from a repository the caller may read; otherwise fall
        // through to a plain upload, as the spec allows.
        let source = param(&q, "from").filter(|from| {
            validate_name(from).is_ok()
                && st
                    .auth
                    .check(
                        req.headers(),
                        &Access::Repo {
                            name: (*from).to_owned(),
                            action: Action::Pull,
                        },
                        ctx.realm,
                    )
                    .is_ok()
        });
        if let Some(from) = source {
            if st.storage.repo_blob_size(from, &d).is_some() {
                st.storage.link_blob(name, &d)?;
                return created(name, &d);
            }
        }
    } else if let Some(digest) = param(&q, "digest") {
        let d = parse_digest(digest)?;
        let body = req.into_body().into_data_stream();
        st.storage
            .uploads
            .put_whole(st.storage.root(), name, &d, body)
            .await?;
        st.storage.link_blob(name, &d)?;
        return created(name, &d);
    }
    let uuid = st.storage.uploads.start(name).await?;
    accepted(name, &uuid, 0, StatusCode::ACCEPTED)
}

/// `Content-Range: <start>-<end>` (some clients prefix `bytes `).
fn content_range(req: &Request) -> Result<Option<(u64, u64)>> {
    let Some(v) = req.headers().get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or_default().trim();
    let s = s.strip_prefix("bytes ").unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    let parsed = s
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some(r) => Ok(Some(r)),
        None => Err(RegistryError::RangeInvalid {
            detail: format!("malformed Content-Range {s:?}"),
            size: 0,
        }),
    }
}

pub async fn patch(st: &AppState, name: &str, uuid: &str, req: Request) -> Result<Response> {
    let range = match content_range(&req) {
        Ok(r) => r,
        Err(RegistryError::RangeInvalid { detail, .. }) => {
            let size = st.storage.uploads.info(name, uuid).await?.size;
            return Err(RegistryError::RangeInvalid { detail, size });
        }
        Err(e) => return Err(e),
    };
    let body = req.into_body().into_data_stream();
    let info = st.storage.uploads.append(name, uuid, range, body).await?;
    accepted(name, uuid, info.size, StatusCode::ACCEPTED)
}

pub async fn put(st: &AppState, name: &str, uuid: &str, req: Request) -> Result<Response> {
    let q = query(&req);
    let Some(digest) = param(&q, "digest") else {
        return Err(RegistryError::DigestInvalid(
            "PUT to finish an upload needs ?digest=".into(),
        ));
    };
    let d = parse_digest(digest)?;
    let body = req.into_body().into_data_stream();
    st.storage
        .uploads
        .finish(st.storage.root(), name, uuid, &d, body)
        .await?;
    st.storage.link_blob(name, &d)?;
    created(name, &d)
}

pub async fn status(st: &AppState, name: &str, uuid: &str) -> Result<Response> {
    let info = st.storage.uploads.info(name, uuid).await?;
    accepted(name, uuid, info.size, StatusCode::NO_CONTENT)
}

pub async fn cancel(st: &AppState, name: &str, uuid: &str) -> Result<Response> {
    st.storage.uploads.cancel(name, uuid).await?;
    finish(empty(StatusCode::NO_CONTENT))
}
