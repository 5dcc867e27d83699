//! `create`: everything up to a container whose init waits for `start`.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use berth_cgroups::Manager;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::channel::Msg;
use crate::config::{self, has_namespace};
use crate::error::{IoContext, Result, RuntimeError};
use crate::hooks::{self, Kind};
use crate::init::{self, InitCtx};
use crate::rootfs::CgroupView;
use crate::spawn::{self, Request};
use crate::state::{self, StateFile, Status};
use crate::{cgroup, namespaces, sys};

#[derive(Clone)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

pub struct Created {
    pub state: StateFile,
    /// The pty master when the process has a terminal and no console socket was given.
    pub pty_master: Option<OwnedFd>,
}

pub fn create(opts: &CreateOptions) -> Result<Created> {
    state::validate_id(&opts.id)?;
    // Relative to where the caller runs us, not to the bundle we chdir into below.
    let cwd = std::env::current_dir().ctx(|| "reading the working directory".into())?;
    let opts = &CreateOptions {
        pid_file: opts.pid_file.as_ref().map(|p| cwd.join(p)),
        ..opts.clone()
    };
    let bundle =
        fs::canonicalize(&opts.bundle).ctx(|| format!("bundle {}", opts.bundle.display()))?;
    let spec = config::load(&bundle)?;
    config::validate(&spec)?;
    let rootfs = config::rootfs(&bundle, &spec)?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if opts.console_socket.is_some() && !terminal {
        return Err(RuntimeError::Usage(
            "--console-socket was given but process.terminal is false".into(),
        ));
    }
    // Relative mount sources and hook paths are relative to the bundle, as in runc.
    std::env::set_current_dir(&bundle).ctx(|| format!("entering bundle {}", bundle.display()))?;

    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&opts.root)
        .ctx(|| format!("creating state root {}", opts.root.display()))?;
    let dir = state::container_dir(&opts.root, &opts.id);
    match fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RuntimeError::Exists(opts.id.clone()))
        }
        Err(e) => return Err(e).ctx(|| format!("creating {}", dir.display())),
    }
    let mut guard = Cleanup {
        dir: dir.clone(),
        cgroup: None,
        pid: 0,
        armed: true,
    };
    let result = create_in(opts, &bundle, spec, rootfs, &dir, &mut guard);
    if result.is_ok() {
        guard.armed = false;
    }
    result
}

/// Undoes a half-made container: nothing stays behind when `create` fails.
struct Cleanup {
    dir: PathBuf,
    cgroup: Option<Box<dyn Manager>>,
    pid: i32,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.pid > 0 {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::waitpid(self.pid, false);
        }
        if let Some(cg) = &self.cgroup {
            cgroup::kill_all_and_destroy(cg.as_ref());
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn create_in(
    opts: &CreateOptions,
    bundle: &Path,
    spec: Spec,
    rootfs: PathBuf,
    dir: &Path,
    guard: &mut Cleanup,
) -> Result<Created> {
    let fifo = dir.join(state::EXEC_FIFO);
    sys::mkfifo(&fifo, 0o622).ctx(|| format!("creating {}", fifo.display()))?;
    // Exactly 0622 whatever the umask: an init that is not host root (user namespace)
    // must still be able to open it for writing.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .ctx(|| format!("setting the mode of {}", fifo.display()))?;
    let (cgroup_root, cgroups_path) = cgroup::location(&spec, &opts.id);
    let mut st = StateFile {
        id: opts.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.to_path_buf(),
        rootfs: rootfs.clone(),
        created: state::now_rfc3339(),
        owner: state::current_owner(),
        cgroup_root: cgroup_root.clone(),
        cgroups_path: cgroups_path.clone(),
        config: spec,
    };
    st.save(&opts.root)?;
    let spec = &st.config;

    let cg = cgroup::open(&cgroup_root, &cgroups_path)?;
    cg.create()?;
    guard.cgroup = Some(cgroup::open(&cgroup_root, &cgroups_path)?);
    if let Some(res) = cgroup::effective_resources(spec) {
        cg.apply(&res)?;
    }
    let view = CgroupView {
        v1: cg.v1_mounts(),
        v2: cg.v2_path(),
        own_namespace: has_namespace(spec, LinuxNamespaceType::Cgroup),
    };

    let console_socket = opts
        .console_socket
        .as_deref()
        .map(crate::console::connect_socket)
        .transpose()?;
    let state_dir = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .ctx(|| format!("opening {}", dir.display()))?;
    let linux = spec.linux().as_ref();
    let req = Request {
        plan: namespaces::plan(&config::namespace_kinds(spec))?,
        uid_maps: linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default(),
        gid_maps: linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default(),
        time_offsets: time_offsets(spec),
        cgroup: Some(cg.as_ref()),
    };
    let hook_state = |pid: i32| {
        let mut s = st.clone();
        s.pid = pid;
        serde_json::to_vec(&s.output(Status::Creating)).unwrap_or_default()
    };
    let ctx = InitCtx {
        spec,
        rootfs: &rootfs,
        cgroups: view,
        console_socket,
        state_dir,
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        seccomp_notify: crate::process::NotifyTarget::connect(
            spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
        )?,
        seccomp: spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| crate::seccomp::prepare(s, Some(&crate::seccomp::cache_dir(&opts.root))))
            .transpose()?,
    };
    let spawned = spawn::spawn(req, move |chan| init::run(ctx, chan))?;
    guard.pid = spawned.pid;
    let state_json = hook_state(spawned.pid);
    let mut pty_master = None;
    loop {
        match spawned
            .chan
            .recv()
            .ctx(|| "reading from the container init".into())?
        {
            Some((Msg::RuntimeHooks, _)) => {
                let r = hooks::run_all(Kind::Prestart, spec.hooks().as_ref(), &state_json)
                    .and_then(|()| {
                        hooks::run_all(Kind::CreateRuntime, spec.hooks().as_ref(), &state_json)
                    });
                if let Err(e) = r {
                    spawned.chan.send_error(&e);
                    return Err(e);
                }
                spawned
                    .chan
                    .send(&Msg::HooksDone(
                        String::from_utf8_lossy(&state_json).into_owned(),
                    ))
                    .ctx(|| "signalling hooks done".into())?;
            }
            Some((Msg::PtyMaster, fd)) => pty_master = fd,
            Some((Msg::Ready, _)) => break,
            Some((Msg::Error(e), _)) => return Err(RuntimeError::Init(e)),
            Some((other, _)) => {
                return Err(RuntimeError::Init(format!("unexpected message {other:?}")))
            }
            None => {
                return Err(RuntimeError::Init(
                    "the container init exited during setup".into(),
                ))
            }
        }
    }
    st.pid = spawned.pid;
    st.pid_start = state::process_start_time(spawned.pid).unwrap_or(0);
    st.save(&opts.root)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, spawned.pid)?;
    }
    Ok(Created {
        state: st,
        pty_master,
    })
}

fn time_offsets(spec: &Spec) -> Option<String> {
    let offsets = spec.linux().as_ref()?.time_offsets().clone()?;
    if offsets.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (clock, off) in offsets {
        out.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    Some(out)
}

/// Written to a temp file and renamed, so whoever polls for it never reads a partial pid.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    fs::write(&tmp, pid.to_string()).ctx(|| format!("writing pid file {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("writing pid file {}", path.display()))
}
