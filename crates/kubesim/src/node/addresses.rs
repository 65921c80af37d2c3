//! Pod addresses. Each pod gets its own address so that every container port can be bound as
//! it is declared (two pods may both serve on 8080). By default the addresses come from the
//! loopback range (127.0.0.0/8 is routed to `lo` on Linux, so any of them can be bound without
//! configuration); a given range can be used instead (for a private network namespace).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// Hands out free addresses from a range and takes them back when pods stop.
pub struct AddressPool {
    first: u32,
    size: u32,
    used: Mutex<BTreeSet<u32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{0:?} is not a CIDR range like 127.10.0.0/16")]
    BadCidr(String),
    #[error("no free pod address left in {0}")]
    Exhausted(String),
}

impl AddressPool {
    /// The default for the embedded cluster: a /16 inside 127.0.0.0/8 picked at random
    /// (127.10.0.0/16 … 127.250.0.0/16), so that several clusters in one process or on one
    /// machine rarely share addresses; the kubelet still moves to another address when a
    /// port is taken.
    pub fn loopback() -> Self {
        let second = rand::random_range(10u8..=250);
        Self {
            first: u32::from(Ipv4Addr::new(127, second, 0, 0)),
            size: 1 << 16,
            used: Mutex::new(BTreeSet::new()),
        }
    }

    /// A pool over `cidr` (e.g. `10.244.0.0/16`); the network and the first address (the
    /// gateway, by convention) are never handed out.
    pub fn from_cidr(cidr: &str) -> Result<Self, PoolError> {
        let bad = || PoolError::BadCidr(cidr.to_string());
        let (ip, bits) = cidr.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let bits: u32 = bits.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&bits) {
            return Err(bad());
        }
        let size = 1u32 << (32 - bits);
        let first = u32::from(ip) & !(size - 1);
        Ok(Self {
            first,
            size,
            used: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn allocate(&self) -> Result<Ipv4Addr, PoolError> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        // Skip the network address and .1; never hand out the broadcast address.
        for offset in 2..self.size.saturating_sub(1) {
            if used.insert(offset) {
                return Ok(Ipv4Addr::from(self.first + offset));
            }
        }
        Err(PoolError::Exhausted(format!(
            "{}/{}",
            Ipv4Addr::from(self.first),
            32 - self.size.trailing_zeros()
        )))
    }

    pub fn release(&self, ip: Ipv4Addr) {
        let offset = u32::from(ip).wrapping_sub(self.first);
        self.used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_releases_and_reuses() {
        let pool = AddressPool::from_cidr("10.244.0.0/30").expect("cidr");
        let a = pool.allocate().expect("one address");
        assert_eq!(a, Ipv4Addr::new(10, 244, 0, 2));
        assert!(pool.allocate().is_err(), "a /30 has one usable pod address");
        pool.release(a);
        assert_eq!(pool.allocate().expect("again"), a);
        assert!(AddressPool::from_cidr("10.0.0.0").is_err());
        let lo = AddressPool::loopback().allocate().expect("lo").octets();
        assert_eq!((lo[0], lo[2], lo[3]), (127, 0, 2));
        assert!(lo[1] >= 10);
    }
}
