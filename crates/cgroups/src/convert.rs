//! v1 -> v2 value conversions. The OCI spec speaks cgroup v1 units; these
//! follow the mappings runc and crun agree on so the same config.json gives
//! the same relative behaviour on both hierarchies.

/// cpu.shares [2, 262144] -> cpu.weight [1, 10000], linear.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio.weight [10, 1000] -> io.weight [1, 10000], linear.
pub fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    let weight = weight.clamp(10, 1000);
    1 + ((weight - 10) * 9999) / 990
}

/// OCI `swap` is the memory+swap total (v1 memsw); v2 limits swap alone.
/// Returns the memory.swap.max value, `None` when nothing should be written.
pub fn memory_swap_to_v2(swap: i64, limit: Option<i64>) -> Result<Option<String>, String> {
    let limit = limit.unwrap_or(0);
    // Unlimited memory and unset swap: keep swap unlimited as v1 would.
    if limit == -1 && swap == 0 {
        return Ok(Some("max".into()));
    }
    if swap == -1 {
        return Ok(Some("max".into()));
    }
    if swap == 0 {
        return Ok(None);
    }
    if swap < 0 {
        return Err(format!("swap must be -1 or positive, got {swap}"));
    }
    if limit <= 0 {
        return Err("a swap limit needs a memory limit on cgroup v2 (swap is memory+swap in the OCI spec, so v2's swap-only limit is swap - limit)".into());
    }
    if swap < limit {
        return Err(format!(
            "swap ({swap}) is memory+swap and must be >= the memory limit ({limit})"
        ));
    }
    Ok(Some((swap - limit).to_string()))
}

/// -1 (or any negative value) means unlimited.
pub fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight() {
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(0), 0);
    }

    #[test]
    fn blkio_to_io_weight() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(
            memory_swap_to_v2(-1, Some(100)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(
            memory_swap_to_v2(0, Some(-1)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(memory_swap_to_v2(0, Some(100)).unwrap(), None);
        assert_eq!(
            memory_swap_to_v2(300, Some(100)).unwrap().as_deref(),
            Some("200")
        );
        assert_eq!(
            memory_swap_to_v2(100, Some(100)).unwrap().as_deref(),
            Some("0")
        );
        assert!(memory_swap_to_v2(50, Some(100)).is_err());
        assert!(memory_swap_to_v2(50, None).is_err());
    }
}
