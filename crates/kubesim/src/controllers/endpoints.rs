//! Endpoints and EndpointSlice decisions: which pod addresses back a Service. Ready pods are
//! addresses; pods that are running but not ready go to `notReadyAddresses` (and slices mark
//! them not ready), so clients and proxies only send traffic to ready pods.

use super::name_ns;
use crate::store::LabelSelector;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// One resolved port of the Service on a pod.
#[derive(Debug, Clone, PartialEq)]
struct PortRef {
    name: Option<String>,
    port: i64,
    protocol: String,
}

/// A pod address as both objects carry it.
#[derive(Debug, Clone)]
struct Address {
    ip: String,
    node: Option<String>,
    target: Value,
    ready: bool,
    terminating: bool,
}

/// The Endpoints object a Service should have (None for a Service without selector, whose
/// endpoints are managed by hand).
pub fn desired_endpoints(service: &Value, pods: &[Arc<Value>]) -> Option<Value> {
    let (ns, name) = name_ns(service);
    let (subsets, _) = compute(service, pods)?;
    let mut metadata = json!({"name": name, "namespace": ns});
    if let Some(labels) = service
        .pointer("/metadata/labels")
        .filter(|l| l.is_object())
    {
        metadata["labels"] = labels.clone();
    }
    let mut subsets = subsets;
    if truncate(&mut subsets, MAX_ENDPOINTS_ADDRESSES) {
        metadata["annotations"] = json!({OVER_CAPACITY: "truncated"});
    }
    let mut ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": metadata});
    if !subsets.is_empty() {
        ep["subsets"] = Value::Array(subsets);
    }
    Some(ep)
}

/// Most addresses an Endpoints object lists: beyond them the controller truncates and says
/// so in [`OVER_CAPACITY`] (Kubernetes 1.22+); EndpointSlices carry every endpoint.
pub const MAX_ENDPOINTS_ADDRESSES: usize = 1000;

/// The annotation on an Endpoints object whose addresses were truncated.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// Keeps at most `max` addresses over all subsets, ready ones first; true when any were left
/// out.
fn truncate(subsets: &mut [Value], max: usize) -> bool {
    let mut left = max;
    let mut cut = false;
    for field in ["addresses", "notReadyAddresses"] {
        for subset in subsets.iter_mut() {
            if let Some(list) = subset.get_mut(field).and_then(Value::as_array_mut) {
                if list.len() > left {
                    list.truncate(left);
                    cut = true;
                }
                left -= list.len();
            }
        }
    }
    for subset in subsets.iter_mut() {
        if let Some(map) = subset.as_object_mut() {
            map.retain(|k, v| k == "ports" || v.as_array().is_none_or(|a| !a.is_empty()));
        }
    }
    cut
}

/// The content (`endpoints` and `ports`) of the Service's EndpointSlices.
pub fn desired_slice_content(service: &Value, pods: &[Arc<Value>]) -> Option<(Value, Value)> {
    let (_, addresses) = compute(service, pods)?;
    let ports = service_ports_for_slice(service, pods);
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|a| {
            let mut e = json!({
                "addresses": [a.ip],
                "conditions": {"ready": a.ready && !a.terminating, "serving": a.ready, "terminating": a.terminating},
                "targetRef": a.target,
            });
            if let Some(n) = &a.node {
                e["nodeName"] = json!(n);
            }
            e
        })
        .collect();
    Some((Value::Array(endpoints), ports))
}

fn selector(service: &Value) -> Option<LabelSelector> {
    let map: &Map<String, Value> = service.pointer("/spec/selector")?.as_object()?;
    if map.is_empty() {
        return None;
    }
    Some(LabelSelector::from_map(map))
}

/// Resolves a Service port's targetPort on one pod: a number, or a named container port.
fn resolve(service_port: &Value, pod: &Value) -> Option<i64> {
    match service_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)?
            .iter()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
            .and_then(|p| p.get("containerPort").and_then(Value::as_i64)),
        _ => service_port.get("port").and_then(Value::as_i64),
    }
}

