//! ingress-nginx: a second Ingress for the same host and paths, marked `canary: "true"`, whose
//! backends are the new version's Service. The weight, header and cookie annotations decide
//! which requests it takes (ingress-nginx allows one header rule and one cookie rule).

use futures::future::BoxFuture;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Map, Value, json};

use super::{Capability, Need, RouteContext, RouteMatch, Router, Routing, TrafficError};
use crate::app::PlanInput;
use crate::metrics::observer::{self, Observer};

pub struct IngressNginx;

impl Router for IngressNginx {
    fn name(&self) -> &'static str {
        "ingress-nginx"
    }

    fn describe(&self) -> &'static str {
        "a canary Ingress with ingress-nginx canary annotations"
    }

    fn capabilities(&self) -> &'static [Capability] {
        use Capability::*;
        &[
            Weights,
            HeaderRouting,
            CookieRouting,
            PerVersionMetrics,
            Switch,
        ]
    }

    fn missing(&self, input: &PlanInput) -> Option<&'static str> {
        input.ingress.is_none().then_some("an Ingress")
    }

    fn picks(&self, need: Need, input: &PlanInput) -> bool {
        need == Need::Split && input.ingress.is_some() && input.ingress_is_nginx
    }

    fn temporary_front(&self, input: &PlanInput) -> Option<String> {
        input.ingress.as_ref().map(|i| format!("{i}-canary"))
    }

    fn unsupported(&self, routing: &Routing) -> Option<String> {
        unsupported(routing)
    }

    /// The A/B match when it holds the only header slot, else the canary header.
    fn new_version_headers(&self, routing: &Routing, canary_header: &str) -> Vec<(String, String)> {
        let ab = routing
            .matches
            .iter()
            .find(|m| m.header.is_some() && !m.regex)
            .and_then(|m| Some((m.header.clone()?, m.value.clone())));
        vec![ab.unwrap_or_else(|| (canary_header.to_owned(), "always".to_owned()))]
    }

    /// ingress-nginx's `never` on the canary header; with an A/B match the plain request is
    /// already the stable version's.
    fn stable_version_headers(
        &self,
        routing: &Routing,
        canary_header: &str,
    ) -> Vec<(String, String)> {
        if routing.matches.is_empty() {
            vec![(canary_header.to_owned(), "never".to_owned())]
        } else {
            Vec::new()
        }
    }

    fn observer(&self) -> Option<&'static dyn Observer> {
        Some(&observer::IngressNginx)
    }

    fn apply<'a>(
        &'a self,
        cx: &'a RouteContext<'a>,
        routing: &'a Routing,
    ) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            let names = cx.names;
            let (Some(service), Some(new_service), Some(ingress), Some(canary)) = (
                &names.service,
                &names.new_service,
                &names.ingress,
                &names.new_ingress,
            ) else {
                return Ok(());
            };
            let mut routing = routing.clone();
            // Checks reach the new version at any weight with the canary header, unless the
            // header slot is taken by the A/B match.
            if !routing.matches.iter().any(|m| m.header.is_some()) {
                routing
                    .matches
                    .push(RouteMatch::header(cx.canary_header, "always"));
            }
            if let Some(existing) = cx.cluster.get_opt::<Ingress>(canary).await? {
                if !crate::labels::made_by(&existing.metadata, cx.rollout) {
                    return Err(TrafficError::Cluster(
                        crate::cluster::ClusterError::Foreign {
                            call: crate::cluster::error::Call::new(
                                crate::cluster::error::Verb::Patch,
                                "ingresses",
                                &cx.cluster.namespace,
                                canary,
                            ),
                            owner: crate::labels::owner_of(&existing.metadata),
                        },
                    ));
                }
                cx.cluster
                    .merge::<Ingress>(canary, &annotations_patch(&routing))
                    .await?;
                return Ok(());
            }
            let stable = cx
                .cluster
                .get_opt::<Ingress>(ingress)
                .await?
                .ok_or_else(|| TrafficError::Gone {
                    kind: "Ingress",
                    name: ingress.clone(),
                })?;
            let object = canary_ingress(
                &stable,
                canary,
                (&names.deployment, cx.rollout),
                service,
                new_service,
                &routing,
            );
            let uid = cx.cluster.create_owned(&object, cx.rollout).await?;
            if let Ok(mut made) = cx.made.lock() {
                made.push(("ingresses".into(), canary.clone(), uid));
            }
            Ok(())
        })
    }

    fn restore<'a>(&'a self, cx: &'a RouteContext<'a>) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            let Some(canary) = &cx.names.new_ingress else {
                return Ok(());
            };
            let ours = cx
                .cluster
                .get_opt::<Ingress>(canary)
                .await?
                .filter(|i| crate::labels::made_by(&i.metadata, cx.rollout));
            if let Some(ingress) = ours {
                // Weight zero first: deleting is not instant everywhere, zero is.
                cx.cluster
                    .merge::<Ingress>(canary, &annotations_patch(&Routing::default()))
                    .await?;
                cx.cluster
                    .delete::<Ingress>(canary, ingress.metadata.uid.as_deref())
                    .await?;
            }
            Ok(())
        })
    }
}

