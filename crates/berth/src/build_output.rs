//! `build --output`: where the result goes besides (or instead of using) the image
//! store. `type=image` (the default) tags it; `type=local,dest=DIR` writes the final
//! stage's filesystem to a directory, `type=tar,dest=FILE|-` as a tar, and
//! `type=oci|docker,dest=FILE|-` the image as an OCI or docker archive. `-o DIR` and
//! `-o -` are the shorthands for local and tar, as in buildx.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use berth_image::archive::save::{self, Format, SaveItem};
use berth_image::{ImageRecord, ImageStore};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Image,
    Local(PathBuf),
    /// `None`: stdout.
    Tar(Option<PathBuf>),
    Archive(Format, Option<PathBuf>),
}

pub fn parse(spec: &str) -> anyhow::Result<Output> {
    if spec == "-" {
        return Ok(Output::Tar(None));
    }
    if !spec.contains('=') {
        return Ok(Output::Local(PathBuf::from(spec)));
    }
    let mut kind = None;
    let mut dest = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", t)) => kind = Some(t.to_string()),
            Some(("dest", d)) => dest = Some(d.to_string()),
            _ => bail!("invalid --output {spec:?}: use type=TYPE[,dest=PATH]"),
        }
    }
    let file = |d: Option<String>| d.filter(|d| d != "-").map(PathBuf::from);
    Ok(match kind.as_deref() {
        None | Some("image") | Some("registry") if dest.is_none() => Output::Image,
        Some("local") => match dest {
            Some(d) if d != "-" => Output::Local(PathBuf::from(d)),
            _ => bail!("invalid --output {spec:?}: type=local needs dest=DIRECTORY"),
        },
        Some("tar") => Output::Tar(file(dest)),
        Some("oci") => Output::Archive(Format::OciArchive, file(dest)),
        Some("docker") => Output::Archive(Format::DockerArchive, file(dest)),
        Some(t) => bail!(
            "invalid --output {spec:?}: type {t} is not one of image, local, tar, oci, docker"
        ),
        None => bail!("invalid --output {spec:?}: name a type= (image, local, tar, oci, docker)"),
    })
}

/// Writes to `path`, or to stdout.
fn sink(path: &Option<PathBuf>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

fn tar_of(rootfs: &Path, out: impl Write) -> anyhow::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.append_dir_all(".", rootfs)
        .with_context(|| format!("archiving {}", rootfs.display()))?;
    b.into_inner()?.flush()?;
    Ok(())
}

/// Delivers the built image as `out` says.
pub fn deliver(images: &ImageStore, img: &ImageRecord, out: &Output) -> anyhow::Result<()> {
    match out {
        Output::Image => Ok(()),
        Output::Archive(format, path) => {
            let names = img.tags.clone();
            let item = SaveItem {
                image: img.clone(),
                names,
            };
            save::save(images, &[item], *format, sink(path)?).context("writing the image archive")
        }
        Output::Local(_) | Output::Tar(_) => {
            let key = format!("build-export-{}", std::process::id());
            let snap = images.mount_snapshot(img, &key, None)?;
            let r = match out {
                Output::Tar(path) => sink(path).and_then(|w| tar_of(&snap.rootfs, w)),
                Output::Local(dir) => (|| {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    // Through a tar in the store's temp dir: it keeps owners, modes,
                    // links and special files the way an unpack does.
                    let tmp = images.store().tmp_dir().join(format!("{key}.tar"));
                    std::fs::create_dir_all(images.store().tmp_dir()).ok();
                    let f = std::fs::File::create(&tmp)
                        .with_context(|| format!("creating {}", tmp.display()))?;
                    let done = tar_of(&snap.rootfs, std::io::BufWriter::new(f)).and_then(|_| {
                        let mut a = tar::Archive::new(std::fs::File::open(&tmp)?);
                        a.set_preserve_permissions(true);
                        a.set_preserve_ownerships(true);
                        a.set_unpack_xattrs(true);
                        a.unpack(dir)
                            .with_context(|| format!("writing the result into {}", dir.display()))
                    });
                    let _ = std::fs::remove_file(&tmp);
                    done
                })(),
                _ => Ok(()),
            };
            let _ = images.remove_snapshot(&key);
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("out").unwrap(), Output::Local("out".into()));
        assert_eq!(parse("-").unwrap(), Output::Tar(None));
        assert_eq!(parse("type=image").unwrap(), Output::Image);
        assert_eq!(
            parse("type=local,dest=d").unwrap(),
            Output::Local("d".into())
        );
        assert_eq!(parse("type=tar,dest=-").unwrap(), Output::Tar(None));
        assert_eq!(
            parse("type=tar,dest=f.tar").unwrap(),
            Output::Tar(Some("f.tar".into()))
        );
        assert!(matches!(
            parse("type=oci,dest=o.tar").unwrap(),
            Output::Archive(Format::OciArchive, Some(_))
        ));
        assert!(parse("type=local").is_err());
        assert!(parse("type=nope,dest=x").is_err());
        assert!(parse("type=local,dest=x,extra").is_err());
    }
}
