//! Finding what a rollout acts on: the app's Deployment, the Services that send traffic to its
//! pods, and the Ingresses / HTTPRoutes in front of those Services. Pure over listed objects,
//! so the rules are tested without a cluster; `cluster` lists the objects.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube_util::selector::LabelSelector;
use serde_json::Value;

use super::httproute::HttpRoute;

/// The objects a rollout works on.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: String,
    pub deployment: Deployment,
    /// Services whose selector selects the Deployment's pods.
    pub services: Vec<Service>,
    /// Ingresses with a backend pointing at one of those Services.
    pub ingresses: Vec<Ingress>,
    /// HTTPRoutes with a backendRef pointing at one of those Services.
    pub http_routes: Vec<HttpRoute>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    #[error("no Deployment named {name:?} in namespace {namespace:?}{hint}")]
    NoSuchDeployment {
        name: String,
        namespace: String,
        hint: String,
    },
    #[error("namespace {namespace:?} has no Deployment: nothing to roll out (name one with --app)")]
    NoDeployments { namespace: String },
    #[error(
        "namespace {namespace:?} has {count} Deployments ({names}); name the one to roll out with --app"
    )]
    Ambiguous {
        namespace: String,
        count: usize,
        names: String,
    },
}

fn name_of(d: &Deployment) -> &str {
    d.metadata.name.as_deref().unwrap_or_default()
}

/// Picks the Deployment (by name, or the only one) and what routes traffic to it.
pub fn discover(
    namespace: &str,
    app: Option<&str>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    ingresses: Vec<Ingress>,
    http_routes: Vec<HttpRoute>,
) -> Result<Target, TargetError> {
    let deployment = match app {
        Some(name) => {
            let names: Vec<String> = deployments.iter().map(|d| name_of(d).to_string()).collect();
            match deployments.into_iter().find(|d| name_of(d) == name) {
                Some(d) => d,
                None => {
                    let hint = if names.is_empty() {
                        String::new()
                    } else {
                        format!(" (it has: {})", names.join(", "))
                    };
                    return Err(TargetError::NoSuchDeployment {
                        name: name.into(),
                        namespace: namespace.into(),
                        hint,
                    });
                }
            }
        }
        None => match deployments.len() {
            0 => {
                return Err(TargetError::NoDeployments {
                    namespace: namespace.into(),
                });
            }
            1 => deployments
                .into_iter()
                .next()
                .ok_or_else(|| TargetError::NoDeployments {
                    namespace: namespace.into(),
                })?,
            count => {
                let names = deployments
                    .iter()
                    .map(name_of)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(TargetError::Ambiguous {
                    namespace: namespace.into(),
                    count,
                    names,
                });
            }
        },
    };
    let pod_labels: serde_json::Map<String, Value> = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .map(|l| {
            l.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    let services: Vec<Service> = services
        .into_iter()
        .filter(|s| {
            let Some(sel) = s
                .spec
                .as_ref()
                .and_then(|sp| sp.selector.as_ref())
                .filter(|m| !m.is_empty())
            else {
                return false;
            };
            // A rollout in progress pins the Service on pod-template-hash, a label the
            // template does not carry: it still selects the app.
            let map: serde_json::Map<String, Value> = sel
                .iter()
                .filter(|(k, _)| k.as_str() != crate::labels::HASH_LABEL)
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            LabelSelector::from_map(&map).matches(Some(&pod_labels))
        })
        .collect();
    let service_names: Vec<&str> = services
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    let ingresses: Vec<Ingress> = ingresses
        .into_iter()
        .filter(|i| {
            ingress_backends(i)
                .iter()
                .any(|b| service_names.contains(&b.as_str()))
        })
        .collect();
    let http_routes: Vec<HttpRoute> = http_routes
        .into_iter()
        .filter(|r| {
            r.backends()
                .iter()
                .any(|b| service_names.contains(&b.as_str()))
        })
        .collect();
    Ok(Target {
        namespace: namespace.into(),
        deployment,
        services,
        ingresses,
        http_routes,
    })
}

/// The Service names an Ingress sends traffic to.
pub fn ingress_backends(i: &Ingress) -> Vec<String> {
    let Some(spec) = &i.spec else {
        return Vec::new();
    };
    let mut out: Vec<String> = spec
        .default_backend
        .iter()
        .filter_map(|b| b.service.as_ref().map(|s| s.name.clone()))
        .collect();
    for rule in spec.rules.iter().flatten() {
        for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
            if let Some(s) = &path.backend.service {
                out.push(s.name.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(name: &str, labels: Value) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": []}}}})).expect("deployment")
    }

    fn svc(name: &str, selector: Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"selector": selector}}))
            .expect("service")
    }

    fn ing(name: &str, backend: &str) -> Ingress {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": backend, "port": {"number": 80}}}}]}}]}})).expect("ingress")
    }

    #[test]
    fn finds_the_only_deployment_and_its_traffic() {
        let t = discover(
            "prod",
            None,
            vec![deploy("web", json!({"app": "web", "version": "v1"}))],
            vec![svc("web", json!({"app": "web"})), svc("db", json!({"app": "db"})), svc("pinned", json!({"app": "web", "version": "v1"}))],
            vec![ing("web", "web"), ing("db", "db")],
            vec![serde_json::from_value(json!({"metadata": {"name": "r"}, "spec": {"rules": [{"backendRefs": [{"name": "pinned", "port": 80}]}]}})).expect("route")],
        )
        .expect("target");
        let svcs: Vec<&str> = t
            .services
            .iter()
            .filter_map(|s| s.metadata.name.as_deref())
            .collect();
        assert_eq!(svcs, vec!["web", "pinned"]);
        assert_eq!(t.ingresses.len(), 1);
        assert_eq!(t.http_routes.len(), 1);
    }

    #[test]
    fn names_what_is_missing_or_ambiguous() {
        let two = || {
            vec![
                deploy("a", json!({"app": "a"})),
                deploy("b", json!({"app": "b"})),
            ]
        };
        let e = discover("ns", None, two(), vec![], vec![], vec![]).expect_err("ambiguous");
        assert_eq!(
            e.to_string(),
            "namespace \"ns\" has 2 Deployments (a, b); name the one to roll out with --app"
        );
        let e = discover("ns", Some("c"), two(), vec![], vec![], vec![]).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "no Deployment named \"c\" in namespace \"ns\" (it has: a, b)"
        );
        let e = discover("ns", None, vec![], vec![], vec![], vec![]).expect_err("none");
        assert!(e.to_string().contains("has no Deployment"));
        assert!(discover("ns", Some("b"), two(), vec![], vec![], vec![]).is_ok());
    }
}
