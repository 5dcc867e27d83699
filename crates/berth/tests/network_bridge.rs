//! Bridge networks (issue 6 foundations): `network create/ls/inspect/rm/prune`, two
//! containers on a test bridge reaching each other and the host, an internal network
//! kept off another bridge, the MTU option, `--ip`, and nothing left after `rm -f`
//! and `network rm` (no veth, no allocation, no namespace file, no bridge, no nft
//! chains). Traffic stays inside bridges these tests make, on subnets of
//! 10.199.0.0/16 no host route uses.

mod common;

use std::process::Command;

use common::engine::{show, text, Engine};
use common::net::*;

#[test]
fn containers_on_a_bridge_reach_each_other_and_leave_nothing() {
    let Some(e) = Engine::new("net_bridge") else {
        return;
    };
    let nets = Nets::new(&e);
    let (net, p) = nets.create(&["--label", "team=a"]);
    let bridge = nets.bridge(&net);
    assert!(link_exists(&bridge), "bridge {bridge} made at create");

    let ls = e.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.contains(&net) && l.contains("bridge") && l.contains("local")),
        "{ls}"
    );

    let a = e.run_d(&["--name", "a", "--network", &net, "busybox", "sleep", "300"]);
    let b_ip = format!("{p}.50");
    let b = e.run_d(&[
        "--name",
        "b",
        "--network",
        &net,
        "--ip",
        &b_ip,
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        ip_of(&e, "a"),
        format!("{p}.2"),
        "first free address after the gateway"
    );
    assert_eq!(ip_of(&e, "b"), b_ip);
    assert_eq!(
        e.inspect_f("a", "{{.NetworkSettings.Gateway}}"),
        format!("{p}.1")
    );

    // The engine's namespace, with eth0, lo and the default route.
    assert!(netns_file(&e, &a).exists());
    let inside = e.ok(&["exec", "a", "ip", "-o", "addr"]);
    assert!(
        inside.contains(&format!("eth0    inet {p}.2/24"))
            || inside.contains(&format!("inet {p}.2/24")),
        "{inside}"
    );
    let route = e.ok(&["exec", "a", "ip", "route"]);
    assert!(
        route.contains(&format!("default via {p}.1 dev eth0")),
        "{route}"
    );
    let lo = e.ok(&["exec", "a", "cat", "/sys/class/net/lo/operstate"]);
    assert_eq!(lo.trim(), "unknown", "lo is up (loopback reports unknown)");
    assert_eq!(
        e.ok(&["exec", "a", "cat", "/sys/class/net/eth0/mtu"])
            .trim(),
        "1500"
    );
    let mac = e.ok(&["exec", "a", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(
        mac.trim(),
        e.inspect_f("a", "{{.NetworkSettings.MacAddress}}")
    );
    // The host end is on the bridge.
    let master = std::fs::read_link(format!("/sys/class/net/{}/master", veth(&a))).unwrap();
    assert_eq!(master.file_name().unwrap().to_string_lossy(), bridge);
    // Its own name resolves to its address.
    let hosts = e.ok(&["exec", "a", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{p}.2\t{}\n", &a[..12])), "{hosts}");

    // Container to container, container to host, host to container.
    let o = e.berth(&["exec", "a", "ping", "-c1", "-W2", &b_ip]);
    assert!(o.status.success(), "a pings b: {}", show(&o));
    let o = e.berth(&["exec", "b", "ping", "-c1", "-W2", &format!("{p}.1")]);
    assert!(o.status.success(), "b pings the gateway: {}", show(&o));
    assert!(host_ping(&format!("{p}.2")), "the host pings a");

    // The network shows both endpoints.
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(v[0]["Containers"].as_object().unwrap().len(), 2, "{v}");
    assert_eq!(v[0]["Containers"][&b]["IPv4Address"], format!("{b_ip}/24"));
    assert_eq!(v[0]["IPAM"]["Config"][0]["Gateway"], format!("{p}.1"));
    assert_eq!(v[0]["Labels"]["team"], "a");
    assert_eq!(v[0]["Internal"], false);
    // A network in use cannot go.
    let err = e.fails(&["network", "rm", &net], 1);
    assert!(err.contains("active endpoints"), "{err}");
    // Outbound NAT for its subnet, in berth's table.
    assert!(nft_chain_exists(&format!(
        "post-{}",
        &v[0]["Id"].as_str().unwrap()[..12]
    )));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );

    // A stop releases the address and the veth; a start gets them back.
    e.ok(&["stop", "-t", "0", "b"]);
    // The kernel takes the pair away with the namespace, a moment later.
    assert!(gone(&veth(&b)), "veth of stopped b");
    assert!(!netns_file(&e, &b).exists());
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(v[0]["Containers"].as_object().unwrap().len(), 1, "{v}");
    e.ok(&["start", "b"]);
    assert_eq!(ip_of(&e, "b"), b_ip);
    let o = e.berth(&["exec", "b", "ping", "-c1", "-W2", &format!("{p}.2")]);
    assert!(
        o.status.success(),
        "b pings a after a restart: {}",
        show(&o)
    );

    e.ok(&["rm", "-f", "a", "b"]);
    for id in [&a, &b] {
        assert!(gone(&veth(id)), "veth of {id} left");
        assert!(!netns_file(&e, id).exists(), "netns file of {id} left");
        assert!(e.leftovers(id).is_empty(), "{:?}", e.leftovers(id));
    }
    let links = text(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        !links.contains(&veth(&a)) && !links.contains(&veth(&b)),
        "{links}"
    );
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", &net])).unwrap();
    assert!(v[0]["Containers"].as_object().unwrap().is_empty(), "{v}");

    let id = v[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(e.ok(&["network", "rm", &net]).trim(), net);
    assert!(
        !link_exists(&bridge),
        "bridge {bridge} left after network rm"
    );
    for c in ["post", "fwd", "in"] {
        assert!(
            !nft_chain_exists(&format!("{c}-{}", &id[..12])),
            "nft chain {c} left"
        );
    }
    assert!(!e.ok(&["network", "ls"]).contains(&net));
}

#[test]
fn internal_network_reaches_only_its_bridge() {
    let Some(e) = Engine::new("net_internal") else {
        return;
    };
    let nets = Nets::new(&e);
    let (inet, ip) = nets.create(&["--internal"]);
    let (onet, op) = nets.create(&[]);
    e.run_d(&[
        "--name",
        "in1",
        "--network",
        &inet,
        "busybox",
        "sleep",
        "300",
    ]);
    e.run_d(&[
        "--name",
        "in2",
        "--network",
        &inet,
        "busybox",
        "sleep",
        "300",
    ]);
    e.run_d(&[
        "--name",
        "out",
        "--network",
        &onet,
        "busybox",
        "sleep",
        "300",
    ]);
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", &inet])).unwrap();
    assert_eq!(v[0]["Internal"], true);

    // Inside the internal network: its peers and its gateway.
    let o = e.berth(&["exec", "in1", "ping", "-c1", "-W2", &ip_of(&e, "in2")]);
    assert!(o.status.success(), "in1 pings in2: {}", show(&o));
    let o = e.berth(&["exec", "in1", "ping", "-c1", "-W2", &format!("{ip}.1")]);
    assert!(o.status.success(), "in1 pings its gateway: {}", show(&o));
    // Beyond it: neither the host's address on the other bridge nor a container there.
    let o = e.berth(&["exec", "in1", "ping", "-c1", "-W2", &format!("{op}.1")]);
    assert!(
        !o.status.success(),
        "in1 reached the other bridge's address: {}",
        show(&o)
    );
    let o = e.berth(&["exec", "in1", "ping", "-c1", "-W2", &ip_of(&e, "out")]);
    assert!(
        !o.status.success(),
        "in1 reached a container on another network: {}",
        show(&o)
    );
    let o = e.berth(&["exec", "out", "ping", "-c1", "-W2", &ip_of(&e, "in1")]);
    assert!(
        !o.status.success(),
        "out reached the internal network: {}",
        show(&o)
    );
    // The normal network reaches its gateway.
    let o = e.berth(&["exec", "out", "ping", "-c1", "-W2", &format!("{op}.1")]);
    assert!(o.status.success(), "out pings its gateway: {}", show(&o));
}

/// Two ordinary networks: each reaches the host (its gateway) but not the other's
/// containers, in either direction.
#[test]
fn two_networks_are_isolated_from_each_other() {
    let Some(e) = Engine::new("net_isolated") else {
        return;
    };
    let nets = Nets::new(&e);
    let (n1, p1) = nets.create(&[]);
    let (n2, _) = nets.create(&[]);
    e.run_d(&["--name", "a", "--network", &n1, "busybox", "sleep", "300"]);
    e.run_d(&["--name", "b", "--network", &n2, "busybox", "sleep", "300"]);
    let o = e.berth(&["exec", "a", "ping", "-c1", "-W2", &format!("{p1}.1")]);
    assert!(o.status.success(), "a pings its gateway: {}", show(&o));
    assert!(host_ping(&ip_of(&e, "b")), "the host pings b");
    for (from, to) in [("a", "b"), ("b", "a")] {
        let o = e.berth(&["exec", from, "ping", "-c1", "-W2", &ip_of(&e, to)]);
        assert!(
            !o.status.success(),
            "{from} reached {to} on another network: {}",
            show(&o)
        );
    }
}

#[test]
fn mtu_option_ip_conflicts_and_prune() {
    let Some(e) = Engine::new("net_mtu_ip") else {
        return;
    };
    let nets = Nets::new(&e);
    let (net, p) = nets.create(&["-o", "com.docker.network.driver.mtu=1400"]);
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "cat",
        "/sys/class/net/eth0/mtu",
    ]);
    assert_eq!(out.trim(), "1400");

    let ip = format!("{p}.10");
    let x = e.run_d(&[
        "--name",
        "x",
        "--network",
        &net,
        "--ip",
        &ip,
        "busybox",
        "sleep",
        "300",
    ]);
    for link in [veth(&x), nets.bridge(&net)] {
        let mtu = std::fs::read_to_string(format!("/sys/class/net/{link}/mtu")).unwrap();
        assert_eq!(mtu.trim(), "1400", "{link}");
    }
    // The same address for another container: created, but it cannot start.
    let o = e.berth(&[
        "run",
        "-d",
        "--name",
        "y",
        "--network",
        &net,
        "--ip",
        &ip,
        "busybox",
        "sleep",
        "300",
    ]);
    assert!(
        !o.status.success(),
        "second container on {ip}: {}",
        show(&o)
    );
    assert!(text(&o.stderr).contains("already in use"), "{}", show(&o));
    let y = e.inspect_f("y", "{{.Id}}");
    assert!(gone(&veth(&y)), "failed start left a veth");
    assert!(
        !netns_file(&e, &y).exists(),
        "failed start left a netns file"
    );
    // Outside the subnet, or without a bridge network: refused at create.
    let err = e.fails(
        &[
            "create",
            "--network",
            &net,
            "--ip",
            "10.198.0.5",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("subnet"), "{err}");
    let err = e.fails(&["create", "--ip", &ip, "busybox", "true"], 125);
    assert!(err.contains("--ip"), "{err}");
    let err = e.fails(
        &["create", "--network", "nosuchnet", "busybox", "true"],
        125,
    );
    assert!(err.contains("not found"), "{err}");

    // Prune keeps networks containers name, removes the others.
    let (spare, _) = nets.create(&[]);
    let pruned = e.ok(&["network", "prune", "-f"]);
    assert!(
        pruned.contains(&spare) && !pruned.contains(&net),
        "{pruned}"
    );
    assert!(!link_exists(&nets.bridge(&spare)));
}

#[test]
fn monitor_restarts_keep_the_namespace_and_the_final_exit_releases_it() {
    let Some(e) = Engine::new("net_restart") else {
        return;
    };
    let nets = Nets::new(&e);
    let (net, p) = nets.create(&[]);
    // Each run prints its address; the monitor restarts it twice without the engine.
    let id = e.run_d(&[
        "--name",
        "r",
        "--network",
        &net,
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; exit 1",
    ]);
    let done = common::host::wait_until(common::engine::T30, || {
        // One inspect for both: two could straddle a restart.
        e.inspect_f("r", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    assert!(
        done,
        "status {} restarts {}",
        e.status("r"),
        e.inspect_f("r", "{{.RestartCount}}")
    );
    let logs = e.ok(&["logs", "r"]);
    let want = format!("inet {p}.2/24");
    assert_eq!(
        logs.matches(&want).count(),
        3,
        "every run had eth0 with its address: {logs}"
    );
    // Exited for good: the monitor's cleanup disconnected it.
    assert!(
        common::host::wait_until(common::engine::T30, || {
            !link_exists(&veth(&id)) && !netns_file(&e, &id).exists()
        }),
        "veth or netns file left after the final exit"
    );
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["network", "inspect", &net])).unwrap();
    assert!(v[0]["Containers"].as_object().unwrap().is_empty(), "{v}");
    assert_eq!(e.inspect_f("r", "{{.NetworkSettings.IPAddress}}"), "");
}
