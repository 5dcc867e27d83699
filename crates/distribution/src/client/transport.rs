//! HTTP to one registry endpoint: scheme and TLS choice, the auth dance, retries with
//! backoff on network errors and 5xx, and registry error bodies turned into
//! [`ClientError`]s that say what to do.

use std::time::Duration;

use reqwest::{Response, StatusCode};

use super::auth::{self, AuthState, Challenge};
use super::config::BerthConfig;
use super::credentials::{self, Credentials};
use super::error::{ClientError, Result};

#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// `--tls-verify`: `None` is the default (verify, except plain HTTP for loopback
    /// and insecure registries), `Some(false)` accepts any certificate and falls back to
    /// HTTP, `Some(true)` insists on verified HTTPS even for loopback.
    pub tls_verify: Option<bool>,
}

const ATTEMPTS: u32 = 5;

/// Where a registry name is served: Docker Hub's API is not at `docker.io`.
pub fn endpoint_host(registry: &str) -> &str {
    if registry == "docker.io" || registry == "index.docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            // A bare IPv6 address has colons but no port brackets.
            if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') {
                h
            } else {
                host
            }
        })
    };
    name == "localhost" || name == "127.0.0.1" || name == "::1" || name.starts_with("127.")
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

pub struct Registry {
    /// The registry as named in references (`docker.io`, `127.0.0.1:5000`).
    pub name: String,
    /// `scheme://host` of the endpoint actually spoken to (a mirror, Hub's API host).
    pub base: String,
    client: reqwest::Client,
    auth: AuthState,
}

/// Directories of per-registry CAs, as Docker's `/etc/docker/certs.d/<host:port>/*.crt`:
/// berth's own, then Docker's and podman's so a host set up for them works unchanged.
/// `BERTH_CERTS_D` replaces the list (tests, unusual layouts).
fn certs_d_roots() -> Vec<std::path::PathBuf> {
    match std::env::var_os("BERTH_CERTS_D") {
        Some(d) => vec![d.into()],
        None => [
            "/etc/berth/certs.d",
            "/etc/docker/certs.d",
            "/etc/containers/certs.d",
        ]
        .iter()
        .map(Into::into)
        .collect(),
    }
}

fn pem_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let pem =
        std::fs::read(path).map_err(super::error::io(format!("reading {}", path.display())))?;
    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::Config {
        path: path.display().to_string(),
        why: format!("not a PEM certificate bundle: {}", error_chain(&e)),
    })
}

/// Extra CAs for one registry: every `*.crt` in `<certs.d>/<host>/`.
fn extra_roots(host: &str) -> Result<Vec<reqwest::Certificate>> {
    let mut out = Vec::new();
    for root in certs_d_roots() {
        let Ok(entries) = std::fs::read_dir(root.join(host)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "crt") {
                out.extend(pem_file(&path)?);
            }
        }
    }
    Ok(out)
}

/// The system's CA bundle (what the distribution's ca-certificates manages, so a CA
/// an administrator added with `update-ca-certificates` is trusted), on top of the
/// bundled web PKI roots. `SSL_CERT_FILE` names another bundle, as for OpenSSL.
fn system_roots() -> Result<Vec<reqwest::Certificate>> {
    let candidates: Vec<std::path::PathBuf> = match std::env::var_os("SSL_CERT_FILE") {
        Some(f) => vec![f.into()],
        None => [
            "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
            "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
            "/etc/ssl/ca-bundle.pem",             // openSUSE
        ]
        .iter()
        .map(Into::into)
        .collect(),
    };
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => pem_file(p).map_err(|e| ClientError::Config {
            path: p.display().to_string(),
            why: format!("{e}; fix the file or point SSL_CERT_FILE at a valid bundle"),
        }),
        None => Ok(Vec::new()),
    }
}

fn build_client(verify: bool, host: &str) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(!verify)
        .connect_timeout(Duration::from_secs(15))
        .pool_idle_timeout(Duration::from_secs(30));
    if verify {
        for c in system_roots()?.into_iter().chain(extra_roots(host)?) {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| ClientError::Config {
        path: "TLS".into(),
        why: error_chain(&e),
    })
}

