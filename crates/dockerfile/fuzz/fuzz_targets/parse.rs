//! Any bytes: the parser returns Ok or Err, and expanding what it parsed
//! returns Ok or Err, without panicking or hanging.
#![no_main]

use berth_dockerfile::{expand_heredoc, expand_word, expand_words, parse_bytes, InstructionKind, Source};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(dockerfile) = parse_bytes("Dockerfile", data) else {
        // Also feed the raw text to the expander, which sees arbitrary words.
        if let Ok(text) = std::str::from_utf8(data) {
            let env: HashMap<String, String> = HashMap::new();
            let _ = expand_word(text, &env, '\\');
            let _ = expand_words(text, &env, '`');
        }
        return;
    };
    let env: HashMap<String, String> =
        [("a", ""), ("b", "x y")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let escape = dockerfile.escape();
    for stage in &dockerfile.stages {
        let _ = expand_word(&stage.base, &env, escape);
        let _ = dockerfile.resolve_from(&stage.base, stage.index);
        for instruction in &stage.instructions {
            let _ = expand_words(&instruction.original, &env, escape);
            match &instruction.kind {
                InstructionKind::Run(run) => {
                    for mount in &run.mounts {
                        let _ = mount.expand(&mut |w| expand_word(w, &env, escape));
                    }
                }
                InstructionKind::Copy(copy) => {
                    for source in &copy.transfer.sources {
                        if let Source::Heredoc(doc) = source {
                            let _ = expand_heredoc(&doc.content, &env, escape);
                        }
                    }
                }
                _ => {}
            }
        }
    }
});
