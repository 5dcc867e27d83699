//! Named, anonymous and bind volumes, `--mount`, and the `volume` commands.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::engine::{show, text, Engine};

#[test]
fn named_volume_persists_across_containers() {
    let Some(e) = Engine::new("vol_persist") else {
        return;
    };
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo saved > /data/f",
    ]);
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/other",
        "busybox",
        "cat",
        "/other/f",
    ]);
    assert_eq!(out, "saved\n");
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "keep\n");
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["volume", "inspect", "keep"])).unwrap();
    assert_eq!(v[0]["Name"], "keep");
    assert_eq!(v[0]["Driver"], "local");
    let mp = v[0]["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(format!("{mp}/f")).unwrap(),
        "saved\n"
    );
}

#[test]
fn new_volume_is_seeded_from_the_image() {
    let Some(e) = Engine::new("vol_seed") else {
        return;
    };
    // An image with a directory whose content and owner are known.
    let extra = e.path("extra");
    std::fs::create_dir_all(extra.join("seed/sub")).unwrap();
    std::fs::write(extra.join("seed/sub/file"), "from image\n").unwrap();
    std::fs::set_permissions(
        extra.join("seed/sub"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::os::unix::fs::chown(extra.join("seed/sub"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::chown(extra.join("seed/sub/file"), Some(1234), Some(5678)).unwrap();
    let tar = e.path("seeded.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(common::bundle::cached_rootfs())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .arg("-C")
        .arg(&extra)
        .arg("./seed")
        .status()
        .unwrap();
    assert!(st.success());
    e.ok(&["import", tar.to_str().unwrap(), "seeded:latest"]);

    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "sv:/seed",
        "seeded",
        "sh",
        "-c",
        "cat /seed/sub/file; stat -c '%u:%g %a' /seed/sub",
    ]);
    assert_eq!(out, "from image\n1234:5678 750\n");
    let mp = e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "sv"]);
    let md = std::fs::metadata(format!("{}/sub/file", mp.trim())).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 5678));

    // Seeding happens once: a volume that has content keeps it.
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "sv:/seed",
        "seeded",
        "rm",
        "/seed/sub/file",
    ]);
    let o = e.berth(&["run", "--rm", "-v", "sv:/seed", "seeded", "ls", "/seed/sub"]);
    assert_eq!(text(&o.stdout), "", "{}", show(&o));

    // The busybox image's own /etc, through a volume.
    let out = e.ok(&["run", "--rm", "-v", "etcvol:/etc", "busybox", "ls", "/etc"]);
    assert!(out.lines().any(|l| l == "passwd"), "{out}");
}

#[test]
fn anonymous_volumes_and_rm_v() {
    let Some(e) = Engine::new("vol_anon") else {
        return;
    };
    let id = e.run_d(&["-v", "/data", "busybox", "sh", "-c", "echo x > /data/f"]);
    e.ok(&["wait", &id]);
    let vols = e.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.lines().count(), 1, "{vols}");
    let name = vols.trim().to_string();
    assert_eq!(
        name.len(),
        64,
        "anonymous volumes get a random name: {name}"
    );
    assert!(e
        .inspect_f(&id, "{{range .Mounts}}{{.Name}}{{end}}")
        .contains(&name));

    // Plain rm keeps the volume; rm -v takes it along.
    let keep = e.run_d(&["-v", "/data", "busybox", "true"]);
    e.ok(&["wait", &keep]);
    e.ok(&["rm", &keep]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    e.ok(&["rm", "-v", &id]);
    let left = e.ok(&["volume", "ls", "-q"]);
    assert_eq!(left.lines().count(), 1, "{left}");
    assert!(!left.contains(&name), "{left}");
}

#[test]
fn bind_mounts_and_tmpfs_mounts() {
    let Some(e) = Engine::new("vol_bind") else {
        return;
    };
    let host = e.path("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "host file\n").unwrap();
    let h = host.to_str().unwrap();

    let o = e.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/c:ro"),
        "busybox",
        "sh",
        "-c",
        "cat /c/in; touch /c/new",
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(text(&o.stdout), "host file\n");
    assert!(text(&o.stderr).contains("Read-only"), "{}", show(&o));
    assert!(!host.join("new").exists());

    e.ok(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,source={h},target=/rw"),
        "busybox",
        "sh",
        "-c",
        "echo back > /rw/out",
    ]);
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    // Docker's --mount never creates a missing bind source.
    e.fails(
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,source=/nonexistent-bt,target=/x",
            "busybox",
            "true",
        ],
        125,
    );

    let out = e.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,destination=/scratch,tmpfs-size=2m",
        "busybox",
        "grep",
        " /scratch ",
        "/proc/mounts",
    ]);
    assert!(out.starts_with("tmpfs /scratch tmpfs"), "{out}");
    assert!(out.contains("size=2048k"), "{out}");
}

#[test]
fn volume_commands() {
    let Some(e) = Engine::new("vol_cmds") else {
        return;
    };
    assert_eq!(
        e.ok(&["volume", "create", "--label", "k=v", "made"]),
        "made\n"
    );
    let ls = e.ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER"), "{ls}");
    assert!(ls.contains("local") && ls.contains("made"), "{ls}");
    assert_eq!(
        e.ok(&["volume", "inspect", "-f", "{{.Labels.k}}", "made"])
            .trim(),
        "v"
    );
    e.fails(&["volume", "inspect", "nope"], 1);

    e.run_d(&["--name", "user", "-v", "made:/m", "busybox", "sleep", "300"]);
    let err = e.fails(&["volume", "rm", "made"], 1);
    assert!(err.contains("in use"), "{err}");
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "made\n");
    e.ok(&["rm", "-f", "user"]);
    e.ok(&["volume", "rm", "made"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");

    // prune: anonymous unused volumes only, all unused ones with -a.
    e.ok(&["volume", "create", "named"]);
    let anon = e.run_d(&["-v", "/a", "busybox", "true"]);
    e.ok(&["wait", &anon]);
    e.ok(&["rm", &anon]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    e.ok(&["volume", "prune", "-f"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "named\n");
    e.ok(&["volume", "prune", "-f", "-a"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
}
