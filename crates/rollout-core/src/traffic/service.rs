//! The Service-side objects: the Service of the new version (same ports, selector narrowed to
//! the new version's role) and selector pinning on `pod-template-hash`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use crate::plan::{HASH_LABEL, ROLE_LABEL};

/// A Service selecting only the new version's pods: the app Service's selector plus the role
/// label, the same ports, no cluster IP carried over.
pub fn new_version_service(
    stable: &Service,
    name: &str,
    namespace: &str,
    app: &str,
    role: &str,
) -> Value {
    let spec = stable.spec.clone().unwrap_or_default();
    let mut selector: BTreeMap<String, String> = spec.selector.clone().unwrap_or_default();
    selector.remove(HASH_LABEL);
    selector.insert(ROLE_LABEL.into(), role.into());
    let ports: Vec<Value> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let mut v = json!({"port": p.port});
            if let Some(n) = p.name {
                v["name"] = json!(n);
            }
            if let Some(t) = p.target_port {
                v["targetPort"] = serde_json::to_value(t).unwrap_or(Value::Null);
            }
            if let Some(proto) = p.protocol {
                v["protocol"] = json!(proto);
            }
            v
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": super::owned_metadata(name, namespace, app),
        "spec": {"selector": selector, "ports": ports},
    })
}

/// Merge patch that sets (or, with `None`, removes) the pod-template-hash term of a
/// Service's selector, leaving every other term alone.
pub fn pin_patch(hash: Option<&str>) -> Value {
    json!({"spec": {"selector": {HASH_LABEL: hash}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_service_narrows_the_selector_and_keeps_ports() {
        let stable: Service = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web", "pod-template-hash": "abc"}, "clusterIP": "10.0.0.1",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
        }))
        .expect("service");
        let s = new_version_service(&stable, "web-canary", "prod", "web", "canary");
        assert_eq!(
            s["spec"],
            json!({"selector": {"app": "web", "rollout.dev/role": "canary"},
                   "ports": [{"port": 80, "name": "http", "targetPort": 8080, "protocol": "TCP"}]})
        );
        assert_eq!(s["metadata"]["labels"]["rollout.dev/app"], "web");
        assert_eq!(
            pin_patch(None),
            json!({"spec": {"selector": {"pod-template-hash": null}}})
        );
    }
}
