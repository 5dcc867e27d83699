//! The iptables fallback (`BERTH_FIREWALL=iptables`, berth.toml's `[network]
//! firewall`): a network's masquerade and isolation chains, a published port reached
//! from the host's loopback and, through the hairpin masquerade, from another
//! container on the bridge, an internal network kept to its bridge, and no chain
//! or jump left after `rm -f` and `network rm`. Nothing goes to nftables' `ip berth`
//! table. An `--ipv6` network gets the same chains in ip6tables: a port published on
//! `[::]` (and a bare `-p`, on both families) reached over IPv6 from the host and
//! from another container, ICMPv6 neighbour discovery let into an internal network's
//! gateway, and nothing left in either tool afterwards. Traffic stays on 127.0.0.1,
//! on subnets of 10.199.0.0/16 and on random unique local /64s, all on bridges the
//! tests make.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use common::engine::{show, text, Engine};
use common::net::{free_port, free_subnet, random_hex, random_ula};

const FW: (&str, &str) = ("BERTH_FIREWALL", "iptables");

/// The two tools, whose chains a test checks and cleans.
const TOOLS: [&str; 2] = ["iptables", "ip6tables"];

/// Whether `tool` is installed; under `CI=true` its absence fails the test.
fn installed(tool: &str) -> bool {
    if Command::new(tool).arg("-V").output().is_ok() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{tool} is not installed (scripts/packages.sh test installs it), and CI=true forbids skipping");
    }
    common::gate::loud(&format!("SKIPPED: {tool} is not installed"));
    false
}

/// The networks and containers of the test, removed with the iptables backend on
/// drop (also after a failed assertion), then any chain of theirs still there.
struct Ipt<'a> {
    e: &'a Engine,
    nets: Vec<String>,
    /// The networks' short ids, whose chains are flushed on drop if still there.
    net_ids: Vec<String>,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Ipt<'_> {
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", show(&o));
        text(&o.stdout)
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.e.cmd(args).env(FW.0, FW.1).output().unwrap()
    }

    #[track_caller]
    fn network(&mut self, extra: &[&str]) -> (String, String, String) {
        let name = format!("ipt{}", random_hex(6));
        let prefix = free_subnet();
        let subnet = format!("{prefix}.0/24");
        let mut a = vec!["network", "create", "--subnet", &subnet];
        a.extend_from_slice(extra);
        a.push(&name);
        let id = self.ok(&a).trim()[..12].to_string();
        self.nets.push(name.clone());
        self.net_ids.push(id.clone());
        (name, id, prefix)
    }

    /// `run --rm --network NET busybox sh -c SCRIPT`.
    fn sh(&self, net: &str, script: &str) -> Output {
        self.berth(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "sh",
            "-c",
            script,
        ])
    }

    #[track_caller]
    fn run_d(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let id = self.ok(&a).trim().to_string();
        self.ids.borrow_mut().push(id.clone());
        id
    }
}

impl Drop for Ipt<'_> {
    fn drop(&mut self) {
        let ids = self.ids.borrow().clone();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(ids.iter().map(String::as_str));
            let _ = self.berth(&a);
        }
        for n in &self.nets {
            let _ = self.berth(&["network", "rm", n]);
        }
        for tool in TOOLS {
            for (table, chain) in leftovers(tool, &ids, &self.net_ids) {
                purge(tool, &table, &chain);
            }
        }
    }
}

/// Deletes a chain left behind, with the jumps to it.
fn purge(tool: &str, table: &str, chain: &str) {
    let jump = format!(" -j {chain}");
    for line in rules_of(tool, table).lines() {
        let Some(rule) = line.strip_prefix("-A ").filter(|r| r.ends_with(&jump)) else {
            continue;
        };
        let from = rule.split(' ').next().unwrap_or_default();
        let _ = Command::new(tool)
            .args(["-w", "-t", table, "-D", from, "-j", chain])
            .status();
    }
    for op in ["-F", "-X"] {
        let _ = Command::new(tool)
            .args(["-w", "-t", table, op, chain])
            .status();
    }
}

/// berth's chains in `tool` (iptables, ip6tables) that belong to these containers
/// or network ids: (table, chain).
fn leftovers(tool: &str, containers: &[String], networks: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for table in ["filter", "nat"] {
        let o = Command::new(format!("{tool}-save"))
            .args(["-t", table])
            .output()
            .unwrap();
        for line in text(&o.stdout).lines() {
            let Some(chain) = line.strip_prefix(':').and_then(|l| l.split(' ').next()) else {
                continue;
            };
            let ours = containers.iter().any(|c| chain.ends_with(&c[..12]))
                || networks.iter().any(|n| chain.ends_with(n.as_str()));
            if chain.starts_with("BERTH-") && ours {
                out.push((table.to_string(), chain.to_string()));
            }
        }
    }
    out
}

