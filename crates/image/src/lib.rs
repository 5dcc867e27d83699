//! Images: references, layers (extract and diff), overlay snapshots, archives.

pub mod layer;
