//! The parser must return Ok or Err, never panic or hang, on any input. A
//! deterministic generator mutates a seed corpus; cargo-fuzz (fuzz/) does the
//! same with coverage feedback on nightly.

use super::*;
use std::collections::HashMap;

/// xorshift64*: a fixed seed makes every run test the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SEEDS: &[&str] = &[
    "# syntax=docker/dockerfile:1\n# escape=\\\n# check=skip=all;error=true\nARG V=1 W\nFROM --platform=$BUILDPLATFORM golang:${V} AS build\nWORKDIR /src\nRUN --mount=type=cache,target=/root/.cache,id=go,sharing=locked,uid=0,mode=0755 \\\n    --mount=type=secret,id=tok,env=TOKEN,required \\\n    --network=none go build ./...\nFROM scratch\nCOPY --from=build --chown=1:1 --chmod=755 --link --exclude=*.md /out /\nENTRYPOINT [\"/app\"]\n",
    "FROM alpine\nRUN <<EOF\nset -e\necho hi\nEOF\nRUN <<-A <<'B' cat\n\tx\n\tA\ny\nB\nCOPY <<f1 <<\"f2\" /d/\n1\nf1\n2\nf2\nRUN python3 <<EOF\nprint(1)\nEOF\n",
    "FROM x\nENV A=1 B=\"two words\" C=three\\ words\nENV legacy value with spaces\nLABEL \"k\"=\"v\" k2=v2\nARG a b=c\nEXPOSE 80 443/tcp\nVOLUME [\"/a\"]\nVOLUME /b /c\nUSER 1000:1000\nSTOPSIGNAL SIGTERM\nMAINTAINER me\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo $A\n",
    "FROM x\nHEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s --retries=3 CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK NONE\nONBUILD RUN echo hi\nONBUILD COPY . /app\nADD --checksum=sha256:00 --keep-git-dir=true https://example.invalid/x.git /x\n",
    "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  && echo done\nWORKDIR ${a:-b}/${c#d}/${e%%f}/${g//h/i}\n",
    "FROM a AS one\nFROM one AS two\nCOPY --from=0 /x /y\nRUN [\"sh\", \"-c\", \"echo \\\"$HOME\\\"\"]\nCMD ['not', 'json']\nRUN echo \\\n# comment in continuation\n\n  more\n",
];

/// Some non-ASCII and control characters that stress char/byte handling.
const ODD: &[&str] = &[
    "\u{feff}",
    "é",
    "\u{1F600}",
    "\u{3bc}",
    "\r",
    "\t",
    "\0",
    "\u{b}",
    "\u{a0}",
    "\u{2028}",
    "`",
    "\\",
    "\"",
    "'",
    "$",
    "${",
    "<<",
    "<<-",
    "[",
    "]",
    "--",
    "=",
    ",",
    "\n",
    "#",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = rng.pick(corpus).clone();
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let cut = rng.below(data.len() + 1);
                data.truncate(cut);
            }
            2 => {
                let other = rng.pick(corpus);
                let (a, b) = (rng.below(data.len() + 1), rng.below(other.len() + 1));
                data.truncate(a);
                data.extend_from_slice(&other[b..]);
            }
            3 => {
                let at = rng.below(data.len() + 1);
                let s = rng.pick(ODD).as_bytes().to_vec();
                data.splice(at..at, s);
            }
            4 if !data.is_empty() => {
                let (a, b) = (rng.below(data.len()), rng.below(data.len()));
                let (lo, hi) = (a.min(b), a.max(b));
                let piece = data[lo..hi].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, piece);
            }
            5 if !data.is_empty() => {
                let at = rng.below(data.len());
                let len = rng.below(16).min(data.len() - at);
                data.drain(at..at + len);
            }
            6 => {
                let c = char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}');
                let at = rng.below(data.len() + 1);
                let mut buf = [0u8; 4];
                data.splice(at..at, c.encode_utf8(&mut buf).bytes());
            }
            _ => {
                let at = rng.below(data.len() + 1);
                let rep = if rng.below(2) == 0 {
                    "\\\n".repeat(rng.below(200))
                } else {
                    "x".repeat(rng.below(5000))
                };
                data.splice(at..at, rep.into_bytes());
            }
        }
    }
    data
}

