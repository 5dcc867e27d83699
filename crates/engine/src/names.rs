//! Container ids and names: ids are 64 random hex digits as Docker's; generated names
//! pair an adjective with a harbour word (`steady_anchor`), and user names follow
//! Docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.

use std::io::Read;

use crate::error::{EngineError, Result};

const ADJECTIVES: &[&str] = &[
    "able", "agile", "amber", "ample", "bold", "brave", "breezy", "bright", "brisk", "calm",
    "candid", "clever", "cosy", "crisp", "daring", "deft", "eager", "earnest", "fair", "fast",
    "fearless", "fond", "frank", "gentle", "glad", "golden", "grand", "happy", "hardy", "honest",
    "jolly", "keen", "kind", "lively", "loyal", "lucid", "merry", "mighty", "modest", "nimble",
    "noble", "patient", "plucky", "polite", "proud", "quick", "quiet", "rapid", "ready", "robust",
    "salty", "serene", "sharp", "shiny", "silent", "sleek", "smart", "snug", "solid", "sound",
    "spry", "steady", "stoic", "sturdy", "sunny", "swift", "tidy", "tough", "true", "trusty",
    "upbeat", "valiant", "vivid", "warm", "wise", "witty", "zesty",
];

const NOUNS: &[&str] = &[
    "anchor",
    "atoll",
    "ballast",
    "barge",
    "beacon",
    "bollard",
    "bosun",
    "bow",
    "breaker",
    "buoy",
    "cabin",
    "capstan",
    "cargo",
    "channel",
    "coast",
    "compass",
    "corsair",
    "cove",
    "crane",
    "current",
    "cutter",
    "davit",
    "deck",
    "dinghy",
    "dock",
    "dory",
    "ferry",
    "fjord",
    "fleet",
    "galley",
    "gangway",
    "harbour",
    "hatch",
    "haven",
    "helm",
    "hull",
    "inlet",
    "jetty",
    "keel",
    "ketch",
    "lagoon",
    "lantern",
    "launch",
    "lighthouse",
    "mast",
    "mooring",
    "narrows",
    "oar",
    "pier",
    "pilot",
    "port",
    "quay",
    "reef",
    "rigging",
    "rudder",
    "sail",
    "schooner",
    "shoal",
    "skiff",
    "sloop",
    "sound",
    "spar",
    "starboard",
    "stern",
    "tide",
    "tiller",
    "trawler",
    "tug",
    "wake",
    "wharf",
    "yawl",
];

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The kernel's urandom never blocks after boot and never fails on a working
    // system; a failure here would mean /dev is unusable, where nothing else works
    // either, so falling back to the clock only keeps ids distinct.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
        }
    }
    buf
}

pub fn new_id() -> String {
    hex::encode(random_bytes::<32>())
}

pub fn random_name() -> String {
    let r = random_bytes::<4>();
    let a = ADJECTIVES[usize::from(u16::from_le_bytes([r[0], r[1]])) % ADJECTIVES.len()];
    let n = NOUNS[usize::from(u16::from_le_bytes([r[2], r[3]])) % NOUNS.len()];
    format!("{a}_{n}")
}

pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok && name.len() <= 253 {
        Ok(())
    } else {
        Err(EngineError::invalid(
            format!("container name {name:?}"),
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_distinct() {
        let a = new_id();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
    }

    #[test]
    fn generated_names_are_valid() {
        for _ in 0..100 {
            validate_name(&random_name()).unwrap();
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["web", "a", "web-1", "x_y.z", "0abc"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-web", "_a", "a b", "a/b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
