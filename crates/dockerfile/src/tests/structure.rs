use super::*;

#[test]
fn locations_and_original_text() {
    let src = "FROM alpine AS base\n\n  # note\n    RUN apk add \\\n      curl \\\n# dropped comment\n      git\n\tCMD [\"sh\"]\n";
    let d = df(src);
    let st = &d.stages[0];
    assert_eq!(
        st.location,
        Location {
            line: 1,
            column: 1,
            end_line: 1
        }
    );
    assert_eq!(st.original, "FROM alpine AS base");
    let run = &st.instructions[0];
    assert_eq!(
        run.location,
        Location {
            line: 4,
            column: 5,
            end_line: 7
        }
    );
    assert_eq!(run.original, "RUN apk add       curl       git");
    let cmd = &st.instructions[1];
    assert_eq!(
        cmd.location,
        Location {
            line: 8,
            column: 2,
            end_line: 8
        }
    );
    assert_eq!(cmd.original, "CMD [\"sh\"]");
}

#[test]
fn stages_and_references() {
    let d = df("ARG V=1\nFROM golang AS build\nRUN make\nFROM build AS test\nFROM alpine\nCOPY --from=build /a /a\nFROM Final");
    assert_eq!(d.stages.len(), 4);
    assert_eq!(d.global_args.len(), 1);
    assert_eq!(d.stages[1].instructions.len(), 0);
    assert_eq!(d.resolve_base("build", 1), StageRef::Stage(0));
    assert_eq!(d.resolve_base("BUILD", 1), StageRef::Stage(0));
    assert_eq!(d.resolve_base("test", 1), StageRef::Image("test".into()));
    assert_eq!(
        d.resolve_base("alpine", 2),
        StageRef::Image("alpine".into())
    );
    assert_eq!(d.resolve_from("build", 2), Ok(StageRef::Stage(0)));
    assert_eq!(d.resolve_from("1", 2), Ok(StageRef::Stage(1)));
    assert_eq!(d.resolve_from("test", 0), Ok(StageRef::Stage(1)));
    assert_eq!(
        d.resolve_from("nginx:latest", 2),
        Ok(StageRef::Image("nginx:latest".into()))
    );
    assert_eq!(
        d.resolve_from("9", 2).unwrap_err().to_string(),
        "invalid stage reference \"9\": there is no stage with that index (the Dockerfile has 4 stages, from 0)"
    );
    assert_eq!(
        d.resolve_from("2", 2).unwrap_err().message,
        "stage 2 cannot copy from itself"
    );
    assert!(d.stage_by_name("TEST").is_some());
}

#[test]
fn keyword_helpers() {
    let expanding: Vec<&str> = Keyword::ALL
        .iter()
        .filter(|k| k.expands_variables())
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        expanding,
        [
            "ADD",
            "ARG",
            "COPY",
            "ENV",
            "EXPOSE",
            "FROM",
            "LABEL",
            "STOPSIGNAL",
            "USER",
            "VOLUME",
            "WORKDIR"
        ]
    );
    assert!(!Keyword::Onbuild.expands_variables());
    assert!(!Keyword::Run.expands_variables());
    assert_eq!(Keyword::parse("stopSignal"), Some(Keyword::StopSignal));
    assert_eq!(Keyword::parse("RUNN"), None);
    assert_eq!(
        Keyword::Copy.expanded_flags(),
        ["from", "chown", "chmod", "exclude"]
    );
    assert_eq!(Keyword::From.expanded_flags(), ["platform"]);
    assert!(Keyword::Add.accepts_heredocs() && !Keyword::Env.accepts_heredocs());
    assert!(
        is_predefined_arg("no_proxy")
            && is_predefined_arg("ALL_PROXY")
            && is_predefined_arg("TARGETARCH")
    );
    assert!(is_predefined_arg("BUILDVARIANT") && !is_predefined_arg("PATH"));
    let k = one("USER x");
    assert_eq!(k.keyword().to_string(), "USER");
}

#[test]
fn parse_bytes_reports_invalid_utf8_position() {
    let e = parse_bytes("Containerfile", b"FROM x\nRUN ab\xff").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Containerfile:2:7: invalid UTF-8: a Dockerfile must be UTF-8 text"
    );
    assert!(parse_bytes("Dockerfile", b"FROM x").is_ok());
}

#[test]
fn whole_file_ast() {
    let src = "# syntax=docker/dockerfile:1\nARG BASE=alpine\nFROM ${BASE} AS build\nRUN --mount=type=tmpfs,target=/tmp <<EOF\nmake\nEOF\nFROM scratch\nCOPY --from=build /out /\n";
    let loc = |line, end_line| Location {
        line,
        column: 1,
        end_line,
    };
    let mount = parse_mount("type=tmpfs,target=/tmp").unwrap();
    let want = Dockerfile {
        directives: Directives {
            syntax: Some("docker/dockerfile:1".into()),
            escape: '\\',
            check: None,
        },
        global_args: vec![Instruction {
            location: loc(2, 2),
            original: "ARG BASE=alpine".into(),
            kind: InstructionKind::Arg(vec![ArgDecl {
                name: "BASE".into(),
                default: Some("alpine".into()),
            }]),
        }],
        stages: vec![
            Stage {
                index: 0,
                name: Some("build".into()),
                base: "${BASE}".into(),
                platform: None,
                location: loc(3, 3),
                original: "FROM ${BASE} AS build".into(),
                instructions: vec![Instruction {
                    location: loc(4, 6),
                    original: "RUN --mount=type=tmpfs,target=/tmp <<EOF".into(),
                    kind: InstructionKind::Run(Run {
                        command: CommandLine::Shell("<<EOF".into()),
                        heredocs: vec![Heredoc {
                            name: "EOF".into(),
                            content: "make\n".into(),
                            expand: true,
                            chomp: false,
                            fd: 0,
                        }],
                        mounts: vec![mount],
                        network: None,
                        security: None,
                    }),
                }],
            },
            Stage {
                index: 1,
                name: None,
                base: "scratch".into(),
                platform: None,
                location: loc(7, 7),
                original: "FROM scratch".into(),
                instructions: vec![Instruction {
                    location: loc(8, 8),
                    original: "COPY --from=build /out /".into(),
                    kind: InstructionKind::Copy(Copy {
                        transfer: Transfer {
                            sources: vec![Source::Path("/out".into())],
                            dest: "/".into(),
                            chown: None,
                            chmod: None,
                            link: false,
                            excludes: vec![],
                            json: false,
                        },
                        from: Some("build".into()),
                        parents: false,
                    }),
                }],
            },
        ],
    };
    assert_eq!(df(src), want);
}
