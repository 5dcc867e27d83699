//! The embedded DNS server's records: one JSON file per network under
//! `<run_root>/dns/<network id>.json`, written from the database's allocations by
//! whoever changes them (start, stop, connect, disconnect, rm) and read by the
//! server when the directory changes. A network without containers has no file.
//!
//! Each write goes to a temporary file renamed over the old one, so the server
//! never reads half a file; the read-and-write runs under a lock so two commands
//! changing one network cannot publish their views out of order.

use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use berth_store::Db;
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};
use crate::ipam;
use crate::records::Network;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Zone {
    pub network: String,
    /// Where the server listens for this network.
    pub gateway: Ipv4Addr,
    /// An internal network has no way out: its containers' other queries are not
    /// forwarded.
    pub internal: bool,
    pub endpoints: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub container: String,
    pub ip: Ipv4Addr,
    /// Its IPv6 address on an `--ipv6` network (AAAA answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    pub names: Vec<String>,
    /// The container's `--dns` servers (empty: the host's).
    pub servers: Vec<String>,
}

pub fn dir(run_root: &Path) -> PathBuf {
    run_root.join("dns")
}

pub fn file(run_root: &Path, network_id: &str) -> PathBuf {
    dir(run_root).join(format!("{network_id}.json"))
}

pub use crate::lock::Locked;

/// Rewrites the network's records from its allocations (removes the file when it
/// has none). Returns whether it has any.
pub fn sync(db: &Db, run_root: &Path, net: &Network) -> Result<bool> {
    let d = dir(run_root);
    std::fs::create_dir_all(&d)
        .map_err(|e| NetError::io(format!("creating {}", d.display()), e))?;
    let _lock = Locked::take(&d.join("sync.lock"), true)?;
    let endpoints: Vec<Entry> = ipam::allocations(db, &net.id)?
        .into_iter()
        .map(|a| Entry {
            container: a.container_id,
            ip: a.ip,
            ip6: a.ip6,
            names: a.dns_names,
            servers: a.dns_servers,
        })
        .collect();
    let path = file(run_root, &net.id);
    if endpoints.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NetError::io(format!("removing {}", path.display()), e))
            }
            _ => Ok(false),
        };
    }
    let zone = Zone {
        network: net.name.clone(),
        gateway: net.gateway()?,
        internal: net.internal,
        endpoints,
    };
    let tmp = d.join(format!(".{}.{}.tmp", net.id, std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(&zone).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        NetError::io(format!("writing {}", path.display()), e)
    })?;
    Ok(true)
}

/// Every network's records (files that do not parse are skipped: a later write
/// replaces them).
pub fn load_all(run_root: &Path) -> Vec<Zone> {
    let Ok(rd) = std::fs::read_dir(dir(run_root)) else {
        return Vec::new();
    };
    let mut zones: Vec<Zone> = rd
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .filter(|z: &Zone| !z.endpoints.is_empty())
        .collect();
    zones.sort_by(|a, b| a.network.cmp(&b.network));
    zones
}
