//! IPv6 on bridge networks: a `--ipv6` network with a random unique local /64, two
//! containers that reach each other over IPv6 (ping and HTTP), the v6 default route
//! via the gateway, AAAA answers of the embedded DNS, /etc/hosts, `inspect`, a port
//! published on `[::]` reached from the host over IPv6, `[::1]` relayed by the monitor, a pooled
//! namespace that comes back with only its new container's v6 address, and nothing
//! left (allocations, nft chains of the `ip6 berth` table, bridge) after `rm -f` and
//! `network rm`. Traffic stays inside the bridge the test makes (a random fdXX::/64
//! and a subnet of 10.199.0.0/16) and on the host's own addresses of that bridge.

mod common;

use std::process::Command;
use std::time::Duration;

use common::engine::{show, text, Engine, T30};
use common::host::wait_until;
use common::net::*;

/// `GET /hostname` with curl from the host (`-g`: brackets are the address).
fn curl(url: &str) -> Result<String, String> {
    let o = Command::new("curl")
        .args(["-sfg", "-m", "5", url])
        .output()
        .unwrap();
    if o.status.success() {
        Ok(text(&o.stdout).trim().to_string())
    } else {
        Err(show(&o))
    }
}

/// Another "host": a network namespace joined to this one by a veth pair on a
/// random unique local /64 of its own (this host `::1`, the peer `::2`), removed on
/// drop.
struct Peer6 {
    ns: String,
    host_if: String,
    host_ip: String,
}

impl Peer6 {
    fn new() -> Peer6 {
        let tag = random_hex(6);
        let p6 = random_ula();
        let p = Peer6 {
            ns: format!("btq{tag}"),
            host_if: format!("btqh{tag}"),
            host_ip: format!("{p6}1"),
        };
        let peer_if = format!("btqp{tag}");
        let host_cidr = format!("{p6}1/64");
        let peer_cidr = format!("{p6}2/64");
        for args in [
            vec!["netns", "add", &p.ns],
            vec![
                "link", "add", &p.host_if, "type", "veth", "peer", "name", &peer_if,
            ],
            vec!["link", "set", &peer_if, "netns", &p.ns],
            vec!["addr", "add", &host_cidr, "dev", &p.host_if, "nodad"],
            vec!["link", "set", &p.host_if, "up"],
            vec![
                "-n", &p.ns, "addr", "add", &peer_cidr, "dev", &peer_if, "nodad",
            ],
            vec!["-n", &p.ns, "link", "set", &peer_if, "up"],
            vec!["-n", &p.ns, "link", "set", "lo", "up"],
        ] {
            let o = Command::new("ip").args(&args).output().unwrap();
            assert!(o.status.success(), "ip {args:?}: {}", show(&o));
        }
        p
    }

    fn get(&self, port: u16) -> Result<String, String> {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-sfg", "-m", "5"])
            .arg(format!("http://[{}]:{port}/hostname", self.host_ip))
            .output()
            .unwrap();
        if o.status.success() {
            Ok(text(&o.stdout).trim().to_string())
        } else {
            Err(show(&o))
        }
    }
}

