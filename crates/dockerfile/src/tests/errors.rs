use super::*;

#[test]
fn unknown_instruction_with_suggestion_and_position() {
    assert_eq!(
        err("FROM x\nRUN a\n\n\n\n\n    RUNN echo"),
        "Dockerfile:7:5: unknown instruction: RUNN (did you mean RUN?)"
    );
    assert_eq!(
        body_err("frobnicate"),
        "Dockerfile:2:1: unknown instruction: FROBNICATE"
    );
    assert_eq!(
        body_err("cpy a b"),
        "Dockerfile:2:1: unknown instruction: CPY (did you mean COPY?)"
    );
    let e = parse_named("build/Containerfile", "FROM x\nWORKDIRR /").unwrap_err();
    assert_eq!(
        e,
        ParseError {
            file: "build/Containerfile".into(),
            line: 2,
            column: 1,
            message: "unknown instruction: WORKDIRR (did you mean WORKDIR?)".into()
        }
    );
}

#[test]
fn instructions_before_from() {
    assert_eq!(
        err("ARG a\nRUN x\nFROM y"),
        "Dockerfile:2:1: expected FROM before RUN: only ARG may come before the first FROM"
    );
    assert_eq!(
        err(""),
        "Dockerfile:1:1: expected a FROM instruction: the Dockerfile has no instructions"
    );
    assert_eq!(
        err("# just a comment\n\n"),
        "Dockerfile:2:1: expected a FROM instruction: the Dockerfile has no instructions"
    );
    assert_eq!(
        err("ARG a\n"),
        "Dockerfile:1:1: expected a FROM instruction: the Dockerfile has no build stage"
    );
}

