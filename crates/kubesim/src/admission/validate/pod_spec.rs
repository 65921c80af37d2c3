//! Pod specs as Pods and pod templates share them: containers (ports, env, probes, lifecycle
//! handlers, resources, volume mounts), volumes and tolerations.

use kube_util::names;
use serde_json::Value;

use super::access::{child, gi, gmap, index, key};
use super::errors::{Bad, Errs, bs};
use super::go_format::{go_ptr, go_quote};
use super::meta::{validate_annotations, validate_labels};
use super::quantity::{QUANTITY_FORMAT, parse_quantity, quantity_text};
use super::{MAX_INT32, NEGATIVE};
use crate::admission::defaults::volume_sources;
use crate::json::{arr_at, at, str_or_empty};

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

pub(super) fn validate_port_num_or_name(e: &mut Errs, v: Option<&Value>, path: &str) {
    match v {
        Some(Value::String(s)) => {
            for msg in names::is_valid_port_name(s) {
                e.invalid(path, bs(s), &msg);
            }
        }
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            for msg in names::is_valid_port_num(n) {
                e.invalid(path, Bad::Int(n), &msg);
            }
        }
    }
}

fn validate_http_get(e: &mut Errs, h: &Value, path: &str) {
    if str_or_empty(h, &["path"]).is_empty() {
        e.required(&child(path, "path"), "");
    }
    validate_port_num_or_name(e, at(h, &["port"]), &child(path, "port"));
    let scheme = str_or_empty(h, &["scheme"]);
    if scheme != "HTTP" && scheme != "HTTPS" {
        e.not_supported(&child(path, "scheme"), bs(scheme), &["HTTP", "HTTPS"]);
    }
    for header in arr_at(h, &["httpHeaders"]) {
        let name = str_or_empty(header, &["name"]);
        for msg in names::is_http_header_name(name) {
            e.invalid(&child(path, "httpHeaders"), bs(name), &msg);
        }
    }
}

/// Exactly one handler (`exec`, `httpGet`, `tcpSocket`, `grpc` for probes; `sleep` instead
/// of `grpc` for lifecycle hooks).
fn validate_handler(e: &mut Errs, h: &Value, path: &str, lifecycle: bool) {
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    let mut n = 0;
    for k in kinds {
        let Some(v) = at(h, &[k]) else {
            continue;
        };
        let kp = child(path, k);
        if n > 0 {
            e.forbidden(&kp, "may not specify more than 1 handler type");
            continue;
        }
        n += 1;
        match *k {
            "exec" if arr_at(v, &["command"]).is_empty() => {
                e.required(&child(&kp, "command"), "");
            }
            "httpGet" => validate_http_get(e, v, &kp),
            "tcpSocket" => validate_port_num_or_name(e, at(v, &["port"]), &child(&kp, "port")),
            "grpc" => {
                let port = gi(v, "port").unwrap_or(0);
                for msg in names::is_valid_port_num(port) {
                    e.invalid(&child(&kp, "port"), Bad::Int(port), &msg);
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        e.required(path, "must specify a handler type");
    }
}

fn validate_probe(e: &mut Errs, probe: &Value, path: &str, kind: ProbeKind) {
    validate_handler(e, probe, path, false);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        e.nonneg(probe, f, &child(path, f));
    }
    let tgps = gi(probe, "terminationGracePeriodSeconds");
    if let Some(t) = tgps
        && t <= 0
    {
        e.invalid(
            &child(path, "terminationGracePeriodSeconds"),
            Bad::Int(t),
            "must be greater than 0",
        );
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = gi(probe, "successThreshold").unwrap_or(0);
            if st != 1 {
                e.invalid(&child(path, "successThreshold"), Bad::Int(st), "must be 1");
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = tgps {
                e.invalid(
                    &child(path, "terminationGracePeriodSeconds"),
                    Bad::Int(t),
                    "must not be set for readinessProbes",
                );
            }
        }
    }
}

fn validate_container_ports(e: &mut Errs, c: &Value, path: &str) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, port) in arr_at(c, &["ports"]).iter().enumerate() {
        let ip = index(path, i);
        let name = str_or_empty(port, &["name"]);
        if !name.is_empty() {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    e.invalid(&child(&ip, "name"), bs(name), &msg);
                }
            } else if seen.contains(&name) {
                e.duplicate(&child(&ip, "name"), bs(name));
            } else {
                seen.push(name);
            }
        }
        let cp = gi(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            e.required(&child(&ip, "containerPort"), "");
        } else {
            for msg in names::is_valid_port_num(cp) {
                e.invalid(&child(&ip, "containerPort"), Bad::Int(cp), &msg);
            }
        }
        let hp = gi(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for msg in names::is_valid_port_num(hp) {
                e.invalid(&child(&ip, "hostPort"), Bad::Int(hp), &msg);
            }
        }
        validate_protocol(
            e,
            str_or_empty(port, &["protocol"]),
            &child(&ip, "protocol"),
        );
    }
}

