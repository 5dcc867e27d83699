//! `start`: mount the rootfs, prepare volumes and binds, write the bundle and hand the
//! container to a new monitor, which runs the runtime and owns the container from then
//! on. The caller either waits for the start (detached) or attaches first.

use std::fs;
use std::path::{Path, PathBuf};

use berth_monitor::config::{
    HealthConfig, HoldConfig, LogConfig, LogDriver, MonitorConfig, OnFailure, ProxyConfig,
    RestartName, RestartPolicy,
};
use berth_monitor::launch::{Event, Launcher};
use berth_safepath::Root;

use crate::engine::Engine;
use crate::error::{EngineError, IoContext, Result};
use crate::etc_files;
use crate::model::{MountSpec, MountType, Settings};
use crate::records::{self, Container};
use crate::spec::{self, mounts::UserMount, SpecInput};
use crate::state::{ContainerState, Status};
use crate::volumes;

/// Default log rotation: unlike Docker's unbounded default, logs are capped.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 10 << 20;
pub const DEFAULT_LOG_MAX_FILE: u32 = 3;
const DEFAULT_HEALTH_INTERVAL: i64 = 30_000_000_000;
const DEFAULT_HEALTH_TIMEOUT: i64 = 30_000_000_000;
const DEFAULT_HEALTH_RETRIES: i64 = 3;

pub enum Started {
    /// The container runs; its init's pid.
    Running(i32),
    /// It was already running.
    AlreadyRunning,
}

pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn oom_file(id: &str) -> PathBuf {
    if cgroup_v2() {
        PathBuf::from(format!("/sys/fs/cgroup/berth/{id}/memory.events"))
    } else {
        PathBuf::from(format!(
            "/sys/fs/cgroup/memory/berth/{id}/memory.oom_control"
        ))
    }
}

fn log_config(s: &Settings, path: PathBuf) -> Result<LogConfig> {
    let lc = &s.host_config.log_config;
    let driver = match lc.kind.as_str() {
        "json-file" | "" => LogDriver::JsonFile,
        "none" => LogDriver::None,
        other => {
            return Err(EngineError::invalid(
                format!("log driver {other:?}"),
                "berth supports json-file and none",
            ))
        }
    };
    let mut max_size = DEFAULT_LOG_MAX_SIZE;
    let mut max_file = DEFAULT_LOG_MAX_FILE;
    for (k, v) in &lc.config {
        match k.as_str() {
            "max-size" => max_size = crate::parse::parse_size(v)? as u64,
            "max-file" => {
                max_file = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    EngineError::invalid(
                        format!("log option max-file={v}"),
                        "use a number of at least 1",
                    )
                })?
            }
            "compress" | "labels" | "env" | "tag" => {}
            _ => {
                return Err(EngineError::invalid(
                    format!("log option {k:?}"),
                    "json-file takes max-size and max-file",
                ))
            }
        }
    }
    Ok(LogConfig {
        driver,
        path,
        max_size,
        max_file,
    })
}

