//! `berth run` basics against real busybox containers: output, exit codes, the
//! config flags, names, `--rm` and `--cidfile`.

mod common;

use common::engine::{show, text, Engine};

#[test]
fn run_prints_and_exits_with_the_command_status() {
    let Some(e) = Engine::new("run_status") else {
        return;
    };
    let o = e.berth(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(text(&o.stdout), "hi\n");

    let o = e.berth(&["run", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));

    let err = e.fails(&["run", "--rm", "busybox", "no-such-cmd"], 127);
    assert!(err.contains("executable file not found"), "{err}");

    e.fails(&["run", "--rm", "busybox", "/etc/passwd"], 126);

    let err = e.fails(&["run", "--rm", "--memory", "lots", "busybox", "true"], 125);
    assert!(!err.is_empty());
    let err = e.fails(
        &["run", "--rm", "--restart", "sometimes", "busybox", "true"],
        125,
    );
    assert!(!err.is_empty());
}

#[test]
fn run_config_flags() {
    let Some(e) = Engine::new("run_config") else {
        return;
    };
    let env_file = e.path("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n\n").unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/new/dir",
        "busybox",
        "sh",
        "-c",
        "echo $A $FROM_FILE; pwd",
    ]);
    assert_eq!(out, "1 yes\n/new/dir\n");

    let out = e.ok(&["run", "--rm", "-u", "1000:1000", "busybox", "id"]);
    assert!(out.starts_with("uid=1000 gid=1000"), "{out}");

    let out = e.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "from",
        "entry",
    ]);
    assert_eq!(out, "from entry\n");

    let out = e.ok(&[
        "run",
        "--rm",
        "-h",
        "myhost",
        "--domainname",
        "example.org",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname",
    ]);
    assert_eq!(out, "myhost\nexample.org\n");
}

#[test]
fn labels_are_visible_in_inspect() {
    let Some(e) = Engine::new("run_labels") else {
        return;
    };
    let lf = e.path("labels");
    std::fs::write(&lf, "from.file=f1\n").unwrap();
    e.ok(&[
        "create",
        "--name",
        "lab",
        "-l",
        "a=b",
        "--label-file",
        lf.to_str().unwrap(),
        "busybox",
        "true",
    ]);
    assert_eq!(e.inspect_f("lab", "{{index .Config.Labels \"a\"}}"), "b");
    assert_eq!(
        e.inspect_f("lab", "{{index .Config.Labels \"from.file\"}}"),
        "f1"
    );
}

#[test]
fn read_only_rootfs_and_tmpfs() {
    let Some(e) = Engine::new("run_ro") else {
        return;
    };
    let o = e.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(text(&o.stderr).contains("Read-only"), "{}", show(&o));

    let out = e.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/t:size=1m",
        "busybox",
        "sh",
        "-c",
        "touch /t/x && grep ' /t ' /proc/mounts",
    ]);
    assert!(out.contains("tmpfs"), "{out}");
    assert!(out.contains("size=1024k"), "{out}");
}

