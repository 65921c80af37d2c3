//! Pod facts read the same way by the kubelet's peers and by the orchestrator.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

/// Whether the pod's Ready condition is True (what Endpoints and ReplicaSets count).
pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| is_ready_condition(&c.type_, &c.status)))
}

/// [`is_ready`] for a pod held as JSON, as the embedded cluster's store holds objects.
pub fn is_ready_json(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                is_ready_condition(
                    c["type"].as_str().unwrap_or_default(),
                    c["status"].as_str().unwrap_or_default(),
                )
            })
        })
}

fn is_ready_condition(type_: &str, status: &str) -> bool {
    type_ == "Ready" && status == "True"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_and_json_pods_agree() {
        for (conditions, ready) in [
            (json!([{"type": "Ready", "status": "True"}]), true),
            (json!([{"type": "Ready", "status": "False"}]), false),
            (json!([{"type": "PodScheduled", "status": "True"}]), false),
            (json!([]), false),
            (json!(null), false),
        ] {
            let v = json!({"metadata": {"name": "p"}, "status": {"conditions": conditions}});
            let typed: Pod = serde_json::from_value(v.clone()).expect("pod");
            assert_eq!(is_ready(&typed), ready, "{v}");
            assert_eq!(is_ready_json(&v), ready, "{v}");
        }
    }
}
