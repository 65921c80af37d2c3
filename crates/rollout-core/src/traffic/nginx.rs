//! ingress-nginx: a second Ingress for the same host and paths, marked `canary: "true"`, whose
//! backends are the new version's Service. The weight, header and cookie annotations decide
//! which requests it takes (ingress-nginx allows one header rule and one cookie rule).

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Map, Value, json};

use super::{RouteMatch, Routing};

const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// Why a routing cannot be expressed with ingress-nginx annotations.
pub fn unsupported(routing: &Routing) -> Option<String> {
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
pub fn annotations(routing: &Routing) -> Map<String, Value> {
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
pub fn canary_ingress(
    stable: &Ingress,
    name: &str,
    app: &str,
    stable_service: &str,
    new_service: &str,
    routing: &Routing,
) -> Value {
    let namespace = stable.metadata.namespace.clone().unwrap_or_default();
    let mut spec =
        serde_json::to_value(stable.spec.clone().unwrap_or_default()).unwrap_or_else(|_| json!({}));
    retarget(&mut spec, stable_service, new_service);
    let mut metadata = super::owned_metadata(name, &namespace, app);
    metadata["annotations"] = Value::Object(annotations(routing));
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    })
}

/// Merge patch of the canary Ingress's annotations for `routing` (keys no longer wanted are
/// removed).
pub fn annotations_patch(routing: &Routing) -> Value {
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

fn retarget(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(service)) = map.get_mut("service")
                && service.get("name").and_then(Value::as_str) == Some(from)
            {
                service.insert("name".into(), json!(to));
            }
            for (_, child) in map.iter_mut() {
                retarget(child, from, to);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| retarget(i, from, to)),
        _ => {}
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
            "web",
            "web",
            "web-canary",
            &routing,
        );
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
