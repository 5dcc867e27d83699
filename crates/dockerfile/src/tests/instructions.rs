use super::*;
use std::time::Duration;

fn shell(s: &str) -> CommandLine {
    CommandLine::Shell(s.into())
}

fn exec(v: &[&str]) -> CommandLine {
    CommandLine::Exec(s(v))
}

fn run(command: CommandLine) -> Run {
    Run {
        command,
        heredocs: vec![],
        mounts: vec![],
        network: None,
        security: None,
    }
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

fn transfer(sources: &[&str], dest: &str) -> Transfer {
    Transfer {
        sources: sources
            .iter()
            .map(|p| Source::Path(p.to_string()))
            .collect(),
        dest: dest.into(),
        chown: None,
        chmod: None,
        link: false,
        excludes: vec![],
        json: false,
    }
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(
        kinds("run a\nRuN b\nworkdir /x"),
        vec![
            InstructionKind::Run(run(shell("a"))),
            InstructionKind::Run(run(shell("b"))),
            InstructionKind::Workdir("/x".into())
        ]
    );
    let d = df("from alpine as Build\n");
    assert_eq!(d.stages[0].name.as_deref(), Some("build"));
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(
        one(r#"RUN ["echo", "hi"]"#),
        InstructionKind::Run(run(exec(&["echo", "hi"])))
    );
    assert_eq!(
        one("RUN echo hi"),
        InstructionKind::Run(run(shell("echo hi")))
    );
    assert_eq!(
        one(r#"CMD ["a"] ignored"#),
        InstructionKind::Cmd(exec(&["a"]))
    );
    // Not valid JSON: Docker runs it through the shell as written.
    assert_eq!(
        one("CMD ['a', 'b']"),
        InstructionKind::Cmd(shell("['a', 'b']"))
    );
    assert_eq!(
        one(r#"ENTRYPOINT ["a", "b""#),
        InstructionKind::Entrypoint(shell(r#"["a", "b""#))
    );
    assert_eq!(one("ENTRYPOINT []"), InstructionKind::Entrypoint(exec(&[])));
    assert_eq!(one("CMD"), InstructionKind::Cmd(shell("")));
    assert_eq!(
        one(r#"SHELL ["powershell", "-command"]"#),
        InstructionKind::Shell(s(&["powershell", "-command"]))
    );
    assert_eq!(
        one(r#"VOLUME ["/data", "/logs"]"#),
        InstructionKind::Volume(s(&["/data", "/logs"]))
    );
    assert_eq!(
        one("VOLUME /data /logs"),
        InstructionKind::Volume(s(&["/data", "/logs"]))
    );
    let mut t = transfer(&["a b"], "/c d/");
    t.json = true;
    assert_eq!(
        one(r#"COPY ["a b", "/c d/"]"#),
        InstructionKind::Copy(Copy {
            transfer: t,
            from: None,
            parents: false
        })
    );
}

#[test]
fn from_forms() {
    let d = df("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM build\nFROM scratch");
    let st = &d.stages;
    assert_eq!(
        (
            st[0].base.as_str(),
            st[0].name.as_deref(),
            st[0].platform.as_deref(),
            st[0].index
        ),
        ("golang:1.22", Some("build"), Some("$BUILDPLATFORM"), 0)
    );
    assert_eq!(
        (st[1].base.as_str(), st[1].name.as_deref(), st[1].index),
        ("build", None, 1)
    );
    assert_eq!(st[2].original, "FROM scratch");
}

#[test]
fn run_flags() {
    let k = one("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok --network=none --security=insecure make");
    let InstructionKind::Run(r) = k else {
        panic!("{k:?}")
    };
    assert_eq!(r.command, shell("make"));
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(
        (r.mounts[0].kind, r.mounts[0].target.as_deref()),
        (MountType::Cache, Some("/root/.cache"))
    );
    assert_eq!(
        (r.mounts[1].kind, r.mounts[1].target.as_deref()),
        (MountType::Secret, Some("/run/secrets/tok"))
    );
    assert_eq!(r.network, Some(NetworkMode::None));
    assert_eq!(r.security, Some(SecurityMode::Insecure));
    let InstructionKind::Run(r) = one("RUN --network=host --security=sandbox x") else {
        unreachable!()
    };
    assert_eq!(
        (r.network, r.security),
        (Some(NetworkMode::Host), Some(SecurityMode::Sandbox))
    );
    let InstructionKind::Run(r) = one("RUN --network=default x") else {
        unreachable!()
    };
    assert_eq!(r.network, Some(NetworkMode::Default));
}

#[test]
fn copy_and_add_flags() {
    let k = one("COPY --from=build --chown=1000:1000 --chmod=0755 --link --exclude=*.md --exclude=.git --parents a b /dst/");
    let mut t = transfer(&["a", "b"], "/dst/");
    t.chown = Some("1000:1000".into());
    t.chmod = Some("0755".into());
    t.link = true;
    t.excludes = s(&["*.md", ".git"]);
    assert_eq!(
        k,
        InstructionKind::Copy(Copy {
            transfer: t,
            from: Some("build".into()),
            parents: true
        })
    );

    let k = one("ADD --checksum=sha256:abc --keep-git-dir=true --link=false --unpack=false https://x/y.tar /y");
    assert_eq!(
        k,
        InstructionKind::Add(Add {
            transfer: transfer(&["https://x/y.tar"], "/y"),
            checksum: Some("sha256:abc".into()),
            keep_git_dir: true,
            unpack: Some(false),
        })
    );
    assert_eq!(
        one("COPY --chown=\"a b\" x y"),
        InstructionKind::Copy(Copy {
            transfer: Transfer {
                chown: Some("a b".into()),
                ..transfer(&["x"], "y")
            },
            from: None,
            parents: false
        })
    );
}

#[test]
fn env_forms_from_the_reference() {
    let k = kinds(
        "ENV MY_NAME=\"John Doe\"\nENV MY_DOG=Rex\\ The\\ Dog\nENV MY_CAT=fluffy\n\
         ENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy\nENV MY_VAR my-value\nENV ONE TWO= THREE=world",
    );
    assert_eq!(
        k,
        vec![
            InstructionKind::Env(vec![kv("MY_NAME", "\"John Doe\"")]),
            InstructionKind::Env(vec![kv("MY_DOG", "Rex\\ The\\ Dog")]),
            InstructionKind::Env(vec![kv("MY_CAT", "fluffy")]),
            InstructionKind::Env(vec![
                kv("MY_NAME", "\"John Doe\""),
                kv("MY_DOG", "Rex\\ The\\ Dog"),
                kv("MY_CAT", "fluffy")
            ]),
            InstructionKind::Env(vec![kv("MY_VAR", "my-value")]),
            InstructionKind::Env(vec![kv("ONE", "TWO= THREE=world")]),
        ]
    );
    let none: Vec<(String, String)> = vec![];
    assert_eq!(
        expand_word("\"John Doe\"", &none, '\\').unwrap(),
        "John Doe"
    );
    assert_eq!(
        expand_word("Rex\\ The\\ Dog", &none, '\\').unwrap(),
        "Rex The Dog"
    );
}

#[test]
fn label_forms() {
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME Incorporated\" version=1.0 description=\"multi \\\nline\""),
        InstructionKind::Label(vec![
            kv("\"com.example.vendor\"", "\"ACME Incorporated\""),
            kv("version", "1.0"),
            kv("description", "\"multi line\"")
        ])
    );
    assert_eq!(
        one("LABEL legacy value here"),
        InstructionKind::Label(vec![kv("legacy", "value here")])
    );
}

#[test]
fn arg_forms_from_the_reference() {
    let d = df("ARG  CODE_VERSION=latest\nFROM base:${CODE_VERSION}\nARG user1=someuser\nARG buildno=1\nARG CONT_IMG_VER\n\
                ENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nARG a b=\"c d\"");
    assert_eq!(
        d.global_arg_decls().cloned().collect::<Vec<_>>(),
        vec![ArgDecl {
            name: "CODE_VERSION".into(),
            default: Some("latest".into())
        }]
    );
    assert_eq!(d.stages[0].base, "base:${CODE_VERSION}");
    let k: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|i| i.kind.clone())
        .collect();
    let decl = |n: &str, d: Option<&str>| ArgDecl {
        name: n.into(),
        default: d.map(Into::into),
    };
    assert_eq!(
        k,
        vec![
            InstructionKind::Arg(vec![decl("user1", Some("someuser"))]),
            InstructionKind::Arg(vec![decl("buildno", Some("1"))]),
            InstructionKind::Arg(vec![decl("CONT_IMG_VER", None)]),
            InstructionKind::Env(vec![kv("CONT_IMG_VER", "${CONT_IMG_VER:-v1.0.0}")]),
            InstructionKind::Arg(vec![decl("a", None), decl("b", Some("\"c d\""))]),
        ]
    );
    let scope: Vec<(String, String)> = vec![];
    assert_eq!(
        expand_word("${CONT_IMG_VER:-v1.0.0}", &scope, '\\').unwrap(),
        "v1.0.0"
    );
}

#[test]
fn single_value_instructions() {
    assert_eq!(
        kinds("WORKDIR /a b\nUSER app:app\nSTOPSIGNAL SIGKILL\nMAINTAINER Jane <j@x>\nEXPOSE 80/tcp 53/udp $P"),
        vec![
            InstructionKind::Workdir("/a b".into()),
            InstructionKind::User("app:app".into()),
            InstructionKind::StopSignal("SIGKILL".into()),
            InstructionKind::Maintainer("Jane <j@x>".into()),
            InstructionKind::Expose(s(&["80/tcp", "53/udp", "$P"])),
        ]
    );
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        InstructionKind::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1"),
        InstructionKind::Healthcheck(Healthcheck::Check(HealthcheckCommand {
            command: shell("curl -f http://localhost/ || exit 1"),
            interval: Some(Duration::from_secs(300)),
            timeout: Some(Duration::from_secs(3)),
            start_period: Some(Duration::from_secs(90)),
            start_interval: Some(Duration::from_millis(500)),
            retries: Some(3),
        }))
    );
    assert_eq!(
        one("healthcheck cmd [\"/bin/check\"]"),
        InstructionKind::Healthcheck(Healthcheck::Check(HealthcheckCommand {
            command: exec(&["/bin/check"]),
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        }))
    );
    let k = one("HEALTHCHECK --interval=0 CMD true");
    let InstructionKind::Healthcheck(Healthcheck::Check(c)) = k else {
        panic!()
    };
    assert_eq!(c.interval, Some(Duration::ZERO));
}

#[test]
fn onbuild_holds_a_parsed_trigger() {
    let d =
        df("FROM scratch\n  ONBUILD   RUN --network=none echo \"$HOME\"\nONBUILD ADD . /app/src");
    let i = &d.stages[0].instructions[0];
    let InstructionKind::Onbuild(o) = &i.kind else {
        panic!("{i:?}")
    };
    assert_eq!(o.expression, "RUN --network=none echo \"$HOME\"");
    assert_eq!(i.original, "ONBUILD   RUN --network=none echo \"$HOME\"");
    assert_eq!(
        o.trigger.location,
        Location {
            line: 2,
            column: 13,
            end_line: 2
        }
    );
    assert_eq!(
        o.trigger.kind,
        InstructionKind::Run(Run {
            network: Some(NetworkMode::None),
            ..run(shell("echo \"$HOME\""))
        })
    );
    let InstructionKind::Onbuild(o) = &d.stages[0].instructions[1].kind else {
        panic!()
    };
    assert_eq!(o.trigger.kind.keyword(), Keyword::Add);
}

#[test]
fn escape_directive_on_windows_paths() {
    // The Dockerfile reference's example: with ` as escape, the trailing \ of
    // c:\ is a path character, not a continuation.
    let src = "# escape=`\n\nFROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\\n";
    let d = df(src);
    assert_eq!(d.escape(), '`');
    let k: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|i| i.kind.clone())
        .collect();
    assert_eq!(
        k,
        vec![
            InstructionKind::Copy(Copy {
                transfer: transfer(&["testfile.txt"], "c:\\"),
                from: None,
                parents: false
            }),
            InstructionKind::Run(run(shell("dir c:\\"))),
        ]
    );
    // Without the directive the same lines join, as the reference warns.
    let d = df("FROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(
        d.stages[0].instructions[0].kind,
        InstructionKind::Copy(Copy {
            transfer: transfer(&["testfile.txt", "c:RUN", "dir"], "c:"),
            from: None,
            parents: false
        })
    );
    // The backtick escape also continues lines and escapes in ENV words.
    let d = df("# escape=`\nFROM x\nENV A=`\"q`\" `\n  B=c:\\d");
    assert_eq!(
        d.stages[0].instructions[0].kind,
        InstructionKind::Env(vec![kv("A", "`\"q`\""), kv("B", "c:\\d")])
    );
}

#[test]
fn directives_only_at_the_top() {
    let d = df("# syntax=docker/dockerfile:1\n# check=skip=all\nFROM x\n# escape=`\nRUN a \\\n  b");
    assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(
        d.directives.check.as_ref().map(|c| c.skip.clone()),
        Some(s(&["all"]))
    );
    assert_eq!(d.escape(), '\\');
    assert_eq!(
        d.stages[0].instructions[0].kind,
        InstructionKind::Run(run(shell("a   b")))
    );
    assert_eq!(df("# comment\n# escape=`\nFROM x").escape(), '\\');
    assert_eq!(df("\n# escape=`\nFROM x").escape(), '\\');
}