/// Runs the parser and, on success, the expansion of every stored value, as
/// the builder would.
fn exercise(data: &[u8]) {
    let Ok(d) = parse_bytes("Dockerfile", data) else {
        return;
    };
    let env: HashMap<String, String> = [("a", ""), ("b", "x y"), ("HOME", "/root")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let esc = d.escape();
    let all = d
        .global_args
        .iter()
        .chain(d.stages.iter().flat_map(|s| s.instructions.iter()));
    for i in all {
        let _ = expand_word(&i.original, &env, esc);
        let _ = expand_words(&i.original, &env, esc);
        if let InstructionKind::Run(r) = &i.kind {
            for m in &r.mounts {
                let _ = m.expand(&mut |w| expand_word(w, &env, esc));
            }
        }
    }
    // Resolution is linear in the stage count; a few stages show it copes.
    for s in d.stages.iter().take(50) {
        let _ = expand_word(&s.base, &env, esc);
        let _ = d.resolve_from(&s.base, s.index);
    }
}

#[test]
fn seeds_parse() {
    for seed in SEEDS {
        df(seed);
    }
}

#[test]
fn many_mutations_never_panic() {
    let corpus: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..20_000 {
        let data = mutate(&mut rng, &corpus);
        match parse_bytes("Dockerfile", &data) {
            Ok(_) => ok += 1,
            Err(e) => {
                // Every error points into the file.
                assert!(e.line >= 1 && e.column >= 1, "{e}");
                failed += 1;
            }
        }
        exercise(&data);
        exercise(String::from_utf8_lossy(&data).as_bytes());
    }
    // The mutations must explore both outcomes to mean anything.
    assert!(ok > 1000 && failed > 1000, "ok={ok} failed={failed}");
}

#[test]
fn hostile_inputs_finish() {
    let ten_mb = 10 << 20;
    let cases: Vec<String> = vec![
        format!("FROM x\nRUN {}", "a".repeat(ten_mb)),
        format!("FROM x\nRUN echo {}", "\"".repeat(ten_mb)),
        format!("FROM x\nENV A=\"{}", "b ".repeat(ten_mb / 2)),
        format!("FROM x\nWORKDIR {}", "${a:-".repeat(ten_mb / 5)),
        format!(
            "FROM x\nRUN {}\n{}",
            "<<A ".repeat(100_000),
            "A\n".repeat(100_000)
        ),
        format!("FROM x\nRUN {}", "<<A ".repeat(100_000)),
        format!("FROM x\nRUN a {}b", "\\\n".repeat(200_000)),
        format!(
            "FROM x\nRUN {} x",
            "--mount=type=tmpfs,target=/t ".repeat(50_000)
        ),
        format!("FROM x\nCMD {}", "[".repeat(ten_mb / 10)),
        format!("{}{}", "FROM x\n".repeat(100_000), "# c\n".repeat(100_000)),
        (0..50_000).map(|i| format!("FROM x AS s{i}\n")).collect(),
        format!("FROM {}", "F".repeat(ten_mb)),
        format!("{}", "R".repeat(ten_mb)),
        format!("FROM x\nCOPY --{} a b", "f".repeat(ten_mb)),
        format!("# escape=`\nFROM x\nRUN a {}", "`\n".repeat(100_000)),
    ];
    for (n, src) in cases.iter().enumerate() {
        let t = std::time::Instant::now();
        let _ = parse(src);
        exercise(src.as_bytes());
        // Printed for whoever investigates a slow run; never asserted.
        eprintln!("hostile case {n}: {:?}", t.elapsed());
    }
    let env: HashMap<String, String> = HashMap::new();
    let words = [
        "${".repeat(ten_mb / 2),
        "${a:-".repeat(ten_mb / 5),
        format!("${{a//{}/x}}", "*".repeat(2000)),
        "'".repeat(ten_mb),
        "$".repeat(ten_mb),
    ];
    for w in &words {
        let _ = expand_word(w, &env, '\\');
        let _ = expand_words(w, &env, '\\');
    }
}
