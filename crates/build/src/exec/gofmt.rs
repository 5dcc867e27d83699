//! BuildKit writes history entries with Go's fmt verbs (`CMD %q`, `VOLUME %v`,
//! `HEALTHCHECK %q` of a struct, ...). These render values the same way, so the
//! `created_by` of berth's images reads as BuildKit's.

use std::fmt::Write;
use std::time::Duration;

/// Go's `strconv.Quote`: a double-quoted string with Go escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => escape_char(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune` of an integer, which is what `%q` prints for one.
pub fn quote_rune(n: u32) -> String {
    let mut out = String::from("'");
    match char::from_u32(n) {
        Some('\'') => out.push_str("\\'"),
        Some('\\') => out.push_str("\\\\"),
        Some(c) => escape_char(&mut out, c),
        None => out.push('\u{fffd}'),
    }
    out.push('\'');
    out
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if c.is_control() && (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// `%v` of a `[]string`: `[a b]`.
pub fn list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// `%v` of a `map[nat.Port]struct{}`: keys sorted, `map[443/tcp:{} 80/tcp:{}]`.
pub fn port_set(ports: &[String]) -> String {
    let mut keys: Vec<&str> = ports.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let items: Vec<String> = keys.iter().map(|k| format!("{k}:{{}}")).collect();
    format!("map[{}]", items.join(" "))
}

/// Go's `time.Duration.String`: `0s`, `500ms`, `1.5s`, `1h2m3s`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (div, unit) = match ns {
            n if n < 1_000 => (1, "ns"),
            n if n < 1_000_000 => (1_000, "µs"),
            _ => (1_000_000, "ms"),
        };
        return format!("{}{unit}", decimal(ns, div));
    }
    let (h, rest) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{}s", decimal(rest, 1_000_000_000));
    out
}

/// `n / div` with its fraction, trailing zeros dropped: 1500/1000 is `1.5`.
fn decimal(n: u128, div: u128) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_verbs() {
        assert_eq!(quote("a \"b\"\\\n\x01é"), r#""a \"b\"\\\n\x01é""#);
        assert_eq!(
            quote_list(&["echo".into(), "hi there".into()]),
            r#"["echo" "hi there"]"#
        );
        assert_eq!(quote_list(&[]), "[]");
        assert_eq!(list(&["/bin/sh".into(), "-c".into()]), "[/bin/sh -c]");
        assert_eq!(quote_rune(4), r"'\x04'");
        assert_eq!(quote_rune(65), "'A'");
        assert_eq!(quote_rune(0), r"'\x00'");
        assert_eq!(
            port_set(&["80/tcp".into(), "443/tcp".into(), "53/udp".into()]),
            "map[443/tcp:{} 53/udp:{} 80/tcp:{}]"
        );
        let ms = Duration::from_millis;
        assert_eq!(duration(ms(0)), "0s");
        assert_eq!(duration(ms(500)), "500ms");
        assert_eq!(duration(ms(1500)), "1.5s");
        assert_eq!(duration(ms(5000)), "5s");
        assert_eq!(duration(ms(90_000)), "1m30s");
        assert_eq!(duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(duration(Duration::from_nanos(42)), "42ns");
    }
}