#[test]
fn argument_counts() {
    let cases = [
        (
            "FROM",
            "Dockerfile:1:1: FROM requires either one or three arguments (FROM image [AS name])",
        ),
        (
            "FROM a b",
            "Dockerfile:1:1: FROM requires either one or three arguments (FROM image [AS name])",
        ),
        (
            "FROM a AT b",
            "Dockerfile:1:1: FROM requires either one or three arguments (FROM image [AS name])",
        ),
        (
            "FROM a AS b c",
            "Dockerfile:1:1: FROM requires either one or three arguments (FROM image [AS name])",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
    let cases = [
        ("RUN", "RUN requires at least one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("USER   ", "USER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ("VOLUME [\"\"]", "VOLUME specified can not be an empty string"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV k", "ENV must have two arguments (ENV key=value or ENV key value)"),
        ("ENV a=b c", "Syntax error - can't find = in \"c\". Must be of the form: name=value"),
        ("ENV =b", "ENV names can not be blank"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ("COPY a", "COPY requires at least two arguments (sources and a destination), but only one was provided"),
        ("ADD", "ADD requires at least two arguments (sources and a destination), but only none was provided"),
        ("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination"),
        ("SHELL", "SHELL requires at least one argument"),
        ("SHELL []", "SHELL requires at least one argument"),
        ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]"),
        ("SHELL [\"sh\", 1]", "when using JSON array syntax, arrays must be comprised of strings only"),
        ("CMD [\"a\", null]", "when using JSON array syntax, arrays must be comprised of strings only"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK RUN x", "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD from x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ];
    for (body, want) in cases {
        assert_eq!(body_err(body), format!("Dockerfile:2:1: {want}"), "{body}");
    }
    // Inside ONBUILD the position is the trigger's.
    assert_eq!(
        body_err("ONBUILD RUNN x"),
        "Dockerfile:2:9: unknown instruction: RUNN (did you mean RUN?)"
    );
}

#[test]
fn flag_errors_point_at_the_flag() {
    assert_eq!(
        body_err("COPY --frm=a b c"),
        "Dockerfile:2:6: unknown flag: --frm (did you mean --from?)"
    );
    assert_eq!(
        body_err("ADD --from=a b c"),
        "Dockerfile:2:5: unknown flag: --from"
    );
    assert_eq!(
        body_err("WORKDIR --x /"),
        "Dockerfile:2:9: unknown flag: --x (WORKDIR takes no flags)"
    );
    assert_eq!(
        body_err("RUN \\\n  --network=bridge x"),
        "Dockerfile:3:3: unsupported network mode \"bridge\" (expected default, none or host)"
    );
    assert_eq!(
        body_err("RUN --security=root x"),
        "Dockerfile:2:5: unsupported security mode \"root\" (expected sandbox or insecure)"
    );
    assert_eq!(
        body_err("RUN --network x"),
        "Dockerfile:2:5: missing a value on flag: --network"
    );
    assert_eq!(
        body_err("COPY --link=maybe a b"),
        "Dockerfile:2:6: expecting boolean value for flag --link, not: maybe"
    );
    assert_eq!(
        body_err("COPY --from=a --from=b a b"),
        "Dockerfile:2:15: duplicate flag specified: --from"
    );
    assert_eq!(
        body_err("RUN --mount=type=cache,target=/x,sharing=sometimes x"),
        "Dockerfile:2:5: invalid --mount=type=cache,target=/x,sharing=sometimes: unsupported cache sharing \"sometimes\" (expected shared, private or locked)"
    );
    assert_eq!(
        body_err("RUN --mount=type=nfs x"),
        "Dockerfile:2:5: invalid --mount=type=nfs: unsupported mount type \"nfs\" (expected bind, cache, tmpfs, secret or ssh)"
    );
    assert_eq!(
        body_err("FROM --platfrom=x y"),
        "Dockerfile:2:6: unknown flag: --platfrom (did you mean --platform?)"
    );
    assert_eq!(
        body_err("HEALTHCHECK --interval=1s NONE"),
        "Dockerfile:2:13: unknown flag: --interval (HEALTHCHECK takes no flags)"
    );
}

#[test]
fn bad_durations_and_retries() {
    assert_eq!(
        body_err("HEALTHCHECK --interval=5 CMD x"),
        "Dockerfile:2:13: --interval: missing unit in duration \"5\""
    );
    assert_eq!(
        body_err("HEALTHCHECK --timeout=3days CMD x"),
        "Dockerfile:2:13: --timeout: unknown unit \"days\" in duration \"3days\""
    );
    assert_eq!(
        body_err("HEALTHCHECK --start-period=-1s CMD x"),
        "Dockerfile:2:13: --start-period: duration \"-1s\" cannot be negative"
    );
    assert_eq!(
        body_err("HEALTHCHECK --start-interval=10us CMD x"),
        "Dockerfile:2:13: --start-interval cannot be less than 1ms (got 10us)"
    );
    assert_eq!(
        body_err("HEALTHCHECK --retries=-1 CMD x"),
        "Dockerfile:2:13: --retries cannot be negative (-1)"
    );
    assert_eq!(
        body_err("HEALTHCHECK --retries=many CMD x"),
        "Dockerfile:2:13: --retries: invalid number \"many\""
    );
}

#[test]
fn stage_names() {
    assert_eq!(
        err("FROM a AS x\nFROM b AS X"),
        "Dockerfile:2:1: duplicate stage name \"x\""
    );
    assert_eq!(
        err("FROM a AS 1st"),
        "Dockerfile:1:1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
    );
    assert!(err("FROM a AS a$b").contains("invalid name for build stage: \"a$b\""));
    assert!(parse("FROM a AS a-b_c.d9").is_ok());
}

#[test]
fn continuation_into_nothing() {
    assert_eq!(
        body_err("\\\n# c\n\n"),
        "Dockerfile:2:1: expected an instruction after the line continuation"
    );
}

#[test]
fn heredoc_and_directive_errors() {
    assert_eq!(
        body_err("RUN <<EOF\necho hi\n"),
        "Dockerfile:2:1: unterminated heredoc EOF: no line \"EOF\" ends it"
    );
    assert_eq!(
        body_err("RUN <<A <<B\na\nA\nb"),
        "Dockerfile:2:1: unterminated heredoc B: no line \"B\" ends it"
    );
    assert_eq!(
        err("# escape=x\nFROM a"),
        "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\"
    );
    assert_eq!(
        err("# syntax=a\n# syntax=b\nFROM a"),
        "Dockerfile:2:1: only one syntax parser directive can be used"
    );
}
