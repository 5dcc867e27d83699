//! Pushing a manifest list of the store (`berth manifest push`, `berth push LIST`):
//! each listed image by digest, as `push` would send it, then the OCI index under the
//! tag. The index names the digests the registry answered for this push, and the
//! list in the store is brought up to date with them.

use std::sync::Arc;

use berth_image::manifest_list::{ListEntry, OCI_INDEX};
use berth_image::{ImageError, ImageRecord, ImageRef, ImageStore};

use super::error::Result;
use super::manifest;
use super::progress::Progress;
use super::push::{invalid, send_image, PushOptions, PushOutcome, Session};
use super::upload::put_manifest;

#[derive(Debug, Clone)]
pub struct PushListOptions {
    pub push: PushOptions,
    /// Push the listed images too (podman's `--all`, default true); without it only
    /// the index goes up and the registry must already have the images.
    pub all: bool,
}

#[derive(Debug, Clone)]
pub struct PushListOutcome {
    /// `registry/repo:tag` the index went to.
    pub destination: String,
    pub digest: String,
    pub size: usize,
    /// One per listed image, in list order; empty without `all`.
    pub images: Vec<PushOutcome>,
}

/// Pushes the list named `list` to `dest` (its own name when `None`; a leading
/// `docker://` is accepted as podman writes it).
pub fn push_list(
    store: &ImageStore,
    list: &str,
    dest: Option<&str>,
    opts: &PushListOptions,
    progress: &Arc<Progress>,
) -> Result<PushListOutcome> {
    let found = store
        .manifest_list(list)?
        .ok_or_else(|| ImageError::ListNotFound(list.to_string()))?;
    let dest = dest.unwrap_or(&found.name);
    let dest = dest.strip_prefix("docker://").unwrap_or(dest);
    let r = ImageRef::parse(dest)?;
    if r.digest.is_some() {
        return Err(invalid(
            &r,
            format!("a manifest list is pushed to a tag, not to a digest ({dest})"),
        ));
    }
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    if found.entries.is_empty() {
        return Err(invalid(
            &r,
            format!(
                "manifest list {} is empty; add images with `berth manifest add {} IMAGE`",
                found.name, found.name
            ),
        ));
    }
    // Every image first: a list whose image was removed fails before any upload.
    let images = store.list()?;
    let mut listed: Vec<(&ListEntry, &ImageRecord)> = Vec::new();
    for e in &found.entries {
        let image = images.iter().find(|i| i.id == e.image_id).ok_or_else(|| {
            invalid(
                &r,
                format!(
                    "manifest list {} lists image {} ({}), which is no longer in the store; add it again or remove it from the list",
                    found.name, e.image_id, e.platform
                ),
            )
        })?;
        listed.push((e, image));
    }
    progress.line(&format!("The push refers to repository [{}]", r.name()));
    let session = Session::connect(&r, &opts.push)?;
    let mut outcomes = Vec::new();
    let mut changed = Vec::new();
    if opts.all {
        for (e, image) in &listed {
            let out = send_image(&session, store, &r, image, None, &opts.push, progress)?;
            if out.digest != e.digest || out.size as u64 != e.size || out.media_type != e.media_type
            {
                changed.push(ListEntry {
                    digest: out.digest.clone(),
                    size: out.size as u64,
                    media_type: out.media_type.clone(),
                    ..(*e).clone()
                });
            }
            outcomes.push(out);
        }
    }
    let current = if changed.is_empty() {
        found
    } else {
        store.put_manifest_list_entries(&found.name, &changed)?
    };
    let bytes = current.index_bytes();
    let digest = manifest::sha256(&bytes);
    session.rt.block_on(put_manifest(
        &session.reg,
        &r.repository,
        &tag,
        OCI_INDEX,
        &bytes,
        &digest,
    ))?;
    progress.line(&format!("{tag}: digest: {digest} size: {}", bytes.len()));
    Ok(PushListOutcome {
        destination: format!("{}:{tag}", r.name()),
        digest,
        size: bytes.len(),
        images: outcomes,
    })
}
