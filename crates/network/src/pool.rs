//! A per-network pool of idle, plumbed network namespaces.
//!
//! Making a namespace and a veth pair for every container, and having the kernel
//! tear them down after it, is most of what a bridge network adds to a short
//! container's life: the teardown waits for RCU grace periods under the rtnl lock,
//! which the next container's setup then waits on. So when a container that cannot
//! have changed its namespace stops, its namespace goes to the pool instead, with
//! its address removed, its `eth0` down and its host end renamed `vp<12 hex>`, still
//! up and on the bridge. With `eth0` down the pair has no carrier, so the bridge
//! disables the port and forgets the addresses it learned there; taking the host end
//! down as well would only add a wait for the kernel's network synchronisation (0.9
//! ms of every bridged `run --rm`). The next container on the network takes it,
//! renames the host end `vb<its id>` and gives `eth0` its own MAC, address and
//! default route (and on an `--ipv6` network its IPv6 address and default route).
//!
//! Pool entries are namespace files under `<run_root>/netns-pool/<network id>/`,
//! named after their idle host end. A berth process takes or returns one under the
//! pool's lock; an entry is handed over by moving its mount to the container's
//! namespace file (and back), or where the kernel refuses the move by bind-mounting
//! it there and unmounting it, so the namespace is never without a file holding it.
//! The pool lives in the run root: a reboot empties it, as it empties the
//! namespaces themselves; `network rm` drains it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::error::{NetError, Result};
use crate::lock::Locked;
use crate::netlink::{self, Netlink};
use crate::{netns, ok_if};

/// Idle namespaces kept per network: enough for a burst of short containers, few
/// enough that an idle host holds little.
pub const MAX_IDLE: usize = 4;

pub fn dir(run_root: &Path, network_id: &str) -> PathBuf {
    run_root.join("netns-pool").join(network_id)
}

fn lock(dir: &Path) -> Result<Locked> {
    std::fs::create_dir_all(dir)
        .map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
    Locked::take(&dir.join(".lock"), true)?.ok_or_else(|| {
        NetError::io(
            "locking the namespace pool",
            std::io::ErrorKind::WouldBlock.into(),
        )
    })
}

/// The idle entries: (file, host end's name).
fn entries(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            name.starts_with("vp").then(|| (e.path(), name))
        })
        .collect()
}

/// Takes an idle namespace of the network onto `target` (the container's namespace
/// file, which must not exist). Returns the idle host end's name, or `None` when the
/// pool is empty. Entries whose host end has gone (removed by hand) are dropped.
pub fn take(run_root: &Path, network_id: &str, target: &Path) -> Result<Option<String>> {
    let dir = dir(run_root, network_id);
    if !dir.exists() {
        return Ok(None);
    }
    let _lock = lock(&dir)?;
    for (file, veth) in entries(&dir) {
        if !netns::is_mounted(&file) || !netlink::exists(&veth) {
            let _ = netns::remove(&file);
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| NetError::io(format!("creating {}", parent.display()), e))?;
        }
        netns::hand_over(&file, target)?;
        return Ok(Some(veth));
    }
    Ok(None)
}

/// What a stopped container's namespace held on its only network.
pub struct Returned<'a> {
    pub network_id: &'a str,
    pub container_id: &'a str,
    pub file: &'a Path,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// Its IPv6 address and prefix length, on an `--ipv6` network.
    pub ip6: Option<(Ipv6Addr, u8)>,
}

/// Puts a stopped container's namespace in its network's pool: `eth0` down and
/// without its address (which routes and neighbours go with), the host end renamed
/// (and without carrier). Returns false when the pool is full, and the caller
/// destroys the namespace as usual. On a failure part-way the namespace may be half
/// reset: the caller destroys it then too.
pub fn give_back(run_root: &Path, r: &Returned<'_>) -> Result<bool> {
    let dir = dir(run_root, r.network_id);
    let _lock = lock(&dir)?;
    if entries(&dir).len() >= MAX_IDLE {
        return Ok(false);
    }
    let (ip, prefix, ip6) = (r.ip, r.prefix, r.ip6);
    netns::run_in(r.file, move || {
        let nl = Netlink::open()?;
        let eth = netlink::index("eth0")?;
        nl.set_down(eth)?;
        ok_if(nl.del_addr(eth, ip, prefix), libc::EADDRNOTAVAIL)?;
        // Taking the link down normally drops its IPv6 addresses (and the v6 routes
        // with them) already, unless the namespace keeps them (keep_addr_on_down).
        match ip6 {
            Some((ip6, p6)) => ok_if(nl.del_addr6(eth, ip6, p6), libc::EADDRNOTAVAIL),
            None => Ok(()),
        }
    })
    .map_err(|e| NetError::io(format!("resetting eth0 in {}", r.file.display()), e))?;
    let host = crate::host_veth(r.container_id);
    let idle = format!("vp{}", &r.container_id[..r.container_id.len().min(12)]);
    let nl = crate::nl()?;
    let idx = netlink::index(&host).map_err(|e| NetError::io(format!("finding {host}"), e))?;
    nl.rename(idx, &idle)
        .map_err(|e| NetError::io(format!("renaming {host} to {idle}"), e))?;
    let entry = dir.join(&idle);
    netns::hand_over(r.file, &entry)?;
    Ok(true)
}

/// Destroys the network's idle namespaces (the kernel then removes their veth
/// pairs) and the pool's directory: `network rm`.
pub fn drain(run_root: &Path, network_id: &str) -> Result<usize> {
    let dir = dir(run_root, network_id);
    if !dir.exists() {
        return Ok(0);
    }
    let n = {
        let _lock = lock(&dir)?;
        let all = entries(&dir);
        for (file, _) in &all {
            netns::remove(file)?;
        }
        all.len()
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(n)
}

/// How many idle namespaces the network has.
pub fn idle(run_root: &Path, network_id: &str) -> usize {
    entries(&dir(run_root, network_id)).len()
}