impl Engine {
    /// Mount sources for the container's volumes, binds and tmpfs mounts; new volumes
    /// get the image's content at their destination.
    fn user_mounts(&self, c: &Container, rootfs: &Path) -> Result<Vec<UserMount>> {
        let h = &c.settings.host_config;
        let mut out = Vec::new();
        let root = Root::open(rootfs).map_err(|e| {
            EngineError::invalid(
                format!("root filesystem {}", rootfs.display()),
                e.to_string(),
            )
        })?;
        for v in &c.settings.volume_mounts {
            let data = volumes::data_dir(&self.layout().volumes_dir(), &v.name);
            if !data.is_dir() {
                return Err(EngineError::NoSuchVolume(v.name.clone()));
            }
            if !v.no_copy {
                // Resolved inside the rootfs: a symlink in the image cannot point the
                // copy at the host.
                if let Ok(fd) = root.resolve(Path::new(&v.destination)) {
                    if let Ok(real) = berth_safepath::fd_real_path(std::os::fd::AsFd::as_fd(&fd)) {
                        volumes::populate(&data, &real)?;
                    }
                }
            }
            out.push(UserMount {
                destination: v.destination.clone(),
                kind: MountType::Volume,
                source: data.to_string_lossy().into_owned(),
                read_only: v.read_only,
                propagation: String::new(),
                tmpfs_size: 0,
                tmpfs_mode: 0,
            });
        }
        for m in &h.mounts {
            match m.kind {
                MountType::Volume => {}
                MountType::Bind => {
                    let src = Path::new(&m.source);
                    if !src.exists() {
                        if m.create_host_path {
                            fs::create_dir_all(src)
                                .ctx(|| format!("creating bind source {}", src.display()))?;
                        } else {
                            return Err(EngineError::invalid(
                                format!("mount {}", m.target),
                                format!("bind source path does not exist: {}", m.source),
                            ));
                        }
                    }
                    out.push(UserMount::from_spec(m, m.source.clone()));
                }
                MountType::Tmpfs => out.push(UserMount::from_spec(m, String::new())),
            }
        }
        for (target, opts) in &h.tmpfs {
            let spec: MountSpec = crate::parse::parse_tmpfs(&if opts.is_empty() {
                target.clone()
            } else {
                format!("{target}:{opts}")
            })?;
            out.push(UserMount::from_spec(&spec, String::new()));
        }
        // Docker creates the working directory when the image lacks it.
        let wd = &c.settings.config.working_dir;
        if !wd.is_empty() && wd != "/" {
            root.mkdir_all(Path::new(wd), 0o755).map_err(|e| {
                EngineError::invalid(format!("working directory {wd}"), e.to_string())
            })?;
        }
        Ok(out)
    }

    fn monitor_config(
        &self,
        c: &Container,
        spec: &serde_json::Value,
        attach: bool,
        (proxies, holds): (Vec<ProxyConfig>, Vec<HoldConfig>),
    ) -> Result<MonitorConfig> {
        let s = &c.settings;
        let run_dir = self.layout().run_dir(&c.id);
        let healthcheck = match &s.config.healthcheck {
            Some(h) if !h.disabled() => match spec::health_process(spec, &h.test) {
                Some(p) => {
                    let file = run_dir.join("health.json");
                    fs::write(&file, p.to_string())
                        .ctx(|| format!("writing {}", file.display()))?;
                    let or = |v: i64, d: i64| if v > 0 { v } else { d } as u64;
                    Some(HealthConfig {
                        process_file: file,
                        interval_ns: or(h.interval, DEFAULT_HEALTH_INTERVAL),
                        timeout_ns: or(h.timeout, DEFAULT_HEALTH_TIMEOUT),
                        start_period_ns: or(h.start_period, 0),
                        start_interval_ns: or(h.start_interval, 0),
                        retries: or(h.retries, DEFAULT_HEALTH_RETRIES) as u32,
                        on_failure: health_action(&s.host_config.health_on_failure)?,
                    })
                }
                None => None,
            },
            _ => None,
        };
        let rp = &s.host_config.restart_policy;
        Ok(MonitorConfig {
            id: c.id.clone(),
            runtime: self.runtime_argv(),
            bundle: run_dir.clone(),
            run_dir: run_dir.clone(),
            tty: s.config.tty,
            stdin: s.config.open_stdin,
            log: log_config(s, self.layout().log_path(&c.id))?,
            restart: RestartPolicy {
                name: restart_name(&rp.name)?,
                max_retries: rp.maximum_retry_count.max(0) as u32,
            },
            healthcheck,
            wait_for_attach: attach,
            oom_file: Some(oom_file(&c.id)),
            cleanup: vec![
                self.exe().to_string_lossy().into_owned(),
                "--root".into(),
                self.layout().store_root.to_string_lossy().into_owned(),
                "--runroot".into(),
                self.layout().run_root.to_string_lossy().into_owned(),
                "container".into(),
                "cleanup".into(),
                c.id.clone(),
            ],
            proxies,
            holds,
        })
    }