fn compute(service: &Value, pods: &[Arc<Value>]) -> Option<(Vec<Value>, Vec<Address>)> {
    let sel = selector(service)?;
    let publish_not_ready = service
        .pointer("/spec/publishNotReadyAddresses")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let service_ports: Vec<Value> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Subsets group pods by their resolved port set, as the real controller does.
    let mut groups: Vec<(Vec<PortRef>, Vec<Address>, Vec<Address>)> = Vec::new();
    let mut all = Vec::new();
    let mut sorted: Vec<&Arc<Value>> = pods.iter().collect();
    sorted.sort_by_key(|p| {
        p.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    });
    for pod in sorted {
        if !sel.matches_object(pod) {
            continue;
        }
        let Some(ip) = pod
            .pointer("/status/podIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        if matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        ) {
            continue;
        }
        let terminating = pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null());
        if terminating && !publish_not_ready {
            // A terminating pod leaves the addresses first, so traffic drains before it stops.
            continue;
        }
        let (pns, pname) = name_ns(pod);
        let address = Address {
            ip: ip.to_string(),
            node: pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .map(str::to_string),
            target: json!({"kind": "Pod", "namespace": pns, "name": pname, "uid": pod.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)}),
            ready: kube_util::pod::is_ready_json(pod) || publish_not_ready,
            terminating,
        };
        let ports: Vec<PortRef> = service_ports
            .iter()
            .filter_map(|sp| {
                Some(PortRef {
                    name: sp.get("name").and_then(Value::as_str).map(str::to_string),
                    port: resolve(sp, pod)?,
                    protocol: sp
                        .get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("TCP")
                        .to_string(),
                })
            })
            .collect();
        all.push(address.clone());
        let idx = match groups.iter().position(|(p, _, _)| *p == ports) {
            Some(i) => i,
            None => {
                groups.push((ports, Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        if address.ready {
            groups[idx].1.push(address);
        } else {
            groups[idx].2.push(address);
        }
    }
    let subsets = groups
        .into_iter()
        .map(|(ports, ready, not_ready)| {
            let addr = |a: &Address| {
                let mut v = json!({"ip": a.ip, "targetRef": a.target});
                if let Some(n) = &a.node {
                    v["nodeName"] = json!(n);
                }
                v
            };
            let mut s = json!({});
            if !ready.is_empty() {
                s["addresses"] = Value::Array(ready.iter().map(addr).collect());
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = Value::Array(not_ready.iter().map(addr).collect());
            }
            s["ports"] = Value::Array(
                ports
                    .iter()
                    .map(|p| {
                        let mut v = json!({"port": p.port, "protocol": p.protocol});
                        if let Some(n) = &p.name {
                            v["name"] = json!(n);
                        }
                        v
                    })
                    .collect(),
            );
            s
        })
        .collect();
    Some((subsets, all))
}

fn service_ports_for_slice(service: &Value, pods: &[Arc<Value>]) -> Value {
    let first_pod =
        selector(service).and_then(|sel| pods.iter().find(|p| sel.matches_object(p)).cloned());
    let ports: Vec<Value> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|sp| {
            let port = first_pod.as_ref().and_then(|p| resolve(sp, p)).or_else(|| sp.get("port").and_then(Value::as_i64));
            json!({"name": sp.get("name").and_then(Value::as_str).unwrap_or_default(), "port": port, "protocol": sp.get("protocol").and_then(Value::as_str).unwrap_or("TCP")})
        })
        .collect();
    Value::Array(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, labels: Value) -> Arc<Value> {
        Arc::new(json!({
            "metadata": {"name": name, "namespace": "d", "uid": format!("u-{name}"), "labels": labels},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
    }

    fn service() -> Value {
        json!({"metadata": {"name": "web", "namespace": "d", "labels": {"app": "web"}},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}})
    }

    #[test]
    fn ready_and_not_ready_pods_are_separated() {
        let pods = vec![
            pod("a", "127.1.0.1", true, json!({"app": "web"})),
            pod("b", "127.1.0.2", false, json!({"app": "web"})),
            pod("c", "127.1.0.3", true, json!({"app": "db"})),
        ];
        let ep = desired_endpoints(&service(), &pods).expect("endpoints");
        let subset = &ep["subsets"][0];
        assert_eq!(subset["addresses"][0]["ip"], "127.1.0.1");
        assert_eq!(subset["notReadyAddresses"][0]["ip"], "127.1.0.2");
        assert_eq!(
            subset["ports"][0]["port"], 8080,
            "named targetPort resolved on the pod"
        );
        assert_eq!(ep["subsets"].as_array().map(Vec::len), Some(1));
        let (eps, ports) = desired_slice_content(&service(), &pods).expect("slice");
        assert_eq!(eps.as_array().map(Vec::len), Some(2));
        assert_eq!(eps[1]["conditions"]["ready"], false);
        assert_eq!(ports[0]["port"], 8080);
    }

    #[test]
    fn endpoints_beyond_a_thousand_addresses_are_truncated_ready_first() {
        let pods: Vec<Arc<Value>> = (0..1200)
            .map(|i| {
                pod(
                    &format!("p{i:04}"),
                    &format!("127.1.{}.{}", i / 250, i % 250 + 1),
                    i >= 300,
                    json!({"app": "web"}),
                )
            })
            .collect();
        let ep = desired_endpoints(&service(), &pods).expect("endpoints");
        let subset = &ep["subsets"][0];
        assert_eq!(subset["addresses"].as_array().map(Vec::len), Some(900));
        assert_eq!(
            subset["notReadyAddresses"].as_array().map(Vec::len),
            Some(100)
        );
        assert_eq!(ep["metadata"]["annotations"][OVER_CAPACITY], "truncated");
        let (eps, _) = desired_slice_content(&service(), &pods).expect("slices");
        assert_eq!(eps.as_array().map(Vec::len), Some(1200), "slices carry all");
        let small = desired_endpoints(&service(), &pods[..10]).expect("endpoints");
        assert!(small["metadata"].get("annotations").is_none());
    }

    #[test]
    fn terminating_pods_leave_first_and_selectorless_services_are_manual() {
        let mut p = (*pod("a", "127.1.0.1", true, json!({"app": "web"}))).clone();
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let ep = desired_endpoints(&service(), &[Arc::new(p)]).expect("endpoints");
        assert!(ep.get("subsets").is_none());
        let mut manual = service();
        manual["spec"].as_object_mut().map(|s| s.remove("selector"));
        assert!(desired_endpoints(&manual, &[]).is_none());
    }
}
