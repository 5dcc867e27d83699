//! Credentials as Docker keeps them: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`) with base64 `auths` entries, or a credential helper
//! (`credHelpers` per registry, `credsStore` for all) spoken to over
//! `docker-credential-<name> get|store|erase` with JSON on stdin/stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Map, Value};

use super::error::{io, ClientError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    /// The password, or an identity (refresh) token when `username` is `<token>`.
    pub secret: String,
}

impl Credentials {
    pub fn is_identity_token(&self) -> bool {
        self.username == "<token>"
    }
}

/// Docker files docker.io credentials under its v1 index URL; keep that key so the
/// same config.json works with both tools.
pub fn config_key(registry: &str) -> String {
    if registry == "docker.io"
        || registry == "index.docker.io"
        || registry == "registry-1.docker.io"
    {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".docker")
}

fn config_file() -> PathBuf {
    config_dir().join("config.json")
}

fn read_config() -> Result<Map<String, Value>> {
    let path = config_file();
    match std::fs::read(&path) {
        Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) | Err(_) => Err(ClientError::Config {
                path: path.display().to_string(),
                why: "it is not a JSON object; fix or remove it".into(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

/// Written to a temp file with mode 0600 and renamed, so a crash never leaves a
/// truncated config and the secret is never world-readable, even briefly.
fn write_config(cfg: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = config_dir();
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let path = config_file();
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(format!("creating {}", tmp.display())))?;
    let text = serde_json::to_vec_pretty(&Value::Object(cfg.clone())).expect("JSON value");
    f.write_all(&text)
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("replacing {}", path.display())))?;
    Ok(())
}

fn helper_for(cfg: &Map<String, Value>, key: &str, registry: &str) -> Option<String> {
    let helpers = cfg.get("credHelpers").and_then(Value::as_object);
    helpers
        .and_then(|h| h.get(key).or_else(|| h.get(registry)))
        .or_else(|| cfg.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, action: &str, input: &str) -> Result<String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            ClientError::Credentials(format!(
                "cannot run {program} (configured in {}): {e}",
                config_file().display()
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading makes this fail; its exit status says why.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(io(format!("waiting for {program}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(ClientError::Credentials(format!(
            "{program} {action}: {}",
            if stdout.is_empty() {
                stderr.trim()
            } else {
                &stdout
            }
        )));
    }
    Ok(stdout)
}

/// The stored credentials for `registry`, if any.
pub fn get(registry: &str) -> Result<Option<Credentials>> {
    let cfg = read_config()?;
    let key = config_key(registry);
    if let Some(helper) = helper_for(&cfg, &key, registry) {
        return match run_helper(&helper, "get", &key) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out).map_err(|e| {
                    ClientError::Credentials(format!(
                        "docker-credential-{helper} get: bad JSON: {e}"
                    ))
                })?;
                let username = v["Username"].as_str().unwrap_or_default().to_string();
                let secret = v["Secret"].as_str().unwrap_or_default().to_string();
                Ok((!secret.is_empty()).then_some(Credentials { username, secret }))
            }
            // The protocol reports a missing entry as a failure with this message.
            Err(ClientError::Credentials(m)) if m.contains("credentials not found") => Ok(None),
            Err(e) => Err(e),
        };
    }
    let Some(auths) = cfg.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let entry = auths.get(&key).or_else(|| {
        auths.iter().find_map(|(k, v)| {
            let host = k
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            (host == registry).then_some(v)
        })
    });
    let Some(entry) = entry else { return Ok(None) };
    if let Some(tok) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username: "<token>".into(),
            secret: tok.to_string(),
        }));
    }
    let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| ClientError::Credentials(format!("auths[{key}].auth is not base64: {e}")))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| ClientError::Credentials(format!("auths[{key}].auth is not UTF-8")))?;
    let (username, secret) = decoded.split_once(':').ok_or_else(|| {
        ClientError::Credentials(format!("auths[{key}].auth is not user:password"))
    })?;
    Ok(Some(Credentials {
        username: username.to_string(),
        secret: secret.to_string(),
    }))
}

/// Saves credentials with the configured helper, or in config.json. Returns where.
pub fn store(registry: &str, creds: &Credentials) -> Result<String> {
    let mut cfg = read_config()?;
    let key = config_key(registry);
    if let Some(helper) = helper_for(&cfg, &key, registry) {
        let input = json!({"ServerURL": key, "Username": creds.username, "Secret": creds.secret});
        run_helper(&helper, "store", &input.to_string())?;
        return Ok(format!("docker-credential-{helper}"));
    }
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.secret));
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    auths
        .as_object_mut()
        .expect("object")
        .insert(key, json!({ "auth": auth }));
    write_config(&cfg)?;
    Ok(config_file().display().to_string())
}

/// Removes stored credentials; `Ok(false)` when there were none.
pub fn erase(registry: &str) -> Result<bool> {
    let mut cfg = read_config()?;
    let key = config_key(registry);
    if let Some(helper) = helper_for(&cfg, &key, registry) {
        return match run_helper(&helper, "erase", &key) {
            Ok(_) => Ok(true),
            Err(ClientError::Credentials(m)) if m.contains("credentials not found") => Ok(false),
            Err(e) => Err(e),
        };
    }
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(&key))
        .is_some();
    if removed {
        write_config(&cfg)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only lib test touching DOCKER_CONFIG, so setting it cannot race another.
    #[test]
    fn reads_docker_and_podman_style_entries() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("DOCKER_CONFIG", dir.path());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "aHViOnB3"},
                "https://quay.io": {"auth": "cTpwdw=="},
                "ghcr.io": {"identitytoken": "tok"}
            }, "HttpHeaders": {"X": "kept"}}"#,
        )
        .unwrap();
        let hub = get("docker.io").unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.secret.as_str()), ("hub", "pw"));
        assert_eq!(get("quay.io").unwrap().unwrap().username, "q");
        assert!(get("ghcr.io").unwrap().unwrap().is_identity_token());
        assert_eq!(get("example.com").unwrap(), None);
        let c = Credentials {
            username: "u".into(),
            secret: "p".into(),
        };
        store("example.com", &c).unwrap();
        assert_eq!(get("example.com").unwrap(), Some(c));
        let raw: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(
            raw["HttpHeaders"]["X"], "kept",
            "other settings survive a login"
        );
        assert!(erase("example.com").unwrap());
        assert!(!erase("example.com").unwrap());
    }
}
