//! Service, Endpoints, EndpointSlice, Ingress and IngressClass rows.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cells::{age, format_labels, name_cell};
use crate::json::{arr_at, at, int_at, str_at, str_or_empty};

/// `loadBalancerStatusStringer` (wide, as the server renders): the sorted, de-duplicated IPs
/// or hostnames of the load-balancer ingress points.
fn load_balancer_addresses(obj: &Value) -> String {
    let mut result: Vec<&str> = arr_at(obj, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|ing| {
            let ip = str_or_empty(ing, &["ip"]);
            let host = str_or_empty(ing, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    result.sort_unstable();
    result.dedup();
    result.join(",")
}

pub(super) fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    // The API server defaults spec.type to ClusterIP.
    let svc_type = str_at(svc, &["spec", "type"])
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP");
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| str_at(svc, &["spec", "clusterIP"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    let external_ips: Vec<&str> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_addresses(svc);
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external_ips.iter().copied());
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_or_empty(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]).unwrap_or(0);
            let protocol = str_at(p, &["protocol"])
                .filter(|s| !s.is_empty())
                .unwrap_or("TCP");
            match int_at(p, &["nodePort"]).filter(|n| *n > 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name_cell(svc),
        json!(svc_type),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        age(svc, now),
        json!(format_labels(at(svc, &["spec", "selector"]))),
    ]
}

/// `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `formatEndpoints` for all ports: at most three `ip:port` entries, then `+ N more...`.
pub(super) fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count: usize = 0;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for addr in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_or_empty(addr, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            let port = int_at(port, &["port"]).unwrap_or(0);
            count += addresses.len();
            for addr in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_or_empty(addr, &["ip"]), port));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count.saturating_sub(MAX))
    } else {
        ret
    }
}

/// `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(max));
    }
    if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

pub(super) fn endpointslice_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    const MAX: usize = 3;
    let mut ports: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for port in arr_at(obj, &["ports"]) {
        if ports.len() < MAX {
            let text = match int_at(port, &["port"]) {
                Some(p) => p.to_string(),
                None => str_at(port, &["name"]).unwrap_or("*").to_string(),
            };
            ports.push(text);
        } else if ports.len() == MAX {
            more = true;
        }
        count += 1;
    }
    let ports = list_with_more(&ports, more, count, MAX);

    let mut endpoints: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ep in arr_at(obj, &["endpoints"]) {
        for addr in arr_at(ep, &["addresses"]) {
            if endpoints.len() < MAX {
                endpoints.push(addr.as_str().unwrap_or("").to_string());
            } else if endpoints.len() == MAX {
                more = true;
            }
            count += 1;
        }
    }
    let endpoints = list_with_more(&endpoints, more, count, MAX);
    vec![
        name_cell(obj),
        json!(str_or_empty(obj, &["addressType"])),
        json!(ports),
        json!(endpoints),
        age(obj, now),
    ]
}

pub(super) fn ingress_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let class = str_at(obj, &["spec", "ingressClassName"]).unwrap_or("<none>");
    const MAX: usize = 3;
    let rules = arr_at(obj, &["spec", "rules"]);
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = str_or_empty(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - MAX)
    } else {
        hosts.join(",")
    };
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name_cell(obj),
        json!(class),
        json!(hosts),
        json!(load_balancer_addresses(obj)),
        json!(ports),
        age(obj, now),
    ]
}

pub(super) fn ingressclass_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match at(obj, &["spec", "parameters"]) {
        Some(p) => {
            let mut s = str_or_empty(p, &["kind"]).to_string();
            if let Some(group) = str_at(p, &["apiGroup"]) {
                s = format!("{s}.{group}");
            }
            format!("{s}/{}", str_or_empty(p, &["name"]))
        }
        None => "<none>".to_string(),
    };
    vec![
        name_cell(obj),
        json!(str_or_empty(obj, &["spec", "controller"])),
        json!(parameters),
        age(obj, now),
    ]
}
