//! Routing decisions of the embedded ingress proxy: which Service a request is sent to, given the
//! cluster's Ingresses (with ingress-nginx's canary annotations) and Gateway API HTTPRoutes.
//!
//! Pure data in, data out: no I/O, no clock, no global state. Randomness comes only from the
//! caller's `random(n)`, which must return a value uniform in `0..n` (`n >= 1`; a value `>= n` is
//! reduced modulo `n`). [`RoutingTable::build`] is meant to be called again whenever an Ingress or
//! an HTTPRoute changes; [`RoutingTable::route`] is called once per request.
//!
//! # Ingress (ingress-nginx semantics)
//!
//! * Served Ingresses: `ingress_class` equals the legacy annotation `kubernetes.io/ingress.class`
//!   when that is present, else `spec.ingressClassName`; an Ingress with neither is served too.
//!   An empty `ingress_class` serves every Ingress.
//! * Ingresses are processed oldest first, ordered like ingress-nginx's `sortIngressSlice`:
//!   `creationTimestamp` ascending, and on equal timestamps `namespace/name` **descending** (that
//!   is what the controller does). "Oldest" below always means first in this order. When two
//!   main Ingresses define the same host + path + pathType, the oldest keeps it.
//! * Hosts work like nginx `server` blocks: every host named by a main Ingress rule is a server
//!   (even without paths); rules without a host go to the catch-all server. A request picks the
//!   server whose host equals its host (case-insensitive, port ignored), else the wildcard server
//!   `*.rest` whose `rest` follows the request's first label (a wildcard covers exactly one label,
//!   as the Ingress API defines), else the catch-all server. As in nginx, a request that reaches
//!   a host's server is never matched against another server's paths.
//! * Paths inside a server: `Exact` is string equality; `Prefix` is element-wise (`/foo` matches
//!   `/foo`, `/foo/`, `/foo/bar`, not `/foobar`; a trailing `/` in the rule is ignored);
//!   `ImplementationSpecific` (and an unknown or missing type) is treated as `Prefix`; an empty
//!   path is `/`. An Exact match wins over any prefix match, then the longest path (trailing `/`
//!   not counted), then the oldest Ingress.
//! * defaultBackend: when no path matches, the request goes to the defaultBackend of the oldest
//!   Ingress that created the host's server (if it has one), else to the defaultBackend of the
//!   oldest Ingress that has one at all, else there is no decision (the proxy answers 404).
//!   ingress-nginx itself is narrower (only an Ingress with a defaultBackend and *no* rules
//!   becomes the catch-all); this follows the Ingress API's wording instead.
//! * Path rules whose backend is a `resource` (not a Service), or whose Service port is neither a
//!   valid number nor a name, are skipped with a warning.
//!
//! # ingress-nginx canaries
//!
//! An Ingress annotated `nginx.ingress.kubernetes.io/canary` (Go `strconv.ParseBool` true values)
//! never serves on its own: each of its path rules becomes the canary of the main location with
//! the same host, path and pathType (as `mergeAlternativeBackends` does); its defaultBackend
//! becomes the canary of the main defaultBackends and of the host-less main paths. Only one canary
//! is honoured per location: the oldest (ingress-nginx routes to `alternative_backends[1]`). A
//! canary rule without a main location is ignored with a warning. A canary whose Service is the
//! main's own Service is ignored, as in ingress-nginx. (ingress-nginx attaches a canary to the main
//! *upstream*, so every location using the same main Service inherits it; here it is attached to
//! the matching location only.)
//!
//! The choice between main and canary follows `route_to_alternative_balancer` in ingress-nginx's
//! `balancer.lua` exactly:
//! 1. `canary-by-header` names a request header (case-insensitive; several lines of the header are
//!    joined with `", "` like nginx's `$http_` variables). If present: with a non-empty
//!    `canary-by-header-value`, equality sends to the canary and anything else falls through;
//!    otherwise with a non-empty `canary-by-header-pattern`, a regex match anywhere in the value
//!    (unanchored, like `ngx.re.match`) sends to the canary, no match falls through and an invalid
//!    pattern sends to the main backend (the Lua returns false on a regex error); otherwise
//!    `always` → canary, `never` → main, anything else falls through.
//! 2. `canary-by-cookie` names a cookie (name compared case-insensitively like nginx's
//!    `$cookie_`): `always` → canary, `never` → main, else fall through.
//! 3. Weight: the Lua draws `math.random(total)` (uniform in `1..=total`) and sends to the canary
//!    when the draw is `<= canary-weight`; `total` is `canary-weight-total` only when that is
//!    **greater than 100**, else 100 (so a total below 100 is ignored). Here the draw is
//!    `random(total)` in `0..total` and the canary wins when it is `< weight`: the same
//!    probability `weight / total`. Weight `<= 0` never calls `random` and never goes to the
//!    canary; weight `>= total` always does.
//!
//! Session affinity (sticky canaries) is not modelled.
//!
//! Metrics labels: like ingress-nginx's `monitor.lua`, [`Decision::ingress`], [`Decision::namespace`]
//! and [`Decision::service_label`] name the *main* Ingress and Service of the location even when
//! the canary served the request; [`Decision::canary_label`] is the canary upstream name
//! (`<namespace>-<service>-<port>`, see [`Backend::upstream_name`]) when it did, else empty.
//! [`Decision::canary_ingress`] names the canary Ingress.
//!
//! # Gateway API HTTPRoute (gateway.networking.k8s.io/v1)
//!
//! * parentRefs are **not** checked: every HTTPRoute handed to [`RoutingTable::build`] is
//!   attached to the proxy, as if to one Gateway listener without a hostname. ReferenceGrants are
//!   not checked either (a backendRef may name any namespace). Route status is not consulted.
//! * hostnames: exact (case-insensitive) or `*.suffix`, which (per the Gateway API) matches any
//!   host with one or more labels before `.suffix`; no hostnames matches every host.
//! * A rule without matches has the default match `PathPrefix /`; a match without a path has
//!   path `PathPrefix /`. Within a match, path, headers, query params and method are ANDed;
//!   matches are ORed. `PathPrefix` is element-wise like Ingress `Prefix`; `Exact` is equality;
//!   `RegularExpression` (path, header, query) must match the whole value. Header names are
//!   case-insensitive and a header with several lines matches when any line matches; query param
//!   names are case-sensitive and the first occurrence is used (values are percent-decoded, `+`
//!   is a space). Of several matchers naming the same header / query param only the first counts.
//! * Precedence across every rule of every applicable route: most characters in a matching
//!   non-wildcard hostname, most characters in a matching hostname, `Exact` path, then
//!   `RegularExpression` path (implementation-specific in the spec; longer pattern first), then
//!   `PathPrefix` by length, method match, most header matches, most query matches, oldest route
//!   (`creationTimestamp`), `namespace/name` alphabetical, rule order, match order.
//! * backendRefs: weight default 1, clamped to 0..=1,000,000; chosen with `random(sum)`. A rule
//!   with no backendRefs, or whose weights are all 0, has a decision with `backend: None` and
//!   [`Decision::no_backend_status`] 503. A backendRef that is invalid (kind other than Service, a
//!   group other than core, no name, no port) keeps its share of the weight; when it is chosen
//!   the decision has `backend: None` and status 500, as the spec requires.
//! * Filters (rule level, plus those of the chosen backendRef): `RequestMirror` (percent,
//!   fraction `numerator/denominator` with denominator default 100, or 100% when neither is set;
//!   the caller samples with [`Mirror::sample`]) and `RequestHeaderModifier` (set / add / remove,
//!   in that order). Other filter types are not applied (a warning is recorded).
//!
//! # Ingress and HTTPRoute together
//!
//! They would normally be two controllers on two addresses; here one proxy serves both, most
//! specific first:
//! 1. HTTPRoutes with a hostname matching the request's host;
//! 2. Ingress path rules (the host's server, or the catch-all server);
//! 3. HTTPRoutes without hostnames;
//! 4. Ingress defaultBackends.
//!
//! No decision at all means the proxy answers 404.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use regex::Regex;
use serde::{Deserialize, Deserializer};

