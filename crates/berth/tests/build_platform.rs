//! `berth build --platform` for another architecture: the image's config and the
//! platform ARGs follow the target, RUN steps run the target's programs through a
//! binfmt_misc handler (qemu-user), and without a handler a RUN step fails with an
//! error that says what to install.
//!
//! The arm64 program is assembled here with binutils-aarch64-linux-gnu, and the test
//! registers its own uniquely named handler for qemu-aarch64-static (with the F
//! flag, as Debian registers it) and removes it at the end.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::build::{build, context};
use common::engine::{show, text, Engine};
use common::gate::loud;

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";
const QEMU: &str = "/usr/bin/qemu-aarch64-static";

/// Prints `uname().machine` and writes it to `/arch`; exits 3 on a failed call.
const UNAME_ARCH_S: &str = r#"
        .text
        .global _start
_start:
        adrp    x19, uts
        add     x19, x19, :lo12:uts
        mov     x0, x19
        mov     x8, #160            // uname
        svc     #0
        cbnz    x0, fail
        add     x20, x19, #260      // utsname.machine
        mov     x21, #0
1:      ldrb    w1, [x20, x21]
        cbz     w1, 2f
        add     x21, x21, #1
        b       1b
2:      mov     w1, #10
        strb    w1, [x20, x21]
        add     x21, x21, #1
        mov     x0, #1
        mov     x1, x20
        mov     x2, x21
        mov     x8, #64             // write
        svc     #0
        mov     x0, #-100           // AT_FDCWD
        adrp    x1, path
        add     x1, x1, :lo12:path
        mov     x2, #0x241          // O_WRONLY|O_CREAT|O_TRUNC
        mov     x3, #0x1a4          // 0644
        mov     x8, #56             // openat
        svc     #0
        tbnz    x0, #63, fail
        mov     x1, x20
        mov     x2, x21
        mov     x8, #64
        svc     #0
        mov     x0, #0
        mov     x8, #93             // exit
        svc     #0
fail:
        mov     x0, #3
        mov     x8, #93
        svc     #0
        .data
path:   .asciz  "/arch"
        .bss
        .balign 8
uts:    .space  390
"#;

/// qemu's binfmt magic and mask for little-endian 64-bit ARM executables.
const AARCH64_MAGIC: &str =
    r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
const AARCH64_MASK: &str =
    r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

fn inspect(e: &Engine, image: &str, format: &str) -> String {
    e.ok(&["image", "inspect", "--format", format, image])
        .trim()
        .to_string()
}

fn uniq() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// Whether a tool is there; under CI=true its absence fails the test.
fn require(path: &str, package: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    let msg = format!("build_platform needs {path} (Debian package {package})");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}, and CI=true forbids skipping");
    }
    loud(&format!("SKIPPED: {msg}"));
    false
}

/// binfmt_misc mounted for the test's lifetime, and the test's own handler.
struct Handler {
    entry: PathBuf,
    mounted_here: bool,
}

impl Handler {
    fn register() -> Handler {
        let mut mounted_here = false;
        if !Path::new(BINFMT).join("status").exists() {
            let st = Command::new("mount")
                .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT])
                .status()
                .unwrap();
            assert!(st.success(), "mounting binfmt_misc at {BINFMT}");
            mounted_here = true;
        }
        let name = format!("berth-test-{}", uniq());
        let rule = format!(":{name}:M:0:{AARCH64_MAGIC}:{AARCH64_MASK}:{QEMU}:F");
        let h = Handler {
            entry: Path::new(BINFMT).join(&name),
            mounted_here,
        };
        fs::write(Path::new(BINFMT).join("register"), rule).expect("registering a binfmt handler");
        assert!(h.entry.exists());
        h
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        // Writing -1 to an entry removes it.
        let _ = fs::write(&self.entry, "-1");
        if self.mounted_here {
            let _ = Command::new("umount").arg(BINFMT).status();
        }
    }
}

