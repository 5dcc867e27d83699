//! Applying one layer tar to a directory.
//!
//! Every path goes through a `berth_safepath::Root` on the destination:
//! parent directories are resolved (symlinks followed, but only inside the
//! root) or created by `mkdir_all`, and the final component is always made
//! with a single *at() call on that parent fd that never follows a symlink
//! (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat, symlinkat, mknodat, linkat). So a
//! symlink planted by an earlier entry can redirect a later entry at most to
//! another place inside the root. Existing entries are unlinked and
//! recreated rather than truncated, so a hard link made earlier can never be
//! used to write through to another name.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use berth_safepath::{proc_fd_path, OFlags, OpenInRoot, Root, SafePathError};
use rustix::fs::{
    chmodat, chownat, fchmod, fchown, fstat, futimens, linkat, makedev, mkdirat, mknodat, openat,
    statat, symlinkat, unlinkat, utimensat, AtFlags, FileType, Gid, Mode, Timespec, Timestamps,
    Uid, CWD,
};
use rustix::io::Errno;
use tar::EntryType;

use super::compression;
use super::error::LayerError;
use super::names::{self, NameError};
use super::tap::{Ctl, Mode as TapMode, Tap, META_LIMIT};
use super::tarsplit::SplitWriter;
use super::whiteout::{self, WhiteoutMode};
use super::xattr;

/// Copy buffer for file content and the read buffer above the decompressor.
const BUF: usize = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Running without real root: device nodes are skipped (and counted),
    /// chown/xattr failures with EPERM are ignored, whiteouts and opaque
    /// markers use the `user.overlay.*` xattr forms when needed.
    pub rootless: bool,
    /// Where to write the tar-split metadata (see `tarsplit`).
    pub tar_split: Option<PathBuf>,
    pub whiteouts: WhiteoutMode,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// "sha256:<hex>" of the uncompressed tar stream, trailing bytes included.
    pub diff_id: String,
    /// Bytes of regular-file content written.
    pub size: u64,
    /// Tar entries seen (extension headers not counted).
    pub entries: u64,
    /// Device nodes not created because of `rootless`.
    pub skipped_devices: u64,
    /// Whiteout entries (`.wh.<name>`) handled.
    pub whiteouts: u64,
}

/// Extract the (possibly compressed) layer tar `input` into `dest`, an
/// existing directory. See the module docs of `layer` for the policies. On
/// error `dest` is left partly written (the caller discards it) and a
/// partial tar-split is removed.
pub fn extract(
    input: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<Extracted, LayerError> {
    let r = extract_inner(input, dest, opts);
    if r.is_err() {
        if let Some(p) = &opts.tar_split {
            let _ = std::fs::remove_file(p);
        }
    }
    r
}

fn extract_inner(
    input: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<Extracted, LayerError> {
    let layer = dest.to_path_buf();
    let stream_err = |op: &'static str| {
        let layer = layer.clone();
        move |e: io::Error| LayerError::Stream {
            layer,
            op,
            source: e,
        }
    };
    let root = Root::open(dest).map_err(|e| LayerError::Path {
        layer: layer.clone(),
        entry: String::new(),
        source: Box::new(e),
    })?;
    let stream = compression::decompress(input).map_err(stream_err("reading the layer"))?;
    let stream = BufReader::with_capacity(BUF, stream);
    let split = match &opts.tar_split {
        Some(p) => Some(SplitWriter::create(p).map_err(|e| LayerError::TarSplit {
            path: p.clone(),
            what: "cannot create".into(),
            source: Some(e),
        })?),
        None => None,
    };
    let (tap, ctl) = Tap::new(stream, split);
    let mut x = Extractor::new(root, layer.clone(), opts, ctl.clone());

    let mut archive = tar::Archive::new(tap);
    {
        let mut entries = archive.entries().map_err(stream_err("reading the layer"))?;
        loop {
            {
                let mut c = ctl.borrow_mut();
                c.mode = TapMode::Next;
                c.next_bytes = 0;
            }
            let next = entries.next();
            ctl.borrow_mut().mode = TapMode::Record;
            let mut entry = match next {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => return Err(x.tar_error(e)),
            };
            let consumed = x.entry(&mut entry)?;
            // Whatever the handler did not read (content of non-files) is
            // read here so the tar-split keeps it and truncation is caught.
            let rest = io::copy(&mut entry, &mut io::sink()).map_err(|e| x.tar_error(e))?;
            let size = entry.size();
            if consumed + rest != size {
                return Err(LayerError::Truncated {
                    layer: layer.clone(),
                    entry: x.last.clone().unwrap_or_default(),
                    expected: size,
                    got: consumed + rest,
                });
            }
        }
    }
    x.finish_dirs()?;
    let mut tap = archive.into_inner();
    // The end-of-archive blocks after the first and any trailing bytes are
    // part of what the diff_id covers.
    io::copy(&mut tap, &mut io::sink()).map_err(stream_err("reading the end of the layer"))?;
    let (digest, total) = tap.finish();
    if let Some(split) = ctl.borrow_mut().split.take() {
        split
            .finish(total, &digest)
            .map_err(|e| LayerError::TarSplit {
                path: opts.tar_split.clone().unwrap_or_default(),
                what: "cannot write".into(),
                source: Some(e),
            })?;
    }
    let mut stats = x.stats;
    stats.diff_id = format!("sha256:{}", hex::encode(digest));
    Ok(stats)
}

/// What a header says about the entry, collected before its content is read.
pub(crate) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timespec,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub link: Option<Vec<u8>>,
    pub dev: (u32, u32),
}