/// Both tools' leftovers.
fn all_leftovers(containers: &[String], networks: &[String]) -> Vec<(String, String)> {
    TOOLS
        .iter()
        .flat_map(|t| leftovers(t, containers, networks))
        .collect()
}

fn rules(table: &str) -> String {
    rules_of("iptables", table)
}

fn rules_of(tool: &str, table: &str) -> String {
    text(
        &Command::new(tool)
            .args(["-t", table, "-S"])
            .output()
            .unwrap()
            .stdout,
    )
}

fn http_get(port: u16) -> Result<String, String> {
    http_get_at(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

fn http_get_at(addr: SocketAddr) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /hostname HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

#[test]
fn the_iptables_backend_nats_publishes_isolates_and_cleans_up() {
    let Some(e) = Engine::new("net_iptables") else {
        return;
    };
    if !installed("iptables") {
        return;
    }
    let mut t = Ipt {
        e: &e,
        nets: Vec::new(),
        net_ids: Vec::new(),
        ids: Default::default(),
    };
    let (net, nid, p) = t.network(&[]);
    let (inet, iid, ip) = t.network(&["--internal"]);
    let filter = rules("filter");
    let nat = rules("nat");
    assert!(filter.contains(&format!("-j BERTH-FWD-{nid}")), "{filter}");
    assert!(
        nat.contains(&format!("-A BERTH-POST-{nid} -s {p}.0/24 ! -o br-{nid}")),
        "{nat}"
    );
    assert!(
        !nat.contains(&format!("BERTH-POST-{iid} -s")),
        "internal: no NAT: {nat}"
    );
    assert!(
        filter.contains(&format!("-A BERTH-IN-{iid} ! -d {ip}.1/32 -i br-{iid}")),
        "{filter}"
    );
    let nft = Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .output();
    if let Ok(o) = nft {
        assert!(
            !text(&o.stdout).contains(&nid),
            "nothing in nftables' table"
        );
    }

    let (lo_port, any_port) = (free_port(), free_port());
    let lo = format!("127.0.0.1:{lo_port}:80");
    let any = format!("{any_port}:80");
    let web = t.run_d(&[
        "--name",
        "web",
        "--network",
        &net,
        "-p",
        &lo,
        "-p",
        &any,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let nat = rules("nat");
    assert!(
        nat.contains(&format!("-j BERTH-PRE-C{}", &web[..12])),
        "{nat}"
    );
    let body = common::host::wait_until(Duration::from_secs(10), || http_get(lo_port).is_ok());
    assert!(
        body,
        "published 127.0.0.1:{lo_port} answers: {:?}",
        http_get(lo_port)
    );
    assert!(
        http_get(lo_port).unwrap().contains(&web[..12]),
        "the container's hostname"
    );

    // Another container on the bridge reaches the port published on every address
    // through the gateway: DNAT, then the hairpin masquerade.
    let client = format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {p}.1 {any_port}");
    let o = t.sh(&net, &client);
    assert!(
        text(&o.stdout).contains(&web[..12]),
        "hairpin: {}",
        show(&o)
    );

    // The internal network reaches its gateway and nothing beyond its bridge.
    let gw_ok = format!("ping -c2 -W2 {ip}.1 >/dev/null && echo gw-ok");
    let o = t.sh(&inet, &gw_ok);
    assert!(text(&o.stdout).contains("gw-ok"), "{}", show(&o));
    let out = format!("ping -c2 -W2 {p}.1 >/dev/null && echo escaped");
    let o = t.sh(&inet, &out);
    assert!(!text(&o.stdout).contains("escaped"), "{}", show(&o));

    t.ok(&["rm", "-f", &web]);
    let left = all_leftovers(std::slice::from_ref(&web), &[]);
    assert!(left.is_empty(), "{left:?}");
    assert!(!rules("nat").contains(&format!("BERTH-PRE-C{}", &web[..12])));
    t.ok(&["network", "rm", &net, &inet]);
    t.nets.clear();
    let left = all_leftovers(&[], &[nid.clone(), iid.clone()]);
    assert!(left.is_empty(), "{left:?}");
    let all = format!("{}{}", rules("filter"), rules("nat"));
    assert!(!all.contains(&nid) && !all.contains(&iid), "{all}");
}

#[test]
fn the_iptables_backend_handles_ipv6_networks_and_ports() {
    let Some(e) = Engine::new("net_ip6tables") else {
        return;
    };
    if !installed("iptables") || !installed("ip6tables") {
        return;
    }
    let mut t = Ipt {
        e: &e,
        nets: Vec::new(),
        net_ids: Vec::new(),
        ids: Default::default(),
    };
    let (p6, i6) = (random_ula(), random_ula());
    let (net, nid, p) = t.network(&["--ipv6", "--subnet", &format!("{p6}/64")]);
    let (inet, iid, _) = t.network(&["--internal", "--ipv6", "--subnet", &format!("{i6}/64")]);

    // The same chains as IPv4, for the v6 subnets, in ip6tables.
    let filter6 = rules_of("ip6tables", "filter");
    let nat6 = rules_of("ip6tables", "nat");
    assert!(
        filter6.contains(&format!("-j BERTH-FWD-{nid}")),
        "{filter6}"
    );
    assert!(filter6.contains(&format!("-j BERTH-IN-{iid}")), "{filter6}");
    assert!(
        nat6.contains(&format!("-A BERTH-POST-{nid} -s {p6}/64 ! -o br-{nid}")),
        "{nat6}"
    );
    assert!(
        !nat6.contains(&format!("BERTH-POST-{iid} -s")),
        "internal: no NAT: {nat6}"
    );
    assert!(
        filter6.contains(&format!("-A BERTH-IN-{iid} ! -d {i6}1/128 -i br-{iid}")),
        "{filter6}"
    );
    let accepts: Vec<&str> = filter6
        .lines()
        .filter(|l| l.starts_with("-A BERTH-") && l.contains("-j ACCEPT"))
        .collect();
    assert!(accepts.is_empty(), "only DROP or RETURN: {accepts:?}");
    assert!(
        rules("nat").contains(&format!("-A BERTH-POST-{nid} -s {p}.0/24")),
        "IPv4 still NATed"
    );
    if let Ok(o) = Command::new("nft")
        .args(["list", "table", "ip6", "berth"])
        .output()
    {
        assert!(
            !text(&o.stdout).contains(&nid),
            "nothing in nftables' ip6 berth table"
        );
    }

    let (port6, port_both) = (free_port(), free_port());
    let web = t.run_d(&[
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
    let nat6 = rules_of("ip6tables", "nat");
    for c in ["PRE", "OUT", "PST"] {
        assert!(nat6.contains(&format!("-j BERTH-{c}-C{short}")), "{nat6}");
    }
    assert!(
        nat6.contains(&format!("--to-destination [{p6}2]:80")),
        "{nat6}"
    );
    assert!(
        rules("nat").contains(&format!("-j BERTH-PRE-C{short}")),
        "the IPv4 forward of the bare -p"
    );

    // From the host over IPv6, to its own address on the bridge (OUTPUT DNAT), on
    // both ports; and over IPv4 on the bare -p one.
    let gw6: Ipv6Addr = format!("{p6}1").parse().unwrap();
    let at6 = |port| SocketAddr::from((gw6, port));
    let up = common::host::wait_until(Duration::from_secs(10), || http_get_at(at6(port6)).is_ok());
    assert!(up, "[{gw6}]:{port6}: {:?}", http_get_at(at6(port6)));
    for port in [port6, port_both] {
        let body = http_get_at(at6(port));
        assert!(
            body.as_ref().is_ok_and(|b| b.contains(&short)),
            "[{gw6}]:{port}: {body:?}"
        );
    }
    let body = http_get(port_both);
    assert!(body.as_ref().is_ok_and(|b| b.contains(&short)), "{body:?}");

    // Hairpin over IPv6: another container on the bridge, through the gateway.
    let client = format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {p6}1 {port6}");
    let o = t.sh(&net, &client);
    assert!(text(&o.stdout).contains(&short), "hairpin: {}", show(&o));

    // The internal network: neighbour discovery lets its gateway answer over IPv6,
    // and nothing beyond the bridge does.
    let gw_ok = format!("ping -c2 -W2 {i6}1 >/dev/null && echo gw-ok");
    let o = t.sh(&inet, &gw_ok);
    assert!(text(&o.stdout).contains("gw-ok"), "{}", show(&o));
    let out = format!("ping -c2 -W2 {p6}1 >/dev/null && echo escaped");
    let o = t.sh(&inet, &out);
    assert!(!text(&o.stdout).contains("escaped"), "{}", show(&o));

    // rm -f: the container's chains and jumps go from both tools.
    t.ok(&["rm", "-f", &web]);
    let left = all_leftovers(std::slice::from_ref(&web), &[]);
    assert!(left.is_empty(), "{left:?}");
    for tool in TOOLS {
        let nat = rules_of(tool, "nat");
        assert!(!nat.contains(&short), "{tool}: {nat}");
    }

    t.ok(&["network", "rm", &net, &inet]);
    t.nets.clear();
    let left = all_leftovers(&[], &[nid.clone(), iid.clone()]);
    assert!(left.is_empty(), "{left:?}");
    for tool in TOOLS {
        let all = format!("{}{}", rules_of(tool, "filter"), rules_of(tool, "nat"));
        assert!(!all.contains(&nid) && !all.contains(&iid), "{tool}: {all}");
    }
}
