//! Target platforms, and whether this host can run a platform's programs: natively,
//! or through a binfmt_misc handler (qemu-user) that the kernel applies to foreign
//! executables inside the RUN container.
//!
//! A handler only works inside a container when it was registered with the `F`
//! (fix-binary) flag: the kernel then opens the interpreter at registration time,
//! so it need not exist in the container's root. Debian's `qemu-user-static`
//! registers its handlers that way.

use std::fmt;
use std::path::Path;

/// Where the kernel lists binfmt_misc handlers.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// An `os/arch[/variant]` in OCI's names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`, taking the usual aliases (`x86_64`, `aarch64`,
    /// `armhf`, ...) and dropping arm64's default variant `v8`.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let lower = s.trim().to_ascii_lowercase();
        if lower.contains(',') {
            return Err(format!(
                "{s:?} names several platforms: berth builds one per build; build each one \
                 and join the images with `berth manifest create`"
            ));
        }
        let word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        let parts: Vec<&str> = lower.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, v] if !v.is_empty() => (*os, *arch, Some(*v)),
            _ => ("", "", None),
        };
        if !word(os) || !word(arch) || !variant.is_none_or(word) {
            return Err(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/arm64"
            ));
        }
        if os != "linux" {
            return Err(format!(
                "platform {s:?}: berth builds Linux images only (os must be linux)"
            ));
        }
        let (arch, default_variant) = match arch {
            "x86_64" | "x86-64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v6")),
            "i386" | "i686" => ("386", None),
            other => (other, None),
        };
        let variant = variant
            .map(normalize_variant)
            .or(default_variant.map(String::from));
        let variant = match (arch, variant.as_deref()) {
            ("arm64", Some("v8")) | ("amd64", Some("v1")) => None,
            _ => variant,
        };
        Ok(Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant,
        })
    }

    /// This host's platform.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: berth_image::platform::host_arch().into(),
            variant: None,
        }
    }

    pub fn is_host(&self) -> bool {
        self.os == "linux" && self.arch == berth_image::platform::host_arch()
    }

    /// Whether an image config's `os`/`architecture`/`variant` fit this platform.
    /// Fields the config leaves out are not held against it.
    pub fn accepts(&self, config: &serde_json::Value) -> bool {
        let field = |k: &str| config[k].as_str().unwrap_or("").to_ascii_lowercase();
        if !self.fits(&field("os"), &field("architecture")) {
            return false;
        }
        let variant = normalize_variant(&field("variant"));
        match (&self.variant, variant.as_str()) {
            (Some(want), got) if !got.is_empty() => *want == got,
            _ => true,
        }
    }

    /// Whether an image's `os` and `architecture` (empty: not stated) fit this
    /// platform, variant aside.
    pub fn fits(&self, os: &str, arch: &str) -> bool {
        (os.is_empty() || os.eq_ignore_ascii_case(&self.os))
            && (arch.is_empty() || arch.eq_ignore_ascii_case(&self.arch))
    }

    /// The config fields of an image for this platform (for `FROM scratch`).
    pub fn config_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("architecture".into(), self.arch.clone().into());
        m.insert("os".into(), self.os.clone().into());
        if let Some(v) = &self.variant {
            m.insert("variant".into(), v.clone().into());
        }
        m
    }
}

