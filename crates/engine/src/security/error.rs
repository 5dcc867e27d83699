use std::path::PathBuf;

/// Why a container's capabilities or seccomp profile could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(
        "unknown capability {name:?} in {flag}: not a Linux capability; use a name from \
         capabilities(7), with or without the CAP_ prefix (e.g. NET_ADMIN), or ALL"
    )]
    UnknownCapability { name: String, flag: &'static str },

    #[error(
        "capability {name} was asked for with --cap-add but this host does not grant it to \
         berth ({why}); remove it from --cap-add, or run berth where it holds {name}"
    )]
    CapabilityNotGranted { name: String, why: &'static str },

    #[error(
        "cannot read {path} to learn which capabilities this host grants: {source}; \
         berth needs /proc mounted"
    )]
    HostCapabilities {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot read seccomp profile {path}: {source}; check the file named in \
         --security-opt seccomp=FILE"
    )]
    ProfileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "seccomp profile {path} is not a Docker-format seccomp profile: {source}; see \
         Docker's seccomp documentation for the format"
    )]
    ProfileParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("seccomp profile {path}: {problem}")]
    ProfileInvalid { path: PathBuf, problem: String },
}