impl Drop for Peer6 {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn container_chains(family: &str, id: &str) -> Vec<String> {
    ["pre-c", "out-c", "pst-c"]
        .iter()
        .map(|c| format!("{c}{}", &id[..12]))
        .filter(|c| nft_chain_in(family, c))
        .collect()
}

/// The global IPv6 addresses of eth0 in a container (`ip -6 addr` of busybox).
fn global_v6(e: &Engine, ctr: &str) -> Vec<String> {
    global_v6_of(e, ctr, "eth0")
}

fn global_v6_of(e: &Engine, ctr: &str, dev: &str) -> Vec<String> {
    let out = e.ok(&["exec", ctr, "ip", "-6", "-o", "addr", "show", "dev", dev]);
    out.lines()
        .filter(|l| l.contains("scope global"))
        .filter_map(|l| {
            let i = l.split_whitespace().position(|w| w == "inet6")?;
            l.split_whitespace().nth(i + 1).map(String::from)
        })
        .collect()
}

#[test]
fn ipv6_network_end_to_end() {
    let Some(e) = Engine::new("net_ipv6") else {
        return;
    };
    let nets = Nets::new(&e);
    let p6 = random_ula();
    let sub6 = format!("{p6}/64");
    let (net, p4) = nets.create(&["--ipv6", "--subnet", &sub6]);
    let bridge = nets.bridge(&net);
    let net_id = e.ok(&["network", "inspect", "-f", "{{.Id}}", &net]);
    let net_id = net_id.trim().to_string();

    // network inspect: both IPAM entries, EnableIPv6; ls unchanged.
    let cfg = e.ok(&["network", "inspect", "-f", "{{json .IPAM.Config}}", &net]);
    assert!(cfg.contains(&format!("\"Subnet\":\"{p4}.0/24\"")), "{cfg}");
    assert!(cfg.contains(&format!("\"Subnet\":\"{sub6}\"")), "{cfg}");
    assert!(cfg.contains(&format!("\"Gateway\":\"{p6}1\"")), "{cfg}");
    assert_eq!(
        e.ok(&["network", "inspect", "-f", "{{.EnableIPv6}}", &net])
            .trim(),
        "true"
    );
    let ls = e.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID"), "{ls}");
    assert!(ls.contains(&net), "{ls}");
    // The bridge holds the v6 gateway, usable at once (no DAD).
    let br = Command::new("ip")
        .args(["-6", "-o", "addr", "show", "dev", &bridge])
        .output()
        .unwrap();
    let gw_line = text(&br.stdout)
        .lines()
        .find(|l| l.contains(&format!("{p6}1/64")))
        .map(String::from);
    assert!(
        gw_line.as_ref().is_some_and(|l| !l.contains("tentative")),
        "{}",
        show(&br)
    );
    assert!(nft_chain_in("ip6", &format!("post-{}", &net_id[..12])));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding")
            .unwrap()
            .trim(),
        "1"
    );

    let (port6, port_both) = (free_port(), free_port());
    let web = e.run_d(&[
        "--name",
        "web",
        "--network",
        &net,
        "-p",
        &format!("[::]:{port6}:80"),
        "-p",
        &format!("{port_both}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let short = web[..12].to_string();
    let client_ip6 = format!("{p6}99");
    e.run_d(&[
        "--name",
        "client",
        "--network",
        &net,
        "--ip6",
        &client_ip6,
        "busybox",
        "sleep",
        "300",
    ]);

    // inspect: the lowest free address after the gateway, the prefix, the gateway.
    let web6 = format!("{p6}2");
    assert_eq!(
        e.inspect_f("web", "{{.NetworkSettings.GlobalIPv6Address}}"),
        web6
    );
    assert_eq!(
        e.inspect_f("web", "{{.NetworkSettings.GlobalIPv6PrefixLen}}"),
        "64"
    );
    assert_eq!(
        e.inspect_f("web", "{{.NetworkSettings.IPv6Gateway}}"),
        format!("{p6}1")
    );
    let per_net = e.inspect_f("client", "{{json .NetworkSettings.Networks}}");
    assert!(
        per_net.contains(&format!("\"GlobalIPv6Address\":\"{client_ip6}\"")),
        "{per_net}"
    );
    assert!(
        per_net.contains(&format!("\"IPv6Address\":\"{client_ip6}\"")),
        "IPAMConfig: {per_net}"
    );
    let members = e.ok(&["network", "inspect", "-f", "{{json .Containers}}", &net]);
    assert!(
        members.contains(&format!("\"IPv6Address\":\"{web6}/64\"")),
        "{members}"
    );

    // In the container: its address, the default route via the gateway, /etc/hosts.
    assert_eq!(global_v6(&e, "client"), vec![format!("{client_ip6}/64")]);
    let routes = e.ok(&["exec", "client", "ip", "-6", "route"]);
    assert!(
        routes.contains(&format!("default via {p6}1 dev eth0")),
        "{routes}"
    );
    let hosts = e.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{web6}\t{short}\n")), "{hosts}");
    assert!(hosts.contains(&format!("{p4}.2\t{short}\n")), "{hosts}");

    // Container to container over IPv6: ping, and HTTP by address.
    let ping = e.berth(&["exec", "client", "ping", "-c", "3", "-W", "2", &web6]);
    assert!(ping.status.success(), "{}", show(&ping));
    let get =
        format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {web6} 80 | tail -n 1");
    let mut body = String::new();
    let served = wait_until(T30, || {
        body = text(&e.berth(&["exec", "client", "sh", "-c", &get]).stdout);
        body.trim() == short
    });
    assert!(served, "HTTP over IPv6 from client: {body:?}");

    // The embedded DNS answers AAAA with the v6 address (and A with the v4 one).
    let ns = e.ok(&["exec", "client", "nslookup", "-type=AAAA", "web"]);
    assert!(ns.contains(&web6), "{ns}");
    let ns = e.ok(&["exec", "client", "nslookup", "-type=A", "web"]);
    assert!(ns.contains(&format!("{p4}.2")), "{ns}");

    // Published ports: [::] and a bare -p (both families) reached from the host over
    // IPv6 on the host's own address on the bridge, and on IPv4.
    let ports = e.ok(&["port", "web"]);
    assert!(
        ports.contains(&format!("80/tcp -> [::]:{port6}\n")),
        "{ports}"
    );
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{port_both}\n")),
        "{ports}"
    );
    assert!(
        ports.contains(&format!("80/tcp -> [::]:{port_both}\n")),
        "{ports}"
    );
    let ps = e.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("[::]:{port6}->80/tcp")), "{ps}");
    let url = |port: u16| format!("http://[{p6}1]:{port}/hostname");
    assert_eq!(curl(&url(port6)), Ok(short.clone()));
    assert_eq!(curl(&url(port_both)), Ok(short.clone()));
    assert_eq!(
        curl(&format!("http://127.0.0.1:{port_both}/hostname")),
        Ok(short.clone())
    );
    assert_eq!(container_chains("ip6", &web).len(), 3);
    // From another host over IPv6 (prerouting DNAT, forwarded into the bridge).
    let peer = Peer6::new();
    assert_eq!(peer.get(port6), Ok(short.clone()));
    assert_eq!(peer.get(port_both), Ok(short.clone()));
    drop(peer);
    // Hairpin: from a container on the bridge to the gateway's published port.
    let hairpin =
        format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {p6}1 {port6} | tail -n 1");
    let out = e.ok(&["exec", "client", "sh", "-c", &hairpin]);
    assert_eq!(out.trim(), short, "hairpin over IPv6");

