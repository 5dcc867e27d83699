//! The embedded DNS of user-defined networks (issue 6): containers reach each other
//! by name, short id and `--network-alias` with real HTTP (busybox httpd and wget),
//! names do not resolve across networks that are not shared, other names go to the
//! upstream (a fake server on 127.0.0.1 that the test starts, never the host's
//! resolvers), and after `rm -f` (also of a container whose monitor was SIGKILLed)
//! no record, allocation, link, namespace file or server process is left. Traffic
//! stays inside bridges these tests make, on 10.199.X.0/24 subnets.

mod common;

use common::engine::{show, text, Engine, T30};
use common::host::wait_until;
use common::nets::{dns_servers, gone, FakeUpstream, Nets};

/// busybox httpd serving `body` on port 80.
fn httpd(e: &Engine, args: &[&str], body: &str) -> String {
    let script = format!("mkdir -p /w && echo {body} > /w/index.html && exec httpd -f -p 80 -h /w");
    let mut a: Vec<&str> = args.to_vec();
    a.extend_from_slice(&["busybox", "sh", "-c", &script]);
    e.run_d(&a)
}

/// `wget` from `ctr`; retried briefly only while httpd may still be starting.
fn wget(e: &Engine, ctr: &str, url: &str) -> std::process::Output {
    let mut last = e.berth(&["exec", ctr, "wget", "-qO-", url]);
    let _ = wait_until(T30, || {
        if last.status.success() || !text(&last.stderr).contains("refused") {
            return true;
        }
        last = e.berth(&["exec", ctr, "wget", "-qO-", url]);
        false
    });
    last
}

