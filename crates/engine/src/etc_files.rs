//! The /etc/hostname, /etc/hosts and /etc/resolv.conf a container sees, generated into
//! its directory and bind-mounted, as Docker does.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::model::Settings;

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    fs::write(&p, text).ctx(|| format!("writing {}", p.display()))
}

/// `ip`: the container's address on its bridge network, which its hostname resolves
/// to as in Docker (127.0.1.1 without one).
pub fn hosts(s: &Settings, ip: Option<Ipv4Addr>) -> String {
    let mut t = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in &s.host_config.extra_hosts {
        if let Some((name, ip)) = h.split_once(':') {
            t.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if s.host_config.network_mode != "host" {
        let host = &s.config.hostname;
        let addr = ip.map_or_else(|| "127.0.1.1".to_string(), |ip| ip.to_string());
        if s.config.domainname.is_empty() {
            t.push_str(&format!("{addr}\t{host}\n"));
        } else {
            t.push_str(&format!("{addr}\t{host}.{} {host}\n", s.config.domainname));
        }
    }
    t
}

/// The host's resolv.conf with loopback nameservers removed (they would point at the
/// container itself), plus `--dns`, `--dns-search`, `--dns-option`.
pub fn resolv_conf(s: &Settings, host: &str) -> String {
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

pub fn write_all(dir: &Path, s: &Settings, ip: Option<Ipv4Addr>) -> Result<()> {
    write(dir, "hostname", &format!("{}\n", s.config.hostname))?;
    write(dir, "hosts", &hosts(s, ip))?;
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(dir, "resolv.conf", &resolv_conf(s, &host))
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
            resolv_conf(&s, host),
            "search corp\nnameserver 10.0.0.1\noptions ndots:2\n"
        );
        s.host_config.dns = vec!["9.9.9.9".into()];
        s.host_config.dns_search = vec!["a.b".into()];
        assert!(resolv_conf(&s, host).contains("nameserver 9.9.9.9\n"));
        assert!(resolv_conf(&s, host).starts_with("search a.b\n"));
    }

    #[test]
    fn hosts_has_the_hostname_and_extra_hosts() {
        let mut s = Settings::default();
        s.config.hostname = "web".into();
        s.host_config.extra_hosts = vec!["db:10.1.2.3".into()];
        let h = hosts(&s, None);
        assert!(h.contains("10.1.2.3\tdb\n"));
        assert!(h.contains("127.0.1.1\tweb\n"));
        let h = hosts(&s, Some(Ipv4Addr::new(10, 199, 1, 2)));
        assert!(h.contains("10.199.1.2\tweb\n"));
        assert!(!h.contains("127.0.1.1"));
    }
}
