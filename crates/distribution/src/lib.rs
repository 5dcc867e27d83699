//! OCI distribution (spec 1.1) and the Docker Registry HTTP API v2: the client berth
//! pulls and pushes with, and berth's own registry server.

pub mod client;
pub mod server;
