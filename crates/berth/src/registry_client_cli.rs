//! `pull`, `push`, `login`, `logout`: the registry client commands. The async runtime
//! lives inside berth-distribution's calls and is gone when they return, so nothing
//! here leaves threads behind for code that later forks containers.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use berth_distribution::client::credentials::{self, Credentials};
use berth_distribution::client::manifest::Platform;
use berth_distribution::client::{self, Progress, PullOptions, PushOptions, TransportOptions};
use berth_image::ImageRef;

#[derive(clap::Args)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    name: String,
    /// Download all tagged images in the repository.
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant]).
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output.
    #[arg(short, long)]
    quiet: bool,
    /// Require HTTPS and verify certificates (false: accept any certificate or plain HTTP).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    tls_verify: Option<bool>,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// NAME[:TAG]
    name: String,
    /// Suppress verbose output.
    #[arg(short, long)]
    quiet: bool,
    /// Require HTTPS and verify certificates (false: accept any certificate or plain HTTP).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    tls_verify: Option<bool>,
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// Registry server (default docker.io).
    server: Option<String>,
    /// Username.
    #[arg(short, long)]
    username: Option<String>,
    /// Password (prefer --password-stdin: the command line is visible to other users).
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Require HTTPS and verify certificates (false: accept any certificate or plain HTTP).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    tls_verify: Option<bool>,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    /// Registry server (default docker.io).
    server: Option<String>,
}

/// `docker.io`, `https://index.docker.io/v1/` and friends are all Docker Hub.
fn server_name(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let host = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

pub fn pull(a: PullArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = crate::image_cli::open_store(root)?;
    let platform = a
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let opts = PullOptions {
        transport: TransportOptions {
            tls_verify: a.tls_verify,
        },
        platform,
        ..Default::default()
    };
    let progress = Arc::new(Progress::auto(a.quiet));
    if a.all_tags {
        let name = ImageRef::parse(&a.name)?.name();
        progress.line(&format!(
            "Pulling all tags of {}",
            berth_image::reference::familiar(&name)
        ));
        let out = client::pull_all_tags(&store, &a.name, &opts, &progress)
            .with_context(|| format!("pulling {}", a.name))?;
        for o in out {
            if a.quiet {
                println!("{}", o.display);
            }
        }
        return Ok(0);
    }
    let out = client::pull(&store, &a.name, &opts, &progress)?;
    if a.quiet {
        println!("{}", canonical_display(&a.name));
    } else {
        println!("{}", canonical_display(&out.display));
    }
    Ok(0)
}

/// Docker ends a pull with the fully qualified reference.
fn canonical_display(name: &str) -> String {
    ImageRef::parse(name)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| name.to_string())
}

pub fn push(a: PushArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = crate::image_cli::open_store(root)?;
    if let Some(code) = crate::manifest_cli::push_if_list(&store, &a.name, a.tls_verify, a.quiet)? {
        return Ok(code);
    }
    let opts = PushOptions {
        transport: TransportOptions {
            tls_verify: a.tls_verify,
        },
        ..Default::default()
    };
    let progress = Arc::new(Progress::auto(a.quiet));
    let out = client::push(&store, &a.name, &opts, &progress)?;
    if a.quiet {
        println!("{}", canonical_display(&a.name));
    }
    let _ = out;
    Ok(0)
}

pub fn login(a: LoginArgs, _root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let server = server_name(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match a.username {
        Some(u) => u,
        None if a.password_stdin => bail!("--password-stdin needs --username"),
        None => {
            if let Some(c) = credentials::get(&server).ok().flatten() {
                eprint!("Username ({}): ", c.username);
            } else {
                eprint!("Username: ");
            }
            let line = read_line().context("reading the username")?;
            if line.is_empty() {
                credentials::get(&server)?
                    .map(|c| c.username)
                    .context("a username is required")?
            } else {
                line
            }
        }
    };
    let password = match (a.password, a.password_stdin) {
        (Some(p), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, true) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the password from stdin")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            eprint!("Password: ");
            read_password().context("reading the password")?
        }
    };
    if password.is_empty() {
        bail!("a password is required");
    }
    let creds = Credentials {
        username,
        secret: password,
    };
    let opts = TransportOptions {
        tls_verify: a.tls_verify,
    };
    let stored = client::login(&server, &creds, &opts)?;
    if !stored.starts_with("docker-credential-") {
        eprintln!("WARNING! Your password will be stored unencrypted in {stored}.");
    }
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(a: LogoutArgs, _root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let server = server_name(a.server.as_deref());
    if client::logout(&server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}

fn read_line() -> std::io::Result<String> {
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a line with echo off when stdin is a terminal.
fn read_password() -> std::io::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return read_line();
    }
    let old = rustix::termios::tcgetattr(&stdin)?;
    let mut quiet = old.clone();
    quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
    rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet)?;
    let line = read_line();
    let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &old);
    eprintln!();
    let _ = std::io::stderr().flush();
    line
}

/// The pull `run`/`create` do for a missing image (`--pull`), with progress on stderr
/// so a container's own output on stdout stays clean.
pub fn pull_quietly(
    name: &str,
    platform: Option<&str>,
    quiet: bool,
    root: &Option<PathBuf>,
) -> anyhow::Result<()> {
    let store = crate::image_cli::open_store(root)?;
    let platform = platform
        .map(Platform::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let opts = PullOptions {
        platform,
        ..Default::default()
    };
    let progress = Arc::new(Progress::auto(quiet));
    client::pull(&store, name, &opts, &progress)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_aliases() {
        assert_eq!(server_name(None), "docker.io");
        assert_eq!(
            server_name(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(server_name(Some("127.0.0.1:5000")), "127.0.0.1:5000");
    }
}
