//! `berth runtime` / `berth-runtime`: runc's command-line contract on top of
//! berth-runtime. Global flags work before or after the verb, options may follow the
//! container id (`create ID --bundle B`), and runc's single-dash long options
//! (`-bundle`) are accepted.

mod args;
mod exec;
mod inspect;
mod lifecycle;
mod log;
mod update;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    disable_version_flag = true,
    about = "berth's OCI runtime: run containers from OCI bundles (runc-compatible)",
    long_about = "berth's OCI runtime (runtime-spec 1.2, Linux), with runc's command-line contract.\n\n\
Typical use:\n  berth runtime spec                 # write a config.json into the current directory\n  \
berth runtime run --bundle B ID    # create, start, wait, delete\n  \
berth runtime create --bundle B ID && berth runtime start ID\n\n\
Containers are tracked under --root (default /run/berth/runtime)."
)]
pub struct RuntimeCli {
    /// Print the version (runc's format: runtime, spec and libseccomp versions).
    #[arg(short = 'v', long, global = true)]
    version: bool,
    /// Directory for container state (runc's --root).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Append errors (and debug messages with --debug) to this file.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of --log lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log debug messages.
    #[arg(long, global = true)]
    debug: bool,
    /// Manage cgroups through systemd (needs a running systemd).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// With `spec`: write a spec for an unprivileged caller. Elsewhere accepted for runc
    /// compatibility (berth decides rootless mode from the caller's uid).
    #[arg(long, global = true, value_name = "auto|true|false", num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Accepted for runc compatibility; checkpointing is not supported.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    #[command(subcommand)]
    command: Option<Verb>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Verb {
    /// Write a default config.json (a template to edit) into the bundle.
    Spec(inspect::SpecArgs),
    /// Create a container: set it up and leave its init waiting for `start`.
    Create(lifecycle::CreateArgs),
    /// Start the user process of a created container.
    Start(lifecycle::IdArg),
    /// Create and start a container; in the foreground, wait for it and delete it.
    Run(lifecycle::RunArgs),
    /// Print the state of a container as JSON.
    State(lifecycle::IdArg),
    /// Send a signal (default SIGTERM) to a container's init, or with --all to all its processes.
    Kill(lifecycle::KillArgs),
    /// Delete a container and everything it holds (its processes with --force).
    Delete(lifecycle::DeleteArgs),
    /// Run a new process inside a running container.
    Exec(exec::ExecArgs),
    /// List the processes running inside a container.
    Ps(inspect::PsArgs),
    /// List containers.
    List(inspect::ListArgs),
    /// Freeze every process of a container.
    Pause(lifecycle::IdArg),
    /// Thaw a paused container.
    Resume(lifecycle::IdArg),
    /// Change a container's resource limits.
    Update(update::UpdateArgs),
    /// Print what this runtime supports (runtime-spec features document).
    Features,
    /// Print container statistics (one-shot with --stats).
    Events(inspect::EventsArgs),
}

pub struct Globals {
    pub root: PathBuf,
    pub rootless: bool,
}

pub fn main(bin: &str, args: Vec<OsString>) -> ExitCode {
    let mut argv = vec![OsString::from(bin)];
    argv.extend(args::normalize(args));
    let invocation = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let cli = match RuntimeCli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let logger = log::Logger::new(cli.log.clone(), cli.log_format, cli.debug);
    logger.debug(&format!("invoked as: {invocation}"));
    let result = (|| {
        if cli.systemd_cgroup && !std::path::Path::new("/run/systemd/system").exists() {
            anyhow::bail!(
                "--systemd-cgroup needs systemd as init, and this host does not run it: drop the flag to use cgroupfs"
            );
        }
        let globals = Globals {
            root: cli.root.clone().unwrap_or_else(berth_runtime::default_root),
            rootless: cli.rootless.as_deref() == Some("true"),
        };
        if cli.version {
            let (maj, min, mic) = libseccomp_version();
            println!("berth-runtime version {}", env!("CARGO_PKG_VERSION"));
            println!("spec: {}", berth_runtime::OCI_VERSION);
            println!("libseccomp: {maj}.{min}.{mic}");
            return Ok(0);
        }
        let Some(verb) = cli.command else {
            anyhow::bail!("no command given: see `--help`");
        };
        dispatch(verb, &globals)
    })();
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            logger.error(&crate::errors::render(&e));
            ExitCode::FAILURE
        }
    }
}

fn dispatch(verb: Verb, g: &Globals) -> anyhow::Result<i32> {
    match verb {
        Verb::Spec(a) => inspect::spec(a, g),
        Verb::Create(a) => lifecycle::create(a, g),
        Verb::Start(a) => lifecycle::start(a, g),
        Verb::Run(a) => lifecycle::run(a, g),
        Verb::State(a) => lifecycle::state(a, g),
        Verb::Kill(a) => lifecycle::kill(a, g),
        Verb::Delete(a) => lifecycle::delete(a, g),
        Verb::Exec(a) => exec::exec(a, g),
        Verb::Ps(a) => inspect::ps(a, g),
        Verb::List(a) => inspect::list(a, g),
        Verb::Pause(a) => lifecycle::pause(a, g),
        Verb::Resume(a) => lifecycle::resume(a, g),
        Verb::Update(a) => update::update(a, g),
        Verb::Features => inspect::features(),
        Verb::Events(a) => inspect::events(a, g),
    }
}

fn libseccomp_version() -> (u32, u32, u32) {
    berth_runtime::seccomp::library_version()
}
