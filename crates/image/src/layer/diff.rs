//! Turning an overlayfs upper directory into a layer tar (PAX format).
//!
//! The walk is always sorted by name, so the same tree gives the same tar;
//! with `reproducible_mtime` mtimes are also clamped. Overlay bookkeeping
//! becomes OCI whiteouts: a 0/0 character device (or an empty file carrying
//! `*.overlay.whiteout`) turns into `.wh.<name>`, a directory marked opaque
//! gets a `.wh..wh..opq` entry right after it, and `trusted.overlay.*` /
//! `user.overlay.*` xattrs are not copied. Sockets are skipped (they cannot
//! be stored in a tar).

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::error::LayerError;
use super::whiteout::{
    OPAQUE, OVERLAY_OPAQUE, PREFIX, TRUSTED_WHITEOUT, USER_OPAQUE, USER_WHITEOUT,
};
use super::xattr;

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Clamp every mtime to at most this (seconds since the epoch), like
    /// SOURCE_DATE_EPOCH; entries are sorted either way.
    pub reproducible_mtime: Option<i64>,
    /// Entries left out (paths relative to the upper dir, e.g. `etc/hosts`): the
    /// mount-point stubs a runtime created that are not the container's changes.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// "sha256:<hex>" of the tar written.
    pub diff_id: String,
    /// Bytes of tar written.
    pub size: u64,
    pub entries: u64,
}

/// Write the layer tar of `upper` to `out`.
pub fn diff(upper: &Path, out: impl Write, opts: &DiffOptions) -> Result<DiffStats, LayerError> {
    let w = HashWriter {
        w: out,
        h: Sha256::new(),
        n: 0,
    };
    let mut d = Differ {
        upper,
        b: tar::Builder::new(w),
        opts,
        links: HashMap::new(),
        entries: 0,
    };
    d.walk(upper, b"")?;
    let entries = d.entries;
    let w = d.b.into_inner().map_err(|e| LayerError::Stream {
        layer: upper.to_path_buf(),
        op: "writing the layer tar",
        source: e,
    })?;
    let HashWriter { mut w, h, n } = w;
    w.flush().map_err(|e| LayerError::Stream {
        layer: upper.to_path_buf(),
        op: "writing the layer tar",
        source: e,
    })?;
    Ok(DiffStats {
        diff_id: format!("sha256:{}", hex::encode(h.finalize())),
        size: n,
        entries,
    })
}

struct HashWriter<W> {
    w: W,
    h: Sha256,
    n: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        self.h.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

struct Differ<'a, W: Write> {
    upper: &'a Path,
    b: tar::Builder<HashWriter<W>>,
    opts: &'a DiffOptions,
    /// (dev, ino) of multiply-linked files already written, to their name.
    links: HashMap<(u64, u64), Vec<u8>>,
    entries: u64,
}

struct Item<'x> {
    name: &'x [u8],
    kind: EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    size: u64,
    link: Option<&'x [u8]>,
    dev: (u32, u32),
    xattrs: &'x [(Vec<u8>, Vec<u8>)],
}

impl<'a, W: Write> Differ<'a, W> {
    fn err(&self, path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> LayerError + '_ {
        let entry = path
            .strip_prefix(self.upper)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        move |e| LayerError::Io {
            layer: self.upper.to_path_buf(),
            entry,
            op,
            source: e,
        }
    }

