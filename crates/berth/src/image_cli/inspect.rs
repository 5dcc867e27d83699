//! `image inspect` (Docker-compatible JSON) and `history`.

use std::path::PathBuf;

use berth_image::reference::{familiar, split_tag};
use berth_image::{ImageRecord, ImageStore};
use serde_json::{json, Value};

use crate::format::{align, print_list, ListFormat};
use crate::human;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Images to inspect (name, tag, id or id prefix).
    #[arg(required = true)]
    images: Vec<String>,
    /// Format each result with a Go template ('{{.Id}}', '{{json .Config}}').
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    image: String,
    /// Print sizes and dates in raw form.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    format: Option<String>,
}

fn familiar_tag(t: &str) -> String {
    let (repo, tag) = split_tag(t);
    format!("{}:{tag}", familiar(repo))
}

pub fn inspect_json(store: &ImageStore, img: &ImageRecord) -> anyhow::Result<Value> {
    let cfg = store.config(img)?;
    let mut lower = Vec::new();
    for c in img.layers.iter().rev() {
        if let Some(l) = store.layer(c)? {
            lower.push(store.layer_diff_path(&l.dir).display().to_string());
        }
    }
    let raw = &cfg.raw;
    Ok(json!({
        "Id": img.id,
        "RepoTags": img.tags.iter().map(|t| familiar_tag(t)).collect::<Vec<_>>(),
        "RepoDigests": img.repo_digests.iter().map(|d| {
            let (repo, digest) = d.split_once('@').unwrap_or((d, ""));
            format!("{}@{digest}", familiar(repo))
        }).collect::<Vec<_>>(),
        "Parent": raw.get("parent").cloned().unwrap_or(json!("")),
        "Comment": raw.get("comment").cloned().unwrap_or(json!("")),
        "Created": raw.get("created").cloned().unwrap_or(json!("")),
        "DockerVersion": raw.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": raw.get("author").cloned().unwrap_or(json!("")),
        "Config": raw.get("config").cloned().unwrap_or(json!({})),
        "Architecture": cfg.architecture(),
        "Variant": raw.get("variant").cloned().unwrap_or(Value::Null),
        "Os": cfg.os(),
        "Size": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": lower.join(":")}},
        "RootFS": {"Type": "layers", "Layers": cfg.diff_ids()?},
        "Metadata": {"LastTagTime": img.added},
    }))
}

pub fn inspect(a: InspectArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let mut out = Vec::new();
    let mut failed = false;
    for name in &a.images {
        match store.resolve(name) {
            Ok(img) => out.push(inspect_json(&store, &img)?),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    crate::format::print_inspect(&out, a.format.as_deref())?;
    Ok(if failed { 1 } else { 0 })
}

pub fn history(a: HistoryArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let img = store.resolve(&a.image)?;
    let cfg = store.config(&img)?;
    let mut layer_sizes = Vec::new();
    for c in &img.layers {
        layer_sizes.push(store.layer(c)?.map(|l| l.size).unwrap_or(0));
    }
    let mut entries = Vec::new();
    let mut li = 0;
    for h in cfg.history() {
        let empty = h["empty_layer"].as_bool().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layer_sizes.get(li).copied().unwrap_or(0)
        };
        if !empty {
            li += 1;
        }
        entries.push((h, size));
    }
    if entries.is_empty() {
        for s in &layer_sizes {
            entries.push((json!({}), *s));
        }
    }
    entries.reverse();
    let id = |first: bool| {
        if !first {
            "<missing>".to_string()
        } else if a.no_trunc {
            img.id.clone()
        } else {
            img.short_id().to_string()
        }
    };
    if a.quiet {
        for (i, _) in entries.iter().enumerate() {
            println!("{}", id(i == 0));
        }
        return Ok(0);
    }
    let items: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, (h, size))| {
            let created_by = h["created_by"].as_str().unwrap_or("").to_string();
            let shown = if a.no_trunc || created_by.chars().count() <= 45 {
                created_by.clone()
            } else {
                format!("{}…", created_by.chars().take(44).collect::<String>())
            };
            json!({
                "ID": id(i == 0),
                "CreatedSince": if a.human { human::ago(h["created"].as_str()) } else { h["created"].as_str().unwrap_or("").to_string() },
                "CreatedAt": h["created"].as_str().unwrap_or(""),
                "CreatedBy": shown,
                "Size": if a.human { human::size(*size) } else { size.to_string() },
                "Comment": h["comment"].as_str().unwrap_or(""),
            })
        })
        .collect();
    let format = ListFormat::parse(a.format.as_deref());
    if let ListFormat::Default = format {
        let mut lines = vec!["IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT".to_string()];
        for v in &items {
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                v["ID"].as_str().unwrap_or(""),
                v["CreatedSince"].as_str().unwrap_or(""),
                v["CreatedBy"].as_str().unwrap_or(""),
                v["Size"].as_str().unwrap_or(""),
                v["Comment"].as_str().unwrap_or("")
            ));
        }
        print!("{}", align(&lines));
        return Ok(0);
    }
    print_list(
        &format,
        &items,
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedBy", "CREATED BY"),
        ],
    )?;
    Ok(0)
}
