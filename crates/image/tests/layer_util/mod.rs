//! Helpers shared by the layer tests: a small tar-building DSL that can also
//! write what well-behaved tools refuse to (escaping names, bogus sizes).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// True when running as root. Otherwise prints a loud SKIPPED line, or
/// fails under CI=true so skipped coverage cannot go unnoticed.
pub fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} needs root and CI=true");
    }
    eprintln!("\n!!!!!!!! SKIPPED {test}: needs root !!!!!!!!\n");
    false
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[derive(Default)]
pub struct Tar {
    pub data: Vec<u8>,
}

pub struct E<'a> {
    pub name: &'a [u8],
    pub kind: EntryType,
    pub content: &'a [u8],
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<&'a [u8]>,
    pub dev: (u32, u32),
    pub pax: Vec<(&'a str, &'a [u8])>,
    /// Size written in the header instead of content.len().
    pub claimed_size: Option<u64>,
}

impl<'a> E<'a> {
    pub fn new(name: &'a str, kind: EntryType) -> Self {
        E {
            name: name.as_bytes(),
            kind,
            content: b"",
            mode: if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: None,
            dev: (0, 0),
            pax: Vec::new(),
            claimed_size: None,
        }
    }
}

fn pad(v: &mut Vec<u8>) {
    let r = v.len() % 512;
    if r != 0 {
        v.resize(v.len() + 512 - r, 0);
    }
}

pub fn pax_body(recs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in recs {
        let rest = k.len() + v.len() + 3;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

impl Tar {
    pub fn new() -> Self {
        Tar::default()
    }

    pub fn raw_header(
        &mut self,
        name: &[u8],
        kind: EntryType,
        size: u64,
        f: impl FnOnce(&mut Header),
    ) {
        let mut h = Header::new_ustar();
        let u = h.as_ustar_mut().unwrap();
        let n = name.len().min(100);
        u.name[..n].copy_from_slice(&name[..n]);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        f(&mut h);
        h.set_cksum();
        self.data.extend_from_slice(h.as_bytes());
    }

    pub fn add(&mut self, e: E<'_>) -> &mut Self {
        let mut pax: Vec<(&str, &[u8])> = e.pax.clone();
        if e.name.len() > 100 {
            pax.push(("path", e.name));
        }
        if let Some(l) = e.link {
            if l.len() > 100 {
                pax.push(("linkpath", l));
            }
        }
        if !pax.is_empty() {
            let body = pax_body(&pax);
            self.raw_header(
                b"././@PaxHeader",
                EntryType::XHeader,
                body.len() as u64,
                |_| {},
            );
            self.data.extend_from_slice(&body);
            pad(&mut self.data);
        }
        let size = e.claimed_size.unwrap_or(e.content.len() as u64);
        self.raw_header(e.name, e.kind, size, |h| {
            h.set_mode(e.mode);
            h.set_uid(e.uid);
            h.set_gid(e.gid);
            h.set_mtime(e.mtime);
            if let Some(l) = e.link {
                let u = h.as_ustar_mut().unwrap();
                let n = l.len().min(100);
                u.linkname[..n].copy_from_slice(&l[..n]);
            }
            if matches!(e.kind, EntryType::Char | EntryType::Block) {
                h.set_device_major(e.dev.0).unwrap();
                h.set_device_minor(e.dev.1).unwrap();
            }
        });
        self.data.extend_from_slice(e.content);
        pad(&mut self.data);
        self
    }

    pub fn file(&mut self, name: &str, content: &[u8]) -> &mut Self {
        let mut e = E::new(name, EntryType::Regular);
        e.content = content;
        self.add(e)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.add(E::new(name, EntryType::Directory))
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut e = E::new(name, EntryType::Symlink);
        e.link = Some(target.as_bytes());
        e.mode = 0o777;
        self.add(e)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut e = E::new(name, EntryType::Link);
        e.link = Some(target.as_bytes());
        self.add(e)
    }

    /// GNU 'L' long name followed by a file.
    pub fn gnu_long_file(&mut self, name: &str, content: &[u8]) -> &mut Self {
        let mut body = name.as_bytes().to_vec();
        body.push(0);
        let mut h = Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(EntryType::GNULongName);
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        self.data.extend_from_slice(h.as_bytes());
        self.data.extend_from_slice(&body);
        pad(&mut self.data);
        let mut e = E::new(&name[..90], EntryType::Regular);
        e.content = content;
        self.add(e)
    }

    /// End of archive with `zero_blocks` zero blocks (2 is standard).
    pub fn finish(&mut self, zero_blocks: usize) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.data);
        v.resize(v.len() + 512 * zero_blocks, 0);
        v
    }
}

/// A fresh directory layout: `<tmp>/dest` (the layer dir) next to
/// `<tmp>/outside` with a sentinel, so escapes are detectable.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::Builder::new()
            .prefix("berth-layer-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(tmp.path().join("dest")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/sentinel"), b"untouched").unwrap();
        Sandbox { tmp }
    }
    pub fn dest(&self) -> PathBuf {
        self.tmp.path().join("dest")
    }
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
    /// Asserts nothing but `dest` and the untouched `outside` exist.
    pub fn assert_nothing_outside(&self) {
        let mut names: Vec<_> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dest", "outside"],
            "something was created next to dest"
        );
        let mut out: Vec<_> = std::fs::read_dir(self.path().join("outside"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        out.sort();
        assert_eq!(out, ["sentinel"]);
        assert_eq!(
            std::fs::read(self.path().join("outside/sentinel")).unwrap(),
            b"untouched"
        );
    }
}

/// Default extract options for the current user: rootless when not root, so
/// the unprivileged run exercises the rootless paths instead of failing on
/// chown.
pub fn opts() -> berth_image::layer::ExtractOptions {
    berth_image::layer::ExtractOptions {
        rootless: !rustix::process::geteuid().is_root(),
        ..Default::default()
    }
}
