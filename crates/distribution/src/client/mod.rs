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
pub mod push_list;
pub mod repository;
pub mod transport;
mod upload;

pub use error::ClientError;
pub use progress::Progress;
pub use pull::{pull, pull_all_tags, PullOptions, PullOutcome};
pub use push::{image_manifest, push, push_by_digest, ImageManifest, PushOptions, PushOutcome};
pub use push_list::{push_list, PushListOptions, PushListOutcome};
pub use repository::RepositoryClient;
pub use transport::{login, logout, TransportOptions};
