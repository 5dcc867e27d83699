//! berth-build: the file side of building images.
//!
//! - [`ignore`]: `.dockerignore` / `--exclude` matching with Docker's semantics.
//! - [`context`]: the build context (a directory or a tar stream) and the
//!   Dockerfile, with safe lookups inside it.
//! - [`glob`]: a tree COPY reads from (the context, or another stage's or
//!   image's root filesystem for `--from`) and the expansion of COPY/ADD source
//!   patterns over it ([`glob::SourceTree::expand`]).
//! - [`checksum`]: the content digest of a COPY's sources for the build cache,
//!   with a persistent stat cache.
//! - [`copy`]: COPY/ADD onto a root filesystem directory (archives, URLs,
//!   heredocs, `--chown`, `--chmod`, `--exclude`, `--parents`).
//! - [`users`]: `--chown` names resolved through the destination's /etc files.
//!
//! Paths inside a context or a root filesystem are always resolved with
//! berth-safepath: no `..`, absolute symlink or renamed directory leads out.

pub mod archive;
pub mod checksum;
pub mod context;
pub mod copy;
pub mod error;
pub mod exec;
pub mod glob;
pub mod ignore;
pub mod pattern;
pub mod platform;
pub mod users;
mod walk;

pub use error::{BuildError, Result};
