//! Errors of network operations: each names the network, address or kernel object that
//! failed and why.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network {0} not found")]
    NotFound(String),

    #[error("network with name {0} already exists")]
    NameInUse(String),

    #[error("invalid {what}: {why}")]
    Invalid { what: String, why: String },

    #[error("no free IP address left in network {network} ({subnet})")]
    Exhausted { network: String, subnet: String },

    #[error("address {ip} is already in use in network {network}")]
    AddressInUse { ip: String, network: String },

    #[error(
        "network {name} has active endpoints ({count} container(s)); stop or remove them first"
    )]
    InUse { name: String, count: usize },

    /// A container's endpoint that exists already or does not exist, worded as
    /// Docker words it (`network connect` / `disconnect`).
    #[error("{0}")]
    Endpoint(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },

    #[error("{0}")]
    Store(#[from] berth_store::StoreError),

    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl NetError {
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> NetError {
        NetError::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }

    pub fn io(what: impl Into<String>, source: io::Error) -> NetError {
        NetError::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;
