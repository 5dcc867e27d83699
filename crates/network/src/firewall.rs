//! Which packet filter carries berth's rules: nftables (its own table, the default)
//! or, on hosts without the `nft` tool, iptables (chains of berth's own, jumped to
//! from the built-in ones). `BERTH_FIREWALL=nftables|iptables` forces one; the CLI
//! sets it from berth.toml's `[network] firewall`, and the processes it starts (the
//! monitor, whose cleanup removes a container's rules) inherit it, so rules are
//! always removed by the backend that added them.

use std::path::Path;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

pub const ENV: &str = "BERTH_FIREWALL";

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|d| Path::new(&d).join(tool).is_file())
}

/// What a `BERTH_FIREWALL` value (or berth.toml's `firewall`) names; `None` for
/// `auto` or nothing.
pub fn parse(v: &str) -> Result<Option<Backend>, String> {
    match v {
        "" | "auto" => Ok(None),
        "nftables" | "nft" => Ok(Some(Backend::Nftables)),
        "iptables" => Ok(Some(Backend::Iptables)),
        _ => Err(format!(
            "unknown firewall {v:?}: use auto, nftables or iptables"
        )),
    }
}

/// The backend, decided once per process: forced by the environment, else nftables
/// when `nft` is installed, else iptables when it is, else nftables (whose absence
/// the first rule load then reports, naming the package).
pub fn backend() -> Backend {
    static CHOSEN: OnceLock<Backend> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let forced = std::env::var(ENV)
            .ok()
            .and_then(|v| parse(&v).ok().flatten());
        forced.unwrap_or_else(|| {
            if !on_path("nft") && on_path("iptables") {
                Backend::Iptables
            } else {
                Backend::Nftables
            }
        })
    })
}

pub fn uses_iptables() -> bool {
    backend() == Backend::Iptables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse("auto"), Ok(None));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("iptables"), Ok(Some(Backend::Iptables)));
        assert_eq!(parse("nftables"), Ok(Some(Backend::Nftables)));
        assert!(parse("ufw").is_err());
    }
}
