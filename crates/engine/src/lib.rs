//! berth's containers: the records in the metadata database, the OCI bundle made from
//! an image and `run` flags, volumes, and the lifecycle driven through the runtime and
//! the per-container monitor.

pub mod changes;
pub mod commit;
pub mod control;
mod copy;
pub mod create;
mod engine;
pub mod error;
pub mod etc_files;
pub mod fscopy;
pub mod layout;
pub mod model;
pub mod names;
mod networking;
pub mod parse;
pub mod ports;
pub mod records;
pub mod remove;
mod rootfs_access;
pub mod security;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;
pub mod volumes;

pub use engine::{pid_alive, Engine};
pub use error::{EngineError, Result};
pub use records::Container;
