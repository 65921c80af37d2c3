//! A Service's endpoints as the data path sees them: its EndpointSlices (what kube-proxy and
//! ingress controllers read, v1 or Kubernetes 1.20's v1beta1) and the Endpoints object (what
//! the API server's service proxy reads), against the pods that should be serving.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Endpoints, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};

/// Label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The EndpointSlice resource the API server serves: v1, else v1beta1 (Kubernetes 1.20).
pub async fn endpoint_slice_resource(client: &kube::Client) -> ApiResource {
    let serves_v1 = client
        .list_api_group_resources("discovery.k8s.io/v1")
        .await
        .is_ok_and(|l| l.resources.iter().any(|r| r.kind == "EndpointSlice"));
    let version = if serves_v1 { "v1" } else { "v1beta1" };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("discovery.k8s.io", version, "EndpointSlice"),
        "endpointslices",
    )
}

/// An EndpointSlice of either version read as v1: the fields read here (addresses,
/// conditions, ports) are the same in v1beta1.
pub fn slice_as_v1(object: &DynamicObject) -> Option<EndpointSlice> {
    let mut v = serde_json::to_value(object).ok()?;
    // The typed v1 object insists on its own apiVersion.
    v["apiVersion"] = serde_json::json!("discovery.k8s.io/v1");
    serde_json::from_value(v).ok()
}

/// The addresses the slices offer to traffic (an endpoint without conditions is ready).
pub fn ready_addresses<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> BTreeSet<String> {
    slices
        .into_iter()
        .flat_map(|s| &s.endpoints)
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .flat_map(|e| e.addresses.iter().cloned())
        .collect()
}

/// The ready addresses of an Endpoints object (the one named after the Service).
pub fn endpoints_addresses<'a>(
    endpoints: impl IntoIterator<Item = &'a Endpoints>,
) -> BTreeSet<String> {
    endpoints
        .into_iter()
        .flat_map(|e| e.subsets.iter().flatten())
        .flat_map(|s| s.addresses.iter().flatten())
        .map(|a| a.ip.clone())
        .collect()
}

/// The addresses of the pods that should take traffic: ready (or any, for a Service that
/// publishes not-ready addresses), not terminating, addressed.
pub fn serving_pod_addresses<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    publish_not_ready: bool,
) -> BTreeSet<String> {
    pods.into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| publish_not_ready || crate::pod::is_ready(p))
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slice(endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc"}, "addressType": "IPv4", "endpoints": endpoints,
        }))
        .expect("slice")
    }

    #[test]
    fn only_ready_endpoints_carry_traffic() {
        let s = slice(json!([
            {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
            {"addresses": ["10.0.0.2"], "conditions": {"ready": false, "terminating": true}},
            {"addresses": ["10.0.0.3"]},
        ]));
        let got: Vec<String> = ready_addresses([&s]).into_iter().collect();
        assert_eq!(got, ["10.0.0.1", "10.0.0.3"]);
    }

    #[test]
    fn endpoints_offer_their_ready_addresses_only() {
        let e: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": "10.0.0.2"}],
                         "ports": [{"port": 8080}]}],
        }))
        .expect("endpoints");
        let got: Vec<String> = endpoints_addresses([&e]).into_iter().collect();
        assert_eq!(got, ["10.0.0.1"]);
    }

    #[test]
    fn a_v1beta1_slice_reads_as_v1() {
        let o: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "topology": {"kubernetes.io/hostname": "n1"}}],
        }))
        .expect("object");
        let s = slice_as_v1(&o).expect("as v1");
        assert_eq!(ready_addresses([&s]).len(), 1);
    }

    #[test]
    fn serving_pods_are_ready_addressed_and_staying() {
        let pod = |ip: Option<&str>, ready: &str, deleting: bool| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "p", "deletionTimestamp": deleting.then_some("2026-01-01T00:00:00Z")},
                "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]},
            }))
            .expect("pod")
        };
        let pods = [
            pod(Some("10.0.0.1"), "True", false),
            pod(Some("10.0.0.2"), "False", false),
            pod(Some("10.0.0.3"), "True", true),
            pod(None, "True", false),
        ];
        let got: Vec<String> = serving_pod_addresses(&pods, false).into_iter().collect();
        assert_eq!(got, ["10.0.0.1"]);
        let got: Vec<String> = serving_pod_addresses(&pods, true).into_iter().collect();
        assert_eq!(got, ["10.0.0.1", "10.0.0.2"]);
    }
}
