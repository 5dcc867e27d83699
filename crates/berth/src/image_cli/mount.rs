//! `image mount` / `image unmount` (as in Podman): a read-write overlay snapshot of an
//! image, e.g. as the rootfs of a bundle for `berth runtime`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MountArgs {
    image: String,
}

fn key(id: &str) -> String {
    format!("image-{}", &id.trim_start_matches("sha256:")[..12])
}

pub fn mount(a: MountArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let img = store.resolve(&a.image)?;
    let snap = store.mount_snapshot(&img, &key(&img.id), None)?;
    println!("{}", snap.rootfs.display());
    Ok(0)
}

pub fn unmount(a: MountArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let img = store.resolve(&a.image)?;
    store.remove_snapshot(&key(&img.id))?;
    println!("{}", img.id);
    Ok(0)
}
