//! `/v2/...` routing. Repository names contain slashes, so the path is parsed
//! here instead of by the router: the last `/manifests/`, `/blobs/`, ...
//! separates the name from the rest (references and digests have no `/`).

mod blobs;
mod listing;
mod manifests;
mod token;
mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::{Access, Action};
use super::error::{RegistryError, Result};
use super::names::validate_name;
use super::AppState;

pub use token::token;

pub const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
pub const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
pub const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
pub const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");
pub const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");

#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    UploadStart(&'a str),
    Upload(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn parse<'a>(path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix("/v2")?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(i) = rest.rfind("/blobs/uploads") {
        let name = &rest[..i];
        let tail = &rest[i + "/blobs/uploads".len()..];
        return match tail {
            "" | "/" => Some(Route::UploadStart(name)),
            t => t.strip_prefix('/').map(|uuid| Route::Upload(name, uuid)),
        };
    }
    for (sep, mk) in [
        (
            "/manifests/",
            Route::Manifest as fn(&'a str, &'a str) -> Route<'a>,
        ),
        ("/referrers/", Route::Referrers),
        ("/blobs/", Route::Blob),
    ] {
        if let Some(i) = rest.rfind(sep) {
            let tail = &rest[i + sep.len()..];
            if tail.is_empty() || tail.contains('/') {
                return None;
            }
            return Some(mk(&rest[..i], tail));
        }
    }
    None
}

/// Everything under `/v2/`.
pub async fn v2(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let mut resp = match handle(&st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}

async fn handle(st: &AppState, req: Request) -> Result<Response> {
    let path = req.uri().path().to_owned();
    let Some(route) = parse(&path) else {
        return Err(RegistryError::NameInvalid(format!(
            "no such endpoint {path}"
        )));
    };
    let method = req.method().clone();
    let write = !matches!(method, Method::GET | Method::HEAD);
    let access = match &route {
        Route::Base => Access::Base,
        Route::Catalog => Access::Catalog,
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => {
            validate_name(n)?;
            let action = match method {
                Method::GET | Method::HEAD => Action::Pull,
                Method::DELETE => Action::Delete,
                _ => Action::Push,
            };
            Access::Repo {
                name: (*n).to_owned(),
                action,
            }
        }
    };
    let realm = realm(st, req.headers());
    st.auth.check(req.headers(), &access, &realm)?;
    if write && st.read_only {
        // 405 UNSUPPORTED, as the distribution registry answers in read-only
        // (maintenance) mode: the method exists but this registry refuses it.
        return Err(RegistryError::Unsupported(
            "the registry is in read-only mode".into(),
        ));
    }
    if method == Method::DELETE && !st.delete_enabled {
        return Err(RegistryError::Unsupported("deletes are disabled".into()));
    }
    let ctx = Ctx { st, realm: &realm };
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(Json::ok(serde_json::json!({}))),
        (Route::Catalog, Method::GET) => listing::catalog(st, &query(&req)),
        (Route::Tags(n), Method::GET) => listing::tags(st, n, &query(&req)),
        (Route::Referrers(n, d), Method::GET) => listing::referrers(st, n, d, &query(&req)),
        (Route::Manifest(n, r), m @ (Method::GET | Method::HEAD)) => {
            manifests::get(st, n, r, m == Method::HEAD)
        }
        (Route::Manifest(n, r), Method::PUT) => manifests::put(st, n, r, req).await,
        (Route::Manifest(n, r), Method::DELETE) => manifests::delete(st, n, r),
        (Route::Blob(n, d), m @ (Method::GET | Method::HEAD)) => {
            blobs::get(st, n, d, req.headers(), m == Method::HEAD).await
        }
        (Route::Blob(n, d), Method::DELETE) => blobs::delete(st, n, d),
        (Route::UploadStart(n), Method::POST) => uploads::post(&ctx, n, req).await,
        (Route::Upload(n, u), Method::PATCH) => uploads::patch(st, n, u, req).await,
        (Route::Upload(n, u), Method::PUT) => uploads::put(st, n, u, req).await,
        (Route::Upload(n, u), Method::GET) => uploads::status(st, n, u).await,
        (Route::Upload(n, u), Method::DELETE) => uploads::cancel(st, n, u).await,
        (_, m) => Err(RegistryError::Unsupported(format!(
            "{m} {path} is not supported"
        ))),
    }
}

/// What the upload handlers need beyond the state: cross-mount re-checks
/// pull access on the source repository.
pub struct Ctx<'a> {
    pub st: &'a AppState,
    pub realm: &'a str,
}

/// The token endpoint URL, built from the Host the client used so it works
/// behind port 0 and any name the client chose.
fn realm(st: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| st.local_addr.to_string());
    let scheme = if st.tls { "https" } else { "http" };
    format!("{scheme}://{host}/token")
}

fn query(req: &Request) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// JSON responses with an explicit Content-Type.
struct Json;

impl Json {
    fn ok(v: serde_json::Value) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response()
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn empty(status: StatusCode) -> axum::http::response::Builder {
    Response::builder().status(status)
}

fn finish(b: axum::http::response::Builder) -> Result<Response> {
    b.body(Body::empty()).map_err(RegistryError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(parse("/v2/"), Some(Route::Base));
        assert_eq!(parse("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            parse("/v2/a/b/manifests/v1"),
            Some(Route::Manifest("a/b", "v1"))
        );
        assert_eq!(parse("/v2/a/blobs/uploads/"), Some(Route::UploadStart("a")));
        assert_eq!(
            parse("/v2/a/blobs/uploads/xyz"),
            Some(Route::Upload("a", "xyz"))
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256:00"),
            Some(Route::Blob("a", "sha256:00"))
        );
        assert_eq!(
            parse("/v2/blobs/manifests/x"),
            Some(Route::Manifest("blobs", "x"))
        );
        assert_eq!(
            parse("/v2/a/referrers/sha256:1"),
            Some(Route::Referrers("a", "sha256:1"))
        );
        assert_eq!(parse("/v3/"), None);
    }
}
