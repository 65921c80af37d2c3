//! The app's Service: the router that switches its selector from one version to the other
//! (blue/green), and the Service-side objects every strategy that splits traffic uses — the
//! Service of the new version (same ports, selector narrowed to the new version's role) and
//! selector pinning on `pod-template-hash`.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use serde_json::{Value, json};

use super::{Capability, Need, RouteContext, Router, Routing, TrafficError};
use crate::app::PlanInput;
use crate::labels::{HASH_LABEL, ROLE_LABEL};

pub struct ServiceSwitch;

impl Router for ServiceSwitch {
    fn name(&self) -> &'static str {
        "service"
    }

    fn describe(&self) -> &'static str {
        "the Service selector, switched from one version to the other"
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Switch]
    }

    fn missing(&self, input: &PlanInput) -> Option<&'static str> {
        input.service.is_none().then_some("a Service")
    }

    fn picks(&self, need: Need, _input: &PlanInput) -> bool {
        need == Need::Switch
    }

    /// The switch is a step of its own (the selector's pod-template-hash term), not a route.
    fn apply<'a>(
        &'a self,
        _cx: &'a RouteContext<'a>,
        _routing: &'a Routing,
    ) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async { Ok(()) })
    }

    fn restore<'a>(&'a self, _cx: &'a RouteContext<'a>) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A Service selecting only the new version's pods: the app Service's selector plus the role
/// label, the same ports, no cluster IP carried over.
pub fn new_version_service(
    stable: &Service,
    name: &str,
    namespace: &str,
    (app, rollout): (&str, &str),
    role: &str,
) -> Service {
    let spec = stable.spec.clone().unwrap_or_default();
    let mut selector: BTreeMap<String, String> = spec.selector.clone().unwrap_or_default();
    selector.remove(HASH_LABEL);
    selector.insert(ROLE_LABEL.into(), role.into());
    let ports: Vec<ServicePort> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| ServicePort {
            port: p.port,
            name: p.name,
            target_port: p.target_port,
            protocol: p.protocol,
            ..ServicePort::default()
        })
        .collect();
    Service {
        metadata: crate::labels::owned_metadata(name, namespace, app, Some(rollout)),
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    }
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
        let s = new_version_service(&stable, "web-canary", "prod", ("web", "r1"), "canary");
        let s = serde_json::to_value(&s).expect("json");
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
