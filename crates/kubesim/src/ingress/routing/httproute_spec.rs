//! The HTTPRoute object as read from the cluster, and its compilation; what cannot be used is
//! skipped and explained in a warning.

use regex::Regex;
use serde::{Deserialize, Deserializer};

use super::MAX_BACKEND_WEIGHT;
use super::decision::{Backend, HeaderChange, Mirror, ServicePort};
use super::httproute::{
    CompiledMatch, CompiledRoute, CompiledRule, Filters, PathMatch, ValueMatch, WeightedRef,
};
use super::shared::NO_TIMESTAMP;

/// Deserializes `null` as the type's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RouteObject {
    kind: Option<String>,
    #[serde(deserialize_with = "nullable")]
    metadata: RouteMeta,
    #[serde(deserialize_with = "nullable")]
    spec: RouteSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RouteMeta {
    name: Option<String>,
    namespace: Option<String>,
    creation_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RouteSpec {
    #[serde(deserialize_with = "nullable")]
    hostnames: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RuleSpec {
    #[serde(deserialize_with = "nullable")]
    matches: Vec<MatchSpec>,
    #[serde(deserialize_with = "nullable")]
    filters: Vec<FilterSpec>,
    #[serde(deserialize_with = "nullable")]
    backend_refs: Vec<BackendRefSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MatchSpec {
    path: Option<PathSpec>,
    #[serde(deserialize_with = "nullable")]
    headers: Vec<NameMatchSpec>,
    #[serde(deserialize_with = "nullable")]
    query_params: Vec<NameMatchSpec>,
    method: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PathSpec {
    #[serde(rename = "type")]
    kind: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NameMatchSpec {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct FilterSpec {
    #[serde(rename = "type")]
    kind: String,
    request_header_modifier: Option<HeaderModifierSpec>,
    request_mirror: Option<MirrorSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HeaderModifierSpec {
    #[serde(deserialize_with = "nullable")]
    set: Vec<NameValueSpec>,
    #[serde(deserialize_with = "nullable")]
    add: Vec<NameValueSpec>,
    #[serde(deserialize_with = "nullable")]
    remove: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NameValueSpec {
    name: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MirrorSpec {
    backend_ref: ObjectRefSpec,
    percent: Option<i64>,
    fraction: Option<FractionSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FractionSpec {
    numerator: i64,
    denominator: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ObjectRefSpec {
    group: Option<String>,
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
    port: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BackendRefSpec {
    #[serde(flatten)]
    target: ObjectRefSpec,
    weight: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    filters: Vec<FilterSpec>,
}

pub(super) fn compile_route(
    value: &serde_json::Value,
    warnings: &mut Vec<String>,
) -> Option<CompiledRoute> {
    let obj = match RouteObject::deserialize(value) {
        Ok(obj) => obj,
        Err(e) => {
            let name = value
                .pointer("/metadata/name")
                .and_then(|v| v.as_str())
                .unwrap_or("?");
            warnings.push(format!("HTTPRoute {name}: cannot be read ({e}); ignored"));
            return None;
        }
    };
    if let Some(kind) = &obj.kind
        && kind != "HTTPRoute"
    {
        warnings.push(format!(
            "object of kind {kind} given as an HTTPRoute; ignored"
        ));
        return None;
    }
    let name = obj.metadata.name.unwrap_or_default();
    let namespace = obj
        .metadata
        .namespace
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let key = format!("{namespace}/{name}");
    let created = obj
        .metadata
        .creation_timestamp
        .as_deref()
        .and_then(|s| s.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map_or(NO_TIMESTAMP, |t| (t.as_second(), t.subsec_nanosecond()));
    let hostnames = obj
        .spec
        .hostnames
        .iter()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let mut rules = Vec::new();
    for (i, rule) in obj.spec.rules.iter().enumerate() {
        let ctx = format!("HTTPRoute {key} rule {i}");
        let matches = if rule.matches.is_empty() {
            vec![CompiledMatch::default_match()]
        } else {
            rule.matches
                .iter()
                .map(|m| compile_match(m, &ctx, warnings))
                .collect()
        };
        let filters = compile_filters(&rule.filters, &namespace, &ctx, warnings);
        let backends = rule
            .backend_refs
            .iter()
            .map(|b| {
                let backend = match resolve_ref(&b.target, &namespace) {
                    Ok(backend) => Some(backend),
                    Err(why) => {
                        warnings.push(format!(
                            "{ctx}: backendRef {:?} is invalid ({why}); its share of requests is answered with 500",
                            b.target.name
                        ));
                        None
                    }
                };
                let weight = b
                    .weight
                    .unwrap_or(1)
                    .clamp(0, i64::from(MAX_BACKEND_WEIGHT));
                WeightedRef {
                    backend,
                    weight: u32::try_from(weight).unwrap_or(0),
                    filters: compile_filters(&b.filters, &namespace, &ctx, warnings),
                }
            })
            .collect();
        rules.push(CompiledRule {
            matches,
            backends,
            filters,
        });
    }
    Some(CompiledRoute {
        name,
        namespace,
        created,
        hostnames,
        rules,
    })
}

fn anchored(pattern: &str, ctx: &str, warnings: &mut Vec<String>) -> Option<Regex> {
    match Regex::new(&format!("^(?:{pattern})$")) {
        Ok(re) => Some(re),
        Err(e) => {
            warnings.push(format!(
                "{ctx}: regular expression {pattern:?} is invalid ({e}); the match never matches"
            ));
            None
        }
    }
}

fn compile_match(m: &MatchSpec, ctx: &str, warnings: &mut Vec<String>) -> CompiledMatch {
    let (kind, value) = match &m.path {
        Some(p) => (
            p.kind.as_deref().unwrap_or("PathPrefix"),
            p.value.as_deref().unwrap_or("/"),
        ),
        None => ("PathPrefix", "/"),
    };
    let path = match kind {
        "Exact" => PathMatch::Exact(value.to_string()),
        "PathPrefix" => PathMatch::Prefix(value.to_string()),
        "RegularExpression" => PathMatch::Regex(anchored(value, ctx, warnings), value.len()),
        other => {
            warnings.push(format!(
                "{ctx}: path match type {other:?} is not supported; the match never matches"
            ));
            PathMatch::Invalid
        }
    };
    let mut headers: Vec<(String, ValueMatch)> = Vec::new();
    for h in &m.headers {
        let name = h.name.to_ascii_lowercase();
        if headers.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let matcher = value_match(h, ctx, warnings);
        headers.push((name, matcher));
    }
    let mut query: Vec<(String, ValueMatch)> = Vec::new();
    for q in &m.query_params {
        if query.iter().any(|(n, _)| *n == q.name) {
            continue;
        }
        let matcher = value_match(q, ctx, warnings);
        query.push((q.name.clone(), matcher));
    }
    CompiledMatch {
        path,
        path_label: value.to_string(),
        headers,
        query,
        method: m.method.clone(),
    }
}

fn value_match(spec: &NameMatchSpec, ctx: &str, warnings: &mut Vec<String>) -> ValueMatch {
    match spec.kind.as_deref().unwrap_or("Exact") {
        "Exact" => ValueMatch::Exact(spec.value.clone()),
        "RegularExpression" => ValueMatch::Regex(anchored(&spec.value, ctx, warnings)),
        other => {
            warnings.push(format!(
                "{ctx}: match type {other:?} for {:?} is not supported; the match never matches",
                spec.name
            ));
            ValueMatch::Regex(None)
        }
    }
}

fn resolve_ref(r: &ObjectRefSpec, route_namespace: &str) -> Result<Backend, String> {
    let group = r.group.as_deref().unwrap_or("");
    if !group.is_empty() && group != "core" {
        return Err(format!("group {group:?} is not supported"));
    }
    let kind = r.kind.as_deref().unwrap_or("Service");
    if kind != "Service" {
        return Err(format!("kind {kind:?} is not supported"));
    }
    if r.name.is_empty() {
        return Err("no name".into());
    }
    let port = r
        .port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| "a Service backendRef needs a port in 1..=65535".to_string())?;
    Ok(Backend {
        namespace: r
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| route_namespace.to_string()),
        service: r.name.clone(),
        port: ServicePort::Number(port),
    })
}

fn compile_filters(
    specs: &[FilterSpec],
    route_namespace: &str,
    ctx: &str,
    warnings: &mut Vec<String>,
) -> Filters {
    let mut filters = Filters::default();
    for f in specs {
        match f.kind.as_str() {
            "RequestHeaderModifier" => {
                let Some(m) = &f.request_header_modifier else {
                    continue;
                };
                filters
                    .headers
                    .extend(m.set.iter().map(|h| HeaderChange::Set {
                        name: h.name.clone(),
                        value: h.value.clone(),
                    }));
                filters
                    .headers
                    .extend(m.add.iter().map(|h| HeaderChange::Add {
                        name: h.name.clone(),
                        value: h.value.clone(),
                    }));
                filters.headers.extend(
                    m.remove
                        .iter()
                        .map(|name| HeaderChange::Remove { name: name.clone() }),
                );
            }
            "RequestMirror" => {
                let Some(m) = &f.request_mirror else {
                    continue;
                };
                let backend = match resolve_ref(&m.backend_ref, route_namespace) {
                    Ok(b) => b,
                    Err(why) => {
                        warnings.push(format!(
                            "{ctx}: RequestMirror backendRef {:?} is invalid ({why}); not mirrored",
                            m.backend_ref.name
                        ));
                        continue;
                    }
                };
                let (numerator, denominator) = match (m.percent, &m.fraction) {
                    (Some(p), _) => (p.clamp(0, 100), 100),
                    (None, Some(fr)) => {
                        let den = fr.denominator.unwrap_or(100).min(i64::from(u32::MAX));
                        if den <= 0 {
                            warnings.push(format!(
                                "{ctx}: RequestMirror fraction has denominator {den}; not mirrored"
                            ));
                            continue;
                        }
                        (fr.numerator.clamp(0, den), den)
                    }
                    (None, None) => (100, 100),
                };
                filters.mirrors.push(Mirror {
                    backend,
                    numerator: u32::try_from(numerator).unwrap_or(0),
                    denominator: u32::try_from(denominator).unwrap_or(u32::MAX),
                });
            }
            other => warnings.push(format!(
                "{ctx}: filter {other:?} is not applied by the embedded proxy"
            )),
        }
    }
    filters
}
