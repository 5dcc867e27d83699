//! COPY and ADD onto a destination root directory (a stage's root filesystem
//! on the host), with Docker's semantics:
//!
//! - The destination is absolute in the image, or relative to `workdir`. It
//!   names a directory when it ends in '/' (or is `.`), when it already is a
//!   directory in the image (symlinks followed inside the root), or when the
//!   sources match more than one path; otherwise it is the file to write.
//!   Several source arguments need a destination ending in '/'.
//! - A directory source copies its contents, not itself. Top-level sources
//!   that are symlinks are followed (inside the source tree); symlinks below a
//!   directory source are copied as symlinks, verbatim. Hard links between
//!   files of one COPY stay hard links.
//! - A single-file destination that is a symlink in the image is followed
//!   (inside the root): the link stays and its target is written.
//! - Files keep their permission bits and their mtimes from the source;
//!   owners become 0:0, or the `--chown` owner. `--chmod` replaces (octal) or
//!   edits (symbolic) the mode of every copied file and directory.
//! - Directories created on the way to the destination get mode 0755 and the
//!   `--chown` owner (root without it). This is the rule of both of Docker's
//!   builders: "all new files and directories are created with a UID and GID of
//!   0, unless the optional --chown flag specifies" an owner, and they apply it
//!   to the parents they create as well. Existing directories are never
//!   changed (a `COPY x /tmp/` must not make /tmp 0755).
//! - `--exclude` patterns (`.dockerignore` syntax) are matched against paths
//!   relative to each source directory, and against the name of a file source.
//! - `--parents` keeps each match's path (relative to the context, or to the
//!   part after a `/./` in the source) under the destination.
//! - ADD extracts a local source file that is a tar archive (plain, gzip,
//!   bzip2, xz or zstd: the content decides) into the destination directory,
//!   keeping the archive's owners unless `--chown` is given; ADD of a URL
//!   downloads it ([`add_url`]); COPY never extracts.
//! - Heredoc sources ([`heredoc`]) become files of mode 0644 named after the
//!   heredoc when the destination is a directory.

mod chmod;
pub(crate) mod dest;
mod url;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use berth_safepath::OFlags;
use rustix::fs::{FileType, Stat, Timespec};

pub use chmod::{Chmod, Clause};

use crate::archive;
use crate::error::{path_err, BuildError, Result};
use crate::glob::{SourceKind, SourceMatch, SourceTree};
use crate::ignore::Ignore;
use crate::pattern;
use crate::users::Owner;
use dest::{Attrs, DestRoot, Times, PARENT_MODE};