pub(super) fn validate_protocol(e: &mut Errs, proto: &str, path: &str) {
    if proto.is_empty() {
        e.required(path, "");
    } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
        e.not_supported(path, bs(proto), &["SCTP", "TCP", "UDP"]);
    }
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const CONVERTIBLE_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `metadata.labels['app']` → (`metadata.labels`, `app`).
fn split_subscript(p: &str) -> Option<(&str, &str)> {
    let (base, rest) = p.split_once("['")?;
    let sub = rest.strip_suffix("']")?;
    Some((base, sub))
}

fn validate_field_ref(e: &mut Errs, fr: &Value, path: &str) {
    if str_or_empty(fr, &["apiVersion"]).is_empty() {
        e.required(&child(path, "apiVersion"), "");
        return;
    }
    let fp = str_or_empty(fr, &["fieldPath"]);
    if fp.is_empty() {
        e.required(&child(path, "fieldPath"), "");
        return;
    }
    if let Some((base, sub)) = split_subscript(fp) {
        match base {
            "metadata.annotations" => {
                for msg in names::is_qualified_name(&sub.to_lowercase()) {
                    e.invalid(path, bs(sub), &msg);
                }
            }
            "metadata.labels" => {
                for msg in names::is_qualified_name(sub) {
                    e.invalid(path, bs(sub), &msg);
                }
            }
            _ => e.invalid(path, bs(base), "does not support subscript"),
        }
        return;
    }
    if !CONVERTIBLE_FIELD_PATHS.contains(&fp) {
        e.invalid(
            &child(path, "fieldPath"),
            bs(fp),
            &format!("error converting fieldPath: field label not supported: {fp}"),
        );
        return;
    }
    if !ENV_FIELD_PATHS.contains(&fp) {
        e.not_supported(&child(path, "fieldPath"), bs(fp), ENV_FIELD_PATHS);
    }
}

fn validate_key_selector(e: &mut Errs, sel: &Value, path: &str) {
    let name = str_or_empty(sel, &["name"]);
    for msg in names::is_dns1123_subdomain(name) {
        e.invalid(&child(path, "name"), bs(name), &msg);
    }
    let k = str_or_empty(sel, &["key"]);
    if k.is_empty() {
        e.required(&child(path, "key"), "");
    } else {
        for msg in names::is_config_map_key(k) {
            e.invalid(&child(path, "key"), bs(k), &msg);
        }
    }
}