struct Deferred {
    path: PathBuf,
    mode: u32,
    mtime: Timespec,
    dev: u64,
    ino: u64,
}

pub(crate) struct Extractor<'o> {
    pub root: Root,
    pub layer: PathBuf,
    pub opts: &'o ExtractOptions,
    ctl: Ctl,
    /// The last parent directory used: consecutive entries of a tar nearly
    /// always share it, which saves a path resolution per entry. Cleared
    /// whenever anything is removed, so it always names what resolving the
    /// path again would give (nothing else can change that: creating an
    /// entry never replaces an existing one without removing it first).
    cache: Option<(PathBuf, Rc<OwnedFd>)>,
    dirs: Vec<Deferred>,
    /// Regular files recorded by reference in the tar-split, by path, with
    /// their record index: if one is replaced later in the same layer its
    /// content is saved into the tar-split first.
    refs: BTreeMap<PathBuf, u64>,
    /// Apply mode: paths this layer created, which its own whiteouts must
    /// not remove (whiteouts apply to lower layers only).
    pub created: HashSet<PathBuf>,
    pub stats: Extracted,
    pub last: Option<String>,
    buf: Vec<u8>,
}

impl<'o> Extractor<'o> {
    fn new(root: Root, layer: PathBuf, opts: &'o ExtractOptions, ctl: Ctl) -> Self {
        Extractor {
            root,
            layer,
            opts,
            ctl,
            cache: None,
            dirs: Vec::new(),
            refs: BTreeMap::new(),
            created: HashSet::new(),
            stats: Extracted::default(),
            last: None,
            buf: vec![0u8; BUF],
        }
    }

    fn tar_error(&self, e: io::Error) -> LayerError {
        if self.ctl.borrow().meta_exceeded {
            return LayerError::MetadataTooLarge {
                layer: self.layer.clone(),
                after: self.last.clone(),
                limit: META_LIMIT,
            };
        }
        LayerError::Tar {
            layer: self.layer.clone(),
            after: self.last.clone(),
            source: e,
        }
    }

    pub fn io(&self, entry: &str, op: &'static str) -> impl FnOnce(Errno) -> LayerError + '_ {
        let entry = entry.to_string();
        move |e| LayerError::Io {
            layer: self.layer.clone(),
            entry,
            op,
            source: e.into(),
        }
    }

    pub fn path_err(&self, entry: &str) -> impl FnOnce(SafePathError) -> LayerError + '_ {
        let entry = entry.to_string();
        move |e| LayerError::Path {
            layer: self.layer.clone(),
            entry,
            source: Box::new(e),
        }
    }

    pub fn invalid(&self, entry: &str, what: impl Into<String>) -> LayerError {
        LayerError::Invalid {
            layer: self.layer.clone(),
            entry: entry.to_string(),
            what: what.into(),
        }
    }

