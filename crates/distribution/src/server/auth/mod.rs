//! Authentication and authorisation of registry requests.
//!
//! Three modes: open, HTTP basic against an htpasswd file, and Docker's
//! token flow (`WWW-Authenticate: Bearer realm=.../token`) with tokens this
//! server issues and signs itself.

mod hmac;
pub mod htpasswd;
pub mod token;

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use super::error::RegistryError;
pub use htpasswd::Htpasswd;
pub use token::{Claims, Grant, TokenIssuer};

/// The `service` name in challenges and tokens.
pub const SERVICE: &str = "berth-registry";

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `GET /v2/`: any authenticated identity.
    Base,
    /// `GET /v2/_catalog`.
    Catalog,
    /// An action on a repository.
    Repo { name: String, action: Action },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug)]
pub enum Auth {
    None,
    Basic(Htpasswd),
    Token(TokenIssuer),
}

impl Auth {
    /// Checks the request's credentials for `access`. `realm` is the token
    /// endpoint URL to advertise (derived from the request's Host).
    pub fn check(
        &self,
        headers: &HeaderMap,
        access: &Access,
        realm: &str,
    ) -> Result<(), RegistryError> {
        match self {
            Auth::None => Ok(()),
            Auth::Basic(htpasswd) => {
                let challenge = format!("Basic realm=\"{SERVICE}\"");
                match basic_credentials(headers) {
                    Some((u, p)) if htpasswd.verify(&u, &p) => Ok(()),
                    Some((u, _)) => {
                        eprintln!("registry: auth: bad credentials for user {u:?}");
                        Err(RegistryError::Unauthorized {
                            detail: "invalid username or password".into(),
                            challenge,
                        })
                    }
                    None => Err(RegistryError::Unauthorized {
                        detail: "authentication required".into(),
                        challenge,
                    }),
                }
            }
            Auth::Token(issuer) => issuer.check(headers, access, realm),
        }
    }
}

/// `Authorization: Basic base64(user:pass)`.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}
