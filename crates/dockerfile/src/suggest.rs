//! "did you mean ...?" for misspelt instructions and flags.

/// The closest candidate within a small edit distance, compared
/// case-insensitively.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word: Vec<char> = word.to_lowercase().chars().collect();
    // Long words are not typos of short keywords; skipping them also keeps
    // the distance computation cheap on hostile input.
    if word.is_empty() || word.len() > 32 {
        return None;
    }
    let limit = (word.len() / 3).clamp(1, 2);
    candidates
        .iter()
        .map(|c| {
            (
                distance(&word, &c.to_lowercase().chars().collect::<Vec<_>>()),
                *c,
            )
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `" (did you mean X?)"` or nothing.
pub(crate) fn hint(word: &str, candidates: &[&str], prefix: &str) -> String {
    match closest(word, candidates) {
        Some(c) => format!(" (did you mean {prefix}{c}?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let kw = ["RUN", "COPY", "WORKDIR", "ENTRYPOINT"];
        assert_eq!(closest("RUNN", &kw), Some("RUN"));
        assert_eq!(closest("cpy", &kw), Some("COPY"));
        assert_eq!(closest("WORKDRI", &kw), Some("WORKDIR"));
        assert_eq!(closest("BANANA", &kw), None);
        assert_eq!(closest(&"R".repeat(100), &kw), None);
    }
}
