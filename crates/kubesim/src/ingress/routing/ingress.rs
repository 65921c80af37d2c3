//! Ingress servers and locations, ingress-nginx's canary annotations, and how an Ingress's
//! backends, paths and class are read.

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use regex::Regex;

use super::decision::{Backend, Decision, RequestInfo, RouteKind, ServicePort};
use super::shared::{Created, NO_TIMESTAMP, draw, prefix_match};
use super::{INGRESS_CLASS_ANNOTATION, NGINX_ANNOTATION_PREFIX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    backend: Backend,
    pub(super) ingress: String,
    pub(super) namespace: String,
    /// The Ingress's `ssl-redirect` and `force-ssl-redirect` annotations (only the main
    /// Ingress's count: ingress-nginx ignores them on a canary).
    ssl_redirect: bool,
    force_ssl_redirect: bool,
}

#[derive(Debug, Clone)]
pub(super) struct CanaryPolicy {
    /// Lowercase header name; empty when not set.
    header: String,
    header_value: String,
    /// Compiled `canary-by-header-pattern` (only when no header value is set).
    header_pattern: Option<Result<Regex, String>>,
    cookie: String,
    weight: i64,
    weight_total: i64,
}

impl CanaryPolicy {
    fn parse(view_key: &str, ing: &Ingress, warnings: &mut Vec<String>) -> Option<CanaryPolicy> {
        let enabled = nginx_annotation(ing, "canary")
            .and_then(parse_go_bool)
            .unwrap_or(false);
        if !enabled {
            return None;
        }
        let text = |key: &str| nginx_annotation(ing, key).unwrap_or("").to_string();
        let header_value = text("canary-by-header-value");
        let pattern = text("canary-by-header-pattern");
        let header_pattern = if header_value.is_empty() && !pattern.is_empty() {
            let compiled = Regex::new(&pattern).map_err(|e| e.to_string());
            if let Err(e) = &compiled {
                warnings.push(format!(
                    "canary Ingress {view_key}: canary-by-header-pattern {pattern:?} is not a valid regex ({e}); a request carrying the header goes to the main backend"
                ));
            }
            Some(compiled)
        } else {
            None
        };
        Some(CanaryPolicy {
            header: text("canary-by-header").to_ascii_lowercase(),
            header_value,
            header_pattern,
            cookie: text("canary-by-cookie"),
            weight: nginx_annotation(ing, "canary-weight")
                .and_then(parse_go_int)
                .unwrap_or(0),
            weight_total: nginx_annotation(ing, "canary-weight-total")
                .and_then(parse_go_int)
                .unwrap_or(100),
        })
    }

    /// `route_to_alternative_balancer` of ingress-nginx's balancer.lua.
    fn use_canary(&self, req: &RequestInfo<'_>, random: &mut dyn FnMut(u32) -> u32) -> bool {
        if !self.header.is_empty()
            && let Some(value) = req.header_joined(&self.header)
        {
            if !self.header_value.is_empty() {
                if value == self.header_value {
                    return true;
                }
            } else if let Some(pattern) = &self.header_pattern {
                match pattern {
                    Ok(re) => {
                        if re.is_match(&value) {
                            return true;
                        }
                    }
                    Err(_) => return false,
                }
            } else if value == "always" {
                return true;
            } else if value == "never" {
                return false;
            }
        }
        if !self.cookie.is_empty()
            && let Some(value) = req.cookie(&self.cookie)
        {
            if value == "always" {
                return true;
            } else if value == "never" {
                return false;
            }
        }
        let total = if self.weight_total > 100 {
            self.weight_total
        } else {
            100
        };
        if self.weight <= 0 {
            return false;
        }
        if self.weight >= total {
            return true;
        }
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        i64::from(draw(random, total)) < self.weight
    }
}

#[derive(Debug, Clone)]
pub(super) struct CanaryRoute {
    pub(super) target: Target,
    pub(super) policy: CanaryPolicy,
}

/// A main backend, possibly shadowed by an ingress-nginx canary.
#[derive(Debug, Clone)]
pub(super) struct Guarded {
    pub(super) main: Target,
    pub(super) canary: Option<CanaryRoute>,
}

impl Guarded {
    pub(super) fn main(target: Target) -> Guarded {
        Guarded {
            main: target,
            canary: None,
        }
    }

    /// Attaches `canary` unless one is already attached or it targets the main backend.
    pub(super) fn attach(&mut self, canary: &CanaryRoute) -> bool {
        if self.canary.is_some() || self.main.backend == canary.target.backend {
            return false;
        }
        self.canary = Some(canary.clone());
        true
    }

