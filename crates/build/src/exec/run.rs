//! A RUN step's process: a container on the step's root filesystem, made with the
//! engine's spec (Docker's default capabilities, seccomp profile, masked paths) and
//! run in the foreground by the runtime, its stdout and stderr read line by line.
//! It gets no container record, monitor or log: it lives exactly as long as the
//! step.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use berth_engine::model::Settings;
use berth_engine::spec::{self, mounts::UserMount, SpecInput};
use berth_engine::Engine;

use crate::error::{io_at, Result};

pub struct Process<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    /// `default` (the host's network, as BuildKit's default), `host` or `none`.
    pub network: &'a str,
    pub mounts: Vec<UserMount>,
}

fn random_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    format!("build-{}", hex::encode(b))
}

/// Runs `p` on `rootfs`; each output line goes to `line`. Returns the exit code
/// (128 + signal for a killed process).
pub fn run(
    engine: &Engine,
    rootfs: &Path,
    p: Process<'_>,
    line: &mut dyn FnMut(&str),
) -> Result<i32> {
    let id = random_id();
    let dir = engine.layout().run_root.join("build").join(&id);
    std::fs::create_dir_all(&dir).map_err(io_at("creating", &dir))?;
    let result = run_in(engine, rootfs, &id, &dir, p, line);
    // `run` deletes the container when its process exits; a failure before that
    // may leave it, and the bundle always stays.
    let _ = berth_runtime::lifecycle::Container::load(&engine.layout().runtime_root(), &id)
        .map(|c| c.delete(true));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(
    engine: &Engine,
    rootfs: &Path,
    id: &str,
    dir: &Path,
    p: Process<'_>,
    line: &mut dyn FnMut(&str),
) -> Result<i32> {
    let mut s = Settings::default();
    s.config.entrypoint = Some(p.args);
    s.config.env = p.env;
    s.config.user = p.user;
    s.config.working_dir = p.workdir;
    s.config.hostname = "buildkitsandbox".into();
    s.host_config.network_mode = match p.network {
        "none" => "none".into(),
        _ => "host".into(),
    };
    berth_engine::etc_files::write_all(dir, &s, &berth_engine::etc_files::Networking::default())?;
    let spec = spec::build(SpecInput {
        id,
        settings: &s,
        rootfs,
        etc_dir: dir,
        user_mounts: p.mounts,
        cgroup_v2: berth_engine::start::cgroup_v2(),
        netns: None,
    })?;
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, serde_json::to_vec(&spec).unwrap_or_default())
        .map_err(io_at("writing", &cfg))?;
    let (reader, writer) = rustix::pipe::pipe()
        .map_err(|e| io_at("creating a pipe for", dir)(std::io::Error::from(e)))?;
    let writer2 = writer
        .try_clone()
        .map_err(io_at("duplicating a pipe for", dir))?;
    let argv = engine.runtime_argv();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .arg("run")
        .arg("--bundle")
        .arg(dir)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .spawn()
        .map_err(io_at("starting the runtime", &argv[0]))?;
    // The command holds the only write ends now: EOF comes when the process (and
    // whatever it left running with the pipe) is gone.
    let mut r = BufReader::new(std::fs::File::from(reader));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                line(text.trim_end_matches(['\n', '\r']));
            }
            Err(e) => return Err(io_at("reading the output of", dir)(e)),
        }
    }
    let st = child
        .wait()
        .map_err(io_at("waiting for the runtime of", dir))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
}
