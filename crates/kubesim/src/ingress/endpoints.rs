//! Where the ingress proxy sends a request for a [`Backend`]: the ready pod addresses of a
//! Service port, read from the cluster's EndpointSlices (label `kubernetes.io/service-name`) and
//! the Service itself (to turn the port an Ingress or HTTPRoute names into the slice port).
//!
//! Pure: [`EndpointIndex::build`] takes Services and EndpointSlices and precomputes, for every
//! Service port, the sorted list of ready `ip:port` addresses, so a lookup per request is a hash
//! lookup and an `Arc` clone. The proxy rebuilds the index whenever a Service or a slice changes.
//!
//! Rules (as kube-proxy and ingress-nginx read slices):
//! * The backend's port is matched against the Service's ports: a number against `port`, a name
//!   against `name`. The slice port carrying it has the same name (an unnamed Service port is
//!   the slice port without name); the slice port's number is the resolved targetPort.
//! * An endpoint is used when `conditions.ready` is true or absent (the API says an unknown
//!   condition means ready). Terminating endpoints carry `ready: false` and are skipped.
//! * Only `IPv4` / `IPv6` slices are read (`FQDN` is deprecated and not proxied); addresses that
//!   do not parse as IP addresses are skipped; non-TCP slice ports are ignored.
//! * A Service that does not exist (or is not known yet) has no endpoints, as in ingress-nginx;
//!   so has a Service port the backend names but the Service does not have.
//! * Addresses of several slices of one Service are merged, deduplicated and sorted, so round
//!   robin over them is stable while nothing changes.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::routing::{Backend, ServicePort};

pub use kube_util::endpoints::SERVICE_NAME_LABEL;

/// Turns a [`Backend`] into the addresses the proxy may send to. Implemented by the live,
/// cluster-fed [`SharedEndpoints`] and, in tests, by anything that knows addresses.
pub trait Resolve: Send + Sync + 'static {
    /// The ready addresses of the backend's Service port; empty when there are none.
    fn endpoints(&self, backend: &Backend) -> Arc<[SocketAddr]>;
}

/// One Service port, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortInfo {
    /// `""` for an unnamed port.
    name: String,
    port: i32,
}

/// What the index knows about one Service.
#[derive(Debug, Clone, Default)]
struct ServiceEntry {
    /// The Service's ports; `None` when the Service object is unknown (only slices were seen).
    ports: Option<Vec<PortInfo>>,
    /// Ready addresses by slice port name (`""` for the unnamed port).
    by_port_name: HashMap<String, Arc<[SocketAddr]>>,
}

/// Ready addresses of every Service port in the cluster, precomputed.
#[derive(Debug, Clone, Default)]
pub struct EndpointIndex {
    /// By (namespace, service name).
    services: HashMap<(String, String), ServiceEntry>,
}

