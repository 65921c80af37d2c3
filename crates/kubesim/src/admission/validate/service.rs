//! Service: types, ports, cluster IPs and what an update may change.

use std::net::IpAddr;

use kube_util::names;
use serde_json::Value;

use super::access::{child, gi, index};
use super::errors::{Bad, Errs, bs};
use super::go_format::{go_quote, go_strs, scalar_text};
use super::meta::validate_labels;
use super::pod_spec::{validate_port_num_or_name, validate_protocol};
use crate::json::{arr_at, at, str_or_empty};

fn cluster_ips(spec: &Value) -> Vec<String> {
    let ips: Vec<String> = arr_at(spec, &["clusterIPs"])
        .iter()
        .map(scalar_text)
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    let ip = str_or_empty(spec, &["clusterIP"]);
    if ip.is_empty() {
        Vec::new()
    } else {
        vec![ip.to_string()]
    }
}

fn is_headless(spec: &Value) -> bool {
    str_or_empty(spec, &["type"]) == "ClusterIP" && cluster_ips(spec) == ["None"]
}

fn go_service_port(proto: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(proto),
        port
    )
}

pub(super) fn validate_service(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    let ty = str_or_empty(spec, &["type"]);
    if let Some(old) = old {
        validate_cluster_ip_update(e, spec, &old["spec"]);
    }
    let ports = arr_at(spec, &["ports"]);
    if ports.is_empty() && !is_headless(spec) && ty != "ExternalName" {
        e.required("spec.ports", "");
    }
    if ty == "ExternalName" {
        if !arr_at(spec, &["clusterIPs"]).is_empty() {
            e.forbidden(
                "spec.clusterIPs",
                "may not be set for ExternalName services",
            );
        }
        if !arr_at(spec, &["ipFamilies"]).is_empty() {
            e.forbidden(
                "spec.ipFamilies",
                "may not be set for ExternalName services",
            );
        }
        if at(spec, &["ipFamilyPolicy"]).is_some() {
            e.forbidden(
                "spec.ipFamilyPolicy",
                "may not be set for ExternalName services",
            );
        }
        let cname = str_or_empty(spec, &["externalName"]);
        let cname = cname.strip_suffix('.').unwrap_or(cname);
        if cname.is_empty() {
            e.required("spec.externalName", "");
        } else {
            for msg in names::is_dns1123_subdomain(cname) {
                e.invalid("spec.externalName", bs(cname), &msg);
            }
        }
    }
    let mut port_names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = index("spec.ports", i);
        let name = str_or_empty(p, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            e.required(&child(&pp, "name"), "");
        } else if !name.is_empty() {
            for msg in names::is_dns1123_label(name) {
                e.invalid(&child(&pp, "name"), bs(name), &msg);
            }
            if port_names.contains(&name) {
                e.duplicate(&child(&pp, "name"), bs(name));
            } else {
                port_names.push(name);
            }
        }
        let port = gi(p, "port").unwrap_or(0);
        for msg in names::is_valid_port_num(port) {
            e.invalid(&child(&pp, "port"), Bad::Int(port), &msg);
        }
        validate_protocol(e, str_or_empty(p, &["protocol"]), &child(&pp, "protocol"));
        validate_port_num_or_name(e, at(p, &["targetPort"]), &child(&pp, "targetPort"));
    }
    validate_labels(e, at(spec, &["selector"]), "spec.selector");
    let sa = str_or_empty(spec, &["sessionAffinity"]);
    if sa.is_empty() {
        e.required("spec.sessionAffinity", "");
    } else if sa != "ClientIP" && sa != "None" {
        e.not_supported("spec.sessionAffinity", bs(sa), &["ClientIP", "None"]);
    }
    if ty != "ExternalName" {
        let ips = cluster_ips(spec);
        let declared = arr_at(spec, &["clusterIPs"]);
        if !declared.is_empty() && scalar_text(&declared[0]) != str_or_empty(spec, &["clusterIP"]) {
            e.invalid(
                "spec.clusterIPs",
                Bad::Raw(go_strs(&ips)),
                "first value must match `clusterIP`",
            );
        }
        for (i, ip) in ips.iter().enumerate() {
            let ipp = index("spec.clusterIPs", i);
            if i == 0 && ip == "None" {
                if ips.len() > 1 {
                    e.invalid(&ipp, bs(ip), "'None' must be the first and only value");
                } else if ty != "ClusterIP" {
                    e.invalid(
                        &ipp,
                        bs(ip),
                        &format!("may not be set to 'None' for {ty} services"),
                    );
                }
                continue;
            }
            if ip.parse::<IpAddr>().is_err() {
                e.invalid(
                    &ipp,
                    bs(ip),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                );
            }
        }
    }
    if ty.is_empty() {
        e.required("spec.type", "");
    } else if !["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"].contains(&ty) {
        e.not_supported(
            "spec.type",
            bs(ty),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        );
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if gi(p, "nodePort").unwrap_or(0) != 0 {
                e.forbidden(
                    &child(&index("spec.ports", i), "nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                );
            }
        }
    }
    let mut seen: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let k = (str_or_empty(p, &["protocol"]), gi(p, "port").unwrap_or(0));
        if seen.contains(&k) {
            e.duplicate(&index("spec.ports", i), Bad::Raw(go_service_port(k.0, k.1)));
        }
        seen.push(k);
    }
    for (f, allowed) in [
        ("externalTrafficPolicy", ["Cluster", "Local"]),
        ("internalTrafficPolicy", ["Cluster", "Local"]),
    ] {
        if let Some(v) = at(spec, &[f]) {
            let v = scalar_text(v);
            if !allowed.contains(&v.as_str()) {
                e.not_supported(&child("spec", f), bs(&v), &allowed);
            }
        }
    }
}

/// `validateUpgradeDowngradeClusterIPs`: allocated cluster IPs never change.
fn validate_cluster_ip_update(e: &mut Errs, spec: &Value, old_spec: &Value) {
    if str_or_empty(spec, &["type"]) == "ExternalName"
        || str_or_empty(old_spec, &["type"]) == "ExternalName"
    {
        return;
    }
    if is_headless(spec) && is_headless(old_spec) {
        return;
    }
    let new_ips = cluster_ips(spec);
    let old_ips = cluster_ips(old_spec);
    let rendered = Bad::Raw(go_strs(&new_ips));
    if new_ips.len() == old_ips.len() {
        for (i, ip) in old_ips.iter().enumerate() {
            if *ip != new_ips[i] {
                e.invalid(
                    &index("spec.clusterIPs", i),
                    Bad::Raw(go_strs(&new_ips)),
                    "may not change once set",
                );
            }
        }
    } else if old_ips.len() > new_ips.len() {
        if new_ips.is_empty() {
            e.invalid(
                &index("spec.clusterIPs", 0),
                rendered,
                "primary clusterIP can not be unset",
            );
        }
    } else if !old_ips.is_empty() && old_ips[0] != new_ips[0] {
        e.invalid(
            &index("spec.clusterIPs", 0),
            rendered,
            "may not change once set",
        );
    }
}
