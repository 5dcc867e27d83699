//! The build context: the files `COPY` and `ADD` can see, and the Dockerfile.
//!
//! - From a directory ([`BuildContext::from_dir`]): used in place, never copied;
//!   walked through fds without following symlinks.
//! - From a tar stream ([`BuildContext::from_tar`], `berth build - < ctx.tar`,
//!   plain or gzip/bzip2/xz/zstd): extracted into a private (0700) temporary
//!   directory that lives as long as the context, with no entry leaving it.
//! - [`BuildContext::from_stdin`] decides like `docker build -`: a tar is a
//!   context; anything else is the Dockerfile of an empty context.
//!
//! The Dockerfile comes from the context (`Dockerfile`, else `dockerfile`),
//! from a host path given with `-f` (which may lie outside the context, as
//! with Docker; a relative one is taken relative to the current directory, as
//! the Docker CLI does), or as bytes the caller read from stdin (`-f -`).
//!
//! The ignore file is `<Dockerfile>.dockerignore` next to the Dockerfile if
//! there is one (BuildKit's per-Dockerfile ignore), else `.dockerignore` at
//! the context root. The Dockerfile and the ignore file are read even when
//! they exclude themselves; they are then invisible to COPY, as with Docker.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use berth_safepath::OFlags;
use rustix::fs::FileType;

use crate::archive;
use crate::error::{BuildError, Result};
use crate::glob::SourceTree;
use crate::ignore::Ignore;

/// Where the Dockerfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSpec {
    /// `Dockerfile` (or, failing that, `dockerfile`) at the context root.
    Default,
    /// `-f PATH` with a directory context: a host path.
    Host(PathBuf),
    /// `-f PATH` with a tar context: a path inside the context.
    InContext(String),
    /// `-f -`: the Dockerfile's bytes, read by the caller from stdin.
    Content(Vec<u8>),
}

/// Type of an entry in the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Fifo or device node.
    Special,
}

/// One entry the context holds (after `.dockerignore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Relative to the context root, '/'-separated.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (with setuid, setgid, sticky).
    pub mode: u32,
    pub size: u64,
    /// A symlink's target, verbatim.
    pub link_target: Option<PathBuf>,
}

/// A build context ready for COPY: see the module docs.
#[derive(Debug)]
pub struct BuildContext {
    tree: SourceTree,
    dockerfile: Vec<u8>,
    dockerfile_name: String,
    // Dropped (removed) with the context; declared last so the tree's fds close first.
    _temp: Option<tempfile::TempDir>,
}

const IGNORE_FILE: &str = ".dockerignore";

impl BuildContext {
    /// A context that is the directory `dir`.
    pub fn from_dir(dir: &Path, dockerfile: DockerfileSpec) -> Result<BuildContext> {
        Self::build(dir, dockerfile, None, "the build context")
    }

    /// A context extracted from the tar stream `input` into a new private
    /// directory under `tmp_parent` (default: the system temp dir).
    pub fn from_tar(
        input: impl Read,
        dockerfile: DockerfileSpec,
        tmp_parent: Option<&Path>,
    ) -> Result<BuildContext> {
        let temp = new_temp(tmp_parent)?;
        // A subdirectory: the archive's "./" entry may set its mode, but not
        // that of the private directory around it.
        let dir = temp.path().join("context");
        std::fs::create_dir(&dir).map_err(crate::error::io_at("creating", dir.clone()))?;
        archive::extract(input, &dir, "the build context from stdin")?;
        Self::build(&dir, dockerfile, Some(temp), "the build context")
    }

    /// `berth build -`: a tar (possibly compressed) on `input` is the context;
    /// anything else is the Dockerfile itself, with an empty context.
    pub fn from_stdin(
        input: impl Read,
        dockerfile: DockerfileSpec,
        tmp_parent: Option<&Path>,
    ) -> Result<BuildContext> {
        let mut br = BufReader::with_capacity(64 * 1024, input);
        let stdin_err = |e: io::Error| BuildError::Io {
            op: "reading",
            path: "stdin".into(),
            source: e,
        };
        // Enough to decompress a first tar block from any of the formats.
        let mut head = Vec::new();
        while head.len() < 64 * 1024 {
            let buf = br.fill_buf().map_err(stdin_err)?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min(64 * 1024 - head.len());
            head.extend_from_slice(&buf[..n]);
            br.consume(n);
        }
        let is_tar = archive::sniff(&head[..]).map_err(stdin_err)?.is_some();
        let stream = io::Cursor::new(head).chain(br);
        if is_tar {
            return Self::from_tar(stream, dockerfile, tmp_parent);
        }
        let mut content = Vec::new();
        { stream }.read_to_end(&mut content).map_err(stdin_err)?;
        let temp = new_temp(tmp_parent)?;
        let dir = temp.path().to_path_buf();
        Self::build(
            &dir,
            DockerfileSpec::Content(content),
            Some(temp),
            "the (empty) build context",
        )
    }

