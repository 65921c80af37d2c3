//! Discovery documents (the legacy, non-aggregated form: kubectl and kube-rs fall back to it
//! when the answer to their aggregated-discovery request is plain `application/json`), and the
//! version document.

use crate::resources::{self, ResourceType};
use serde_json::{Value, json};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The Kubernetes release whose API this server follows.
pub const KUBE_MINOR: &str = "33";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBE_MINOR,
        "gitVersion": format!("v1.{KUBE_MINOR}.0-rollout-sim"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "rollout",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_doc(name: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn groups() -> Value {
    let groups: Vec<Value> = resources::groups()
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(name: &str) -> Option<Value> {
    let (g, vs) = resources::groups().into_iter().find(|(g, _)| *g == name)?;
    let mut doc = group_doc(g, &vs);
    if let Some(o) = doc.as_object_mut() {
        o.insert("kind".into(), json!("APIGroup"));
        o.insert("apiVersion".into(), json!("v1"));
    }
    Some(doc)
}

fn subresource(rt: &ResourceType, sub: &str, kind: &str, verbs: &[&str]) -> Value {
    json!({"name": format!("{}/{sub}", rt.plural), "singularName": "", "namespaced": rt.namespaced, "kind": kind, "verbs": verbs})
}

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let types = resources::in_group_version(group, version);
    if types.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for rt in types {
        let mut r = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": VERBS,
        });
        if let Some(o) = r.as_object_mut() {
            if !rt.short_names.is_empty() {
                o.insert("shortNames".into(), json!(rt.short_names));
            }
            if !rt.categories.is_empty() {
                o.insert("categories".into(), json!(rt.categories));
            }
        }
        out.push(r);
        if rt.has_status {
            out.push(subresource(
                rt,
                "status",
                rt.kind,
                &["get", "patch", "update"],
            ));
        }
        if rt.has_scale {
            let mut s = subresource(rt, "scale", "Scale", &["get", "patch", "update"]);
            if let Some(o) = s.as_object_mut() {
                o.insert("group".into(), json!("autoscaling"));
                o.insert("version".into(), json!("v1"));
            }
            out.push(s);
        }
        match rt.plural {
            "pods" => {
                out.push(subresource(rt, "binding", "Binding", &["create"]));
                out.push(subresource(
                    rt,
                    "proxy",
                    "PodProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ));
            }
            "services" => {
                out.push(subresource(
                    rt,
                    "proxy",
                    "ServiceProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ));
            }
            _ => {}
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": out}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_scale_and_status() {
        let doc = resource_list("apps", "v1").expect("apps/v1");
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"deployments/scale"));
        assert!(names.contains(&"deployments/status"));
        let pods = resource_list("", "v1").expect("v1");
        assert!(
            pods["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["name"] == "pods" && r["categories"] == json!(["all"]))
        );
        assert!(resource_list("apps", "v9").is_none());
        assert!(group("gateway.networking.k8s.io").is_some());
    }
}