    fn clean(&self, raw: &[u8], entry: &str) -> Result<PathBuf, LayerError> {
        names::clean(raw).map_err(|e| match e {
            NameError::Escapes => LayerError::Escapes {
                layer: self.layer.clone(),
                entry: entry.to_string(),
            },
            NameError::TooLong { len, limit } => LayerError::NameTooLong {
                layer: self.layer.clone(),
                entry: entry.chars().take(200).collect(),
                len,
                limit,
            },
            NameError::Nul => self.invalid(entry, "name contains a NUL byte"),
        })
    }

    /// O_PATH fd of directory `dir` (relative, cleaned), created if missing.
    pub fn dir_fd(&mut self, dir: &Path, entry: &str) -> Result<Rc<OwnedFd>, LayerError> {
        if let Some((p, fd)) = &self.cache {
            if p == dir {
                return Ok(fd.clone());
            }
        }
        let fd = if dir.as_os_str().is_empty() {
            self.root
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| self.io(entry, "dup")(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?
        } else {
            self.root
                .mkdir_all(dir, 0o755)
                .map_err(self.path_err(entry))?
        };
        let fd = Rc::new(fd);
        self.cache = Some((dir.to_path_buf(), fd.clone()));
        Ok(fd)
    }

    pub fn parent<'p>(
        &mut self,
        path: &'p Path,
        entry: &str,
    ) -> Result<(Rc<OwnedFd>, &'p OsStr), LayerError> {
        let name = path
            .file_name()
            .ok_or_else(|| self.invalid(entry, "the entry names the root itself"))?;
        let parent = path.parent().unwrap_or(Path::new(""));
        Ok((self.dir_fd(parent, entry)?, name))
    }

