//! RUN: its command line (shell or exec form, heredocs), its `--mount`s, its network,
//! its cache key, and the process on the step's snapshot.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use berth_dockerfile::{CommandLine, Instruction, Mount, MountType, NetworkMode, Run};
use berth_engine::fscopy::Owner;
use berth_engine::model::MountType as EngineMount;
use berth_engine::spec::mounts::UserMount;
use serde_json::json;

use super::cachemount;
use super::run::{self, Process};
use super::step::{step_key, Mounted};
use super::{Builder, SecretSource, State};
use crate::error::{io_at, BuildError, Result};

/// Lines of a failed RUN's output shown with the error.
const TAIL: usize = 10;

/// A name no other step of this process uses at the same time (stages run side
/// by side).
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn bind(dest: &str, source: &Path, read_only: bool) -> UserMount {
    UserMount {
        destination: dest.to_string(),
        kind: EngineMount::Bind,
        source: source.to_string_lossy().into_owned(),
        read_only,
        propagation: String::new(),
        tmpfs_size: 0,
        tmpfs_mode: 0,
    }
}

/// The argv of the RUN: exec form as is; shell form under SHELL, with heredoc
/// bodies appended so the shell reads them (a lone heredoc is the script itself,
/// run by its `#!` interpreter when it has one).
fn argv(st: &State, r: &Run) -> Result<(Vec<String>, Option<String>)> {
    match &r.command {
        CommandLine::Exec(v) => Ok((v.clone(), None)),
        CommandLine::Shell(s) if r.heredocs.is_empty() => {
            let mut a = st.shell();
            a.push(s.clone());
            Ok((a, None))
        }
        CommandLine::Shell(s) => {
            let lone = r.heredocs.len() == 1 && s.trim() == format!("<<{}", r.heredocs[0].name)
                || r.heredocs.len() == 1 && s.trim() == format!("<<-{}", r.heredocs[0].name);
            if lone && r.heredocs[0].content.starts_with("#!") {
                // Written into the root and run directly; removed before the diff.
                let name = format!("berth-heredoc-{}", std::process::id());
                return Ok((
                    vec![format!("/{name}")],
                    Some(r.heredocs[0].content.clone()),
                ));
            }
            if lone {
                let mut a = st.shell();
                a.push(r.heredocs[0].content.clone());
                return Ok((a, None));
            }
            let mut script = s.clone();
            for h in &r.heredocs {
                script.push('\n');
                script.push_str(&h.content);
                if !h.content.ends_with('\n') {
                    script.push('\n');
                }
                script.push_str(&h.name);
            }
            let mut a = st.shell();
            a.push(script);
            Ok((a, None))
        }
    }
}