    // [::1] cannot be DNATed: the monitor relays it (TCP only), to the IPv4
    // address, so it needs no IPv6 network; the port is gone with the container.
    let (plain, _) = nets.create(&[]);
    let lo6 = free_port();
    let relayed = e.run_d(&[
        "--network",
        &plain,
        "-p",
        &format!("[::1]:{lo6}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let lo_url = format!("http://[::1]:{lo6}/hostname");
    let answered =
        common::host::wait_until(std::time::Duration::from_secs(10), || curl(&lo_url).is_ok());
    assert!(answered, "[::1]:{lo6}: {:?}", curl(&lo_url));
    assert_eq!(curl(&lo_url), Ok(relayed[..12].to_string()));
    assert_eq!(
        e.ok(&["port", &relayed]).trim(),
        format!("80/tcp -> [::1]:{lo6}")
    );
    let err = e.fails(
        &[
            "run",
            "--rm",
            "--network",
            &plain,
            "-p",
            &format!("[::1]:{lo6}:80"),
            "busybox",
            "true",
        ],
        125,
    );
    assert!(
        err.contains("another berth container publishes it"),
        "{err}"
    );
    let err = e.fails(
        &[
            "create",
            "--network",
            &plain,
            "-p",
            "[::1]:5353:53/udp",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("userland TCP proxy"), "{err}");
    e.ok(&["rm", "-f", &relayed]);
    assert!(curl(&lo_url).is_err(), "[::1]:{lo6} still answers after rm");
    // A network without IPv6 refuses a v6 host address and --ip6.
    let err = e.fails(
        &[
            "run",
            "-d",
            "--network",
            &plain,
            "-p",
            &format!("[::]:{}:80", free_port()),
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("has no IPv6"), "{err}");
    let err = e.fails(
        &[
            "create",
            "--network",
            &plain,
            "--ip6",
            &client_ip6,
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("has no IPv6"), "{err}");

    // rm -f: the v6 port chains and the allocations go.
    e.ok(&["rm", "-f", "web", "client"]);
    assert!(
        container_chains("ip6", &web).is_empty(),
        "{:?}",
        container_chains("ip6", &web)
    );
    assert!(container_chains("ip", &web).is_empty());
    let members = e.ok(&["network", "inspect", "-f", "{{json .Containers}}", &net]);
    assert_eq!(members.trim(), "{}");

    // network rm: the network's ip6 chains and the bridge go.
    e.ok(&["network", "rm", &net]);
    for c in ["post", "fwd", "in"] {
        let chain = format!("{c}-{}", &net_id[..12]);
        assert!(!nft_chain_in("ip6", &chain), "{chain} left in ip6 berth");
        assert!(!nft_chain_in("ip", &chain), "{chain} left in ip berth");
    }
    assert!(gone(&bridge));
}

#[test]
fn a_pooled_namespace_gets_only_the_new_v6_address() {
    let Some(e) = Engine::new("net_ipv6_pool") else {
        return;
    };
    let nets = Nets::new(&e);
    let p6 = random_ula();
    let (net, _) = nets.create(&["--ipv6", "--subnet", &format!("{p6}/64")]);
    let net_id = e.ok(&["network", "inspect", "-f", "{{.Id}}", &net]);
    let pool = e.runroot.join("netns-pool").join(net_id.trim());
    let idle = || {
        std::fs::read_dir(&pool)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("vp"))
                    .count()
            })
            .unwrap_or(0)
    };

    // The first container had ::2; its namespace goes to the pool without it.
    e.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip6",
        &format!("{p6}7"),
        "busybox",
        "true",
    ]);
    assert!(
        wait_until(Duration::from_secs(10), || idle() == 1),
        "the namespace did not go to the pool"
    );
    // The next one takes it and has its own address and route only.
    e.run_d(&[
        "--name",
        "next",
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(idle(), 0, "the pooled namespace was not taken");
    assert_eq!(global_v6(&e, "next"), vec![format!("{p6}2/64")]);
    let routes = e.ok(&["exec", "next", "ip", "-6", "route"]);
    assert!(
        routes.contains(&format!("default via {p6}1 dev eth0")),
        "{routes}"
    );
    let ping = e.berth(&[
        "exec",
        "next",
        "ping",
        "-c",
        "3",
        "-W",
        "2",
        &format!("{p6}1"),
    ]);
    assert!(ping.status.success(), "{}", show(&ping));
}

#[test]
fn internal_v6_network_and_a_live_connect() {
    let Some(e) = Engine::new("net_ipv6_internal") else {
        return;
    };
    let nets = Nets::new(&e);
    let (a6, b6) = (random_ula(), random_ula());
    let (inner, _) = nets.create(&["--internal", "--ipv6", "--subnet", &format!("{a6}/64")]);
    let (outer, _) = nets.create(&["--ipv6", "--subnet", &format!("{b6}/64")]);
    for name in ["c1", "c2"] {
        e.run_d(&[
            "--name",
            name,
            "--network",
            &inner,
            "busybox",
            "sleep",
            "300",
        ]);
    }
    // Inside an internal network: each other and the gateway (neighbour discovery
    // passes its input chain), over IPv6.
    for target in [format!("{a6}3"), format!("{a6}1")] {
        let ping = e.berth(&["exec", "c1", "ping", "-c", "3", "-W", "2", &target]);
        assert!(ping.status.success(), "{target}: {}", show(&ping));
    }

    // A live connect with --ip6: eth1 gets the address at once.
    let want = format!("{b6}50");
    e.ok(&["network", "connect", "--ip6", &want, &outer, "c1"]);
    assert_eq!(global_v6_of(&e, "c1", "eth1"), vec![format!("{want}/64")]);
    let got = e.inspect_f(
        "c1",
        &format!("{{{{(index .NetworkSettings.Networks \"{outer}\").GlobalIPv6Address}}}}"),
    );
    assert_eq!(got, want);
    let ping = e.berth(&[
        "exec",
        "c1",
        "ping",
        "-c",
        "3",
        "-W",
        "2",
        &format!("{b6}1"),
    ]);
    assert!(ping.status.success(), "{}", show(&ping));
    let hosts = e.ok(&["exec", "c1", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{want}\t")), "{hosts}");
    e.ok(&["network", "disconnect", &outer, "c1"]);
    let members = e.ok(&["network", "inspect", "-f", "{{json .Containers}}", &outer]);
    assert_eq!(members.trim(), "{}");
    assert!(global_v6_of(&e, "c1", "eth0").len() == 1);
}
