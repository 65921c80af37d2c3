//! Privileged container ports for users who may not bind them.
//!
//! A manifest declares `containerPort: 80`; binding a port below 1024 needs root (or
//! `CAP_NET_BIND_SERVICE`). When the node agent runs as a normal user, the container's app
//! listens on a free high port of the pod's own address instead, and this table says where:
//! every path in the embedded cluster that reaches a pod (the Service and pod proxy of the API
//! server, the ingress, probes) dials [`dial`]`(pod_ip:declared_port)`. The API keeps showing
//! the declared port. Root binds the declared port and the table stays empty, so a real
//! control plane joined to the node agent (which dials pod addresses itself) works as root.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

fn table() -> &'static Mutex<HashMap<SocketAddr, SocketAddr>> {
    static TABLE: OnceLock<Mutex<HashMap<SocketAddr, SocketAddr>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Where a pod's `declared` address is served: itself, or the high port its app listens on.
pub fn dial(declared: SocketAddr) -> SocketAddr {
    table()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&declared)
        .copied()
        .unwrap_or(declared)
}

/// Whether binding `port` failed only because it is privileged and we are not root.
pub fn is_privileged_refusal(port: u16, e: &std::io::Error) -> bool {
    port != 0 && port < 1024 && e.kind() == std::io::ErrorKind::PermissionDenied
}

/// Records that `declared` is served at `actual` for as long as the returned guard lives.
pub fn map(declared: SocketAddr, actual: SocketAddr) -> Mapping {
    table()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(declared, actual);
    Mapping { declared, actual }
}

/// A live entry of the table; dropping it removes the entry unless a newer app (a restarted
/// container) has replaced it since.
#[derive(Debug)]
pub struct Mapping {
    declared: SocketAddr,
    actual: SocketAddr,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let mut t = table().lock().unwrap_or_else(|p| p.into_inner());
        if t.get(&self.declared) == Some(&self.actual) {
            t.remove(&self.declared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_lasts_as_long_as_its_guard_and_a_newer_one_wins() {
        let declared: SocketAddr = "127.3.2.1:80".parse().expect("addr");
        assert_eq!(dial(declared), declared);
        let first = map(declared, "127.3.2.1:40001".parse().expect("addr"));
        assert_eq!(dial(declared).port(), 40001);
        // The container restarted: its new app maps the port before the old one is gone.
        let second = map(declared, "127.3.2.1:40002".parse().expect("addr"));
        drop(first);
        assert_eq!(dial(declared).port(), 40002);
        drop(second);
        assert_eq!(dial(declared), declared);
    }

    #[test]
    fn only_privileged_ports_refused_for_permission_fall_back() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let in_use = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        assert!(is_privileged_refusal(80, &denied));
        assert!(!is_privileged_refusal(8080, &denied));
        assert!(!is_privileged_refusal(80, &in_use));
    }
}
