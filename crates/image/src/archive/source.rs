//! Random access to the files of an image archive: a tar file indexed once (entry name
//! to data offset; layers are then read in place, in parallel, without unpacking the
//! archive), or an OCI layout directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub trait Source: Sync {
    fn exists(&self, name: &str) -> bool;
    fn open(&self, name: &str) -> io::Result<Box<dyn Read + Send + '_>>;
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open(name)?.read_to_end(&mut v)?;
        Ok(v)
    }
}

fn clean(name: &str) -> String {
    let mut s = name
        .trim_start_matches("./")
        .trim_start_matches('/')
        .to_string();
    while s.ends_with('/') {
        s.pop();
    }
    s
}

struct Entry {
    offset: u64,
    size: u64,
    link: Option<String>,
}

pub struct TarSource {
    path: PathBuf,
    entries: HashMap<String, Entry>,
}

impl TarSource {
    pub fn index(path: &Path) -> io::Result<TarSource> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        let mut ar = tar::Archive::new(f);
        let mut entries = HashMap::new();
        for e in ar.entries_with_seek()? {
            let e = e?;
            // Seeking past the end is not an error for the tar reader; a cut archive is.
            if e.raw_file_position() + e.size() > len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the archive is truncated: entry {} needs {} bytes past its end",
                        e.path()?.display(),
                        e.raw_file_position() + e.size() - len
                    ),
                ));
            }
            let name = clean(&e.path()?.to_string_lossy());
            let kind = e.header().entry_type();
            let link = if kind.is_symlink() || kind.is_hard_link() {
                e.link_name()?.map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    if kind.is_symlink() {
                        // Symlinks are relative to the entry's directory.
                        let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                        normalize(&base.join(l))
                    } else {
                        clean(&l)
                    }
                })
            } else {
                None
            };
            entries.insert(
                name,
                Entry {
                    offset: e.raw_file_position(),
                    size: e.size(),
                    link,
                },
            );
        }
        Ok(TarSource {
            path: path.to_path_buf(),
            entries,
        })
    }

    fn find(&self, name: &str) -> Option<&Entry> {
        let mut name = clean(name);
        for _ in 0..16 {
            let e = self.entries.get(&name)?;
            match &e.link {
                Some(l) => name = l.clone(),
                None => return Some(e),
            }
        }
        None
    }
}

fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

impl Source for TarSource {
    fn exists(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        let e = self.find(name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} is not in the archive"),
            )
        })?;
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(e.offset))?;
        Ok(Box::new(io::BufReader::with_capacity(
            1 << 20,
            f.take(e.size),
        )))
    }
}

pub struct DirSource {
    pub dir: PathBuf,
}

impl Source for DirSource {
    fn exists(&self, name: &str) -> bool {
        self.dir.join(clean(name)).exists()
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        let n = clean(name);
        if n.split('/').any(|c| c == "..") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} leaves the layout"),
            ));
        }
        Ok(Box::new(io::BufReader::with_capacity(
            1 << 20,
            File::open(self.dir.join(n))?,
        )))
    }
}
