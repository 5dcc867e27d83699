//! The `berth` command. Installed (or symlinked) as `berth-runtime`, the same binary is a
//! runc-compatible OCI runtime that containerd, CRI-O and Podman can call directly.

mod runtime_cli;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Build, ship and run OCI containers",
    long_about = "berth builds, ships and runs OCI containers: daemonless, Docker-compatible at the command line.\n\nToday the OCI runtime is available as `berth runtime` (the runc command-line contract)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The low-level OCI runtime (runc-compatible): create, start, exec, delete containers from bundles.
    #[command(disable_help_flag = true)]
    Runtime {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("berth")
        .to_string();
    if invoked_as.starts_with("berth-runtime") {
        return runtime_cli::main(&invoked_as, argv.into_iter().skip(1).collect());
    }
    match Cli::parse_from(&argv).command {
        Command::Runtime { args } => runtime_cli::main("berth runtime", args),
    }
}
