//! Ingress (networking.k8s.io/v1): rules, paths, backends, hosts and TLS.

use std::net::IpAddr;

use kube_util::names;
use serde_json::Value;

use super::access::{child, gi, index};
use super::errors::{Bad, Errs, bs};
use super::go_format::scalar_text;
use crate::json::{arr_at, at, str_or_empty};

fn validate_ingress_backend(e: &mut Errs, b: &Value, path: &str) {
    let resource = at(b, &["resource"]);
    let service = at(b, &["service"]);
    match (resource, service) {
        (Some(_), Some(_)) => {
            e.invalid(
                path,
                bs(""),
                "cannot set both resource and service backends",
            );
        }
        (Some(r), None) => {
            let rp = child(path, "resource");
            let g = str_or_empty(r, &["apiGroup"]);
            if at(r, &["apiGroup"]).is_some() {
                for msg in names::is_dns1123_subdomain(g) {
                    e.invalid(&child(&rp, "apiGroup"), bs(g), &msg);
                }
            }
            for (f, what) in [("kind", "kind is required"), ("name", "name is required")] {
                let v = str_or_empty(r, &[f]);
                if v.is_empty() {
                    e.required(&child(&rp, f), what);
                } else {
                    for msg in names::is_valid_path_segment_name(v) {
                        e.invalid(&child(&rp, f), bs(v), &msg);
                    }
                }
            }
        }
        (None, Some(s)) => {
            let sp = child(path, "service");
            let name = str_or_empty(s, &["name"]);
            if name.is_empty() {
                e.required(&child(&sp, "name"), "");
            } else {
                for msg in names::is_dns1035_label(name) {
                    e.invalid(&child(&sp, "name"), bs(name), &msg);
                }
            }
            let port = &s["port"];
            let pname = str_or_empty(port, &["name"]);
            let pnum = gi(port, "number").unwrap_or(0);
            let pp = child(&sp, "port");
            if !pname.is_empty() && pnum != 0 {
                e.invalid(path, bs(""), "cannot set both port name & port number");
            } else if !pname.is_empty() {
                for msg in names::is_valid_port_name(pname) {
                    e.invalid(&child(&pp, "name"), bs(pname), &msg);
                }
            } else if pnum != 0 {
                for msg in names::is_valid_port_num(pnum) {
                    e.invalid(&child(&pp, "number"), Bad::Int(pnum), &msg);
                }
            } else {
                e.required(path, "port name or number is required");
            }
        }
        (None, None) => e.invalid(path, bs(""), "resource or service backend is required"),
    }
}

fn validate_ingress_path(e: &mut Errs, p: &Value, path: &str) {
    let Some(pt) = at(p, &["pathType"]) else {
        e.required(&child(path, "pathType"), "pathType must be specified");
        return;
    };
    let pt = scalar_text(pt);
    let value = str_or_empty(p, &["path"]);
    let pp = child(path, "path");
    match pt.as_str() {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                e.invalid(&pp, bs(value), "must be an absolute path");
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        e.invalid(&pp, bs(value), &format!("must not contain '{seq}'"));
                    }
                }
                for suffix in ["/..", "/."] {
                    if value.ends_with(suffix) {
                        e.invalid(&pp, bs(value), &format!("cannot end with '{suffix}'"));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                e.invalid(&pp, bs(value), "must be an absolute path");
            }
        }
        _ => e.not_supported(
            &child(path, "pathType"),
            bs(&pt),
            &["Exact", "ImplementationSpecific", "Prefix"],
        ),
    }
    validate_ingress_backend(e, &p["backend"], &child(path, "backend"));
}

fn validate_host(e: &mut Errs, host: &str, path: &str) -> bool {
    if host.contains('*') {
        for msg in names::is_wildcard_dns1123_subdomain(host) {
            e.invalid(path, bs(host), &msg);
        }
        true
    } else {
        for msg in names::is_dns1123_subdomain(host) {
            e.invalid(path, bs(host), &msg);
        }
        false
    }
}

pub(super) fn validate_ingress(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    let rules = arr_at(spec, &["rules"]);
    let default_backend = at(spec, &["defaultBackend"]);
    if rules.is_empty() && default_backend.is_none() {
        let rendered = if at(spec, &["rules"]).is_some() {
            "[]networking.IngressRule{}"
        } else {
            "[]networking.IngressRule(nil)"
        };
        e.invalid(
            "spec",
            Bad::Raw(rendered.to_string()),
            "either `defaultBackend` or `rules` must be specified",
        );
    }
    if let Some(b) = default_backend {
        validate_ingress_backend(e, b, "spec.defaultBackend");
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = index("spec.rules", i);
        let host = str_or_empty(rule, &["host"]);
        if !host.is_empty() {
            if host.parse::<IpAddr>().is_ok() {
                e.invalid(
                    &child(&rp, "host"),
                    bs(host),
                    "must be a DNS name, not an IP address",
                );
            }
            validate_host(e, host, &child(&rp, "host"));
        }
        if let Some(http) = at(rule, &["http"]) {
            let hp = child(&rp, "http");
            let paths = arr_at(http, &["paths"]);
            if paths.is_empty() {
                e.required(&child(&hp, "paths"), "");
            }
            for (j, p) in paths.iter().enumerate() {
                validate_ingress_path(e, p, &index(&child(&hp, "paths"), j));
            }
        }
    }
    for (i, tls) in arr_at(spec, &["tls"]).iter().enumerate() {
        let tp = index("spec.tls", i);
        for (j, h) in arr_at(tls, &["hosts"]).iter().enumerate() {
            validate_host(e, &scalar_text(h), &index(&child(&tp, "hosts"), j));
        }
        let secret = str_or_empty(tls, &["secretName"]);
        if !secret.is_empty() {
            for msg in names::is_dns1123_subdomain(secret) {
                e.invalid(&child(&tp, "secretName"), bs(secret), &msg);
            }
        }
    }
    if let Some(class) = at(spec, &["ingressClassName"]) {
        let class = scalar_text(class);
        for msg in names::is_dns1123_subdomain(&class) {
            e.invalid("spec.ingressClassName", bs(&class), &msg);
        }
    }
}
