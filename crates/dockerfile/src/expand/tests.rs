use super::*;

fn env() -> HashMap<String, String> {
    [
        ("a", "A"),
        ("empty", ""),
        ("path", "/usr/local/bin/tool.tar.gz"),
        ("ports", "80 443"),
        ("sp", " x  y "),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn word(w: &str) -> String {
    expand_word(w, &env(), '\\').unwrap_or_else(|e| panic!("{w}: {e}"))
}

fn words(w: &str) -> Vec<String> {
    expand_words(w, &env(), '\\').unwrap_or_else(|e| panic!("{w}: {e}"))
}

fn err(w: &str) -> String {
    expand_word(w, &env(), '\\').unwrap_err().message
}

#[test]
fn plain_references() {
    assert_eq!(word("$a"), "A");
    assert_eq!(word("${a}"), "A");
    assert_eq!(word("x$a-y"), "xA-y");
    assert_eq!(word("${a}b"), "Ab");
    assert_eq!(word("$ab"), "");
    assert_eq!(word("$unset"), "");
    assert_eq!(word("$"), "$");
    assert_eq!(word("a$"), "a$");
    assert_eq!(word("$/x"), "$/x");
    assert_eq!(word("$1x"), "x");
    assert_eq!(word("$@"), "");
}

#[test]
fn default_alternative_and_error_modifiers() {
    assert_eq!(word("${a:-b}"), "A");
    assert_eq!(word("${unset:-b}"), "b");
    assert_eq!(word("${empty:-b}"), "b");
    assert_eq!(word("${empty-b}"), "");
    assert_eq!(word("${unset-b}"), "b");
    assert_eq!(word("${a:+b}"), "b");
    assert_eq!(word("${empty:+b}"), "");
    assert_eq!(word("${empty+b}"), "b");
    assert_eq!(word("${unset+b}"), "");
    assert_eq!(word("${a?x}"), "A");
    assert_eq!(word("${empty?x}"), "");
    assert_eq!(err("${unset?must be set}"), "unset: must be set");
    assert_eq!(err("${unset?}"), "unset: is not allowed to be unset");
    assert_eq!(err("${empty:?}"), "empty: is not allowed to be empty");
    assert_eq!(err("${empty:?no}"), "empty: no");
    assert_eq!(word("${unset:-${a}}"), "A");
    assert_eq!(word("${unset:-${unset2:-deep}}"), "deep");
    assert_eq!(word("${unset:-'q u'}"), "q u");
}

#[test]
fn pattern_modifiers() {
    assert_eq!(word("${path#*/}"), "usr/local/bin/tool.tar.gz");
    assert_eq!(word("${path##*/}"), "tool.tar.gz");
    assert_eq!(word("${path%.*}"), "/usr/local/bin/tool.tar");
    assert_eq!(word("${path%%.*}"), "/usr/local/bin/tool");
    assert_eq!(word("${path/local/opt}"), "/usr/opt/bin/tool.tar.gz");
    assert_eq!(word("${path//\\//_}"), "_usr_local_bin_tool.tar.gz");
    assert_eq!(word("${path/\\/usr/}"), "/local/bin/tool.tar.gz");
    assert_eq!(word("${unset#x}"), "");
    assert_eq!(word("${a/A/$a$a}"), "AA");
}

#[test]
fn syntax_errors() {
    assert_eq!(err("${"), "syntax error: missing '}'");
    assert_eq!(err("${a"), "syntax error: missing '}'");
    assert_eq!(err("${a:-b"), "syntax error: missing '}'");
    assert_eq!(err("${}"), "syntax error: bad substitution");
    assert_eq!(err("${:a}"), "syntax error: bad substitution");
    assert_eq!(err("${{a}}"), "syntax error: bad substitution");
    assert_eq!(err("${a:#b}"), "unsupported modifier (:#) in substitution");
    assert_eq!(err("${a.b}"), "unsupported modifier (.) in substitution");
    assert_eq!(err("${a/b}"), "syntax error: missing '/' in ${}");
    assert_eq!(
        err("'abc"),
        "unexpected end of statement while looking for matching single-quote"
    );
    assert_eq!(
        err("\"abc"),
        "unexpected end of statement while looking for matching double-quote"
    );
    let e = expand_word("${unset?boom}", &env(), '\\').unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to expand \"${unset?boom}\": unset: boom"
    );
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(word("'$a'"), "$a");
    assert_eq!(word("\"$a\""), "A");
    assert_eq!(word("\"'$a'\""), "'A'");
    assert_eq!(word("'\"$a\"'"), "\"$a\"");
    assert_eq!(word("\\$a"), "$a");
    assert_eq!(word("\\\\$a"), "\\A");
    assert_eq!(word("a\\ b"), "a b");
    assert_eq!(word("\"a\\\"b\""), "a\"b");
    assert_eq!(word("\"a\\b\""), "a\\b");
    assert_eq!(word("\"\\$a\""), "$a");
    assert_eq!(word("'a\\'"), "a\\");
    assert_eq!(word("abc\\"), "abc");
    assert_eq!(word("hello world"), "hello world");
}

#[test]
fn backtick_escape_leaves_backslashes_alone() {
    let vars = env();
    assert_eq!(
        expand_word("C:\\path\\$a", &vars, '`').unwrap(),
        "C:\\path\\A"
    );
    assert_eq!(expand_word("`$a", &vars, '`').unwrap(), "$a");
    assert_eq!(expand_word("\"a`\"b\"", &vars, '`').unwrap(), "a\"b");
}

#[test]
fn splitting_into_words() {
    assert_eq!(words("a b  c"), ["a", "b", "c"]);
    assert_eq!(words("$ports"), ["80", "443"]);
    assert_eq!(words("\"$ports\""), ["80 443"]);
    assert_eq!(words("x$sp"), ["x", "x", "y"]);
    assert_eq!(words("'a b' c\\ d"), ["a b", "c d"]);
    assert_eq!(words("\"\" a"), ["a"]);
    assert_eq!(words("k=\"v w\" k2='x'"), ["k=v w", "k2=x"]);
    assert_eq!(words(""), Vec::<String>::new());
}

#[test]
fn docker_reference_env_example() {
    // From the Dockerfile reference's "Environment replacement" section.
    let vars: Vec<(String, String)> = vec![("FOO".into(), "/bar".into())];
    assert_eq!(expand_word("${FOO}", &vars, '\\').unwrap(), "/bar");
    assert_eq!(expand_word("$FOO", &vars, '\\').unwrap(), "/bar");
    assert_eq!(expand_word("${FOO}/baz", &vars, '\\').unwrap(), "/bar/baz");
    assert_eq!(expand_word("\\$FOO", &vars, '\\').unwrap(), "$FOO");
    assert_eq!(expand_word("\\${FOO}", &vars, '\\').unwrap(), "${FOO}");
    assert_eq!(
        expand_word("${variable:-word}", &vars, '\\').unwrap(),
        "word"
    );
    assert_eq!(expand_word("${FOO:+word}", &vars, '\\').unwrap(), "word");
    // ENV abc=hello / ENV abc=bye def=$abc: def sees the old value.
    let before: Vec<(String, String)> = vec![("abc".into(), "hello".into())];
    assert_eq!(expand_word("$abc", &before, '\\').unwrap(), "hello");
    // Later entries of an ordered environment win.
    let ordered: Vec<(String, String)> = vec![("x".into(), "1".into()), ("x".into(), "2".into())];
    assert_eq!(expand_word("$x", &ordered, '\\').unwrap(), "2");
    let tree: BTreeMap<String, String> = [("x".to_string(), "t".to_string())].into();
    assert_eq!(expand_word("$x", &tree, '\\').unwrap(), "t");
}

#[test]
fn raw_and_skip_unset_modes() {
    let raw = Options {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        skip_quotes: false,
    };
    let (s, w) = process("a \"b c\" \\d $x ${y:-z}", &NoVariables, raw).unwrap();
    assert_eq!(s, "a \"b c\" \\d $x ${y:-z}");
    assert_eq!(w, ["a", "\"b c\"", "\\d", "$x", "${y:-z}"]);
}

#[test]
fn nesting_is_bounded() {
    let deep = "${a:-".repeat(5000) + &"}".repeat(5000);
    assert_eq!(err(&deep), "substitutions nested deeper than 100 levels");
    let ok = "${u:-".repeat(50) + "v" + &"}".repeat(50);
    assert_eq!(word(&ok), "v");
}

#[test]
fn heredoc_bodies_keep_quotes() {
    assert_eq!(
        expand_heredoc("echo \"$a\" '$a'\n", &env(), '\\').unwrap(),
        "echo \"A\" 'A'\n"
    );
    assert_eq!(
        expand_heredoc("cost: \\$5 ${unset:-none}\n", &env(), '\\').unwrap(),
        "cost: $5 none\n"
    );
}