    pub(super) fn decide(
        &self,
        path: &str,
        default_backend: bool,
        req: &RequestInfo<'_>,
        random: &mut dyn FnMut(u32) -> u32,
    ) -> Decision {
        let canary = self
            .canary
            .as_ref()
            .filter(|c| c.policy.use_canary(req, random));
        let backend = canary.map_or(&self.main.backend, |c| &c.target.backend);
        Decision {
            kind: RouteKind::Ingress,
            backend: Some(backend.clone()),
            no_backend_status: 503,
            canary: canary.is_some(),
            ingress: self.main.ingress.clone(),
            namespace: self.main.namespace.clone(),
            canary_ingress: canary.map(|c| c.target.ingress.clone()),
            default_backend,
            matched_path: path.to_string(),
            service_label: self.main.backend.service.clone(),
            canary_label: canary
                .map(|c| c.target.backend.upstream_name())
                .unwrap_or_default(),
            mirrors: Vec::new(),
            request_header_changes: Vec::new(),
            ssl_redirect: self.main.ssl_redirect,
            force_ssl_redirect: self.main.force_ssl_redirect,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IngressPathType {
    Exact,
    Prefix,
    ImplementationSpecific,
}

impl IngressPathType {
    pub(super) fn parse(s: &str) -> IngressPathType {
        match s {
            "Exact" => IngressPathType::Exact,
            "Prefix" => IngressPathType::Prefix,
            _ => IngressPathType::ImplementationSpecific,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Location {
    pub(super) path: String,
    pub(super) path_type: IngressPathType,
    pub(super) route: Guarded,
}

impl Location {
    /// Length of the matched rule path (trailing `/` not counted for prefixes), or None.
    pub(super) fn match_len(&self, req_path: &str) -> Option<usize> {
        match self.path_type {
            IngressPathType::Exact => (req_path == self.path).then_some(self.path.len()),
            IngressPathType::Prefix | IngressPathType::ImplementationSpecific => {
                prefix_match(&self.path, req_path)
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Server {
    pub(super) locations: Vec<Location>,
    pub(super) default: Option<Guarded>,
}

pub(super) struct IngressView<'a> {
    pub(super) ing: &'a Ingress,
    pub(super) name: &'a str,
    pub(super) namespace: &'a str,
    pub(super) created: Created,
    pub(super) canary: Option<CanaryPolicy>,
    ssl_redirect: bool,
    force_ssl_redirect: bool,
}

impl<'a> IngressView<'a> {
    pub(super) fn new(ing: &'a Ingress, warnings: &mut Vec<String>) -> IngressView<'a> {
        let name = ing.metadata.name.as_deref().unwrap_or("");
        let namespace = ing.metadata.namespace.as_deref().unwrap_or("default");
        let created = ing
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(NO_TIMESTAMP, |t| (t.0.as_second(), t.0.subsec_nanosecond()));
        let canary = CanaryPolicy::parse(&format!("{namespace}/{name}"), ing, warnings);
        let flag = |key: &str, default: bool| {
            nginx_annotation(ing, key)
                .and_then(parse_go_bool)
                .unwrap_or(default)
        };
        IngressView {
            ing,
            name,
            namespace,
            created,
            canary,
            // ingress-nginx's defaults: `ssl-redirect: true`, `force-ssl-redirect: false`.
            ssl_redirect: flag("ssl-redirect", true),
            force_ssl_redirect: flag("force-ssl-redirect", false),
        }
    }

    pub(super) fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub(super) fn target(&self, backend: Backend) -> Target {
        Target {
            backend,
            ingress: self.name.to_string(),
            namespace: self.namespace.to_string(),
            ssl_redirect: self.ssl_redirect,
            force_ssl_redirect: self.force_ssl_redirect,
        }
    }
}

/// Whether an Ingress is served by the controller of `ingress_class` (the legacy annotation
/// wins over `spec.ingressClassName`; no class at all is served; an empty class serves all).
pub fn serves_class(ing: &Ingress, ingress_class: &str) -> bool {
    if ingress_class.is_empty() {
        return true;
    }
    if let Some(annotated) = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INGRESS_CLASS_ANNOTATION))
    {
        return annotated == ingress_class;
    }
    match ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
    {
        Some(class) => class == ingress_class,
        None => true,
    }
}

fn nginx_annotation<'a>(ing: &'a Ingress, key: &str) -> Option<&'a str> {
    ing.metadata.annotations.as_ref().and_then(|a| {
        a.iter()
            .find(|(k, _)| {
                k.strip_prefix(NGINX_ANNOTATION_PREFIX)
                    .is_some_and(|rest| rest == key)
            })
            .map(|(_, v)| v.as_str())
    })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.Atoi` (optional sign, ASCII digits only).
fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(super) fn ingress_path(path: Option<&str>) -> String {
    match path {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => "/".to_string(),
    }
}

pub(super) fn ingress_backend(b: &IngressBackend, namespace: &str) -> Result<Backend, String> {
    let Some(svc) = b.service.as_ref() else {
        return Err("the backend is not a Service (resource backends are not proxied)".into());
    };
    if svc.name.is_empty() {
        return Err("the backend Service has no name".into());
    }
    let port = svc.port.as_ref().and_then(|p| {
        match (
            p.number
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0),
            &p.name,
        ) {
            (Some(n), _) => Some(ServicePort::Number(n)),
            (None, Some(name)) if !name.is_empty() => Some(ServicePort::Name(name.clone())),
            _ => None,
        }
    });
    let Some(port) = port else {
        return Err(format!(
            "Service {:?} has no valid port number or name",
            svc.name
        ));
    };
    Ok(Backend {
        namespace: namespace.to_string(),
        service: svc.name.clone(),
        port,
    })
}
