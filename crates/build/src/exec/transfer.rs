//! COPY, ADD and WORKDIR steps, `--from` references, and how a finished step lands
//! in the stage (its layer, key and history entry).

use std::path::Path;

use berth_dockerfile::{Add, Instruction, Source, StageRef, Transfer};
use serde_json::json;

use super::progress::Vertex;
use super::step::{step_key, Outcome};
use super::{Builder, State};
use crate::checksum::checksum;
use crate::copy::dest::DestRoot;
use crate::copy::{self, Chmod, CopyOptions, UrlOptions};
use crate::error::{BuildError, Result};
use crate::glob::SourceTree;
use crate::ignore::Ignore;
use crate::users::{resolve_chown, Owner};

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// `dir` made absolute against the working directory, cleaned.
fn absolute(workdir: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", workdir.trim_end_matches('/'))
    };
    crate::pattern::clean(&joined)
}

impl Builder<'_> {
    /// The layers a `--from` (or a mount's `from=`) names: another stage, built if
    /// need be, or an image.
    pub(crate) fn source_layers(&mut self, reference: &str, step: &str) -> Result<Vec<String>> {
        Ok(self.source_ref(reference, step)?.0)
    }

    /// The cache key of what a `--from` names.
    pub(crate) fn source_key(&mut self, reference: &str, step: &str) -> Result<String> {
        Ok(self.source_ref(reference, step)?.1)
    }

    fn source_ref(&mut self, reference: &str, step: &str) -> Result<(Vec<String>, String)> {
        let current = self.current;
        match self.file.resolve_from(reference, current) {
            Ok(StageRef::Stage(j)) => {
                let r = self.stage(j)?;
                Ok((r.diff_ids, r.key))
            }
            Ok(StageRef::Image(name)) => {
                let img = self.resolve(&name)?;
                let cfg = self.engine.images().config(&img)?;
                Ok((cfg.diff_ids()?, img.id.clone()))
            }
            Err(e) => Err(BuildError::Step {
                step: step.to_string(),
                why: e.to_string(),
            }),
        }
    }

    /// Records a finished file step in the stage.
    pub(crate) fn finish_step(
        &mut self,
        st: &mut State,
        v: Vertex,
        key: String,
        outcome: Outcome,
        created_by: &str,
    ) {
        st.key = key;
        let empty = outcome.diff_id.is_none();
        if let Some(d) = outcome.diff_id {
            st.diff_ids.push(d);
        }
        st.last_created = outcome.created.clone();
        st.file_history(created_by, empty, &outcome.created);
        if outcome.cached {
            self.progress.cached(v);
        } else {
            self.progress.done(v);
        }
    }

    pub(crate) fn workdir_step(
        &mut self,
        st: &mut State,
        ins: &Instruction,
        dir: &str,
        title: &str,
    ) -> Result<()> {
        let dir = self.expand1(st, ins, dir)?;
        let abs = absolute(&st.workdir(), &dir);
        st.config().insert("WorkingDir".into(), json!(abs));
        let user = st.raw["config"]["User"].as_str().unwrap_or("").to_string();
        // "owned": directories made by USER since this version; older cache
        // entries (root-owned) do not match.
        let key = step_key(
            &st.key,
            &json!({"op": "workdir", "dir": abs, "user": user, "owned": true}),
        );
        let v = self.progress.begin(title);
        let parent = st.diff_ids.clone();
        let target = abs.clone();
        let mut action = |_: &mut Builder<'_>, rootfs: &Path| -> Result<()> {
            // As in BuildKit, the directories WORKDIR creates belong to USER.
            let owner = match user.as_str() {
                "" => Owner::ROOT,
                u => resolve_chown(rootfs, u)?,
            };
            DestRoot::open(rootfs)?.mkdir_all(Path::new(&target), 0o755, owner)?;
            Ok(())
        };
        let outcome = self.fs_step(&parent, &key, &mut action)?;
        self.finish_step(st, v, key, outcome, &format!("WORKDIR {abs}"));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn transfer_step(
        &mut self,
        st: &mut State,
        ins: &Instruction,
        t: &Transfer,
        from: Option<&str>,
        parents: bool,
        add: Option<&Add>,
        title: &str,
    ) -> Result<()> {
        let step = ins.original.clone();
        let dest = self.expand1(st, ins, &t.dest)?;
        let chown = t
            .chown
            .as_ref()
            .map(|c| self.expand1(st, ins, c))
            .transpose()?;
        let chmod_text = t
            .chmod
            .as_ref()
            .map(|c| self.expand1(st, ins, c))
            .transpose()?;
        let chmod = chmod_text.as_deref().map(Chmod::parse).transpose()?;
        let mut excludes = Vec::new();
        for e in &t.excludes {
            excludes.push(self.expand1(st, ins, e)?);
        }
        let mut paths = Vec::new();
        let mut urls = Vec::new();
        let mut heredocs = Vec::new();
        // BuildKit's history entry: the instruction, --parents/--chown/--chmod,
        // the sources (heredocs as <<NAME after the others) and the destination.
        let mut created_by = String::from(if add.is_some() { "ADD" } else { "COPY" });
        if parents {
            created_by.push_str(" --parents");
        }
        if let Some(c) = &chown {
            created_by.push_str(&format!(" --chown={c}"));
        }
        if let Some(c) = &chmod_text {
            created_by.push_str(&format!(" --chmod={c}"));
        }
        for s in &t.sources {
            match s {
                Source::Path(p) => {
                    let p = self.expand1(st, ins, p)?;
                    created_by.push_str(&format!(" {p}"));
                    if add.is_some() && is_url(&p) {
                        urls.push(p);
                    } else if is_url(&p) {
                        return Err(BuildError::Step {
                            step,
                            why: "COPY does not download URLs: use ADD".into(),
                        });
                    } else {
                        paths.push(p);
                    }
                }
                Source::Heredoc(h) => {
                    let content = if h.expand {
                        berth_dockerfile::expand_heredoc(&h.content, &st.vars(), self.escape())
                            .map_err(|e| BuildError::Step {
                                step: step.clone(),
                                why: e.to_string(),
                            })?
                    } else {
                        h.content.clone()
                    };
                    heredocs.push((h.name.clone(), content));
                }
            }
        }
        for (name, _) in &heredocs {
            created_by.push_str(&format!(" <<{name}"));
        }
        created_by.push_str(&format!(" {dest} # buildkit"));
        // The tree the sources come from: the context, or another stage's or an
        // image's root (mounted for the step's duration).
        let from = match from {
            Some(f) => Some(self.expand1(st, ins, f)?),
            None => None,
        };
        let (from_layers, from_key) = match &from {
            Some(f) => {
                let (l, k) = self.source_ref(f, &step)?;
                (Some(l), Some(k))
            }
            None => (None, None),
        };
        let from_mount = match &from_layers {
            Some(l) => Some(self.mount(l)?),
            None => None,
        };
        let from_tree = match &from_mount {
            Some(m) => Some(SourceTree::open(
                &m.rootfs,
                Ignore::empty(),
                from.clone().unwrap_or_default(),
            )?),
            None => None,
        };
        let exclude = Ignore::from_patterns(excludes.iter().map(String::as_str), "--exclude")?;
        let content = {
            let ctx = self.ctx;
            let tree = from_tree.as_ref().unwrap_or(ctx.tree());
            let mut matches = Vec::new();
            for p in &paths {
                matches.extend(tree.expand(p)?);
            }
            if matches.is_empty() {
                String::new()
            } else {
                checksum(tree, &matches, &exclude, &mut self.stat())?
            }
        };
        let (checksum_flag, is_add) = match add {
            Some(a) => (a.checksum.clone(), true),
            None => (None, false),
        };
        let workdir = st.workdir();
        let key = step_key(
            &st.key,
            &json!({"op": if is_add { "add" } else { "copy" }, "paths": paths, "urls": urls,
                    "heredocs": heredocs, "content": content, "dest": dest, "chown": chown,
                    "chmod": chmod_text, "exclude": excludes, "parents": parents,
                    "workdir": workdir, "from": from_key, "checksum": checksum_flag}),
        );
        let v = self.progress.begin(title);
        let parent = st.diff_ids.clone();
        let ctx = self.ctx;
        let tree: &SourceTree = from_tree.as_ref().unwrap_or(ctx.tree());
        let mut action = |_: &mut Builder<'_>, rootfs: &Path| -> Result<()> {
            let owner = chown
                .as_deref()
                .map(|c| resolve_chown(rootfs, c))
                .transpose()?;
            if !paths.is_empty() {
                let srcs: Vec<&str> = paths.iter().map(String::as_str).collect();
                copy::copy(
                    tree,
                    &srcs,
                    rootfs,
                    &dest,
                    &CopyOptions {
                        chown: owner,
                        chmod: chmod.clone(),
                        exclude: excludes.clone(),
                        parents,
                        workdir: workdir.clone(),
                        extract_archives: is_add && from.is_none(),
                    },
                )?;
            }
            for u in &urls {
                copy::add_url(
                    u,
                    rootfs,
                    &dest,
                    &UrlOptions {
                        chown: owner,
                        chmod: chmod.clone(),
                        checksum: checksum_flag.clone(),
                        workdir: workdir.clone(),
                        ..Default::default()
                    },
                )?;
            }
            for (name, content) in &heredocs {
                copy::heredoc(
                    name,
                    content.as_bytes(),
                    rootfs,
                    &dest,
                    &workdir,
                    owner,
                    chmod.as_ref(),
                )?;
            }
            Ok(())
        };
        let outcome = self.fs_step(&parent, &key, &mut action);
        drop(from_tree);
        drop(from_mount);
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.progress.error(&v, &e.to_string());
                return Err(e);
            }
        };
        self.finish_step(st, v, key, outcome, &created_by);
        Ok(())
    }
}
