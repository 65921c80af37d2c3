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

mod decision;
mod httproute;
mod httproute_spec;
mod ingress;
mod shared;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::Ingress;

use httproute::{CompiledMatch, CompiledRoute, CompiledRule, HostScope, hostname_match};
use httproute_spec::compile_route;
use ingress::{
    CanaryPolicy, CanaryRoute, Guarded, IngressPathType, IngressView, Location, Server,
    ingress_backend, ingress_path,
};
use shared::{normalize_host, parse_query};

pub use decision::{
    Backend, Decision, HeaderChange, Mirror, RequestInfo, RouteKind, ServicePort,
    parse_cookie_header,
};
pub use ingress::serves_class;

/// Prefix of ingress-nginx's annotations.
pub const NGINX_ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io/";
/// Legacy Ingress class annotation, still honoured by ingress-nginx (it wins over
/// `spec.ingressClassName`).
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Largest backendRef weight the Gateway API allows.
pub const MAX_BACKEND_WEIGHT: u32 = 1_000_000;
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
