use super::decision::{
    Backend, Decision, HeaderChange, RequestInfo, RouteKind, ServicePort, parse_cookie_header,
};
use super::shared::{normalize_host, parse_query};
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
