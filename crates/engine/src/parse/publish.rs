//! `-p/--publish [ip:][hostPort:]containerPort[/proto]` (an IPv6 `ip` in brackets,
//! `[::]:8080:80`) into Docker's `PortBindings`
//! shape: container port key (`80/tcp`) to host bindings. Ranges pair up one to one
//! (`8000-8001:80-81`); a host range with one container port (`8000-8010:80`) is kept
//! as a range, from which the first free port is taken at start.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{EngineError, Result};
use crate::model::PortBinding;

fn bad(spec: &str, why: &str) -> EngineError {
    EngineError::invalid(format!("--publish {spec:?}"), why)
}

fn range(s: &str, spec: &str) -> Result<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |x: &str| -> Result<u16> {
        match x.parse::<u16>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(bad(spec, &format!("{x:?} is not a port number (1-65535)"))),
        }
    };
    let (a, b) = (p(a)?, p(b)?);
    if b < a {
        return Err(bad(spec, &format!("the range {s} ends before it starts")));
    }
    Ok((a, b))
}

/// Adds one `-p` value's bindings to `out`.
pub fn parse_publish(spec: &str, out: &mut BTreeMap<String, Vec<PortBinding>>) -> Result<()> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad(spec, "the protocol is tcp, udp or sctp"));
    }
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, after) = r
                .split_once(']')
                .ok_or_else(|| bad(spec, "an IPv6 address ends with ]"))?;
            let v6: Ipv6Addr = ip
                .parse()
                .map_err(|_| bad(spec, &format!("{ip:?} is not an IPv6 address")))?;
            if v6.is_loopback() && proto != "tcp" {
                return Err(bad(
                    spec,
                    "[::1] is served by a userland TCP proxy (the kernel cannot DNAT IPv6 \
                     loopback): publish UDP or SCTP on 127.0.0.1 or [::]",
                ));
            }
            let after = after
                .strip_prefix(':')
                .ok_or_else(|| bad(spec, "use [IPV6]:[HOST_PORT]:CONTAINER_PORT"))?;
            (Some(v6.to_string()), after)
        }
        None => (None, rest),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match (ip.as_deref(), parts.as_slice()) {
        (None, [c]) => ("", "", *c),
        (None, [h, c]) => ("", *h, *c),
        (None, [i, h, c]) => (*i, *h, *c),
        (Some(i), [h, c]) => (i, *h, *c),
        _ => return Err(bad(spec, "use [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]")),
    };
    if !ip.is_empty() && !ip.contains(':') && ip.parse::<Ipv4Addr>().is_err() {
        return Err(bad(spec, &format!("{ip:?} is not an IPv4 address")));
    }
    let (c0, c1) = range(ctr, spec)?;
    let hosts = if host.is_empty() {
        None
    } else {
        Some(range(host, spec)?)
    };
    let count = c1 - c0;
    let host_port = |i: u16| -> String {
        match hosts {
            None => String::new(),
            // One container port: the whole host range is a choice.
            Some((h0, h1)) if count == 0 && h1 > h0 => format!("{h0}-{h1}"),
            Some((h0, _)) => (h0 + i).to_string(),
        }
    };
    if let Some((h0, h1)) = hosts {
        if count > 0 && h1 - h0 != count {
            return Err(bad(
                spec,
                "the host and container port ranges must be the same length",
            ));
        }
    }
    for i in 0..=count {
        out.entry(format!("{}/{proto}", c0 + i))
            .or_default()
            .push(PortBinding {
                host_ip: ip.to_string(),
                host_port: host_port(i),
            });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(specs: &[&str]) -> Result<Vec<(String, String, String)>> {
        let mut m = BTreeMap::new();
        for s in specs {
            parse_publish(s, &mut m)?;
        }
        Ok(m.into_iter()
            .flat_map(|(k, v)| {
                v.into_iter()
                    .map(move |b| (k.clone(), b.host_ip, b.host_port))
            })
            .collect())
    }

    fn t(k: &str, ip: &str, port: &str) -> (String, String, String) {
        (k.into(), ip.into(), port.into())
    }

    #[test]
    fn forms() {
        assert_eq!(p(&["80"]).unwrap(), vec![t("80/tcp", "", "")]);
        assert_eq!(p(&["8080:80"]).unwrap(), vec![t("80/tcp", "", "8080")]);
        assert_eq!(
            p(&["127.0.0.1:8080:80/udp"]).unwrap(),
            vec![t("80/udp", "127.0.0.1", "8080")]
        );
        assert_eq!(
            p(&["127.0.0.1::80"]).unwrap(),
            vec![t("80/tcp", "127.0.0.1", "")]
        );
        assert_eq!(
            p(&["8000-8001:80-81"]).unwrap(),
            vec![t("80/tcp", "", "8000"), t("81/tcp", "", "8001")]
        );
        assert_eq!(
            p(&["8000-8010:80"]).unwrap(),
            vec![t("80/tcp", "", "8000-8010")]
        );
        assert_eq!(
            p(&["80-81"]).unwrap(),
            vec![t("80/tcp", "", ""), t("81/tcp", "", "")]
        );
        assert_eq!(
            p(&["[::]:8080:80"]).unwrap(),
            vec![t("80/tcp", "::", "8080")]
        );
        assert_eq!(
            p(&["[fd00:0::5]::80/udp"]).unwrap(),
            vec![t("80/udp", "fd00::5", "")]
        );
        // The same container port twice binds twice.
        assert_eq!(p(&["1:80", "2:80"]).unwrap().len(), 2);
    }

    #[test]
    fn errors() {
        for s in [
            "0",
            "70000",
            "x:80",
            "1.2.3:80:80",
            "80/icmp",
            "8000-8002:80-81",
            "90-80",
            "[::1]:80:80/udp",
            "[::]:80",
            "[zz::]:1:80",
            "[::]1:80",
            "a:b:c:d",
            "",
        ] {
            assert!(p(&[s]).is_err(), "{s} should be refused");
        }
    }
}
