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
        self.servers
            .values()
            .all(|s| s.locations.is_empty() && s.default.is_none())
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
        let default_target =
            spec.default_backend
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
            let server = self.servers.entry(host.clone()).or_insert_with(|| Server {
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
                l.match_len(req.path).map(|len| {
                    (
                        (
                            Reverse(l.path_type == IngressPathType::Exact),
                            Reverse(len),
                            i,
                        ),
                        l,
                    )
                })
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
            (
                Reverse<u8>,
                Reverse<usize>,
                Reverse<bool>,
                Reverse<usize>,
                Reverse<usize>,
            ),
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
            canary_label: canary
                .map(|c| c.target.backend.upstream_name())
                .unwrap_or_default(),
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
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::{Value, json};

    // ----- fixtures -----

    fn ingress(name: &str, created: &str, annotations: Value, spec: Value) -> Ingress {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": name,
                "namespace": "default",
                "creationTimestamp": created,
                "annotations": annotations,
            },
            "spec": spec,
        }))
        .expect("valid Ingress")
    }

    fn svc(name: &str, port: u16) -> Value {
        json!({ "service": { "name": name, "port": { "number": port } } })
    }

    fn path(p: &str, path_type: &str, service: &str) -> Value {
        json!({ "path": p, "pathType": path_type, "backend": svc(service, 80) })
    }

    fn rule(host: Option<&str>, paths: Vec<Value>) -> Value {
        match host {
            Some(h) => json!({ "host": h, "http": { "paths": paths } }),
            None => json!({ "http": { "paths": paths } }),
        }
    }

    fn simple(name: &str, created: &str, host: Option<&str>, p: &str, service: &str) -> Ingress {
        ingress(
            name,
            created,
            json!({}),
            json!({ "rules": [rule(host, vec![path(p, "Prefix", service)])] }),
        )
    }

    const T0: &str = "2024-01-01T00:00:00Z";
    const T1: &str = "2024-01-01T00:00:01Z";
    const T2: &str = "2024-01-01T00:00:02Z";

    fn canary_ing(name: &str, created: &str, host: &str, service: &str, extra: Value) -> Ingress {
        let mut annotations = json!({ "nginx.ingress.kubernetes.io/canary": "true" });
        if let (Some(a), Some(e)) = (annotations.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                a.insert(format!("nginx.ingress.kubernetes.io/{k}"), v.clone());
            }
        }
        ingress(
            name,
            created,
            annotations,
            json!({ "rules": [rule(Some(host), vec![path("/", "Prefix", service)])] }),
        )
    }

    fn http_route(name: &str, created: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": { "name": name, "namespace": "apps", "creationTimestamp": created },
            "spec": spec,
        })
    }

    fn backend_ref(name: &str, weight: Option<u32>) -> Value {
        match weight {
            Some(w) => json!({ "name": name, "port": 8080, "weight": w }),
            None => json!({ "name": name, "port": 8080 }),
        }
    }

    struct Req {
        host: String,
        path: String,
        query: String,
        method: String,
        headers: Vec<(String, String)>,
        cookies: Vec<(String, String)>,
    }

    impl Req {
        fn new(host: &str, path: &str) -> Req {
            Req {
                host: host.into(),
                path: path.into(),
                query: String::new(),
                method: "GET".into(),
                headers: Vec::new(),
                cookies: Vec::new(),
            }
        }
        fn header(mut self, name: &str, value: &str) -> Req {
            self.headers.push((name.into(), value.into()));
            self
        }
        fn cookie(mut self, name: &str, value: &str) -> Req {
            self.cookies.push((name.into(), value.into()));
            self
        }
        fn query(mut self, q: &str) -> Req {
            self.query = q.into();
            self
        }
        fn method(mut self, m: &str) -> Req {
            self.method = m.into();
            self
        }
        fn info(&self) -> RequestInfo<'_> {
            RequestInfo {
                host: &self.host,
                path: &self.path,
                query: &self.query,
                method: &self.method,
                headers: &self.headers,
                cookies: &self.cookies,
            }
        }
    }

    /// A random source that must not be called.
    fn no_random(_: u32) -> u32 {
        panic!("random must not be drawn here")
    }

    fn route(table: &RoutingTable, req: &Req) -> Option<Decision> {
        table.route(&req.info(), &mut no_random)
    }

    fn service_of(table: &RoutingTable, req: &Req) -> Option<String> {
        route(table, req).and_then(|d| d.backend).map(|b| b.service)
    }

    fn seeded() -> impl FnMut(u32) -> u32 {
        let mut rng = StdRng::seed_from_u64(20240601);
        move |n| rng.random_range(0..n)
    }

    fn ingress_table(ings: Vec<Ingress>) -> RoutingTable {
        RoutingTable::build(&ings, &[], "nginx")
    }

    // ----- Ingress: hosts -----

    #[test]
    fn exact_host_beats_wildcard_beats_no_host() {
        let t = ingress_table(vec![
            simple("any", T0, None, "/", "any-svc"),
            simple("wild", T0, Some("*.example.com"), "/", "wild-svc"),
            simple("exact", T0, Some("www.example.com"), "/", "exact-svc"),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("www.example.com", "/")).as_deref(),
            Some("exact-svc")
        );
        assert_eq!(
            service_of(&t, &Req::new("api.example.com", "/x")).as_deref(),
            Some("wild-svc")
        );
        assert_eq!(
            service_of(&t, &Req::new("other.org", "/")).as_deref(),
            Some("any-svc")
        );
    }

    #[test]
    fn wildcard_host_covers_exactly_one_label() {
        let t = ingress_table(vec![simple(
            "wild",
            T0,
            Some("*.example.com"),
            "/",
            "wild-svc",
        )]);
        assert_eq!(
            service_of(&t, &Req::new("a.example.com", "/")).as_deref(),
            Some("wild-svc")
        );
        assert_eq!(service_of(&t, &Req::new("a.b.example.com", "/")), None);
        assert_eq!(service_of(&t, &Req::new("example.com", "/")), None);
    }

    #[test]
    fn host_is_case_insensitive_and_port_is_ignored() {
        let t = ingress_table(vec![simple("a", T0, Some("My-App.Local"), "/", "app")]);
        assert_eq!(
            service_of(&t, &Req::new("my-app.local:8080", "/")).as_deref(),
            Some("app")
        );
        assert_eq!(
            service_of(&t, &Req::new("MY-APP.LOCAL.", "/")).as_deref(),
            Some("app")
        );
    }

    #[test]
    fn host_server_does_not_fall_back_to_hostless_paths() {
        let t = ingress_table(vec![
            simple("api", T0, Some("foo.com"), "/api", "api"),
            simple("web", T0, None, "/", "web"),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("foo.com", "/api/x")).as_deref(),
            Some("api")
        );
        // nginx picks the foo.com server and only looks at its locations.
        assert_eq!(service_of(&t, &Req::new("foo.com", "/other")), None);
        assert_eq!(
            service_of(&t, &Req::new("bar.com", "/other")).as_deref(),
            Some("web")
        );
    }

    // ----- Ingress: paths -----

    #[test]
    fn exact_path_beats_prefix_of_same_length() {
        let t = ingress_table(vec![ingress(
            "a",
            T0,
            json!({}),
            json!({ "rules": [rule(None, vec![
                path("/foo", "Prefix", "prefix"),
                path("/foo", "Exact", "exact"),
            ])] }),
        )]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/foo")).as_deref(),
            Some("exact")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/foo/")).as_deref(),
            Some("prefix")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/foo/bar")).as_deref(),
            Some("prefix")
        );
    }

    #[test]
    fn longest_prefix_wins_regardless_of_order() {
        let t = ingress_table(vec![ingress(
            "a",
            T0,
            json!({}),
            json!({ "rules": [rule(None, vec![
                path("/", "Prefix", "root"),
                path("/api", "Prefix", "api"),
                path("/api/v2/", "Prefix", "v2"),
            ])] }),
        )]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/api/v2/users")).as_deref(),
            Some("v2")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/api/v2")).as_deref(),
            Some("v2")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/api/v1")).as_deref(),
            Some("api")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/apix")).as_deref(),
            Some("root")
        );
    }

    #[test]
    fn prefix_is_element_wise_and_ignores_trailing_slash() {
        let t = ingress_table(vec![
            simple("a", T0, Some("a"), "/foo", "svc"),
            simple("b", T0, Some("b"), "/foo/", "svc"),
        ]);
        for host in ["a", "b"] {
            for ok in ["/foo", "/foo/", "/foo/bar", "/foo/bar/baz"] {
                assert_eq!(
                    service_of(&t, &Req::new(host, ok)).as_deref(),
                    Some("svc"),
                    "{host}{ok}"
                );
            }
            for miss in ["/foobar", "/fo", "/", "/bar/foo"] {
                assert_eq!(service_of(&t, &Req::new(host, miss)), None, "{host}{miss}");
            }
        }
    }

    #[test]
    fn exact_path_edge_cases() {
        let t = ingress_table(vec![ingress(
            "a",
            T0,
            json!({}),
            json!({ "rules": [rule(None, vec![path("/foo", "Exact", "svc")])] }),
        )]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/foo")).as_deref(),
            Some("svc")
        );
        assert_eq!(service_of(&t, &Req::new("h", "/foo/")), None);
        assert_eq!(service_of(&t, &Req::new("h", "/foo/bar")), None);
        assert_eq!(service_of(&t, &Req::new("h", "/FOO")), None);
    }

    #[test]
    fn implementation_specific_and_empty_path_are_prefixes() {
        let t = ingress_table(vec![ingress(
            "a",
            T0,
            json!({}),
            json!({ "rules": [
                rule(Some("x"), vec![path("/foo", "ImplementationSpecific", "impl")]),
                rule(Some("y"), vec![json!({ "pathType": "Prefix", "backend": svc("root", 80) })]),
            ] }),
        )]);
        assert_eq!(
            service_of(&t, &Req::new("x", "/foo/bar")).as_deref(),
            Some("impl")
        );
        assert_eq!(service_of(&t, &Req::new("x", "/foobar")), None);
        assert_eq!(
            service_of(&t, &Req::new("y", "/anything")).as_deref(),
            Some("root")
        );
    }

    #[test]
    fn oldest_ingress_keeps_a_conflicting_path() {
        let t = ingress_table(vec![
            simple("newer", T1, Some("h"), "/", "new"),
            simple("older", T0, Some("h"), "/", "old"),
        ]);
        assert_eq!(service_of(&t, &Req::new("h", "/")).as_deref(), Some("old"));
        assert!(t.warnings().iter().any(|w| w.contains("default/newer")));
    }

    #[test]
    fn equal_timestamps_order_by_name_descending_like_ingress_nginx() {
        let t = ingress_table(vec![
            simple("alpha", T0, Some("h"), "/", "alpha"),
            simple("beta", T0, Some("h"), "/", "beta"),
        ]);
        assert_eq!(service_of(&t, &Req::new("h", "/")).as_deref(), Some("beta"));
    }

    #[test]
    fn service_port_by_name_and_resource_backends() {
        let t = ingress_table(vec![ingress(
            "a",
            T0,
            json!({}),
            json!({ "rules": [rule(None, vec![
                json!({ "path": "/named", "pathType": "Prefix",
                        "backend": { "service": { "name": "s", "port": { "name": "http" } } } }),
                json!({ "path": "/res", "pathType": "Prefix",
                        "backend": { "resource": { "kind": "Bucket", "name": "b" } } }),
            ])] }),
        )]);
        let d = route(&t, &Req::new("h", "/named")).expect("decision");
        assert_eq!(
            d.backend,
            Some(Backend {
                namespace: "default".into(),
                service: "s".into(),
                port: ServicePort::Name("http".into())
            })
        );
        assert_eq!(route(&t, &Req::new("h", "/res")), None);
        assert!(t.warnings().iter().any(|w| w.contains("not a Service")));
    }

    // ----- Ingress: defaultBackend -----

    #[test]
    fn default_backend_of_oldest_ingress_serves_unmatched_requests() {
        let t = ingress_table(vec![
            ingress(
                "newer",
                T2,
                json!({}),
                json!({ "defaultBackend": svc("newer-default", 80) }),
            ),
            ingress(
                "older",
                T1,
                json!({}),
                json!({ "defaultBackend": svc("older-default", 80) }),
            ),
            simple("rules", T0, None, "/api", "api"),
        ]);
        let d = route(&t, &Req::new("anything", "/web")).expect("default backend");
        assert_eq!(
            d.backend.map(|b| b.service).as_deref(),
            Some("older-default")
        );
        assert!(d.default_backend);
        assert_eq!(d.ingress, "older");
        assert_eq!(
            service_of(&t, &Req::new("anything", "/api")).as_deref(),
            Some("api")
        );
    }

    #[test]
    fn host_default_backend_comes_from_the_ingress_that_created_the_host() {
        let t = ingress_table(vec![
            ingress(
                "global",
                T0,
                json!({}),
                json!({ "defaultBackend": svc("global-default", 80) }),
            ),
            ingress(
                "foo",
                T1,
                json!({}),
                json!({
                    "defaultBackend": svc("foo-default", 80),
                    "rules": [rule(Some("foo.com"), vec![path("/api", "Prefix", "api")])],
                }),
            ),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("foo.com", "/x")).as_deref(),
            Some("foo-default")
        );
        assert_eq!(
            service_of(&t, &Req::new("bar.com", "/x")).as_deref(),
            Some("global-default")
        );
    }

    #[test]
    fn no_match_and_no_default_is_none() {
        let t = ingress_table(vec![simple("a", T0, Some("foo.com"), "/api", "api")]);
        assert_eq!(route(&t, &Req::new("foo.com", "/web")), None);
        assert_eq!(route(&t, &Req::new("bar.com", "/api")), None);
        assert!(RoutingTable::build(&[], &[], "nginx").is_empty());
        assert!(!t.is_empty());
    }

    #[test]
    fn ingress_class_filter() {
        let by_spec = |name: &str, class: &str| {
            ingress(
                name,
                T0,
                json!({}),
                json!({ "ingressClassName": class, "rules": [rule(Some(name), vec![path("/", "Prefix", name)])] }),
            )
        };
        let by_annotation = ingress(
            "legacy",
            T0,
            json!({ "kubernetes.io/ingress.class": "nginx" }),
            json!({ "ingressClassName": "other", "rules": [rule(Some("legacy"), vec![path("/", "Prefix", "legacy")])] }),
        );
        let t = ingress_table(vec![
            by_spec("mine", "nginx"),
            by_spec("theirs", "traefik"),
            simple("classless", T0, Some("classless"), "/", "classless"),
            by_annotation,
        ]);
        assert_eq!(
            service_of(&t, &Req::new("mine", "/")).as_deref(),
            Some("mine")
        );
        assert_eq!(service_of(&t, &Req::new("theirs", "/")), None);
        assert_eq!(
            service_of(&t, &Req::new("classless", "/")).as_deref(),
            Some("classless")
        );
        assert_eq!(
            service_of(&t, &Req::new("legacy", "/")).as_deref(),
            Some("legacy")
        );
    }

    // ----- ingress-nginx canary -----

    fn canary_table(extra: Value) -> RoutingTable {
        ingress_table(vec![
            simple("main", T0, Some("app.local"), "/", "stable"),
            canary_ing("main-canary", T1, "app.local", "canary", extra),
        ])
    }

    fn served_by_canary(t: &RoutingTable, req: &Req, random: &mut dyn FnMut(u32) -> u32) -> bool {
        t.route(&req.info(), random).expect("decision").canary
    }

    #[test]
    fn canary_by_header_always_never_and_fall_through() {
        let t = canary_table(json!({ "canary-by-header": "X-Canary", "canary-weight": "0" }));
        let req = |v: &str| Req::new("app.local", "/").header("x-canary", v);
        assert!(served_by_canary(&t, &req("always"), &mut no_random));
        assert!(!served_by_canary(&t, &req("never"), &mut no_random));
        // other values fall through to the weight (0 here: main)
        assert!(!served_by_canary(&t, &req("yes"), &mut no_random));
        assert!(!served_by_canary(
            &t,
            &Req::new("app.local", "/"),
            &mut no_random
        ));

        let t = canary_table(json!({ "canary-by-header": "X-Canary", "canary-weight": "100" }));
        assert!(served_by_canary(&t, &req("yes"), &mut no_random));
        assert!(!served_by_canary(&t, &req("never"), &mut no_random));
    }

    #[test]
    fn canary_by_header_value_replaces_always() {
        let t = canary_table(json!({
            "canary-by-header": "X-Region",
            "canary-by-header-value": "eu",
        }));
        let req = |v: &str| Req::new("app.local", "/").header("X-Region", v);
        assert!(served_by_canary(&t, &req("eu"), &mut no_random));
        assert!(!served_by_canary(&t, &req("always"), &mut no_random));
        assert!(!served_by_canary(&t, &req("EU"), &mut no_random));
    }

    #[test]
    fn canary_by_header_pattern_and_its_precedence() {
        let t = canary_table(json!({
            "canary-by-header": "User-Agent",
            "canary-by-header-pattern": "Chrome|Firefox",
        }));
        let req = |v: &str| Req::new("app.local", "/").header("user-agent", v);
        assert!(served_by_canary(
            &t,
            &req("Mozilla/5.0 Firefox/120"),
            &mut no_random
        ));
        assert!(!served_by_canary(&t, &req("curl/8"), &mut no_random));

        // A value, when set, wins over the pattern.
        let t = canary_table(json!({
            "canary-by-header": "User-Agent",
            "canary-by-header-value": "bot",
            "canary-by-header-pattern": ".*",
        }));
        assert!(!served_by_canary(&t, &req("Firefox"), &mut no_random));
        assert!(served_by_canary(&t, &req("bot"), &mut no_random));

        // An invalid pattern sends a request carrying the header to the main backend, even with
        // a cookie that says always (the Lua returns false on a regex error).
        let t = canary_table(json!({
            "canary-by-header": "User-Agent",
            "canary-by-header-pattern": "(",
            "canary-by-cookie": "c",
        }));
        assert!(!served_by_canary(
            &t,
            &req("x").cookie("c", "always"),
            &mut no_random
        ));
        assert!(served_by_canary(
            &t,
            &Req::new("app.local", "/").cookie("c", "always"),
            &mut no_random
        ));
        assert!(t.warnings().iter().any(|w| w.contains("not a valid regex")));
    }

    #[test]
    fn canary_by_cookie_and_header_before_cookie() {
        let t = canary_table(json!({
            "canary-by-header": "X-Canary",
            "canary-by-cookie": "canary",
        }));
        let base = || Req::new("app.local", "/");
        assert!(served_by_canary(
            &t,
            &base().cookie("canary", "always"),
            &mut no_random
        ));
        assert!(served_by_canary(
            &t,
            &base().cookie("Canary", "always"),
            &mut no_random
        ));
        assert!(!served_by_canary(
            &t,
            &base().cookie("canary", "never"),
            &mut no_random
        ));
        assert!(!served_by_canary(
            &t,
            &base().cookie("canary", "maybe"),
            &mut no_random
        ));
        // header wins over cookie
        assert!(!served_by_canary(
            &t,
            &base()
                .header("x-canary", "never")
                .cookie("canary", "always"),
            &mut no_random
        ));
        assert!(served_by_canary(
            &t,
            &base()
                .header("x-canary", "always")
                .cookie("canary", "never"),
            &mut no_random
        ));
        // header with another value falls through to the cookie
        assert!(served_by_canary(
            &t,
            &base()
                .header("x-canary", "other")
                .cookie("canary", "always"),
            &mut no_random
        ));
    }

    #[test]
    fn canary_weight_ten_percent_over_ten_thousand_draws() {
        let t = canary_table(json!({ "canary-weight": "10" }));
        let mut random = seeded();
        let req = Req::new("app.local", "/");
        let hits = (0..10_000)
            .filter(|_| served_by_canary(&t, &req, &mut random))
            .count();
        assert!((850..=1150).contains(&hits), "canary got {hits} of 10000");
    }

    #[test]
    fn canary_weight_boundaries_and_total() {
        let req = Req::new("app.local", "/");
        // weight 0: never, without drawing
        let t = canary_table(json!({ "canary-weight": "0" }));
        assert!(!served_by_canary(&t, &req, &mut no_random));
        // weight = total: always, without drawing
        let t = canary_table(json!({ "canary-weight": "100" }));
        assert!(served_by_canary(&t, &req, &mut no_random));
        // draw < weight goes to the canary: draws 0..=9 of 100 for weight 10
        let t = canary_table(json!({ "canary-weight": "10" }));
        assert!(served_by_canary(&t, &req, &mut |n| {
            assert_eq!(n, 100);
            9
        }));
        assert!(!served_by_canary(&t, &req, &mut |_| 10));
        // a total above 100 is used ...
        let t = canary_table(json!({ "canary-weight": "1", "canary-weight-total": "1000" }));
        assert!(served_by_canary(&t, &req, &mut |n| {
            assert_eq!(n, 1000);
            0
        }));
        assert!(!served_by_canary(&t, &req, &mut |_| 1));
        // ... a total below 100 is not (ingress-nginx keeps 100)
        let t = canary_table(json!({ "canary-weight": "5", "canary-weight-total": "10" }));
        assert!(!served_by_canary(&t, &req, &mut |n| {
            assert_eq!(n, 100);
            50
        }));
        // not a number: weight 0
        let t = canary_table(json!({ "canary-weight": "ten" }));
        assert!(!served_by_canary(&t, &req, &mut no_random));
    }

    #[test]
    fn canary_decision_labels() {
        let t = canary_table(json!({ "canary-weight": "100" }));
        let d = route(&t, &Req::new("app.local", "/x")).expect("decision");
        assert!(d.canary);
        assert_eq!(d.kind, RouteKind::Ingress);
        assert_eq!(d.ingress, "main");
        assert_eq!(d.namespace, "default");
        assert_eq!(d.canary_ingress.as_deref(), Some("main-canary"));
        assert_eq!(d.service_label, "stable");
        assert_eq!(d.canary_label, "default-canary-80");
        assert_eq!(d.backend.map(|b| b.service).as_deref(), Some("canary"));
        assert_eq!(d.matched_path, "/");

        let t = canary_table(json!({ "canary-weight": "0" }));
        let d = route(&t, &Req::new("app.local", "/x")).expect("decision");
        assert!(!d.canary);
        assert_eq!(d.canary_label, "");
        assert_eq!(d.canary_ingress, None);
        assert_eq!(d.backend.map(|b| b.service).as_deref(), Some("stable"));
    }

    #[test]
    fn canary_alone_is_not_served() {
        let t = ingress_table(vec![canary_ing(
            "lonely",
            T0,
            "app.local",
            "canary",
            json!({ "canary-weight": "100" }),
        )]);
        assert_eq!(route(&t, &Req::new("app.local", "/")), None);
        assert!(t.warnings().iter().any(|w| w.contains("default/lonely")));
    }

    #[test]
    fn canary_needs_same_path_and_path_type() {
        let t = ingress_table(vec![
            simple("main", T0, Some("app.local"), "/", "stable"),
            ingress(
                "c",
                T1,
                json!({ "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "100" }),
                json!({ "rules": [rule(Some("app.local"), vec![path("/", "ImplementationSpecific", "canary")])] }),
            ),
        ]);
        let d = route(&t, &Req::new("app.local", "/")).expect("decision");
        assert!(!d.canary);
    }

    #[test]
    fn only_the_oldest_canary_is_honoured() {
        let t = ingress_table(vec![
            simple("main", T0, Some("app.local"), "/", "stable"),
            canary_ing(
                "second",
                T2,
                "app.local",
                "canary-b",
                json!({ "canary-weight": "100" }),
            ),
            canary_ing(
                "first",
                T1,
                "app.local",
                "canary-a",
                json!({ "canary-weight": "100" }),
            ),
        ]);
        let d = route(&t, &Req::new("app.local", "/")).expect("decision");
        assert_eq!(d.backend.map(|b| b.service).as_deref(), Some("canary-a"));
        assert!(t.warnings().iter().any(|w| w.contains("only one canary")));
    }

    #[test]
    fn canary_annotations_without_canary_true_are_ignored() {
        let t = ingress_table(vec![
            simple("main", T0, Some("app.local"), "/", "stable"),
            ingress(
                "not-canary",
                T1,
                json!({ "nginx.ingress.kubernetes.io/canary": "false", "nginx.ingress.kubernetes.io/canary-weight": "100" }),
                json!({ "rules": [rule(Some("app.local"), vec![path("/", "Prefix", "other")])] }),
            ),
        ]);
        // a second main Ingress for the same host/path: the oldest keeps it
        assert_eq!(
            service_of(&t, &Req::new("app.local", "/")).as_deref(),
            Some("stable")
        );
    }

    #[test]
    fn canary_default_backend_shadows_main_default_backend() {
        let t = ingress_table(vec![
            ingress(
                "main",
                T0,
                json!({}),
                json!({ "defaultBackend": svc("blue", 80) }),
            ),
            ingress(
                "green",
                T1,
                json!({ "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-by-header": "x-green" }),
                json!({ "defaultBackend": svc("green", 80) }),
            ),
        ]);
        assert_eq!(service_of(&t, &Req::new("h", "/")).as_deref(), Some("blue"));
        let d = route(&t, &Req::new("h", "/").header("X-Green", "always")).expect("decision");
        assert!(d.canary && d.default_backend);
        assert_eq!(d.backend.map(|b| b.service).as_deref(), Some("green"));
    }

    // ----- HTTPRoute -----

    fn routes_table(routes: Vec<Value>) -> RoutingTable {
        RoutingTable::build(&[], &routes, "nginx")
    }

    fn one_rule(name: &str, created: &str, rule: Value) -> Value {
        http_route(name, created, json!({ "rules": [rule] }))
    }

    #[test]
    fn httproute_ninety_ten_split() {
        let t = routes_table(vec![one_rule(
            "split",
            T0,
            json!({ "backendRefs": [backend_ref("stable", Some(90)), backend_ref("canary", Some(10))] }),
        )]);
        let mut random = seeded();
        let req = Req::new("any.host", "/");
        let mut canary = 0;
        for _ in 0..10_000 {
            let d = t.route(&req.info(), &mut random).expect("decision");
            if d.backend.map(|b| b.service).as_deref() == Some("canary") {
                canary += 1;
            }
        }
        assert!(
            (850..=1150).contains(&canary),
            "canary got {canary} of 10000"
        );
    }

    #[test]
    fn httproute_weights_are_shares_not_percentages() {
        let t = routes_table(vec![one_rule(
            "split",
            T0,
            json!({ "backendRefs": [backend_ref("a", Some(1)), backend_ref("b", Some(3))] }),
        )]);
        let pick = |v: u32| {
            let mut r = |n: u32| {
                assert_eq!(n, 4);
                v
            };
            t.route(&Req::new("h", "/").info(), &mut r)
                .and_then(|d| d.backend)
                .map(|b| b.service)
        };
        assert_eq!(pick(0).as_deref(), Some("a"));
        assert_eq!(pick(1).as_deref(), Some("b"));
        assert_eq!(pick(3).as_deref(), Some("b"));
    }

    #[test]
    fn httproute_weight_zero_and_missing_backends() {
        let t = routes_table(vec![http_route(
            "r",
            T0,
            json!({ "rules": [
                    { "matches": [{ "path": { "type": "PathPrefix", "value": "/one" } }],
                      "backendRefs": [backend_ref("zero", Some(0)), backend_ref("live", None)] },
                    { "matches": [{ "path": { "type": "PathPrefix", "value": "/none" } }],
                      "backendRefs": [backend_ref("zero", Some(0)), backend_ref("zero2", Some(0))] },
                    { "matches": [{ "path": { "type": "PathPrefix", "value": "/empty" } }] },
                    { "matches": [{ "path": { "type": "PathPrefix", "value": "/invalid" } }],
                      "backendRefs": [{ "kind": "Bucket", "name": "b", "port": 1 }] },
                ] }),
        )]);
        // a single positive weight needs no draw
        assert_eq!(
            service_of(&t, &Req::new("h", "/one")).as_deref(),
            Some("live")
        );
        for (p, status) in [("/none", 503), ("/empty", 503), ("/invalid", 500)] {
            let d = route(&t, &Req::new("h", p)).expect("decision");
            assert_eq!(d.backend, None, "{p}");
            assert_eq!(d.no_backend_status, status, "{p}");
            assert_eq!(d.ingress, "r");
        }
    }

    #[test]
    fn httproute_backend_namespace_defaults_to_route_namespace() {
        let t = routes_table(vec![one_rule(
            "r",
            T0,
            json!({ "backendRefs": [{ "name": "s", "port": 80, "namespace": "" }] }),
        )]);
        let b = route(&t, &Req::new("h", "/"))
            .and_then(|d| d.backend)
            .expect("backend");
        assert_eq!(b.namespace, "apps");
        assert_eq!(b.port, ServicePort::Number(80));
        let t = routes_table(vec![one_rule(
            "r",
            T0,
            json!({ "backendRefs": [{ "name": "s", "port": 80, "namespace": "other" }] }),
        )]);
        let b = route(&t, &Req::new("h", "/"))
            .and_then(|d| d.backend)
            .expect("backend");
        assert_eq!(b.namespace, "other");
    }

    fn matching(name: &str, created: &str, m: Value, service: &str) -> Value {
        one_rule(
            name,
            created,
            json!({ "matches": [m], "backendRefs": [backend_ref(service, None)] }),
        )
    }

    #[test]
    fn httproute_exact_path_beats_prefix_and_longer_prefix_wins() {
        let t = routes_table(vec![
            matching(
                "root",
                T0,
                json!({ "path": { "type": "PathPrefix", "value": "/" } }),
                "root",
            ),
            matching(
                "api",
                T0,
                json!({ "path": { "type": "PathPrefix", "value": "/api" } }),
                "api",
            ),
            matching(
                "exact",
                T0,
                json!({ "path": { "type": "Exact", "value": "/api/v1" } }),
                "exact",
            ),
            matching(
                "v1",
                T0,
                json!({ "path": { "type": "PathPrefix", "value": "/api/v1/" } }),
                "v1",
            ),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/api/v1")).as_deref(),
            Some("exact")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/api/v1/x")).as_deref(),
            Some("v1")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/api/v2")).as_deref(),
            Some("api")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/apiv2")).as_deref(),
            Some("root")
        );
    }

    #[test]
    fn httproute_path_precedes_headers() {
        let t = routes_table(vec![
            matching(
                "headers",
                T0,
                json!({ "path": { "value": "/api" },
                        "headers": [{ "name": "a", "value": "1" }, { "name": "b", "value": "2" }] }),
                "headers",
            ),
            matching(
                "longer",
                T1,
                json!({ "path": { "value": "/api/v1" } }),
                "longer",
            ),
        ]);
        let req = Req::new("h", "/api/v1/x").header("a", "1").header("b", "2");
        assert_eq!(service_of(&t, &req).as_deref(), Some("longer"));
        let req = Req::new("h", "/api/v2").header("a", "1").header("b", "2");
        assert_eq!(service_of(&t, &req).as_deref(), Some("headers"));
    }

    #[test]
    fn httproute_method_then_headers_then_query() {
        let t = routes_table(vec![
            matching("plain", T0, json!({ "path": { "value": "/" } }), "plain"),
            matching(
                "one-header",
                T0,
                json!({ "headers": [{ "name": "x", "value": "1" }] }),
                "one-header",
            ),
            matching(
                "two-headers",
                T0,
                json!({ "headers": [{ "name": "x", "value": "1" }, { "name": "y", "value": "2" }] }),
                "two-headers",
            ),
            matching(
                "query",
                T0,
                json!({ "headers": [{ "name": "x", "value": "1" }, { "name": "y", "value": "2" }],
                        "queryParams": [{ "name": "q", "value": "v" }] }),
                "query",
            ),
            matching("method", T0, json!({ "method": "POST" }), "method"),
        ]);
        let base = || Req::new("h", "/");
        assert_eq!(service_of(&t, &base()).as_deref(), Some("plain"));
        assert_eq!(
            service_of(&t, &base().header("X", "1")).as_deref(),
            Some("one-header")
        );
        let two = || base().header("x", "1").header("y", "2");
        assert_eq!(service_of(&t, &two()).as_deref(), Some("two-headers"));
        assert_eq!(
            service_of(&t, &two().query("q=v")).as_deref(),
            Some("query")
        );
        assert_eq!(
            service_of(&t, &two().query("q=v").method("POST")).as_deref(),
            Some("method")
        );
    }

    #[test]
    fn httproute_ties_go_to_oldest_then_name_then_rule_order() {
        let m = json!({ "path": { "value": "/" } });
        let t = routes_table(vec![
            matching("b-new", T1, m.clone(), "b-new"),
            matching("z-old", T0, m.clone(), "z-old"),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/")).as_deref(),
            Some("z-old")
        );
        let t = routes_table(vec![
            matching("zeta", T0, m.clone(), "zeta"),
            matching("alpha", T0, m.clone(), "alpha"),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/")).as_deref(),
            Some("alpha")
        );
        let t = routes_table(vec![http_route(
            "r",
            T0,
            json!({ "rules": [
                { "matches": [m.clone()], "backendRefs": [backend_ref("first", None)] },
                { "matches": [m], "backendRefs": [backend_ref("second", None)] },
            ] }),
        )]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/")).as_deref(),
            Some("first")
        );
    }

    #[test]
    fn httproute_header_query_method_matching() {
        let t = routes_table(vec![matching(
            "r",
            T0,
            json!({
                "path": { "type": "RegularExpression", "value": "/users/[0-9]+" },
                "headers": [
                    { "name": "X-Env", "value": "prod" },
                    { "name": "x-env", "value": "ignored-duplicate" },
                    { "type": "RegularExpression", "name": "X-Version", "value": "v[12]" },
                ],
                "queryParams": [
                    { "name": "lang", "value": "en us" },
                    { "type": "RegularExpression", "name": "page", "value": "[0-9]+" },
                ],
                "method": "GET",
            }),
            "svc",
        )]);
        let ok = || {
            Req::new("h", "/users/42")
                .header("x-env", "prod")
                .header("X-VERSION", "v2")
                .query("lang=en%20us&page=3")
        };
        assert_eq!(service_of(&t, &ok()).as_deref(), Some("svc"));
        assert_eq!(
            service_of(&t, &ok().query("lang=en+us&page=3")).as_deref(),
            Some("svc")
        );
        assert_eq!(service_of(&t, &ok().method("PUT")), None);
        assert_eq!(service_of(&t, &ok().query("lang=en%20us&page=x")), None);
        assert_eq!(service_of(&t, &ok().query("LANG=en%20us&page=3")), None);
        assert_eq!(
            service_of(&t, &Req::new("h", "/users/42/x").header("x-env", "prod")),
            None
        );
        let regex_is_anchored = Req::new("h", "/users/42")
            .header("x-env", "prod")
            .header("x-version", "v22")
            .query("lang=en%20us&page=3");
        assert_eq!(service_of(&t, &regex_is_anchored), None);
        assert_eq!(
            service_of(
                &t,
                &Req::new("h", "/users/42")
                    .header("x-version", "v1")
                    .query("lang=en%20us&page=3")
            ),
            None
        );
    }

    #[test]
    fn httproute_default_match_and_matches_are_ored() {
        let t = routes_table(vec![
            one_rule(
                "default",
                T0,
                json!({ "backendRefs": [backend_ref("default", None)] }),
            ),
            one_rule(
                "ored",
                T0,
                json!({ "matches": [
                    { "path": { "type": "Exact", "value": "/a" } },
                    { "path": { "type": "Exact", "value": "/b" } },
                ], "backendRefs": [backend_ref("ored", None)] }),
            ),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("h", "/a")).as_deref(),
            Some("ored")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/b")).as_deref(),
            Some("ored")
        );
        assert_eq!(
            service_of(&t, &Req::new("h", "/c")).as_deref(),
            Some("default")
        );
    }

    #[test]
    fn httproute_hostnames() {
        let route_for = |name: &str, hostnames: Value| {
            http_route(
                name,
                T0,
                json!({ "hostnames": hostnames, "rules": [{ "backendRefs": [backend_ref(name, None)] }] }),
            )
        };
        let t = routes_table(vec![
            route_for("wild", json!(["*.example.com"])),
            route_for("deep-wild", json!(["*.api.example.com"])),
            route_for("exact", json!(["www.example.com", "other.org"])),
            route_for("any", json!([])),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("WWW.example.com", "/")).as_deref(),
            Some("exact")
        );
        assert_eq!(
            service_of(&t, &Req::new("other.org", "/")).as_deref(),
            Some("exact")
        );
        assert_eq!(
            service_of(&t, &Req::new("a.example.com", "/")).as_deref(),
            Some("wild")
        );
        // Gateway API wildcards cover one or more labels; the longer wildcard wins.
        assert_eq!(
            service_of(&t, &Req::new("a.b.example.com", "/")).as_deref(),
            Some("wild")
        );
        assert_eq!(
            service_of(&t, &Req::new("v1.api.example.com", "/")).as_deref(),
            Some("deep-wild")
        );
        assert_eq!(
            service_of(&t, &Req::new("example.com", "/")).as_deref(),
            Some("any")
        );
        assert_eq!(
            service_of(&t, &Req::new("elsewhere", "/")).as_deref(),
            Some("any")
        );
    }

    #[test]
    fn httproute_specific_hostname_beats_longer_path_of_generic_route() {
        let t = routes_table(vec![
            http_route(
                "generic",
                T0,
                json!({ "rules": [{ "matches": [{ "path": { "type": "Exact", "value": "/x" } }],
                                    "backendRefs": [backend_ref("generic", None)] }] }),
            ),
            http_route(
                "named",
                T1,
                json!({ "hostnames": ["app.local"], "rules": [{ "backendRefs": [backend_ref("named", None)] }] }),
            ),
        ]);
        assert_eq!(
            service_of(&t, &Req::new("app.local", "/x")).as_deref(),
            Some("named")
        );
        assert_eq!(
            service_of(&t, &Req::new("other", "/x")).as_deref(),
            Some("generic")
        );
    }

    #[test]
    fn httproute_mirror_percent_fraction_and_default() {
        let mirror = |extra: Value| {
            let mut m = json!({ "backendRef": { "name": "shadow", "port": 8080 } });
            if let (Some(o), Some(e)) = (m.as_object_mut(), extra.as_object()) {
                for (k, v) in e {
                    o.insert(k.clone(), v.clone());
                }
            }
            json!({ "type": "RequestMirror", "requestMirror": m })
        };
        let t = routes_table(vec![http_route(
            "r",
            T0,
            json!({ "rules": [
                { "matches": [{ "path": { "value": "/pct" } }], "filters": [mirror(json!({ "percent": 25 }))],
                  "backendRefs": [backend_ref("main", None)] },
                { "matches": [{ "path": { "value": "/frac" } }],
                  "filters": [mirror(json!({ "fraction": { "numerator": 1, "denominator": 3 } }))],
                  "backendRefs": [backend_ref("main", None)] },
                { "matches": [{ "path": { "value": "/all" } }], "filters": [mirror(json!({}))],
                  "backendRefs": [backend_ref("main", None)] },
            ] }),
        )]);
        let mirrors = |p: &str| route(&t, &Req::new("h", p)).expect("decision").mirrors;
        let pct = mirrors("/pct");
        assert_eq!(pct.len(), 1);
        assert_eq!(pct[0].percent(), 25);
        assert_eq!(pct[0].backend.service, "shadow");
        assert_eq!(pct[0].backend.namespace, "apps");
        let frac = mirrors("/frac");
        assert_eq!(
            (frac[0].numerator, frac[0].denominator, frac[0].percent()),
            (1, 3, 33)
        );
        let all = mirrors("/all");
        assert_eq!(all[0].percent(), 100);
        assert!(all[0].sample(&mut no_random));

        let mut random = seeded();
        let sampled = (0..10_000).filter(|_| pct[0].sample(&mut random)).count();
        assert!(
            (2350..=2650).contains(&sampled),
            "mirrored {sampled} of 10000"
        );
    }

    #[test]
    fn httproute_request_header_modifier_and_backend_filters() {
        let t = routes_table(vec![one_rule(
            "r",
            T0,
            json!({
                "filters": [{ "type": "RequestHeaderModifier", "requestHeaderModifier": {
                    "set": [{ "name": "X-Set", "value": "1" }],
                    "add": [{ "name": "X-Add", "value": "2" }],
                    "remove": ["X-Drop"],
                } }, { "type": "URLRewrite", "urlRewrite": {} }],
                "backendRefs": [{ "name": "s", "port": 80, "filters": [
                    { "type": "RequestHeaderModifier", "requestHeaderModifier": { "set": [{ "name": "X-Backend", "value": "s" }] } },
                ] }],
            }),
        )]);
        let d = route(&t, &Req::new("h", "/")).expect("decision");
        assert_eq!(
            d.request_header_changes,
            vec![
                HeaderChange::Set {
                    name: "X-Set".into(),
                    value: "1".into()
                },
                HeaderChange::Add {
                    name: "X-Add".into(),
                    value: "2".into()
                },
                HeaderChange::Remove {
                    name: "X-Drop".into()
                },
                HeaderChange::Set {
                    name: "X-Backend".into(),
                    value: "s".into()
                },
            ]
        );
        assert!(t.warnings().iter().any(|w| w.contains("URLRewrite")));
    }

    #[test]
    fn httproute_malformed_objects_are_skipped() {
        let t = routes_table(vec![
            json!({ "kind": "HTTPRoute", "metadata": { "name": "bad" }, "spec": { "rules": "nope" } }),
            json!({ "kind": "Ingress", "metadata": { "name": "wrong-kind" } }),
            json!({ "kind": "HTTPRoute", "metadata": { "name": "nulls", "namespace": "apps" },
                    "spec": { "hostnames": null, "rules": [{ "matches": null, "backendRefs": [backend_ref("ok", None)] }] } }),
            matching(
                "bad-regex",
                T0,
                json!({ "path": { "type": "RegularExpression", "value": "(" } }),
                "never",
            ),
        ]);
        assert_eq!(service_of(&t, &Req::new("h", "/")).as_deref(), Some("ok"));
        assert!(t.warnings().iter().any(|w| w.contains("bad")));
        assert!(t.warnings().iter().any(|w| w.contains("Ingress")));
        assert!(t.warnings().iter().any(|w| w.contains("never matches")));
    }

    // ----- Ingress and HTTPRoute together -----

    #[test]
    fn routes_and_ingresses_most_specific_first() {
        let ings = vec![
            simple("ing-host", T0, Some("shared.local"), "/", "ing-host"),
            simple("ing-any", T0, None, "/legacy", "ing-any"),
            ingress(
                "ing-default",
                T0,
                json!({}),
                json!({ "defaultBackend": svc("ing-default", 80) }),
            ),
        ];
        let routes = vec![
            http_route(
                "named",
                T0,
                json!({ "hostnames": ["shared.local"], "rules": [{
                    "matches": [{ "path": { "value": "/new" } }],
                    "backendRefs": [backend_ref("route-named", None)] }] }),
            ),
            http_route(
                "generic",
                T0,
                json!({ "rules": [{ "matches": [{ "path": { "value": "/app" } }],
                                    "backendRefs": [backend_ref("route-generic", None)] }] }),
            ),
        ];
        let t = RoutingTable::build(&ings, &routes, "nginx");
        // 1. an HTTPRoute naming the host
        let d = route(&t, &Req::new("shared.local", "/new/x")).expect("decision");
        assert_eq!(
            (d.kind, d.backend.map(|b| b.service)),
            (RouteKind::HttpRoute, Some("route-named".into()))
        );
        // 2. Ingress rules
        assert_eq!(
            service_of(&t, &Req::new("shared.local", "/other")).as_deref(),
            Some("ing-host")
        );
        assert_eq!(
            service_of(&t, &Req::new("x.local", "/legacy")).as_deref(),
            Some("ing-any")
        );
        // 3. HTTPRoutes without hostnames
        assert_eq!(
            service_of(&t, &Req::new("x.local", "/app")).as_deref(),
            Some("route-generic")
        );
        // 4. Ingress defaultBackend
        let d = route(&t, &Req::new("x.local", "/zzz")).expect("decision");
        assert!(d.default_backend);
        assert_eq!(d.backend.map(|b| b.service).as_deref(), Some("ing-default"));
    }

    // ----- helpers -----

    #[test]
    fn cookie_header_parsing() {
        assert_eq!(
            parse_cookie_header(["a=1; b=\"two\"", "c", " d = 4 "]),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "two".to_string()),
                ("c".to_string(), String::new()),
                ("d".to_string(), "4".to_string()),
            ]
        );
    }

    #[test]
    fn host_and_query_normalisation() {
        assert_eq!(normalize_host("Example.COM:8443"), "example.com");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
        assert_eq!(normalize_host("::1"), "::1");
        assert_eq!(
            parse_query("a=1&b=x%2Fy&&c&d=%zz"),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x/y".to_string()),
                ("c".to_string(), String::new()),
                ("d".to_string(), "%zz".to_string()),
            ]
        );
    }

    #[test]
    fn routing_table_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<RoutingTable>();
        check::<Decision>();
    }
}
