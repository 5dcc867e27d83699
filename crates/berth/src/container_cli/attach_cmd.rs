//! `attach`: connects the terminal to a running container's monitor.

use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_engine::{Container, Engine};
use berth_monitor::client::AttachClient;
use berth_monitor::protocol::Hello;

use super::{attach, open_engine};

#[derive(clap::Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container.
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    /// Do not attach STDIN.
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    container: String,
}

pub fn attach_to(
    engine: &Engine,
    c: &Container,
    stdin: bool,
    keys: Vec<u8>,
) -> anyhow::Result<i32> {
    let client = AttachClient::connect(
        &engine.layout().run_dir(&c.id),
        Hello {
            stdin,
            stdout: true,
            stderr: true,
            wait: false,
            cleanup: false,
        },
    )
    .with_context(|| format!("attaching to container {}", c.short_id()))?;
    super::run::finish(engine, &c.id, client, stdin, c.settings.config.tty, keys)
}

pub fn attach(
    a: AttachArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let keys = attach::parse_detach_keys(&a.detach_keys)?;
    let engine = open_engine(root, runroot)?;
    let c = engine.find(&a.container)?;
    if !c.state.status.is_active() {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if c.state.status == berth_engine::state::Status::Paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    if a.sig_proxy && !c.settings.config.tty {
        super::sigproxy::start(engine.layout().runtime_root(), c.id.clone());
    }
    let stdin = !a.no_stdin && c.settings.config.open_stdin;
    attach_to(&engine, &c, stdin, keys)
}