#[test]
fn cidfile_gets_the_id() {
    let Some(e) = Engine::new("run_cidfile") else {
        return;
    };
    let cid = e.path("cid");
    let id = e
        .ok(&[
            "create",
            "--cidfile",
            cid.to_str().unwrap(),
            "busybox",
            "true",
        ])
        .trim()
        .to_string();
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    // Docker refuses to overwrite a cidfile.
    e.fails(
        &[
            "create",
            "--cidfile",
            cid.to_str().unwrap(),
            "busybox",
            "true",
        ],
        125,
    );
    assert_eq!(e.container_ids(), vec![id]);

    // A create that fails leaves no cidfile naming a container that does not exist.
    e.ok(&["create", "--name", "taken", "busybox", "true"]);
    let cid2 = e.path("cid2");
    e.fails(
        &[
            "create",
            "--cidfile",
            cid2.to_str().unwrap(),
            "--name",
            "taken",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(!cid2.exists());
}

#[test]
fn names_are_unique() {
    let Some(e) = Engine::new("run_names") else {
        return;
    };
    let id = e.ok(&["create", "--name", "dup", "busybox", "true"]);
    let err = e.fails(&["create", "--name", "dup", "busybox", "true"], 125);
    assert!(err.contains("Conflict"), "{err}");
    assert!(err.contains("is already in use"), "{err}");
    assert_eq!(e.container_ids(), vec![id.trim().to_string()]);
    let snaps: Vec<_> = std::fs::read_dir(e.root.path().join("snapshots"))
        .map(|rd| rd.flatten().map(|d| d.file_name()).collect())
        .unwrap_or_default();
    assert!(
        snaps.len() <= 1,
        "the failed create left a snapshot: {snaps:?}"
    );

    // `run` conflicts the same way, before anything starts.
    e.fails(&["run", "--name", "dup", "busybox", "true"], 125);
    assert_eq!(e.container_ids().len(), 1);
}

#[test]
fn rm_flag_leaves_nothing_behind() {
    let Some(e) = Engine::new("run_rm") else {
        return;
    };
    // A --rm container's overlay is volatile (its changes are thrown away, so
    // nothing is synced at its unmount); another container's is not.
    let options = |id: &str| {
        let merged = e.root.path().join("snapshots").join(id).join("merged");
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        mi.lines()
            .find(|l| l.split(' ').nth(4) == Some(merged.to_str().unwrap()))
            .unwrap_or_else(|| panic!("{} is not mounted", merged.display()))
            .to_string()
    };
    let gone_after = e.run_d(&["--rm", "busybox", "sleep", "300"]);
    let kept = e.run_d(&["busybox", "sleep", "300"]);
    let (rm_opts, kept_opts) = (options(&gone_after), options(&kept));
    assert!(rm_opts.contains("volatile"), "{rm_opts}");
    assert!(!kept_opts.contains("volatile"), "{kept_opts}");
    e.ok(&["rm", "-f", &gone_after, &kept]);
    let cid = e.path("cid");
    let out = e.ok(&[
        "run",
        "--rm",
        "--cidfile",
        cid.to_str().unwrap(),
        "-v",
        "/anon",
        "busybox",
        "echo",
        "bye",
    ]);
    assert_eq!(out, "bye\n");
    let id = std::fs::read_to_string(&cid).unwrap();
    // The monitor's cleanup may still be finishing after the CLI returned.
    let mut left = Vec::new();
    let gone = common::host::wait_until(common::engine::T30, || {
        left = e.leftovers(&id);
        left.is_empty()
    });
    assert!(gone, "{left:?}");
    assert_eq!(
        e.ok(&["volume", "ls", "-q"]),
        "",
        "--rm takes anonymous volumes"
    );

    // A detached --rm container goes away as soon as it exits.
    let id = e.run_d(&["--rm", "busybox", "true"]);
    let gone = common::host::wait_until(common::engine::T30, || {
        left = e.leftovers(&id);
        left.is_empty()
    });
    assert!(gone, "{left:?}");
}

/// `--network container:NAME` joins the other container's network namespace and
/// takes its hostname and /etc files; the other container must be running.
#[test]
fn network_container_mode_shares_the_namespace() {
    let Some(e) = Engine::new("net_container_mode") else {
        return;
    };
    e.run_d(&[
        "--name", "netowner", "-h", "owner", "busybox", "sleep", "300",
    ]);
    let owner_ns = e.ok(&["exec", "netowner", "readlink", "/proc/self/ns/net"]);
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:netowner",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; hostname",
    ]);
    assert_eq!(out, format!("{}owner\n", owner_ns), "{out}");
    // Settings that belong to the shared namespace conflict.
    let err = e.fails(
        &[
            "run",
            "--rm",
            "--network",
            "container:netowner",
            "-h",
            "x",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("conflicting options"), "{err}");
    // A stopped owner cannot lend its network.
    e.ok(&["stop", "-t", "0", "netowner"]);
    let err = e.fails(
        &[
            "run",
            "--rm",
            "--network",
            "container:netowner",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("not running"), "{err}");
    e.fails(
        &[
            "run",
            "--rm",
            "--network",
            "container:nosuch",
            "busybox",
            "true",
        ],
        125,
    );
}
