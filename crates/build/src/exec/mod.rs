//! The executor: a parsed Dockerfile built into an image.
//!
//! Only the stages the target needs are built, each once; those that do not need
//! each other are built at the same time (see [`schedule`]). Metadata instructions (ENV, LABEL, CMD, ...) edit the stage's
//! image config and add an empty-layer history entry, as BuildKit records them;
//! RUN, COPY, ADD and WORKDIR are steps on an overlay snapshot whose changes become
//! a layer (see [`step`]), looked up first in the build cache by a key made of the
//! parent's key and everything the step depends on.

pub mod cache;
pub mod cache_backend;
mod cache_blob;
pub mod cache_format;
mod cache_io;
pub mod cache_spec;
mod cachemount;
mod gofmt;
mod instructions;
mod progress;
mod run;
mod runstep;
mod schedule;
mod step;
mod transfer;
mod tty;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use berth_dockerfile::{expand_word, Dockerfile, StageRef};
use berth_engine::Engine;
use berth_image::{ImageRecord, ImageRef};
use serde_json::{json, Value};

pub use cache_io::{CacheExport, CacheOptions};
pub use progress::Progress;

use crate::checksum::StatCache;
use crate::context::BuildContext;
use crate::error::{BuildError, Result};
use crate::platform::Platform;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where a `--secret id=..` comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tags: Vec<ImageRef>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: BTreeMap<String, String>,
    /// RUN's network unless a step says otherwise: `default` (the host's), `host`
    /// or `none`.
    pub network: String,
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--source-date-epoch` / `SOURCE_DATE_EPOCH`: timestamps in the image and its
    /// layers, for reproducible digests.
    pub source_date_epoch: Option<i64>,
    /// `--cache-from` / `--cache-to`.
    pub cache: CacheOptions,
    /// `--platform`: the target platform (the host's when `None`).
    pub platform: Option<Platform>,
}

/// Finds a base or `--from` image for a platform by name (pulling it if the caller
/// wishes), in the store of the engine handle it is given. Stages built at the same
/// time call it from their threads, one call at a time.
pub type ImageResolver<'a> = dyn Fn(&Engine, &str, &Platform) -> Result<ImageRecord> + Sync + 'a;

/// A built stage: its image config (as JSON) and layers.
#[derive(Debug, Clone)]
pub struct StageResult {
    pub raw: Value,
    pub diff_ids: Vec<String>,
    /// The cache key of its last file step (or of its base).
    pub key: String,
    pub created: String,
}

/// What the threads of one build share.
pub(crate) struct Shared<'a> {
    ctx: &'a BuildContext,
    opts: &'a BuildOptions,
    resolve: &'a ImageResolver<'a>,
    /// One image resolved at a time: two stages FROM the same missing image pull
    /// it once.
    resolving: Mutex<()>,
    file: Dockerfile,
    cache: cache::Cache,
    progress: Progress,
    stat: Mutex<StatCache>,
    used_args: Mutex<HashSet<String>>,
    stages: schedule::Stages,
    /// Cache import and export: the sources read, the steps taken by every stage.
    cache_io: Mutex<cache_io::Session>,
}

/// One thread's builder: its engine handle, and the stage it is building.
pub struct Builder<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) ctx: &'a BuildContext,
    pub(crate) opts: &'a BuildOptions,
    pub(crate) cache: &'a cache::Cache,
    pub(crate) progress: &'a Progress,
    pub(crate) file: &'a Dockerfile,
    shared: &'a Shared<'a>,
    /// This thread, for the stage table.
    worker: usize,
    /// The stage being built (for `--from` references, which may not name it).
    pub(crate) current: usize,
    /// That stage's platform: `FROM --platform`, or the build's target.
    pub(crate) platform: Platform,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The state of the stage being built.
pub(crate) struct State {
    pub raw: Value,
    pub diff_ids: Vec<String>,
    pub key: String,
    /// ARG values in scope (declared in this stage).
    pub args: BTreeMap<String, String>,
    /// Every ARG declaration of the stage in order, with its value (`None`: unset),
    /// for the `|N K=V` prefix BuildKit writes in RUN history entries.
    pub arg_decls: Vec<(String, Option<String>)>,
    /// CMD set in this stage (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// The time of the last step that ran (or of the base image).
    pub last_created: String,
    /// History entries of metadata instructions written before the stage's first
    /// file step: that step's time replaces theirs, as BuildKit dates them (so a
    /// `FROM scratch` + `LABEL` + `COPY` stage rebuilds to the same image).
    pub early_metadata: Option<Vec<usize>>,
    pub label: String,
    pub step: usize,
    pub total: usize,
}

impl State {
    pub fn config(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.raw["config"].is_object() {
            self.raw["config"] = json!({});
        }
        self.raw["config"].as_object_mut().expect("object")
    }

    pub fn env_list(&self) -> Vec<String> {
        self.raw["config"]["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What `$NAME` means here: the stage's ARGs, overridden by its ENV.
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut m = self.args.clone();
        for e in self.env_list() {
            if let Some((k, v)) = e.split_once('=') {
                m.insert(k.to_string(), v.to_string());
            }
        }
        m
    }

    pub fn workdir(&self) -> String {
        match self.raw["config"]["WorkingDir"].as_str() {
            Some(w) if !w.is_empty() => w.to_string(),
            _ => "/".to_string(),
        }
    }

    pub fn shell(&self) -> Vec<String> {
        match self.raw["config"]["Shell"].as_array() {
            Some(a) if !a.is_empty() => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => vec!["/bin/sh".into(), "-c".into()],
        }
    }

    /// A history entry for a metadata instruction (no layer), dated by the last
    /// file step.
    pub fn metadata_history(&mut self, created_by: &str) {
        let created = self.last_created.clone();
        self.history(created_by, true, &created);
        if let Some(early) = &mut self.early_metadata {
            early.push(self.raw["history"].as_array().map_or(0, |a| a.len() - 1));
        }
    }

    /// A file step's history entry; the first one also dates the metadata entries
    /// before it.
    pub fn file_history(&mut self, created_by: &str, empty: bool, created: &str) {
        self.history(created_by, empty, created);
        for i in self.early_metadata.take().unwrap_or_default() {
            if let Some(h) = self.raw["history"].get_mut(i) {
                h["created"] = json!(created);
            }
        }
    }

    fn history(&mut self, created_by: &str, empty: bool, created: &str) {
        let mut h = json!({"created": created, "created_by": created_by,
                           "comment": "buildkit.dockerfile.v0"});
        if empty {
            h["empty_layer"] = json!(true);
        }
        match self.raw["history"].as_array_mut() {
            Some(a) => a.push(h),
            None => self.raw["history"] = json!([h]),
        }
    }
}

fn rfc3339(epoch: Option<i64>) -> String {
    match epoch {
        None => berth_image::store::now(),
        Some(s) => {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.max(0) as u64);
            humantime::format_rfc3339_seconds(t).to_string()
        }
    }
}

/// TARGETPLATFORM and friends for `target`, BUILDPLATFORM and friends for the host.
fn platform_args(target: &Platform) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (side, p) in [("TARGET", target.clone()), ("BUILD", Platform::host())] {
        for (k, v) in platform_arg_values(&p) {
            m.insert(format!("{side}{k}"), v);
        }
    }
    m
}

/// `PLATFORM`, `OS`, `ARCH` and `VARIANT` of `p`, as BuildKit fills them in (arm64
/// with its default variant spelled out).
fn platform_arg_values(p: &Platform) -> [(&'static str, String); 4] {
    let variant = match (&p.variant, p.arch.as_str()) {
        (Some(v), _) => v.clone(),
        (None, "arm64") => "v8".into(),
        (None, _) => String::new(),
    };
    let full = if variant.is_empty() {
        format!("{}/{}", p.os, p.arch)
    } else {
        format!("{}/{}/{variant}", p.os, p.arch)
    };
    [
        ("PLATFORM", full),
        ("OS", p.os.clone()),
        ("ARCH", p.arch.clone()),
        ("VARIANT", variant),
    ]
}

impl<'a> Builder<'a> {
    pub(crate) fn new(engine: &'a Engine, shared: &'a Shared<'a>, worker: usize) -> Builder<'a> {
        Builder {
            engine,
            ctx: shared.ctx,
            opts: shared.opts,
            cache: &shared.cache,
            progress: &shared.progress,
            file: &shared.file,
            shared,
            worker,
            current: 0,
            platform: shared.opts.platform.clone().unwrap_or_else(Platform::host),
        }
    }

    /// A base or `--from` image for the current stage's platform, through the
    /// caller's resolver.
    pub(crate) fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let _one = lock(&self.shared.resolving);
        (self.shared.resolve)(self.engine, name, &self.platform)
    }

    /// The build's target platform.
    pub(crate) fn target_platform(&self) -> Platform {
        self.opts.platform.clone().unwrap_or_else(Platform::host)
    }

    /// The content hashes COPY's cache keys are made of, shared by the threads.
    pub(crate) fn stat(&self) -> MutexGuard<'_, StatCache> {
        lock(&self.shared.stat)
    }

    /// Notes that a `--build-arg` was used (else the build warns about it).
    pub(crate) fn use_arg(&self, name: &str) {
        lock(&self.shared.used_args).insert(name.to_string());
    }

    /// Fails when another stage failed: no new step starts after that.
    fn check_stopped(&self, label: &str) -> Result<()> {
        if self.shared.stages.stopped() {
            return Err(BuildError::Stopped {
                stage: label.to_string(),
            });
        }
        Ok(())
    }

    pub(crate) fn now(&self) -> String {
        rfc3339(self.opts.source_date_epoch)
    }

    pub(crate) fn escape(&self) -> char {
        self.file.escape()
    }

    /// The ARGs before the first FROM, with their `--build-arg` values.
    pub(crate) fn global_args(&self) -> Result<BTreeMap<String, String>> {
        // BuildKit's automatic platform ARGs: in scope for FROM lines, and for a
        // stage that declares them (`ARG TARGETARCH`) without a default.
        let mut m = platform_args(&self.target_platform());
        let decls: Vec<_> = self.file.global_arg_decls().cloned().collect();
        for d in decls {
            let v =
                match self.opts.build_args.get(&d.name) {
                    Some(v) => {
                        self.use_arg(&d.name);
                        Some(v.clone())
                    }
                    None => match &d.default {
                        Some(def) => Some(expand_word(def, &m, self.escape()).map_err(|e| {
                            BuildError::Step {
                                step: format!("ARG {}", d.name),
                                why: e.to_string(),
                            }
                        })?),
                        None => self.predefined_arg(&d.name),
                    },
                };
            if let Some(v) = v {
                m.insert(d.name, v);
            }
        }
        Ok(m)
    }

    /// The value of a predefined ARG declared without a default: the platform ARGs.
    pub(crate) fn predefined_arg(&self, name: &str) -> Option<String> {
        platform_args(&self.target_platform()).remove(name)
    }

    /// Which stage the build produces: `--target`, or the last one.
    fn target(&self) -> Result<usize> {
        match &self.opts.target {
            None => Ok(self.file.stages.len().saturating_sub(1)),
            Some(t) => {
                self.file
                    .stage_by_name(t)
                    .map(|s| s.index)
                    .ok_or_else(|| BuildError::Step {
                        step: format!("--target {t}"),
                        why: "no stage has that name".into(),
                    })
            }
        }
    }

    /// Stage `i`, which a step needs: built already, built now by this thread
    /// (with whatever it needs), or waited for while another thread builds it.
    pub(crate) fn stage(&mut self, i: usize) -> Result<StageResult> {
        let shared = self.shared;
        match shared.stages.claim(&shared.file, i, self.worker)? {
            schedule::Claim::Built(r) => Ok(r),
            schedule::Claim::Mine(claim) => {
                let r = self.build_claimed(i);
                claim.settle(r, &shared.file)
            }
        }
    }

    /// Builds stage `i`, which this thread has claimed.
    fn build_claimed(&mut self, i: usize) -> Result<StageResult> {
        let prev = std::mem::replace(&mut self.current, i);
        let prev_platform = self.platform.clone();
        let r = self.build_stage(i);
        self.current = prev;
        self.platform = prev_platform;
        r
    }

    fn build_stage(&mut self, i: usize) -> Result<StageResult> {
        let stage = self.file.stages[i].clone();
        let globals = self.global_args()?;
        let label = stage.name.clone().unwrap_or_else(|| format!("stage-{i}"));
        self.check_stopped(&label)?;
        let total = stage.instructions.len() + 1;
        let base =
            expand_word(&stage.base, &globals, self.escape()).map_err(|e| BuildError::Step {
                step: stage.original.clone(),
                why: e.to_string(),
            })?;
        self.platform = match &stage.platform {
            Some(p) => {
                let p = expand_word(p, &globals, self.escape()).map_err(|e| BuildError::Step {
                    step: stage.original.clone(),
                    why: e.to_string(),
                })?;
                Platform::parse(&p).map_err(|why| BuildError::Step {
                    step: stage.original.clone(),
                    why,
                })?
            }
            None => self.target_platform(),
        };
        let v = self
            .progress
            .begin(&format!("[{label} 1/{total}] FROM {base}"));
        let (raw, diff_ids, key) = match self.file.resolve_base(&base, i) {
            StageRef::Stage(j) => {
                let r = self.stage(j)?;
                (r.raw, r.diff_ids, r.key)
            }
            StageRef::Image(name) if name == "scratch" => {
                let mut raw = self.platform.config_fields();
                raw.insert("config".into(), json!({}));
                raw.insert("rootfs".into(), json!({"type": "layers", "diff_ids": []}));
                raw.insert("history".into(), json!([]));
                // Steps on an empty base differ only by the platform in the config.
                let key = if self.platform.is_host() && self.platform.variant.is_none() {
                    "scratch".to_string()
                } else {
                    format!("scratch {}", self.platform)
                };
                (Value::Object(raw), Vec::new(), key)
            }
            StageRef::Image(name) => {
                let img = self.resolve(&name)?;
                let cfg = self.engine.images().config(&img)?;
                let d = cfg.diff_ids()?;
                (cfg.raw, d, img.id.clone())
            }
        };
        self.progress.done(v);
        let last_created = match (self.opts.source_date_epoch, raw["created"].as_str()) {
            (None, Some(c)) => c.to_string(),
            _ => self.now(),
        };
        let mut st = State {
            last_created,
            early_metadata: Some(Vec::new()),
            raw,
            diff_ids,
            key,
            args: BTreeMap::new(),
            arg_decls: Vec::new(),
            cmd_set: false,
            label,
            step: 1,
            total,
        };
        // BuildKit gives every image a PATH.
        if !st.env_list().iter().any(|e| e.starts_with("PATH=")) {
            let mut env = st.env_list();
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
            st.config().insert("Env".into(), json!(env));
        }
        // A base image's ONBUILD triggers run first, then are not inherited.
        let triggers: Vec<String> = st.raw["config"]["OnBuild"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        st.config().remove("OnBuild");
        for t in triggers {
            let parsed = berth_dockerfile::parse(&format!("FROM scratch\n{t}\n"))?;
            for ins in parsed.stages[0].instructions.clone() {
                self.check_stopped(&st.label)?;
                self.apply(&mut st, &ins)?;
            }
        }
        for ins in &stage.instructions {
            st.step += 1;
            self.check_stopped(&st.label)?;
            self.apply(&mut st, ins)?;
        }
        Ok(StageResult {
            raw: st.raw,
            diff_ids: st.diff_ids,
            key: st.key,
            created: st.last_created,
        })
    }
}

/// Builds the Dockerfile of `ctx` and stores the image, tagged as `opts.tags` say.
pub fn build(
    engine: &Engine,
    ctx: &BuildContext,
    opts: &BuildOptions,
    resolve: &ImageResolver<'_>,
    progress: Progress,
) -> Result<ImageRecord> {
    let file = berth_dockerfile::parse_bytes(ctx.dockerfile_name(), ctx.dockerfile())?;
    let root = engine.images().root();
    let shared = Shared {
        ctx,
        opts,
        resolve,
        resolving: Mutex::new(()),
        file,
        cache: cache::Cache::open(root),
        progress,
        stat: Mutex::new(StatCache::load(&root.join("build-cache-stat"))),
        used_args: Mutex::new(HashSet::new()),
        stages: schedule::Stages::default(),
        cache_io: Mutex::new(cache_io::Session::default()),
    };
    step::empty_trash(engine.images());
    let b = Builder::new(engine, &shared, 0);
    let target = b.target()?;
    let plan = schedule::plan(&shared.file, target, &b.global_args()?)?;
    let r = schedule::run(engine, &shared, &plan)?;
    let _ = lock(&shared.stat).save();
    let used = lock(&shared.used_args).clone();
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !used.contains(*k) && !berth_dockerfile::is_predefined_arg(k))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        b.progress.warn(&format!(
            "one or more build-args [{}] were not consumed",
            names.join(" ")
        ));
    }
    let v = b.progress.begin("exporting to image");
    let mut raw = r.raw;
    if !opts.labels.is_empty() {
        if !raw["config"]["Labels"].is_object() {
            raw["config"]["Labels"] = json!({});
        }
        for (k, val) in &opts.labels {
            raw["config"]["Labels"][k] = json!(val);
        }
    }
    raw["rootfs"] = json!({"type": "layers", "diff_ids": r.diff_ids});
    raw["created"] = json!(r.created);
    if let Some(o) = raw.as_object_mut() {
        // Left over from a classic-builder base image; BuildKit does not write it.
        o.remove("container_config");
        o.remove("container");
    }
    let bytes = serde_json::to_vec(&raw).unwrap_or_default();
    let img = engine.images().add_image(&bytes, None, &opts.tags, None)?;
    b.progress
        .note(&v, &format!("writing image {} done", img.id));
    for t in &opts.tags {
        b.progress
            .note(&v, &format!("naming to {} done", t.canonical()));
    }
    b.progress.done(v);
    b.export_cache(target)?;
    b.progress.complete();
    Ok(img)
}

#[cfg(test)]
mod tests {
    #[test]
    fn platforms() {
        use super::Platform;
        let host = Platform::host();
        let a = super::platform_args(&host);
        assert_eq!(a["TARGETOS"], "linux");
        assert_eq!(a["TARGETARCH"], host.arch);
        assert_eq!(
            format!("{}/{}", a["BUILDOS"], a["BUILDARCH"]),
            host.to_string()
        );
        let arm = Platform::parse("linux/arm64").unwrap();
        let a = super::platform_args(&arm);
        assert_eq!(a["TARGETPLATFORM"], "linux/arm64/v8");
        assert_eq!(a["TARGETVARIANT"], "v8");
        assert_eq!(a["BUILDARCH"], host.arch);
        let a = super::platform_args(&Platform::parse("linux/s390x").unwrap());
        assert_eq!(a["TARGETPLATFORM"], "linux/s390x");
        assert_eq!(a["TARGETVARIANT"], "");
    }

    #[test]
    fn epoch_dates() {
        assert_eq!(super::rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(Some(1_700_000_000)), "2023-11-14T22:13:20Z");
    }
}