    fn walk(&mut self, dir: &Path, rel: &[u8]) -> Result<(), LayerError> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(self.err(dir, "read directory"))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(self.err(dir, "read directory"))?;
        names.sort();
        for n in names {
            let abs = dir.join(&n);
            let mut name = rel.to_vec();
            if !name.is_empty() {
                name.push(b'/');
            }
            let whiteout_name = {
                let mut w = name.clone();
                w.extend_from_slice(PREFIX);
                w.extend_from_slice(n.as_bytes());
                w
            };
            name.extend_from_slice(n.as_bytes());
            if self
                .opts
                .exclude
                .iter()
                .any(|x| x.as_bytes() == name.as_slice())
            {
                continue;
            }
            let md = fs::symlink_metadata(&abs).map_err(self.err(&abs, "stat"))?;
            let ft = md.file_type();
            if self.is_whiteout(&abs, &md)? {
                self.put_marker(&whiteout_name, &md)?;
                continue;
            }
            if ft.is_socket() {
                continue;
            }
            let xattrs: Vec<(Vec<u8>, Vec<u8>)> = {
                let mut v = Vec::new();
                for k in xattr::list(&abs).map_err(self.err(&abs, "list xattrs"))? {
                    if k.starts_with(b"trusted.overlay.") || k.starts_with(b"user.overlay.") {
                        continue;
                    }
                    if let Some(val) = xattr::get(&abs, &k).map_err(self.err(&abs, "read xattr"))? {
                        v.push((k, val));
                    }
                }
                v.sort();
                v
            };
            let mut item = Item {
                name: &name,
                kind: EntryType::Regular,
                mode: md.mode() & 0o7777,
                uid: md.uid().into(),
                gid: md.gid().into(),
                mtime: self.mtime(&md),
                size: 0,
                link: None,
                dev: (0, 0),
                xattrs: &xattrs,
            };
            if ft.is_dir() {
                let mut dname = name.clone();
                dname.push(b'/');
                item.name = &dname;
                item.kind = EntryType::Directory;
                self.put(&item, io::empty())?;
                if self.is_opaque(&abs)? {
                    let mut o = name.clone();
                    o.push(b'/');
                    o.extend_from_slice(OPAQUE);
                    self.put_marker(&o, &md)?;
                }
                self.walk(&abs, &name)?;
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    let key = (md.dev(), md.ino());
                    if let Some(first) = self.links.get(&key).cloned() {
                        item.kind = EntryType::Link;
                        item.link = Some(&first);
                        self.put(&item, io::empty())?;
                        continue;
                    }
                    self.links.insert(key, name.clone());
                }
                let f = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&abs)
                    .map_err(self.err(&abs, "open"))?;
                item.size = md.len();
                self.put(&item, Exact { f, left: md.len() })?;
            } else if ft.is_symlink() {
                let t = fs::read_link(&abs).map_err(self.err(&abs, "readlink"))?;
                item.kind = EntryType::Symlink;
                item.link = Some(t.as_os_str().as_bytes());
                self.put(&item, io::empty())?;
            } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
                item.kind = if ft.is_char_device() {
                    EntryType::Char
                } else if ft.is_block_device() {
                    EntryType::Block
                } else {
                    EntryType::Fifo
                };
                let rdev = md.rdev();
                item.dev = (libc::major(rdev), libc::minor(rdev));
                self.put(&item, io::empty())?;
            }
        }
        Ok(())
    }

    fn mtime(&self, md: &Metadata) -> i64 {
        let m = md.mtime();
        let m = match self.opts.reproducible_mtime {
            Some(c) => m.min(c),
            None => m,
        };
        m.max(0)
    }

    fn is_whiteout(&self, abs: &Path, md: &Metadata) -> Result<bool, LayerError> {
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            return Ok(true);
        }
        if ft.is_file() && md.len() == 0 {
            for k in [USER_WHITEOUT, TRUSTED_WHITEOUT] {
                if xattr::get(abs, k)
                    .map_err(self.err(abs, "read xattr"))?
                    .is_some()
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn is_opaque(&self, abs: &Path) -> Result<bool, LayerError> {
        for k in [OVERLAY_OPAQUE, USER_OPAQUE] {
            if xattr::get(abs, k)
                .map_err(self.err(abs, "read xattr"))?
                .as_deref()
                == Some(b"y")
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A `.wh.` entry: an empty root-owned regular file.
    fn put_marker(&mut self, name: &[u8], md: &Metadata) -> Result<(), LayerError> {
        let item = Item {
            name,
            kind: EntryType::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: self.mtime(md),
            size: 0,
            link: None,
            dev: (0, 0),
            xattrs: &[],
        };
        self.put(&item, io::empty())
    }

    fn put(&mut self, it: &Item<'_>, data: impl Read) -> Result<(), LayerError> {
        let shown = String::from_utf8_lossy(it.name).into_owned();
        let werr = |e: io::Error| LayerError::Io {
            layer: self.upper.to_path_buf(),
            entry: shown.clone(),
            op: "writing the layer tar",
            source: e,
        };
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if it.name.len() > 100 {
            pax.push((b"path".to_vec(), it.name.to_vec()));
        }
        if let Some(l) = it.link {
            if l.len() > 100 {
                pax.push((b"linkpath".to_vec(), l.to_vec()));
            }
        }
        // Octal fields of 7 digits (uid/gid) and 11 digits (size).
        if it.uid > 0o7777777 {
            pax.push((b"uid".to_vec(), it.uid.to_string().into_bytes()));
        }
        if it.gid > 0o7777777 {
            pax.push((b"gid".to_vec(), it.gid.to_string().into_bytes()));
        }
        if it.size > 0o77777777777 {
            pax.push((b"size".to_vec(), it.size.to_string().into_bytes()));
        }
        for (k, v) in it.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(k);
            pax.push((key, v.clone()));
        }
        if !pax.is_empty() {
            let body = pax_body(&pax);
            let mut h = Header::new_ustar();
            set_bytes(
                &mut h.as_ustar_mut().expect("ustar").name,
                b"././@PaxHeader",
            );
            h.set_entry_type(EntryType::XHeader);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(it.mtime as u64);
            h.set_size(body.len() as u64);
            h.set_cksum();
            self.b.append(&h, &body[..]).map_err(werr)?;
        }
        let mut h = Header::new_ustar();
        {
            let u = h.as_ustar_mut().expect("ustar");
            set_bytes(&mut u.name, it.name);
            if let Some(l) = it.link {
                set_bytes(&mut u.linkname, l);
            }
        }
        h.set_entry_type(it.kind);
        h.set_mode(it.mode);
        h.set_uid(it.uid.min(0o7777777));
        h.set_gid(it.gid.min(0o7777777));
        h.set_mtime(it.mtime as u64);
        h.set_size(it.size);
        if matches!(it.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(it.dev.0).map_err(werr)?;
            h.set_device_minor(it.dev.1).map_err(werr)?;
        }
        h.set_cksum();
        self.b.append(&h, data).map_err(werr)?;
        self.entries += 1;
        Ok(())
    }
}

/// Truncating copy into a fixed header field; PAX carries the full value.
fn set_bytes(field: &mut [u8], v: &[u8]) {
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
}

/// PAX records: "<len> <key>=<value>\n" where len counts itself.
fn pax_body(recs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in recs {
        let rest = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

/// Exactly `left` bytes of a file, failing if it shrank: the header already
/// promised that size, so a short copy would corrupt the archive.
struct Exact {
    f: File,
    left: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was being archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::pax_body;

    #[test]
    fn pax_record_length_counts_itself() {
        let b = pax_body(&[(b"path".to_vec(), vec![b'a'; 2])]);
        assert_eq!(b, b"11 path=aa\n");
        let b = pax_body(&[(b"path".to_vec(), vec![b'a'; 93])]);
        assert_eq!(&b[..4], b"103 ");
        assert_eq!(b.len(), 103);
    }
}
