//! Files in and out of containers: cp both ways (and as tar streams), a symlink
//! that tries to lead cp out of the container, diff, commit and export.

mod common;

use std::fs;

use common::engine::{show, text, Engine};

#[test]
fn cp_both_ways_and_as_tar_streams() {
    let Some(e) = Engine::new("cp_both_ways") else {
        return;
    };
    e.run_d(&[
        "--name",
        "files",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && sleep 300",
    ]);
    e.wait_for("files", "{{.State.Status}}", "running");
    assert!(common::host::wait_until(common::engine::T30, || e
        .berth(&["exec", "files", "test", "-f", "/data/sub/b"])
        .status
        .success()));
    // Container to host: a file, a directory (created), a directory's contents.
    let out = e.path("out");
    fs::create_dir(&out).unwrap();
    e.ok(&["cp", "files:/data/a", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("a")).unwrap(), "one\n");
    let copy = e.path("copy");
    e.ok(&["cp", "files:/data", copy.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(copy.join("sub/b")).unwrap(), "two\n");
    // Host to container: a file lands owned by root, into an existing directory.
    let src = e.path("hostfile");
    fs::write(&src, "from host\n").unwrap();
    e.ok(&["cp", src.to_str().unwrap(), "files:/data/"]);
    assert_eq!(
        e.ok(&["exec", "files", "cat", "/data/hostfile"]),
        "from host\n"
    );
    assert_eq!(
        e.ok(&["exec", "files", "stat", "-c", "%u:%g", "/data/hostfile"]),
        "0:0\n"
    );
    // A tar stream out, and one in.
    let o = e.berth(&["cp", "files:/data/sub", "-"]);
    assert!(o.status.success(), "{}", show(&o));
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "sub/b"), "{names:?}");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o640);
    h.set_cksum();
    b.append_data(&mut h, "streamed", &b"piped\n"[..]).unwrap();
    let o = e.berth_stdin(&["cp", "-", "files:/data"], &b.into_inner().unwrap());
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(e.ok(&["exec", "files", "cat", "/data/streamed"]), "piped\n");
    // The container was frozen only for the copies: it still runs.
    assert_eq!(e.status("files"), "running");
    // Missing things are errors.
    let o = e.berth(&["cp", "files:/nope", out.to_str().unwrap()]);
    assert!(!o.status.success());
}