/// Assembles and links [`UNAME_ARCH_S`] into `dir/uname-arch`.
fn assemble(dir: &Path) {
    let src = dir.join("uname-arch.s");
    let obj = dir.join("uname-arch.o");
    fs::write(&src, UNAME_ARCH_S).unwrap();
    let o = Command::new("aarch64-linux-gnu-as")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "as: {}", show(&o));
    let o = Command::new("aarch64-linux-gnu-ld")
        .args(["-static", "-o"])
        .arg(dir.join("uname-arch"))
        .arg(&obj)
        .output()
        .unwrap();
    assert!(o.status.success(), "ld: {}", show(&o));
    fs::remove_file(src).unwrap();
    fs::remove_file(obj).unwrap();
}

#[test]
fn run_steps_for_arm64_go_through_the_binfmt_handler() {
    if berth_arch() == "arm64" {
        loud("SKIPPED: build_platform's emulation test targets arm64, the host's own");
        return;
    }
    let Some(e) = Engine::new("build-platform-qemu") else {
        return;
    };
    if !require(QEMU, "qemu-user-static")
        || !require(
            "/usr/bin/aarch64-linux-gnu-as",
            "binutils-aarch64-linux-gnu",
        )
    {
        return;
    }
    let dir = context(
        &e,
        "ctx",
        &[(
            "Dockerfile",
            "FROM --platform=$BUILDPLATFORM busybox AS tools\nRUN uname -m > /build-arch\n\
             FROM scratch\nCOPY --from=tools /build-arch /build-arch\n\
             COPY uname-arch /uname-arch\nRUN [\"/uname-arch\"]\n\
             ARG TARGETPLATFORM\nARG BUILDARCH\n\
             LABEL target=$TARGETPLATFORM build=$BUILDARCH\n\
             CMD [\"/uname-arch\"]\n",
        )],
    );
    assemble(&dir);
    let _handler = Handler::register();

    let o = build(
        &e,
        &dir,
        &[
            "--progress",
            "plain",
            "--platform",
            "linux/arm64",
            "-t",
            "arm:1",
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    // The RUN step's output is the emulated kernel's answer.
    assert!(text(&o.stderr).contains("aarch64"), "{}", show(&o));
    assert_eq!(
        inspect(&e, "arm:1", "{{.Os}}/{{.Architecture}}"),
        "linux/arm64"
    );
    assert_eq!(
        inspect(&e, "arm:1", "{{index .Config.Labels \"target\"}}"),
        "linux/arm64/v8"
    );
    assert_eq!(
        inspect(&e, "arm:1", "{{index .Config.Labels \"build\"}}"),
        berth_arch()
    );
    // The file the RUN step wrote is in the image.
    let out = e.work.path().join("out");
    let o = build(
        &e,
        &dir,
        &[
            "--platform",
            "linux/arm64",
            "--output",
            &format!("type=local,dest={}", out.display()),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(fs::read_to_string(out.join("arch")).unwrap(), "aarch64\n");
    // The stage on $BUILDPLATFORM ran natively, from the host's busybox.
    assert_eq!(
        fs::read_to_string(out.join("build-arch")).unwrap(),
        format!("{}\n", std::env::consts::ARCH)
    );
    // A container of the image runs through the same handler, with a warning that
    // the image is not the host's.
    let o = e.berth(&["run", "--rm", "arm:1"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(text(&o.stdout).trim(), "aarch64");
    assert!(
        text(&o.stderr).contains("WARNING: image arm:1 is for linux/arm64"),
        "{}",
        show(&o)
    );
    // Not for the host's own images.
    let o = e.berth(&["run", "--rm", "busybox", "true"]);
    assert!(!text(&o.stderr).contains("WARNING"), "{}", show(&o));
}

fn berth_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The qemu name of an architecture whose handler binfmt_misc does not list, from
/// a few candidates: (OCI arch, qemu's name).
fn unhandled_arch() -> Option<&'static str> {
    [
        ("mips64le", "mips64el"),
        ("riscv64", "riscv64"),
        ("s390x", "s390x"),
        ("ppc64le", "ppc64le"),
        ("loong64", "loongarch64"),
    ]
    .into_iter()
    .find(|(_, q)| !Path::new(BINFMT).join(format!("qemu-{q}")).exists())
    .map(|(a, _)| a)
}

#[test]
fn a_foreign_platform_without_a_handler() {
    let Some(e) = Engine::new("build-platform-none") else {
        return;
    };
    let Some(arch) = unhandled_arch() else {
        loud("SKIPPED: build_platform: every candidate architecture has a binfmt handler here");
        return;
    };
    let platform = format!("linux/{arch}");
    let dir = context(
        &e,
        "ctx",
        &[
            ("a.txt", "hello\n"),
            (
                "Dockerfile",
                "FROM scratch\nARG TARGETARCH\nARG BUILDPLATFORM\n\
                 LABEL arch=$TARGETARCH build=$BUILDPLATFORM\nCOPY a.txt /a.txt\n",
            ),
        ],
    );
    // Copying files needs no emulator: the image is the target's.
    let o = build(&e, &dir, &["--platform", &platform, "-t", "foreign:1"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        inspect(&e, "foreign:1", "{{.Os}}/{{.Architecture}}"),
        platform
    );
    assert_eq!(
        inspect(&e, "foreign:1", "{{index .Config.Labels \"arch\"}}"),
        arch
    );
    assert_eq!(
        inspect(&e, "foreign:1", "{{index .Config.Labels \"build\"}}"),
        format!("linux/{}", berth_arch())
    );
    // The metadata entries before the first file step carry that step's time, as
    // BuildKit dates them, so the cached rebuild below is the same image.
    let id = inspect(&e, "foreign:1", "{{.Id}}");
    let config = e
        .root
        .path()
        .join("blobs/sha256")
        .join(id.trim_start_matches("sha256:"));
    let config: serde_json::Value = serde_json::from_slice(&fs::read(config).unwrap()).unwrap();
    let history = config["history"].as_array().unwrap();
    let times: Vec<&str> = history
        .iter()
        .map(|h| h["created"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 4, "{history:?}");
    assert!(times.iter().all(|t| *t == times[3]), "{history:?}");
    // The same context for the host is another image (the platform is part of the
    // cache key), and building for the target again is cached: the same image.
    let o = build(&e, &dir, &["-t", "native:1"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(inspect(&e, "native:1", "{{.Architecture}}"), berth_arch());
    let foreign_id = inspect(&e, "foreign:1", "{{.Id}}");
    assert_ne!(inspect(&e, "native:1", "{{.Id}}"), foreign_id);
    let o = build(&e, &dir, &["--platform", &platform, "-t", "foreign:2"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(inspect(&e, "foreign:2", "{{.Id}}"), foreign_id);

    // A RUN step would need the target's programs run: a clear error, no image.
    let run = context(
        &e,
        "run",
        &[("Dockerfile", "FROM scratch\nCOPY . /\nRUN [\"/nothing\"]\n")],
    );
    let o = build(&e, &run, &["--platform", &platform, "-t", "never:1"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("RUN steps for {platform}")) && err.contains("qemu-user-static"),
        "{err}"
    );
    assert!(e.berth(&["image", "inspect", "never:1"]).status.code() != Some(0));
    // `FROM --platform` in a stage says the same for that stage alone.
    let stage = context(
        &e,
        "stage",
        &[(
            "Dockerfile",
            &format!("FROM --platform={platform} scratch\nRUN [\"/nothing\"]\n"),
        )],
    );
    let o = build(&e, &stage, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(text(&o.stderr).contains("binfmt_misc"), "{}", show(&o));
    // A platform that does not parse is refused before anything runs.
    let o = build(&e, &dir, &["--platform", "linux"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(text(&o.stderr).contains("os/arch"), "{}", show(&o));
}