    fn build(
        dir: &Path,
        spec: DockerfileSpec,
        temp: Option<tempfile::TempDir>,
        name: &str,
    ) -> Result<BuildContext> {
        let bare = SourceTree::open(dir, Ignore::empty(), name)?;
        let (dockerfile, dockerfile_name, ignore_text) = match &spec {
            DockerfileSpec::Default => {
                let (bytes, n) = match read_in(&bare, "Dockerfile") {
                    Ok(b) => (b, "Dockerfile"),
                    Err(first) => match read_in(&bare, "dockerfile") {
                        Ok(b) => (b, "dockerfile"),
                        Err(_) => return Err(dockerfile_err(dir.join("Dockerfile"), first)),
                    },
                };
                let ig = read_in(&bare, &format!("{n}{IGNORE_FILE}")).ok();
                (bytes, n.to_string(), ig)
            }
            DockerfileSpec::InContext(p) => {
                let p = p.trim_start_matches('/');
                let bytes = read_in(&bare, p).map_err(|e| dockerfile_err(dir.join(p), e))?;
                let ig = read_in(&bare, &format!("{p}{IGNORE_FILE}")).ok();
                (bytes, p.to_string(), ig)
            }
            DockerfileSpec::Host(p) => {
                let abs = if p.is_absolute() {
                    p.clone()
                } else {
                    std::env::current_dir()
                        .map_err(|e| dockerfile_err(p.clone(), e))?
                        .join(p)
                };
                let bytes = std::fs::read(&abs).map_err(|e| dockerfile_err(abs.clone(), e))?;
                let mut ig_path = abs.clone().into_os_string();
                ig_path.push(IGNORE_FILE);
                let ig = std::fs::read(&ig_path).ok();
                (bytes, abs.display().to_string(), ig)
            }
            DockerfileSpec::Content(b) => (b.clone(), "-".to_string(), None),
        };
        let (ignore_text, origin) = match ignore_text {
            Some(t) => (Some(t), format!("{dockerfile_name}{IGNORE_FILE}")),
            None => (read_in(&bare, IGNORE_FILE).ok(), IGNORE_FILE.to_string()),
        };
        let ignore = match ignore_text {
            Some(t) => Ignore::parse(&String::from_utf8_lossy(&t), &origin)?,
            None => Ignore::empty(),
        };
        drop(bare);
        let tree = SourceTree::open(dir, ignore, name)?;
        Ok(BuildContext {
            tree,
            dockerfile,
            dockerfile_name,
            _temp: temp,
        })
    }

    /// The Dockerfile's bytes.
    pub fn dockerfile(&self) -> &[u8] {
        &self.dockerfile
    }

    /// How the Dockerfile was named (context-relative, host path, or "-").
    pub fn dockerfile_name(&self) -> &str {
        &self.dockerfile_name
    }

    /// The context as a COPY source tree (with the ignore rules applied).
    pub fn tree(&self) -> &SourceTree {
        &self.tree
    }

    /// The host directory holding the context.
    pub fn dir(&self) -> &Path {
        self.tree.path()
    }

    pub fn ignore(&self) -> &Ignore {
        self.tree.ignore()
    }

    /// Everything the context holds after the ignore rules, sorted, parents
    /// before children. A directory that is excluded but holds re-included
    /// entries is listed (as Docker sends it along with them).
    pub fn entries(&self) -> Result<Vec<ContextEntry>> {
        let root = crate::glob::SourceMatch {
            path: String::new(),
            real: String::new(),
            kind: crate::glob::SourceKind::Dir,
        };
        let mut out = Vec::new();
        self.tree.walk(&root, &Ignore::empty(), &mut |e| {
            let kind = match e.kind {
                FileType::RegularFile => EntryKind::File,
                FileType::Directory => EntryKind::Dir,
                FileType::Symlink => EntryKind::Symlink,
                _ => EntryKind::Special,
            };
            let link_target = if kind == EntryKind::Symlink {
                let (dir, name) = e.dir_and_name();
                let t = rustix::fs::readlinkat(dir, name, Vec::new()).map_err(|err| {
                    BuildError::Context {
                        path: self.dir().join(e.rel),
                        what: "cannot read symlink".into(),
                        source: err.into(),
                    }
                })?;
                Some(PathBuf::from(
                    <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                        t.into_bytes(),
                    ),
                ))
            } else {
                None
            };
            out.push(ContextEntry {
                path: e.rel.to_string_lossy().into_owned(),
                kind,
                mode: e.stat.st_mode & 0o7777,
                size: if kind == EntryKind::File {
                    e.stat.st_size as u64
                } else {
                    0
                },
                link_target,
            });
            Ok(())
        })?;
        Ok(out)
    }
}

