//! `berth registry`: run berth's own OCI registry, and collect its garbage.
//!
//! Wiring (for main.rs): `Registry(registry_cli::RegistryCmd)` under
//! `#[command(subcommand)]`, dispatched with `registry_cli::run(cmd)`; the
//! berth crate needs `berth-distribution` as a dependency.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use berth_distribution::server::{self, Config};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Serve an OCI (Docker v2 compatible) registry from a directory.
    Serve(ServeArgs),
    /// Remove blobs no manifest references, and uploads abandoned for a day.
    /// Run it while the registry is stopped or read-only.
    Gc(GcArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (the port may be 0: the chosen one is logged).
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: SocketAddr,
    /// Registry storage directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// htpasswd file with bcrypt entries (htpasswd -B): turns on basic auth,
    /// or supplies the credentials the token service checks.
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// Use Docker's token flow with a built-in token service at /token; the
    /// optional value is the issuer name put in tokens.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "berth-registry")]
    pub token_issuer: Option<String>,
    /// File holding the token signing key (any bytes); random per run when
    /// absent, which invalidates tokens on restart.
    #[arg(long, value_name = "FILE", requires = "token_issuer")]
    pub token_key: Option<PathBuf>,
    /// With --token-issuer: give pull tokens to clients without credentials.
    #[arg(long, requires = "token_issuer")]
    pub anonymous_pull: bool,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse every write (405 UNSUPPORTED), e.g. while gc runs.
    #[arg(long)]
    pub read_only: bool,
    /// Refuse DELETE of manifests, tags and blobs (405 UNSUPPORTED).
    #[arg(long)]
    pub no_delete: bool,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Registry storage directory.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
}

pub fn run(cmd: RegistryCmd) -> anyhow::Result<i32> {
    match cmd {
        RegistryCmd::Serve(a) => {
            let token_key = a
                .token_key
                .as_deref()
                .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let config = Config {
                root: a.root,
                htpasswd: a.htpasswd,
                token_issuer: a.token_issuer,
                token_key,
                anonymous_pull: a.anonymous_pull,
                tls_cert: a.tls_cert,
                tls_key: a.tls_key,
                read_only: a.read_only,
                delete_enabled: !a.no_delete,
            };
            server::serve_blocking(config, a.addr).context("registry")?;
            Ok(0)
        }
        RegistryCmd::Gc(a) => {
            let r = server::gc(&a.root).context("registry gc")?;
            println!(
                "removed {} blobs ({} bytes), kept {}, removed {} stale uploads",
                r.blobs_removed, r.bytes_freed, r.blobs_kept, r.uploads_removed
            );
            Ok(0)
        }
    }
}
