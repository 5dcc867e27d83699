//! berth registry serve: a registry server.