fn validate_env(e: &mut Errs, c: &Value, path: &str) {
    for (i, ev) in arr_at(c, &["env"]).iter().enumerate() {
        let ip = index(path, i);
        let name = str_or_empty(ev, &["name"]);
        if name.is_empty() {
            e.required(&child(&ip, "name"), "");
        } else {
            for msg in names::is_relaxed_env_var_name(name) {
                e.invalid(&child(&ip, "name"), bs(name), &msg);
            }
        }
        let Some(vf) = at(ev, &["valueFrom"]) else {
            continue;
        };
        let vp = child(&ip, "valueFrom");
        let mut n = 0;
        if let Some(fr) = at(vf, &["fieldRef"]) {
            n += 1;
            validate_field_ref(e, fr, &child(&vp, "fieldRef"));
        }
        if let Some(rf) = at(vf, &["resourceFieldRef"]) {
            n += 1;
            if str_or_empty(rf, &["resource"]).is_empty() {
                e.required(&child(&child(&vp, "resourceFieldRef"), "resource"), "");
            }
        }
        if let Some(s) = at(vf, &["configMapKeyRef"]) {
            n += 1;
            validate_key_selector(e, s, &child(&vp, "configMapKeyRef"));
        }
        if let Some(s) = at(vf, &["secretKeyRef"]) {
            n += 1;
            validate_key_selector(e, s, &child(&vp, "secretKeyRef"));
        }
        if n == 0 {
            e.invalid(
                &vp,
                bs(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            );
        } else if !str_or_empty(ev, &["value"]).is_empty() {
            e.invalid(
                &vp,
                bs(""),
                "may not be specified when `value` is not empty",
            );
        } else if n > 1 {
            e.invalid(
                &vp,
                bs(""),
                "may not have more than one field specified at a time",
            );
        }
    }
}

fn validate_volume_mounts(e: &mut Errs, c: &Value, path: &str, volumes: &[String]) {
    let mut mount_points: Vec<&str> = Vec::new();
    for (i, m) in arr_at(c, &["volumeMounts"]).iter().enumerate() {
        let ip = index(path, i);
        let name = str_or_empty(m, &["name"]);
        if name.is_empty() {
            e.required(&child(&ip, "name"), "");
        }
        if !volumes.iter().any(|v| v == name) {
            e.not_found(&child(&ip, "name"), bs(name));
        }
        let mp = str_or_empty(m, &["mountPath"]);
        if mp.is_empty() {
            e.required(&child(&ip, "mountPath"), "");
        }
        if mount_points.contains(&mp) {
            e.invalid(&child(&ip, "mountPath"), bs(mp), "must be unique");
        }
        mount_points.push(mp);
    }
}

fn validate_pull_policy(e: &mut Errs, policy: &str, path: &str) {
    match policy {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => e.required(path, ""),
        _ => e.not_supported(path, bs(policy), &["Always", "IfNotPresent", "Never"]),
    }
}

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn validate_resource_quantity(e: &mut Errs, name: &str, q: &Value, path: &str) -> Option<i128> {
    for msg in names::is_qualified_name(name) {
        e.invalid(path, bs(name), &msg);
    }
    if !name.contains('/') && names::is_qualified_name(name).is_empty() {
        let standard = STANDARD_RESOURCES.contains(&name) || name.starts_with("hugepages-");
        if !standard {
            e.invalid(
                path,
                bs(name),
                "must be a standard resource type or fully qualified",
            );
        }
        let container = matches!(name, "cpu" | "memory" | "ephemeral-storage")
            || name.starts_with("hugepages-");
        if !container {
            e.invalid(path, bs(name), "must be a standard resource for containers");
        }
    }
    let text = quantity_text(q);
    match parse_quantity(&text) {
        None => {
            e.invalid(path, bs(&text), QUANTITY_FORMAT);
            None
        }
        Some(v) => {
            if v < 0 {
                e.invalid(path, bs(&text), NEGATIVE);
            }
            Some(v)
        }
    }
}

fn validate_resources(e: &mut Errs, res: &Value, path: &str) {
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let mut limits: Vec<(&str, Option<i128>, String)> = Vec::new();
    if let Some(m) = gmap(res, "limits") {
        for (name, q) in m {
            let v = validate_resource_quantity(e, name, q, &key(&lim_path, name));
            limits.push((name, v, quantity_text(q)));
        }
    }
    if let Some(m) = gmap(res, "requests") {
        for (name, q) in m {
            let v = validate_resource_quantity(e, name, q, &key(&req_path, name));
            let Some(v) = v else {
                continue;
            };
            let Some((_, Some(l), ltext)) = limits.iter().find(|(n, _, _)| n == name) else {
                continue;
            };
            let overcommit = is_native_resource(name) && !name.starts_with("hugepages-");
            let text = quantity_text(q);
            if v != *l && !overcommit {
                e.invalid(
                    &req_path,
                    bs(&text),
                    &format!("must be equal to {name} limit of {ltext}"),
                );
            } else if v > *l {
                e.invalid(
                    &req_path,
                    bs(&text),
                    &format!("must be less than or equal to {name} limit of {ltext}"),
                );
            }
        }
    }
}

/// What every container type shares (`validateContainerCommon`).
fn validate_container_common(e: &mut Errs, c: &Value, path: &str, volumes: &[String]) {
    let name = str_or_empty(c, &["name"]);
    let np = child(path, "name");
    if name.is_empty() {
        e.required(&np, "");
    } else {
        for msg in names::is_dns1123_label(name) {
            e.invalid(&np, bs(name), &msg);
        }
    }
    if str_or_empty(c, &["image"]).is_empty() {
        e.required(&child(path, "image"), "");
    }
    let tmp = str_or_empty(c, &["terminationMessagePolicy"]);
    match tmp {
        "File" | "FallbackToLogsOnError" => {}
        "" => e.required(&child(path, "terminationMessagePolicy"), ""),
        _ => e.not_supported(
            &child(path, "terminationMessagePolicy"),
            bs(tmp),
            &["File", "FallbackToLogsOnError"],
        ),
    }
    validate_container_ports(e, c, &child(path, "ports"));
    validate_env(e, c, &child(path, "env"));
    validate_volume_mounts(e, c, &child(path, "volumeMounts"), volumes);
    validate_pull_policy(
        e,
        str_or_empty(c, &["imagePullPolicy"]),
        &child(path, "imagePullPolicy"),
    );
    validate_resources(e, &c["resources"], &child(path, "resources"));
}

fn validate_lifecycle(e: &mut Errs, c: &Value, path: &str) {
    let Some(lc) = at(c, &["lifecycle"]) else {
        return;
    };
    for hook in ["postStart", "preStop"] {
        if let Some(h) = at(lc, &[hook]) {
            validate_handler(e, h, &child(&child(path, "lifecycle"), hook), true);
        }
    }
}

fn validate_probes(e: &mut Errs, c: &Value, path: &str) {
    for (k, kind) in [
        ("livenessProbe", ProbeKind::Liveness),
        ("readinessProbe", ProbeKind::Readiness),
        ("startupProbe", ProbeKind::Startup),
    ] {
        if let Some(p) = at(c, &[k]) {
            validate_probe(e, p, &child(path, k), kind);
        }
    }
}

fn validate_containers(e: &mut Errs, spec: &Value, path: &str, volumes: &[String]) {
    let containers = arr_at(spec, &["containers"]);
    if containers.is_empty() {
        e.required(path, "");
        return;
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let ip = index(path, i);
        validate_container_common(e, c, &ip, volumes);
        let name = str_or_empty(c, &["name"]);
        if seen.contains(&name) {
            e.duplicate(&child(&ip, "name"), bs(name));
        } else {
            seen.push(name);
        }
        validate_lifecycle(e, c, &ip);
        validate_probes(e, c, &ip);
        if at(c, &["restartPolicy"]).is_some() {
            e.forbidden(
                &child(&ip, "restartPolicy"),
                "may not be set for non-init containers",
            );
        }
    }
}

fn validate_init_containers(e: &mut Errs, spec: &Value, path: &str, volumes: &[String]) {
    let mut seen: Vec<&str> = arr_at(spec, &["containers"])
        .iter()
        .map(|c| str_or_empty(c, &["name"]))
        .collect();
    for (i, c) in arr_at(spec, &["initContainers"]).iter().enumerate() {
        let ip = index(path, i);
        validate_container_common(e, c, &ip, volumes);
        let mut sidecar = false;
        if at(c, &["restartPolicy"]).is_some() {
            let rp = str_or_empty(c, &["restartPolicy"]);
            if rp == "Always" {
                sidecar = true;
            } else {
                e.not_supported(&child(&ip, "restartPolicy"), bs(rp), &["Always"]);
            }
        }
        let name = str_or_empty(c, &["name"]);
        if seen.contains(&name) {
            e.duplicate(&child(&ip, "name"), bs(name));
        } else if !name.is_empty() {
            seen.push(name);
        }
        if sidecar {
            validate_lifecycle(e, c, &ip);
            validate_probes(e, c, &ip);
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if at(c, &[f]).is_some() {
                    e.forbidden(
                        &child(&ip, f),
                        "may not be set for init containers without restartPolicy=Always",
                    );
                }
            }
        }
    }
}

