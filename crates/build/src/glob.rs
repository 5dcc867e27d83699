//! COPY/ADD sources: a [`SourceTree`] is what COPY reads from (the build
//! context, or another stage's or image's root filesystem for `--from`), and
//! [`SourceTree::expand`] turns one source argument into the paths it names.
//!
//! Semantics (Docker's):
//! - a source is cleaned like Go's `filepath.Clean` and taken relative to the
//!   tree's root (a leading '/' and any `..` cannot leave it);
//! - each component with `*`, `?` or `[` is matched with Go's `filepath.Match`
//!   against the names in the directory reached so far (`*` never crosses '/');
//!   matches come back in byte order;
//! - symlinks on the way, and a matched source that is itself a symlink, are
//!   followed, but only inside the tree (`../../etc/passwd` as a symlink target
//!   resolves to the tree's own `/etc/passwd`, normally absent);
//! - in a build context, anything the `.dockerignore` excludes does not exist,
//!   judged both on the path as written and on where its symlinks lead;
//! - a source that names nothing is an error naming the source
//!   ([`BuildError::SourceNotFound`]), wildcard or not.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_safepath::{fd_real_path, OFlags, Root};
use rustix::fs::{fstat, FileType, Stat};
use rustix::io::Errno;

use crate::error::{path_err, BuildError, Result};
use crate::ignore::Ignore;
use crate::pattern;
use crate::walk::{self, Node, Visit};

/// A directory tree COPY reads from.
#[derive(Debug)]
pub struct SourceTree {
    root: Root,
    /// Real path of the root, to turn resolved fds back into tree paths.
    real: PathBuf,
    ignore: Ignore,
    name: String,
}

/// One path a source argument named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMatch {
    /// The path as the source spelled it (cleaned, relative, no leading '/'),
    /// "" for the root itself.
    pub path: String,
    /// Where it is after following symlinks inside the tree (relative).
    pub real: String,
    /// File type after following symlinks.
    pub kind: SourceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    File,
    Dir,
    /// A fifo or device node.
    Special,
}

impl SourceMatch {
    /// Last component of `path` ("" for the root).
    pub fn base_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// What [`SourceTree::walk`] reports for each entry below a directory source.
#[derive(Debug)]
pub struct TreeEntry<'a> {
    /// Relative to the walked directory.
    pub rel: &'a Path,
    pub stat: &'a Stat,
    pub kind: FileType,
    pub(crate) node: &'a Node<'a>,
}

impl TreeEntry<'_> {
    /// An fd of the directory holding the entry and its name: open the entry
    /// with `openat(dir, name, O_NOFOLLOW)`.
    pub fn dir_and_name(&self) -> (std::os::fd::BorrowedFd<'_>, &OsStr) {
        (self.node.dir, self.node.name)
    }
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("rel", &self.rel).finish()
    }
}

