//! The /etc/hostname, /etc/hosts and /etc/resolv.conf a container sees, generated into
//! its directory and bind-mounted, as Docker does.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::model::Settings;

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    fs::write(&p, text).ctx(|| format!("writing {}", p.display()))
}

/// What the /etc files need of the container's networks.
#[derive(Debug, Clone, Default)]
pub struct Networking {
    /// Its addresses on its bridge networks, `eth0`'s first, IPv4 before IPv6.
    pub ips: Vec<IpAddr>,
    /// What `--add-host NAME:host-gateway` means for it.
    pub host_gateway: Option<Ipv4Addr>,
    /// The embedded DNS server's address, when it is on a network that has one.
    pub dns: Option<Ipv4Addr>,
}

/// Docker's special `--add-host` value.
pub const HOST_GATEWAY: &str = "host-gateway";

/// As Docker writes it: localhost, IPv6 names, `--add-host` entries, then the
/// hostname (`host.domain host` with `--domainname`) on each of the container's
/// addresses (127.0.1.1 without one).
pub fn hosts(s: &Settings, n: &Networking) -> String {
    let mut t = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in &s.host_config.extra_hosts {
        if let Some((name, ip)) = h.split_once([':', '=']) {
            let ip = match (ip, n.host_gateway) {
                (HOST_GATEWAY, Some(gw)) => gw.to_string(),
                _ => ip.trim_start_matches('[').trim_end_matches(']').to_string(),
            };
            t.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if s.host_config.network_mode != "host" {
        let host = &s.config.hostname;
        let names = if s.config.domainname.is_empty() {
            host.clone()
        } else {
            format!("{host}.{} {host}", s.config.domainname)
        };
        if n.ips.is_empty() {
            t.push_str(&format!("127.0.1.1\t{names}\n"));
        }
        for ip in &n.ips {
            t.push_str(&format!("{ip}\t{names}\n"));
        }
    }
    t
}

/// The host's resolv.conf with loopback nameservers removed (they would point at the
/// container itself), plus `--dns`, `--dns-search`, `--dns-option`. With the
/// embedded DNS (`embedded`), it is the only nameserver, as 127.0.0.11 is in
/// Docker: the user's `--dns` servers become its upstreams for this container, and
/// `ndots:0` is added unless an ndots option is given.
pub fn resolv_conf(s: &Settings, host: &str, embedded: Option<Ipv4Addr>) -> String {
    let h = &s.host_config;
    let mut servers: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => {
                if let Some(ip) = f.next() {
                    let loopback = ip.starts_with("127.") || ip == "::1";
                    if !loopback || h.network_mode == "host" {
                        servers.push(ip.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => search = f.map(str::to_string).collect(),
            Some("options") => options = f.map(str::to_string).collect(),
            _ => {}
        }
    }
    if !h.dns.is_empty() {
        servers = h.dns.clone();
    }
    if !h.dns_search.is_empty() {
        search = h.dns_search.clone();
    }
    if !h.dns_options.is_empty() {
        options = h.dns_options.clone();
    }
    if let Some(gw) = embedded {
        servers = vec![gw.to_string()];
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.insert(0, "ndots:0".into());
        }
    }
    let mut t = String::new();
    if !search.is_empty() {
        t.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        t.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        t.push_str(&format!("options {}\n", options.join(" ")));
    }
    t
}

pub fn write_all(dir: &Path, s: &Settings, n: &Networking) -> Result<()> {
    write(dir, "hostname", &format!("{}\n", s.config.hostname))?;
    write(dir, "hosts", &hosts(s, n))?;
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(dir, "resolv.conf", &resolv_conf(s, &host, n.dns))
}

/// Rewrites /etc/hosts of a running container (after `network connect` or
/// `disconnect`). `fs::write` truncates the same inode, so the bind mount the
/// container sees shows the new content.
pub fn rewrite_hosts(dir: &Path, s: &Settings, n: &Networking) -> Result<()> {
    write(dir, "hosts", &hosts(s, n))
}

/// Rewrites /etc/resolv.conf of a running container whose embedded DNS server
/// changed (it joined its first DNS network, or left the one it used), in place as
/// [`rewrite_hosts`] does.
pub fn rewrite_resolv_conf(dir: &Path, s: &Settings, dns: Option<Ipv4Addr>) -> Result<()> {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(dir, "resolv.conf", &resolv_conf(s, &host, dns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_and_takes_flags() {
        let mut s = Settings::default();
        s.host_config.network_mode = "none".into();
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(&s, host, None),
            "search corp\nnameserver 10.0.0.1\noptions ndots:2\n"
        );
        s.host_config.dns = vec!["9.9.9.9".into()];
        s.host_config.dns_search = vec!["a.b".into()];
        assert!(resolv_conf(&s, host, None).contains("nameserver 9.9.9.9\n"));
        assert!(resolv_conf(&s, host, None).starts_with("search a.b\n"));
        // The embedded DNS replaces every server (the user's become its upstreams)
        // and keeps the search list and options.
        s.host_config.dns_options = vec!["timeout:3".into()];
        let gw = Ipv4Addr::new(10, 199, 3, 1);
        assert_eq!(
            resolv_conf(&s, host, Some(gw)),
            "search a.b\nnameserver 10.199.3.1\noptions ndots:0 timeout:3\n"
        );
        s.host_config.dns_options = vec!["ndots:2".into()];
        assert!(resolv_conf(&s, host, Some(gw)).ends_with("options ndots:2\n"));
    }

    #[test]
    fn hosts_has_the_hostname_and_extra_hosts() {
        let mut s = Settings::default();
        s.config.hostname = "web".into();
        s.host_config.extra_hosts = vec!["db:10.1.2.3".into(), "gw:host-gateway".into()];
        let h = hosts(&s, &Networking::default());
        assert!(h.contains("10.1.2.3\tdb\n"));
        assert!(h.contains("127.0.1.1\tweb\n"));
        let n = Networking {
            ips: vec![
                Ipv4Addr::new(10, 199, 1, 2).into(),
                Ipv4Addr::new(10, 199, 2, 2).into(),
                "fd00:199::2".parse().unwrap(),
            ],
            host_gateway: Some(Ipv4Addr::new(10, 199, 1, 1)),
            dns: None,
        };
        s.config.domainname = "example.org".into();
        let h = hosts(&s, &n);
        assert!(h.contains("10.199.1.1\tgw\n"), "{h}");
        assert!(h.contains("10.199.1.2\tweb.example.org web\n"), "{h}");
        assert!(h.contains("fd00:199::2\tweb.example.org web\n"), "{h}");
        assert!(h.contains("10.199.2.2\tweb.example.org web\n"), "{h}");
        assert!(!h.contains("127.0.1.1"));
    }
}