impl Registry {
    /// Connects to `host` on behalf of registry `name` (they differ for mirrors), picks
    /// the scheme, and learns how the registry wants to be authenticated (`GET /v2/`).
    pub async fn connect(
        name: &str,
        host: &str,
        opts: &TransportOptions,
        cfg: &BerthConfig,
        creds: Option<Credentials>,
    ) -> Result<Registry> {
        let settings = cfg.registry(host);
        let host = endpoint_host(host);
        // Like Docker, loopback registries are implicitly insecure: plain HTTP first
        // (what a local test registry speaks), then HTTPS without verification.
        let loopback = is_loopback(host) && opts.tls_verify != Some(true);
        let insecure = settings.insecure
            || cfg.registry(name).insecure
            || opts.tls_verify == Some(false)
            || loopback;
        let schemes: &[&str] = if loopback {
            &["http", "https"]
        } else if insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let client = build_client(!insecure, host)?;
        let mut last = None;
        for scheme in schemes {
            let reg = Registry {
                name: name.to_string(),
                base: format!("{scheme}://{host}"),
                client: client.clone(),
                auth: AuthState::new(creds.clone()),
            };
            match reg.ping().await {
                Ok(()) => return Ok(reg),
                // 400: HTTP spoken to an HTTPS server ("Client sent an HTTP request...").
                Err(e @ (ClientError::Network { .. } | ClientError::Http { status: 400, .. })) => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one scheme"))
    }

    async fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let mut attempt = 0;
        let resp = loop {
            match self.client.get(&url).send().await {
                Ok(r) if r.status().is_server_error() && attempt + 1 < ATTEMPTS => {}
                Ok(r) => break r,
                Err(e) if e.is_connect() || attempt + 1 >= ATTEMPTS => {
                    return Err(ClientError::Network {
                        registry: self.name.clone(),
                        what: format!("GET {url}"),
                        why: with_tls_hint(error_chain(&e), &self.base),
                    })
                }
                Err(_) => {}
            }
            backoff(attempt).await;
            attempt += 1;
        };
        match resp.status() {
            StatusCode::UNAUTHORIZED => {
                let challenge = resp
                    .headers()
                    .get_all("www-authenticate")
                    .iter()
                    .filter_map(|h| h.to_str().ok())
                    .filter_map(auth::parse_challenge)
                    // Prefer Bearer: it is what scopes work with.
                    .max_by_key(|c| matches!(c, Challenge::Bearer { .. }));
                *self.auth.challenge.lock().expect("lock") = challenge;
                Ok(())
            }
            s if s.is_success() => Ok(()),
            // Some registries 404 /v2/ on mirrors; the real requests will tell.
            StatusCode::NOT_FOUND => Ok(()),
            s => Err(ClientError::Http {
                registry: self.name.clone(),
                what: format!("GET {url}"),
                status: s.as_u16(),
                detail: "; this does not look like a registry (v2 API)".into(),
            }),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    /// An upload `Location` may be absolute or relative to the endpoint.
    pub fn resolve_location(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            format!("{}/{loc}", self.base)
        }
    }

    /// Sends the request `build` makes, authenticated for `scope`, retrying network
    /// errors, 429 and 5xx with exponential backoff, and re-authenticating once on 401
    /// (the registry may want a different scope or the token expired). Other statuses
    /// are the caller's to judge.
    pub async fn send(
        &self,
        what: &str,
        scope: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response> {
        let mut reauthed = false;
        let mut attempt = 0;
        loop {
            let mut rb = build(&self.client);
            if let Some(h) = self.auth.header(&self.client, &self.name, scope).await? {
                rb = rb.header("Authorization", h);
            }
            match rb.send().await {
                Ok(r) if r.status() == StatusCode::UNAUTHORIZED && !reauthed => {
                    reauthed = true;
                    let fresh = r
                        .headers()
                        .get_all("www-authenticate")
                        .iter()
                        .filter_map(|h| h.to_str().ok())
                        .filter_map(auth::parse_challenge)
                        .max_by_key(|c| matches!(c, Challenge::Bearer { .. }));
                    if fresh.is_none() {
                        return Ok(r);
                    }
                    *self.auth.challenge.lock().expect("lock") = fresh;
                    self.auth.drop_token(scope);
                }
                Ok(r)
                    if (r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS)
                        && attempt + 1 < ATTEMPTS =>
                {
                    backoff(attempt).await;
                    attempt += 1;
                }
                Ok(r) => return Ok(r),
                Err(e) if attempt + 1 < ATTEMPTS && !e.is_builder() => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(ClientError::Network {
                        registry: self.name.clone(),
                        what: what.to_string(),
                        why: error_chain(&e),
                    })
                }
            }
        }
    }

    /// Sends a request whose body can go only once (a stream produced while it is
    /// sent): authenticated for `scope`, but neither retried nor re-authenticated. The
    /// caller makes it after another request for the same scope, so a token is cached.
    pub async fn send_once(
        &self,
        what: &str,
        scope: &str,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response> {
        let mut rb = build(&self.client);
        if let Some(h) = self.auth.header(&self.client, &self.name, scope).await? {
            rb = rb.header("Authorization", h);
        }
        rb.send().await.map_err(|e| ClientError::Network {
            registry: self.name.clone(),
            what: what.to_string(),
            why: error_chain(&e),
        })
    }

    /// Turns an unexpected response into an error naming the repository and what the
    /// registry said (its `errors[].message`).
    pub async fn error(&self, resp: Response, repository: &str, what: &str) -> ClientError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let msgs: Vec<String> = v["errors"]
                    .as_array()?
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e["code"].as_str().unwrap_or("ERROR"),
                            e["message"].as_str().unwrap_or_default()
                        )
                    })
                    .collect();
                Some(msgs.join("; "))
            })
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| body.trim().chars().take(200).collect());
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        };
        match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized {
                registry: self.name.clone(),
                detail: format!(
                    " (repository {repository} does not exist or needs credentials){detail}"
                ),
            },
            StatusCode::FORBIDDEN => ClientError::Unauthorized {
                registry: self.name.clone(),
                detail: format!(
                    " (access to {repository} denied; log in as a user allowed to {what}){detail}"
                ),
            },
            StatusCode::NOT_FOUND => ClientError::NotFound {
                registry: self.name.clone(),
                repository: repository.to_string(),
                what: what.to_string(),
                detail,
            },
            s => ClientError::Http {
                registry: self.name.clone(),
                what: format!("{repository}: {what}"),
                status: s.as_u16(),
                detail,
            },
        }
    }
}