/// Options of one COPY or ADD from a source tree.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `--chown`, already resolved (see [`crate::users::resolve_chown`]).
    pub chown: Option<Owner>,
    pub chmod: Option<Chmod>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--parents`.
    pub parents: bool,
    /// The image's WORKDIR (absolute); "" means "/".
    pub workdir: String,
    /// ADD: extract source files that are tar archives instead of copying
    /// them. Docker does this for ADD from the build context only; the
    /// executor leaves it off for COPY and for `--from` sources.
    pub extract_archives: bool,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Fifos and device nodes.
    pub specials: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Archives extracted by ADD.
    pub archives: u64,
}

/// The destination as an absolute, cleaned image path, and whether its
/// spelling forces a directory.
fn dest_path(workdir: &str, dest: &str) -> (PathBuf, bool) {
    let dir_syntax = dest.ends_with('/') || dest == "." || dest.ends_with("/.") || dest.is_empty();
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        let wd = if workdir.is_empty() { "/" } else { workdir };
        format!("{}/{}", wd.trim_end_matches('/'), dest)
    };
    (
        PathBuf::from(pattern::clean(&format!("/{joined}"))),
        dir_syntax,
    )
}

fn ts(sec: i64, nsec: u64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    }
}

fn times_of(st: &Stat) -> Times {
    (
        ts(st.st_atime, st.st_atime_nsec),
        ts(st.st_mtime, st.st_mtime_nsec),
    )
}

/// The path `--parents` keeps for a match of `source`: everything after a
/// `/./` pivot in the source, else the whole path.
fn parents_rel(source: &str, m: &SourceMatch) -> String {
    // A leading "./" is an ordinary relative path, not a pivot.
    let mut rest = source.trim_start_matches('/');
    while let Some(r) = rest.strip_prefix("./") {
        rest = r.trim_start_matches('/');
    }
    let src = format!("/{rest}");
    if let Some(i) = src.find("/./") {
        let prefix = pattern::clean(&src[..i]);
        let prefix = match prefix.trim_start_matches('/') {
            "." => "",
            p => p,
        };
        let depth = if prefix.is_empty() {
            0
        } else {
            prefix.split('/').count()
        };
        m.path.split('/').skip(depth).collect::<Vec<_>>().join("/")
    } else {
        m.path.clone()
    }
}

struct Copier<'a> {
    tree: &'a SourceTree,
    dest: DestRoot,
    opts: &'a CopyOptions,
    owner: Owner,
    exclude: Ignore,
    report: CopyReport,
    /// (dev, ino) of multiply-linked source files already written, and where.
    links: HashMap<(u64, u64), (Rc<OwnedFd>, OsString)>,
    /// Directories made by this copy, to get their source times at the end.
    dir_times: Vec<(PathBuf, Times)>,
    /// The last parent directory used: entries of a walk mostly share it. A
    /// path is written before anything below it (pre-order), so a cached
    /// parent is never replaced while cached.
    last_parent: Option<(PathBuf, Rc<OwnedFd>)>,
}

/// COPY/ADD `sources` (argument strings, wildcards allowed) from `tree` to
/// `dest` inside the root filesystem at `dest_root`. See the module docs.
pub fn copy(
    tree: &SourceTree,
    sources: &[&str],
    dest_root: &Path,
    dest: &str,
    opts: &CopyOptions,
) -> Result<CopyReport> {
    let (dest_abs, dir_syntax) = dest_path(&opts.workdir, dest);
    if sources.is_empty() {
        return Err(BuildError::Destination {
            dest: dest.to_string(),
            why: "no source given".into(),
        });
    }
    if sources.len() > 1 && !dir_syntax {
        return Err(BuildError::Destination {
            dest: dest.to_string(),
            why: "with more than one source the destination must be a directory and end with a /"
                .into(),
        });
    }
    let mut matches = Vec::new();
    for s in sources {
        for m in tree.expand(s)? {
            matches.push((*s, m));
        }
    }
    let exclude = Ignore::from_patterns(opts.exclude.iter().map(String::as_str), "--exclude")?;
    let mut c = Copier {
        tree,
        dest: DestRoot::open(dest_root)?,
        opts,
        owner: opts.chown.unwrap_or(Owner::ROOT),
        exclude,
        report: CopyReport::default(),
        links: HashMap::new(),
        dir_times: Vec::new(),
        last_parent: None,
    };
    let existing_dir = matches!(c.dest.lookup(&dest_abs)?, Some((_, FileType::Directory)));
    let into_dir = dir_syntax || existing_dir || matches.len() > 1 || opts.parents;
    for (source, m) in &matches {
        let base = if opts.parents {
            let rel = parents_rel(source, m);
            if rel.is_empty() {
                dest_abs.clone()
            } else {
                dest_abs.join(rel)
            }
        } else {
            dest_abs.clone()
        };
        match m.kind {
            SourceKind::Dir => c.copy_dir(m, &base)?,
            SourceKind::File | SourceKind::Special => {
                if c.exclude.is_excluded(m.base_name()) {
                    continue;
                }
                if opts.extract_archives
                    && m.kind == SourceKind::File
                    && c.try_extract(m, &dest_abs, opts.parents.then_some(&base))?
                {
                    continue;
                }
                let target = if opts.parents {
                    base
                } else if into_dir {
                    dest_abs.join(m.base_name())
                } else {
                    c.dest.follow_final(&dest_abs)?
                };
                c.copy_top_file(m, &target)?;
            }
        }
    }
    c.finish_dirs()?;
    Ok(c.report)
}

impl Copier<'_> {
    fn mode_for(&self, st_mode: u32, is_dir: bool) -> u32 {
        let m = st_mode & 0o7777;
        match &self.opts.chmod {
            Some(c) => c.apply(m, is_dir),
            None => m,
        }
    }

    fn parent_dir(&mut self, parent: &Path) -> Result<Rc<OwnedFd>> {
        if let Some((p, fd)) = &self.last_parent {
            if p == parent {
                return Ok(fd.clone());
            }
        }
        let fd = Rc::new(self.dest.mkdir_all(parent, PARENT_MODE, self.owner)?);
        self.last_parent = Some((parent.to_path_buf(), fd.clone()));
        Ok(fd)
    }

    /// A file (or special) source, followed if it is a symlink, to `target`.
    fn copy_top_file(&mut self, m: &SourceMatch, target: &Path) -> Result<()> {
        let Some((_, real, st)) = self.tree.lookup(&m.path, true)? else {
            return Err(BuildError::SourceNotFound {
                pattern: format!("/{}", m.path),
                place: self.tree.name().to_string(),
            });
        };
        let (dir, name) = self.dest.parent(target, self.owner)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let mode = self.mode_for(st.st_mode, false);
        if ft != FileType::RegularFile {
            self.dest.node(
                dir.as_fd(),
                name,
                target,
                ft,
                st.st_rdev,
                Attrs {
                    mode,
                    owner: self.owner,
                    times: None,
                },
            )?;
            self.report.specials += 1;
            return Ok(());
        }
        let fd = self
            .tree
            .root()
            .open_at(Path::new(&real), OFlags::RDONLY | OFlags::NOFOLLOW, 0)
            .map_err(path_err(format!(
                "opening {:?} in {}",
                m.path,
                self.tree.name()
            )))?;
        let mut f = std::fs::File::from(fd);
        let n = self.dest.write_file(
            dir.as_fd(),
            name,
            target,
            &mut f,
            Attrs {
                mode,
                owner: self.owner,
                times: Some(times_of(&st)),
            },
        )?;
        self.report.files += 1;
        self.report.bytes += n;
        Ok(())
    }

    /// ADD of a local file that is an archive: extract it into `dest_dir` (or
    /// `parents_dir` with `--parents`). `false` if it is not an archive.
    fn try_extract(
        &mut self,
        m: &SourceMatch,
        dest_dir: &Path,
        parents_dir: Option<&PathBuf>,
    ) -> Result<bool> {
        let f = self.tree.open_file(&m.path)?;
        if archive::sniff(&f)
            .map_err(crate::error::io_at(
                "reading",
                self.tree.path().join(&m.real),
            ))?
            .is_none()
        {
            return Ok(false);
        }
        let target = match parents_dir {
            Some(p) => p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/")),
            None => dest_dir.to_path_buf(),
        };
        let dir = self.dest.mkdir_all(&target, PARENT_MODE, self.owner)?;
        let host = berth_safepath::proc_fd_path(dir.as_fd());
        let what = format!("ADD archive {}", m.path);
        archive::extract(self.tree.open_file(&m.path)?, &host, &what)?;
        if let Some(owner) = self.opts.chown {
            // The archive's own owners are replaced only for what it contained.
            let names = archive_names(self.tree.open_file(&m.path)?, &what)?;
            let sub = berth_safepath::Root::open(&host)
                .map_err(path_err("opening the extraction directory"))?;
            for n in names {
                let fd = match sub.resolve_nofollow(Path::new(&n)) {
                    Ok(fd) => fd,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                    Err(e) => return Err(path_err(format!("{what}: {n}"))(e)),
                };
                rustix::fs::chownat(
                    &fd,
                    "",
                    Some(rustix::fs::Uid::from_raw(owner.uid)),
                    Some(rustix::fs::Gid::from_raw(owner.gid)),
                    rustix::fs::AtFlags::EMPTY_PATH | rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| self.dest.err(&target.join(&n), "chown", e))?;
            }
        }
        self.report.archives += 1;
        Ok(true)
    }

    /// The contents of directory source `m` into directory `target`.
    fn copy_dir(&mut self, m: &SourceMatch, target: &Path) -> Result<()> {
        let Some((_, _, st)) = self.tree.lookup(&m.path, true)? else {
            return Err(BuildError::SourceNotFound {
                pattern: format!("/{}", m.path),
                place: self.tree.name().to_string(),
            });
        };
        let top_new = match self.dest.lookup(target)? {
            Some((_, FileType::Directory)) => false,
            Some(_) => {
                return Err(BuildError::Destination {
                    dest: target.display().to_string(),
                    why: "the source is a directory but the destination is an existing file".into(),
                })
            }
            None => {
                let (dir, name) = self.dest.parent(target, self.owner)?;
                let mode = self.mode_for(st.st_mode, true);
                self.dest
                    .make_dir(dir.as_fd(), name, target, mode, self.owner)?
            }
        };
        if top_new {
            self.report.dirs += 1;
            self.dir_times.push((target.to_path_buf(), times_of(&st)));
        }
        let exclude = std::mem::take(&mut self.exclude);
        let tree = self.tree;
        let r = tree.walk(m, &exclude, &mut |e| {
            let path = target.join(e.rel);
            let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            let dir = self.parent_dir(&parent)?;
            let name = path.file_name().unwrap_or_default().to_os_string();
            let (sdir, sname) = e.dir_and_name();
            match e.kind {
                FileType::Directory => {
                    let mode = self.mode_for(e.stat.st_mode, true);
                    if self
                        .dest
                        .make_dir(dir.as_fd(), &name, &path, mode, self.owner)?
                    {
                        self.report.dirs += 1;
                        self.dir_times.push((path.clone(), times_of(e.stat)));
                    }
                }
                FileType::Symlink => {
                    let t = rustix::fs::readlinkat(sdir, sname, Vec::new()).map_err(|x| {
                        BuildError::Context {
                            path: tree.path().join(&m.real).join(e.rel),
                            what: "cannot read symlink".into(),
                            source: x.into(),
                        }
                    })?;
                    let target = OsStr::from_bytes(t.as_bytes());
                    self.dest.symlink(
                        dir.as_fd(),
                        &name,
                        &path,
                        target,
                        self.owner,
                        Some(times_of(e.stat)),
                    )?;
                    self.report.symlinks += 1;
                }
                FileType::RegularFile => {
                    let key = (e.stat.st_dev, e.stat.st_ino);
                    if e.stat.st_nlink > 1 {
                        if let Some((first_dir, first_name)) = self.links.get(&key) {
                            self.dest.hardlink(
                                first_dir.as_fd(),
                                first_name,
                                dir.as_fd(),
                                &name,
                                &path,
                            )?;
                            self.report.hardlinks += 1;
                            return Ok(());
                        }
                    }
                    let fd = rustix::fs::openat(
                        sdir,
                        sname,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        rustix::fs::Mode::empty(),
                    )
                    .map_err(|x| BuildError::Context {
                        path: tree.path().join(&m.real).join(e.rel),
                        what: "cannot open".into(),
                        source: x.into(),
                    })?;
                    let mut f = std::fs::File::from(fd);
                    let mode = self.mode_for(e.stat.st_mode, false);
                    let n = self.dest.write_file(
                        dir.as_fd(),
                        &name,
                        &path,
                        &mut f,
                        Attrs {
                            mode,
                            owner: self.owner,
                            times: Some(times_of(e.stat)),
                        },
                    )?;
                    self.report.files += 1;
                    self.report.bytes += n;
                    if e.stat.st_nlink > 1 {
                        self.links.insert(key, (dir.clone(), name.clone()));
                    }
                }
                ft => {
                    let mode = self.mode_for(e.stat.st_mode, false);
                    self.dest.node(
                        dir.as_fd(),
                        &name,
                        &path,
                        ft,
                        e.stat.st_rdev,
                        Attrs {
                            mode,
                            owner: self.owner,
                            times: None,
                        },
                    )?;
                    self.report.specials += 1;
                }
            }
            Ok(())
        });
        self.exclude = exclude;
        r
    }

    /// Directory times last, deepest first: writing into a directory moves its mtime.
    fn finish_dirs(&mut self) -> Result<()> {
        for (path, times) in std::mem::take(&mut self.dir_times).into_iter().rev() {
            self.dest.dir_times(&path, times)?;
        }
        Ok(())
    }
}

/// Cleaned entry names of a (possibly compressed) tar, for `--chown` after ADD.
fn archive_names(r: impl Read, what: &str) -> Result<Vec<String>> {
    let io = |e: std::io::Error| BuildError::Io {
        op: "listing archive",
        path: what.into(),
        source: e,
    };
    let (_, d) = archive::decompress(r).map_err(io)?;
    let mut a = tar::Archive::new(d);
    let mut out = Vec::new();
    for e in a.entries().map_err(io)? {
        let e = e.map_err(io)?;
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let clean = pattern::clean(&format!("/{name}"));
        let clean = clean.trim_start_matches('/');
        if !clean.is_empty() {
            out.push(clean.to_string());
        }
    }
    Ok(out)
}

/// Where a single new file goes: `dest` itself, or `dest/name` when `dest` is
/// a directory (by spelling or in the image).
fn file_target(
    d: &DestRoot,
    workdir: &str,
    dest: &str,
    name: Option<&str>,
    what: &str,
) -> Result<PathBuf> {
    let (abs, dir_syntax) = dest_path(workdir, dest);
    let is_dir = dir_syntax || matches!(d.lookup(&abs)?, Some((_, FileType::Directory)));
    if !is_dir {
        return d.follow_final(&abs);
    }
    match name {
        Some(n) => Ok(abs.join(n)),
        None => Err(BuildError::Destination {
            dest: dest.to_string(),
            why: format!("{what} gives no file name; name the destination file"),
        }),
    }
}

/// `COPY <<NAME dest`: write `content` as a file (mode 0644 unless `chmod`).
/// Returns the path written, absolute in the image.
pub fn heredoc(
    name: &str,
    content: &[u8],
    dest_root: &Path,
    dest: &str,
    workdir: &str,
    chown: Option<Owner>,
    chmod: Option<&Chmod>,
) -> Result<PathBuf> {
    let d = DestRoot::open(dest_root)?;
    let target = file_target(&d, workdir, dest, Some(name), "the heredoc")?;
    let owner = chown.unwrap_or(Owner::ROOT);
    let (dir, fname) = d.parent(&target, owner)?;
    let mode = chmod.map_or(0o644, |c| c.apply(0o644, false));
    d.write_file(
        dir.as_fd(),
        fname,
        &target,
        &mut &content[..],
        Attrs {
            mode,
            owner,
            times: None,
        },
    )?;
    Ok(target)
}

/// Options of `ADD <url> <dest>`.
#[derive(Debug, Clone)]
pub struct UrlOptions {
    pub chown: Option<Owner>,
    pub chmod: Option<Chmod>,
    /// `--checksum=sha256:<hex>`.
    pub checksum: Option<String>,
    pub workdir: String,
    /// Whole-download limit.
    pub timeout: Duration,
}

impl Default for UrlOptions {
    fn default() -> Self {
        UrlOptions {
            chown: None,
            chmod: None,
            checksum: None,
            workdir: String::new(),
            timeout: Duration::from_secs(600),
        }
    }
}

/// What [`add_url`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlAdded {
    /// Absolute path in the image.
    pub path: PathBuf,
    /// "sha256:<hex>" of the content (for the cache key).
    pub digest: String,
    pub size: u64,
}

/// `ADD <url> <dest>`: see the module docs of `url` handling above. Nothing is
/// written to the image unless the download completes and `--checksum` (if
/// given) matches.
pub fn add_url(url: &str, dest_root: &Path, dest: &str, opts: &UrlOptions) -> Result<UrlAdded> {
    let want = opts
        .checksum
        .as_deref()
        .map(|c| url::parse_checksum(url, c))
        .transpose()?;
    let mut dl = url::download(url, opts.timeout)?;
    if let Some(want) = want {
        if want != dl.sha256 {
            return Err(BuildError::ChecksumMismatch {
                url: url.to_string(),
                expected: want,
                actual: dl.sha256,
            });
        }
    }
    let d = DestRoot::open(dest_root)?;
    let target = file_target(&d, &opts.workdir, dest, dl.name.as_deref(), "the URL")?;
    let owner = opts.chown.unwrap_or(Owner::ROOT);
    let (dir, name) = d.parent(&target, owner)?;
    let mode = opts.chmod.as_ref().map_or(0o600, |c| c.apply(0o600, false));
    let times = dl.modified.map(|t| (url::timespec(t), url::timespec(t)));
    let attrs = Attrs { mode, owner, times };
    let size = d.write_file(dir.as_fd(), name, &target, &mut dl.file, attrs)?;
    Ok(UrlAdded {
        path: target,
        digest: dl.sha256,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(dest_path("/app", "x"), (PathBuf::from("/app/x"), false));
        assert_eq!(dest_path("/app", "."), (PathBuf::from("/app"), true));
        assert_eq!(dest_path("", "x/"), (PathBuf::from("/x"), true));
        assert_eq!(dest_path("/app", "/abs/../y"), (PathBuf::from("/y"), false));
        assert_eq!(dest_path("/app", "../../.."), (PathBuf::from("/"), false));
    }

    #[test]
    fn parents_pivot() {
        let m = |p: &str| SourceMatch {
            path: p.into(),
            real: p.into(),
            kind: SourceKind::File,
        };
        assert_eq!(parents_rel("x/y/a.txt", &m("x/y/a.txt")), "x/y/a.txt");
        assert_eq!(parents_rel("x/./y/a.txt", &m("x/y/a.txt")), "y/a.txt");
        assert_eq!(parents_rel("./x/*.txt", &m("x/a.txt")), "x/a.txt");
        assert_eq!(parents_rel("./x/./y/a.txt", &m("x/y/a.txt")), "y/a.txt");
    }
}
