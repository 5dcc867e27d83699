use std::path::{Path, PathBuf};

use crate::blobs::BlobStore;
use crate::db::Db;
use crate::error::StoreError;
use crate::root::{self, BLOBS_DIR, DB_FILE, TMP_DIR};
use crate::tmp;

/// An opened state root: blob store plus metadata database.
pub struct Store {
    root: PathBuf,
    blobs: BlobStore,
    db: Db,
}

impl Store {
    /// Creates the layout if missing, opens and migrates the database, and
    /// removes temp files abandoned by crashed processes (never those a live
    /// process still holds locked).
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        root::create_layout(root)?;
        let tmp_dir = root.join(TMP_DIR);
        tmp::cleanup(&tmp_dir)?;
        let db = Db::open(&root.join(DB_FILE))?;
        Ok(Store {
            root: root.to_owned(),
            blobs: BlobStore::new(root.join(BLOBS_DIR), tmp_dir),
            db,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn db_mut(&mut self) -> &mut Db {
        &mut self.db
    }

    /// Directory for callers' own temp files and directories, on the same
    /// filesystem as the store so they can be renamed into it.
    ///
    /// `Store::open` removes entries here that are older than an hour unless
    /// they are `flock`ed; hold an exclusive flock on a file (or on the
    /// opened directory) to keep a long-running job's entry alive.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.root.join(root::LAYERS_DIR)
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join(root::SNAPSHOTS_DIR)
    }
}
