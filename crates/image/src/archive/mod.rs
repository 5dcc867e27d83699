//! Image archives: loading docker-archive / oci-archive / OCI layout, saving
//! docker-archive and oci-archive, and importing a root filesystem tar.

pub mod import;
pub mod load;
pub mod save;
pub mod source;
