//! `--chmod`: octal (`0755`, `644`) or symbolic (`u+x`, `go-w`, `a=rX,u+w`, as
//! newer BuildKit accepts). Symbolic modes apply to each copied entry's own mode;
//! `X` adds execute only to directories and to files that already have some.

use crate::error::{BuildError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One `who op perms` clause of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Bits of `ugo` this clause touches (0o7777 masks of the chosen classes).
    who: u32,
    op: char,
    perms: String,
}

const U: u32 = 0o4700;
const G: u32 = 0o2070;
const O: u32 = 0o1007;

impl Chmod {
    pub fn parse(spec: &str) -> Result<Chmod> {
        let bad = |why: &str| BuildError::Chmod {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
            let m = u32::from_str_radix(spec, 8).map_err(|_| bad("not an octal number"))?;
            if m > 0o7777 {
                return Err(bad("larger than 07777"));
            }
            return Ok(Chmod::Octal(m));
        }
        let mut clauses = Vec::new();
        for part in spec.split(',') {
            let op_at = part
                .find(['+', '-', '='])
                .ok_or_else(|| bad("a symbolic clause needs +, - or ="))?;
            let (who_s, rest) = part.split_at(op_at);
            let mut who = 0;
            for c in who_s.chars() {
                who |= match c {
                    'u' => U,
                    'g' => G,
                    'o' => O,
                    'a' => U | G | O,
                    _ => return Err(bad("who must be made of u, g, o, a")),
                };
            }
            if who == 0 {
                who = U | G | O;
            }
            let op = rest.chars().next().unwrap_or('=');
            let perms = &rest[1..];
            if perms.chars().any(|c| !"rwxXst".contains(c)) {
                return Err(bad("permissions must be made of r, w, x, X, s, t"));
            }
            clauses.push(Clause {
                who,
                op,
                perms: perms.to_string(),
            });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The mode an entry with mode `mode` (07777 bits) gets.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(m) => *m,
            Chmod::Symbolic(clauses) => {
                let mut mode = mode & 0o7777;
                for c in clauses {
                    let mut bits = 0;
                    for p in c.perms.chars() {
                        bits |= match p {
                            'r' => 0o444,
                            'w' => 0o222,
                            'x' => 0o111,
                            'X' if is_dir || mode & 0o111 != 0 => 0o111,
                            's' => 0o6000,
                            't' => 0o1000,
                            _ => 0,
                        };
                    }
                    let bits = bits & c.who;
                    mode = match c.op {
                        '+' => mode | bits,
                        '-' => mode & !bits,
                        _ => (mode & !c.who) | bits,
                    };
                }
                mode
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(Chmod::parse("755").unwrap().apply(0o600, false), 0o755);
        assert_eq!(Chmod::parse("04755").unwrap().apply(0, false), 0o4755);
        assert_eq!(Chmod::parse("u+x").unwrap().apply(0o644, false), 0o744);
        assert_eq!(Chmod::parse("go-w").unwrap().apply(0o666, false), 0o644);
        assert_eq!(Chmod::parse("a=r").unwrap().apply(0o777, false), 0o444);
        assert_eq!(Chmod::parse("+x").unwrap().apply(0o600, false), 0o711);
        assert_eq!(Chmod::parse("a+X").unwrap().apply(0o600, false), 0o600);
        assert_eq!(Chmod::parse("a+X").unwrap().apply(0o700, false), 0o711);
        assert_eq!(Chmod::parse("a+X").unwrap().apply(0o600, true), 0o711);
        assert_eq!(
            Chmod::parse("u=rwx,g=rx,o=").unwrap().apply(0o777, false),
            0o750
        );
        assert_eq!(Chmod::parse("u+s,o+t").unwrap().apply(0o755, true), 0o5755);
        for bad in ["", "8", "17777", "u+q", "z+x", "ux"] {
            assert!(Chmod::parse(bad).is_err(), "{bad:?}");
        }
    }
}
