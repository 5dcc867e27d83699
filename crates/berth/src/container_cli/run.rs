//! `run`, `create` and `start`: create the container, then start it detached (print
//! its id) or attached (stream its output and exit with its status).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use berth_engine::start::Started;
use berth_engine::{Engine, EngineError};
use berth_monitor::client::AttachClient;
use berth_monitor::protocol::Hello;

use super::attach::{self, Outcome};
use super::create_args::CreateArgs;
use super::{open_engine, Failed};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    /// Proxy received signals to the process (non-TTY mode only).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(clap::Args)]
pub struct CreateCmdArgs {
    /// Automatically remove the container when it exits.
    #[arg(long)]
    rm: bool,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    /// Containers to start.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Pulls the image per `--pull` (missing, always, never); returns it.
fn ensure_image(
    engine: &Engine,
    a: &CreateArgs,
    root: &Option<PathBuf>,
) -> anyhow::Result<berth_image::ImageRecord> {
    let local = engine.images().resolve(&a.image).ok();
    let present = local.is_some();
    let pull = match a.pull.as_str() {
        "always" => true,
        "missing" => !present,
        "never" => {
            if !present {
                return Err(
                    EngineError::Image(berth_image::ImageError::NotFound(a.image.clone())).into(),
                );
            }
            false
        }
        other => anyhow::bail!("invalid --pull {other:?}: use missing, always or never"),
    };
    if pull {
        if !present {
            eprintln!("Unable to find image '{}' locally", a.image);
        }
        crate::registry_client_cli::pull_quietly(&a.image, a.platform.as_deref(), a.quiet, root)
            .with_context(|| format!("pulling {}", a.image))?;
        return Ok(engine.images().resolve(&a.image)?);
    }
    local.ok_or_else(|| {
        EngineError::Image(berth_image::ImageError::NotFound(a.image.clone())).into()
    })
}

fn create_container(
    a: &CreateArgs,
    rm: bool,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<(Engine, berth_engine::Container)> {
    let engine = open_engine(root, runroot)?;
    // Docker refuses an existing cidfile, so scripts never read a stale id. It is
    // claimed before the container exists: refusing it afterwards would leave a
    // container behind that the failed command never reported.
    let mut cid = match &a.cidfile {
        Some(f) => Some((
            f,
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(f)
                .with_context(|| format!("writing the container id to {}", f.display()))?,
        )),
        None => None,
    };
    let created = ensure_image(&engine, a, root).and_then(|img| {
        if a.platform.is_none() {
            warn_foreign_platform(&img, &a.image);
        }
        let mut req = a.to_request()?;
        req.host_config.auto_remove = rm;
        Ok(engine.create(req)?)
    });
    let c = match created {
        Ok(c) => c,
        Err(e) => {
            if let Some((f, _)) = &cid {
                let _ = std::fs::remove_file(f);
            }
            return Err(e);
        }
    };
    if let Some((_, file)) = &mut cid {
        file.write_all(c.id.as_bytes())?;
    }
    Ok((engine, c))
}

/// Says so when the image was built for another platform than the host's and none
/// was asked for: its programs run only if a binfmt_misc handler takes them.
fn warn_foreign_platform(img: &berth_image::ImageRecord, image: &str) {
    let host = berth_image::platform::host_arch();
    let (os, arch) = (img.os.as_str(), img.architecture.as_str());
    let native = arch.is_empty() || arch == host || (host == "amd64" && arch == "386");
    if native && (os.is_empty() || os == "linux") {
        return;
    }
    eprintln!(
        "WARNING: image {image} is for {os}/{arch}, not this host's linux/{host}: its \
         programs run only through a binfmt_misc handler (such as qemu-user-static's)"
    );
}

pub fn create(
    a: CreateCmdArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let (_, c) = create_container(&a.create, a.rm, root, runroot).map_err(Failed::engine)?;
    println!("{}", c.id);
    Ok(0)
}

fn start_failed(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::StartFailed { message, code } => Failed::with_code(code, message),
        e => Failed::engine(e.into()),
    }
}

pub fn run(a: RunArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    if a.detach && a.rm && a.create.restart.as_deref().is_some_and(|r| r != "no") {
        return Err(Failed::with_code(
            125,
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    let keys = attach::parse_detach_keys(&a.detach_keys).map_err(Failed::engine)?;
    let (engine, c) = create_container(&a.create, a.rm, root, runroot).map_err(Failed::engine)?;
    if a.detach {
        engine.start(&c.id, false).map_err(start_failed)?;
        println!("{}", c.id);
        return Ok(0);
    }
    if !a.create.tty && a.sig_proxy {
        super::sigproxy::start(engine.layout().runtime_root(), c.id.clone());
    }
    attached_start(&engine, &c.id, a.create.interactive, a.create.tty, keys)
}

/// Starts with an attach client connected first, then streams until the end.
fn attached_start(
    engine: &Engine,
    id: &str,
    stdin: bool,
    tty: bool,
    keys: Vec<u8>,
) -> anyhow::Result<i32> {
    let (c, launcher) = engine.start(id, true).map_err(start_failed)?;
    let Some(mut launcher) = launcher else {
        // Already running: plain attach.
        return super::attach_cmd::attach_to(engine, &c, stdin, keys);
    };
    let client = AttachClient::connect(
        &engine.layout().run_dir(&c.id),
        Hello {
            stdin,
            stdout: true,
            stderr: true,
            wait: false,
            // This process has the engine open: it records the exit and removes an
            // `--rm` container itself, sparing the monitor a cleanup process.
            cleanup: true,
        },
    )
    .with_context(|| format!("attaching to container {}", c.short_id()))
    .map_err(Failed::engine)?;
    match engine
        .finish_start(&c, &mut launcher)
        .map_err(start_failed)?
    {
        Started::Running(_) | Started::AlreadyRunning => {}
    }
    finish(engine, &c.id, client, stdin, tty, keys)
}

pub(super) fn finish(
    engine: &Engine,
    id: &str,
    client: AttachClient,
    stdin: bool,
    tty: bool,
    keys: Vec<u8>,
) -> anyhow::Result<i32> {
    let (outcome, mut client) = attach::stream(
        client,
        attach::Options {
            stdin,
            tty,
            detach_keys: keys,
        },
    )?;
    match outcome {
        Outcome::Exited(info) => {
            if info.cleanup {
                // If this fails the monitor runs its own cleanup once we hang up.
                if engine.cleanup(id).is_ok() {
                    let _ = client.cleaned();
                }
            }
            Ok(info.exit_code)
        }
        Outcome::Detached => {
            eprintln!("\nread escape sequence");
            Ok(0)
        }
        Outcome::Lost => {
            // The monitor went away without reporting: the stored state says why.
            let st = engine.wait(id)?;
            Ok(st.exit_code)
        }
    }
}

/// berth.toml's publish policy as it is now, for a container created before it
/// changed.
fn check_publish(engine: &Engine, name: &str) -> anyhow::Result<()> {
    let c = engine.find(name)?;
    let hc = &c.settings.host_config;
    if hc.network_mode == "host" {
        return Ok(());
    }
    let net_cfg = crate::config::network()?;
    let address = hc.publish_address.parse().ok().or(net_cfg.publish_address);
    crate::publish_policy::check(net_cfg.publish, hc, address)
        .map_err(|e| e.context(format!("starting container {}", c.short_id())))
}

pub fn start(
    a: StartArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        }
        let keys = attach::parse_detach_keys(&a.detach_keys)?;
        let c = engine.find(&a.containers[0])?;
        check_publish(&engine, &c.id)?;
        let tty = c.settings.config.tty;
        if !tty {
            super::sigproxy::start(engine.layout().runtime_root(), c.id.clone());
        }
        return attached_start(
            &engine,
            &c.id,
            a.interactive && c.settings.config.open_stdin,
            tty,
            keys,
        );
    }
    let mut failed = false;
    for name in &a.containers {
        if let Err(e) = check_publish(&engine, name) {
            failed = true;
            eprintln!("Error response from daemon: {}", crate::errors::render(&e));
            continue;
        }
        match engine.start(name, false) {
            Ok(_) => println!("{name}"),
            Err(e) => {
                failed = true;
                eprintln!(
                    "Error response from daemon: {}",
                    crate::errors::render(&start_failed(e))
                );
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