fn new_temp(parent: Option<&Path>) -> Result<tempfile::TempDir> {
    let parent = parent
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let err = |e| BuildError::Io {
        op: "creating a temporary context directory in",
        path: parent.clone(),
        source: e,
    };
    let t = tempfile::Builder::new()
        .prefix("berth-context-")
        .tempdir_in(&parent)
        .map_err(err)?;
    // Private: nobody else may read the context or plant files in it.
    std::fs::set_permissions(
        t.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(err)?;
    Ok(t)
}

/// Read a regular file inside the context, symlinks followed only inside it.
fn read_in(tree: &SourceTree, rel: &str) -> io::Result<Vec<u8>> {
    let fd = tree
        .root()
        .open_at(Path::new(rel), OFlags::RDONLY, 0)
        .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut f = std::fs::File::from(fd);
    if !f.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

fn dockerfile_err(path: PathBuf, source: io::Error) -> BuildError {
    BuildError::Dockerfile { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn dockerfile_and_ignore_sources() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::write(p.join("dockerfile"), "FROM lower").unwrap();
        fs::write(
            p.join(".dockerignore"),
            "Dockerfile\n.dockerignore\n*.log\n",
        )
        .unwrap();
        fs::write(p.join("a.log"), "").unwrap();
        fs::write(p.join("b.txt"), "").unwrap();
        let c = BuildContext::from_dir(p, DockerfileSpec::Default).unwrap();
        assert_eq!(c.dockerfile(), b"FROM lower");
        assert_eq!(c.dockerfile_name(), "dockerfile");
        let names: Vec<_> = c.entries().unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(names, ["b.txt", "dockerfile"]);

        fs::write(p.join("Dockerfile"), "FROM upper").unwrap();
        let c = BuildContext::from_dir(p, DockerfileSpec::Default).unwrap();
        assert_eq!(c.dockerfile(), b"FROM upper");
        assert!(
            c.tree().expand("Dockerfile").is_err(),
            "excluded Dockerfile is invisible"
        );

        let out = tempfile::tempdir().unwrap();
        let df = out.path().join("build.Dockerfile");
        fs::write(&df, "FROM outside").unwrap();
        fs::write(out.path().join("build.Dockerfile.dockerignore"), "b.txt\n").unwrap();
        let c = BuildContext::from_dir(p, DockerfileSpec::Host(df)).unwrap();
        assert_eq!(c.dockerfile(), b"FROM outside");
        assert!(c.ignore().is_excluded("b.txt"));
        assert!(!c.ignore().is_excluded("a.log"));

        let c = BuildContext::from_dir(p, DockerfileSpec::Content(b"FROM stdin".to_vec())).unwrap();
        assert_eq!(c.dockerfile(), b"FROM stdin");
        assert!(c.ignore().is_excluded("a.log"));
    }

    #[test]
    fn dockerfile_symlink_cannot_leave_the_context() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("Dockerfile"), "FROM secret").unwrap();
        symlink(
            outside.path().join("Dockerfile"),
            t.path().join("Dockerfile"),
        )
        .unwrap();
        let e = BuildContext::from_dir(t.path(), DockerfileSpec::Default).unwrap_err();
        assert!(matches!(e, BuildError::Dockerfile { .. }), "{e}");
    }

    #[test]
    fn stdin_is_a_tar_or_a_dockerfile() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("Dockerfile", &b"FROM tar"[..]), ("sub/f.txt", &b"f"[..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        for data in [&tar, &gz] {
            let c = BuildContext::from_stdin(&data[..], DockerfileSpec::Default, None).unwrap();
            assert_eq!(c.dockerfile(), b"FROM tar");
            let names: Vec<_> = c.entries().unwrap().into_iter().map(|e| e.path).collect();
            assert_eq!(names, ["Dockerfile", "sub", "sub/f.txt"]);
            let dir = c.dir().parent().unwrap().to_path_buf();
            let mode = fs::metadata(&dir).unwrap().permissions();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
                0o700
            );
            drop(c);
            assert!(!dir.exists(), "temporary context removed with the context");
        }
        let c = BuildContext::from_stdin(&b"FROM scratch\n"[..], DockerfileSpec::Default, None)
            .unwrap();
        assert_eq!(c.dockerfile(), b"FROM scratch\n");
        assert!(c.entries().unwrap().is_empty());
    }
}
