//! Registry authentication: the `WWW-Authenticate` challenge a registry answers 401
//! with, Basic credentials, and the Bearer token flow (Docker's token spec: GET the
//! realm with service and scope, optionally with Basic credentials; or POST an identity
//! token as an OAuth2 refresh token). Tokens are cached per scope for the run.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;

use super::credentials::Credentials;
use super::error::{ClientError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key="value", key=value` with quoted values that may hold commas (scopes do).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

pub fn basic_header(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Per-registry auth state for one run.
#[derive(Default)]
pub struct AuthState {
    pub credentials: Option<Credentials>,
    pub challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, String>>,
}

impl AuthState {
    pub fn new(credentials: Option<Credentials>) -> Self {
        AuthState {
            credentials,
            ..Default::default()
        }
    }

    /// The Authorization header for a request needing `scope`, fetching a token when
    /// the registry wants one and none is cached.
    pub async fn header(
        &self,
        client: &reqwest::Client,
        registry: &str,
        scope: &str,
    ) -> Result<Option<String>> {
        let challenge = self.challenge.lock().expect("lock").clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials.as_ref().map(basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                if let Some(t) = self.tokens.lock().expect("lock").get(scope) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = fetch_token(
                    client,
                    registry,
                    &realm,
                    service.as_deref(),
                    Some(scope).filter(|s| !s.is_empty()),
                    self.credentials.as_ref(),
                )
                .await?;
                self.tokens
                    .lock()
                    .expect("lock")
                    .insert(scope.to_string(), token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Forgets a token the registry refused (expired mid-run).
    pub fn drop_token(&self, scope: &str) {
        self.tokens.lock().expect("lock").remove(scope);
    }
}

pub async fn fetch_token(
    client: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
    creds: Option<&Credentials>,
) -> Result<String> {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = service {
        query.push(("service", s));
    }
    // Several scopes (a cross-repository mount) travel as repeated `scope` params.
    for s in scope.into_iter().flat_map(|s| s.split(' ')) {
        query.push(("scope", s));
    }
    let req = match creds {
        Some(c) if c.is_identity_token() => {
            let mut form = query.clone();
            form.extend([
                ("grant_type", "refresh_token"),
                ("refresh_token", c.secret.as_str()),
                ("client_id", "berth"),
            ]);
            client.post(realm).form(&form)
        }
        Some(c) => client
            .get(realm)
            .query(&query)
            .header("Authorization", basic_header(c)),
        None => client.get(realm).query(&query),
    };
    let resp = req.send().await.map_err(|e| ClientError::Network {
        registry: registry.to_string(),
        what: format!("requesting a token from {realm}"),
        why: super::transport::error_chain(&e),
    })?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let body = resp.text().await.unwrap_or_default();
        return Err(if creds.is_some() {
            ClientError::LoginFailed {
                registry: registry.to_string(),
                detail: format!("token server {realm} said {status}: {}", body.trim()),
            }
        } else {
            ClientError::Unauthorized {
                registry: registry.to_string(),
                detail: String::new(),
            }
        });
    }
    if !status.is_success() {
        return Err(ClientError::Http {
            registry: registry.to_string(),
            what: format!("token request to {realm}"),
            status: status.as_u16(),
            detail: String::new(),
        });
    }
    let v: serde_json::Value = resp.json().await.map_err(|e| ClientError::Http {
        registry: registry.to_string(),
        what: format!("token response from {realm}"),
        status: status.as_u16(),
        detail: format!(": not JSON: {e}"),
    })?;
    v["token"]
        .as_str()
        .or_else(|| v["access_token"].as_str())
        .map(str::to_string)
        .ok_or_else(|| ClientError::Http {
            registry: registry.to_string(),
            what: format!("token response from {realm}"),
            status: status.as_u16(),
            detail: ": it holds no token".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_commas_in_scope() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
