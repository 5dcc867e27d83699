use super::*;

/// Runs the generated program the way the kernel would, for the handful
/// of opcodes `program` emits, so rule semantics are testable without root.
fn run(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u32 {
    let ctx = [(access << 16) | typ, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = p[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => {
                assert_eq!(src, 1);
                r[dst] = u64::from(ctx[(i.off / 4) as usize]);
            }
            ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
            ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
            ALU32_MOV_K => r[dst] = i.imm as u32 as u64,
            ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
            JMP_JEQ_K if r[dst] == i.imm as u64 => pc += i.off as usize,
            JMP_JNE_K if r[dst] != i.imm as u64 => pc += i.off as usize,
            JMP_JSET_K if r[dst] & (i.imm as u64) != 0 => pc += i.off as usize,
            JMP_JEQ_K | JMP_JNE_K | JMP_JSET_K => {}
            JMP_EXIT => return r[0] as u32,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

fn rules(json: &str) -> Vec<Rule> {
    let d: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
    d.iter()
        .filter_map(|d| Rule::from_oci(d).unwrap())
        .collect()
}

const R: u32 = ACC_READ;
const W: u32 = ACC_WRITE;
const M: u32 = ACC_MKNOD;

#[test]
fn default_deny_with_allowlist() {
    let p = program(&rules(
        r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rw"}]"#,
    ));
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 1);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 0);
    assert_eq!(run(&p, DEV_BLOCK, R, 1, 3), 0);
    assert_eq!(run(&p, DEV_CHAR, R | W, 136, 7), 1);
    assert_eq!(run(&p, DEV_CHAR, M, 136, 7), 0, "mknod not granted on pts");
    // Everything after the unconditional deny-all is unreachable and must
    // not be emitted (the verifier rejects dead code).
    assert_eq!(p.last().unwrap().code, JMP_EXIT);
    assert_eq!(p[p.len() - 2], insn(ALU32_MOV_K, R0, 0, 0, 0));
}

#[test]
fn last_match_wins_and_partial_deny() {
    let p = program(&rules(
        r#"[{"allow":true,"access":"rwm"},
            {"allow":false,"type":"c","major":1,"minor":5,"access":"w"}]"#,
    ));
    assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 1);
    assert_eq!(run(&p, DEV_CHAR, W, 1, 5), 0);
    assert_eq!(run(&p, DEV_CHAR, R | W, 1, 5), 0);
    assert_eq!(run(&p, DEV_BLOCK, W, 8, 0), 1);
}

#[test]
fn empty_rules_deny_everything() {
    let p = program(&[]);
    assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);
}

#[test]
fn fifo_rules_ignored_and_bad_access_rejected() {
    assert!(rules(r#"[{"allow":true,"type":"p","access":"rwm"}]"#).is_empty());
    let d: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow":true,"access":"rx"}"#).unwrap();
    let e = Rule::from_oci(&d).unwrap_err().to_string();
    assert!(e.contains("\"rx\""), "{e}");
}

#[test]
fn jump_offsets_stay_in_program() {
    let p = program(&rules(
        r#"[{"allow":false,"type":"b","access":"r"},{"allow":true,"type":"c","major":4,"minor":1,"access":"r"}]"#,
    ));
    for (i, ins) in p.iter().enumerate() {
        if matches!(ins.code, JMP_JEQ_K | JMP_JNE_K | JMP_JSET_K) {
            assert!(i + 1 + (ins.off as usize) < p.len());
        }
    }
}

/// Real kernel check on the cgroup2 hierarchy (/sys/fs/cgroup itself on a
/// v2 host, /sys/fs/cgroup/unified on a hybrid one): attach a filter to a
/// fresh cgroup, move a shell into it and see which devices it can open.
#[test]
fn kernel_enforces_filter() {
    let Some(base) = crate::test_support::cgroup2_mount() else {
        crate::test_support::skip("kernel_enforces_filter", "no cgroup2 mount");
        return;
    };
    if !crate::test_support::require_root("kernel_enforces_filter") {
        return;
    }
    let cg = crate::test_support::TempCgroup::new(&base);
    let only_null = serde_json::from_str::<Vec<LinuxDeviceCgroup>>(
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]"#,
    )
    .unwrap();
    apply(cg.path(), &only_null).unwrap();
    assert_eq!(probe(cg.path()), "null=ok zero=denied");

    // Re-applying replaces the filter rather than stacking a second one.
    let only_zero = serde_json::from_str::<Vec<LinuxDeviceCgroup>>(
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"r"}]"#,
    )
    .unwrap();
    apply(cg.path(), &only_zero).unwrap();
    assert_eq!(probe(cg.path()), "null=denied zero=ok");
    let dir = std::fs::File::open(cg.path()).unwrap();
    assert_eq!(attached(dir.as_raw_fd(), cg.path()).unwrap().len(), 1);
}

fn probe(cg: &Path) -> String {
    let script = format!(
        "echo $$ > {}/cgroup.procs || exit 9
         if true < /dev/null; then a=ok; else a=denied; fi
         if true < /dev/zero; then b=ok; else b=denied; fi
         echo null=$a zero=$b",
        cg.display()
    );
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The verifier accepts the programs for a typical container list and for
/// a list ending in an unconditional rule.
#[test]
fn kernel_accepts_typical_lists() {
    let Some(base) = crate::test_support::cgroup2_mount() else {
        crate::test_support::skip("kernel_accepts_typical_lists", "no cgroup2 mount");
        return;
    };
    if !crate::test_support::require_root("kernel_accepts_typical_lists") {
        return;
    }
    let cg = crate::test_support::TempCgroup::new(&base);
    let typical: Vec<LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","access":"m"},{"allow":true,"type":"b","access":"m"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":7,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":8,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":9,"access":"rwm"},
            {"allow":true,"type":"c","major":5,"minor":0,"access":"rwm"},
            {"allow":true,"type":"c","major":5,"minor":1,"access":"rwm"},
            {"allow":true,"type":"c","major":5,"minor":2,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rwm"},
            {"allow":true,"type":"c","major":10,"minor":200,"access":"rwm"},
            {"allow":false,"type":"c","major":10,"minor":229,"access":"w"},
            {"allow":true,"type":"p","access":"rwm"}]"#,
    )
    .unwrap();
    apply(cg.path(), &typical).unwrap();
    assert_eq!(probe(cg.path()), "null=ok zero=ok");
    let allow_all: Vec<LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow":false,"type":"c","major":1,"minor":3},{"allow":true,"access":"rwm"}]"#,
    )
    .unwrap();
    apply(cg.path(), &allow_all).unwrap();
    assert_eq!(probe(cg.path()), "null=ok zero=ok");
}
