//! `ADD https://...`: the download. The body is streamed to an anonymous temp
//! file while its sha256 is computed, checked against `--checksum` before
//! anything lands in the image, and then placed like a COPY of one file with
//! Docker's URL rules: mode 0600 (unless `--chmod`), mtime from Last-Modified
//! when the server sends one; when the destination is a directory the name
//! comes from Content-Disposition, else the URL path, else "index" (BuildKit's
//! order). Archives from URLs are never extracted.

use std::io::{Seek, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::{BuildError, Result};

/// What a download produced.
pub(crate) struct Downloaded {
    pub file: std::fs::File,
    pub name: Option<String>,
    pub modified: Option<SystemTime>,
    pub sha256: String,
}

/// `--checksum=sha256:<hex>` split and checked for shape.
pub(crate) fn parse_checksum(url: &str, spec: &str) -> Result<String> {
    let bad = |why: &str| BuildError::Download {
        url: url.to_string(),
        why: format!("--checksum={spec}: {why}"),
    };
    let (alg, hex) = spec
        .split_once(':')
        .ok_or_else(|| bad("expected sha256:<hex>"))?;
    if alg != "sha256" {
        return Err(bad("only sha256 is supported"));
    }
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("a sha256 is 64 hex digits"));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// `filename=` of a Content-Disposition header, if it is a plain name (no
/// '/' or '\\', not "." or "..").
fn disposition_name(v: &str) -> Option<String> {
    let rest = v.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("filename")
            .then_some(v.trim())
    })?;
    let name = rest.trim_matches('"');
    (!name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']))
        .then(|| name.to_string())
}

/// The last non-empty segment of the URL path, percent-decoding left alone
/// except for what is unsafe in a file name.
fn name_from_url(u: &reqwest::Url) -> Option<String> {
    let seg = u.path_segments()?.rev().find(|s| !s.is_empty())?;
    let name = seg.to_string();
    (name != "." && name != ".." && !name.contains('/')).then_some(name)
}

pub(crate) fn download(url: &str, timeout: Duration) -> Result<Downloaded> {
    let fail = |why: String| BuildError::Download {
        url: url.to_string(),
        why,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(format!("not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail("only http and https URLs can be added".into()));
    }
    // A private single-threaded runtime: no worker threads outlive the call,
    // so a caller may still fork afterwards.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the HTTP client: {e}")))?;
    let mut file =
        tempfile::tempfile().map_err(|e| fail(format!("cannot create a temporary file: {e}")))?;
    let (modified, disposition, hash) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(timeout)
            .build()
            .map_err(|e| fail(format!("cannot build the HTTP client: {e}")))?;
        let resp = client
            .get(parsed.clone())
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {}", chain(&e))))?;
        if !resp.status().is_success() {
            return Err(fail(format!("server answered {}", resp.status())));
        }
        let disposition = resp
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(disposition_name);
        let modified = resp
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        let mut h = Sha256::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| fail(format!("reading the body: {}", chain(&e))))?;
            h.update(&chunk);
            file.write_all(&chunk)
                .map_err(|e| fail(format!("writing the temporary file: {e}")))?;
        }
        Ok::<_, BuildError>((modified, disposition, h.finalize()))
    })?;
    file.rewind()
        .map_err(|e| fail(format!("rewinding the temporary file: {e}")))?;
    Ok(Downloaded {
        file,
        // BuildKit's order: Content-Disposition, the URL path, "index".
        name: Some(
            disposition
                .or_else(|| name_from_url(&parsed))
                .unwrap_or_else(|| "index".to_string()),
        ),
        modified,
        sha256: format!("sha256:{}", hex::encode(hash)),
    })
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A `SystemTime` as the (seconds, nanoseconds) pair futimens wants.
pub(crate) fn timespec(t: SystemTime) -> rustix::fs::Timespec {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    rustix::fs::Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as _,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_and_names() {
        let h = "a".repeat(64);
        assert_eq!(
            parse_checksum("u", &format!("sha256:{h}")).unwrap(),
            format!("sha256:{h}")
        );
        assert!(parse_checksum("u", "md5:abc").is_err());
        assert!(parse_checksum("u", "sha256:abc").is_err());
        assert!(parse_checksum("u", &"a".repeat(64)).is_err());
        let n = |u: &str| name_from_url(&reqwest::Url::parse(u).unwrap());
        assert_eq!(n("http://h/a/b.tar.gz?x=1").as_deref(), Some("b.tar.gz"));
        assert_eq!(n("http://h/a/dir/").as_deref(), Some("dir"));
        assert_eq!(n("http://h/"), None);
        assert_eq!(
            disposition_name("attachment; filename=\"pkg.tgz\"").as_deref(),
            Some("pkg.tgz")
        );
        assert_eq!(
            disposition_name("attachment; FILENAME=a.bin").as_deref(),
            Some("a.bin")
        );
        assert_eq!(
            disposition_name("attachment; filename=\"../../etc/passwd\""),
            None
        );
        assert_eq!(disposition_name("inline"), None);
        assert!(download("ftp://h/x", Duration::from_secs(1)).is_err());
    }
}