    /// Remove whatever is at `name` in `dir` (the entry `path`), recursively
    /// for a directory, without following symlinks.
    pub fn remove_existing(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        entry: &str,
    ) -> Result<(), LayerError> {
        self.save_refs(path, entry)?;
        let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io(entry, "stat of the existing entry")(e)),
        };
        // Any removal can change what a cached parent path resolves to (a
        // symlink on the way may be gone), so resolve afresh after it.
        self.cache = None;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            remove_tree(dir, name).map_err(self.io(entry, "removing the existing directory"))
        } else {
            unlinkat(dir, name, AtFlags::empty())
                .map_err(self.io(entry, "removing the existing entry"))
        }
    }

    /// Before `path` (and anything below it) is replaced or removed, copy the
    /// content of files the tar-split refers to into it.
    fn save_refs(&mut self, path: &Path, entry: &str) -> Result<(), LayerError> {
        if self.refs.is_empty() {
            return Ok(());
        }
        let doomed: Vec<(PathBuf, u64)> = self
            .refs
            .range(path.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (p, index) in doomed {
            self.refs.remove(&p);
            let fd = self
                .root
                .open(&p, OFlags::RDONLY | OFlags::NOFOLLOW, 0)
                .map_err(self.path_err(entry))?;
            let mut data = Vec::new();
            File::from(fd)
                .read_to_end(&mut data)
                .map_err(|e| self.io(entry, "saving replaced file content")(io_errno(&e)))?;
            let mut c = self.ctl.borrow_mut();
            if let Some(split) = c.split.as_mut() {
                split.blob(index, &data).map_err(|e| LayerError::TarSplit {
                    path: self.opts.tar_split.clone().unwrap_or_default(),
                    what: "cannot write".into(),
                    source: Some(e),
                })?;
            }
        }
        Ok(())
    }

    /// Handle one entry; returns how many content bytes it read.
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<u64, LayerError> {
        self.stats.entries += 1;
        let raw = e.path_bytes().into_owned();
        let entry = String::from_utf8_lossy(&raw).into_owned();
        self.last = Some(entry.clone());
        let path = self.clean(&raw, &entry)?;
        let kind = e.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(0);
        }
        if let Some(name) = path.file_name() {
            if self.opts.whiteouts != WhiteoutMode::Keep
                && name.as_bytes().starts_with(whiteout::PREFIX)
            {
                self.whiteout(&path, name.as_bytes(), &entry)?;
                return Ok(0);
            }
        }
        let meta = self.meta(e, &entry)?;
        if self.opts.whiteouts == WhiteoutMode::Apply {
            self.created.insert(path.clone());
        }
        match kind {
            EntryType::Directory => self.directory(&path, &meta, &entry).map(|_| 0),
            EntryType::Regular | EntryType::Continuous => self.file(e, &path, &meta, &entry, true),
            // Sparse content is read with its holes filled in, so it cannot
            // be referenced from the tar-split: its bytes stay inline.
            EntryType::GNUSparse => self.file(e, &path, &meta, &entry, false),
            EntryType::Symlink => self.symlink(&path, &meta, &entry).map(|_| 0),
            EntryType::Link => self.hardlink(&path, &meta, &entry).map(|_| 0),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.node(&path, kind, &meta, &entry).map(|_| 0)
            }
            other => Err(self.invalid(&entry, format!("unsupported tar entry type {other:?}"))),
        }
    }

    fn meta<R: Read>(&self, e: &mut tar::Entry<'_, R>, entry: &str) -> Result<Meta, LayerError> {
        let bad = |what: &str| self.invalid(entry, format!("bad header: {what}"));
        let h = e.header();
        let old = h.as_old();
        let mode = lenient(h.mode(), &old.mode).ok_or_else(|| bad("mode"))?;
        let uid = lenient(h.uid(), &old.uid).ok_or_else(|| bad("uid"))?;
        let uid = u32::try_from(uid).map_err(|_| bad("uid too large"))?;
        let gid = lenient(h.gid(), &old.gid).ok_or_else(|| bad("gid"))?;
        let gid = u32::try_from(gid).map_err(|_| bad("gid too large"))?;
        let secs = lenient(h.mtime(), &old.mtime).ok_or_else(|| bad("mtime"))?;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        let dev = if matches!(h.entry_type(), EntryType::Char | EntryType::Block) {
            (
                h.device_major()
                    .ok()
                    .flatten()
                    .ok_or_else(|| bad("device major"))?,
                h.device_minor()
                    .ok()
                    .flatten()
                    .ok_or_else(|| bad("device minor"))?,
            )
        } else {
            (0, 0)
        };
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let mut xattrs = Vec::new();
        if let Some(pax) = e.pax_extensions().map_err(|_| bad("PAX records"))? {
            for ext in pax {
                let ext = ext.map_err(|_| bad("PAX record"))?;
                let key = ext.key_bytes();
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                } else if key == b"mtime" {
                    if let Some(ts) = parse_pax_time(ext.value_bytes()) {
                        mtime = ts;
                    }
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
            link,
            dev,
        })
    }

    fn chown_ok(&self, r: Result<(), Errno>, entry: &str) -> Result<(), LayerError> {
        match r {
            Err(Errno::PERM | Errno::INVAL) if self.opts.rootless => Ok(()),
            r => r.map_err(self.io(entry, "chown")),
        }
    }

    fn xattrs_ok(&self, name: &[u8], r: Result<(), Errno>, entry: &str) -> Result<(), LayerError> {
        match r {
            Ok(()) | Err(Errno::NOTSUP) => Ok(()),
            Err(Errno::PERM | Errno::ACCESS) if self.opts.rootless => Ok(()),
            Err(e) => Err(LayerError::Io {
                layer: self.layer.clone(),
                entry: entry.to_string(),
                op: "setting an xattr",
                source: io::Error::new(
                    io::Error::from(e).kind(),
                    format!("{}: {e}", String::from_utf8_lossy(name)),
                ),
            }),
        }
    }

    /// xattrs of a non-regular entry, by path through the parent's fd.
    fn set_xattrs_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        entry: &str,
        symlink: bool,
    ) -> Result<(), LayerError> {
        if meta.xattrs.is_empty() {
            return Ok(());
        }
        let p = proc_fd_path(dir).join(name);
        for (k, v) in &meta.xattrs {
            // An empty name means the directory itself.
            let r = if name.is_empty() {
                xattr::set_on_fd(dir, k, v)
            } else {
                xattr::set(&p, k, v)
            };
            // Linux refuses user.* xattrs on symlinks; tar tools record them
            // anyway on some filesystems.
            if symlink && r == Err(Errno::PERM) && k.starts_with(b"user.") {
                continue;
            }
            self.xattrs_ok(k, r, entry)?;
        }
        Ok(())
    }

    fn directory(&mut self, path: &Path, meta: &Meta, entry: &str) -> Result<(), LayerError> {
        if path.as_os_str().is_empty() {
            let root = self.root.as_fd();
            let r = chownat(
                root,
                "",
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::EMPTY_PATH,
            );
            self.chown_ok(r, entry)?;
            self.set_xattrs_at(self.root.as_fd(), OsStr::new(""), meta, entry, false)?;
            let st = fstat(self.root.as_fd()).map_err(self.io(entry, "stat"))?;
            self.dirs.push(Deferred {
                path: PathBuf::new(),
                mode: meta.mode,
                mtime: meta.mtime,
                dev: st.st_dev,
                ino: st.st_ino,
            });
            return Ok(());
        }
        let (dir, name) = self.parent(path, entry)?;
        match mkdirat(&*dir, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(self.io(entry, "stat"))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    self.remove_existing(dir.as_fd(), name, path, entry)?;
                    mkdirat(&*dir, name, Mode::from_raw_mode(0o700))
                        .map_err(self.io(entry, "mkdir"))?;
                }
            }
            Err(e) => return Err(self.io(entry, "mkdir")(e)),
        }
        let r = chownat(
            &*dir,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        self.chown_ok(r, entry)?;
        self.set_xattrs_at(dir.as_fd(), name, meta, entry, false)?;
        let st = statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(self.io(entry, "stat"))?;
        // Mode and mtime at the end: writing children changes the mtime, and
        // a read-only mode would stop a non-root extractor from writing them.
        self.dirs.push(Deferred {
            path: path.to_path_buf(),
            mode: meta.mode,
            mtime: meta.mtime,
            dev: st.st_dev,
            ino: st.st_ino,
        });
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        path: &Path,
        meta: &Meta,
        entry: &str,
        by_reference: bool,
    ) -> Result<u64, LayerError> {
        let (dir, name) = self.parent(path, entry)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match openat(&*dir, name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.remove_existing(dir.as_fd(), name, path, entry)?;
                openat(&*dir, name, flags, Mode::from_raw_mode(0o600))
                    .map_err(self.io(entry, "create"))?
            }
            Err(err) => return Err(self.io(entry, "create")(err)),
        };
        let mut f = File::from(fd);
        let expected = e.size();
        let record = by_reference && self.ctl.borrow().split.is_some();
        if record {
            let mut c = self.ctl.borrow_mut();
            c.mode = TapMode::Content;
            c.content_bytes = 0;
        }
        let mut buf = std::mem::take(&mut self.buf);
        let copied = copy(e, &mut f, &mut buf, expected);
        self.buf = buf;
        self.ctl.borrow_mut().mode = TapMode::Record;
        let copied = match copied {
            Ok(n) => n,
            Err(CopyError::Read(err)) => return Err(self.tar_error(err)),
            Err(CopyError::Write(err)) => return Err(self.io(entry, "write")(io_errno(&err))),
        };
        if copied != expected {
            return Err(LayerError::Truncated {
                layer: self.layer.clone(),
                entry: entry.to_string(),
                expected,
                got: copied,
            });
        }
        if record {
            let mut c = self.ctl.borrow_mut();
            let split = c.split.as_mut().expect("record implies a tar-split");
            let index = split
                .file(path, copied)
                .map_err(|err| LayerError::TarSplit {
                    path: self.opts.tar_split.clone().unwrap_or_default(),
                    what: "cannot write".into(),
                    source: Some(err),
                })?;
            drop(c);
            self.refs.insert(path.to_path_buf(), index);
        }
        self.stats.size += copied;
        let r = fchown(
            &f,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        );
        self.chown_ok(r, entry)?;
        // After chown, which clears setuid/setgid.
        fchmod(&f, Mode::from_raw_mode(meta.mode & 0o7777)).map_err(self.io(entry, "chmod"))?;
        // After writing and chown, both of which drop security.capability.
        for (k, v) in &meta.xattrs {
            self.xattrs_ok(k, xattr::fset(&f, k, v), entry)?;
        }
        let ts = Timestamps {
            last_access: meta.mtime,
            last_modification: meta.mtime,
        };
        futimens(&f, &ts).map_err(self.io(entry, "set mtime"))?;
        Ok(copied)
    }

    fn symlink(&mut self, path: &Path, meta: &Meta, entry: &str) -> Result<(), LayerError> {
        let target = match &meta.link {
            Some(t) if !t.is_empty() => OsStr::from_bytes(t).to_owned(),
            _ => return Err(self.invalid(entry, "symlink without a target")),
        };
        let (dir, name) = self.parent(path, entry)?;
        match symlinkat(&target, &*dir, name) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.remove_existing(dir.as_fd(), name, path, entry)?;
                symlinkat(&target, &*dir, name).map_err(self.io(entry, "symlink"))?;
            }
            Err(e) => return Err(self.io(entry, "symlink")(e)),
        }
        let r = chownat(
            &*dir,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        self.chown_ok(r, entry)?;
        self.set_xattrs_at(dir.as_fd(), name, meta, entry, true)?;
        self.times_at(dir.as_fd(), name, meta, entry)
    }

    fn times_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        entry: &str,
    ) -> Result<(), LayerError> {
        let ts = Timestamps {
            last_access: meta.mtime,
            last_modification: meta.mtime,
        };
        utimensat(dir, name, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(self.io(entry, "set mtime"))
    }

    fn hardlink(&mut self, path: &Path, meta: &Meta, entry: &str) -> Result<(), LayerError> {
        let raw = meta.link.clone().unwrap_or_default();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let link_err = |x: &Self, e: io::Error| LayerError::LinkTarget {
            layer: x.layer.clone(),
            entry: entry.to_string(),
            target: shown.clone(),
            source: e,
        };
        let target = match names::clean(&raw) {
            Ok(t) if !t.as_os_str().is_empty() => t,
            Ok(_) => {
                return Err(link_err(
                    self,
                    io::Error::other("it names the root directory"),
                ))
            }
            Err(NameError::Escapes) => {
                return Err(LayerError::LinkEscapes {
                    layer: self.layer.clone(),
                    entry: entry.to_string(),
                    target: shown,
                })
            }
            Err(_) => return Err(link_err(self, io::Error::other("invalid name"))),
        };
        if target == path {
            return Ok(());
        }
        let tfd = self
            .root
            .resolve_nofollow(&target)
            .map_err(|e| link_err(self, e.into()))?;
        let tst = fstat(&tfd).map_err(|e| link_err(self, e.into()))?;
        if FileType::from_raw_mode(tst.st_mode) == FileType::Directory {
            return Err(link_err(self, io::Error::other("it is a directory")));
        }
        let (dir, name) = self.parent(path, entry)?;
        // Linking through the magic link needs no CAP_DAC_READ_SEARCH, unlike
        // AT_EMPTY_PATH, and acts on exactly the inode resolved above.
        let src = proc_fd_path(tfd.as_fd());
        let link = || linkat(CWD, &src, &*dir, name, AtFlags::SYMLINK_FOLLOW);
        match link() {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let st = statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(self.io(entry, "stat"))?;
                if st.st_ino == tst.st_ino && st.st_dev == tst.st_dev {
                    return Ok(());
                }
                self.remove_existing(dir.as_fd(), name, path, entry)?;
                link().map_err(self.io(entry, "hard link"))
            }
            Err(e) => Err(self.io(entry, "hard link")(e)),
        }
    }

    fn node(
        &mut self,
        path: &Path,
        kind: EntryType,
        meta: &Meta,
        entry: &str,
    ) -> Result<(), LayerError> {
        let ft = match kind {
            EntryType::Char => FileType::CharacterDevice,
            EntryType::Block => FileType::BlockDevice,
            _ => FileType::Fifo,
        };
        if self.opts.rootless && ft != FileType::Fifo {
            self.stats.skipped_devices += 1;
            return Ok(());
        }
        let dev = makedev(meta.dev.0, meta.dev.1);
        let (dir, name) = self.parent(path, entry)?;
        let perm = Mode::from_raw_mode(meta.mode & 0o777);
        match mknodat(&*dir, name, ft, perm, dev) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.remove_existing(dir.as_fd(), name, path, entry)?;
                mknodat(&*dir, name, ft, perm, dev).map_err(self.io(entry, "mknod"))?;
            }
            Err(e) => return Err(self.io(entry, "mknod")(e)),
        }
        let r = chownat(
            &*dir,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        self.chown_ok(r, entry)?;
        // We just created a non-symlink here and nothing else writes to the
        // destination meanwhile, so following is harmless.
        chmodat(
            &*dir,
            name,
            Mode::from_raw_mode(meta.mode & 0o7777),
            AtFlags::empty(),
        )
        .map_err(self.io(entry, "chmod"))?;
        self.set_xattrs_at(dir.as_fd(), name, meta, entry, false)?;
        self.times_at(dir.as_fd(), name, meta, entry)
    }

    fn finish_dirs(&mut self) -> Result<(), LayerError> {
        self.cache = None;
        for d in std::mem::take(&mut self.dirs) {
            let entry = d.path.to_string_lossy().into_owned();
            let fd = if d.path.as_os_str().is_empty() {
                self.root
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| self.io(&entry, "dup")(io_errno(&e)))?
            } else {
                match self.root.resolve_nofollow(&d.path) {
                    Ok(fd) => fd,
                    // Removed or replaced by a later entry.
                    Err(_) => continue,
                }
            };
            let st = fstat(&fd).map_err(self.io(&entry, "stat"))?;
            if st.st_ino != d.ino || st.st_dev != d.dev {
                continue;
            }
            let p = proc_fd_path(fd.as_fd());
            rustix::fs::chmod(&p, Mode::from_raw_mode(d.mode & 0o7777))
                .map_err(self.io(&entry, "chmod"))?;
            let ts = Timestamps {
                last_access: d.mtime,
                last_modification: d.mtime,
            };
            utimensat(CWD, &p, &ts, AtFlags::empty()).map_err(self.io(&entry, "set mtime"))?;
        }
        Ok(())
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copy up to `limit` bytes; fewer means the stream ended early. Never
/// allocates from the header's size.
fn copy(
    r: &mut impl Read,
    w: &mut impl Write,
    buf: &mut [u8],
    limit: u64,
) -> Result<u64, CopyError> {
    let mut done = 0u64;
    while done < limit {
        let want = buf
            .len()
            .min(usize::try_from(limit - done).unwrap_or(usize::MAX));
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
        done += n as u64;
    }
    Ok(done)
}

