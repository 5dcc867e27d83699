//! Invoking the runtime under test.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How to start the runtime: the binary plus the arguments that select the
/// runtime sub-command (`berth runtime ...`), empty for runc.
#[derive(Debug, Clone)]
pub struct RuntimeBin {
    pub bin: PathBuf,
    pub prefix: Vec<String>,
}

impl RuntimeBin {
    pub fn get() -> &'static RuntimeBin {
        static RT: OnceLock<RuntimeBin> = OnceLock::new();
        RT.get_or_init(|| match std::env::var_os("BERTH_TEST_RUNTIME") {
            Some(p) if !p.is_empty() => RuntimeBin {
                bin: PathBuf::from(p),
                prefix: Vec::new(),
            },
            _ => RuntimeBin {
                bin: PathBuf::from(env!("CARGO_BIN_EXE_berth")),
                prefix: vec!["runtime".into()],
            },
        })
    }

    /// Host-limit checks are berth's own design, not part of runc's
    /// contract, so those tests only assert against berth.
    pub fn is_berth(&self) -> bool {
        !self.prefix.is_empty()
            || self
                .bin
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("berth"))
    }
}

/// Result of one runtime invocation.
#[derive(Debug, Clone)]
pub struct Out {
    pub args: Vec<String>,
    /// `None` when killed by a signal (or by our timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the full invocation record unless it exited 0.
    #[track_caller]
    pub fn check(self) -> Self {
        assert!(self.ok(), "runtime call failed: {self}");
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> code {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// Options for one invocation beyond the arguments.
#[derive(Default)]
pub struct Call<'a> {
    pub stdin: Option<&'a [u8]>,
    pub cwd: Option<&'a Path>,
    pub timeout: Option<Duration>,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `<runtime> --root ROOT ARGS...`, capturing output through files
/// in `scratch`. Files rather than pipes: with `create`, `exec -d` and
/// `run -d` the container inherits our stdio, and a pipe would keep us
/// waiting for EOF until the container exits.
pub fn invoke<S: AsRef<OsStr>>(root: &Path, scratch: &Path, args: &[S], call: Call<'_>) -> Out {
    let mut all: Vec<&OsStr> = vec![OsStr::new("--root"), root.as_os_str()];
    all.extend(args.iter().map(|a| a.as_ref()));
    invoke_raw(scratch, &all, call)
}

/// Like [`invoke`] but passes `args` exactly as given (no `--root`), for
/// tests of where global options may appear.
pub fn invoke_raw<S: AsRef<OsStr>>(scratch: &Path, args: &[S], call: Call<'_>) -> Out {
    let rt = RuntimeBin::get();
    let mut cmd = Command::new(&rt.bin);
    cmd.args(&rt.prefix).args(args);
    let mut shown: Vec<String> = vec![rt.bin.display().to_string()];
    shown.extend(rt.prefix.iter().cloned());
    shown.extend(
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned()),
    );

    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = scratch.join(format!("call-{n}.stdout"));
    let err_path = scratch.join(format!("call-{n}.stderr"));
    cmd.stdout(File::create(&out_path).expect("stdout file"));
    cmd.stderr(File::create(&err_path).expect("stderr file"));
    if let Some(dir) = call.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(if call.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });

    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", rt.bin.display()));
    if let Some(input) = call.stdin {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input).expect("write runtime stdin");
    }

    let deadline = Instant::now() + call.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait runtime") {
            break st;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait killed runtime");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        args: shown,
        code: status.code(),
        stdout: read_lossy(&out_path),
        stderr: read_lossy(&err_path),
        timed_out,
    }
}

pub fn read_lossy(p: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(p) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}