/// Validates the volumes and answers the names of the valid ones (for volume mounts).
fn validate_volumes(e: &mut Errs, spec: &Value, path: &str) -> Vec<String> {
    let mut valid: Vec<String> = Vec::new();
    let mut all: Vec<&str> = Vec::new();
    for (i, v) in arr_at(spec, &["volumes"]).iter().enumerate() {
        let ip = index(path, i);
        let mut el = Errs::default();
        validate_volume_source(&mut el, v, &ip);
        let name = str_or_empty(v, &["name"]);
        let np = child(&ip, "name");
        if name.is_empty() {
            el.required(&np, "");
        } else {
            for msg in names::is_dns1123_label(name) {
                el.invalid(&np, bs(name), &msg);
            }
        }
        if all.contains(&name) {
            el.duplicate(&np, bs(name));
        }
        if el.0.is_empty() {
            all.push(name);
            valid.push(name.to_string());
        } else {
            e.0.extend(el.0);
        }
    }
    valid
}

fn validate_file_mode(e: &mut Errs, src: &Value, k: &str, path: &str) {
    if let Some(m) = gi(src, k)
        && !(0..=0o777).contains(&m)
    {
        e.invalid(
            &child(path, k),
            Bad::Int(m),
            "must be a number between 0 and 0777 (octal), both inclusive",
        );
    }
}

