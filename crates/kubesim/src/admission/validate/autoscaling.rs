//! HorizontalPodAutoscaler (autoscaling/v2): metrics, targets and scaling behaviour.

use kube_util::names;
use serde_json::Value;

use super::access::{child, gi, index};
use super::errors::{Bad, Errs, bs};
use super::go_format::scalar_text;
use super::quantity::parse_quantity;
use crate::json::{arr_at, at, str_or_empty};

fn validate_metric_target(e: &mut Errs, t: &Value, path: &str) {
    let ty = str_or_empty(t, &["type"]);
    if ty.is_empty() {
        e.required(&child(path, "type"), "must specify a metric target type");
    }
    if !["Utilization", "Value", "AverageValue"].contains(&ty) {
        e.invalid(
            &child(path, "type"),
            bs(ty),
            "must be either Utilization, Value, or AverageValue",
        );
    }
    for f in ["value", "averageValue"] {
        if let Some(q) = at(t, &[f]) {
            let text = scalar_text(q);
            if parse_quantity(&text).is_none_or(|v| v <= 0) {
                e.invalid(&child(path, f), bs(&text), "must be positive");
            }
        }
    }
    if let Some(u) = gi(t, "averageUtilization")
        && u < 1
    {
        e.invalid(
            &child(path, "averageUtilization"),
            Bad::Int(u),
            "must be greater than 0",
        );
    }
}

const METRIC_TYPES: &[&str] = &[
    "Object",
    "Pods",
    "Resource",
    "External",
    "ContainerResource",
];

fn validate_metric(e: &mut Errs, m: &Value, path: &str) {
    let ty = str_or_empty(m, &["type"]);
    if ty.is_empty() {
        e.required(&child(path, "type"), "must specify a metric source type");
    }
    if !METRIC_TYPES.contains(&ty) {
        e.not_supported(&child(path, "type"), bs(ty), METRIC_TYPES);
    }
    let sources = [
        ("object", "Object"),
        ("pods", "Pods"),
        ("resource", "Resource"),
        ("external", "External"),
        ("containerResource", "ContainerResource"),
    ];
    let present: Vec<(&str, &str)> = sources
        .iter()
        .copied()
        .filter(|(f, _)| at(m, &[f]).is_some())
        .collect();
    if let Some((f, _)) = present.first() {
        let src = &m[f];
        let sp = child(path, f);
        if matches!(*f, "resource" | "containerResource") {
            if str_or_empty(src, &["name"]).is_empty() {
                e.required(&child(&sp, "name"), "must specify a resource name");
            }
            if *f == "containerResource" && str_or_empty(src, &["container"]).is_empty() {
                e.required(&child(&sp, "container"), "must specify a container");
            }
            let target = &src["target"];
            validate_metric_target(e, target, &child(&sp, "target"));
            let (u, v) = (
                at(target, &["averageUtilization"]),
                at(target, &["averageValue"]),
            );
            if u.is_none() && v.is_none() {
                e.required(
                    &child(&child(&sp, "target"), "averageUtilization"),
                    "must set either a target raw value or a target utilization",
                );
            }
            if u.is_some() && v.is_some() {
                e.forbidden(
                    &child(&child(&sp, "target"), "averageValue"),
                    "may not set both a target raw value and a target utilization",
                );
            }
        } else {
            validate_metric_target(e, &src["target"], &child(&sp, "target"));
        }
    }
    let expected = sources.iter().find(|(_, t)| *t == ty).map(|(f, _)| *f);
    if let Some(f) = expected
        && at(m, &[f]).is_none()
    {
        e.required(
            &child(path, f),
            "must populate information for the given metric source",
        );
    }
    if present.len() > 1 {
        for (f, _) in present.iter().filter(|(f, _)| Some(*f) != expected) {
            e.forbidden(
                &child(path, f),
                "must populate the given metric source only",
            );
        }
    }
}

fn validate_scaling_rules(e: &mut Errs, rules: &Value, path: &str) {
    if let Some(w) = gi(rules, "stabilizationWindowSeconds") {
        let wp = child(path, "stabilizationWindowSeconds");
        if w < 0 {
            e.invalid(&wp, Bad::Int(w), "must be greater than or equal to zero");
        }
        if w > 3600 {
            e.invalid(&wp, Bad::Int(w), "must be less than or equal to 3600");
        }
    }
    if let Some(sp) = at(rules, &["selectPolicy"]) {
        let sp = scalar_text(sp);
        if !["Max", "Min", "Disabled"].contains(&sp.as_str()) {
            e.not_supported(
                &child(path, "selectPolicy"),
                bs(&sp),
                &["Max", "Min", "Disabled"],
            );
        }
    }
    let policies = arr_at(rules, &["policies"]);
    let pp = child(path, "policies");
    if policies.is_empty() {
        e.required(&pp, "must specify at least one Policy");
    }
    for (i, p) in policies.iter().enumerate() {
        let ip = index(&pp, i);
        let ty = str_or_empty(p, &["type"]);
        if ty != "Pods" && ty != "Percent" {
            e.not_supported(&child(&ip, "type"), bs(ty), &["Pods", "Percent"]);
        }
        let v = gi(p, "value").unwrap_or(0);
        if v <= 0 {
            e.invalid(
                &child(&ip, "value"),
                Bad::Int(v),
                "must be greater than zero",
            );
        }
        let period = gi(p, "periodSeconds").unwrap_or(0);
        if period <= 0 {
            e.invalid(
                &child(&ip, "periodSeconds"),
                Bad::Int(period),
                "must be greater than zero",
            );
        }
        if period > 1800 {
            e.invalid(
                &child(&ip, "periodSeconds"),
                Bad::Int(period),
                "must be less than or equal to 1800",
            );
        }
    }
}

pub(super) fn validate_hpa(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    let min = gi(spec, "minReplicas");
    if let Some(m) = min
        && m < 1
    {
        e.invalid(
            "spec.minReplicas",
            Bad::Int(m),
            "must be greater than or equal to 1",
        );
    }
    let max = gi(spec, "maxReplicas").unwrap_or(0);
    if max < 1 {
        e.invalid("spec.maxReplicas", Bad::Int(max), "must be greater than 0");
    }
    if min.is_some_and(|m| max < m) {
        e.invalid(
            "spec.maxReplicas",
            Bad::Int(max),
            "must be greater than or equal to `minReplicas`",
        );
    }
    let target = &spec["scaleTargetRef"];
    for f in ["kind", "name"] {
        let v = str_or_empty(target, &[f]);
        let p = child("spec.scaleTargetRef", f);
        if v.is_empty() {
            e.required(&p, "");
        } else {
            for msg in names::is_valid_path_segment_name(v) {
                e.invalid(&p, bs(v), &msg);
            }
        }
    }
    for (i, m) in arr_at(spec, &["metrics"]).iter().enumerate() {
        validate_metric(e, m, &index("spec.metrics", i));
    }
    if let Some(b) = at(spec, &["behavior"]) {
        for f in ["scaleUp", "scaleDown"] {
            if let Some(r) = at(b, &[f]) {
                validate_scaling_rules(e, r, &child("spec.behavior", f));
            }
        }
    }
}
