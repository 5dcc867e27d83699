//! `--init`: a small init process as the container's pid 1, reaping zombies and
//! forwarding signals to the command. As Podman and Docker do, berth uses an init
//! binary from the host (catatonit or tini, both statically linked), bind-mounted
//! read-only into the container; `BERTH_INIT_PATH` names another one.

use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// Where the init appears inside the container.
pub const INIT_IN_CONTAINER: &str = "/run/berth-init";

const CANDIDATES: &[&str] = &[
    "/usr/libexec/podman/catatonit",
    "/usr/bin/catatonit",
    "/usr/libexec/catatonit/catatonit",
    "/usr/bin/tini-static",
    "/usr/bin/tini",
    "/usr/bin/docker-init",
];

pub fn find() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_INIT_PATH") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(EngineError::invalid(
            format!("BERTH_INIT_PATH {}", p.display()),
            "no such file",
        ));
    }
    CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()))
        .ok_or_else(|| {
            EngineError::invalid(
                "--init",
                "no init binary found on this host: install catatonit or tini-static \
                 (apt-get install catatonit), or set BERTH_INIT_PATH",
            )
        })
}

/// The mount for the init binary and the argv that runs the command under it.
pub fn wrap(host_init: &Path, argv: Vec<String>) -> (serde_json::Value, Vec<String>) {
    let mount = serde_json::json!({
        "destination": INIT_IN_CONTAINER,
        "type": "bind",
        "source": host_init,
        "options": ["bind", "ro", "nosuid", "nodev"],
    });
    let mut args = vec![INIT_IN_CONTAINER.to_string(), "--".to_string()];
    args.extend(argv);
    (mount, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_runs_under_the_init() {
        let (m, args) = wrap(
            Path::new("/usr/bin/catatonit"),
            vec!["sh".into(), "-c".into(), "x".into()],
        );
        assert_eq!(args, vec![INIT_IN_CONTAINER, "--", "sh", "-c", "x"]);
        assert_eq!(m["source"], "/usr/bin/catatonit");
        assert!(m["options"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("ro")));
    }
}
