//! The resource types the embedded API server serves, with what discovery, the router and
//! admission need to know about each. One static table, so discovery, OpenAPI and routing can
//! never disagree about what exists.

/// One REST resource (e.g. `apps/v1` `deployments`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core (legacy `/api/v1`) group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural, as in the URL.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Discovery categories (`all` makes `kubectl get all` include it).
    pub categories: &'static [&'static str],
    /// Whether a `/status` subresource exists (spec and status are then written separately).
    pub has_status: bool,
    /// Whether a `/scale` subresource exists (autoscaling/v1 Scale).
    pub has_scale: bool,
    /// Whether the type is built into Kubernetes (strategic merge patch applies) rather than a
    /// custom resource (Gateway API types are CRDs on a real cluster: JSON/merge patch only).
    pub builtin: bool,
}

impl ResourceType {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// A stable key naming the resource in the store (`deployments.apps`, `pods`).
    pub fn key(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The list kind (`DeploymentList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether the object carries a generation that moves with spec changes (workloads,
    /// ingresses, autoscalers and custom resources do; core objects such as Services and
    /// Namespaces do not).
    pub fn tracks_generation(&self) -> bool {
        self.has_status && !self.group.is_empty()
    }
}

const NONE: &[&str] = &[];
const ALL: &[&str] = &["all"];

macro_rules! rt {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $namespaced:expr,
     $short:expr, $cat:expr, $status:expr, $scale:expr, $builtin:expr) => {
        ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $namespaced,
            short_names: $short,
            categories: $cat,
            has_status: $status,
            has_scale: $scale,
            builtin: $builtin,
        }
    };
}

/// Every resource the embedded cluster serves.
pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        &["ns"],
        NONE,
        true,
        false,
        true
    ),
    rt!(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        false,
        &["no"],
        NONE,
        true,
        false,
        true
    ),
    rt!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        true,
        &["po"],
        ALL,
        true,
        false,
        true
    ),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        true,
        &["svc"],
        ALL,
        true,
        false,
        true
    ),
    rt!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        true,
        &["ep"],
        NONE,
        false,
        false,
        true
    ),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        &["cm"],
        NONE,
        false,
        false,
        true
    ),
    rt!(
        "", "v1", "Secret", "secrets", "secret", true, NONE, NONE, false, false, true
    ),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        &["sa"],
        NONE,
        false,
        false,
        true
    ),
    rt!(
        "",
        "v1",
        "Event",
        "events",
        "event",
        true,
        &["ev"],
        NONE,
        false,
        false,
        true
    ),
    rt!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        true,
        &["pvc"],
        NONE,
        true,
        false,
        true
    ),
    rt!(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        true,
        NONE,
        NONE,
        false,
        false,
        true
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        &["deploy"],
        ALL,
        true,
        true,
        true
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        &["rs"],
        ALL,
        true,
        true,
        true
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        &["sts"],
        ALL,
        true,
        true,
        true
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        true,
        &["ing"],
        NONE,
        true,
        false,
        true
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        false,
        NONE,
        NONE,
        false,
        false,
        true
    ),
    rt!(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
        &["hpa"],
        ALL,
        true,
        false,
        true
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        true,
        NONE,
        NONE,
        false,
        false,
        true
    ),
    rt!(
        "gateway.networking.k8s.io",
        "v1",
        "Gateway",
        "gateways",
        "gateway",
        true,
        &["gtw"],
        NONE,
        true,
        false,
        false
    ),
    rt!(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
        "httproute",
        true,
        NONE,
        NONE,
        true,
        false,
        false
    ),
];

/// The API groups in discovery order, each with its versions (the first is preferred).
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version),
            Some(_) => {}
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

/// The resource served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource for an `apiVersion` + `kind` pair (as found in a manifest or ownerReference).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Resources of one group/version.
pub fn in_group_version(group: &str, version: &str) -> Vec<&'static ResourceType> {
    RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<String> = RESOURCES.iter().map(|r| r.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), RESOURCES.len());
    }

    #[test]
    fn lookups() {
        let d = find("apps", "v1", "deployments").expect("deployments");
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(by_kind("v1", "Pod").map(|r| r.plural), Some("pods"));
        assert!(
            groups()
                .iter()
                .any(|(g, v)| *g == "autoscaling" && v == &vec!["v2"])
        );
    }
}
