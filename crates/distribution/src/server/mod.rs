//! berth's own registry server: OCI distribution spec 1.1 / Docker Registry
//! HTTP API v2, with htpasswd basic auth, a built-in token service, TLS,
//! read-only mode and garbage collection.
//!
//! From code:
//! ```no_run
//! # async fn f() -> Result<(), berth_distribution::server::ServerError> {
//! use berth_distribution::server::{Config, Server};
//! let server = Server::bind(Config::new("/srv/registry".into()), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(berth_distribution::server::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//! From the CLI: `berth registry serve --addr 127.0.0.1:5000 --root DIR`.
//!
//! Behaviour choices where the spec leaves room:
//! - Auth is checked first, then `--read-only`, which refuses POST/PUT/PATCH/
//!   DELETE with 405 `UNSUPPORTED` (what the distribution registry answers in
//!   read-only mode; the method exists, this registry will not run it).
//!   Disabled deletes answer the same.
//! - Manifests are served with the media type they were pushed with; there is
//!   no conversion between formats, so `Accept` does not change the answer.
//! - An image manifest PUT needs its config and layers linked in the
//!   repository (`MANIFEST_BLOB_UNKNOWN` otherwise); index children and
//!   `subject` need not exist yet (the referrers conformance tests push a
//!   referrer before its subject).
//! - Blobs are visible per repository: pushing, mounting or a monolithic
//!   upload links a blob into the repository; `DELETE` of a blob unlinks it
//!   (the bytes go at the next `gc`).
//! - Empty upload sessions report `Range: 0-0`, as the distribution registry.

pub mod auth;
pub mod error;
mod log;
pub mod names;
mod routes;
pub mod storage;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::IncomingStream;
use axum::Router;
use tokio::net::TcpListener;

use auth::{Auth, Htpasswd, TokenIssuer};
pub use storage::gc::GcReport;
use storage::Storage;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("registry root {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Htpasswd(#[from] auth::htpasswd::HtpasswdError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("serving: {0}")]
    Serve(#[source] std::io::Error),
}

/// How to run a registry.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    /// bcrypt htpasswd file: basic auth, or the credentials the token
    /// service checks.
    pub htpasswd: Option<PathBuf>,
    /// Token auth: `Some(issuer name)` turns on the built-in token service.
    pub token_issuer: Option<String>,
    /// Token auth: HMAC key; random per process when `None`.
    pub token_key: Option<Vec<u8>>,
    /// Token auth: callers without credentials get pull tokens.
    pub anonymous_pull: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub read_only: bool,
    pub delete_enabled: bool,
}

impl Config {
    pub fn new(root: PathBuf) -> Config {
        Config {
            root,
            htpasswd: None,
            token_issuer: None,
            token_key: None,
            anonymous_pull: false,
            tls_cert: None,
            tls_key: None,
            read_only: false,
            delete_enabled: true,
        }
    }
}

/// Shared by every request.
#[derive(Debug)]
pub struct AppState {
    pub storage: Storage,
    pub auth: Auth,
    pub read_only: bool,
    pub delete_enabled: bool,
    pub tls: bool,
    pub local_addr: SocketAddr,
}

/// The remote address of a connection, for the access log.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, TcpListener>) -> Self {
        Peer(*s.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tls::TlsListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, tls::TlsListener>) -> Self {
        Peer(*s.remote_addr())
    }
}

/// A bound, not yet serving registry.
pub struct Server {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<AppState>,
}

impl Server {
    /// Opens the root, loads auth and TLS material and binds `addr`.
    pub async fn bind(config: Config, addr: SocketAddr) -> Result<Server, ServerError> {
        let storage = Storage::open(&config.root).map_err(|source| ServerError::Root {
            path: config.root.clone(),
            source,
        })?;
        let htpasswd = config.htpasswd.as_deref().map(Htpasswd::load).transpose()?;
        let auth = match (config.token_issuer.clone(), htpasswd) {
            (Some(issuer), h) => {
                if h.is_none() && !config.anonymous_pull {
                    return Err(ServerError::Config(
                        "token auth needs --htpasswd or anonymous pull".into(),
                    ));
                }
                let key = config.token_key.clone().unwrap_or_else(|| {
                    hex::decode(storage::random_key() + &storage::random_key()).unwrap_or_default()
                });
                Auth::Token(TokenIssuer::new(issuer, h, config.anonymous_pull, key))
            }
            (None, Some(h)) => Auth::Basic(h),
            (None, None) => Auth::None,
        };
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
            (None, None) => None,
            _ => {
                return Err(ServerError::Config(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let state = Arc::new(AppState {
            storage,
            auth,
            read_only: config.read_only,
            delete_enabled: config.delete_enabled,
            tls: tls.is_some(),
            local_addr,
        });
        Ok(Server {
            listener,
            tls,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.local_addr
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish and returns.
    pub async fn run<F>(self, shutdown: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let app = router(self.state.clone());
        let make = app.into_make_service_with_connect_info::<Peer>();
        match self.tls {
            None => {
                let listener = self.listener;
                let _ = listener.set_ttl(64);
                axum::serve(listener, make)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(ServerError::Serve)
            }
            Some(acceptor) => {
                let listener =
                    tls::TlsListener::new(self.listener, acceptor).map_err(ServerError::Serve)?;
                axum::serve(listener, make)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(ServerError::Serve)
            }
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/token", get(routes::token))
        .fallback(fallback)
        .with_state(state)
        .layer(axum::middleware::from_fn(log::access_log))
}

async fn fallback(st: axum::extract::State<Arc<AppState>>, req: Request) -> Response {
    let p = req.uri().path();
    if p == "/v2" || p.starts_with("/v2/") {
        routes::v2(st, req).await
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("registry: cannot watch SIGTERM: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("registry: shutting down, finishing in-flight requests");
}

/// Runs a registry on `addr` until SIGTERM/SIGINT (the CLI entry point).
/// Prints `listening on <addr>` to stderr once bound.
pub fn serve_blocking(config: Config, addr: SocketAddr) -> Result<(), ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Serve)?;
    rt.block_on(async move {
        let scheme = if config.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let server = Server::bind(config, addr).await?;
        eprintln!("registry: listening on {scheme}://{}", server.local_addr());
        server.run(shutdown_signal()).await
    })
}

/// `berth registry gc`: removes blobs no manifest references and uploads
/// older than a day.
pub fn gc(root: &std::path::Path) -> Result<GcReport, ServerError> {
    let wrap = |source| ServerError::Root {
        path: root.to_owned(),
        source,
    };
    let storage = Storage::open(root).map_err(wrap)?;
    storage::gc::collect(&storage, storage::gc::STALE_UPLOAD).map_err(wrap)
}
