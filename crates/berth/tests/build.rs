//! `berth build` end to end: real RUN steps in containers, real layers in the store,
//! the image's config checked field by field and containers run from the result.
//! Each test writes its own context under the harness's work directory.

mod common;

use std::fs;
use std::path::Path;

use common::build::{build, context};
use common::engine::{show, text, Engine};

#[track_caller]
fn build_ok(e: &Engine, dir: &Path, extra: &[&str]) -> String {
    let o = build(e, dir, extra);
    assert!(o.status.success(), "build failed: {}", show(&o));
    text(&o.stderr)
}

fn cfg(e: &Engine, image: &str, field: &str) -> String {
    e.ok(&[
        "image",
        "inspect",
        "--format",
        &format!("{{{{json .Config.{field}}}}}"),
        image,
    ])
    .trim()
    .to_string()
}

fn run(e: &Engine, image: &str, cmd: &[&str]) -> String {
    let mut a = vec!["run", "--rm", "--network", "none", image];
    a.extend_from_slice(cmd);
    e.ok(&a)
}

#[test]
fn instructions_make_the_config_and_files_docker_would() {
    let Some(e) = Engine::new("build_config") else {
        return;
    };
    let dir = context(
        &e,
        "cfg",
        &[
            ("app/a.txt", "alpha\n"),
            ("app/sub/b.txt", "beta\n"),
            (
                "Dockerfile",
                r#"# syntax=docker/dockerfile:1
FROM busybox AS base
ARG TARGETARCH
RUN echo "$TARGETARCH" > /arch && echo "${HTTP_PROXY:-none}" > /proxy
ARG VERSION=1.0
ENV APP_HOME=/srv/app \
    MODE="production"
WORKDIR $APP_HOME
COPY app/ ./
COPY --chown=1000:1000 --chmod=640 app/a.txt owned.txt
RUN echo "v$VERSION" > version && echo 'worker:x:1001:1001::/srv/app:/bin/sh' >> /etc/passwd
LABEL org.opencontainers.image.version=$VERSION maintainer="ops team"
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER worker
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD test -f /srv/app/version
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /srv/app/version"]
"#,
            ),
        ],
    );
    let out = build_ok(
        &e,
        &dir,
        &[
            "-t",
            "cfg:1",
            "--build-arg",
            "VERSION=2.5",
            "--build-arg",
            "HTTP_PROXY=http://127.0.0.1:3128",
        ],
    );
    assert!(!out.contains("not consumed"), "{out}");
    assert_eq!(cfg(&e, "cfg:1", "WorkingDir"), "\"/srv/app\"");
    let env = cfg(&e, "cfg:1", "Env");
    assert!(env.contains("\"APP_HOME=/srv/app\""), "{env}");
    assert!(env.contains("\"MODE=production\""), "{env}");
    assert!(env.contains("PATH=/usr/local/sbin"), "{env}");
    assert!(!env.contains("VERSION"), "ARGs must not persist: {env}");
    let labels = cfg(&e, "cfg:1", "Labels");
    assert!(
        labels.contains("\"org.opencontainers.image.version\":\"2.5\""),
        "{labels}"
    );
    assert!(labels.contains("\"maintainer\":\"ops team\""), "{labels}");
    assert_eq!(
        cfg(&e, "cfg:1", "ExposedPorts"),
        r#"{"53/udp":{},"8080/tcp":{}}"#
    );
    assert_eq!(cfg(&e, "cfg:1", "Volumes"), r#"{"/data":{}}"#);
    assert_eq!(cfg(&e, "cfg:1", "User"), "\"worker\"");
    assert_eq!(cfg(&e, "cfg:1", "StopSignal"), "\"SIGINT\"");
    assert_eq!(cfg(&e, "cfg:1", "Shell"), r#"["/bin/sh","-ec"]"#);
    assert_eq!(cfg(&e, "cfg:1", "Entrypoint"), r#"["/bin/sh","-c"]"#);
    assert_eq!(cfg(&e, "cfg:1", "Cmd"), r#"["cat /srv/app/version"]"#);
    let hc = cfg(&e, "cfg:1", "Healthcheck");
    assert!(
        hc.contains(r#""Test":["CMD-SHELL","test -f /srv/app/version"]"#),
        "{hc}"
    );
    assert!(hc.contains(r#""Interval":30000000000"#), "{hc}");
    assert!(hc.contains(r#""Retries":2"#), "{hc}");

    // Predefined ARGs: the platform ones when declared, the proxies in RUN only.
    let arch = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "cat",
        "cfg:1",
        "/arch",
        "/proxy",
    ]);
    let host = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    assert_eq!(arch, format!("{host}\nhttp://127.0.0.1:3128\n"));
    assert!(!cfg(&e, "cfg:1", "Env").contains("PROXY"));

    // The files, owners and modes, seen from a container of the image.
    assert_eq!(run(&e, "cfg:1", &[]), "v2.5\n");
    let ls = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "--entrypoint",
        "",
        "cfg:1",
        "sh",
        "-c",
        "cat sub/b.txt; stat -c '%u:%g %a' owned.txt; cat owned.txt",
    ]);
    assert_eq!(ls, "beta\n1000:1000 640\nalpha\n");

    // History: one entry per instruction, empty layers marked, as BuildKit writes.
    let hist = e.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "cfg:1",
    ]);
    assert!(
        hist.contains("VERSION=2.5 /bin/sh -c echo \"v$VERSION\" > version"),
        "{hist}"
    );
    assert!(hist.contains("WORKDIR /srv/app|"), "{hist}");
    assert!(hist.contains("ENV APP_HOME=/srv/app"), "{hist}");
}

#[test]
fn cache_follows_content_not_mtimes() {
    let Some(e) = Engine::new("build_cache") else {
        return;
    };
    let dir = context(
        &e,
        "cache",
        &[
            ("f.txt", "one\n"),
            (
                "Dockerfile",
                "FROM busybox\nRUN echo base > /base\nCOPY f.txt /f.txt\nRUN cat /f.txt > /copy\n",
            ),
        ],
    );
    let first = build_ok(&e, &dir, &["-t", "c:1"]);
    assert!(!first.contains("CACHED"), "{first}");
    let id1 = e.ok(&["image", "inspect", "--format", "{{.Id}}", "c:1"]);

    let again = build_ok(&e, &dir, &["-t", "c:2"]);
    assert_eq!(again.matches("CACHED").count(), 3, "{again}");
    assert_eq!(
        e.ok(&["image", "inspect", "--format", "{{.Id}}", "c:2"]),
        id1
    );

    // A touch changes the mtime only: still cached.
    let f = dir.join("f.txt");
    let t = fs::File::options().write(true).open(&f).unwrap();
    t.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    drop(t);
    let touched = build_ok(&e, &dir, &[]);
    assert_eq!(touched.matches("CACHED").count(), 3, "{touched}");

    // New content: COPY and what follows run again, the first RUN does not.
    fs::write(&f, "two\n").unwrap();
    let changed = build_ok(&e, &dir, &["-t", "c:3"]);
    assert_eq!(changed.matches("CACHED").count(), 1, "{changed}");
    assert_eq!(run(&e, "c:3", &["cat", "/copy"]), "two\n");

    // --no-cache runs everything.
    let nocache = build_ok(&e, &dir, &["--no-cache"]);
    assert!(!nocache.contains("CACHED"), "{nocache}");

    // builder prune forgets it.
    e.ok(&["builder", "prune", "-f"]);
    let pruned = build_ok(&e, &dir, &[]);
    assert!(!pruned.contains("CACHED"), "{pruned}");
}

#[test]
fn stages_targets_heredocs_ignore_and_archives() {
    let Some(e) = Engine::new("build_stages") else {
        return;
    };
    // A tar archive ADD must unpack.
    let dir = context(
        &e,
        "stages",
        &[
            ("keep.txt", "kept\n"),
            ("secret.key", "do not ship\n"),
            ("logs/x.log", "noise\n"),
            (".dockerignore", "*.key\nlogs\n"),
            (
                "Dockerfile",
                r#"FROM busybox AS builder
RUN <<EOF
set -e
mkdir -p /out
echo built > /out/artifact
EOF
COPY <<EOT /out/note.txt
note for $HOSTNAME_UNSET
EOT

FROM busybox AS unused
RUN exit 1

FROM busybox AS test
RUN echo testing > /t

FROM busybox
COPY --from=builder /out/ /opt/
COPY . /ctx/
ADD bundle.tar /unpacked/
RUN python3_missing=1 sh -c 'ls /ctx | sort > /ctx.list'
CMD ["cat", "/opt/artifact"]
"#,
            ),
        ],
    );
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["-cf", "bundle.tar", "keep.txt"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let out = build_ok(&e, &dir, &["-t", "multi:1"]);
    // The stage nothing needs is never built (its RUN would fail).
    assert!(!out.contains("exit 1"), "{out}");
    assert_eq!(run(&e, "multi:1", &[]), "built\n");
    assert_eq!(run(&e, "multi:1", &["cat", "/opt/note.txt"]), "note for \n");
    let list = run(&e, "multi:1", &["cat", "/ctx.list"]);
    assert!(
        list.contains("keep.txt") && list.contains("Dockerfile"),
        "{list}"
    );
    assert!(
        !list.contains("secret.key") && !list.contains("logs"),
        "{list}"
    );
    assert_eq!(run(&e, "multi:1", &["cat", "/unpacked/keep.txt"]), "kept\n");

    // --target builds that stage and what it needs only.
    build_ok(&e, &dir, &["--target", "test", "-t", "multi:test"]);
    assert_eq!(run(&e, "multi:test", &["cat", "/t"]), "testing\n");
    let o = build(&e, &dir, &["--target", "nope"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no stage has that name"),
        "{}",
        show(&o)
    );
}

#[test]
fn failures_are_reported_and_store_nothing() {
    let Some(e) = Engine::new("build_fail") else {
        return;
    };
    let dir = context(
        &e,
        "fail",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo step-output; exit 3\nRUN echo never\n",
        )],
    );
    let before = e.ok(&["images", "-q"]);
    let o = build(&e, &dir, &["-t", "broken:1"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("did not complete successfully: exit code: 3"),
        "{err}"
    );
    assert!(err.contains("step-output"), "the tail of the output: {err}");
    assert!(!err.contains("never"), "{err}");
    assert_eq!(
        e.ok(&["images", "-q"]),
        before,
        "a failed build tagged an image"
    );

    // A Dockerfile that does not parse: its file, line and column, before any step.
    let bad = context(
        &e,
        "bad",
        &[("Dockerfile", "FROM busybox\nRUN true\nRUNN echo\n")],
    );
    let o = build(&e, &bad, &[]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("Dockerfile:3:1"), "{err}");
    assert!(err.contains("did you mean RUN"), "{err}");
    assert!(!err.contains("#2"), "a step ran: {err}");

    // A COPY source that does not exist names it.
    let missing = context(
        &e,
        "missing",
        &[("Dockerfile", "FROM busybox\nCOPY nope.txt /\n")],
    );
    let o = build(&e, &missing, &[]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("nope.txt"), "{}", show(&o));
}

#[test]
fn secrets_stay_out_of_layers_and_epochs_make_builds_reproducible() {
    let Some(e) = Engine::new("build_secret") else {
        return;
    };
    let secret = e.work.path().join("token");
    fs::write(&secret, "s3cr3t").unwrap();
    let dir = context(
        &e,
        "sec",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /len\n\
             RUN --mount=type=secret,id=tok,env=TOKEN sh -c 'test ${#TOKEN} = 6 && echo ok > /envok'\n",
        )],
    );
    let src = format!("id=tok,src={}", secret.display());
    build_ok(&e, &dir, &["-t", "sec:1", "--secret", &src]);
    assert_eq!(run(&e, "sec:1", &["cat", "/len"]).trim(), "6");
    assert_eq!(run(&e, "sec:1", &["cat", "/envok"]), "ok\n");
    let o = e.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "sec:1",
        "ls",
        "/run/secrets",
    ]);
    assert!(
        !o.status.success(),
        "the secret's mount point is in the image: {}",
        show(&o)
    );
    let saved = e.work.path().join("sec.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), "sec:1"]);
    let bytes = fs::read(&saved).unwrap();
    assert!(
        !bytes.windows(6).any(|w| w == b"s3cr3t"),
        "the secret reached a layer"
    );
    let o = build(&e, &dir, &["--no-cache"]);
    assert!(!o.status.success(), "a missing required secret must fail");

    // Same inputs and SOURCE_DATE_EPOCH: same image, twice without the cache.
    let rep = context(
        &e,
        "rep",
        &[
            ("f", "x\n"),
            ("Dockerfile", "FROM busybox\nCOPY f /f\nRUN echo hi > /g\n"),
        ],
    );
    let q1 = e.ok(&[
        "build",
        "-q",
        "--no-cache",
        "--source-date-epoch",
        "1700000000",
        rep.to_str().unwrap(),
    ]);
    let q2 = e.ok(&[
        "build",
        "-q",
        "--no-cache",
        "--source-date-epoch",
        "1700000000",
        rep.to_str().unwrap(),
    ]);
    assert!(q1.trim().starts_with("sha256:"), "{q1}");
    assert_eq!(q1, q2, "SOURCE_DATE_EPOCH builds differ");
    let created = e.ok(&["image", "inspect", "--format", "{{.Created}}", q1.trim()]);
    assert!(created.starts_with("2023-11-14T22:13:20"), "{created}");
}

#[test]
fn outputs_write_the_filesystem_or_an_archive() {
    let Some(e) = Engine::new("build_output") else {
        return;
    };
    let dir = context(
        &e,
        "out",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN mkdir -p /out && echo result > /out/r.txt && chmod 0640 /out/r.txt\n",
        )],
    );
    let local = e.work.path().join("local");
    build_ok(
        &e,
        &dir,
        &["-o", &format!("type=local,dest={}", local.display())],
    );
    assert_eq!(
        fs::read_to_string(local.join("out/r.txt")).unwrap(),
        "result\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(local.join("out/r.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert!(local.join("bin/busybox").exists());

    let tarball = e.work.path().join("fs.tar");
    build_ok(
        &e,
        &dir,
        &["--output", &format!("type=tar,dest={}", tarball.display())],
    );
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tarball)
        .output()
        .unwrap();
    assert!(
        text(&list.stdout).lines().any(|l| l == "out/r.txt"),
        "{}",
        show(&list)
    );

    let oci = e.work.path().join("img.tar");
    build_ok(
        &e,
        &dir,
        &[
            "-t",
            "outimg:1",
            "-o",
            &format!("type=oci,dest={}", oci.display()),
        ],
    );
    e.ok(&["rmi", "outimg:1"]);
    e.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(run(&e, "outimg:1", &["cat", "/out/r.txt"]), "result\n");

    let o = build(&e, &dir, &["-o", "type=nope,dest=x"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("is not one of"), "{}", show(&o));
}
