//! The registry client: pull, push, login, logout against OCI distribution 1.1 /
//! Docker Registry v2 servers.

pub mod auth;
mod compress;
pub mod config;
pub mod credentials;
pub mod error;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod repository;
pub mod transport;
mod upload;

pub use error::ClientError;
pub use progress::Progress;
pub use pull::{pull, pull_all_tags, PullOptions, PullOutcome};
pub use push::{push, PushOptions, PushOutcome};
pub use repository::RepositoryClient;
pub use transport::{login, logout, TransportOptions};
