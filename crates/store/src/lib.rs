//! berth's state root: a content-addressed blob store and the one SQLite
//! metadata database shared by all `berth` processes.
//!
//! Layout under the root (`/var/lib/berth`, or `~/.local/share/berth`
//! rootless):
//!
//! ```text
//! berth.db        metadata (images, tags, layers, ...), WAL mode
//! blobs/sha256/   content-addressed blobs, named by hex digest
//! layers/         unpacked layers
//! snapshots/      container root filesystems
//! tmp/            temp files, same filesystem so renames are atomic
//! ```

mod blobs;
mod db;
mod digest;
mod error;
mod migrations;
mod root;
mod store;
mod tmp;

pub use blobs::{BlobStore, BlobWriter};
pub use db::{Db, BUSY_TIMEOUT};
pub use digest::{Digest, DigestWriter};
pub use error::StoreError;
pub use root::default_root;
pub use store::Store;