fn rel_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl SourceTree {
    /// A tree rooted at `dir` (a trusted host path). `ignore` hides entries as a
    /// `.dockerignore` does (pass [`Ignore::empty`] for a stage's rootfs);
    /// `name` says what the tree is in messages ("the build context",
    /// "stage builder").
    pub fn open(dir: &Path, ignore: Ignore, name: impl Into<String>) -> Result<SourceTree> {
        let name = name.into();
        let root = Root::open(dir).map_err(path_err(format!("opening {name}")))?;
        let real = fd_real_path(root.as_fd()).map_err(path_err(format!("opening {name}")))?;
        Ok(SourceTree {
            root,
            real,
            ignore,
            name,
        })
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The host directory of the tree.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ignore(&self) -> &Ignore {
        &self.ignore
    }

    /// Is `rel` (as written) hidden by the ignore rules?
    pub fn is_excluded(&self, rel: &str) -> bool {
        !rel.is_empty() && self.ignore.is_excluded(rel)
    }

    /// Resolve `rel` (following symlinks inside the tree unless `follow` is
    /// false for the last component). `None` if it does not exist or is
    /// excluded.
    pub fn lookup(&self, rel: &str, follow: bool) -> Result<Option<(OwnedFd, String, Stat)>> {
        if self.is_excluded(rel) {
            return Ok(None);
        }
        let r = if follow {
            self.root.resolve(Path::new(rel))
        } else {
            self.root.resolve_nofollow(Path::new(rel))
        };
        let fd = match r {
            Ok(fd) => fd,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(path_err(format!("looking up {rel:?} in {}", self.name))(e)),
        };
        let real = fd_real_path(fd.as_fd()).map_err(path_err(format!("looking up {rel:?}")))?;
        let real = match real.strip_prefix(&self.real) {
            Ok(r) => rel_str(r),
            // Not below the root: safepath would have refused; treat as absent.
            Err(_) => return Ok(None),
        };
        if self.is_excluded(&real) {
            return Ok(None);
        }
        let st = fstat(&fd).map_err(|e| BuildError::Context {
            path: self.path().join(&real),
            what: "cannot stat".into(),
            source: e.into(),
        })?;
        Ok(Some((fd, real, st)))
    }

    /// Open a regular file for reading, following symlinks inside the tree.
    pub fn open_file(&self, rel: &str) -> Result<std::fs::File> {
        if self.is_excluded(rel) {
            return Err(self.not_found(rel));
        }
        let fd = self
            .root
            .open_at(Path::new(rel), OFlags::RDONLY, 0)
            .map_err(path_err(format!("opening {rel:?} in {}", self.name)))?;
        Ok(std::fs::File::from(fd))
    }

    fn not_found(&self, pattern: &str) -> BuildError {
        BuildError::SourceNotFound {
            pattern: format!("/{}", pattern.trim_start_matches('/')),
            place: self.name.clone(),
        }
    }

    /// Expand one COPY/ADD source argument (see the module docs).
    pub fn expand(&self, source: &str) -> Result<Vec<SourceMatch>> {
        let cleaned = pattern::clean(&format!("/{source}"));
        let cleaned = cleaned.trim_start_matches('/');
        let mut candidates: Vec<String> = vec![String::new()];
        let mut seen_wildcard = false;
        if !cleaned.is_empty() {
            for comp in cleaned.split('/') {
                if seen_wildcard {
                    // Docker walks below the first wildcard without following
                    // symlinks: a symlinked directory there is not entered.
                    let mut kept = Vec::new();
                    for c in candidates {
                        if let Some((_, _, st)) = self.lookup(&c, false)? {
                            if walk::file_type(&st) == FileType::Directory {
                                kept.push(c);
                            }
                        }
                    }
                    candidates = kept;
                }
                let mut next = Vec::new();
                if pattern::has_wildcards(comp) {
                    seen_wildcard = true;
                    let toks = pattern::parse_go(comp).map_err(|why| BuildError::BadPattern {
                        origin: "COPY/ADD source".into(),
                        pattern: source.to_string(),
                        why,
                    })?;
                    for dir in &candidates {
                        for name in self.names_in(dir)? {
                            let name = name.to_string_lossy();
                            if pattern::matches(&toks, &name) {
                                next.push(join(dir, &name));
                            }
                        }
                    }
                } else {
                    let lit = pattern::unescape(comp);
                    next = candidates.iter().map(|d| join(d, &lit)).collect();
                }
                candidates = next;
            }
        }
        let mut out = Vec::new();
        for path in candidates {
            if let Some((_, real, st)) = self.lookup(&path, true)? {
                let kind = match walk::file_type(&st) {
                    FileType::Directory => SourceKind::Dir,
                    FileType::RegularFile => SourceKind::File,
                    _ => SourceKind::Special,
                };
                out.push(SourceMatch { path, real, kind });
            }
        }
        if out.is_empty() {
            return Err(self.not_found(cleaned));
        }
        Ok(out)
    }

    /// Sorted names in directory `rel` (followed inside the tree); an absent or
    /// non-directory `rel` has none.
    fn names_in(&self, rel: &str) -> Result<Vec<std::ffi::OsString>> {
        let Some((fd, _, st)) = self.lookup(rel, true)? else {
            return Ok(Vec::new());
        };
        if walk::file_type(&st) != FileType::Directory {
            return Ok(Vec::new());
        }
        walk::list(fd.as_fd()).map_err(|e| BuildError::Context {
            path: self.path().join(rel),
            what: "cannot list directory".into(),
            source: e.into(),
        })
    }

    /// Walk everything below the directory `m` (a match from [`expand`]), in
    /// sorted pre-order, without following symlinks. Entries the ignore rules
    /// hide are left out, and so are those `exclude` (COPY `--exclude`, matched
    /// on paths relative to `m`) hides.
    ///
    /// [`expand`]: SourceTree::expand
    pub fn walk(
        &self,
        m: &SourceMatch,
        exclude: &Ignore,
        f: &mut dyn FnMut(&TreeEntry<'_>) -> Result<()>,
    ) -> Result<()> {
        let Some((fd, real, _)) = self.lookup(&m.path, true)? else {
            return Err(self.not_found(&m.path));
        };
        let dir = walk::open_dir(fd.as_fd(), OsStr::new(".")).map_err(|e: Errno| {
            BuildError::Context {
                path: self.path().join(&real),
                what: "cannot open directory".into(),
                source: e.into(),
            }
        })?;
        let place = self.path().join(&real);
        let mut decide = |rel: &Path, is_dir: bool| {
            let rel_s = rel_str(rel);
            let full = join(&real, &rel_s);
            let ctx_out = self.ignore.is_excluded(&full);
            let ex_out = exclude.is_excluded(&rel_s);
            if !ctx_out && !ex_out {
                return Visit::Include;
            }
            let may = (!ctx_out || self.ignore.may_include_below(&full))
                && (!ex_out || exclude.may_include_below(&rel_s));
            if is_dir && may {
                Visit::Descend
            } else {
                Visit::Skip
            }
        };
        walk::walk(dir.as_fd(), &place, &mut decide, &mut |node| {
            f(&TreeEntry {
                rel: node.rel,
                stat: node.stat,
                kind: walk::file_type(node.stat),
                node,
            })
        })
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn tree(ignore: &str) -> (tempfile::TempDir, SourceTree) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        for d in ["a/b", "c", "dir with space", "ünï"] {
            fs::create_dir_all(p.join(d)).unwrap();
        }
        for f in [
            "a/x.txt",
            "a/y.txt",
            "a/b/z.txt",
            "c/1.go",
            "top.txt",
            "dir with space/f",
            "ünï/ç.txt",
            "secret.key",
            "[lit]",
        ] {
            fs::write(p.join(f), f).unwrap();
        }
        symlink("a", p.join("alink")).unwrap();
        symlink("../../../etc/passwd", p.join("escape")).unwrap();
        symlink("secret.key", p.join("tosecret")).unwrap();
        let ig = Ignore::parse(ignore, ".dockerignore").unwrap();
        let st = SourceTree::open(p, ig, "the build context").unwrap();
        (t, st)
    }

    fn paths(st: &SourceTree, src: &str) -> Vec<String> {
        st.expand(src)
            .unwrap()
            .into_iter()
            .map(|m| m.path)
            .collect()
    }

    #[test]
    fn literal_and_wildcard_sources() {
        let (_t, st) = tree("secret.key\n");
        assert_eq!(paths(&st, "a/x.txt"), ["a/x.txt"]);
        assert_eq!(paths(&st, "/a/../a/./x.txt"), ["a/x.txt"]);
        assert_eq!(paths(&st, "a/*.txt"), ["a/x.txt", "a/y.txt"]);
        // alink -> a is not entered below a wildcard, as with Docker.
        assert_eq!(paths(&st, "*/*.txt"), ["a/x.txt", "a/y.txt", "ünï/ç.txt"]);
        assert_eq!(paths(&st, "al*"), ["alink"]);
        assert_eq!(paths(&st, "*.txt"), ["top.txt"]);
        assert_eq!(paths(&st, "a/?.txt"), ["a/x.txt", "a/y.txt"]);
        assert_eq!(paths(&st, "a/[x].txt"), ["a/x.txt"]);
        assert_eq!(paths(&st, "\\[lit]"), ["[lit]"]);
        assert_eq!(paths(&st, "dir with space/*"), ["dir with space/f"]);
        assert_eq!(paths(&st, "ünï/*"), ["ünï/ç.txt"]);
        assert_eq!(paths(&st, "alink/b/*"), ["alink/b/z.txt"]);
        assert_eq!(paths(&st, "."), [""]);
        let m = &st.expand("alink").unwrap()[0];
        assert_eq!((m.real.as_str(), m.kind), ("a", SourceKind::Dir));
        assert_eq!(paths(&st, "../../a/x.txt"), ["a/x.txt"]);
    }

    #[test]
    fn missing_excluded_and_escaping_sources() {
        let (_t, st) = tree("secret.key\n");
        for src in [
            "nope",
            "/nope*",
            "secret.key",
            "tosecret",
            "secret*",
            "escape",
            "a/*.rs",
        ] {
            let e = st.expand(src).unwrap_err();
            assert!(matches!(e, BuildError::SourceNotFound { .. }), "{src}: {e}");
        }
        let e = st.expand("/nope").unwrap_err().to_string();
        assert_eq!(
            e,
            "COPY/ADD source \"/nope\" not found in the build context: check the path and the .dockerignore"
        );
        assert!(st.expand("a/[x").is_err());
    }

    #[test]
    fn walk_respects_ignore_and_exclude() {
        let (_t, st) = tree("a/b\n!a/b/z.txt\na/y.txt\n");
        let m = &st.expand("a").unwrap()[0];
        let mut seen = Vec::new();
        st.walk(m, &Ignore::empty(), &mut |e| {
            seen.push(rel_str(e.rel));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["b", "b/z.txt", "x.txt"]);
        let ex = Ignore::from_patterns(["x.txt"], "--exclude").unwrap();
        let mut seen = Vec::new();
        st.walk(m, &ex, &mut |e| {
            seen.push(rel_str(e.rel));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["b", "b/z.txt"]);
    }
}
