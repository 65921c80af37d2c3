//! Gateway API (HTTPRoute, Gateway): the CRD schema's bounds and enums and its CEL rules,
//! worded as the apiextensions server words them.

use kube_util::names;
use serde_json::Value;

use super::access::{child, gi, index};
use super::errors::{Bad, Errs, bs};
use super::go_format::scalar_text;
use crate::json::{arr_at, at, str_or_empty};

fn crd_range(e: &mut Errs, obj: &Value, k: &str, path: &str, min: i64, max: i64) {
    if let Some(n) = gi(obj, k) {
        if n < min {
            e.invalid(
                path,
                Bad::Int(n),
                &format!("{path} in body should be greater than or equal to {min}"),
            );
        }
        if n > max {
            e.invalid(
                path,
                Bad::Int(n),
                &format!("{path} in body should be less than or equal to {max}"),
            );
        }
    }
}

fn crd_enum(e: &mut Errs, obj: &Value, k: &str, path: &str, allowed: &[&str]) {
    if let Some(v) = at(obj, &[k]) {
        let v = scalar_text(v);
        if !allowed.contains(&v.as_str()) {
            e.not_supported(path, bs(&v), allowed);
        }
    }
}

fn crd_required_string(e: &mut Errs, obj: &Value, k: &str, path: &str) {
    if str_or_empty(obj, &[k]).is_empty() {
        e.required(path, "");
    }
}

fn validate_backend_ref(e: &mut Errs, b: &Value, path: &str) {
    crd_required_string(e, b, "name", &child(path, "name"));
    crd_range(e, b, "weight", &child(path, "weight"), 0, 1_000_000);
    crd_range(e, b, "port", &child(path, "port"), 1, 65535);
    if str_or_empty(b, &["group"]).is_empty()
        && str_or_empty(b, &["kind"]) == "Service"
        && at(b, &["port"]).is_none()
    {
        e.invalid(path, bs("object"), "Must have port for Service reference");
    }
}

pub(super) fn validate_http_route(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    for (i, p) in arr_at(spec, &["parentRefs"]).iter().enumerate() {
        crd_required_string(e, p, "name", &child(&index("spec.parentRefs", i), "name"));
    }
    for (i, h) in arr_at(spec, &["hostnames"]).iter().enumerate() {
        let h = scalar_text(h);
        let plain = h.strip_prefix("*.").unwrap_or(&h);
        if !names::is_dns1123_subdomain(plain).is_empty() {
            let p = index("spec.hostnames", i);
            e.invalid(
                &p,
                bs(&h),
                &format!(
                    "{p} in body should match '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"
                ),
            );
        }
    }
    for (ri, rule) in arr_at(spec, &["rules"]).iter().enumerate() {
        let rp = index("spec.rules", ri);
        for (mi, m) in arr_at(rule, &["matches"]).iter().enumerate() {
            let mp = index(&child(&rp, "matches"), mi);
            if let Some(path) = at(m, &["path"]) {
                let pp = child(&mp, "path");
                crd_enum(
                    e,
                    path,
                    "type",
                    &child(&pp, "type"),
                    &["Exact", "PathPrefix", "RegularExpression"],
                );
                let ty = str_or_empty(path, &["type"]);
                if (ty == "Exact" || ty == "PathPrefix")
                    && !str_or_empty(path, &["value"]).starts_with('/')
                {
                    e.invalid(
                        &pp,
                        bs("object"),
                        "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
                    );
                }
            }
            for (kind, list) in [("headers", "headers"), ("queryParams", "queryParams")] {
                for (hi, h) in arr_at(m, &[list]).iter().enumerate() {
                    let hp = index(&child(&mp, kind), hi);
                    crd_enum(
                        e,
                        h,
                        "type",
                        &child(&hp, "type"),
                        &["Exact", "RegularExpression"],
                    );
                    crd_required_string(e, h, "name", &child(&hp, "name"));
                    if at(h, &["value"]).is_none() {
                        e.required(&child(&hp, "value"), "");
                    }
                }
            }
            crd_enum(
                e,
                m,
                "method",
                &child(&mp, "method"),
                &[
                    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
                ],
            );
        }
        for (bi, b) in arr_at(rule, &["backendRefs"]).iter().enumerate() {
            validate_backend_ref(e, b, &index(&child(&rp, "backendRefs"), bi));
        }
    }
}

pub(super) fn validate_gateway(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    crd_required_string(e, spec, "gatewayClassName", "spec.gatewayClassName");
    if at(spec, &["listeners"]).is_none() {
        e.required("spec.listeners", "");
    }
    for (i, l) in arr_at(spec, &["listeners"]).iter().enumerate() {
        let lp = index("spec.listeners", i);
        crd_required_string(e, l, "name", &child(&lp, "name"));
        crd_required_string(e, l, "protocol", &child(&lp, "protocol"));
        if at(l, &["port"]).is_none() {
            e.required(&child(&lp, "port"), "");
        }
        crd_range(e, l, "port", &child(&lp, "port"), 1, 65535);
    }
}
