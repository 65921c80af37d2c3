//! Pod facts read the same way by the kubelet's peers and by the orchestrator.

use k8s_openapi::api::core::v1::Pod;

/// Whether the pod's Ready condition is True (what Endpoints and ReplicaSets count).
pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
