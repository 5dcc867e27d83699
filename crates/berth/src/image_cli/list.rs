//! `images` / `image ls`.

use std::path::PathBuf;

use anyhow::bail;
use berth_image::reference::{familiar, split_tag};
use berth_image::ImageRecord;
use serde_json::{json, Value};

use crate::format::{align, print_list, ListFormat};
use crate::human;

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Only images whose repository (and tag) match, e.g. busybox or busybox:1.36.
    reference: Option<String>,
    /// Show all images (berth keeps no intermediate images, so this equals the default).
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Filter: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE.
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output: table, json, or a Go template ('{{.Repository}}:{{.Tag}}').
    #[arg(long)]
    format: Option<String>,
}

struct Row {
    repo: String,
    tag: String,
    digest: String,
    image: ImageRecord,
}

fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && go(p, &t[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

pub fn images(a: ImagesArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let all = store.list()?;
    let mut images = all.clone();
    for f in &a.filter {
        let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
        match k {
            "dangling" => {
                let want = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter 'dangling={v}': use true or false"),
                };
                images.retain(|i| i.tags.is_empty() == want);
            }
            "label" => {
                let (lk, lv) = v
                    .split_once('=')
                    .map(|(a, b)| (a, Some(b)))
                    .unwrap_or((v, None));
                images.retain(|i| {
                    store
                        .config(i)
                        .map(|c| {
                            c.labels()
                                .iter()
                                .any(|(k, val)| k == lk && lv.is_none_or(|lv| lv == val))
                        })
                        .unwrap_or(false)
                });
            }
            "before" | "since" => {
                let pivot = store.resolve(v)?;
                images.retain(|i| {
                    let (a, b) = (
                        i.created.clone().unwrap_or_default(),
                        pivot.created.clone().unwrap_or_default(),
                    );
                    if k == "before" {
                        a < b
                    } else {
                        a > b
                    }
                });
            }
            "reference" => {}
            _ => bail!(
                "invalid filter '{k}': images accepts dangling, label, before, since and reference"
            ),
        }
    }
    let mut rows = Vec::new();
    for img in &images {
        if img.tags.is_empty() {
            rows.push(Row {
                repo: "<none>".into(),
                tag: "<none>".into(),
                digest: img
                    .repo_digests
                    .first()
                    .map(|d| d.split('@').nth(1).unwrap_or("").to_string())
                    .unwrap_or_else(|| "<none>".into()),
                image: img.clone(),
            });
        }
        for t in &img.tags {
            let (repo, tag) = split_tag(t);
            let digest = img
                .repo_digests
                .iter()
                .find(|d| d.starts_with(&format!("{repo}@")))
                .map(|d| d.split('@').nth(1).unwrap_or("").to_string())
                .unwrap_or_else(|| "<none>".into());
            rows.push(Row {
                repo: familiar(repo),
                tag: tag.to_string(),
                digest,
                image: img.clone(),
            });
        }
    }
    let refs: Vec<String> = a
        .filter
        .iter()
        .filter_map(|f| f.strip_prefix("reference=").map(str::to_string))
        .chain(a.reference.clone())
        .collect();
    if !refs.is_empty() {
        rows.retain(|r| {
            refs.iter().any(|p| {
                let (pr, pt) = match p.rsplit_once(':') {
                    Some((r, t)) if !t.contains('/') => (r, Some(t)),
                    _ => (p.as_str(), None),
                };
                glob_match(pr, &r.repo) && pt.is_none_or(|pt| glob_match(pt, &r.tag))
            })
        });
    }
    let id = |i: &ImageRecord| {
        if a.no_trunc {
            i.id.clone()
        } else {
            i.short_id().to_string()
        }
    };
    if a.quiet {
        let mut seen = Vec::new();
        for r in &rows {
            let i = id(&r.image);
            if !seen.contains(&i) {
                println!("{i}");
                seen.push(i);
            }
        }
        return Ok(0);
    }
    let format = ListFormat::parse(a.format.as_deref());
    if let ListFormat::Default = format {
        let mut lines = vec![if a.digests {
            "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE".to_string()
        } else {
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE".to_string()
        }];
        for r in &rows {
            let mut cols = vec![r.repo.clone(), r.tag.clone()];
            if a.digests {
                cols.push(r.digest.clone());
            }
            cols.push(id(&r.image));
            cols.push(human::ago(r.image.created.as_deref()));
            cols.push(human::size(r.image.size));
            lines.push(cols.join("\t"));
        }
        print!("{}", align(&lines));
        return Ok(0);
    }
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "Repository": r.repo, "Tag": r.tag, "Digest": r.digest, "ID": id(&r.image),
                "CreatedSince": human::ago(r.image.created.as_deref()),
                "CreatedAt": r.image.created.clone().unwrap_or_default(),
                "Size": human::size(r.image.size), "VirtualSize": human::size(r.image.size),
                "SharedSize": "N/A", "UniqueSize": "N/A", "Containers": "N/A",
            })
        })
        .collect();
    print_list(
        &format,
        &items,
        &[
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
        ],
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn reference_globs() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("*/app", "user/app"));
        assert!(!glob_match("*", "user/app"));
        assert!(glob_match("busybox", "busybox"));
    }
}