fn validate_volume_source(e: &mut Errs, v: &Value, path: &str) {
    let present: Vec<&str> = volume_sources()
        .iter()
        .copied()
        .filter(|k| at(v, &[k]).is_some())
        .collect();
    let Some(first) = present.first() else {
        e.required(path, "must specify a volume type");
        return;
    };
    for extra in present.iter().skip(1) {
        e.forbidden(
            &child(path, extra),
            "may not specify more than 1 volume type",
        );
    }
    let src = &v[first];
    let sp = child(path, first);
    match *first {
        "configMap" => {
            if str_or_empty(src, &["name"]).is_empty() {
                e.required(&child(&sp, "name"), "");
            }
            validate_file_mode(e, src, "defaultMode", &sp);
        }
        "secret" => {
            if str_or_empty(src, &["secretName"]).is_empty() {
                e.required(&child(&sp, "secretName"), "");
            }
            validate_file_mode(e, src, "defaultMode", &sp);
        }
        "persistentVolumeClaim" if str_or_empty(src, &["claimName"]).is_empty() => {
            e.required(&child(&sp, "claimName"), "");
        }
        "hostPath" if str_or_empty(src, &["path"]).is_empty() => {
            e.required(&child(&sp, "path"), "");
        }
        "projected" | "downwardAPI" => validate_file_mode(e, src, "defaultMode", &sp),
        _ => {}
    }
}

fn go_toleration(t: &Value) -> String {
    format!(
        "core.Toleration{{Key:{}, Operator:{}, Value:{}, Effect:{}, TolerationSeconds:{}}}",
        go_quote(str_or_empty(t, &["key"])),
        go_quote(str_or_empty(t, &["operator"])),
        go_quote(str_or_empty(t, &["value"])),
        go_quote(str_or_empty(t, &["effect"])),
        go_ptr("int64", at(t, &["tolerationSeconds"]))
    )
}

