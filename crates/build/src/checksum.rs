//! The content digest of a COPY's sources, for the build cache key.
//!
//! It covers, for every source match and every entry below a directory source:
//! the path (relative to the match), the file type, the permission bits
//! (07777), a symlink's target, a device's number and a regular file's sha256.
//! It does not cover mtimes, owners or anything of the destination: a context
//! checked out again, or copied with other owners, hits the same cache entry.
//! `--chown`, `--chmod`, the destination and the like belong to the executor's
//! key, not here.
//!
//! Content hashes are remembered in a [`StatCache`] keyed by (device, inode,
//! size, mtime ns, ctime ns): a rebuild of an unchanged context reads no file
//! content at all. Files modified within the last two seconds are hashed but not
//! remembered, since a write in the same timestamp tick would go unseen. Misses
//! are hashed on several threads when there are enough of them to be worth it.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use berth_safepath::OFlags;
use rustix::fs::{fstat, FileType, Stat};
use sha2::{Digest, Sha256};

use crate::error::{BuildError, Result};
use crate::glob::{SourceKind, SourceMatch, SourceTree};
use crate::ignore::Ignore;
use crate::walk;

/// The stat fields that decide whether a remembered hash still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl StatKey {
    pub fn of(st: &Stat) -> StatKey {
        StatKey {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
        }
    }
}

const HEADER: &str = "berth-statcache 1";

/// Remembered content hashes (see the module docs), optionally persisted.
#[derive(Debug)]
pub struct StatCache {
    path: Option<PathBuf>,
    map: HashMap<(u64, u64), (StatKey, [u8; 32])>,
    dirty: bool,
    /// Files changed less than this long ago are not remembered.
    racy_window_ns: i128,
    /// Files whose hash came from the cache / had to be computed, since load.
    pub hits: u64,
    pub misses: u64,
}

impl Default for StatCache {
    fn default() -> Self {
        StatCache {
            path: None,
            map: HashMap::new(),
            dirty: false,
            racy_window_ns: 2_000_000_000,
            hits: 0,
            misses: 0,
        }
    }
}

impl StatCache {
    /// A cache that lives only as long as this value.
    pub fn in_memory() -> StatCache {
        StatCache::default()
    }

    /// Change the "too recent to remember" window (default 2 s): filesystems
    /// with coarse timestamps need it, tests on fresh files can set zero.
    pub fn with_racy_window(mut self, window: std::time::Duration) -> StatCache {
        self.racy_window_ns = window.as_nanos() as i128;
        self
    }

    /// Load the cache persisted at `path`; a missing, foreign or damaged file
    /// gives an empty cache (it is only a cache), which [`save`] then replaces.
    ///
    /// [`save`]: StatCache::save
    pub fn load(path: &Path) -> StatCache {
        let mut c = StatCache {
            path: Some(path.to_path_buf()),
            ..StatCache::default()
        };
        let Ok(f) = std::fs::File::open(path) else {
            return c;
        };
        let mut lines = BufReader::new(f).lines();
        if !matches!(lines.next(), Some(Ok(h)) if h == HEADER) {
            return c;
        }
        for line in lines {
            let Ok(line) = line else { break };
            if let Some((k, d)) = parse_line(&line) {
                c.map.insert((k.dev, k.ino), (k, d));
            }
        }
        c
    }

    /// Number of remembered files.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The remembered sha256 for a file with this stat, if still valid.
    pub fn get(&self, key: &StatKey) -> Option<[u8; 32]> {
        match self.map.get(&(key.dev, key.ino)) {
            Some((k, d)) if k == key => Some(*d),
            _ => None,
        }
    }

    fn put(&mut self, key: StatKey, digest: [u8; 32]) {
        self.map.insert((key.dev, key.ino), (key, digest));
        self.dirty = true;
    }

    /// Write the cache to its file (atomically: temp file and rename) if it
    /// has one and changed.
    pub fn save(&mut self) -> Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let err = |e: io::Error| BuildError::StatCache {
            path: path.clone(),
            source: e,
        };
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let mut out = io::BufWriter::new(std::fs::File::create(&tmp).map_err(err)?);
        writeln!(out, "{HEADER}").map_err(err)?;
        for (k, d) in self.map.values() {
            writeln!(
                out,
                "{} {} {} {} {} {}",
                k.dev,
                k.ino,
                k.size,
                k.mtime_ns,
                k.ctime_ns,
                hex::encode(d)
            )
            .map_err(err)?;
        }
        out.into_inner()
            .map_err(|e| err(e.into_error()))?
            .sync_all()
            .map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        self.dirty = false;
        Ok(())
    }
}

fn parse_line(line: &str) -> Option<(StatKey, [u8; 32])> {
    let f: Vec<&str> = line.split(' ').collect();
    if f.len() != 6 {
        return None;
    }
    let mut d = [0u8; 32];
    hex::decode_to_slice(f[5], &mut d).ok()?;
    Some((
        StatKey {
            dev: f[0].parse().ok()?,
            ino: f[1].parse().ok()?,
            size: f[2].parse().ok()?,
            mtime_ns: f[3].parse().ok()?,
            ctime_ns: f[4].parse().ok()?,
        },
        d,
    ))
}