    /// Starts a created or exited container. With `attach`, the monitor waits for one
    /// attach client before starting the process; the caller connects, then calls
    /// [`Engine::finish_start`]. The container returned is the record as found before
    /// the start; `find` reads its live state.
    pub fn start(&self, key: &str, attach: bool) -> Result<(Container, Option<Launcher>)> {
        let c = self.find(key)?;
        if c.state.status.is_active() {
            return Ok((c, None));
        }
        // A previous run's monitor may still be cleaning up (unmounting): let it end
        // first so it cannot undo what this start sets up.
        if !self.wait_monitor_gone(&c.id, std::time::Duration::from_secs(30)) {
            return Err(EngineError::state(
                &c.id,
                "has a monitor from its previous run that does not exit",
            ));
        }
        let image = self.images().resolve(&c.image_id)?;
        let snap = self.mount_rootfs(&c, &image)?;
        let user_mounts = self.user_mounts(&c, &snap.rootfs)?;
        let dir = self.layout().container_dir(&c.id);
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        let joined = self.joined_network(&c)?;
        let endpoints = self.connect(&c)?;
        // From here until the monitor owns the container (its cleanup disconnects),
        // a failure must undo the connection.
        let prepared = (|| {
            // Sharing another container's network means sharing its /etc files too.
            let etc_dir = match &joined {
                Some((_, other_dir)) => other_dir.clone(),
                None => {
                    etc_files::write_all(&dir, &c.settings, &self.etc_networking(&endpoints))?;
                    dir.clone()
                }
            };
            let netns = match &joined {
                Some((ns, _)) => Some(ns.as_path()),
                None => endpoints.first().map(|e| e.netns.as_path()),
            };
            spec::build(SpecInput {
                id: &c.id,
                settings: &c.settings,
                rootfs: &snap.rootfs,
                etc_dir: &etc_dir,
                user_mounts,
                cgroup_v2: cgroup_v2(),
                netns,
            })
        })();
        let spec = match prepared {
            Ok(s) => s,
            Err(e) => {
                self.disconnect(&c);
                return Err(e);
            }
        };
        let run_dir = self.layout().run_dir(&c.id);
        let _ = fs::remove_dir_all(&run_dir);
        fs::create_dir_all(&run_dir).ctx(|| format!("creating {}", run_dir.display()))?;
        // Ports are published to the first network's address, as Docker's are.
        let proxies = match endpoints.first() {
            Some(ep) => match self.publish(&c, ep) {
                Ok(p) => p,
                Err(e) => {
                    self.disconnect(&c);
                    return Err(e);
                }
            },
            None => Default::default(),
        };
        // A left-over runtime state (a killed monitor) would make the runtime refuse
        // the id.
        if let Ok(old) =
            berth_runtime::lifecycle::Container::load(&self.layout().runtime_root(), &c.id)
        {
            let _ = old.delete(true);
        }
        let cfg_path = run_dir.join("config.json");
        fs::write(
            &cfg_path,
            serde_json::to_vec_pretty(&spec).unwrap_or_default(),
        )
        .ctx(|| format!("writing {}", cfg_path.display()))?;
        let mcfg = self.monitor_config(&c, &spec, attach, proxies)?;
        let mpath = run_dir.join("monitor.json");
        fs::write(&mpath, serde_json::to_vec(&mcfg).unwrap_or_default())
            .ctx(|| format!("writing {}", mpath.display()))?;
        // Recorded as running before the monitor exists: the monitor's cleanup writes
        // the final state, and must never be overwritten by this one.
        let running = ContainerState {
            status: Status::Running,
            restart_count: c.state.restart_count,
            ..ContainerState::default()
        };
        records::update_state(self.db(), &c.id, &running)?;
        let mut launcher = match berth_monitor::launch::launch(self.monitor_exe(), &mpath) {
            Ok(l) => l,
            Err(e) => {
                let msg = format!("starting the monitor {}: {e}", self.monitor_exe().display());
                self.disconnect(&c);
                self.record_failure(&c, &msg, 125);
                return Err(EngineError::StartFailed {
                    message: msg,
                    code: 125,
                });
            }
        };
        match launcher.next_event() {
            Ok(Event::Listening) => {}
            Ok(other) => return self.start_outcome(&c, Ok(other)).map(|_| (c, None)),
            Err(e) => return self.start_outcome(&c, Err(e)).map(|_| (c, None)),
        }
        if attach {
            return Ok((c, Some(launcher)));
        }
        let ev = launcher.next_event();
        self.start_outcome(&c, ev)?;
        Ok((c, None))
    }

