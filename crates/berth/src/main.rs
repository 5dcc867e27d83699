//! The `berth` command. Installed (or symlinked) as `berth-runtime`, the same binary is a
//! runc-compatible OCI runtime that containerd, CRI-O and Podman can call directly.

mod errors;
mod format;
mod human;
mod image_cli;
mod registry_cli;
mod registry_client_cli;
mod runtime_cli;
mod system_cli;

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
    /// Storage root for images and metadata (default /var/lib/berth; env BERTH_ROOT).
    /// Not global: `berth runtime --root` is the runtime's own state root.
    #[arg(long, value_name = "DIR")]
    root: Option<std::path::PathBuf>,
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
    /// Manage images.
    #[command(subcommand)]
    Image(image_cli::ImageCmd),
    /// List images.
    Images(image_cli::list::ImagesArgs),
    /// Show the history of an image.
    History(image_cli::inspect::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(image_cli::remove::TagArgs),
    /// Remove one or more images.
    Rmi(image_cli::remove::RmiArgs),
    /// Save images to a tar archive.
    Save(image_cli::archive::SaveArgs),
    /// Load images from a tar archive or STDIN.
    Load(image_cli::archive::LoadArgs),
    /// Import a root filesystem tarball as an image.
    Import(image_cli::archive::ImportArgs),
    /// Show low-level information on images as JSON.
    Inspect(image_cli::inspect::InspectArgs),
    /// Download an image from a registry.
    Pull(registry_client_cli::PullArgs),
    /// Upload an image to a registry.
    Push(registry_client_cli::PushArgs),
    /// Log in to a registry (credentials go to ~/.docker/config.json or its helper).
    Login(registry_client_cli::LoginArgs),
    /// Log out from a registry.
    Logout(registry_client_cli::LogoutArgs),
    /// Run berth's own registry server, or garbage-collect its storage.
    #[command(subcommand)]
    Registry(registry_cli::RegistryCmd),
    /// Manage berth.
    #[command(subcommand)]
    System(system_cli::SystemCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// Example: berth completion bash > /etc/bash_completion.d/berth
    Completion { shell: clap_complete::Shell },
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("berth")
        .to_string();
    // Installed as `runc` too: managers that look for runc on PATH get berth's runtime.
    if invoked_as.starts_with("berth-runtime") || invoked_as == "runc" {
        return runtime_cli::main(&invoked_as, argv.into_iter().skip(1).collect());
    }
    // `berth runtime ...` is on every container start's critical path: skip building
    // the whole command tree for it.
    if argv.get(1).is_some_and(|a| a == "runtime") {
        return runtime_cli::main("berth runtime", argv.into_iter().skip(2).collect());
    }
    let cli = Cli::parse_from(&argv);
    // `berth images | head` should end quietly like any Unix tool, not panic on EPIPE.
    // Commands that talk to the network keep SIGPIPE ignored: a registry closing a
    // connection mid-upload must be an error to report, not a silent death. (The
    // runtime keeps it ignored too: its hooks and pty relays handle EPIPE.)
    let networked = matches!(
        cli.command,
        Command::Pull(_)
            | Command::Push(_)
            | Command::Login(_)
            | Command::Logout(_)
            | Command::Registry(_)
    );
    if !networked {
        // SAFETY: installing SIG_DFL for SIGPIPE before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let root = cli.root;
    let result = match cli.command {
        Command::Runtime { args } => return runtime_cli::main("berth runtime", args),
        Command::Image(c) => image_cli::run(c, &root),
        Command::Images(a) => image_cli::list::images(a, &root),
        Command::History(a) => image_cli::inspect::history(a, &root),
        Command::Tag(a) => image_cli::remove::tag(a, &root),
        Command::Rmi(a) => image_cli::remove::rmi(a, &root),
        Command::Save(a) => image_cli::archive::save(a, &root),
        Command::Load(a) => image_cli::archive::load(a, &root),
        Command::Import(a) => image_cli::archive::import(a, &root),
        Command::Inspect(a) => image_cli::inspect::inspect(a, &root),
        Command::Pull(a) => registry_client_cli::pull(a, &root),
        Command::Push(a) => registry_client_cli::push(a, &root),
        Command::Login(a) => registry_client_cli::login(a, &root),
        Command::Logout(a) => registry_client_cli::logout(a, &root),
        Command::Registry(c) => registry_cli::run(c),
        Command::System(c) => system_cli::run(c, &root),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("Error: {}", errors::render(&e));
            ExitCode::from(1)
        }
    }
}
