//! The per-container monitor: its configuration, its state file, the attach protocol
//! and the monitor process itself.
