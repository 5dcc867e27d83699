//! The built-in token service: `GET /token?service=&scope=` issues
//! HMAC-signed bearer tokens carrying the granted scopes, and requests to
//! `/v2/` are checked against them (Docker's registry token flow).
//!
//! Token format: `base64url(claims JSON) "." base64url(HMAC-SHA256(key, first part))`.
//! Only this server verifies them, so a symmetric key is enough.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::hmac::{ct_eq, hmac_sha256};
use super::{basic_credentials, bearer_token, Access, Action, Htpasswd, SERVICE};
use crate::server::error::RegistryError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    pub access: Vec<Grant>,
}

#[derive(Debug)]
pub struct TokenIssuer {
    pub issuer: String,
    pub htpasswd: Option<Htpasswd>,
    /// Lets requests without credentials get pull access.
    pub anonymous_pull: bool,
    pub ttl: Duration,
    key: Vec<u8>,
}

/// The token endpoint's JSON answer (both field names, as Docker Hub sends).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub token: String,
    pub access_token: String,
    pub expires_in: u64,
    pub issued_at: String,
}

impl TokenIssuer {
    pub fn new(
        issuer: String,
        htpasswd: Option<Htpasswd>,
        anonymous_pull: bool,
        key: Vec<u8>,
    ) -> Self {
        TokenIssuer {
            issuer,
            htpasswd,
            anonymous_pull,
            ttl: Duration::from_secs(300),
            key,
        }
    }

    /// Handles `GET /token`: authenticates the caller (basic auth, or
    /// anonymous) and grants the subset of the requested scopes it may have.
    pub fn issue(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
    ) -> Result<TokenResponse, RegistryError> {
        let user = match basic_credentials(headers) {
            Some((u, p)) => {
                let ok = self.htpasswd.as_ref().is_some_and(|h| h.verify(&u, &p));
                if !ok {
                    eprintln!("registry: token: bad credentials for user {u:?}");
                    return Err(RegistryError::Unauthorized {
                        detail: "invalid username or password".into(),
                        challenge: format!("Basic realm=\"{SERVICE}\""),
                    });
                }
                Some(u)
            }
            None => None,
        };
        let mut access = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some((kind, rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            let allowed: &[&str] = match (kind, &user) {
                ("repository", Some(_)) => &["pull", "push", "delete"],
                ("repository", None) if self.anonymous_pull => &["pull"],
                ("registry", Some(_)) if name == "catalog" => &["*"],
                _ => &[],
            };
            let granted: Vec<String> = actions
                .split(',')
                .flat_map(|a| {
                    if a == "*" && kind == "repository" {
                        allowed.to_vec()
                    } else {
                        vec![a]
                    }
                })
                .filter(|a| allowed.contains(a))
                .map(str::to_owned)
                .collect();
            if !granted.is_empty() {
                access.push(Grant {
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                    actions: granted,
                });
            }
        }
        let now = SystemTime::now();
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.unwrap_or_default(),
            aud: SERVICE.to_owned(),
            iat,
            exp: iat + self.ttl.as_secs(),
            access,
        };
        let token = self.sign(&claims);
        Ok(TokenResponse {
            access_token: token.clone(),
            token,
            expires_in: self.ttl.as_secs(),
            issued_at: humantime::format_rfc3339_seconds(now).to_string(),
        })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let body = B64.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let mac = hmac_sha256(&self.key, body.as_bytes());
        format!("{body}.{}", B64.encode(mac))
    }

    /// Verifies signature, audience and expiry.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (body, sig) = token.split_once('.')?;
        let sig = B64.decode(sig).ok()?;
        if !ct_eq(&sig, &hmac_sha256(&self.key, body.as_bytes())) {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        (claims.aud == SERVICE && claims.exp > now && claims.iss == self.issuer).then_some(claims)
    }

    pub fn check(
        &self,
        headers: &HeaderMap,
        access: &Access,
        realm: &str,
    ) -> Result<(), RegistryError> {
        let scope = match access {
            Access::Base => None,
            Access::Catalog => Some("registry:catalog:*".to_owned()),
            Access::Repo { name, action } => Some(match action {
                Action::Pull => format!("repository:{name}:pull"),
                Action::Push => format!("repository:{name}:pull,push"),
                Action::Delete => format!("repository:{name}:delete"),
            }),
        };
        let token = bearer_token(headers);
        let claims = token.and_then(|t| self.verify(t));
        let allowed = claims.as_ref().is_some_and(|c| match access {
            Access::Base => true,
            Access::Catalog => c
                .access
                .iter()
                .any(|g| g.kind == "registry" && g.name == "catalog"),
            Access::Repo { name, action } => c.access.iter().any(|g| {
                g.kind == "repository"
                    && &g.name == name
                    && g.actions.iter().any(|a| a == action.as_str())
            }),
        });
        if allowed {
            return Ok(());
        }
        let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{SERVICE}\"");
        if let Some(s) = &scope {
            challenge.push_str(&format!(",scope=\"{s}\""));
        }
        let detail = match (token, &claims) {
            (None, _) => "authentication required".to_owned(),
            (Some(_), None) => {
                challenge.push_str(",error=\"invalid_token\"");
                "invalid or expired token".to_owned()
            }
            (Some(_), Some(_)) => {
                challenge.push_str(",error=\"insufficient_scope\"");
                format!("token does not grant {}", scope.unwrap_or_default())
            }
        };
        Err(RegistryError::Unauthorized { detail, challenge })
    }
}
