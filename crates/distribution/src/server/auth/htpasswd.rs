//! htpasswd files with bcrypt entries (`user:$2y$...`), the only kind the
//! distribution registry accepts too.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("cannot read htpasswd file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("htpasswd file {0} has no usable (bcrypt) entries")]
    Empty(String),
}

#[derive(Debug)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// sha256(user:password) of credentials already verified. bcrypt costs
    /// tens of milliseconds by design; clients send basic auth on every
    /// request, so verify each pair once.
    verified: Mutex<std::collections::HashSet<[u8; 32]>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let h = Htpasswd::parse(&text);
        if h.users.is_empty() {
            return Err(HtpasswdError::Empty(path.display().to_string()));
        }
        Ok(h)
    }

    pub fn parse(text: &str) -> Htpasswd {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                eprintln!(
                    "registry: htpasswd line {}: no ':' separator, ignored",
                    i + 1
                );
                continue;
            };
            if !["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
                eprintln!(
                    "registry: htpasswd user {user:?}: only bcrypt entries are supported (htpasswd -B), entry ignored"
                );
                continue;
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        Htpasswd {
            users,
            verified: Mutex::new(Default::default()),
        }
    }

    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::digest(format!("{user}:{password}:{hash}")).into();
        if self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
        }
        ok
    }
}