/// One record of the digest; a file's content hash is filled in later.
struct Record {
    head: Vec<u8>,
    /// Real path in the tree and stat of a file whose content must be hashed.
    file: Option<(String, StatKey)>,
    hash: Option<[u8; 32]>,
}

/// A file's stat as read and its content hash, or why it could not be read.
type Hashed = Result<(StatKey, [u8; 32])>;

/// Below this many uncached files, threads cost more than they save.
const PARALLEL_MIN_FILES: usize = 8;

/// "sha256:<hex>" over `matches` (from [`SourceTree::expand`], in order) with
/// entries hidden by `exclude` (COPY `--exclude`) left out. See the module docs.
pub fn checksum(
    tree: &SourceTree,
    matches: &[SourceMatch],
    exclude: &Ignore,
    cache: &mut StatCache,
) -> Result<String> {
    let mut records = Vec::new();
    for m in matches {
        // As COPY does: `--exclude` drops a file source by its name.
        if m.kind != SourceKind::Dir && exclude.is_excluded(m.base_name()) {
            continue;
        }
        let Some((_, real, st)) = tree.lookup(&m.path, true)? else {
            return Err(BuildError::SourceNotFound {
                pattern: format!("/{}", m.path),
                place: tree.name().to_string(),
            });
        };
        let mut head = b"S".to_vec();
        head.extend_from_slice(m.path.as_bytes());
        head.push(0);
        records.push(Record {
            head,
            file: None,
            hash: None,
        });
        records.push(record("", &real, &st, None)?);
        if walk::file_type(&st) == FileType::Directory {
            let mut err = None;
            tree.walk(m, exclude, &mut |e| {
                let rel = e.rel.to_string_lossy();
                let full = if real.is_empty() {
                    rel.to_string()
                } else {
                    format!("{real}/{rel}")
                };
                let target = if e.kind == FileType::Symlink {
                    let (dir, name) = e.dir_and_name();
                    Some(rustix::fs::readlinkat(dir, name, Vec::new()).map_err(|x| {
                        BuildError::Context {
                            path: tree.path().join(&full),
                            what: "cannot read symlink".into(),
                            source: x.into(),
                        }
                    })?)
                } else {
                    None
                };
                match record(&rel, &full, e.stat, target.as_ref().map(|t| t.as_bytes())) {
                    Ok(r) => records.push(r),
                    Err(x) => err = Some(x),
                }
                Ok(())
            })?;
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
    fill_hashes(tree, &mut records, cache)?;
    let mut h = Sha256::new();
    for r in &records {
        h.update(&r.head);
        if let Some(d) = r.hash {
            h.update(d);
        }
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

fn record(rel: &str, real: &str, st: &Stat, target: Option<&[u8]>) -> Result<Record> {
    let ft = walk::file_type(st);
    let mut head = Vec::with_capacity(rel.len() + 16);
    head.extend_from_slice(rel.as_bytes());
    head.push(0);
    head.push(match ft {
        FileType::RegularFile => b'f',
        FileType::Directory => b'd',
        FileType::Symlink => b'l',
        FileType::Fifo => b'p',
        FileType::CharacterDevice => b'c',
        FileType::BlockDevice => b'b',
        _ => b'?',
    });
    head.extend_from_slice(&(st.st_mode & 0o7777).to_le_bytes());
    let mut file = None;
    match ft {
        FileType::RegularFile => file = Some((real.to_string(), StatKey::of(st))),
        FileType::Symlink => {
            head.extend_from_slice(target.unwrap_or_default());
            head.push(0);
        }
        FileType::CharacterDevice | FileType::BlockDevice => {
            head.extend_from_slice(&st.st_rdev.to_le_bytes())
        }
        _ => {}
    }
    Ok(Record {
        head,
        file,
        hash: None,
    })
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

fn fill_hashes(tree: &SourceTree, records: &mut [Record], cache: &mut StatCache) -> Result<()> {
    let mut todo = Vec::new();
    for (i, r) in records.iter_mut().enumerate() {
        if let Some((_, key)) = &r.file {
            match cache.get(key) {
                Some(d) => {
                    r.hash = Some(d);
                    cache.hits += 1;
                }
                None => todo.push(i),
            }
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    let threads = if todo.len() >= PARALLEL_MIN_FILES {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4)
    } else {
        1
    };
    let jobs: Vec<(usize, String)> = todo
        .iter()
        .map(|&i| {
            (
                i,
                records[i]
                    .file
                    .as_ref()
                    .map(|f| f.0.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Hashed)>> = Mutex::new(Vec::new());
    let work = || loop {
        let j = next.fetch_add(1, Ordering::Relaxed);
        let Some((i, path)) = jobs.get(j) else { break };
        let r = hash_file(tree, path);
        results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((*i, r));
    };
    if threads > 1 {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    } else {
        work();
    }
    let recent = now_ns() - cache.racy_window_ns;
    for (i, r) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let (key, digest) = r?;
        records[i].hash = Some(digest);
        cache.misses += 1;
        if key.mtime_ns.max(key.ctime_ns) <= recent {
            cache.put(key, digest);
        }
    }
    Ok(())
}

/// sha256 of the file at `real` (no symlink followed at the end), with the
/// stat of the very file that was read.
fn hash_file(tree: &SourceTree, real: &str) -> Result<(StatKey, [u8; 32])> {
    let io_err = |e: io::Error| BuildError::Context {
        path: tree.path().join(real),
        what: "cannot read for the cache checksum".into(),
        source: e,
    };
    let fd = tree
        .root()
        .open_at(Path::new(real), OFlags::RDONLY | OFlags::NOFOLLOW, 0)
        .map_err(crate::error::path_err(format!(
            "opening {real:?} in {}",
            tree.name()
        )))?;
    let key = StatKey::of(&fstat(fd.as_fd()).map_err(|e| io_err(e.into()))?);
    let mut f = std::fs::File::from(fd);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        h.update(&buf[..n]);
    }
    Ok((key, h.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn set_old(p: &Path) {
        // Out of the "recently modified" window so the cache remembers it.
        let f = fs::File::options().write(true).open(p).unwrap();
        f.set_modified(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000),
        )
        .unwrap();
    }

    fn sum(dir: &Path, srcs: &[&str], cache: &mut StatCache) -> String {
        let t = SourceTree::open(dir, Ignore::empty(), "ctx").unwrap();
        let mut ms = Vec::new();
        for s in srcs {
            ms.extend(t.expand(s).unwrap());
        }
        checksum(&t, &ms, &Ignore::empty(), cache).unwrap()
    }

    #[test]
    fn covers_content_mode_names_and_links_not_times() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::create_dir(p.join("d")).unwrap();
        fs::write(p.join("d/a"), "a").unwrap();
        symlink("a", p.join("d/l")).unwrap();
        let mut c = StatCache::in_memory();
        let base = sum(p, &["d"], &mut c);
        assert_eq!(base, sum(p, &["d"], &mut c));
        assert!(base.starts_with("sha256:") && base.len() == 71);

        set_old(&p.join("d/a"));
        assert_eq!(base, sum(p, &["d"], &mut c), "mtime is not covered");

        fs::set_permissions(p.join("d/a"), fs::Permissions::from_mode(0o755)).unwrap();
        let m = sum(p, &["d"], &mut c);
        assert_ne!(base, m, "mode is covered");
        fs::set_permissions(p.join("d/a"), fs::Permissions::from_mode(0o644)).unwrap();

        fs::remove_file(p.join("d/l")).unwrap();
        symlink("b", p.join("d/l")).unwrap();
        assert_ne!(base, sum(p, &["d"], &mut c), "symlink target is covered");
        fs::remove_file(p.join("d/l")).unwrap();
        symlink("a", p.join("d/l")).unwrap();

        fs::write(p.join("d/a"), "b").unwrap();
        assert_ne!(base, sum(p, &["d"], &mut c), "content is covered");
        fs::write(p.join("d/a"), "a").unwrap();
        let _ = fs::set_permissions(p.join("d/a"), fs::Permissions::from_mode(0o644));
        fs::rename(p.join("d/a"), p.join("d/z")).unwrap();
        assert_ne!(base, sum(p, &["d"], &mut c), "names are covered");
    }

    #[test]
    fn persisted_cache_avoids_rehashing() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ctx");
        fs::create_dir(&p).unwrap();
        for i in 0..40 {
            let f = p.join(format!("f{i}"));
            fs::write(&f, format!("content {i}")).unwrap();
            set_old(&f);
        }
        let cache_file = t.path().join("stat.cache");
        let mut c = StatCache::load(&cache_file).with_racy_window(Default::default());
        assert!(c.is_empty());
        let first = sum(&p, &["."], &mut c);
        assert_eq!((c.hits, c.misses), (0, 40));
        c.save().unwrap();

        let mut c = StatCache::load(&cache_file);
        assert_eq!(c.len(), 40);
        assert_eq!(sum(&p, &["."], &mut c), first);
        assert_eq!((c.hits, c.misses), (40, 0));

        // Changed content with the same size and an old mtime: ctime still moved.
        fs::write(p.join("f3"), "content X").unwrap();
        set_old(&p.join("f3"));
        let mut c = StatCache::load(&cache_file).with_racy_window(Default::default());
        assert_ne!(sum(&p, &["."], &mut c), first);
        assert_eq!(c.misses, 1);

        fs::write(&cache_file, "garbage").unwrap();
        assert!(StatCache::load(&cache_file).is_empty());
    }

    #[test]
    fn fresh_files_are_not_remembered() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("new"), "x").unwrap();
        let mut c = StatCache::in_memory();
        sum(t.path(), &["new"], &mut c);
        assert!(c.is_empty());
    }
}