const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// Why a routing cannot be expressed with ingress-nginx annotations.
fn unsupported(routing: &Routing) -> Option<String> {
    let headers = routing
        .matches
        .iter()
        .filter(|m| m.header.is_some())
        .count();
    let cookies: Vec<&RouteMatch> = routing
        .matches
        .iter()
        .filter(|m| m.cookie.is_some())
        .collect();
    if headers > 1 {
        return Some("ingress-nginx routes on one header only (canary-by-header)".into());
    }
    if cookies.len() > 1 {
        return Some("ingress-nginx routes on one cookie only (canary-by-cookie)".into());
    }
    if let Some(c) = cookies.first()
        && (c.regex || c.value != "always")
    {
        return Some(format!(
            "ingress-nginx routes by cookie only when its value is `always` (cookie {:?} asks for {:?})",
            c.cookie.as_deref().unwrap_or_default(),
            c.value
        ));
    }
    if routing.mirror_percent.is_some() {
        return Some("ingress-nginx canary Ingresses cannot mirror requests".into());
    }
    None
}

/// The annotations of the canary Ingress for `routing`.
fn annotations(routing: &Routing) -> Map<String, Value> {
    let mut a = Map::new();
    a.insert(format!("{PREFIX}canary"), json!("true"));
    a.insert(
        format!("{PREFIX}canary-weight"),
        json!(routing.weight.to_string()),
    );
    for m in &routing.matches {
        if let Some(h) = &m.header {
            a.insert(format!("{PREFIX}canary-by-header"), json!(h));
            if m.regex {
                a.insert(format!("{PREFIX}canary-by-header-pattern"), json!(m.value));
            } else if m.value != "always" {
                a.insert(format!("{PREFIX}canary-by-header-value"), json!(m.value));
            }
        }
        if let Some(c) = &m.cookie {
            a.insert(format!("{PREFIX}canary-by-cookie"), json!(c));
        }
    }
    a
}

/// The canary Ingress: the app's Ingress with the backends that pointed at `stable_service`
/// pointed at `new_service`, and the canary annotations of `routing`.
fn canary_ingress(
    stable: &Ingress,
    name: &str,
    (app, rollout): (&str, &str),
    stable_service: &str,
    new_service: &str,
    routing: &Routing,
) -> Ingress {
    let namespace = stable.metadata.namespace.clone().unwrap_or_default();
    let mut spec = stable.spec.clone().unwrap_or_default();
    for rule in spec.rules.iter_mut().flatten() {
        for path in rule.http.iter_mut().flat_map(|h| h.paths.iter_mut()) {
            retarget(&mut path.backend, stable_service, new_service);
        }
    }
    if let Some(backend) = spec.default_backend.as_mut() {
        retarget(backend, stable_service, new_service);
    }
    let mut metadata = crate::labels::owned_metadata(name, &namespace, app, Some(rollout));
    metadata.annotations = Some(
        annotations(routing)
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
            .collect(),
    );
    Ingress {
        metadata,
        spec: Some(spec),
        status: None,
    }
}

/// Merge patch of the canary Ingress's annotations for `routing` (keys no longer wanted are
/// removed).
fn annotations_patch(routing: &Routing) -> Value {
    let mut a = annotations(routing);
    for key in [
        "canary-by-header",
        "canary-by-header-value",
        "canary-by-header-pattern",
        "canary-by-cookie",
    ] {
        a.entry(format!("{PREFIX}{key}")).or_insert(Value::Null);
    }
    json!({"metadata": {"annotations": a}})
}

/// Points a backend at `to` when it points at `from`.
fn retarget(backend: &mut k8s_openapi::api::networking::v1::IngressBackend, from: &str, to: &str) {
    if let Some(service) = backend.service.as_mut()
        && service.name == from
    {
        service.name = to.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stable() -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "prod", "uid": "u", "resourceVersion": "7",
                         "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["web.local"], "secretName": "t"}],
                     "rules": [{"host": "web.local", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                        {"path": "/other", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 80}}}}]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
        }))
        .expect("ingress")
    }

    #[test]
    fn clones_the_rules_onto_the_new_service_without_identity_or_status() {
        let routing = Routing {
            weight: 10,
            matches: vec![RouteMatch::header("X-Canary", "always")],
            mirror_percent: None,
        };
        let c = canary_ingress(
            &stable(),
            "web-canary",
            ("web", "r1"),
            "web",
            "web-canary",
            &routing,
        );
        let c = serde_json::to_value(&c).expect("json");
        assert_eq!(c["metadata"]["name"], "web-canary");
        assert_eq!(c["metadata"]["namespace"], "prod");
        assert!(c["metadata"].get("uid").is_none() && c.get("status").is_none());
        let paths = &c["spec"]["rules"][0]["http"]["paths"];
        assert_eq!(paths[0]["backend"]["service"]["name"], "web-canary");
        assert_eq!(paths[1]["backend"]["service"]["name"], "other");
        assert_eq!(c["spec"]["tls"][0]["secretName"], "t");
        let a = &c["metadata"]["annotations"];
        assert_eq!(a["nginx.ingress.kubernetes.io/canary"], "true");
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-weight"], "10");
        assert_eq!(
            a["nginx.ingress.kubernetes.io/canary-by-header"],
            "X-Canary"
        );
        assert!(
            a.get("nginx.ingress.kubernetes.io/canary-by-header-value")
                .is_none()
        );
    }

    #[test]
    fn says_what_it_cannot_route() {
        let mut r = Routing::default();
        r.matches.push(RouteMatch {
            header: None,
            cookie: Some("variant".into()),
            value: "b".into(),
            regex: false,
        });
        assert!(unsupported(&r).is_some_and(|m| m.contains("`always`")));
        r.matches[0].value = "always".into();
        assert_eq!(unsupported(&r), None);
        r.mirror_percent = Some(10.0);
        assert!(unsupported(&r).is_some_and(|m| m.contains("mirror")));
    }
}
