//! berth's OCI runtime (runtime-spec 1.2, Linux).

pub mod capabilities;
pub mod features;
pub mod seccomp;
pub mod spec;
