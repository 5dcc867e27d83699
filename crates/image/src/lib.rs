//! berth's images: references, layers (safe extraction, tar-split, diffs), the image
//! store on top of berth-store, overlay snapshots and archives.

pub mod archive;
pub mod config;
mod drop_behind;
pub mod error;
mod hashing;
pub mod layer;
pub mod manifest_list;
pub mod platform;
pub mod reference;
pub mod snapshot;
pub mod store;

pub use error::{ImageError, Result};
pub use reference::ImageRef;
pub use store::{ImageRecord, ImageStore};
