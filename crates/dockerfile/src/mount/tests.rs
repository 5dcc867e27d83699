use super::*;
use crate::expand::expand_word;
use std::collections::HashMap;

fn ok(spec: &str) -> Mount {
    parse_mount(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn err(spec: &str) -> String {
    parse_mount(spec).unwrap_err().message
}

#[test]
fn cache_mount_with_every_key() {
    let m = ok("type=cache,id=apt,target=/var/cache/apt,sharing=locked,mode=0755,uid=1000,gid=1000,from=base,source=/c,ro");
    assert_eq!(
        m,
        Mount {
            spec: m.spec.clone(),
            kind: MountType::Cache,
            target: Some("/var/cache/apt".into()),
            source: Some("/c".into()),
            from: Some("base".into()),
            id: Some("apt".into()),
            sharing: CacheSharing::Locked,
            mode: Some(0o755),
            uid: Some(1000),
            gid: Some(1000),
            readonly: true,
            required: false,
            size: None,
            env: None,
        }
    );
    assert!(!ok("type=cache,dst=/c").readonly);
    assert_eq!(
        ok("type=cache,destination=/c,sharing=private").sharing,
        CacheSharing::Private
    );
}

#[test]
fn bind_is_default_and_readonly_unless_rw() {
    let m = ok("target=/src");
    assert_eq!((m.kind, m.readonly), (MountType::Bind, true));
    assert!(!ok("type=bind,target=/src,rw").readonly);
    assert!(!ok("type=bind,target=/src,readwrite=true").readonly);
    assert!(ok("type=bind,target=/src,rw=false").readonly);
    assert_eq!(
        ok("type=bind,src=a,target=/src,from=builder")
            .source
            .as_deref(),
        Some("a")
    );
}

#[test]
fn secret_and_ssh_defaults() {
    let m = ok("type=secret,id=aws");
    assert_eq!(
        (m.id.as_deref(), m.target.as_deref(), m.readonly),
        (Some("aws"), Some("/run/secrets/aws"), true)
    );
    let m = ok("type=secret,target=/root/.npmrc,required");
    assert_eq!((m.id.as_deref(), m.required), (Some(".npmrc"), true));
    let m = ok("type=secret,id=tok,env=TOKEN,required=false");
    assert_eq!(
        (m.target, m.env.as_deref(), m.required),
        (None, Some("TOKEN"), false)
    );
    let m = ok("type=ssh");
    assert_eq!(
        (m.id.as_deref(), m.target.as_deref(), m.required),
        (Some("default"), None, false)
    );
    assert!(ok("type=ssh,id=gh,required=true").required);
}

#[test]
fn tmpfs_size() {
    assert_eq!(ok("type=tmpfs,target=/t,size=64m").size, Some(64 << 20));
    assert_eq!(ok("type=tmpfs,target=/t,size=1024").size, Some(1024));
    assert_eq!(ok("type=tmpfs,target=/t,size=1.5GiB").size, Some(3 << 29));
    assert_eq!(ram_bytes("10 kb"), Some(10240));
    assert_eq!(ram_bytes("x"), None);
    assert_eq!(ram_bytes("1q"), None);
}

#[test]
fn quoted_csv_fields() {
    assert_eq!(
        ok("type=bind,\"target=/a,b\"").target.as_deref(),
        Some("/a,b")
    );
    assert_eq!(csv_fields("a,\"b\"\"c\",d").unwrap(), ["a", "b\"c", "d"]);
}

#[test]
fn errors() {
    assert_eq!(
        err("type=nfs,target=/x"),
        "unsupported mount type \"nfs\" (expected bind, cache, tmpfs, secret or ssh)"
    );
    assert_eq!(
        err("type=cache,target=/x,sharing=maybe"),
        "unsupported cache sharing \"maybe\" (expected shared, private or locked)"
    );
    assert_eq!(
        err("type=bind,target=/x,sharing=locked"),
        "invalid cache sharing set for bind mount"
    );
    assert_eq!(
        err("type=cache,target=/x,size=1m"),
        "unexpected key 'size' for mount type 'cache'"
    );
    assert_eq!(
        err("type=cache,target=/x,required"),
        "unexpected key 'required' for mount type 'cache'"
    );
    assert_eq!(
        err("type=cache,target=/x,env=A"),
        "unexpected key 'env' for mount type 'cache'"
    );
    assert_eq!(
        err("type=cache,target=/x,color=red"),
        "unexpected key 'color' in 'color=red'"
    );
    assert_eq!(
        err("type=cache,target=/x,bogus"),
        "invalid field 'bogus' must be a key=value pair"
    );
    assert_eq!(
        err("type=cache,target=/x,uid=me"),
        "invalid value \"me\" for uid: expected a number"
    );
    assert_eq!(
        err("type=cache,target=/x,mode=9"),
        "invalid value \"9\" for mode: expected a number"
    );
    assert_eq!(err("type=cache"), "mount type cache requires target=");
    assert_eq!(err("type=secret"), "a secret mount needs id= or target=");
    assert_eq!(
        err("type=bind,target=/x,from=$STAGE"),
        "'from' doesn't support variable expansion, define alias stage instead"
    );
    assert_eq!(
        err("type=bind,ta\"rget=/x"),
        "bare \" in a non-quoted field"
    );
    let e = parse_mount("type=nope").unwrap_err();
    assert_eq!(e.to_string(), "invalid --mount=type=nope: unsupported mount type \"nope\" (expected bind, cache, tmpfs, secret or ssh)");
}

#[test]
fn variables_are_checked_after_expansion() {
    let m = ok("type=cache,target=$DIR,uid=$UID");
    assert!(m.needs_expansion());
    assert_eq!((m.target.as_deref(), m.uid), (Some("$DIR"), None));
    let env: HashMap<String, String> = [
        ("DIR".to_string(), "/c".to_string()),
        ("UID".to_string(), "42".to_string()),
    ]
    .into();
    let m = m.expand(&mut |w| expand_word(w, &env, '\\')).unwrap();
    assert_eq!((m.target.as_deref(), m.uid), (Some("/c"), Some(42)));
    let bad: HashMap<String, String> = [
        ("DIR".to_string(), "/c".to_string()),
        ("UID".to_string(), "x".to_string()),
    ]
    .into();
    assert!(ok("type=cache,target=$DIR,uid=$UID")
        .expand(&mut |w| expand_word(w, &bad, '\\'))
        .is_err());
}
