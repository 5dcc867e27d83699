//! Published ports (issue 6): `-p ip:host:ctr`, `-p host:ctr` on every address, `-P`,
//! host port ranges, `port`/`ps`/`inspect`, real HTTP requests from the host's
//! loopback, from another "host" (a network namespace this test makes, wired to the
//! host by a veth pair) and from a container on the same bridge (hairpin), conflicts
//! refused, and no rule or file left after `rm -f` or a killed monitor. Traffic stays
//! on 127.0.0.1 and on subnets of 10.199.0.0/16 that no host route uses.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::engine::{show, Engine};
use common::net::*;

/// `GET /hostname` from busybox httpd serving /etc; the body, or the error.
fn http_get(addr: &str, port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(
        &format!("{addr}:{port}").parse().unwrap(),
        Duration::from_secs(3),
    )
    .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /hostname HTTP/1.0\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let body = buf
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string();
    if buf.starts_with("HTTP/1.") && buf.contains(" 200 ") {
        Ok(body)
    } else {
        Err(format!("unexpected response: {buf:?}"))
    }
}

/// Another "host": a network namespace joined to this one by a veth pair on its own
/// /24, removed on drop.
struct Peer {
    ns: String,
    host_if: String,
    host_ip: String,
}

impl Peer {
    fn new() -> Peer {
        let tag = random_hex(6);
        let prefix = free_subnet();
        let p = Peer {
            ns: format!("btp{tag}"),
            host_if: format!("btph{tag}"),
            host_ip: format!("{prefix}.1"),
        };
        let peer_if = format!("btpp{tag}");
        let peer_ip = format!("{prefix}.2");
        for args in [
            vec!["netns", "add", &p.ns],
            vec![
                "link", "add", &p.host_if, "type", "veth", "peer", "name", &peer_if,
            ],
            vec!["link", "set", &peer_if, "netns", &p.ns],
            vec![
                "addr",
                "add",
                &format!("{}/24", p.host_ip),
                "dev",
                &p.host_if,
            ],
            vec!["link", "set", &p.host_if, "up"],
            vec![
                "-n",
                &p.ns,
                "addr",
                "add",
                &format!("{peer_ip}/24"),
                "dev",
                &peer_if,
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
            // curl: the static busybox's wget crashes resolving names on the host.
            .args(["netns", "exec", &self.ns, "curl", "-sf", "-m", "5"])
            .arg(format!("http://{}:{port}/hostname", self.host_ip))
            .output()
            .unwrap();
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        } else {
            Err(show(&o))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn container_chains(id: &str) -> Vec<String> {
    ["pre-c", "out-c", "pst-c"]
        .iter()
        .map(|c| format!("{c}{}", &id[..12]))
        .filter(|c| nft_chain_exists(c))
        .collect()
}

#[test]
fn published_ports_reach_the_container_and_leave_nothing() {
    let Some(e) = Engine::new("net_ports") else {
        return;
    };
    let nets = Nets::new(&e);
    let (net, prefix) = nets.create(&[]);
    let (lo_port, all_port) = (free_port(), free_port());
    let range_start = free_port();
    // Held by a host process: the range must skip it.
    let held = TcpListener::bind((Ipv4Addr::UNSPECIFIED, range_start)).unwrap();
    let web = e.run_d(&[
        "--name",
        "web",
        "--network",
        &net,
        "-p",
        &format!("127.0.0.1:{lo_port}:80"),
        "-p",
        &format!("{all_port}:80"),
        "-p",
        &format!("{range_start}-{}:80", range_start + 20),
        "-P",
        "--expose",
        "81",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let short = web[..12].to_string();

    // From the host's loopback, on both bindings.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut got = http_get("127.0.0.1", lo_port);
    while got.is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        got = http_get("127.0.0.1", lo_port);
    }
    assert_eq!(got, Ok(short.clone()), "127.0.0.1:{lo_port}");
    assert_eq!(http_get("127.0.0.1", all_port), Ok(short.clone()));
    // The host ports are held while the container runs: a host process that binds
    // one later is told so, instead of never seeing a connection.
    for p in [lo_port, all_port] {
        let err = TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "port {p}: {err}");
    }

    // `port`, `ps` and `inspect` agree on what was chosen.
    let ports = e.ok(&["port", "web"]);
    assert!(
        ports.contains(&format!("80/tcp -> 127.0.0.1:{lo_port}\n")),
        "{ports}"
    );
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{all_port}\n")),
        "{ports}"
    );
    let ranged: u16 = ports
        .lines()
        .filter_map(|l| l.strip_prefix("80/tcp -> 0.0.0.0:"))
        .map(|p| p.parse().unwrap())
        .find(|p| (range_start..=range_start + 20).contains(p))
        .unwrap_or_else(|| panic!("no port of the range in {ports}"));
    assert_ne!(ranged, range_start, "the held port must be skipped");
    let random: u16 = ports
        .lines()
        .find_map(|l| l.strip_prefix("81/tcp -> 0.0.0.0:"))
        .unwrap_or_else(|| panic!("-P did not publish 81: {ports}"))
        .parse()
        .unwrap();
    assert!(random > 0);
    assert_eq!(e.ok(&["port", "web", "80/tcp"]).lines().count(), 3);
    let code = e.fails(&["port", "web", "82"], 1);
    assert!(code.contains("no public port '82/tcp'"), "{code}");
    let ps = e.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{lo_port}->80/tcp")), "{ps}");
    let insp = e.inspect_f("web", "{{json .NetworkSettings.Ports}}");
    assert!(
        insp.contains(&format!("\"HostPort\":\"{all_port}\"")),
        "{insp}"
    );
    drop(held);
    assert_eq!(http_get("127.0.0.1", ranged), Ok(short.clone()));

    // From another host, on the address it reaches this one by; not on the
    // loopback-only binding.
    let peer = Peer::new();
    assert_eq!(peer.get(all_port), Ok(short.clone()));
    assert!(
        peer.get(lo_port).is_err(),
        "127.0.0.1-only port reached from outside"
    );

    // From a container on the same bridge, through the gateway's published port.
    // nc: Debian's static busybox wget crashes.
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {prefix}.1 {all_port}"),
    ]);
    let out = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    assert_eq!(out.trim(), short);

    // Conflicts: the same address and port, and a port a host process holds.
    let err = e.fails(
        &[
            "run",
            "-d",
            "--network",
            &net,
            "-p",
            &format!("{all_port}:80"),
            "busybox",
            "true",
        ],
        125,
    );
    assert!(
        err.contains("another berth container publishes it"),
        "{err}"
    );
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let hp = held.local_addr().unwrap().port();
    let err = e.fails(
        &[
            "run",
            "-d",
            "--network",
            &net,
            "-p",
            &format!("127.0.0.1:{hp}:80"),
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("a host process is bound to it"), "{err}");

    // rm -f takes the rules and the record with it.
    assert_eq!(container_chains(&web).len(), 3);
    e.ok(&["rm", "-f", "web"]);
    assert!(
        container_chains(&web).is_empty(),
        "chains left: {:?}",
        container_chains(&web)
    );
    assert!(http_get("127.0.0.1", lo_port).is_err());
    assert!(
        common::host::wait_until(Duration::from_secs(5), || {
            TcpListener::bind((Ipv4Addr::LOCALHOST, lo_port)).is_ok()
        }),
        "port {lo_port} still held after rm -f"
    );
    assert!(!e
        .runroot
        .join("containers")
        .join(&web)
        .join("ports.json")
        .exists());

    // A killed monitor: the rules stay until the cleanup (`rm -f`) runs.
    let port3 = free_port();
    let id = e.run_d(&[
        "--network",
        &net,
        "-p",
        &format!("127.0.0.1:{port3}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let mon = std::fs::read_to_string(e.runroot.join("containers").join(&id).join("monitor.pid"))
        .unwrap();
    assert!(Command::new("kill")
        .args(["-KILL", mon.trim()])
        .status()
        .unwrap()
        .success());
    e.ok(&["rm", "-f", &id]);
    assert!(
        container_chains(&id).is_empty(),
        "chains left after a killed monitor"
    );
    assert!(http_get("127.0.0.1", port3).is_err());
}

#[test]
fn publish_flags_are_checked_before_anything_is_stored() {
    let Some(e) = Engine::new("net_ports_flags") else {
        return;
    };
    for bad in ["0", "70000:80", "1.2.3:80:80", "80/icmp", "8000-8002:80-81"] {
        let err = e.fails(&["create", "-p", bad, "busybox", "true"], 125);
        assert!(err.contains("--publish"), "{bad}: {err}");
    }
    assert!(
        e.container_ids().is_empty(),
        "a refused create stored a container"
    );
    // Host networking discards published ports with Docker's warning.
    let o = e.berth(&["create", "--network", "host", "-p", "80", "busybox", "true"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Published ports are discarded"));
}

/// berth.toml's `publish = "localhost"` and `publish_address = "127.0.0.1"`: a bare
/// `-p` lands on loopback, other addresses are refused before anything is stored,
/// and a container created under a looser policy does not start under `"none"`.
#[test]
fn the_publish_policy_in_berth_toml_is_enforced() {
    let Some(e) = Engine::new("net_ports_policy") else {
        return;
    };
    let nets = Nets::new(&e);
    let (net, _) = nets.create(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("berth.toml");
    let with = |policy: &str, args: &[&str]| {
        std::fs::write(
            &cfg,
            format!("[network]\npublish = \"{policy}\"\npublish_address = \"127.0.0.1\"\n"),
        )
        .unwrap();
        e.cmd(args).env("BERTH_CONFIG", &cfg).output().unwrap()
    };

    let port = free_port();
    let p = format!("{port}:80");
    let web = [
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &net,
        "-p",
        &p,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ];
    let o = with("localhost", &web);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        e.ok(&["port", "web"]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    let body = http_get("127.0.0.1", port);
    assert!(body.is_ok(), "{body:?}");

    let before = e.container_ids();
    let open = format!("0.0.0.0:{}:80", free_port());
    for args in [
        vec!["create", "--network", &net, "-p", &open, "busybox"],
        vec![
            "create",
            "--network",
            &net,
            "-p",
            "10.199.0.1:8080:80",
            "busybox",
        ],
    ] {
        let o = with("localhost", &args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("[network] publish"), "{err}");
    }
    let o = with(
        "none",
        &[
            "create",
            "--network",
            &net,
            "-P",
            "--expose",
            "80",
            "busybox",
        ],
    );
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    assert_eq!(
        e.container_ids(),
        before,
        "a refused create stored a container"
    );

    // Tightened after the container was made: it no longer starts.
    e.ok(&["stop", "-t", "0", "web"]);
    let o = with("none", &["start", "web"]);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("publishing ports is turned off"),
        "{}",
        show(&o)
    );
    let o = with("all", &["start", "web"]);
    assert!(o.status.success(), "{}", show(&o));
}
