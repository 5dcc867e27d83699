//! `--format`: Docker's Go-template output (`{{.Repository}}:{{.Tag}}`, `table ...`,
//! `{{json .}}`) and the `json` shorthand. gtmpl (Go templates in Rust) is wrapped here
//! and nowhere else, so it can be replaced without touching the commands.

use std::collections::HashMap;

use anyhow::{anyhow, Context};
use gtmpl_value::{FuncError, Number, Value as GValue};
use serde_json::Value;

fn to_gtmpl(v: &Value) -> GValue {
    match v {
        Value::Null => GValue::Nil,
        Value::Bool(b) => GValue::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                GValue::Number(Number::from(u))
            } else if let Some(i) = n.as_i64() {
                GValue::Number(Number::from(i))
            } else {
                GValue::Number(Number::from(n.as_f64().unwrap_or(0.0)))
            }
        }
        Value::String(s) => GValue::String(s.clone()),
        Value::Array(a) => GValue::Array(a.iter().map(to_gtmpl).collect()),
        Value::Object(o) => GValue::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_json(v: &GValue) -> Value {
    match v {
        GValue::NoValue | GValue::Nil | GValue::Function(_) => Value::Null,
        GValue::Bool(b) => Value::Bool(*b),
        GValue::String(s) => Value::String(s.clone()),
        GValue::Number(n) => n
            .as_u64()
            .map(Value::from)
            .or_else(|| n.as_i64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        GValue::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        GValue::Object(o) | GValue::Map(o) => {
            let mut keys: Vec<_> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), to_json(&o[k])))
                    .collect(),
            )
        }
    }
}

fn json_func(args: &[GValue]) -> Result<GValue, FuncError> {
    let v = args
        .first()
        .ok_or(FuncError::AtLeastXArgs("json".into(), 1))?;
    Ok(GValue::String(to_json(v).to_string()))
}

fn upper(args: &[GValue]) -> Result<GValue, FuncError> {
    let v = args
        .first()
        .ok_or(FuncError::AtLeastXArgs("upper".into(), 1))?;
    Ok(GValue::String(v.to_string().to_uppercase()))
}

fn lower(args: &[GValue]) -> Result<GValue, FuncError> {
    let v = args
        .first()
        .ok_or(FuncError::AtLeastXArgs("lower".into(), 1))?;
    Ok(GValue::String(v.to_string().to_lowercase()))
}

fn join(args: &[GValue]) -> Result<GValue, FuncError> {
    let (Some(GValue::Array(items)), Some(sep)) = (args.first(), args.get(1)) else {
        return Err(FuncError::ExactlyXArgs("join".into(), 2));
    };
    let parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    Ok(GValue::String(parts.join(&sep.to_string())))
}

/// Renders one item; Docker's escapes (`\t`, `\n`) in the template are honoured.
pub fn render(template: &str, data: &Value) -> anyhow::Result<String> {
    let tpl = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut t = gtmpl::Template::default();
    t.add_funcs(&[
        ("json", json_func as gtmpl_value::Func),
        ("upper", upper as gtmpl_value::Func),
        ("lower", lower as gtmpl_value::Func),
        ("join", join as gtmpl_value::Func),
    ]);
    t.parse(&tpl)
        .map_err(|e| anyhow!("invalid --format template {template:?}: {e}"))?;
    t.render(&gtmpl::Context::from(to_gtmpl(data)))
        .map_err(|e| anyhow!("--format template {template:?} failed: {e}"))
}

/// What every `inspect` prints: a JSON array, or each object through a template.
pub fn print_inspect(out: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(f) if f != "json" => {
            for v in out {
                println!("{}", render(f, v)?);
            }
        }
        _ => println!("{}", serde_json::to_string_pretty(out)?),
    }
    Ok(())
}

/// What a list command prints for `--format`.
pub enum ListFormat {
    /// The command's own table.
    Default,
    /// One JSON object per line.
    Json,
    /// A template per item; `table` adds a header row and aligns columns.
    Template { template: String, table: bool },
}

impl ListFormat {
    pub fn parse(f: Option<&str>) -> ListFormat {
        match f.map(str::trim) {
            None | Some("") | Some("table") => ListFormat::Default,
            Some("json") => ListFormat::Json,
            Some(t) => match t.strip_prefix("table") {
                Some(rest) if rest.starts_with(char::is_whitespace) => ListFormat::Template {
                    template: rest.trim_start().to_string(),
                    table: true,
                },
                _ => ListFormat::Template {
                    template: t.to_string(),
                    table: false,
                },
            },
        }
    }
}

/// Prints items per `format`; `headers` names the columns a `table` template's fields
/// get (`ID` -> `IMAGE ID`), falling back to the upper-cased field name.
pub fn print_list(
    format: &ListFormat,
    items: &[Value],
    headers: &[(&str, &str)],
) -> anyhow::Result<()> {
    match format {
        // Callers print their own table for the default format before reaching here.
        ListFormat::Default => {}
        ListFormat::Json => {
            for i in items {
                println!("{}", serde_json::to_string(i)?);
            }
        }
        ListFormat::Template { template, table } => {
            let mut rows = Vec::new();
            if *table {
                rows.push(header_row(template, headers));
            }
            for i in items {
                rows.push(render(template, i).context("rendering --format")?);
            }
            if *table {
                print!("{}", align(&rows));
            } else {
                for r in rows {
                    println!("{r}");
                }
            }
        }
    }
    Ok(())
}

fn header_row(template: &str, headers: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = template.replace("\\t", "\t");
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + end].trim();
        let field = inner
            .trim_start_matches('.')
            .split_whitespace()
            .next()
            .unwrap_or("");
        let name = headers
            .iter()
            .find(|(k, _)| *k == field)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| field.to_uppercase());
        out.push_str(&name);
        rest = rest[start + end + 2..].to_string();
    }
    out.push_str(&rest);
    out
}

/// Aligns tab-separated columns as Docker's tabwriter does (minimum cell width 10,
/// padding 3).
pub fn align(rows: &[String]) -> String {
    let split: Vec<Vec<&str>> = rows.iter().map(|r| r.split('\t').collect()).collect();
    let cols = split.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in &split {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for r in &split {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(10);
                line.push_str(&format!("{c:<w$}"));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_json_and_escapes() {
        let v = json!({"Repository": "busybox", "Tag": "latest", "Labels": {"a": "b"}});
        assert_eq!(
            render("{{.Repository}}:{{.Tag}}", &v).unwrap(),
            "busybox:latest"
        );
        assert_eq!(render("{{json .Labels}}", &v).unwrap(), r#"{"a":"b"}"#);
        assert_eq!(
            render("{{.Repository}}\\t{{.Tag}}", &v).unwrap(),
            "busybox\tlatest"
        );
        assert!(render("{{.Repository", &v).is_err());
    }

    #[test]
    fn table_headers_and_alignment() {
        assert_eq!(
            header_row("{{.ID}}\\t{{.Size}}", &[("ID", "IMAGE ID")]),
            "IMAGE ID\tSIZE"
        );
        assert_eq!(
            align(&["a\tbb".into(), "ccc\td".into()]),
            "a         bb\nccc       d\n"
        );
    }
}