/// Prefix of ingress-nginx's annotations.
pub const NGINX_ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io/";
/// Legacy Ingress class annotation, still honoured by ingress-nginx (it wins over
/// `spec.ingressClassName`).
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Largest backendRef weight the Gateway API allows.
pub const MAX_BACKEND_WEIGHT: u32 = 1_000_000;

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
    fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// nginx `$http_<name>`: all lines of the header joined with ", ", or None when absent.
    fn header_joined(&self, name: &str) -> Option<String> {
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
    fn cookie(&self, name: &str) -> Option<&str> {
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

/// Everything the proxy knows about the cluster's routing objects, rebuilt whenever one changes.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    /// Ingress servers by lowercase host; `""` is the catch-all server (rules without host).
    servers: BTreeMap<String, Server>,
    /// defaultBackend of the oldest Ingress that has one.
    global_default: Option<Guarded>,
    /// HTTPRoutes, oldest first (then namespace/name).
    routes: Vec<CompiledRoute>,
    warnings: Vec<String>,
}

impl RoutingTable {
    /// Builds the table. `ingress_class`: Ingresses whose class (legacy annotation
    /// `kubernetes.io/ingress.class`, else `spec.ingressClassName`) equals it, or that have none,
    /// are served; an empty `ingress_class` serves all. HTTPRoutes: all of them (parentRefs are not
    /// checked against Gateways). Objects that cannot be used are skipped and explained in
    /// [`RoutingTable::warnings`].
    pub fn build(
        ingresses: &[Ingress],
        http_routes: &[serde_json::Value],
        ingress_class: &str,
    ) -> RoutingTable {
        let mut table = RoutingTable::default();
        table.add_ingresses(ingresses, ingress_class);
        table.add_http_routes(http_routes);
        table
    }

    /// Where `req` goes, or `None` when nothing matches (the proxy answers 404).
    pub fn route(
        &self,
        req: &RequestInfo<'_>,
        random: &mut dyn FnMut(u32) -> u32,
    ) -> Option<Decision> {
        let host = normalize_host(req.host);
        let query = parse_query(req.query);
        if let Some(d) = self.route_http(&host, req, &query, HostScope::Named, random) {
            return Some(d);
        }
        if let Some(d) = self.route_ingress_rules(&host, req, random) {
            return Some(d);
        }
        if let Some(d) = self.route_http(&host, req, &query, HostScope::Any, random) {
            return Some(d);
        }
        self.route_ingress_default(&host, req, random)
    }

    /// Why objects (or parts of them) are not served, for logs and `describe`-like output.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// True when no Ingress or HTTPRoute can route anything.
    pub fn is_empty(&self) -> bool {
        self.servers.values().all(|s| s.locations.is_empty() && s.default.is_none())
            && self.global_default.is_none()
            && self.routes.is_empty()
    }

    // ----- Ingress -----

    fn add_ingresses(&mut self, ingresses: &[Ingress], ingress_class: &str) {
        let mut views: Vec<IngressView<'_>> = ingresses
            .iter()
            .filter(|ing| serves_class(ing, ingress_class))
            .map(|ing| IngressView::new(ing, &mut self.warnings))
            .collect();
        views.sort_by(|a, b| {
            a.created
                .cmp(&b.created)
                .then_with(|| (b.namespace, b.name).cmp(&(a.namespace, a.name)))
        });

        for view in views.iter().filter(|v| v.canary.is_none()) {
            self.add_main_ingress(view);
        }
        for view in &views {
            if let Some(policy) = &view.canary {
                self.add_canary_ingress(view, policy);
            }
        }
    }

    fn add_main_ingress(&mut self, view: &IngressView<'_>) {
        let Some(spec) = view.ing.spec.as_ref() else {
            return;
        };
        let default_target = spec
            .default_backend
            .as_ref()
            .and_then(|b| match ingress_backend(b, view.namespace) {
                Ok(backend) => Some(view.target(backend)),
                Err(why) => {
                    self.warnings.push(format!(
                        "Ingress {}: defaultBackend ignored: {why}",
                        view.key()
                    ));
                    None
                }
            });
        if self.global_default.is_none()
            && let Some(t) = &default_target
        {
            self.global_default = Some(Guarded::main(t.clone()));
        }
        for rule in spec.rules.iter().flatten() {
            let host = rule.host.as_deref().unwrap_or("").to_ascii_lowercase();
            let server = self
                .servers
                .entry(host.clone())
                .or_insert_with(|| Server {
                    locations: Vec::new(),
                    default: if host.is_empty() {
                        None
                    } else {
                        default_target.clone().map(Guarded::main)
                    },
                });
            let Some(http) = rule.http.as_ref() else {
                continue;
            };
            for p in &http.paths {
                let path = ingress_path(p.path.as_deref());
                let backend = match ingress_backend(&p.backend, view.namespace) {
                    Ok(b) => b,
                    Err(why) => {
                        self.warnings.push(format!(
                            "Ingress {}: host {:?} path {path:?} ignored: {why}",
                            view.key(),
                            host
                        ));
                        continue;
                    }
                };
                let path_type = IngressPathType::parse(&p.path_type);
                if let Some(existing) = server
                    .locations
                    .iter()
                    .find(|l| l.path == path && l.path_type == path_type)
                {
                    self.warnings.push(format!(
                        "Ingress {}: host {:?} path {path:?} ({}) is already defined by Ingress {}/{}; ignored",
                        view.key(),
                        host,
                        p.path_type,
                        existing.route.main.namespace,
                        existing.route.main.ingress
                    ));
                    continue;
                }
                server.locations.push(Location {
                    path,
                    path_type,
                    route: Guarded::main(view.target(backend)),
                });
            }
        }
    }

    fn add_canary_ingress(&mut self, view: &IngressView<'_>, policy: &CanaryPolicy) {
        let Some(spec) = view.ing.spec.as_ref() else {
            return;
        };
        if let Some(db) = &spec.default_backend {
            match ingress_backend(db, view.namespace) {
                Ok(backend) => {
                    let canary = CanaryRoute {
                        target: view.target(backend),
                        policy: policy.clone(),
                    };
                    let mut merged = false;
                    if let Some(g) = self.global_default.as_mut() {
                        merged |= g.attach(&canary);
                    }
                    for server in self.servers.values_mut() {
                        if let Some(g) = server.default.as_mut() {
                            merged |= g.attach(&canary);
                        }
                    }
                    if let Some(server) = self.servers.get_mut("") {
                        for loc in &mut server.locations {
                            merged |= loc.route.attach(&canary);
                        }
                    }
                    if !merged {
                        self.warnings.push(format!(
                            "canary Ingress {}: defaultBackend has no main backend to share traffic with; not served",
                            view.key()
                        ));
                    }
                }
                Err(why) => self.warnings.push(format!(
                    "canary Ingress {}: defaultBackend ignored: {why}",
                    view.key()
                )),
            }
        }
        for rule in spec.rules.iter().flatten() {
            let host = rule.host.as_deref().unwrap_or("").to_ascii_lowercase();
            let Some(http) = rule.http.as_ref() else {
                continue;
            };
            for p in &http.paths {
                let path = ingress_path(p.path.as_deref());
                let backend = match ingress_backend(&p.backend, view.namespace) {
                    Ok(b) => b,
                    Err(why) => {
                        self.warnings.push(format!(
                            "canary Ingress {}: host {host:?} path {path:?} ignored: {why}",
                            view.key()
                        ));
                        continue;
                    }
                };
                let path_type = IngressPathType::parse(&p.path_type);
                let location = self.servers.get_mut(&host).and_then(|s| {
                    s.locations
                        .iter_mut()
                        .find(|l| l.path == path && l.path_type == path_type)
                });
                let Some(location) = location else {
                    self.warnings.push(format!(
                        "canary Ingress {}: no main Ingress serves host {host:?} path {path:?} ({}); not served",
                        view.key(),
                        p.path_type
                    ));
                    continue;
                };
                let canary = CanaryRoute {
                    target: view.target(backend),
                    policy: policy.clone(),
                };
                if let Some(existing) = &location.route.canary {
                    self.warnings.push(format!(
                        "canary Ingress {}: host {host:?} path {path:?} already has canary Ingress {}/{}; only one canary is honoured",
                        view.key(),
                        existing.target.namespace,
                        existing.target.ingress
                    ));
                } else if !location.route.attach(&canary) {
                    self.warnings.push(format!(
                        "canary Ingress {}: host {host:?} path {path:?} uses the main Ingress's own Service; not served",
                        view.key()
                    ));
                }
            }
        }
    }

    /// The nginx server a host lands on: exact host, else one-label wildcard, else catch-all.
    fn ingress_server(&self, host: &str) -> Option<&Server> {
        if !host.is_empty()
            && let Some(s) = self.servers.get(host)
        {
            return Some(s);
        }
        if let Some(dot) = host.find('.')
            && dot > 0
            && let Some(s) = self.servers.get(&format!("*{}", &host[dot..]))
        {
            return Some(s);
        }
        self.servers.get("")
    }

    fn route_ingress_rules(
        &self,
        host: &str,
        req: &RequestInfo<'_>,
        random: &mut dyn FnMut(u32) -> u32,
    ) -> Option<Decision> {
        let server = self.ingress_server(host)?;
        let location = server
            .locations
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                l.match_len(req.path)
                    .map(|len| ((Reverse(l.path_type == IngressPathType::Exact), Reverse(len), i), l))
            })
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, l)| l)?;
        Some(location.route.decide(&location.path, false, req, random))
    }

    fn route_ingress_default(
        &self,
        host: &str,
        req: &RequestInfo<'_>,
        random: &mut dyn FnMut(u32) -> u32,
    ) -> Option<Decision> {
        let guarded = self
            .ingress_server(host)
            .and_then(|s| s.default.as_ref())
            .or(self.global_default.as_ref())?;
        Some(guarded.decide("/", true, req, random))
    }

    // ----- HTTPRoute -----

    fn add_http_routes(&mut self, http_routes: &[serde_json::Value]) {
        for value in http_routes {
            if let Some(route) = compile_route(value, &mut self.warnings) {
                self.routes.push(route);
            }
        }
        self.routes.sort_by(|a, b| {
            (a.created, &a.namespace, &a.name).cmp(&(b.created, &b.namespace, &b.name))
        });
    }

    fn route_http(
        &self,
        host: &str,
        req: &RequestInfo<'_>,
        query: &[(String, String)],
        scope: HostScope,
        random: &mut dyn FnMut(u32) -> u32,
    ) -> Option<Decision> {
        type Key = (
            (Reverse<usize>, Reverse<usize>),
            (Reverse<u8>, Reverse<usize>, Reverse<bool>, Reverse<usize>, Reverse<usize>),
            (usize, usize, usize),
        );
        let mut best: Option<(Key, &CompiledRoute, &CompiledRule, &CompiledMatch)> = None;
        for (ri, route) in self.routes.iter().enumerate() {
            let host_rank = match scope {
                HostScope::Named => {
                    if route.hostnames.is_empty() {
                        continue;
                    }
                    match route
                        .hostnames
                        .iter()
                        .filter_map(|h| hostname_match(h, host))
                        .max()
                    {
                        Some(rank) => rank,
                        None => continue,
                    }
                }
                HostScope::Any => {
                    if !route.hostnames.is_empty() {
                        continue;
                    }
                    (0, 0)
                }
            };
            for (rule_i, rule) in route.rules.iter().enumerate() {
                for (mi, m) in rule.matches.iter().enumerate() {
                    if !m.matches(req, query) {
                        continue;
                    }
                    let (class, len) = m.path.rank();
                    let key: Key = (
                        (Reverse(host_rank.0), Reverse(host_rank.1)),
                        (
                            Reverse(class),
                            Reverse(len),
                            Reverse(m.method.is_some()),
                            Reverse(m.headers.len()),
                            Reverse(m.query.len()),
                        ),
                        (ri, rule_i, mi),
                    );
                    if best.as_ref().is_none_or(|(k, ..)| key < *k) {
                        best = Some((key, route, rule, m));
                    }
                }
            }
        }
        let (_, route, rule, m) = best?;
        Some(rule.decide(route, m, random))
    }
}

