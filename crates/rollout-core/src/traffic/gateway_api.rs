//! Gateway API: the app's HTTPRoute is rewritten from the rules it had when the rollout began.
//! Every rule that sends traffic to the stable Service gets the new version's Service as a
//! second backendRef with the weight, a RequestMirror filter when mirroring, and — for header
//! and cookie routing — a copy placed before it whose matches also require the header.
//! Restoring is writing the original rules back.

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{Capability, Need, RouteContext, RouteMatch, Router, Routing, TrafficError};
use crate::app::PlanInput;
use crate::cluster::httproute::HttpRoute;
use crate::metrics::observer::{self, Observer};

pub struct GatewayApi;

impl Router for GatewayApi {
    fn name(&self) -> &'static str {
        "gateway-api"
    }

    fn describe(&self) -> &'static str {
        "the HTTPRoute's backend weights, matches and mirror filter"
    }

    fn capabilities(&self) -> &'static [Capability] {
        use Capability::*;
        &[
            Weights,
            HeaderRouting,
            CookieRouting,
            Mirroring,
            PerVersionMetrics,
            Switch,
        ]
    }

    fn missing(&self, input: &PlanInput) -> Option<&'static str> {
        input.http_route.is_none().then_some("an HTTPRoute")
    }

    fn picks(&self, need: Need, input: &PlanInput) -> bool {
        need == Need::Split && input.http_route.is_some()
    }

    fn new_version_headers(
        &self,
        _routing: &Routing,
        canary_header: &str,
    ) -> Vec<(String, String)> {
        vec![(canary_header.to_owned(), "always".to_owned())]
    }

    fn observer(&self) -> Option<&'static dyn Observer> {
        Some(&observer::Contour)
    }

    fn apply<'a>(
        &'a self,
        cx: &'a RouteContext<'a>,
        routing: &'a Routing,
    ) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            let names = cx.names;
            let (Some(service), Some(new_service), Some(route)) =
                (&names.service, &names.new_service, &names.http_route)
            else {
                return Ok(());
            };
            let mut routing = routing.clone();
            routing
                .matches
                .push(RouteMatch::header(cx.canary_header, "always"));
            let original = cx.saved_rules.unwrap_or_default();
            let rules = rules(original, service, new_service, &routing);
            cx.cluster
                .merge::<HttpRoute>(route, &rules_patch(rules))
                .await?;
            Ok(())
        })
    }

    fn restore<'a>(&'a self, cx: &'a RouteContext<'a>) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            if let (Some(route), Some(rules)) = (&cx.names.http_route, cx.saved_rules) {
                cx.cluster
                    .merge::<HttpRoute>(route, &rules_patch(rules.to_vec()))
                    .await?;
            }
            Ok(())
        })
    }
}

fn points_at(backend: &Value, service: &str) -> bool {
    backend
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Service")
        == "Service"
        && backend.get("name").and_then(Value::as_str) == Some(service)
}

fn header_match(m: &RouteMatch) -> Value {
    match (&m.header, &m.cookie) {
        (Some(h), _) => json!({
            "name": h,
            "type": if m.regex { "RegularExpression" } else { "Exact" },
            "value": m.value,
        }),
        // HTTPRoute has no cookie match: a regular expression over the Cookie header.
        (None, Some(c)) => {
            let value = if m.regex {
                m.value.clone()
            } else {
                regex::escape(&m.value)
            };
            json!({
                "name": "Cookie",
                "type": "RegularExpression",
                "value": format!("(^|;\\s*){}=({value})(;|$)", regex::escape(c)),
            })
        }
        (None, None) => json!({}),
    }
}

