//! Blob GET/HEAD (with byte ranges) and DELETE.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{empty, finish, hv, DOCKER_CONTENT_DIGEST};
use crate::server::error::{RegistryError, Result};
use crate::server::names::parse_digest;
use crate::server::AppState;

/// Read size for streaming blobs out: big reads keep the blocking-pool hops
/// per byte low (tokio files read on that pool).
const READ_CHUNK: usize = 512 * 1024;

pub async fn get(
    st: &AppState,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response> {
    let d = parse_digest(digest)?;
    let size = st
        .storage
        .repo_blob_size(name, &d)
        .ok_or_else(|| RegistryError::BlobUnknown(format!("blob {d} not in {name}")))?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => match parse_range(r, size) {
            Some(r) => Some(r),
            None => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .body(Body::empty())
                    .map_err(RegistryError::internal);
            }
        },
        None => None,
    };
    let (status, start, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, size),
    };
    let mut b = empty(status)
        .header(DOCKER_CONTENT_DIGEST, hv(d.as_str()))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{d}\""))
        .header(header::CONTENT_LENGTH, len);
    if range.is_some() {
        b = b.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    if head {
        return finish(b);
    }
    let mut f = tokio::fs::File::open(st.storage.blob_path(&d)).await?;
    if start > 0 {
        f.seek(std::io::SeekFrom::Start(start)).await?;
    }
    let stream = ReaderStream::with_capacity(f.take(len), READ_CHUNK);
    b.body(Body::from_stream(stream))
        .map_err(RegistryError::internal)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range only) → inclusive bounds.
fn parse_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 {
                return None;
            }
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

pub fn delete(st: &AppState, name: &str, digest: &str) -> Result<Response> {
    let d = parse_digest(digest)?;
    if !st.storage.unlink_blob(name, &d)? {
        return Err(RegistryError::BlobUnknown(format!(
            "blob {d} not in {name}"
        )));
    }
    finish(empty(StatusCode::ACCEPTED).header(header::CONTENT_LENGTH, 0))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