/// A symlink in the container that points at the host's paths resolves inside the
/// container root, both when reading and when writing through it.
#[test]
fn cp_never_follows_a_symlink_out_of_the_container() {
    let Some(e) = Engine::new("cp_symlink_escape") else {
        return;
    };
    let marker = e.path("host-secret");
    fs::write(&marker, "host only\n").unwrap();
    let host_dir = e.path("host-dir");
    fs::create_dir(&host_dir).unwrap();
    e.run_d(&[
        "--name",
        "evil",
        "busybox",
        "sh",
        "-c",
        &format!(
            "ln -s {} /leak && ln -s {} /into && ln -s ../../../../../../ /up && sleep 300",
            marker.display(),
            host_dir.display()
        ),
    ]);
    assert!(common::host::wait_until(common::engine::T30, || e
        .berth(&["exec", "evil", "test", "-L", "/into"])
        .status
        .success()));
    // Following /leak (-L) resolves inside the container, where that path is absent.
    let out = e.path("got");
    let o = e.berth(&["cp", "-L", "evil:/leak", out.to_str().unwrap()]);
    assert!(
        !o.status.success() || fs::read_to_string(&out).unwrap_or_default() != "host only\n",
        "cp read the host file through a symlink: {}",
        show(&o)
    );
    // ../../.. from inside the root is still the root.
    let o = e.berth(&[
        "cp",
        "evil:/up/etc/passwd",
        e.path("passwd").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", show(&o));
    let got = fs::read_to_string(e.path("passwd")).unwrap();
    assert_eq!(got, e.ok(&["exec", "evil", "cat", "/etc/passwd"]));
    // Writing through /into must not land in the host directory.
    let src = e.path("payload");
    fs::write(&src, "x").unwrap();
    let _ = e.berth(&["cp", src.to_str().unwrap(), "evil:/into/"]);
    assert!(
        !host_dir.join("payload").exists(),
        "cp wrote through a symlink onto the host"
    );
}

/// `cp` copies a symlink it is pointed at as a link, as Docker does; `-L` copies
/// what the link points to (resolved inside the container for a container path),
/// under the link's name. Both directions.
#[test]
fn cp_copies_links_as_links_unless_told_to_follow() {
    let Some(e) = Engine::new("cp_follow") else {
        return;
    };
    e.run_d(&[
        "--name",
        "links",
        "busybox",
        "sh",
        "-c",
        "echo inside > /target && ln -s /target /link && sleep 300",
    ]);
    assert!(common::host::wait_until(common::engine::T30, || e
        .berth(&["exec", "links", "test", "-L", "/link"])
        .status
        .success()));
    let as_link = e.path("as-link");
    e.ok(&["cp", "links:/link", as_link.to_str().unwrap()]);
    assert!(fs::symlink_metadata(&as_link).unwrap().is_symlink());
    assert_eq!(
        fs::read_link(&as_link).unwrap(),
        std::path::Path::new("/target")
    );
    let followed = e.path("followed");
    e.ok(&["cp", "-L", "links:/link", followed.to_str().unwrap()]);
    assert!(fs::symlink_metadata(&followed).unwrap().is_file());
    assert_eq!(fs::read_to_string(&followed).unwrap(), "inside\n");

    let file = e.path("host-file");
    fs::write(&file, "from the host\n").unwrap();
    let link = e.path("host-link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    e.ok(&["cp", link.to_str().unwrap(), "links:/copied-link"]);
    assert_eq!(
        e.ok(&["exec", "links", "readlink", "/copied-link"]).trim(),
        file.to_str().unwrap()
    );
    e.ok(&["cp", "-L", link.to_str().unwrap(), "links:/tmp/"]);
    assert_eq!(
        e.ok(&["exec", "links", "cat", "/tmp/host-link"]),
        "from the host\n",
        "-L copies the content under the link's name"
    );
}

#[test]
fn diff_commit_and_export() {
    let Some(e) = Engine::new("diff_commit_export") else {
        return;
    };
    e.ok(&[
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "echo new > /added && rm /bin/ls && echo x > /etc/motd",
    ]);
    let diff = e.ok(&["diff", "changed"]);
    for want in ["A /added", "D /bin/ls", "C /bin", "A /etc/motd"] {
        assert!(
            diff.lines().any(|l| l == want),
            "{want} missing from:\n{diff}"
        );
    }
    // The runtime's mount-point stubs are not the container's changes.
    assert!(!diff.contains("/etc/hosts"), "{diff}");
    let id = e.ok(&[
        "commit",
        "-m",
        "snapshot",
        "-a",
        "tester",
        "-c",
        "ENV COMMITTED=yes",
        "-c",
        "CMD [\"cat\", \"/added\"]",
        "changed",
        "committed:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(e.ok(&["run", "--rm", "committed:v1"]), "new\n");
    let o = e.berth(&["run", "--rm", "committed:v1", "ls", "/bin/ls"]);
    assert!(!o.status.success(), "the deletion was not committed");
    assert_eq!(
        e.ok(&["run", "--rm", "committed:v1", "sh", "-c", "echo $COMMITTED"]),
        "yes\n"
    );
    let hist = e.ok(&["history", "--no-trunc", "committed:v1"]);
    assert!(hist.contains("snapshot"), "{hist}");
    assert_eq!(
        e.ok(&["image", "inspect", "-f", "{{.Author}}", "committed:v1"])
            .trim(),
        "tester"
    );
    // export: the whole filesystem as a tar, with the change in it.
    let o = e.berth(&["export", "changed"]);
    assert!(o.status.success(), "{}", show(&o));
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n.trim_start_matches("./") == "added"));
    assert!(!names.iter().any(|n| n.trim_start_matches("./") == "bin/ls"));
    let file = e.path("export.tar");
    e.ok(&["export", "-o", file.to_str().unwrap(), "changed"]);
    assert!(fs::metadata(&file).unwrap().len() > 1_000_000);
}

#[test]
fn init_update_stats_port() {
    let Some(e) = Engine::new("init_update_stats") else {
        return;
    };
    // --init: the command runs under the host's init as pid 1; SIGTERM ends it.
    let cmdline = e.ok(&["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"]);
    assert!(
        cmdline.starts_with("/run/berth-init\0--\0cat"),
        "{cmdline:?}"
    );
    e.run_d(&["--name", "inited", "--init", "busybox", "sleep", "300"]);
    e.ok(&["stop", "-t", "10", "inited"]);
    assert_eq!(e.inspect_f("inited", "{{.State.ExitCode}}"), "143");
    // update: limits reach the running container's cgroup and the stored settings.
    let id = e.run_d(&[
        "--name", "upd", "--memory", "32m", "busybox", "sleep", "300",
    ]);
    e.ok(&[
        "update",
        "--memory",
        "48m",
        "--pids-limit",
        "50",
        "--restart",
        "on-failure:3",
        "upd",
    ]);
    assert_eq!(e.inspect_f("upd", "{{.HostConfig.Memory}}"), "50331648");
    assert_eq!(
        e.inspect_f(
            "upd",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:3"
    );
    let mem = if common::host::cgroup_v2_unified() {
        std::path::PathBuf::from(format!("/sys/fs/cgroup/berth/{id}/memory.max"))
    } else {
        std::path::PathBuf::from(format!(
            "/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes"
        ))
    };
    assert_eq!(
        fs::read_to_string(&mem).unwrap().trim(),
        "50331648",
        "{}",
        mem.display()
    );
    // stats: one line per container, in a template.
    let s = e.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "upd",
    ]);
    assert_eq!(s.trim(), "upd 1");
    let j = e.ok(&["stats", "--no-stream", "--format", "json", "upd"]);
    let v: serde_json::Value = serde_json::from_str(j.trim()).unwrap();
    assert!(v["MemUsage"].as_str().unwrap().ends_with("48MiB"), "{v}");
    // port: nothing is published without bridge networking.
    assert_eq!(e.ok(&["port", "upd"]), "");
    let err = text(&e.berth(&["port", "upd", "80"]).stderr);
    assert!(err.contains("no public port '80/tcp'"), "{err}");
}

/// cp sees volumes and bind mounts where the container sees them.
#[test]
fn cp_reaches_into_volumes_and_binds() {
    let Some(e) = Engine::new("cp_volumes") else {
        return;
    };
    let bind = e.path("bind");
    fs::create_dir(&bind).unwrap();
    fs::write(bind.join("b"), "bound\n").unwrap();
    let spec = format!("{}:/bound", bind.display());
    e.run_d(&[
        "--name",
        "vols",
        "-v",
        "cpvol:/vdata",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo vol > /vdata/f && sleep 300",
    ]);
    assert!(common::host::wait_until(common::engine::T30, || e
        .berth(&["exec", "vols", "test", "-f", "/vdata/f"])
        .status
        .success()));
    let out = e.path("f");
    e.ok(&["cp", "vols:/vdata/f", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&out).unwrap(), "vol\n");
    e.ok(&["cp", "vols:/bound/b", e.path("b").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(e.path("b")).unwrap(), "bound\n");
    let src = e.path("in");
    fs::write(&src, "into the volume\n").unwrap();
    e.ok(&["cp", src.to_str().unwrap(), "vols:/vdata/"]);
    assert_eq!(
        e.ok(&["exec", "vols", "cat", "/vdata/in"]),
        "into the volume\n"
    );
}
