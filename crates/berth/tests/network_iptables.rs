//! The iptables fallback (`BERTH_FIREWALL=iptables`, berth.toml's `[network]
//! firewall`): a network's masquerade and isolation chains, a published port reached
//! from the host's loopback and, through the hairpin masquerade, from another
//! container on the bridge, an internal network kept to its bridge, and no chain
//! or jump left after `rm -f` and `network rm`. Nothing goes to nftables' `ip berth`
//! table. Traffic stays on 127.0.0.1 and on subnets of 10.199.0.0/16.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use common::engine::{show, text, Engine};
use common::net::{free_subnet, random_hex};

const FW: (&str, &str) = ("BERTH_FIREWALL", "iptables");

/// The networks and containers of the test, removed with the iptables backend on
/// drop (also after a failed assertion), then any chain of theirs still there.
struct Ipt<'a> {
    e: &'a Engine,
    nets: Vec<String>,
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
        (name, id, prefix)
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
        for (table, chain) in leftovers(&ids, &[]) {
            let _ = Command::new("iptables")
                .args(["-t", &table, "-F", &chain])
                .status();
        }
    }
}

/// berth's chains in iptables that belong to these containers or network ids:
/// (table, chain).
fn leftovers(containers: &[String], networks: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for table in ["filter", "nat"] {
        let o = Command::new("iptables-save")
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

fn rules(table: &str) -> String {
    text(
        &Command::new("iptables")
            .args(["-t", table, "-S"])
            .output()
            .unwrap()
            .stdout,
    )
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16) -> Result<String, String> {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
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
    if Command::new("iptables").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "iptables is not installed (scripts/packages.sh test installs it)"
        );
        eprintln!("SKIPPED: iptables is not installed");
        return;
    }
    let mut t = Ipt {
        e: &e,
        nets: Vec::new(),
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
    let o = t.berth(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &client,
    ]);
    assert!(
        text(&o.stdout).contains(&web[..12]),
        "hairpin: {}",
        show(&o)
    );

    // The internal network reaches its gateway and nothing beyond its bridge.
    let gw_ok = format!("ping -c2 -W2 {ip}.1 >/dev/null && echo gw-ok");
    let o = t.berth(&[
        "run",
        "--rm",
        "--network",
        &inet,
        "busybox",
        "sh",
        "-c",
        &gw_ok,
    ]);
    assert!(text(&o.stdout).contains("gw-ok"), "{}", show(&o));
    let out = format!("ping -c2 -W2 {p}.1 >/dev/null && echo escaped");
    let o = t.berth(&[
        "run",
        "--rm",
        "--network",
        &inet,
        "busybox",
        "sh",
        "-c",
        &out,
    ]);
    assert!(!text(&o.stdout).contains("escaped"), "{}", show(&o));

    t.ok(&["rm", "-f", &web]);
    assert!(
        leftovers(std::slice::from_ref(&web), &[]).is_empty(),
        "{:?}",
        leftovers(std::slice::from_ref(&web), &[])
    );
    assert!(!rules("nat").contains(&format!("BERTH-PRE-C{}", &web[..12])));
    t.ok(&["network", "rm", &net, &inet]);
    t.nets.clear();
    let left = leftovers(&[], &[nid.clone(), iid.clone()]);
    assert!(left.is_empty(), "{left:?}");
    let all = format!("{}{}", rules("filter"), rules("nat"));
    assert!(!all.contains(&nid) && !all.contains(&iid), "{all}");
}
