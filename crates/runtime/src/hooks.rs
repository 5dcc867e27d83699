//! Lifecycle hooks: each runs with the container state JSON on stdin, only its own env,
//! and its timeout; a failing hook fails the step with the hook's output in the error.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Result, RuntimeError};
use crate::sys;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    pub fn of(self, hooks: &oci_spec::runtime::Hooks) -> Vec<Hook> {
        #[allow(deprecated)]
        let list = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

pub fn run_all(kind: Kind, hooks: Option<&oci_spec::runtime::Hooks>, state: &[u8]) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for hook in kind.of(hooks) {
        run(kind, &hook, state)?;
    }
    Ok(())
}

fn output_file() -> std::io::Result<File> {
    Ok(File::from(sys::memfd_create(
        c"berth-hook-output",
        libc::MFD_CLOEXEC,
    )?))
}

pub fn run(kind: Kind, hook: &Hook, state: &[u8]) -> Result<()> {
    let fail = |why: String| RuntimeError::Hook {
        hook: kind.name(),
        path: hook.path().clone(),
        why,
    };
    let out = output_file().map_err(|e| fail(format!("cannot capture output: {e}")))?;
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().clone().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let err_out = out.try_clone().map_err(|e| fail(e.to_string()))?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(
            out.try_clone().map_err(|e| fail(e.to_string()))?,
        ))
        .stderr(Stdio::from(err_out));
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not fail the step: ignore EPIPE.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(fail(format!("waiting for it: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s{}",
                hook.timeout().unwrap_or_default(),
                captured(&out)
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !status.success() {
        return Err(fail(format!("{status}{}", captured(&out))));
    }
    Ok(())
}

fn captured(f: &File) -> String {
    let mut f = f;
    let mut s = String::new();
    let _ = f.rewind();
    let _ = f.take(8192).read_to_string(&mut s);
    let s = s.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(", output: {s}")
    }
}
