//! What the proxy asks (a request's host, path, headers, cookies and query) and what a
//! routing decision answers (the backend, mirrors, header changes, which kind of route chose).

use std::fmt;

use super::shared::draw;

/// The port of a Service backend, as the Ingress or HTTPRoute names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServicePort {
    Number(u16),
    Name(String),
}

impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServicePort::Number(n) => write!(f, "{n}"),
            ServicePort::Name(name) => f.write_str(name),
        }
    }
}

/// A Service port a request (or a mirrored copy) is sent to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Backend {
    pub namespace: String,
    pub service: String,
    pub port: ServicePort,
}

impl Backend {
    /// ingress-nginx's upstream name, `<namespace>-<service>-<port>`: the value of the `canary`
    /// label of `nginx_ingress_controller_requests` when the canary served a request.
    pub fn upstream_name(&self) -> String {
        format!("{}-{}-{}", self.namespace, self.service, self.port)
    }
}

/// Which kind of object produced a [`Decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    Ingress,
    HttpRoute,
}

/// A `RequestMirror` filter: send a copy of `numerator / denominator` of the requests to
/// `backend` and ignore its responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub backend: Backend,
    pub numerator: u32,
    pub denominator: u32,
}

impl Mirror {
    /// The share of requests mirrored, in whole percent (rounded down).
    pub fn percent(&self) -> u32 {
        if self.denominator == 0 {
            return 0;
        }
        let p = u64::from(self.numerator) * 100 / u64::from(self.denominator);
        u32::try_from(p.min(100)).unwrap_or(100)
    }

    /// Whether this request is mirrored: `random(denominator) < numerator`. Draws nothing when
    /// the answer is certain (0% or 100%).
    pub fn sample(&self, random: &mut dyn FnMut(u32) -> u32) -> bool {
        if self.numerator == 0 || self.denominator == 0 {
            return false;
        }
        if self.numerator >= self.denominator {
            return true;
        }
        draw(random, self.denominator) < self.numerator
    }
}

/// One change a `RequestHeaderModifier` filter makes to the proxied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    /// Replace every value of the header with this one.
    Set { name: String, value: String },
    /// Append a value to the header.
    Add { name: String, value: String },
    /// Drop the header.
    Remove { name: String },
}

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub kind: RouteKind,
    /// The Service port to proxy to. `None`: a rule matched but has nothing to forward to; the
    /// proxy answers [`Decision::no_backend_status`].
    pub backend: Option<Backend>,
    /// Status to answer when `backend` is `None`: 503 (no backendRefs, or all of weight 0), or
    /// 500 (the chosen backendRef is invalid). The proxy should also answer 503 when the chosen
    /// Service has no ready endpoints.
    pub no_backend_status: u16,
    /// The ingress-nginx canary Ingress served the request.
    pub canary: bool,
    /// Name of the Ingress or HTTPRoute that matched; for a canary, the *main* Ingress (what
    /// ingress-nginx reports in the `ingress` label).
    pub ingress: String,
    /// Namespace of that Ingress or HTTPRoute.
    pub namespace: String,
    /// Name of the canary Ingress, when it served the request.
    pub canary_ingress: Option<String>,
    /// Served by an Ingress defaultBackend (no path rule matched).
    pub default_backend: bool,
    /// The rule path that matched (`/` for a defaultBackend): ingress-nginx's `path` label.
    pub matched_path: String,
    /// ingress-nginx's `service` label: the main Service of the location even for the canary;
    /// for an HTTPRoute the chosen backend's Service (empty without one).
    pub service_label: String,
    /// ingress-nginx's `canary` label: the canary's upstream name when it served, else empty.
    pub canary_label: String,
    /// RequestMirror filters of the matched HTTPRoute rule and chosen backendRef.
    pub mirrors: Vec<Mirror>,
    /// RequestHeaderModifier changes to apply before proxying, in order.
    pub request_header_changes: Vec<HeaderChange>,
    /// ingress-nginx's `ssl-redirect` of the main Ingress (default true): a plain-HTTP request
    /// is redirected to HTTPS when its host has a certificate. Always false for an HTTPRoute
    /// (the Gateway API redirects only with an explicit filter).
    pub ssl_redirect: bool,
    /// ingress-nginx's `force-ssl-redirect` of the main Ingress: redirect even when the host
    /// has no certificate.
    pub force_ssl_redirect: bool,
}

/// What the router looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// Host header (a `:port` suffix is ignored; case-insensitive).
    pub host: &'a str,
    /// Path, without the query.
    pub path: &'a str,
    /// Raw query string without `?` (percent-encoded).
    pub query: &'a str,
    pub method: &'a str,
    /// Request headers; names are compared case-insensitively.
    pub headers: &'a [(String, String)],
    /// Request cookies (see [`parse_cookie_header`]).
    pub cookies: &'a [(String, String)],
}

impl RequestInfo<'_> {
    pub(super) fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// nginx `$http_<name>`: all lines of the header joined with ", ", or None when absent.
    pub(super) fn header_joined(&self, name: &str) -> Option<String> {
        let mut values = self.header_values(name);
        let first = values.next()?;
        let mut joined = first.to_string();
        for v in values {
            joined.push_str(", ");
            joined.push_str(v);
        }
        Some(joined)
    }

    /// nginx `$cookie_<name>`: the first cookie of that name (case-insensitive).
    pub(super) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits `Cookie` header values (`a=1; b=2`) into name/value pairs, in order.
pub fn parse_cookie_header<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut cookies = Vec::new();
    for value in values {
        for part in value.split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, val) = part.split_once('=').unwrap_or((part, ""));
            let val = val.trim();
            let val = val
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(val);
            cookies.push((name.trim().to_string(), val.to_string()));
        }
    }
    cookies
}