impl Builder<'_> {
    fn run_network(&self, r: &Run) -> String {
        match r.network {
            Some(NetworkMode::None) => "none".into(),
            Some(NetworkMode::Host) => "host".into(),
            Some(NetworkMode::Default) | None => {
                if self.opts.network.is_empty() {
                    "default".into()
                } else {
                    self.opts.network.clone()
                }
            }
        }
    }

    /// The environment of the process: the image's ENV, and the ARGs in scope
    /// (which ENV overrides), as Docker passes build args to RUN.
    fn run_env(&mut self, st: &State) -> Vec<String> {
        let env = st.env_list();
        // The proxy ARGs reach RUN from --build-arg without a declaration (and stay
        // out of the image), as in Docker.
        let mut args = st.args.clone();
        for p in berth_dockerfile::PROXY_ARGS {
            if let Some(v) = self.opts.build_args.get(p) {
                self.use_arg(p);
                args.entry(p.to_string()).or_insert_with(|| v.clone());
            }
        }
        let mut out: Vec<String> = args
            .iter()
            .filter(|(k, _)| {
                !env.iter()
                    .any(|e| e.split_once('=').is_some_and(|p| p.0 == *k))
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.extend(env);
        out
    }

    pub(crate) fn run_step(
        &mut self,
        st: &mut State,
        ins: &Instruction,
        r: &Run,
        title: &str,
    ) -> Result<()> {
        let step = ins.original.clone();
        let mut mounts: Vec<Mount> = Vec::new();
        for m in &r.mounts {
            let vars = st.vars();
            let esc = self.escape();
            let m = m
                .expand(&mut |w| berth_dockerfile::expand_word(w, &vars, esc))
                .map_err(|e| BuildError::Step {
                    step: step.clone(),
                    why: e.to_string(),
                })?;
            mounts.push(m);
        }
        let network = self.run_network(r);
        let workdir = st.workdir();
        let user = st.raw["config"]["User"].as_str().unwrap_or("").to_string();
        let env = self.run_env(st);
        let (args, script) = argv(st, r)?;
        // What the result depends on. Secrets are keyed by id and place only.
        let mut mount_keys = Vec::new();
        for m in &mounts {
            let from_key = match &m.from {
                Some(f) => Some(self.source_key(f, &step)?),
                None => None,
            };
            mount_keys.push(json!({"spec": m.spec, "from": from_key}));
        }
        let key = step_key(
            &st.key,
            &json!({"op": "run", "args": args, "env": env, "user": user, "workdir": workdir,
                    "network": network, "mounts": mount_keys,
                    "script": script}),
        );
        let v = self.progress.begin(title);
        let parent = st.diff_ids.clone();
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut code = 0;
        let outcome = {
            let mut action = |b: &mut Builder<'_>, rootfs: &Path| -> Result<()> {
                // A foreign platform's programs run only through a binfmt handler;
                // say so here rather than let the kernel answer "exec format error".
                crate::platform::runner(&b.platform).map_err(|why| BuildError::Step {
                    step: step.clone(),
                    why,
                })?;
                let mut held: Vec<Mounted<'_>> = Vec::new();
                let mut user_mounts = Vec::new();
                let mut created = Vec::new();
                let mut secret_files = Vec::new();
                let mut scratch_binds: Vec<PathBuf> = Vec::new();
                let mut secret_env = Vec::new();
                // Cache mounts first, each step taking them in the same order (by
                // id), so two steps locking the same caches never wait in a circle.
                let mut by_id: Vec<(String, usize)> = mounts
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.kind == MountType::Cache)
                    .map(|(k, m)| {
                        let id = m.id.clone().or_else(|| m.target.clone());
                        (id.unwrap_or_default(), k)
                    })
                    .collect();
                by_id.sort();
                let mut caches = HashMap::new();
                let store_root = b.engine.images().root().to_path_buf();
                for (id, k) in by_id {
                    let m = &mounts[k];
                    // A new cache starts as a copy of `from`'s `source`.
                    let mut seed = |dir: &Path| -> Result<()> {
                        let Some(f) = &m.from else {
                            return Ok(());
                        };
                        let layers = b.source_layers(f, &step)?;
                        let mounted = b.mount(&layers)?;
                        let src = inside(&mounted.rootfs, m.source.as_deref().unwrap_or("/"))?;
                        berth_engine::fscopy::copy_tree(&src, dir, Owner::Keep)?;
                        Ok(())
                    };
                    caches.insert(k, cachemount::open(&store_root, &id, m, &mut seed)?);
                }
                for (k, m) in mounts.iter().enumerate() {
                    let target = m.target.clone().unwrap_or_default();
                    if let Some(top) = first_missing(rootfs, &target) {
                        created.push((rootfs.join(target.trim_start_matches('/')), top));
                    }
                    match m.kind {
                        MountType::Cache => {
                            let dir = &caches[&k].path;
                            user_mounts.push(bind(&target, dir, m.readonly));
                        }
                        MountType::Tmpfs => user_mounts.push(UserMount {
                            destination: target.clone(),
                            kind: EngineMount::Tmpfs,
                            source: String::new(),
                            read_only: false,
                            propagation: String::new(),
                            tmpfs_size: m.size.unwrap_or(0) as i64,
                            tmpfs_mode: 0,
                        }),
                        MountType::Bind => {
                            let base = match &m.from {
                                None => b.ctx.dir().to_path_buf(),
                                Some(f) => {
                                    let diff_ids = b.source_layers(f, &step)?;
                                    let mounted = b.mount(&diff_ids)?;
                                    let p = mounted.rootfs.clone();
                                    held.push(mounted);
                                    p
                                }
                            };
                            let src = m.source.clone().unwrap_or_default();
                            let root = berth_safepath::Root::open(&base)
                                .map_err(crate::error::path_err(format!("bind source {src}")))?;
                            let fd = root
                                .open_at(
                                    Path::new(&src),
                                    rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
                                    0,
                                )
                                .map_err(crate::error::path_err(format!("bind source {src}")))?;
                            let real = berth_safepath::fd_real_path(std::os::fd::AsFd::as_fd(&fd))
                                .map_err(crate::error::path_err(format!("bind source {src}")))?;
                            if m.readonly {
                                user_mounts.push(bind(&target, &real, true));
                            } else {
                                // Writable, as BuildKit's: the step writes to a copy
                                // that is thrown away, never to the context or stage.
                                let scratch = b
                                    .engine
                                    .layout()
                                    .run_root
                                    .join("build-binds")
                                    .join(unique());
                                fs::create_dir_all(&scratch)
                                    .map_err(io_at("creating", &scratch))?;
                                let copy = scratch.join("b");
                                berth_engine::fscopy::copy_entry(&real, &copy, Owner::Keep)?;
                                user_mounts.push(bind(&target, &copy, false));
                                scratch_binds.push(scratch);
                            }
                        }
                        MountType::Secret => {
                            let id = m.id.clone().unwrap_or_default();
                            let content = match b.opts.secrets.get(&id) {
                                Some(SecretSource::File(p)) => {
                                    Some(fs::read(p).map_err(io_at("reading secret", p))?)
                                }
                                Some(SecretSource::Env(var)) => {
                                    std::env::var(var).ok().map(String::into_bytes)
                                }
                                None => None,
                            };
                            let Some(content) = content else {
                                if m.required {
                                    return Err(BuildError::Step {
                                        step: step.clone(),
                                        why: format!("secret {id} is required: pass --secret id={id},src=FILE"),
                                    });
                                }
                                continue;
                            };
                            if let Some(var) = &m.env {
                                secret_env
                                    .push(format!("{var}={}", String::from_utf8_lossy(&content)));
                            }
                            if target.is_empty() {
                                continue;
                            }
                            let dir = b.engine.layout().run_root.join("build-secrets");
                            fs::create_dir_all(&dir).map_err(io_at("creating", &dir))?;
                            let f = dir.join(format!("{id}-{}", unique()));
                            fs::write(&f, &content).map_err(io_at("writing", &f))?;
                            use std::os::unix::fs::PermissionsExt;
                            let _ = fs::set_permissions(
                                &f,
                                fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
                            );
                            let _ = std::os::unix::fs::chown(&f, m.uid, m.gid);
                            secret_files.push(f.clone());
                            user_mounts.push(bind(&target, &f, true));
                        }
                        MountType::Ssh => {
                            return Err(BuildError::Step {
                                step: step.clone(),
                                why: "RUN --mount=type=ssh is not supported yet".into(),
                            })
                        }
                    }
                }
                if let Some(content) = &script {
                    let name = args[0].trim_start_matches('/');
                    let p = rootfs.join(name);
                    fs::write(&p, content).map_err(io_at("writing", &p))?;
                    use std::os::unix::fs::PermissionsExt;
                    let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o755));
                    created.push((p.clone(), p.clone()));
                }
                let mut env = env.clone();
                env.append(&mut secret_env);
                let progress = b.progress;
                let res = run::run(
                    b.engine,
                    rootfs,
                    Process {
                        args: args.clone(),
                        env,
                        user: user.clone(),
                        workdir: workdir.clone(),
                        network: &network,
                        mounts: user_mounts,
                    },
                    &mut |l: &str| {
                        progress.line(&v, l);
                        if tail.len() == TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(l.to_string());
                    },
                );
                for f in secret_files {
                    let _ = fs::remove_file(f);
                }
                for d in scratch_binds {
                    let _ = fs::remove_dir_all(d);
                }
                drop(held);
                drop(caches);
                // Mount points and scripts this step made are not part of its layer.
                for (leaf, top) in created.iter().rev() {
                    remove_made(leaf, top);
                }
                code = res?;
                if code != 0 {
                    return Err(BuildError::RunFailed {
                        step: format!("[{} {}/{}] RUN", st.label, st.step, st.total),
                        command: args.join(" "),
                        code,
                    });
                }
                Ok(())
            };
            self.fs_step(&parent, &key, &mut action)
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.progress.error(&v, &e.to_string());
                if code != 0 {
                    let tail: Vec<String> = tail.into_iter().collect();
                    self.progress.failure(title, &tail);
                }
                return Err(e);
            }
        };
        let shown = match &r.command {
            CommandLine::Shell(_) => args.join(" "),
            CommandLine::Exec(a) => a.join(" "),
        };
        let created_by = format!("RUN {}{shown} # buildkit", arg_prefix(st));
        self.finish_step(st, v, key, outcome, &created_by);
        Ok(())
    }
}