/// The rules of the HTTPRoute for `routing`, built from `original` (the route's
/// `spec.rules` before the rollout).
fn rules(
    rules: &[Value],
    stable_service: &str,
    new_service: &str,
    routing: &Routing,
) -> Vec<Value> {
    let mut out = Vec::new();
    for rule in rules {
        let backends = rule
            .get("backendRefs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(stable_ref) = backends.iter().find(|b| points_at(b, stable_service)) else {
            out.push(rule.clone());
            continue;
        };
        let mut new_ref = stable_ref.clone();
        new_ref["name"] = json!(new_service);
        if let Some(obj) = new_ref.as_object_mut() {
            obj.remove("weight");
            obj.remove("filters");
        }
        // Routed copies first: a request that carries the header reaches the new version.
        for m in &routing.matches {
            let mut copy = rule.clone();
            let base_matches = rule
                .get("matches")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_else(|| vec![json!({"path": {"type": "PathPrefix", "value": "/"}})]);
            let matches: Vec<Value> = base_matches
                .into_iter()
                .map(|mut bm| {
                    let mut headers = bm
                        .get("headers")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    headers.push(header_match(m));
                    bm["headers"] = Value::Array(headers);
                    bm
                })
                .collect();
            copy["matches"] = Value::Array(matches);
            copy["backendRefs"] = json!([new_ref.clone()]);
            out.push(copy);
        }
        let mut rule = rule.clone();
        let weight = i64::from(routing.weight);
        let mut refs: Vec<Value> = Vec::new();
        for b in backends {
            if points_at(&b, stable_service) {
                let mut b = b.clone();
                b["weight"] = json!(100 - weight);
                refs.push(b);
            } else {
                refs.push(b);
            }
        }
        let mut weighted = new_ref.clone();
        weighted["weight"] = json!(weight);
        refs.push(weighted);
        rule["backendRefs"] = Value::Array(refs);
        if let Some(percent) = routing.mirror_percent {
            let mut filters = rule
                .get("filters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut mirror_ref = new_ref.clone();
            if let Some(obj) = mirror_ref.as_object_mut() {
                obj.remove("weight");
            }
            filters.push(json!({
                "type": "RequestMirror",
                "requestMirror": {"backendRef": mirror_ref, "percent": percent.round() as i64},
            }));
            rule["filters"] = Value::Array(filters);
        }
        out.push(rule);
    }
    out
}

/// Merge patch writing `rules` as the route's rules.
fn rules_patch(rules: Vec<Value>) -> Value {
    json!({"spec": {"rules": rules}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> Vec<Value> {
        serde_json::from_value(json!([
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
             "backendRefs": [{"name": "web", "port": 80}]},
            {"backendRefs": [{"name": "other", "port": 80}]}
        ]))
        .expect("rules")
    }

    #[test]
    fn weights_and_header_copies() {
        let routing = Routing {
            weight: 20,
            matches: vec![RouteMatch::header("X-Canary", "always")],
            mirror_percent: None,
        };
        let r = Value::Array(rules(&original(), "web", "web-canary", &routing));
        assert_eq!(
            r,
            json!([
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"},
                              "headers": [{"name": "X-Canary", "type": "Exact", "value": "always"}]}],
                 "backendRefs": [{"name": "web-canary", "port": 80}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": "web", "port": 80, "weight": 80},
                                 {"name": "web-canary", "port": 80, "weight": 20}]},
                {"backendRefs": [{"name": "other", "port": 80}]}
            ])
        );
    }

    #[test]
    fn mirror_and_cookie() {
        let routing = Routing {
            weight: 0,
            matches: vec![RouteMatch {
                header: None,
                cookie: Some("variant".into()),
                value: "b".into(),
                regex: false,
            }],
            mirror_percent: Some(50.0),
        };
        let r = Value::Array(rules(&original(), "web", "web-canary", &routing));
        assert_eq!(
            r[0]["matches"][0]["headers"][0]["value"],
            "(^|;\\s*)variant=(b)(;|$)"
        );
        assert_eq!(
            r[1]["filters"][0],
            json!({"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web-canary", "port": 80}, "percent": 50}})
        );
        assert_eq!(r[1]["backendRefs"][1]["weight"], 0);
    }
}
