//! berth's containers: the records in the metadata database, the OCI bundle made from
//! an image and `run` flags, volumes, and the lifecycle driven through the runtime and
//! the per-container monitor.

pub mod security;
