//! Compiled HTTPRoutes: hostname, path, header, query and method matches, weighted backends
//! and filters, and how a matching rule decides.

use regex::Regex;

use super::decision::{Backend, Decision, HeaderChange, Mirror, RequestInfo, RouteKind};
use super::shared::{Created, draw, prefix_match};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostScope {
    /// Routes with a hostname matching the request's host.
    Named,
    /// Routes without hostnames.
    Any,
}

/// (characters in a matching non-wildcard hostname, characters in the matching hostname).
pub(super) fn hostname_match(pattern: &str, host: &str) -> Option<(usize, usize)> {
    if let Some(suffix) = pattern.strip_prefix('*') {
        (host.len() > suffix.len() && host.ends_with(suffix)).then_some((0, pattern.len()))
    } else {
        (pattern == host).then_some((pattern.len(), pattern.len()))
    }
}

#[derive(Debug, Clone)]
pub(super) struct CompiledRoute {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) created: Created,
    /// Lowercase; empty: any host.
    pub(super) hostnames: Vec<String>,
    pub(super) rules: Vec<CompiledRule>,
}

#[derive(Debug, Clone)]
pub(super) struct CompiledRule {
    pub(super) matches: Vec<CompiledMatch>,
    pub(super) backends: Vec<WeightedRef>,
    pub(super) filters: Filters,
}

impl CompiledRule {
    pub(super) fn decide(
        &self,
        route: &CompiledRoute,
        m: &CompiledMatch,
        random: &mut dyn FnMut(u32) -> u32,
    ) -> Decision {
        let chosen = pick_weighted(&self.backends, random);
        let (backend, status) = match chosen {
            None => (None, 503),
            Some(w) => match &w.backend {
                Some(b) => (Some(b.clone()), 503),
                None => (None, 500),
            },
        };
        let mut mirrors = self.filters.mirrors.clone();
        let mut headers = self.filters.headers.clone();
        if let Some(w) = chosen {
            mirrors.extend(w.filters.mirrors.iter().cloned());
            headers.extend(w.filters.headers.iter().cloned());
        }
        Decision {
            kind: RouteKind::HttpRoute,
            service_label: backend
                .as_ref()
                .map(|b| b.service.clone())
                .unwrap_or_default(),
            backend,
            no_backend_status: status,
            canary: false,
            ingress: route.name.clone(),
            namespace: route.namespace.clone(),
            canary_ingress: None,
            default_backend: false,
            matched_path: m.path_label.clone(),
            canary_label: String::new(),
            mirrors,
            request_header_changes: headers,
            ssl_redirect: false,
            force_ssl_redirect: false,
        }
    }
}

/// Picks a backendRef with probability weight / sum of weights; None when all weights are 0.
fn pick_weighted<'a>(
    backends: &'a [WeightedRef],
    random: &mut dyn FnMut(u32) -> u32,
) -> Option<&'a WeightedRef> {
    let total: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
    if total == 0 {
        return None;
    }
    // Keep the sum within u32 (only reachable with thousands of maximal weights).
    let scale = total.div_ceil(u64::from(u32::MAX));
    let scaled = |w: u32| {
        let w = u64::from(w);
        if scale > 1 && w > 0 {
            (w / scale).max(1)
        } else {
            w
        }
    };
    let total: u64 = backends.iter().map(|b| scaled(b.weight)).sum();
    let positive: Vec<&WeightedRef> = backends.iter().filter(|b| b.weight > 0).collect();
    if let [only] = positive.as_slice() {
        return Some(only);
    }
    let mut point = u64::from(draw(random, u32::try_from(total).unwrap_or(u32::MAX)));
    for b in &positive {
        let w = scaled(b.weight);
        if point < w {
            return Some(b);
        }
        point -= w;
    }
    positive.last().copied()
}

#[derive(Debug, Clone)]
pub(super) struct WeightedRef {
    /// None: an invalid backendRef (answered with 500).
    pub(super) backend: Option<Backend>,
    pub(super) weight: u32,
    pub(super) filters: Filters,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Filters {
    pub(super) mirrors: Vec<Mirror>,
    pub(super) headers: Vec<HeaderChange>,
}

#[derive(Debug, Clone)]
pub(super) enum PathMatch {
    Exact(String),
    Prefix(String),
    /// Anchored regex (None: invalid, never matches) and the pattern's length.
    Regex(Option<Regex>, usize),
    /// Unknown match type: never matches.
    Invalid,
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(v) => path == v,
            PathMatch::Prefix(v) => prefix_match(v, path).is_some(),
            PathMatch::Regex(re, _) => re.as_ref().is_some_and(|re| re.is_match(path)),
            PathMatch::Invalid => false,
        }
    }

    /// (type precedence, characters) for the precedence order.
    pub(super) fn rank(&self) -> (u8, usize) {
        match self {
            PathMatch::Exact(v) => (3, v.len()),
            PathMatch::Regex(_, len) => (2, *len),
            PathMatch::Prefix(v) => (1, v.len()),
            PathMatch::Invalid => (0, 0),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum ValueMatch {
    Exact(String),
    /// Anchored regex; None: invalid, never matches.
    Regex(Option<Regex>),
}

impl ValueMatch {
    fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Exact(v) => v == value,
            ValueMatch::Regex(re) => re.as_ref().is_some_and(|re| re.is_match(value)),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct CompiledMatch {
    pub(super) path: PathMatch,
    pub(super) path_label: String,
    /// Lowercase header names.
    pub(super) headers: Vec<(String, ValueMatch)>,
    pub(super) query: Vec<(String, ValueMatch)>,
    pub(super) method: Option<String>,
}

impl CompiledMatch {
    pub(super) fn matches(&self, req: &RequestInfo<'_>, query: &[(String, String)]) -> bool {
        if let Some(method) = &self.method
            && method != req.method
        {
            return false;
        }
        if !self.path.matches(req.path) {
            return false;
        }
        for (name, matcher) in &self.headers {
            if !req.header_values(name).any(|v| matcher.matches(v)) {
                return false;
            }
        }
        for (name, matcher) in &self.query {
            match query.iter().find(|(k, _)| k == name) {
                Some((_, v)) if matcher.matches(v) => {}
                _ => return false,
            }
        }
        true
    }

    pub(super) fn default_match() -> CompiledMatch {
        CompiledMatch {
            path: PathMatch::Prefix("/".into()),
            path_label: "/".into(),
            headers: Vec::new(),
            query: Vec::new(),
            method: None,
        }
    }
}
