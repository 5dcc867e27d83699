//! The per-network pool of idle namespaces: a stopped container's namespace serves
//! the next container on its network with that container's own address, MAC and
//! route; a namespace the container could have changed (CAP_NET_ADMIN) or another
//! container joined is never pooled; the pool keeps at most four; `network rm` destroys it. Traffic stays
//! inside a bridge the test makes (a subnet of 10.199.0.0/16).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::engine::Engine;
use common::host::wait_until;
use common::net::*;

fn idle(pool: &PathBuf) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(pool)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|n| n.starts_with("vp"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[track_caller]
fn wait_idle(pool: &PathBuf, n: usize) {
    let ok = wait_until(Duration::from_secs(10), || idle(pool).len() == n);
    assert!(
        ok,
        "pool {} should hold {n}: {:?}",
        pool.display(),
        idle(pool)
    );
}

/// Whether the bridge has a learned (not permanent) forwarding entry for `mac`.
fn learned(bridge: &str, mac: &str) -> bool {
    let out = std::process::Command::new("bridge")
        .args(["fdb", "show", "br", bridge])
        .output()
        .expect("running bridge fdb show");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with(mac) && !l.contains("permanent"))
}

fn master_of(link: &str) -> String {
    std::fs::read_link(format!("/sys/class/net/{link}/master"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn a_stopped_containers_namespace_serves_the_next_one() {
    let Some(e) = Engine::new("net_pool") else {
        return;
    };
    let nets = Nets::new(&e);
    let (net, p) = nets.create(&[]);
    let bridge = nets.bridge(&net);
    let net_id = e.ok(&["network", "inspect", "-f", "{{.Id}}", &net]);
    let pool = e.runroot.join("netns-pool").join(net_id.trim());

    // The first container's namespace is new; at its exit it goes to the pool, its
    // host end renamed and still on the bridge.
    e.ok(&["run", "--rm", "--network", &net, "busybox", "true"]);
    wait_idle(&pool, 1);
    let first = idle(&pool).remove(0);
    assert!(link_exists(&first), "idle host end {first}");
    assert_eq!(master_of(&first), bridge);

    // The next container takes it: the host end is its own again.
    let h = e.run_d(&["--name", "h", "--network", &net, "busybox", "sleep", "300"]);
    assert!(idle(&pool).is_empty(), "{:?}", idle(&pool));
    assert!(gone(&first), "{first} renamed");
    assert_eq!(master_of(&veth(&h)), bridge);
    assert_eq!(ip_of(&e, "h"), format!("{p}.2"));
    let inside = e.ok(&["exec", "h", "ip", "-o", "-4", "addr"]);
    assert!(inside.contains(&format!("inet {p}.2/24")), "{inside}");

    // Its stop returns it; a container with another address and MAC takes it and
    // reaches the gateway and another container.
    let peer = e.run_d(&["--network", &net, "busybox", "sleep", "300"]);
    let peer_ip = e.inspect_f(&peer, "{{.NetworkSettings.IPAddress}}");
    let h_mac = e.inspect_f("h", "{{.NetworkSettings.MacAddress}}");
    e.ok(&["exec", "h", "ping", "-c1", "-W2", &format!("{p}.1")]);
    assert!(learned(&bridge, &h_mac), "the bridge learned {h_mac}");
    e.ok(&["rm", "-f", "h"]);
    wait_idle(&pool, 1);
    // The idle host end stays up but, with eth0 down, has no carrier: the bridge
    // disables the port and forgets the MAC it learned there, which the next holder
    // of that address (and MAC) may bring in on another port.
    let idle_end = idle(&pool).remove(0);
    // (carrier can be read only on a link that is up)
    let carrier =
        std::fs::read_to_string(format!("/sys/class/net/{idle_end}/carrier")).unwrap_or_default();
    assert_eq!(carrier.trim(), "0", "{idle_end} is up, without carrier");
    assert!(
        wait_until(Duration::from_secs(5), || !learned(&bridge, &h_mac)),
        "{bridge} still forwards {h_mac} to the idle port {idle_end}"
    );
    let script = format!(
        "cat /sys/class/net/eth0/address; ip -o -4 addr show eth0; ip route; \
         ping -c2 -W2 {p}.1 >/dev/null && echo gw-ok; ping -c2 -W2 {peer_ip} >/dev/null && echo peer-ok"
    );
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        &format!("{p}.77"),
        "--mac-address",
        "02:42:0a:0b:0c:0d",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.starts_with("02:42:0a:0b:0c:0d"), "{out}");
    assert!(out.contains(&format!("inet {p}.77/24")), "{out}");
    assert!(
        !out.contains(&format!("inet {p}.2/")),
        "old address left: {out}"
    );
    assert!(
        out.contains(&format!("default via {p}.1 dev eth0")),
        "{out}"
    );
    assert!(out.contains("gw-ok") && out.contains("peer-ok"), "{out}");
    wait_idle(&pool, 1);

    // A container that may change its namespace takes one but never gives it back.
    e.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "ip",
        "addr",
        "add",
        "10.199.254.1/32",
        "dev",
        "eth0",
    ]);
    wait_idle(&pool, 0);
    e.ok(&["run", "--rm", "--network", &net, "busybox", "true"]);
    wait_idle(&pool, 1);
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "ip",
        "-o",
        "addr",
    ]);
    assert!(!out.contains("10.199.254.1"), "{out}");

    // Nor one another container joined (`--network container:`): it still lives
    // in it after the first one is gone.
    wait_idle(&pool, 1);
    let owner = e.run_d(&["--network", &net, "busybox", "sleep", "300"]);
    wait_idle(&pool, 0);
    let guest = e.run_d(&[
        "--network",
        &format!("container:{owner}"),
        "busybox",
        "sleep",
        "300",
    ]);
    e.ok(&["rm", "-f", &owner]);
    assert!(
        idle(&pool).is_empty(),
        "joined namespace pooled: {:?}",
        idle(&pool)
    );
    e.ok(&["rm", "-f", &guest]);

    // At most four wait.
    let many: Vec<String> = (0..6)
        .map(|_| e.run_d(&["--network", &net, "busybox", "sleep", "300"]))
        .collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(many.iter().map(String::as_str));
    rm.push(&peer);
    e.ok(&rm);
    wait_idle(&pool, 4);
    for id in &many {
        assert!(gone(&veth(id)), "host end of {id} left");
        assert!(e.leftovers(id).is_empty(), "{:?}", e.leftovers(id));
    }
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", &net])).unwrap();
    assert!(v[0]["Containers"].as_object().unwrap().is_empty(), "{v}");

    // `network rm` destroys the pool with the network.
    let links = idle(&pool);
    e.ok(&["network", "rm", &net]);
    assert!(!pool.exists(), "{} left", pool.display());
    for l in links {
        assert!(gone(&l), "idle {l} left after network rm");
    }
}
