//! Node, Namespace, PersistentVolumeClaim and Event rows.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cells::{age, age_since, name_cell, time_at};
use crate::json::{arr_at, at, bool_at, int_at, str_at, str_or_empty};

fn node_address(node: &Value, ty: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == Some(ty))
        .map_or_else(
            || "<none>".to_string(),
            |a| str_or_empty(a, &["address"]).to_string(),
        )
}

pub(super) fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = arr_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == Some("Ready"))
    {
        status.push(if str_at(ready, &["status"]) == Some("True") {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = Vec::new();
    if let Some(Value::Object(labels)) = at(node, &["metadata", "labels"]) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role);
                }
            } else if k == "kubernetes.io/role"
                && let Some(role) = v.as_str().filter(|r| !r.is_empty())
            {
                roles.push(role);
            }
        }
    }
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info = |field: &str| {
        Some(str_or_empty(node, &["status", "nodeInfo", field]))
            .filter(|s| !s.is_empty())
            .unwrap_or("<unknown>")
            .to_string()
    };
    vec![
        name_cell(node),
        json!(status.join(",")),
        json!(roles),
        age(node, now),
        json!(str_or_empty(
            node,
            &["status", "nodeInfo", "kubeletVersion"]
        )),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

pub(super) fn namespace_cells(ns: &Value, now: Timestamp) -> Vec<Value> {
    // The API server sets status.phase (Active, or Terminating once deletion started).
    let phase = str_at(ns, &["status", "phase"])
        .filter(|p| !p.is_empty())
        .unwrap_or(if at(ns, &["metadata", "deletionTimestamp"]).is_some() {
            "Terminating"
        } else {
            "Active"
        });
    vec![name_cell(ns), json!(phase), age(ns, now)]
}

/// `helper.GetAccessModesAsString`.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    let mut out: Vec<&str> = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

pub(super) fn pvc_cells(pvc: &Value, now: Timestamp) -> Vec<Value> {
    let phase = if at(pvc, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else {
        // Defaulted to Pending by the API server.
        str_at(pvc, &["status", "phase"])
            .filter(|p| !p.is_empty())
            .unwrap_or("Pending")
    };
    let volume = str_or_empty(pvc, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            match at(pvc, &["status", "capacity", "storage"]) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => "0".to_string(),
            },
            access_modes(arr_at(pvc, &["status", "accessModes"])),
        )
    };
    let class = str_at(
        pvc,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .or_else(|| str_at(pvc, &["spec", "storageClassName"]))
    .unwrap_or("");
    vec![
        name_cell(pvc),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(class),
        json!(str_at(pvc, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(pvc, now),
        json!(str_at(pvc, &["spec", "volumeMode"]).unwrap_or("<unset>")),
    ]
}

pub(super) fn event_cells(ev: &Value, now: Timestamp) -> Vec<Value> {
    let first_seen = match time_at(ev, &["firstTimestamp"]) {
        Some(t) => age_since(Some(t), now),
        None => age_since(time_at(ev, &["eventTime"]), now),
    };
    let mut last_seen = match time_at(ev, &["lastTimestamp"]) {
        Some(t) => age_since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int_at(ev, &["count"]).unwrap_or(0);
    if let Some(series) = at(ev, &["series"]) {
        last_seen = age_since(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_or_empty(ev, &["involvedObject", "kind"]).to_lowercase();
    let involved_name = str_or_empty(ev, &["involvedObject", "name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let first_non_empty = |a: &'_ str, b: &'_ str| -> String {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        str_or_empty(ev, &["source", "component"]),
        str_or_empty(ev, &["reportingComponent"]),
    );
    let instance = first_non_empty(
        str_or_empty(ev, &["source", "host"]),
        str_or_empty(ev, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last_seen),
        json!(str_or_empty(ev, &["type"])),
        json!(str_or_empty(ev, &["reason"])),
        json!(target),
        json!(str_or_empty(ev, &["involvedObject", "fieldPath"])),
        json!(source),
        json!(str_or_empty(ev, &["message"]).trim()),
        json!(first_seen),
        json!(count),
        name_cell(ev),
    ]
}
