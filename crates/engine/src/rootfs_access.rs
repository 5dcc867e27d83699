//! Safe access to a container's root filesystem for `cp`, `export`, `diff` and
//! `commit`: the snapshot is mounted for the duration if the container is stopped,
//! and a running container is frozen so it cannot swap a path for a symlink while
//! berth reads or writes through it (the class of CVE-2018-15664).

use std::path::PathBuf;

use crate::engine::Engine;
use crate::error::Result;
use crate::records::Container;
use crate::state::Status;

pub struct Access<'a> {
    engine: &'a Engine,
    id: String,
    pub rootfs: PathBuf,
    mounted_here: bool,
    paused_here: bool,
}

impl Engine {
    /// Mounts (or finds mounted) the container's snapshot. A `--rm` container's
    /// changes go with it, so its snapshot is volatile: nothing in it is synced.
    pub(crate) fn mount_rootfs(
        &self,
        c: &Container,
        image: &berth_image::store::ImageRecord,
    ) -> Result<berth_image::snapshot::Snapshot> {
        let images = self.images();
        Ok(if c.settings.host_config.auto_remove {
            images.mount_volatile_snapshot(image, &c.id)?
        } else {
            images.mount_snapshot(image, &c.id, None)?
        })
    }

    /// Opens the container's rootfs; with `freeze`, a running container is paused
    /// until the returned guard is dropped.
    pub fn access_rootfs(&self, c: &Container, freeze: bool) -> Result<Access<'_>> {
        let image = self.images().resolve(&c.image_id)?;
        let snap_dir = self.images().snapshots_dir().join(&c.id).join("merged");
        let was_mounted = berth_image::snapshot::is_mountpoint(&snap_dir);
        let snap = self.mount_rootfs(c, &image)?;
        let mut paused_here = false;
        if freeze && c.state.status == Status::Running {
            if let Ok(r) =
                berth_runtime::lifecycle::Container::load(&self.layout().runtime_root(), &c.id)
            {
                paused_here = r.pause().is_ok();
            }
        }
        Ok(Access {
            engine: self,
            id: c.id.clone(),
            rootfs: snap.rootfs,
            mounted_here: !was_mounted && !c.state.status.is_active(),
            paused_here,
        })
    }
}

impl Drop for Access<'_> {
    fn drop(&mut self) {
        if self.paused_here {
            if let Ok(r) = berth_runtime::lifecycle::Container::load(
                &self.engine.layout().runtime_root(),
                &self.id,
            ) {
                let _ = r.resume();
            }
        }
        if self.mounted_here {
            let _ = self.engine.images().unmount_snapshot(&self.id);
        }
    }
}
