//! `import`: a root filesystem tarball (plain, gzip or zstd; a file or stdin) becomes a
//! one-layer image, with Dockerfile-style `--change` instructions applied to its config.

use std::io::Read;

use serde_json::{json, Map, Value};

use crate::error::{ImageError, Result};
use crate::reference::ImageRef;
use crate::store::{now, ImageRecord, ImageStore};

pub struct ImportOptions<'a> {
    pub tag: Option<ImageRef>,
    pub changes: &'a [String],
    pub message: Option<&'a str>,
}

pub fn import(
    store: &ImageStore,
    input: impl Read,
    opts: &ImportOptions<'_>,
) -> Result<ImageRecord> {
    let mut config = Map::new();
    for c in opts.changes {
        apply_change(&mut config, c)?;
    }
    let layer = store.import_layer(input)?;
    let created = now();
    let mut history = json!({"created": created, "created_by": "berth import"});
    if let Some(m) = opts.message.filter(|m| !m.is_empty()) {
        history["comment"] = json!(m);
    }
    let image_config = json!({
        "architecture": crate::platform::host_arch(),
        "os": "linux",
        "created": created,
        "config": Value::Object(config),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [history],
    });
    let bytes = serde_json::to_vec(&image_config).unwrap_or_default();
    let tags: Vec<ImageRef> = opts.tag.iter().cloned().collect();
    store.add_image(&bytes, None, &tags, None)
}

fn bad(change: &str, why: &str) -> ImageError {
    ImageError::Invalid {
        what: format!("--change {change:?}"),
        why: why.to_string(),
    }
}

/// A command in JSON-array form, or shell form wrapped in `/bin/sh -c` as Docker does.
fn command(change: &str, rest: &str) -> Result<Value> {
    let rest = rest.trim();
    if rest.starts_with('[') {
        let v: Vec<String> = serde_json::from_str(rest)
            .map_err(|_| bad(change, "expected a JSON array of strings"))?;
        return Ok(json!(v));
    }
    Ok(json!(["/bin/sh", "-c", rest]))
}

/// `K=V K2="V 2"` pairs, or the legacy single `K V` form.
fn pairs(change: &str, rest: &str) -> Result<Vec<(String, String)>> {
    let rest = rest.trim();
    if !rest.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(change, "expected KEY=VALUE"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let mut val = String::new();
        let quote = match chars.peek() {
            Some('"') | Some('\'') => chars.next(),
            _ => None,
        };
        for c in chars.by_ref() {
            match quote {
                Some(q) if c == q => break,
                None if c.is_whitespace() => break,
                _ => val.push(c),
            }
        }
        if key.is_empty() {
            return Err(bad(change, "expected KEY=VALUE"));
        }
        out.push((key, val));
    }
    Ok(out)
}

pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let trimmed = change.trim();
    let (instr, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), command(change, rest)?);
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), command(change, rest)?);
        }
        "ENV" => {
            let env = config.entry("Env").or_insert_with(|| json!([]));
            for (k, v) in pairs(change, rest)? {
                let list = env.as_array_mut().expect("Env is a list");
                list.retain(|e| e.as_str().and_then(|s| s.split_once('=')).map(|(ek, _)| ek != k).unwrap_or(true));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            for (k, v) in pairs(change, rest)? {
                labels[k] = json!(v);
            }
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                ports[p] = json!({});
            }
        }
        "VOLUME" => {
            let vols = config.entry("Volumes").or_insert_with(|| json!({}));
            let list: Vec<String> = if rest.trim().starts_with('[') {
                serde_json::from_str(rest.trim()).map_err(|_| bad(change, "expected a JSON array"))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in list {
                vols[v] = json!({});
            }
        }
        "USER" => {
            config.insert("User".into(), json!(rest.trim()));
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), json!(rest.trim()));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest.trim()));
        }
        "ONBUILD" => {
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            list.as_array_mut().expect("OnBuild is a list").push(json!(rest.trim()));
        }
        _ => {
            return Err(bad(
                change,
                "only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR can be changed",
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Value {
        let mut m = Map::new();
        for c in changes {
            apply_change(&mut m, c).unwrap();
        }
        Value::Object(m)
    }

    #[test]
    fn changes_follow_dockerfile_forms() {
        let c = apply(&[
            r#"CMD ["sh"]"#,
            "ENTRYPOINT echo hi",
            "ENV A=1 B=\"two words\"",
            "ENV A 3",
            "EXPOSE 80 53/udp",
            "LABEL x=y",
            "WORKDIR /app",
            "USER 1000:1000",
            "VOLUME /data",
        ]);
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"x": "y"}));
        assert_eq!(c["WorkingDir"], json!("/app"));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        let mut m = Map::new();
        assert!(apply_change(&mut m, "RUN echo").is_err());
        assert!(apply_change(&mut m, "CMD [broken").is_err());
    }
}
