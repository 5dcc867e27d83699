//! Default security settings, as Docker applies them: capabilities, the seccomp
//! profile, masked and read-only /proc and /sys paths. The results are
//! runtime-spec values for the container's `config.json`.

mod capabilities;
mod error;
mod paths;
mod seccomp;

pub use capabilities::{all_caps, resolve, DEFAULT_CAPS};
pub use error::SecurityError;
pub use paths::{masked_paths, readonly_paths};
pub use seccomp::{default_profile, load_profile};
