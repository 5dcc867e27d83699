//! `system prune`, `network prune` releasing what dead containers held, `system
//! reset`, and the default network: a bridge of the store's own, made on first use.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::engine::{show, Engine};
use common::host;
use common::net::*;

fn alloc_count(e: &Engine, net: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", net])).unwrap();
    v[0]["Containers"].as_object().map_or(0, |m| m.len())
}

#[test]
fn default_network_is_a_bridge_of_the_stores_own_and_reset_removes_everything() {
    let Some(e) = Engine::new("default_bridge_reset") else {
        return;
    };
    // No --network: the default network, created on first use.
    let id = e.run_d(&[
        "--name",
        "d",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(e.inspect_f("d", "{{.HostConfig.NetworkMode}}"), "bridge");
    let ip = e.inspect_f("d", "{{.NetworkSettings.IPAddress}}");
    assert!(!ip.is_empty(), "no address on the default network");
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "bridge"])).unwrap();
    let net_id = v[0]["Id"].as_str().unwrap().to_string();
    // Only the default store's network is berth0.
    let bridge = format!("br-{}", &net_id[..12]);
    assert!(link_exists(&bridge), "{bridge} missing");
    let o = e.berth(&["exec", "d", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&ip),
        "{}",
        show(&o)
    );
    let err = e.fails(&["network", "rm", "bridge"], 1);
    assert!(err.contains("pre-defined"), "{err}");
    let vol = e.ok(&["volume", "create"]).trim().to_string();
    assert!(!vol.is_empty());

    // Without -f and with no answer on stdin, nothing happens.
    let o = e.berth(&["system", "reset"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("[y/N]"));
    assert_eq!(e.status("d"), "running");

    e.ok(&["system", "reset", "-f"]);
    assert!(!e.root.path().exists(), "the store is still there");
    assert!(!e.runroot.exists(), "the run root is still there");
    assert!(gone(&bridge), "{bridge} left behind");
    assert!(gone(&format!("vb{}", &id[..12])), "veth left behind");
    for c in ["post", "fwd", "in"] {
        assert!(!nft_chain_exists(&format!("{c}-{}", &net_id[..12])));
    }
    for c in ["pre-c", "out-c", "pst-c"] {
        assert!(!nft_chain_exists(&format!("{c}{}", &id[..12])));
    }
    assert!(host::mounts_under(e.root.path()).is_empty());
}

#[test]
fn prune_releases_what_a_killed_monitor_left_and_removes_the_unused() {
    let Some(e) = Engine::new("prune_stale") else {
        return;
    };
    let nets = Nets::new(&e);
    let (used, _) = nets.create(&[]);
    let (unused, _) = nets.create(&[]);
    let id = e.run_d(&[
        "--network",
        &used,
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sleep",
        "300",
    ]);
    let pid: i64 = e.inspect_f(&id, "{{.State.Pid}}").parse().unwrap();
    let mon = std::fs::read_to_string(e.runroot.join("containers").join(&id).join("monitor.pid"))
        .unwrap();
    // The monitor and the container both die without a cleanup, as in a host crash.
    for p in [mon.trim().to_string(), pid.to_string()] {
        assert!(Command::new("kill")
            .args(["-KILL", &p])
            .status()
            .unwrap()
            .success());
    }
    assert!(host::wait_until(Duration::from_secs(30), || e.status(&id) == "exited"));
    assert_eq!(alloc_count(&e, &used), 1, "the address is still held");

    // network prune releases what the dead container held, and keeps the network a
    // container still names.
    let out = e.ok(&["network", "prune", "-f"]);
    assert!(out.contains(&unused) && !out.contains(&used), "{out}");
    assert_eq!(alloc_count(&e, &used), 0, "the address was not released");
    assert!(gone(&format!("vb{}", &id[..12])), "veth left behind");
    assert!(!Path::new(&e.runroot.join("netns").join(&id)).exists());
    for c in ["pre-c", "out-c", "pst-c"] {
        assert!(!nft_chain_exists(&format!("{c}{}", &id[..12])));
    }

    // A stopped container that is not on any network, and an image nothing uses.
    e.ok(&[
        "create",
        "--name",
        "stopped",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    e.ok(&["tag", "busybox", "extra:1"]);

    let out = e.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains(&id), "{out}");
    assert!(out.contains("Deleted Networks:"), "{out}");
    assert!(out.contains(&used), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(e.container_ids().is_empty());
    let nets_left = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !nets_left.contains(&used) && !nets_left.contains(&unused),
        "{nets_left}"
    );
    // Tagged images are not dangling: they stay without -a.
    assert!(e.ok(&["images", "-q"]).lines().count() >= 1);
}
