use super::*;

fn doc(name: &str, content: &str, expand: bool, chomp: bool) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        chomp,
        fd: 0,
    }
}

fn run_of(k: InstructionKind) -> Run {
    match k {
        InstructionKind::Run(r) => r,
        other => panic!("not RUN: {other:?}"),
    }
}

#[test]
fn run_heredoc_with_interpreter_from_the_reference() {
    let d = df("# syntax=docker/dockerfile:1\nFROM debian\nRUN <<EOT bash\n  set -ex\n  apt-get update\n  apt-get install -y vim\nEOT\nCMD x");
    let i = &d.stages[0].instructions[0];
    assert_eq!(i.original, "RUN <<EOT bash");
    assert_eq!(
        i.location,
        Location {
            line: 3,
            column: 1,
            end_line: 7
        }
    );
    let r = run_of(i.kind.clone());
    assert_eq!(r.command, CommandLine::Shell("<<EOT bash".into()));
    assert_eq!(
        r.heredocs,
        vec![doc(
            "EOT",
            "  set -ex\n  apt-get update\n  apt-get install -y vim\n",
            true,
            false
        )]
    );
    assert_eq!(d.stages[0].instructions[1].location.line, 8);
}

#[test]
fn shebang_script_and_python_stdin() {
    let r = run_of(one(
        "RUN <<EOT\n#!/usr/bin/env python\nprint(\"hello world\")\nEOT",
    ));
    assert_eq!(
        r.heredocs,
        vec![doc(
            "EOT",
            "#!/usr/bin/env python\nprint(\"hello world\")\n",
            true,
            false
        )]
    );
    let r = run_of(one(
        "RUN python3 <<EOF\nwith open(\"/hello\", \"w\") as f:\n    print(\"Hello\", file=f)\nEOF",
    ));
    assert_eq!(r.command, CommandLine::Shell("python3 <<EOF".into()));
    assert_eq!(
        r.heredocs[0].content,
        "with open(\"/hello\", \"w\") as f:\n    print(\"Hello\", file=f)\n"
    );
}

#[test]
fn several_heredocs_on_one_line() {
    let r = run_of(one(
        "RUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2",
    ));
    assert_eq!(
        r.heredocs,
        vec![
            doc("FILE1", "I am\nfirst\n", true, false),
            doc("FILE2", "I am\nsecond\n", true, false)
        ]
    );
    let r = run_of(one("RUN <<A <<B\na\nA\nb\nB"));
    assert_eq!(
        r.heredocs
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["A", "B"]
    );
}

#[test]
fn chomp_and_quoted_delimiters() {
    let r = run_of(one("RUN <<-EOT\n\techo \"$FOO\"\n\t\tEOT"));
    assert_eq!(r.heredocs, vec![doc("EOT", "echo \"$FOO\"\n", true, true)]);
    let d = df("FROM alpine\nARG FOO=bar\nRUN <<\"EOT\"\necho \"$FOO\"\nEOT\nRUN <<'EOT'\necho \"$FOO\"\nEOT\n");
    for i in &d.stages[0].instructions[1..] {
        let r = run_of(i.kind.clone());
        assert_eq!(
            r.heredocs,
            vec![doc("EOT", "echo \"$FOO\"\n", false, false)]
        );
    }
}

#[test]
fn copy_heredocs_become_sources() {
    let k = one("COPY <<-EOT /usr/share/nginx/html/index.html\n\t(your index page goes here)\nEOT");
    let InstructionKind::Copy(c) = k else {
        panic!("{k:?}")
    };
    assert_eq!(
        c.transfer.sources,
        vec![Source::Heredoc(doc(
            "EOT",
            "(your index page goes here)\n",
            true,
            true
        ))]
    );
    assert_eq!(c.transfer.dest, "/usr/share/nginx/html/index.html");

    let k = one("COPY <<robots.txt <<humans.txt /usr/share/nginx/html/\n(robots content)\nrobots.txt\n(humans content)\nhumans.txt");
    let InstructionKind::Copy(c) = k else {
        panic!("{k:?}")
    };
    assert_eq!(
        c.transfer.sources,
        vec![
            Source::Heredoc(doc("robots.txt", "(robots content)\n", true, false)),
            Source::Heredoc(doc("humans.txt", "(humans content)\n", true, false))
        ]
    );
    let k = one("ADD --chmod=755 <<EOF local.txt /bin/\n#!/bin/sh\nEOF");
    let InstructionKind::Add(a) = k else {
        panic!("{k:?}")
    };
    assert_eq!(
        a.transfer.sources,
        vec![
            Source::Heredoc(doc("EOF", "#!/bin/sh\n", true, false)),
            Source::Path("local.txt".into())
        ]
    );
}

#[test]
fn heredoc_bodies_are_not_instructions_and_not_comments() {
    let d = df("FROM x\nRUN <<EOF\n# not a comment\nFROM not-a-stage\n\nEOF\nRUN y");
    assert_eq!(d.stages.len(), 1);
    let r = run_of(d.stages[0].instructions[0].kind.clone());
    assert_eq!(
        r.heredocs[0].content,
        "# not a comment\nFROM not-a-stage\n\n"
    );
    assert_eq!(d.stages[0].instructions[1].location.line, 7);
}

#[test]
fn no_heredocs_where_docker_has_none() {
    // JSON form, other instructions, quoted markers, ONBUILD triggers.
    let r = run_of(one("RUN [\"cat\", \"<<EOF\"]"));
    assert!(r.heredocs.is_empty());
    assert_eq!(kinds("ENV A=<<EOF\nRUN echo EOF").len(), 2);
    let r = run_of(one("RUN echo '<<EOF'"));
    assert!(r.heredocs.is_empty());
    let k = kinds("ONBUILD RUN <<EOF\nRUN x");
    assert_eq!(k.len(), 2);
    let r = run_of(one("RUN echo hi <<EOF 'unterminated"));
    assert!(r.heredocs.is_empty());
}

#[test]
fn fd_prefix_and_crlf_bodies() {
    let r = run_of(one("RUN cat 3<<EOF\r\nline\r\nEOF\r\n"));
    assert_eq!(
        r.heredocs,
        vec![Heredoc {
            fd: 3,
            ..doc("EOF", "line\n", true, false)
        }]
    );
}