fn validate_tolerations(e: &mut Errs, spec: &Value, path: &str) {
    for (i, t) in arr_at(spec, &["tolerations"]).iter().enumerate() {
        let ip = index(path, i);
        let k = str_or_empty(t, &["key"]);
        if !k.is_empty() {
            for msg in names::is_qualified_name(k) {
                e.invalid(&child(&ip, "key"), bs(k), &msg);
            }
        }
        let op = str_or_empty(t, &["operator"]);
        if k.is_empty() && op != "Exists" {
            e.invalid(
                &child(&ip, "operator"),
                bs(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            );
        }
        let effect = str_or_empty(t, &["effect"]);
        if at(t, &["tolerationSeconds"]).is_some() && effect != "NoExecute" {
            e.invalid(
                &child(&ip, "effect"),
                bs(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            );
        }
        match op {
            "Equal" | "" => {
                let value = str_or_empty(t, &["value"]);
                let errs = names::is_valid_label_value(value);
                if !errs.is_empty() {
                    e.invalid(&child(&ip, "operator"), bs(value), &errs.join(";"));
                }
            }
            "Exists" => {
                if !str_or_empty(t, &["value"]).is_empty() {
                    e.invalid(
                        &child(&ip, "operator"),
                        Bad::Raw(go_toleration(t)),
                        "value must be empty when `operator` is 'Exists'",
                    );
                }
            }
            _ => e.not_supported(&child(&ip, "operator"), bs(op), &["Equal", "Exists"]),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            e.not_supported(
                &child(&ip, "effect"),
                bs(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            );
        }
    }
}

/// `ValidatePodSpec` (the parts the embedded cluster can meaningfully check).
pub(super) fn validate_pod_spec(e: &mut Errs, spec: &Value, path: &str) {
    let volumes = validate_volumes(e, spec, &child(path, "volumes"));
    validate_containers(e, spec, &child(path, "containers"), &volumes);
    validate_init_containers(e, spec, &child(path, "initContainers"), &volumes);
    let rp = str_or_empty(spec, &["restartPolicy"]);
    match rp {
        "Always" | "OnFailure" | "Never" => {}
        "" => e.required(&child(path, "restartPolicy"), ""),
        _ => e.not_supported(
            &child(path, "restartPolicy"),
            bs(rp),
            &["Always", "OnFailure", "Never"],
        ),
    }
    let dp = str_or_empty(spec, &["dnsPolicy"]);
    match dp {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => e.required(&child(path, "dnsPolicy"), ""),
        _ => e.not_supported(
            &child(path, "dnsPolicy"),
            bs(dp),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ),
    }
    validate_labels(e, at(spec, &["nodeSelector"]), &child(path, "nodeSelector"));
    if dp == "None" && at(spec, &["dnsConfig"]).is_none() {
        e.required(
            &child(path, "dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        );
    }
    for (f, label) in [
        ("serviceAccountName", false),
        ("nodeName", false),
        ("hostname", true),
        ("subdomain", true),
    ] {
        let v = str_or_empty(spec, &[f]);
        if v.is_empty() {
            continue;
        }
        let msgs = if label {
            names::is_dns1123_label(v)
        } else {
            names::is_dns1123_subdomain(v)
        };
        for msg in msgs {
            e.invalid(&child(path, f), bs(v), &msg);
        }
    }
    if let Some(ads) = gi(spec, "activeDeadlineSeconds")
        && !(1..=MAX_INT32).contains(&ads)
    {
        e.invalid(
            &child(path, "activeDeadlineSeconds"),
            Bad::Int(ads),
            &names::inclusive_range_error(1, MAX_INT32),
        );
    }
    validate_tolerations(e, spec, &child(path, "tolerations"));
}

/// `ValidatePodTemplateSpec`: the template's labels/annotations (at `<path>.labels`, as
/// upstream) and its pod spec.
pub(super) fn validate_pod_template(e: &mut Errs, tmpl: &Value, path: &str) {
    let meta = &tmpl["metadata"];
    validate_labels(e, at(meta, &["labels"]), &child(path, "labels"));
    validate_annotations(e, at(meta, &["annotations"]), &child(path, "annotations"));
    let spec = &tmpl["spec"];
    validate_pod_spec(e, spec, &child(path, "spec"));
    if !arr_at(spec, &["ephemeralContainers"]).is_empty() {
        e.forbidden(
            &child(&child(path, "spec"), "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        );
    }
}
