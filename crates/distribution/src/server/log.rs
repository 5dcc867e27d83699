//! Access log: one line per request on stderr,
//! `<remote> <method> <path> <status> <bytes> <ms>`.

use std::io::Write;
use std::time::Instant;

use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::Peer;

pub async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let remote = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0 .0.to_string())
        .unwrap_or_else(|| "-".into());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    // Streamed bodies are logged with their declared length: the line is
    // written when the response starts, not when the last byte leaves.
    let bytes = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| resp.body().size_hint().exact().map(|n| n.to_string()))
        .unwrap_or_else(|| "-".into());
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let line = format!(
        "{remote} {method} {path} {} {bytes} {ms:.1}\n",
        resp.status().as_u16()
    );
    // One write per line so concurrent requests do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    resp
}