impl EndpointIndex {
    /// Builds the index from all Services and EndpointSlices.
    pub fn build<'a>(
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> EndpointIndex {
        let mut index = EndpointIndex::default();
        for svc in services {
            let (Some(ns), Some(name)) = (
                svc.metadata.namespace.as_deref(),
                svc.metadata.name.as_deref(),
            ) else {
                continue;
            };
            let ports = svc
                .spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .map(|ports| {
                    ports
                        .iter()
                        .filter(|p| is_tcp(p.protocol.as_deref()))
                        .map(|p| PortInfo {
                            name: p.name.clone().unwrap_or_default(),
                            port: p.port,
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            index
                .services
                .entry((ns.to_string(), name.to_string()))
                .or_default()
                .ports = Some(ports);
        }

        // (namespace, service) -> slice port name -> addresses
        let mut collected: HashMap<(String, String), HashMap<String, BTreeSet<SocketAddr>>> =
            HashMap::new();
        for slice in slices {
            let Some(ns) = slice.metadata.namespace.as_deref() else {
                continue;
            };
            let Some(service) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            else {
                continue;
            };
            if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
                continue;
            }
            let ports = collected
                .entry((ns.to_string(), service.clone()))
                .or_default();
            let ready: Vec<IpAddr> = slice
                .endpoints
                .iter()
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
                .flat_map(|e| e.addresses.iter())
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .collect();
            for port in slice.ports.iter().flatten() {
                if !is_tcp(port.protocol.as_deref()) {
                    continue;
                }
                let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else {
                    continue;
                };
                if number == 0 {
                    continue;
                }
                let set = ports
                    .entry(port.name.clone().unwrap_or_default())
                    .or_default();
                // Where the node agent really serves each pod's port (a restarted container
                // is unready in between, so the index is rebuilt before it serves again).
                set.extend(
                    ready
                        .iter()
                        .map(|ip| crate::node::ports::dial(SocketAddr::new(*ip, number))),
                );
            }
        }
        for (key, ports) in collected {
            let entry = index.services.entry(key).or_default();
            for (name, addrs) in ports {
                let list: Arc<[SocketAddr]> = addrs.into_iter().collect::<Vec<_>>().into();
                entry.by_port_name.insert(name, list);
            }
        }
        index
    }

    /// The ready addresses of `backend` (empty when none).
    pub fn resolve(&self, backend: &Backend) -> Arc<[SocketAddr]> {
        let empty = || Arc::from(Vec::new());
        let Some(entry) = self
            .services
            .get(&(backend.namespace.clone(), backend.service.clone()))
        else {
            return empty();
        };
        let Some(ports) = &entry.ports else {
            return empty();
        };
        let port = ports.iter().find(|p| match &backend.port {
            ServicePort::Number(n) => p.port == i32::from(*n),
            ServicePort::Name(name) => p.name == *name,
        });
        let Some(port) = port else {
            return empty();
        };
        entry
            .by_port_name
            .get(&port.name)
            .cloned()
            .unwrap_or_else(empty)
    }

    /// Number of Services (or slice owners) known.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

impl Resolve for EndpointIndex {
    fn endpoints(&self, backend: &Backend) -> Arc<[SocketAddr]> {
        self.resolve(backend)
    }
}

/// An [`EndpointIndex`] that is replaced whole when the cluster changes; readers take a
/// snapshot (`Arc` clone) without waiting for a writer.
#[derive(Debug, Default)]
pub struct SharedEndpoints {
    current: ArcSwap<EndpointIndex>,
}

impl SharedEndpoints {
    pub fn new(index: EndpointIndex) -> SharedEndpoints {
        SharedEndpoints {
            current: ArcSwap::from_pointee(index),
        }
    }

    /// Replaces the index.
    pub fn set(&self, index: EndpointIndex) {
        self.current.store(Arc::new(index));
    }

    /// The current index.
    pub fn get(&self) -> Arc<EndpointIndex> {
        self.current.load_full()
    }
}

impl Resolve for SharedEndpoints {
    fn endpoints(&self, backend: &Backend) -> Arc<[SocketAddr]> {
        self.get().resolve(backend)
    }
}

impl<T: Resolve> Resolve for Arc<T> {
    fn endpoints(&self, backend: &Backend) -> Arc<[SocketAddr]> {
        (**self).endpoints(backend)
    }
}

fn is_tcp(protocol: Option<&str>) -> bool {
    protocol.is_none_or(|p| p.eq_ignore_ascii_case("TCP"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn service(ns: &str, name: &str, ports: Value) -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": ports, "selector": {"app": name}},
        }))
        .expect("valid Service")
    }

    fn slice(ns: &str, name: &str, svc: &str, ports: Value, endpoints: Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {SERVICE_NAME_LABEL: svc}},
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints,
        }))
        .expect("valid EndpointSlice")
    }

    fn ep(ip: &str, ready: Option<bool>) -> Value {
        match ready {
            Some(r) => json!({"addresses": [ip], "conditions": {"ready": r}}),
            None => json!({"addresses": [ip]}),
        }
    }

    fn backend(ns: &str, svc: &str, port: ServicePort) -> Backend {
        Backend {
            namespace: ns.into(),
            service: svc.into(),
            port,
        }
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|s| s.parse().expect("socket address"))
            .collect()
    }

    #[test]
    fn number_and_name_resolve_to_the_slice_port() {
        let svc = service(
            "apps",
            "web",
            json!([
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "admin", "port": 9000, "targetPort": 9090},
            ]),
        );
        let sl = slice(
            "apps",
            "web-abc",
            "web",
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "admin", "port": 9090}]),
            json!([
                ep("127.0.0.3", Some(true)),
                ep("127.0.0.2", None),
                ep("127.0.0.4", Some(false))
            ]),
        );
        let index = EndpointIndex::build([&svc], [&sl]);
        let by_number = index.resolve(&backend("apps", "web", ServicePort::Number(80)));
        assert_eq!(
            &*by_number,
            &addrs(&["127.0.0.2:8080", "127.0.0.3:8080"])[..]
        );
        let by_name = index.resolve(&backend("apps", "web", ServicePort::Name("http".into())));
        assert_eq!(by_name, by_number);
        let admin = index.resolve(&backend("apps", "web", ServicePort::Number(9000)));
        assert_eq!(&*admin, &addrs(&["127.0.0.2:9090", "127.0.0.3:9090"])[..]);
    }

    #[test]
    fn unnamed_single_port() {
        let svc = service("default", "app", json!([{"port": 80, "targetPort": 8080}]));
        let sl = slice(
            "default",
            "app-x",
            "app",
            json!([{"port": 8080}]),
            json!([ep("10.1.0.1", Some(true))]),
        );
        let index = EndpointIndex::build([&svc], [&sl]);
        assert_eq!(
            &*index.resolve(&backend("default", "app", ServicePort::Number(80))),
            &addrs(&["10.1.0.1:8080"])[..]
        );
        // the target port is not the Service port
        assert!(
            index
                .resolve(&backend("default", "app", ServicePort::Number(8080)))
                .is_empty()
        );
        // a name the Service does not have
        assert!(
            index
                .resolve(&backend("default", "app", ServicePort::Name("http".into())))
                .is_empty()
        );
    }

    #[test]
    fn slices_are_merged_and_deduplicated() {
        let svc = service("ns", "s", json!([{"name": "web", "port": 80}]));
        let a = slice(
            "ns",
            "s-1",
            "s",
            json!([{"name": "web", "port": 80}]),
            json!([ep("127.0.0.9", Some(true)), ep("127.0.0.5", Some(true))]),
        );
        let b = slice(
            "ns",
            "s-2",
            "s",
            json!([{"name": "web", "port": 80}]),
            json!([ep("127.0.0.5", Some(true)), ep("127.0.0.7", Some(true))]),
        );
        let other_ns = slice(
            "other",
            "s-3",
            "s",
            json!([{"name": "web", "port": 80}]),
            json!([ep("127.0.0.8", Some(true))]),
        );
        let index = EndpointIndex::build([&svc], [&a, &b, &other_ns]);
        assert_eq!(
            &*index.resolve(&backend("ns", "s", ServicePort::Number(80))),
            &addrs(&["127.0.0.5:80", "127.0.0.7:80", "127.0.0.9:80"])[..]
        );
        // no Service object in "other": nothing, as ingress-nginx does
        assert!(
            index
                .resolve(&backend("other", "s", ServicePort::Number(80)))
                .is_empty()
        );
    }

    #[test]
    fn unknown_service_no_slices_and_bad_addresses() {
        let svc = service("ns", "s", json!([{"port": 80}]));
        let mut fqdn = slice(
            "ns",
            "s-f",
            "s",
            json!([{"port": 80}]),
            json!([ep("example.com", Some(true))]),
        );
        fqdn.address_type = "FQDN".into();
        let garbage = slice(
            "ns",
            "s-g",
            "s",
            json!([{"port": 80}, {"name": "udp", "port": 53, "protocol": "UDP"}]),
            json!([ep("not-an-ip", Some(true)), ep("::1", Some(true))]),
        );
        let index = EndpointIndex::build([&svc], [&fqdn, &garbage]);
        assert_eq!(
            &*index.resolve(&backend("ns", "s", ServicePort::Number(80))),
            &addrs(&["[::1]:80"])[..]
        );
        assert!(
            index
                .resolve(&backend("ns", "missing", ServicePort::Number(80)))
                .is_empty()
        );
        let only_service = EndpointIndex::build([&svc], []);
        assert!(
            only_service
                .resolve(&backend("ns", "s", ServicePort::Number(80)))
                .is_empty()
        );
    }

    #[test]
    fn shared_index_swaps() {
        let shared = SharedEndpoints::default();
        let b = backend("ns", "s", ServicePort::Number(80));
        assert!(shared.endpoints(&b).is_empty());
        let svc = service("ns", "s", json!([{"port": 80}]));
        let sl = slice(
            "ns",
            "s-1",
            "s",
            json!([{"port": 80}]),
            json!([ep("127.0.0.1", None)]),
        );
        shared.set(EndpointIndex::build([&svc], [&sl]));
        assert_eq!(shared.endpoints(&b).len(), 1);
        assert_eq!(shared.get().len(), 1);
    }
}
