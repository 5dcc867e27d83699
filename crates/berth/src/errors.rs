//! One line per error for the user: the error and its causes, each cause shown only
//! when the text before it does not already say it (library errors often include their
//! source in their own message).

pub fn render(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("opening x: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn causes_are_not_repeated() {
        let e = anyhow::Error::new(Outer {
            source: std::io::Error::other("gone"),
        });
        assert_eq!(render(&e), "opening x: gone");
        let e = anyhow::anyhow!("plain").context("while loading");
        assert_eq!(render(&e), "while loading: plain");
    }
}