// ----- Ingress internals -----

/// Creation order of an object: (seconds, nanoseconds) since the epoch; a missing timestamp sorts
/// first, like Go's zero time.
type Created = (i64, i32);
const NO_TIMESTAMP: Created = (i64::MIN, 0);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    backend: Backend,
    ingress: String,
    namespace: String,
}

#[derive(Debug, Clone)]
struct CanaryPolicy {
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
struct CanaryRoute {
    target: Target,
    policy: CanaryPolicy,
}

/// A main backend, possibly shadowed by an ingress-nginx canary.
#[derive(Debug, Clone)]
struct Guarded {
    main: Target,
    canary: Option<CanaryRoute>,
}

impl Guarded {
    fn main(target: Target) -> Guarded {
        Guarded {
            main: target,
            canary: None,
        }
    }

    /// Attaches `canary` unless one is already attached or it targets the main backend.
    fn attach(&mut self, canary: &CanaryRoute) -> bool {
        if self.canary.is_some() || self.main.backend == canary.target.backend {
            return false;
        }
        self.canary = Some(canary.clone());
        true
    }

    fn decide(
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
            canary_label: canary.map(|c| c.target.backend.upstream_name()).unwrap_or_default(),
            mirrors: Vec::new(),
            request_header_changes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IngressPathType {
    Exact,
    Prefix,
    ImplementationSpecific,
}

impl IngressPathType {
    fn parse(s: &str) -> IngressPathType {
        match s {
            "Exact" => IngressPathType::Exact,
            "Prefix" => IngressPathType::Prefix,
            _ => IngressPathType::ImplementationSpecific,
        }
    }
}

#[derive(Debug, Clone)]
struct Location {
    path: String,
    path_type: IngressPathType,
    route: Guarded,
}

impl Location {
    /// Length of the matched rule path (trailing `/` not counted for prefixes), or None.
    fn match_len(&self, req_path: &str) -> Option<usize> {
        match self.path_type {
            IngressPathType::Exact => (req_path == self.path).then_some(self.path.len()),
            IngressPathType::Prefix | IngressPathType::ImplementationSpecific => {
                prefix_match(&self.path, req_path)
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Server {
    locations: Vec<Location>,
    default: Option<Guarded>,
}

struct IngressView<'a> {
    ing: &'a Ingress,
    name: &'a str,
    namespace: &'a str,
    created: Created,
    canary: Option<CanaryPolicy>,
}

impl<'a> IngressView<'a> {
    fn new(ing: &'a Ingress, warnings: &mut Vec<String>) -> IngressView<'a> {
        let name = ing.metadata.name.as_deref().unwrap_or("");
        let namespace = ing.metadata.namespace.as_deref().unwrap_or("default");
        let created = ing
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(NO_TIMESTAMP, |t| (t.0.as_second(), t.0.subsec_nanosecond()));
        let canary = CanaryPolicy::parse(&format!("{namespace}/{name}"), ing, warnings);
        IngressView {
            ing,
            name,
            namespace,
            created,
            canary,
        }
    }

    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn target(&self, backend: Backend) -> Target {
        Target {
            backend,
            ingress: self.name.to_string(),
            namespace: self.namespace.to_string(),
        }
    }
}

fn serves_class(ing: &Ingress, ingress_class: &str) -> bool {
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
    match ing.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref()) {
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

fn ingress_path(path: Option<&str>) -> String {
    match path {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => "/".to_string(),
    }
}

fn ingress_backend(b: &IngressBackend, namespace: &str) -> Result<Backend, String> {
    let Some(svc) = b.service.as_ref() else {
        return Err("the backend is not a Service (resource backends are not proxied)".into());
    };
    if svc.name.is_empty() {
        return Err("the backend Service has no name".into());
    }
    let port = svc.port.as_ref().and_then(|p| {
        match (p.number.and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0), &p.name) {
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

/// Element-wise prefix match (trailing `/` of the rule ignored); returns the rule's length
/// without the trailing `/`.
fn prefix_match(rule: &str, req_path: &str) -> Option<usize> {
    let base = rule.trim_end_matches('/');
    if base.is_empty()
        || req_path == base
        || req_path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
    {
        Some(base.len())
    } else {
        None
    }
}

// ----- shared helpers -----

/// `random(n)` reduced into `0..n`; never calls `random` when `n <= 1`.
fn draw(random: &mut dyn FnMut(u32) -> u32, n: u32) -> u32 {
    if n <= 1 {
        return 0;
    }
    let v = random(n);
    if v >= n { v % n } else { v }
}

/// Lowercase host without a `:port` suffix or a trailing dot.
fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let host = match host.rsplit_once(':') {
        Some((h, port))
            if !h.is_empty()
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => host,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ----- HTTPRoute internals -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostScope {
    /// Routes with a hostname matching the request's host.
    Named,
    /// Routes without hostnames.
    Any,
}

/// (characters in a matching non-wildcard hostname, characters in the matching hostname).
fn hostname_match(pattern: &str, host: &str) -> Option<(usize, usize)> {
    if let Some(suffix) = pattern.strip_prefix('*') {
        (host.len() > suffix.len() && host.ends_with(suffix)).then_some((0, pattern.len()))
    } else {
        (pattern == host).then_some((pattern.len(), pattern.len()))
    }
}

#[derive(Debug, Clone)]
struct CompiledRoute {
    name: String,
    namespace: String,
    created: Created,
    /// Lowercase; empty: any host.
    hostnames: Vec<String>,
    rules: Vec<CompiledRule>,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    matches: Vec<CompiledMatch>,
    backends: Vec<WeightedRef>,
    filters: Filters,
}

impl CompiledRule {
    fn decide(
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
            service_label: backend.as_ref().map(|b| b.service.clone()).unwrap_or_default(),
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
struct WeightedRef {
    /// None: an invalid backendRef (answered with 500).
    backend: Option<Backend>,
    weight: u32,
    filters: Filters,
}

#[derive(Debug, Clone, Default)]
struct Filters {
    mirrors: Vec<Mirror>,
    headers: Vec<HeaderChange>,
}

#[derive(Debug, Clone)]
enum PathMatch {
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
    fn rank(&self) -> (u8, usize) {
        match self {
            PathMatch::Exact(v) => (3, v.len()),
            PathMatch::Regex(_, len) => (2, *len),
            PathMatch::Prefix(v) => (1, v.len()),
            PathMatch::Invalid => (0, 0),
        }
    }
}

#[derive(Debug, Clone)]
enum ValueMatch {
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
struct CompiledMatch {
    path: PathMatch,
    path_label: String,
    /// Lowercase header names.
    headers: Vec<(String, ValueMatch)>,
    query: Vec<(String, ValueMatch)>,
    method: Option<String>,
}

impl CompiledMatch {
    fn matches(&self, req: &RequestInfo<'_>, query: &[(String, String)]) -> bool {
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

    fn default_match() -> CompiledMatch {
        CompiledMatch {
            path: PathMatch::Prefix("/".into()),
            path_label: "/".into(),
            headers: Vec::new(),
            query: Vec::new(),
            method: None,
        }
    }
}

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

fn compile_route(value: &serde_json::Value, warnings: &mut Vec<String>) -> Option<CompiledRoute> {
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
        warnings.push(format!("object of kind {kind} given as an HTTPRoute; ignored"));
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
                filters.headers.extend(m.set.iter().map(|h| HeaderChange::Set {
                    name: h.name.clone(),
                    value: h.value.clone(),
                }));
                filters.headers.extend(m.add.iter().map(|h| HeaderChange::Add {
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