fn record_files(e: &Engine) -> Vec<String> {
    std::fs::read_dir(e.runroot.join("dns"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect()
}

#[test]
fn names_aliases_forwarding_and_nothing_left() {
    let Some(e) = Engine::new("dns_names") else {
        return;
    };
    let up = FakeUpstream::start(&[("outside.test", [192, 0, 2, 77])]);
    *e.dns_upstream.borrow_mut() = up.addr.clone();
    let nets = Nets::new(&e);
    let a = nets.create(&[]);
    let b = nets.create(&[]);

    let web = httpd(
        &e,
        &[
            "--name",
            "web",
            "--network",
            &a.name,
            "--network-alias",
            "www",
        ],
        "hello-from-web",
    );
    e.run_d(&[
        "--name",
        "client",
        "--network",
        &a.name,
        "busybox",
        "sleep",
        "300",
    ]);
    e.run_d(&[
        "--name",
        "stranger",
        "--network",
        &b.name,
        "busybox",
        "sleep",
        "300",
    ]);

    // The embedded DNS is the container's only nameserver, on its gateway.
    let resolv = e.ok(&["exec", "client", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.contains(&format!("nameserver {}.1\n", a.prefix)) && resolv.contains("ndots:0"),
        "{resolv}"
    );
    assert_eq!(resolv.matches("nameserver").count(), 1, "{resolv}");

    // By name, by alias and by short id, with a real HTTP request.
    for host in ["web", "www", &web[..12]] {
        let o = wget(&e, "client", &format!("http://{host}/"));
        assert!(o.status.success(), "wget http://{host}/: {}", show(&o));
        assert_eq!(text(&o.stdout).trim(), "hello-from-web");
    }
    let web_ip = e.inspect_f(
        "web",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            a.name
        ),
    );
    let o = e.berth(&["exec", "client", "nslookup", "web"]);
    assert!(text(&o.stdout).contains(&web_ip), "{}", show(&o));
    let dns_names = e.inspect_f(
        "web",
        &format!(
            "{{{{json (index .NetworkSettings.Networks \"{}\").DNSNames}}}}",
            a.name
        ),
    );
    assert_eq!(dns_names, format!("[\"web\",\"www\",\"{}\"]", &web[..12]));

    // Other names go upstream (the fake one) and come back.
    let before = up.queries.load(std::sync::atomic::Ordering::SeqCst);
    let o = e.berth(&["exec", "client", "nslookup", "outside.test"]);
    assert!(text(&o.stdout).contains("192.0.2.77"), "{}", show(&o));
    assert!(up.queries.load(std::sync::atomic::Ordering::SeqCst) > before);
    let o = e.berth(&["exec", "client", "nslookup", "nosuch.test"]);
    assert!(
        !o.status.success() && text(&o.stdout).contains("NXDOMAIN"),
        "{}",
        show(&o)
    );

    // A network not shared: web is unknown there (the upstream does not know it
    // either), and its httpd cannot be reached by name.
    let o = e.berth(&["exec", "stranger", "nslookup", "web"]);
    assert!(
        !o.status.success() && !text(&o.stdout).contains(&web_ip),
        "{}",
        show(&o)
    );
    let o = e.berth(&["exec", "stranger", "wget", "-qO-", "http://web/"]);
    assert!(
        !o.status.success(),
        "stranger reached web by name: {}",
        show(&o)
    );

    // One server for the run root, recording both networks.
    let servers = dns_servers(&e.runroot);
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(record_files(&e).len(), 2);

    // A rename takes effect at once.
    e.ok(&["rename", "client", "client2"]);
    let o = e.berth(&["exec", "web", "nslookup", "client2"]);
    assert!(o.status.success(), "{}", show(&o));
    let o = e.berth(&["exec", "web", "nslookup", "client"]);
    assert!(
        !o.status.success(),
        "the old name still resolves: {}",
        show(&o)
    );

    // Stopping web takes its name away.
    e.ok(&["stop", "-t", "0", "web"]);
    let o = e.berth(&["exec", "client", "nslookup", "web"]);
    assert!(!text(&o.stdout).contains(&web_ip), "{}", show(&o));

    e.ok(&["rm", "-f", "web", "client2", "stranger"]);
    assert!(record_files(&e).is_empty(), "{:?}", record_files(&e));
    assert!(
        wait_until(T30, || dns_servers(&e.runroot).is_empty()),
        "the DNS server outlived its last container: {:?}",
        dns_servers(&e.runroot)
    );
    let _ = (&b, &nets);
}

#[test]
fn a_killed_monitor_and_rm_f_leave_nothing() {
    let Some(e) = Engine::new("dns_killed") else {
        return;
    };
    let nets = Nets::new(&e);
    let a = nets.create(&[]);
    let b = nets.create(&[]);
    let id = e.run_d(&[
        "--name",
        "victim",
        "--network",
        &a.name,
        "--network",
        &b.name,
        "busybox",
        "sleep",
        "300",
    ]);
    let links = [format!("vb{}", &id[..12]), format!("vb{}-1", &id[..10])];
    for l in &links {
        assert!(common::nets::link_exists(l), "{l}");
    }
    assert_eq!(record_files(&e).len(), 2);
    let server = dns_servers(&e.runroot);
    assert_eq!(server.len(), 1);
    let mon = std::fs::read_to_string(e.runroot.join("containers").join(&id).join("monitor.pid"))
        .unwrap();
    let st = std::process::Command::new("kill")
        .args(["-KILL", mon.trim()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(wait_until(T30, || e.status("victim") == "exited"));

    e.ok(&["rm", "-f", "victim"]);
    for l in &links {
        assert!(gone(l), "link {l} left");
    }
    let all = text(
        &std::process::Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(!all.contains(&id[..10]), "{all}");
    assert!(
        !e.runroot.join("netns").join(&id).exists(),
        "netns file left"
    );
    for n in [&a, &b] {
        let v: serde_json::Value =
            serde_json::from_str(&e.ok(&["network", "inspect", &n.name])).unwrap();
        assert!(
            v[0]["Containers"].as_object().unwrap().is_empty(),
            "allocation left: {v}"
        );
    }
    assert!(record_files(&e).is_empty(), "{:?}", record_files(&e));
    assert!(
        wait_until(T30, || !common::host::pid_alive(i64::from(server[0]))),
        "DNS server {} left",
        server[0]
    );
    assert!(e.leftovers(&id).is_empty(), "{:?}", e.leftovers(&id));
}