/// An unknown issuer is the usual private-registry failure: say where its CA goes.
fn with_tls_hint(why: String, base: &str) -> String {
    if why.contains("UnknownIssuer") || why.contains("unknown issuer") {
        let host = base.split_once("://").map_or(base, |(_, h)| h);
        format!(
            "{why} (the registry's certificate is not signed by a trusted CA: add the CA to /etc/berth/certs.d/{host}/ca.crt or to the system bundle, or use --tls-verify=false)"
        )
    } else {
        why
    }
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(super::error::io("starting the async runtime"))
}

/// `login`: checks the credentials against the registry, then stores them. Returns
/// where they were stored.
pub fn login(registry: &str, creds: &Credentials, opts: &TransportOptions) -> Result<String> {
    let cfg = BerthConfig::load()?;
    let rt = runtime()?;
    rt.block_on(async {
        let reg = Registry::connect(registry, registry, opts, &cfg, Some(creds.clone())).await?;
        let challenge = reg.auth.challenge.lock().expect("lock").clone();
        match challenge {
            None => {}
            Some(Challenge::Basic) => {
                let resp = reg
                    .client
                    .get(reg.url(""))
                    .header("Authorization", auth::basic_header(creds))
                    .send()
                    .await
                    .map_err(|e| ClientError::Network {
                        registry: registry.to_string(),
                        what: "GET /v2/".into(),
                        why: error_chain(&e),
                    })?;
                if !resp.status().is_success() {
                    return Err(ClientError::LoginFailed {
                        registry: registry.to_string(),
                        detail: format!("GET /v2/ answered {}", resp.status()),
                    });
                }
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                auth::fetch_token(
                    &reg.client,
                    registry,
                    &realm,
                    service.as_deref(),
                    None,
                    Some(creds),
                )
                .await?;
            }
        }
        Ok(())
    })?;
    credentials::store(registry, creds)
}

/// `logout`: `Ok(false)` when nothing was stored for the registry.
pub fn logout(registry: &str) -> Result<bool> {
    credentials::erase(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("registry-1.docker.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
