//! IPv6 subnets of `--ipv6` networks: parsing, the arithmetic IPAM needs, and the
//! unique local /64 a network gets when no v6 `--subnet` is given.

use std::fmt;
use std::net::Ipv6Addr;

use crate::error::{NetError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Subnet6 {
    /// Parses `X::/N`; host bits must be zero, as for IPv4 subnets.
    pub fn parse(s: &str) -> Result<Subnet6> {
        let bad = |why: &str| NetError::invalid(format!("subnet {s:?}"), why.to_string());
        let (a, p) = s.split_once('/').ok_or_else(|| bad("expected X::/N"))?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad("not an IPv6 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        // Room for the gateway and at least a few containers.
        if !(8..=124).contains(&prefix) {
            return Err(bad("the prefix length must be between 8 and 124"));
        }
        let net = Subnet6 { addr, prefix };
        if net.network() != addr {
            return Err(bad(&format!(
                "host bits are set; did you mean {}/{prefix}?",
                net.network()
            )));
        }
        Ok(net)
    }

    fn mask(&self) -> u128 {
        u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask())
    }

    /// The last address of the subnet.
    pub fn last(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.network())
    }

    /// Addresses a host may have: all but the subnet-router anycast address (the
    /// subnet's own; IPv6 has no broadcast address).
    pub fn is_host(&self, ip: Ipv6Addr) -> bool {
        self.contains(ip) && ip != self.network()
    }

    /// Docker's default gateway: the first address after the subnet's own.
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network()) + 1)
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let p = self.prefix.min(other.prefix);
        let m = u128::MAX.checked_shl(128 - u32::from(p)).unwrap_or(0);
        u128::from(self.addr) & m == u128::from(other.addr) & m
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Unique local /64s for a network created without a v6 `--subnet`, best first:
/// RFC 4193's `fd` + 40-bit global id + 16-bit subnet id, the global id taken from the
/// network's (random) id, so the choice is deterministic per network and two hosts
/// (or stores) rarely pick the same one; later candidates walk on through the id.
pub fn ula_candidates(network_id: &str) -> Vec<Subnet6> {
    let bytes = hex::decode(network_id).unwrap_or_default();
    bytes
        .windows(7)
        .map(|w| {
            let mut o = [0u8; 16];
            o[0] = 0xfd;
            o[1..8].copy_from_slice(w);
            Subnet6 {
                addr: Ipv6Addr::from(o),
                prefix: 64,
            }
        })
        .collect()
}

/// The host's IPv6 routes (from /proc/net/ipv6_route) other than the default route,
/// which an automatically chosen subnet must not shadow.
pub fn host_routes6() -> Vec<Subnet6> {
    let text = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dst = u128::from_str_radix(f.first()?, 16).ok()?;
            let prefix = u8::from_str_radix(f.get(1)?, 16).ok()?;
            (prefix > 0).then(|| Subnet6 {
                addr: Ipv6Addr::from(dst),
                prefix,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet6_math() {
        let s = Subnet6::parse("fd00:1:2:3::/64").unwrap();
        assert_eq!(s.first_host(), "fd00:1:2:3::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            s.last(),
            "fd00:1:2:3:ffff:ffff:ffff:ffff"
                .parse::<Ipv6Addr>()
                .unwrap()
        );
        assert!(s.is_host("fd00:1:2:3::9".parse().unwrap()));
        assert!(!s.is_host("fd00:1:2:3::".parse().unwrap()));
        assert!(!s.contains("fd00:1:2:4::1".parse().unwrap()));
        assert!(Subnet6::parse("fd00:1:2:3::1/64").is_err());
        assert!(Subnet6::parse("fd00::/127").is_err());
        assert!(Subnet6::parse("10.0.0.0/8").is_err());
        assert!(Subnet6::parse("fd00::/48")
            .unwrap()
            .overlaps(&Subnet6::parse("fd00:0:0:5::/64").unwrap()));
        assert!(!Subnet6::parse("fd00:0:0:6::/64")
            .unwrap()
            .overlaps(&Subnet6::parse("fd00:0:0:5::/64").unwrap()));
    }

    #[test]
    fn ula_candidates_are_deterministic_unique_local_64s() {
        let id = "0123456789abcdef".repeat(4);
        let c = ula_candidates(&id);
        assert!(c.len() > 10);
        assert_eq!(c[0].to_string(), "fd01:2345:6789:abcd::/64");
        assert_eq!(c, ula_candidates(&id));
        assert!(c
            .iter()
            .all(|s| s.addr.octets()[0] == 0xfd && s.prefix == 64));
    }
}
