//! Docker's human-readable sizes ("4.26MB") and ages ("2 weeks ago").

use std::time::{Duration, SystemTime};

/// Decimal units with three significant digits, as `docker images` prints them.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig3(v), UNITS[i])
}

/// Go's `%.3g`: three significant digits, no trailing zeros.
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (3 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let h = s / 3600;
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if s / 60 == 1 => "About a minute".into(),
        _ if s < 3600 => format!("{} minutes", s / 60),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// "2 weeks ago" for an RFC 3339 timestamp; "N/A" when it cannot be read.
pub fn ago(rfc3339: Option<&str>) -> String {
    let Some(t) = rfc3339.and_then(|s| {
        humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('.').next().unwrap_or(s)).ok()
    }) else {
        return "N/A".into();
    };
    let d = SystemTime::now().duration_since(t).unwrap_or_default();
    format!("{} ago", duration(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(4_261_234), "4.26MB");
        assert_eq!(size(128_000_000), "128MB");
        assert_eq!(size(1_200_000_000), "1.2GB");
        assert_eq!(size(10_500), "10.5kB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(duration(Duration::from_secs(3 * 86400)), "3 days");
        assert_eq!(duration(Duration::from_secs(20 * 86400)), "2 weeks");
    }
}
