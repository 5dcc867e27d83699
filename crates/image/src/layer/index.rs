//! The tar-split of a layer whose files are already on disk in the layer layout: a
//! build step's overlay upper directory, which becomes the layer's directory by a
//! rename instead of being written out as a tar and unpacked again. The tar (from
//! [`super::diff`] of that same directory) is read once: headers and padding are
//! recorded, regular files' content is hashed and referenced by path, exactly as
//! [`super::extract`] records a layer it unpacks, so `reassemble` gives back the
//! same bytes.

use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::EntryType;

use super::error::LayerError;
use super::names;
use super::tap::{Mode as TapMode, Tap};
use super::tarsplit::SplitWriter;
use super::whiteout;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indexed {
    /// "sha256:<hex>" of the tar.
    pub diff_id: String,
    /// Bytes of tar read.
    pub tar_size: u64,
    /// Bytes of regular-file content.
    pub size: u64,
}

/// Reads the layer tar `input` of the directory `layer` and writes its tar-split to
/// `tar_split`.
pub fn index(layer: &Path, input: impl Read, tar_split: &Path) -> Result<Indexed, LayerError> {
    let split_err = |what: &str, e: io::Error| LayerError::TarSplit {
        path: tar_split.to_path_buf(),
        what: what.into(),
        source: Some(e),
    };
    let stream_err = |e: io::Error| LayerError::Stream {
        layer: layer.to_path_buf(),
        op: "indexing the layer tar",
        source: e,
    };
    let split = SplitWriter::create(tar_split).map_err(|e| split_err("cannot create", e))?;
    let (tap, ctl) = Tap::new(BufReader::with_capacity(1 << 16, input), Some(split));
    let mut archive = tar::Archive::new(tap);
    let mut size = 0;
    {
        let mut entries = archive.entries().map_err(stream_err)?;
        loop {
            {
                let mut c = ctl.borrow_mut();
                c.mode = TapMode::Next;
                c.next_bytes = 0;
            }
            let next = entries.next();
            ctl.borrow_mut().mode = TapMode::Record;
            let mut e = match next {
                None => break,
                Some(e) => e.map_err(stream_err)?,
            };
            let kind = e.header().entry_type();
            let raw = e.path_bytes().into_owned();
            let path = names::clean(&raw).map_err(|why| LayerError::Invalid {
                layer: layer.to_path_buf(),
                entry: String::from_utf8_lossy(&raw).into_owned(),
                what: format!("{why:?}"),
            })?;
            let whiteout = path
                .file_name()
                .is_some_and(|n| n.as_bytes().starts_with(whiteout::PREFIX));
            let by_reference =
                matches!(kind, EntryType::Regular | EntryType::Continuous) && !whiteout;
            if by_reference {
                ctl.borrow_mut().mode = TapMode::Content;
            }
            let n = io::copy(&mut e, &mut io::sink()).map_err(stream_err)?;
            ctl.borrow_mut().mode = TapMode::Record;
            if by_reference {
                let mut c = ctl.borrow_mut();
                let split = c.split.as_mut().expect("created above");
                split
                    .file(&path, n)
                    .map_err(|e| split_err("cannot write", e))?;
                size += n;
            }
        }
    }
    let mut tap = archive.into_inner();
    io::copy(&mut tap, &mut io::sink()).map_err(stream_err)?;
    let (digest, total) = tap.finish();
    if let Some(split) = ctl.borrow_mut().split.take() {
        split
            .finish(total, &digest)
            .map_err(|e| split_err("cannot write", e))?;
    }
    Ok(Indexed {
        diff_id: format!("sha256:{}", hex::encode(digest)),
        tar_size: total,
        size,
    })
}
