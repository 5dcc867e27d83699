//! The per-container monitor: its configuration, its state file, the attach protocol
//! and the monitor process itself.

pub mod client;
pub mod config;
pub mod launch;
pub mod process;
pub mod protocol;
pub mod state;
mod sys;
