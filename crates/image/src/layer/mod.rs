//! Image layers: applying a layer tar to a directory (`extract`), rebuilding
//! the exact tar later from that directory and a small tar-split file
//! (`reassemble`), and turning an overlayfs upper directory into a layer
//! (`diff`).
//!
//! Policies for hostile layers (each is an error naming the entry and the
//! layer unless said otherwise):
//! - names: a leading '/' is dropped, "." and empty components ignored, ".."
//!   applied lexically; a name that climbs above the root is rejected
//!   ([`LayerError::Escapes`]). Names longer than 4096 bytes or with a
//!   component over 255 bytes are rejected.
//! - symlinks in the layer are created verbatim (absolute, relative,
//!   dangling). When a later entry's parent path goes through one, it is
//!   followed *inside* the root (as if chrooted), never outside; the final
//!   component of an entry is never followed.
//! - hard links: the target is cleaned like a name (escaping is
//!   [`LayerError::LinkEscapes`]) and must already exist in the destination
//!   and not be a directory. The link entry's own metadata is ignored (it
//!   would change the shared inode).
//! - duplicates: the later entry wins; whatever was there (file, directory
//!   tree, link) is removed first, never written through.
//! - sizes: content is streamed, never preallocated from a header; a stream
//!   that ends inside an entry fails ([`LayerError::Truncated`]); extension
//!   headers over 32 MiB for one entry fail.
//! - device nodes when rootless: skipped and counted.

mod compression;
mod diff;
mod error;
mod extract;
mod index;
mod names;
mod tap;
mod tarsplit;
mod whiteout;
mod xattr;

pub use compression::{decompress, detect, Compression};
pub use diff::{diff, DiffOptions, DiffStats};
pub use error::LayerError;
pub use extract::{extract, ExtractOptions, Extracted};
pub use index::{index, Indexed};
pub use names::{MAX_COMPONENT, MAX_NAME};
pub use tarsplit::reassemble;
pub use whiteout::WhiteoutMode;
