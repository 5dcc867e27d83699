//! The `berth` command. Installed (or symlinked) as `berth-runtime`, the same binary is a
//! runc-compatible OCI runtime that containerd, CRI-O and Podman can call directly.

mod build_cache_cli;
mod build_cli;
mod build_output;
mod config;
mod confirm;
mod container_cli;
mod errors;
mod format;
mod human;
mod image_cli;
mod manifest_cli;
mod network_cli;
mod publish_policy;
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
    long_about = "berth builds, ships and runs OCI containers: daemonless, Docker-compatible at the command line.\n\nContainers: berth run, ps, logs, exec, stop, rm (Docker's flags). Images: pull, push, images, build archives. The OCI runtime is `berth runtime` (the runc command-line contract)."
)]
struct Cli {
    /// Storage root for images and metadata (default /var/lib/berth; env BERTH_ROOT).
    /// Not global: `berth runtime --root` is the runtime's own state root.
    #[arg(long, value_name = "DIR")]
    root: Option<std::path::PathBuf>,
    /// Runtime state of containers (monitor sockets, bundles): default /run/berth for
    /// the default root, else DIR/run under --root (env BERTH_RUNROOT).
    #[arg(long, value_name = "DIR")]
    runroot: Option<std::path::PathBuf>,
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
    /// Create and run a new container from an image.
    Run(container_cli::run::RunArgs),
    /// Create a new container.
    Create(container_cli::run::CreateCmdArgs),
    /// Start one or more stopped containers.
    Start(container_cli::run::StartArgs),
    /// Stop one or more running containers.
    Stop(container_cli::lifecycle::StopArgs),
    /// Restart one or more containers.
    Restart(container_cli::lifecycle::StopArgs),
    /// Kill one or more running containers.
    Kill(container_cli::lifecycle::KillArgs),
    /// Remove one or more containers.
    Rm(container_cli::lifecycle::RmArgs),
    /// List containers.
    Ps(container_cli::ps::PsArgs),
    /// Fetch the logs of a container.
    Logs(container_cli::logs::LogsArgs),
    /// Execute a command in a running container.
    Exec(container_cli::exec::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(container_cli::attach_cmd::AttachArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(container_cli::lifecycle::NamesArgs),
    /// Pause all processes within one or more containers.
    Pause(container_cli::lifecycle::NamesArgs),
    /// Unpause all processes within one or more containers.
    Unpause(container_cli::lifecycle::NamesArgs),
    /// Rename a container.
    Rename(container_cli::lifecycle::RenameArgs),
    /// Display the running processes of a container.
    Top(container_cli::inspect::TopArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(container_cli::copy::CpArgs),
    /// Export a container's filesystem as a tar archive.
    Export(container_cli::copy::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(container_cli::changes::DiffArgs),
    /// Create a new image from a container's changes.
    Commit(container_cli::changes::CommitArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(container_cli::stats::StatsArgs),
    /// Update configuration of one or more containers.
    Update(container_cli::update::UpdateArgs),
    /// List port mappings or a specific mapping for the container.
    Port(container_cli::update::PortArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(container_cli::ContainerCmd),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(container_cli::volume::VolumeCmd),
    /// Manage networks.
    #[command(subcommand)]
    Network(network_cli::NetworkCmd),
    /// Manage images.
    #[command(subcommand)]
    Image(image_cli::ImageCmd),
    /// Build an image from a Dockerfile.
    ///
    /// Examples: berth build -t app:1 .    berth build -f ci/Dockerfile --target test .
    Build(build_cli::BuildArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(build_cli::BuilderCmd),
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
    /// Show low-level information on containers and images as JSON.
    Inspect(container_cli::inspect::AnyInspectArgs),
    /// Download an image from a registry.
    Pull(registry_client_cli::PullArgs),
    /// Upload an image to a registry.
    Push(registry_client_cli::PushArgs),
    /// Manage manifest lists (multi-platform images): create, add, annotate, inspect, push, rm.
    #[command(subcommand)]
    Manifest(manifest_cli::ManifestCmd),
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
    config::export_firewall();
    // `berth images | head` should end quietly like any Unix tool, not panic on EPIPE.
    // Commands that talk to the network keep SIGPIPE ignored: a registry closing a
    // connection mid-upload must be an error to report, not a silent death. (The
    // runtime keeps it ignored too: its hooks and pty relays handle EPIPE.)
    let networked = matches!(
        cli.command,
        Command::Pull(_)
            | Command::Push(_)
            | Command::Manifest(_)
            | Command::Login(_)
            | Command::Logout(_)
            | Command::Registry(_)
            | Command::Build(_)
    );
    if !networked {
        // SAFETY: installing SIG_DFL for SIGPIPE before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let root = cli.root;
    let rr = cli.runroot;
    let result = match cli.command {
        Command::Run(a) => container_cli::run::run(a, &root, &rr),
        Command::Create(a) => container_cli::run::create(a, &root, &rr),
        Command::Start(a) => container_cli::run::start(a, &root, &rr),
        Command::Stop(a) => container_cli::lifecycle::stop(a, &root, &rr),
        Command::Restart(a) => container_cli::lifecycle::restart(a, &root, &rr),
        Command::Kill(a) => container_cli::lifecycle::kill(a, &root, &rr),
        Command::Rm(a) => container_cli::lifecycle::rm(a, &root, &rr),
        Command::Ps(a) => container_cli::ps::ps(a, &root, &rr),
        Command::Logs(a) => container_cli::logs::logs(a, &root, &rr),
        Command::Exec(a) => container_cli::exec::exec(a, &root, &rr),
        Command::Attach(a) => container_cli::attach_cmd::attach(a, &root, &rr),
        Command::Wait(a) => container_cli::lifecycle::wait(a, &root, &rr),
        Command::Pause(a) => container_cli::lifecycle::pause(a, &root, &rr),
        Command::Unpause(a) => container_cli::lifecycle::unpause(a, &root, &rr),
        Command::Rename(a) => container_cli::lifecycle::rename(a, &root, &rr),
        Command::Top(a) => container_cli::inspect::top(a, &root, &rr),
        Command::Cp(a) => container_cli::copy::cp(a, &root, &rr),
        Command::Export(a) => container_cli::copy::export(a, &root, &rr),
        Command::Diff(a) => container_cli::changes::diff(a, &root, &rr),
        Command::Commit(a) => container_cli::changes::commit(a, &root, &rr),
        Command::Stats(a) => container_cli::stats::stats(a, &root, &rr),
        Command::Update(a) => container_cli::update::update(a, &root, &rr),
        Command::Port(a) => container_cli::update::port(a, &root, &rr),
        Command::Container(c) => container_cli::run(c, &root, &rr),
        Command::Volume(c) => container_cli::volume::run(c, &root, &rr),
        Command::Network(c) => network_cli::run(c, &root, &rr),
        Command::Runtime { args } => return runtime_cli::main("berth runtime", args),
        Command::Image(c) => image_cli::run(c, &root, &rr),
        Command::Build(a) => build_cli::build(a, &root, &rr),
        Command::Builder(c) => build_cli::builder(c, &root, &rr),
        Command::Images(a) => image_cli::list::images(a, &root),
        Command::History(a) => image_cli::inspect::history(a, &root),
        Command::Tag(a) => image_cli::remove::tag(a, &root),
        Command::Rmi(a) => image_cli::remove::rmi(a, &root),
        Command::Save(a) => image_cli::archive::save(a, &root),
        Command::Load(a) => image_cli::archive::load(a, &root),
        Command::Import(a) => image_cli::archive::import(a, &root),
        Command::Inspect(a) => container_cli::inspect::inspect_any(a, &root, &rr),
        Command::Pull(a) => registry_client_cli::pull(a, &root),
        Command::Push(a) => registry_client_cli::push(a, &root),
        Command::Manifest(c) => manifest_cli::run(c, &root),
        Command::Login(a) => registry_client_cli::login(a, &root),
        Command::Logout(a) => registry_client_cli::logout(a, &root),
        Command::Registry(c) => registry_cli::run(c),
        Command::System(c) => system_cli::run(c, &root, &rr),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            if let Some(f) = e.downcast_ref::<container_cli::Failed>() {
                eprintln!("berth: {}", f.message);
                return ExitCode::from(f.code.clamp(1, 255) as u8);
            }
            eprintln!("Error: {}", errors::render(&e));
            ExitCode::from(1)
        }
    }
}