/// BuildKit's `|N K=V ... ` before a RUN's command in its history entry: every ARG
/// the stage declared so far, once each, valued by ENV when ENV has the name.
fn arg_prefix(st: &State) -> String {
    if st.arg_decls.is_empty() {
        return String::new();
    }
    let env = st.env_list();
    // A redeclared ARG keeps its first place and takes its last value.
    let mut shown: Vec<(&str, &str)> = Vec::new();
    for (k, v) in &st.arg_decls {
        let from_env = env
            .iter()
            .find_map(|e| e.split_once('=').filter(|p| p.0 == k).map(|p| p.1));
        let v = from_env.or(v.as_deref()).unwrap_or("");
        match shown.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v,
            None => shown.push((k, v)),
        }
    }
    let mut out = format!("|{} ", shown.len());
    for (k, v) in shown {
        out.push_str(&format!("{k}={v} "));
    }
    out
}

/// `path` resolved inside `root` (symlinks cannot lead out), as a host path.
fn inside(root: &Path, path: &str) -> Result<PathBuf> {
    let r = berth_safepath::Root::open(root)
        .map_err(crate::error::path_err(format!("mount source {path}")))?;
    let fd = r
        .open_at(
            Path::new(path.trim_start_matches('/')),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            0,
        )
        .map_err(crate::error::path_err(format!("mount source {path}")))?;
    berth_safepath::fd_real_path(std::os::fd::AsFd::as_fd(&fd))
        .map_err(crate::error::path_err(format!("mount source {path}")))
}

/// The first component of `target` missing under `rootfs`: what a mount point there
/// would make.
fn first_missing(rootfs: &Path, target: &str) -> Option<PathBuf> {
    let rel = target.trim_start_matches('/');
    if rel.is_empty() {
        return None;
    }
    let mut p = rootfs.to_path_buf();
    for c in Path::new(rel).components() {
        p.push(c);
        if fs::symlink_metadata(&p).is_err() {
            return Some(p);
        }
    }
    None
}

/// Removes what a step created only to mount or run something: `leaf`, then its
/// parents up to `top` (the first that did not exist before), while they are empty.
fn remove_made(leaf: &Path, top: &Path) {
    let mut p = leaf.to_path_buf();
    loop {
        if fs::remove_file(&p).or_else(|_| fs::remove_dir(&p)).is_err() || p == top {
            break;
        }
        match p.parent() {
            Some(parent) => p = parent.to_path_buf(),
            None => break,
        }
    }
}