/// A numeric header field; an empty one (all NUL or spaces) reads as 0, as
/// in Go's archive/tar, because some writers leave unused fields blank.
fn lenient<T: Default>(r: io::Result<T>, raw: &[u8]) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Some(T::default()),
        Err(_) => None,
    }
}

pub(crate) fn io_errno(e: &io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

/// "<secs>[.<fraction>]" as PAX writes times.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let tv_sec: i64 = secs.parse().ok()?;
    let mut nsec: i64 = 0;
    let digits: String = frac.chars().take(9).collect();
    if !digits.is_empty() {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nsec = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    }
    // Negative times with fractions count the fraction toward zero in PAX;
    // rare enough to round to the second.
    if tv_sec < 0 {
        nsec = 0;
    }
    Some(Timespec {
        tv_sec,
        tv_nsec: nsec,
    })
}

/// Remove directory `name` in `dir` and everything under it, never following
/// symlinks (each level is opened O_NOFOLLOW relative to its parent).
pub(crate) fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    let fd = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    clear_dir(fd.as_fd(), |_| true)?;
    unlinkat(dir, name, AtFlags::REMOVEDIR)
}

/// Remove the children of the open directory `fd` for which `keep_not`
/// returns true.
pub(crate) fn clear_dir(
    fd: BorrowedFd<'_>,
    mut remove: impl FnMut(&OsStr) -> bool,
) -> Result<(), Errno> {
    let mut names: Vec<(Vec<u8>, FileType)> = Vec::new();
    for ent in rustix::fs::Dir::read_from(fd)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        names.push((n.to_vec(), ent.file_type()));
    }
    for (n, ft) in names {
        let n = OsStr::from_bytes(&n);
        if !remove(n) {
            continue;
        }
        let ft = if ft == FileType::Unknown {
            FileType::from_raw_mode(statat(fd, n, AtFlags::SYMLINK_NOFOLLOW)?.st_mode)
        } else {
            ft
        };
        if ft == FileType::Directory {
            remove_tree(fd, n)?;
        } else {
            unlinkat(fd, n, AtFlags::empty())?;
        }
    }
    Ok(())
}