    /// After an attached start: waits for the monitor to report the start.
    pub fn finish_start(&self, c: &Container, launcher: &mut Launcher) -> Result<Started> {
        self.start_outcome(c, launcher.next_event())
    }

    fn start_outcome(&self, c: &Container, ev: std::io::Result<Event>) -> Result<Started> {
        match ev {
            Ok(Event::Started { pid }) => Ok(Started::Running(pid)),
            Ok(Event::Listening) => Ok(Started::AlreadyRunning),
            Ok(Event::Failed { error, exit_code }) => {
                // The monitor ran the cleanup, which recorded the failure.
                Err(EngineError::StartFailed {
                    message: error,
                    code: exit_code,
                })
            }
            Err(e) => {
                let msg = format!(
                    "the monitor of container {} failed before the start: {e} (see {})",
                    c.short_id(),
                    self.layout().run_dir(&c.id).display()
                );
                self.record_failure(c, &msg, 125);
                Err(EngineError::StartFailed {
                    message: msg,
                    code: 125,
                })
            }
        }
    }

    fn record_failure(&self, c: &Container, msg: &str, code: i32) {
        let st = ContainerState {
            status: Status::Created,
            exit_code: code,
            error: msg.to_string(),
            ..ContainerState::default()
        };
        let _ = records::update_state(self.db(), &c.id, &st);
    }
}

impl Engine {
    /// For `--network container:ID`: the other container's network namespace (its
    /// namespace file when berth made one, else its init's) and its /etc files'
    /// directory. The other container must be running.
    fn joined_network(&self, c: &Container) -> Result<Option<(PathBuf, PathBuf)>> {
        let Some(other) = c
            .settings
            .host_config
            .network_mode
            .strip_prefix("container:")
        else {
            return Ok(None);
        };
        let o = self.find(other)?;
        if !o.state.status.is_active() || o.state.pid <= 0 {
            return Err(EngineError::state(
                &c.id,
                format!(
                    "cannot join the network of container {}: it is not running",
                    o.short_id()
                ),
            ));
        }
        let file = self.layout().run_root.join("netns").join(&o.id);
        let ns = if file.exists() {
            file
        } else {
            PathBuf::from(format!("/proc/{}/ns/net", o.state.pid))
        };
        Ok(Some((ns, self.layout().container_dir(&o.id))))
    }
}

fn restart_name(n: &str) -> Result<RestartName> {
    match n {
        "" | "no" => Ok(RestartName::No),
        "on-failure" => Ok(RestartName::OnFailure),
        "always" => Ok(RestartName::Always),
        "unless-stopped" => Ok(RestartName::UnlessStopped),
        _ => Err(EngineError::invalid(
            format!("restart policy {n:?}"),
            "use no, on-failure, always or unless-stopped",
        )),
    }
}

fn health_action(a: &str) -> Result<OnFailure> {
    match a {
        "" | "none" => Ok(OnFailure::None),
        "kill" => Ok(OnFailure::Kill),
        "restart" => Ok(OnFailure::Restart),
        _ => Err(EngineError::invalid(
            format!("--health-on-failure {a:?}"),
            "use none, kill or restart",
        )),
    }
}
