//! Go's time.ParseDuration, which HEALTHCHECK's flags use.

use std::time::Duration;

/// Parses `1h30m`, `1.5s`, `300ms`, `0`. Negative durations are rejected
/// (Docker refuses them for every HEALTHCHECK flag).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {:?}", crate::error::clip(text));
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            frac_part = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let nanos_per: u128 = match &s[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "missing unit in duration {:?}",
                    crate::error::clip(text)
                ))
            }
            u => {
                return Err(format!(
                    "unknown unit {:?} in duration {:?}",
                    crate::error::clip(u),
                    crate::error::clip(text)
                ))
            }
        };
        s = &s[unit_len..];
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = int.checked_mul(nanos_per).ok_or_else(invalid)?;
        // Digits past nanosecond precision cannot change the result.
        let mut scale = nanos_per;
        for d in frac_part.bytes().take(40) {
            scale /= 10;
            value += u128::from(d - b'0') * scale;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        // Go's limit: the largest int64 nanosecond count.
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    if negative && total > 0 {
        return Err(format!(
            "duration {:?} cannot be negative",
            crate::error::clip(text)
        ));
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(".5ms"), Ok(Duration::from_micros(500)));
        assert_eq!(parse("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("10\u{b5}s"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("+2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("-0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations() {
        assert_eq!(parse("5"), Err("missing unit in duration \"5\"".into()));
        assert_eq!(
            parse("5d"),
            Err("unknown unit \"d\" in duration \"5d\"".into())
        );
        assert_eq!(parse(""), Err("invalid duration \"\"".into()));
        assert_eq!(parse("s"), Err("invalid duration \"s\"".into()));
        assert_eq!(
            parse("-1s"),
            Err("duration \"-1s\" cannot be negative".into())
        );
        assert!(parse("99999999999999999999h").is_err());
        assert!(parse("3000000h").is_err());
    }
}