fn normalize_variant(v: &str) -> String {
    match v {
        "5" | "6" | "7" | "8" => format!("v{v}"),
        other => other.to_string(),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How this host runs a platform's programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// The CPU runs them itself.
    Native,
    /// A binfmt_misc handler runs them: its name and interpreter.
    Emulated {
        handler: String,
        interpreter: String,
    },
}

/// How the host runs `p`'s programs, or why it cannot (an error a user can act on).
pub fn runner(p: &Platform) -> Result<Runner, String> {
    runner_in(p, Path::new(BINFMT_DIR))
}

/// [`runner`] with the binfmt_misc directory given (for tests).
pub fn runner_in(p: &Platform, binfmt: &Path) -> Result<Runner, String> {
    let host = berth_image::platform::host_arch();
    // An x86-64 kernel runs 32-bit x86 programs itself.
    if p.arch == host || (host == "amd64" && p.arch == "386") {
        return Ok(Runner::Native);
    }
    let Some(header) = elf_header(&p.arch) else {
        return Err(format!(
            "berth cannot run {p} programs on this {host} host: it does not know \
             that architecture's executable format; build for linux/{host}"
        ));
    };
    let install = format!(
        "install qemu-user-static (Debian: apt-get install qemu-user-static binfmt-support) \
         so that a handler for {} is registered, or build for linux/{host}",
        p.arch
    );
    let status = match std::fs::read_to_string(binfmt.join("status")) {
        Ok(s) => s,
        Err(_) => {
            return Err(format!(
                "RUN steps for {p} need a binfmt_misc handler, and binfmt_misc is not \
                 mounted at {}: mount it (mount -t binfmt_misc binfmt_misc {0}) and {install}",
                binfmt.display()
            ))
        }
    };
    if status.trim() != "enabled" {
        return Err(format!(
            "RUN steps for {p} need a binfmt_misc handler, and binfmt_misc is disabled \
             (echo 1 > {}/status turns it on)",
            binfmt.display()
        ));
    }
    let mut entries: Vec<_> = std::fs::read_dir(binfmt)
        .map_err(|e| format!("reading {}: {e}", binfmt.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "status" && n != "register")
        .collect();
    entries.sort();
    let mut without_f = None;
    for name in entries {
        let Ok(text) = std::fs::read_to_string(binfmt.join(&name)) else {
            continue;
        };
        let Some(h) = Handler::parse(&text) else {
            continue;
        };
        if !h.enabled || !h.matches(&header) {
            continue;
        }
        if h.flags.contains('F') {
            return Ok(Runner::Emulated {
                handler: name,
                interpreter: h.interpreter,
            });
        }
        without_f.get_or_insert(name);
    }
    match without_f {
        Some(name) => Err(format!(
            "the binfmt_misc handler {name:?} runs {p} programs, but it was registered \
             without the F (fix-binary) flag, so its interpreter cannot be found inside \
             a container; register it again with flag F (Debian's qemu-user-static does)"
        )),
        None => Err(format!(
            "RUN steps for {p} need a binfmt_misc handler for {} programs, and none is \
             registered: {install}",
            p.arch
        )),
    }
}

/// The first bytes of a typical executable of `arch`: ELF ident, type EXEC and the
/// machine, which is what binfmt_misc handlers match on.
fn elf_header(arch: &str) -> Option<Vec<u8>> {
    // (ELF class: 1 = 32-bit, 2 = 64-bit; data: 1 = little, 2 = big endian; e_machine)
    let (class, data, machine): (u8, u8, u16) = match arch {
        "amd64" => (2, 1, 62),
        "386" => (1, 1, 3),
        "arm64" => (2, 1, 183),
        "arm" => (1, 1, 40),
        "ppc64le" => (2, 1, 21),
        "ppc64" => (2, 2, 21),
        "s390x" => (2, 2, 22),
        "riscv64" => (2, 1, 243),
        "mips64le" => (2, 1, 8),
        "mips64" => (2, 2, 8),
        "mipsle" => (1, 1, 8),
        "mips" => (1, 2, 8),
        "loong64" => (2, 1, 258),
        _ => return None,
    };
    let mut h = vec![0x7f, b'E', b'L', b'F', class, data, 1, 0];
    h.extend_from_slice(&[0; 8]);
    let (ty, m) = if data == 1 {
        (2u16.to_le_bytes(), machine.to_le_bytes())
    } else {
        (2u16.to_be_bytes(), machine.to_be_bytes())
    };
    h.extend_from_slice(&ty);
    h.extend_from_slice(&m);
    Some(h)
}

/// One `/proc/sys/fs/binfmt_misc/<name>` file.
#[derive(Debug)]
struct Handler {
    enabled: bool,
    interpreter: String,
    flags: String,
    offset: usize,
    magic: Vec<u8>,
    mask: Vec<u8>,
}

impl Handler {
    /// Magic-type handlers only (extension handlers never match an ELF file).
    fn parse(text: &str) -> Option<Handler> {
        let mut h = Handler {
            enabled: false,
            interpreter: String::new(),
            flags: String::new(),
            offset: 0,
            magic: Vec::new(),
            mask: Vec::new(),
        };
        for line in text.lines() {
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            match k {
                "enabled" => h.enabled = true,
                "interpreter" => h.interpreter = v.to_string(),
                "flags:" => h.flags = v.to_string(),
                "offset" => h.offset = v.parse().ok()?,
                "magic" => h.magic = hex::decode(v.trim()).ok()?,
                "mask" => h.mask = hex::decode(v.trim()).ok()?,
                _ => {}
            }
        }
        (!h.magic.is_empty()).then_some(h)
    }

    fn matches(&self, file: &[u8]) -> bool {
        let Some(window) = file.get(self.offset..self.offset + self.magic.len()) else {
            return false;
        };
        window.iter().enumerate().all(|(i, b)| {
            let m = self.mask.get(i).copied().unwrap_or(0xff);
            b & m == self.magic[i] & m
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_binfmt(entries: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("status"), "enabled\n").unwrap();
        std::fs::write(d.path().join("register"), "").unwrap();
        for (n, t) in entries {
            std::fs::write(d.path().join(n), t).unwrap();
        }
        d
    }

    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n\
        flags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n\
        mask ffffffffffffff00fffffffffffffffffeffffff\n";

    #[test]
    fn parses_and_normalizes() {
        let p = Platform::parse("linux/aarch64").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert_eq!(
            Platform::parse("LINUX/ARM64/V8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/armhf").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/arm/7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(Platform::parse("linux/x86_64").unwrap().arch, "amd64");
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(Platform::parse("linux/a b").is_err());
        let e = Platform::parse("linux/amd64,linux/arm64").unwrap_err();
        assert!(e.contains("one per build"), "{e}");
        let e = Platform::parse("windows/amd64").unwrap_err();
        assert!(e.contains("Linux images only"), "{e}");
    }

    #[test]
    fn accepts_configs() {
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(
            arm.accepts(&serde_json::json!({"os":"linux","architecture":"arm64","variant":"v8"}))
        );
        assert!(!arm.accepts(&serde_json::json!({"os":"linux","architecture":"amd64"})));
        assert!(arm.accepts(&serde_json::json!({})));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!v7.accepts(&serde_json::json!({"architecture":"arm","variant":"v6"})));
        assert!(v7.accepts(&serde_json::json!({"architecture":"arm"})));
    }

    #[test]
    fn host_is_native() {
        let d = fake_binfmt(&[]);
        assert_eq!(runner_in(&Platform::host(), d.path()), Ok(Runner::Native));
    }

    #[test]
    fn finds_a_fix_binary_handler_by_its_magic() {
        let foreign = if berth_image::platform::host_arch() == "arm64" {
            return;
        } else {
            Platform::parse("linux/arm64").unwrap()
        };
        // The name does not matter, the magic does.
        let d = fake_binfmt(&[("zz-mine", AARCH64)]);
        match runner_in(&foreign, d.path()) {
            Ok(Runner::Emulated {
                handler,
                interpreter,
            }) => {
                assert_eq!(handler, "zz-mine");
                assert!(interpreter.ends_with("aarch64-binfmt-P"));
            }
            other => panic!("{other:?}"),
        }
        // Without F it is named and refused; disabled it does not count.
        let d = fake_binfmt(&[("qemu-aarch64", &AARCH64.replace("POCF", "POC"))]);
        let e = runner_in(&foreign, d.path()).unwrap_err();
        assert!(
            e.contains("F (fix-binary)") && e.contains("qemu-aarch64"),
            "{e}"
        );
        let d = fake_binfmt(&[("qemu-aarch64", &AARCH64.replace("enabled", "disabled"))]);
        let e = runner_in(&foreign, d.path()).unwrap_err();
        assert!(
            e.contains("none is registered") && e.contains("qemu-user-static"),
            "{e}"
        );
        // Another architecture's handler does not match.
        let s390 = Platform::parse("linux/s390x").unwrap();
        let d = fake_binfmt(&[("qemu-aarch64", AARCH64)]);
        assert!(runner_in(&s390, d.path()).is_err());
    }

    #[test]
    fn unmounted_or_disabled_binfmt_is_explained() {
        let p = Platform::parse("linux/riscv64").unwrap();
        let e = runner_in(&p, Path::new("/nonexistent/binfmt")).unwrap_err();
        assert!(
            e.contains("not mounted") && e.contains("mount -t binfmt_misc"),
            "{e}"
        );
        let d = fake_binfmt(&[]);
        std::fs::write(d.path().join("status"), "disabled\n").unwrap();
        assert!(runner_in(&p, d.path()).unwrap_err().contains("disabled"));
        let e = runner_in(&Platform::parse("linux/vax").unwrap(), d.path()).unwrap_err();
        assert!(e.contains("does not know"), "{e}");
    }

    #[test]
    fn elf_headers_match_qemu_magic() {
        let h = Handler::parse(AARCH64).unwrap();
        assert!(h.matches(&elf_header("arm64").unwrap()));
        assert!(!h.matches(&elf_header("amd64").unwrap()));
        assert!(!h.matches(&elf_header("arm").unwrap()));
        // ET_DYN (3) passes the fe mask on the type byte too.
        let mut pie = elf_header("arm64").unwrap();
        pie[16] = 3;
        assert!(h.matches(&pie));
    }
}
