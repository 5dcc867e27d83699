//! The JSON (exec) form: `["executable", "arg"]`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonArgs {
    /// A JSON array of strings.
    Array(Vec<String>),
    /// Not a JSON array: Docker falls back to the shell form.
    NotJson,
    /// A JSON array with a non-string element: Docker rejects it.
    NotStrings,
}

pub(crate) const NOT_STRINGS: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Like Docker, only the first JSON value is decoded: text after the closing
/// `]` is ignored, and anything that does not decode is not JSON.
pub(crate) fn parse(rest: &str) -> JsonArgs {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return JsonArgs::NotJson;
    }
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(serde_json::Value::Array(items))) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return JsonArgs::NotStrings,
                }
            }
            JsonArgs::Array(out)
        }
        _ => JsonArgs::NotJson,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(v: &[&str]) -> JsonArgs {
        JsonArgs::Array(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn docker_json_rules() {
        assert_eq!(parse(r#"["echo", "hi"]"#), arr(&["echo", "hi"]));
        assert_eq!(parse(r#"  ["a\"b"]"#), arr(&["a\"b"]));
        assert_eq!(parse("[]"), arr(&[]));
        assert_eq!(parse(r#"["a"] trailing"#), arr(&["a"]));
        assert_eq!(parse(r#"['single']"#), JsonArgs::NotJson);
        assert_eq!(parse(r#"["unterminated"#), JsonArgs::NotJson);
        assert_eq!(parse("echo [x]"), JsonArgs::NotJson);
        assert_eq!(parse("[1, 2]"), JsonArgs::NotStrings);
        assert_eq!(parse(&"[".repeat(100_000)), JsonArgs::NotJson);
    }
}
