//! Deployment, ReplicaSet, StatefulSet and HorizontalPodAutoscaler rows.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cells::{age, container_cells, name_cell};
use super::selector::{InvalidSelector, format_label_selector, selector_string};
use crate::json::{arr_at, at, int_at, str_or_empty};

/// `spec.replicas`, defaulted to 1 as the API server's defaulting does.
fn desired_replicas(obj: &Value) -> i64 {
    int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

fn status_int(obj: &Value, field: &str) -> i64 {
    int_at(obj, &["status", field]).unwrap_or(0)
}

fn template_containers(obj: &Value) -> (String, String) {
    container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]))
}

pub(super) fn deployment_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    let selector = selector_string(at(obj, &["spec", "selector"]))
        .unwrap_or_else(|InvalidSelector| "<invalid>".to_string());
    vec![
        name_cell(obj),
        json!(format!(
            "{}/{}",
            status_int(obj, "readyReplicas"),
            desired_replicas(obj)
        )),
        json!(status_int(obj, "updatedReplicas")),
        json!(status_int(obj, "availableReplicas")),
        age(obj, now),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

pub(super) fn replicaset_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name_cell(obj),
        json!(desired_replicas(obj)),
        json!(status_int(obj, "replicas")),
        json!(status_int(obj, "readyReplicas")),
        age(obj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

pub(super) fn statefulset_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name_cell(obj),
        json!(format!(
            "{}/{}",
            status_int(obj, "readyReplicas"),
            desired_replicas(obj)
        )),
        age(obj, now),
        json!(names),
        json!(images),
    ]
}

pub(super) fn hpa_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_or_empty(obj, &["spec", "scaleTargetRef", "kind"]),
        str_or_empty(obj, &["spec", "scaleTargetRef", "name"])
    );
    let min_pods = int_at(obj, &["spec", "minReplicas"])
        .map_or_else(|| "<unset>".to_string(), |m| m.to_string());
    vec![
        name_cell(obj),
        json!(reference),
        json!(format_hpa_metrics(
            arr_at(obj, &["spec", "metrics"]),
            arr_at(obj, &["status", "currentMetrics"]),
        )),
        json!(min_pods),
        json!(int_at(obj, &["spec", "maxReplicas"]).unwrap_or(0)),
        json!(status_int(obj, "currentReplicas")),
        age(obj, now),
    ]
}

/// A `resource.Quantity` field printed with `Quantity.String()` (`<nil>` when absent).
fn quantity(v: Option<&Value>, path: &[&str]) -> String {
    match v.and_then(|v| at(v, path)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "<nil>".to_string(),
    }
}

/// `formatHPAMetrics`.
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 2;
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let status_of = |key: &str| status.and_then(|s| at(s, &[key]));
        let entry = match str_or_empty(spec, &["type"]) {
            "External" | "Object" => {
                let key = if str_or_empty(spec, &["type"]) == "External" {
                    "external"
                } else {
                    "object"
                };
                let src = at(spec, &[key]);
                let current_src = status_of(key);
                if src
                    .and_then(|s| at(s, &["target", "averageValue"]))
                    .is_some()
                {
                    let current =
                        match current_src.and_then(|s| at(s, &["current", "averageValue"])) {
                            Some(_) => quantity(current_src, &["current", "averageValue"]),
                            None => "<unknown>".to_string(),
                        };
                    format!(
                        "{current}/{} (avg)",
                        quantity(src, &["target", "averageValue"])
                    )
                } else {
                    let current = match current_src {
                        Some(_) => quantity(current_src, &["current", "value"]),
                        None => "<unknown>".to_string(),
                    };
                    format!("{current}/{}", quantity(src, &["target", "value"]))
                }
            }
            "Pods" => {
                let current_src = status_of("pods");
                let current = match current_src {
                    Some(_) => quantity(current_src, &["current", "averageValue"]),
                    None => "<unknown>".to_string(),
                };
                format!(
                    "{current}/{}",
                    quantity(at(spec, &["pods"]), &["target", "averageValue"])
                )
            }
            ty @ ("Resource" | "ContainerResource") => {
                let key = if ty == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let src = at(spec, &[key]);
                let name = src.map_or("", |s| str_or_empty(s, &["name"]));
                let current_src = status_of(key);
                if src
                    .and_then(|s| at(s, &["target", "averageValue"]))
                    .is_some()
                {
                    let current = match current_src {
                        Some(_) => quantity(current_src, &["current", "averageValue"]),
                        None => "<unknown>".to_string(),
                    };
                    format!(
                        "{name}: {current}/{}",
                        quantity(src, &["target", "averageValue"])
                    )
                } else {
                    let current = current_src
                        .and_then(|s| int_at(s, &["current", "averageUtilization"]))
                        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
                    let target = src
                        .and_then(|s| int_at(s, &["target", "averageUtilization"]))
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{name}: {current}/{target}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}
