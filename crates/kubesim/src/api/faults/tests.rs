use super::*;

fn request(method: Method, uri: &str) -> RequestInfo {
    request_from(method, uri, &HeaderMap::new())
}

fn request_from(method: Method, uri: &str, headers: &HeaderMap) -> RequestInfo {
    let uri: Uri = uri.parse().expect("uri");
    RequestInfo::of(&method, &uri, headers).expect("a resource request")
}

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/web";

#[test]
fn verbs_from_method_and_path() {
    let deployments = "/apis/apps/v1/namespaces/shop/deployments";
    for (method, uri, verb) in [
        (Method::GET, DEPLOYMENT, Verb::Get),
        (Method::GET, deployments, Verb::List),
        (
            Method::GET,
            "/apis/apps/v1/namespaces/shop/deployments?watch=true&resourceVersion=5",
            Verb::Watch,
        ),
        (Method::GET, "/api/v1/pods?watch=1", Verb::Watch),
        (Method::POST, deployments, Verb::Create),
        (Method::PUT, DEPLOYMENT, Verb::Update),
        (Method::PATCH, DEPLOYMENT, Verb::Patch),
        (Method::DELETE, DEPLOYMENT, Verb::Delete),
        (Method::DELETE, deployments, Verb::Deletecollection),
    ] {
        assert_eq!(request(method.clone(), uri).verb, verb, "{method} {uri}");
    }
    let r = request(Method::PATCH, &format!("{DEPLOYMENT}/scale"));
    assert_eq!(
        (
            r.plural.as_str(),
            r.group.as_str(),
            r.subresource.as_deref()
        ),
        ("deployments", "apps", Some("scale"))
    );
    assert_eq!(r.namespace.as_deref(), Some("shop"));
    assert_eq!(r.name.as_deref(), Some("web"));
    // Paths that address no resource are never faulted.
    for path in [
        "/version",
        "/healthz",
        "/api",
        "/apis/apps/v1",
        "/openapi/v3",
    ] {
        let uri: Uri = path.parse().expect("uri");
        assert_eq!(RequestInfo::of(&Method::GET, &uri, &HeaderMap::new()), None);
    }
}

#[test]
fn rules_narrow_by_verb_resource_and_namespace() {
    let patch = request(Method::PATCH, DEPLOYMENT);
    let get = request(Method::GET, DEPLOYMENT);
    let service = request(Method::PATCH, "/api/v1/namespaces/shop/services/web");
    let other_ns = request(
        Method::PATCH,
        "/apis/apps/v1/namespaces/dev/deployments/web",
    );

    let mut rule = FaultRule::new(FaultKind::InternalError, 1.0);
    assert!(
        [&patch, &get, &service, &other_ns]
            .iter()
            .all(|r| rule.matches(r))
    );

    rule.verbs = vec![Verb::Patch];
    assert!(rule.matches(&patch) && !rule.matches(&get));

    rule.resources = vec!["deployments".into()];
    assert!(rule.matches(&patch) && !rule.matches(&service));
    rule.resources = vec!["deployments.apps".into()];
    assert!(rule.matches(&patch) && !rule.matches(&service));
    rule.resources = vec!["deployments.extensions".into()];
    assert!(!rule.matches(&patch));
    rule.resources = vec!["services".into(), "deployments".into()];
    assert!(rule.matches(&patch) && rule.matches(&service));

    rule.namespaces = vec!["shop".into()];
    assert!(rule.matches(&patch) && !rule.matches(&other_ns));
    let cluster_scoped = request(Method::PATCH, "/api/v1/nodes/n1");
    assert!(!rule.matches(&cluster_scoped));
}

#[test]
fn subresources_only_when_named_and_proxies_only_when_named() {
    let scale = request(Method::PATCH, &format!("{DEPLOYMENT}/scale"));
    let proxy = request(
        Method::GET,
        "/api/v1/namespaces/shop/services/web:80/proxy/healthz",
    );
    let mut rule = FaultRule::new(FaultKind::InternalError, 1.0);
    // Any resource: subresources too, but not what is proxied to the app.
    assert!(rule.matches(&scale) && !rule.matches(&proxy));
    rule.resources = vec!["deployments".into()];
    assert!(!rule.matches(&scale), "a name alone is the resource itself");
    rule.resources = vec!["deployments/scale".into(), "services/proxy".into()];
    assert!(rule.matches(&scale) && rule.matches(&proxy));
}

#[test]
fn conflicts_only_on_writes_and_drops_only_on_watches() {
    let get = request(Method::GET, DEPLOYMENT);
    let delete = request(Method::DELETE, DEPLOYMENT);
    let create = request(Method::POST, "/api/v1/namespaces/shop/services");
    let watch = request(Method::GET, "/api/v1/namespaces/shop/pods?watch=true");
    let conflict = FaultRule {
        verbs: vec![Verb::Get, Verb::Delete, Verb::Create],
        ..FaultRule::new(FaultKind::Conflict, 1.0)
    };
    assert!(!conflict.matches(&get) && conflict.matches(&delete) && conflict.matches(&create));
    let drop = FaultRule::new(FaultKind::DropWatch, 1.0);
    assert!(drop.matches(&watch) && !drop.matches(&get) && !drop.matches(&delete));
}

#[test]
fn the_clusters_own_components_are_spared_unless_the_rule_says() {
    let mut headers = HeaderMap::new();
    headers.insert(COMPONENT_HEADER, HeaderValue::from_static("node-agent"));
    let own = request_from(Method::GET, "/api/v1/namespaces/shop/pods", &headers);
    assert_eq!(own.component.as_deref(), Some("node-agent"));
    let mut rule = FaultRule::new(FaultKind::Throttle, 1.0);
    assert!(!rule.matches(&own));
    rule.components = true;
    assert!(rule.matches(&own));
}

fn faults(seed: u64, rules: Vec<FaultRule>) -> Faults {
    Faults::new(FaultProfile { seed, rules })
}

/// Which of the first `n` requests to one object the rules fail.
fn pattern(f: &Faults, n: usize) -> Vec<bool> {
    let r = request(Method::PATCH, DEPLOYMENT);
    (0..n)
        .map(|_| {
            f.decide(&r, &format!("PATCH {DEPLOYMENT}"))
                .failure
                .is_some()
        })
        .collect()
}

#[test]
fn shares_are_kept_and_seeds_repeat() {
    let rule = || vec![FaultRule::new(FaultKind::InternalError, 0.1)];
    let a = pattern(&faults(7, rule()), 10_000);
    let hits = a.iter().filter(|h| **h).count();
    assert!((800..=1200).contains(&hits), "about 10%: {hits}");
    assert_eq!(a, pattern(&faults(7, rule()), 10_000), "same seed");
    assert_ne!(a, pattern(&faults(8, rule()), 10_000), "another seed");

    let never = faults(7, vec![FaultRule::new(FaultKind::InternalError, 0.0)]);
    assert!(pattern(&never, 1000).iter().all(|h| !h));
    let always = faults(7, vec![FaultRule::new(FaultKind::InternalError, 1.0)]);
    assert!(pattern(&always, 1000).iter().all(|h| *h));
    assert_eq!(always.injected().internal_error, 1000);
    assert_eq!(always.injected().requests, 1000);
    assert_eq!(never.injected().requests, 1000, "counted whatever the draw");
}

#[test]
fn decisions_do_not_depend_on_how_other_requests_interleave() {
    let rules = || vec![FaultRule::new(FaultKind::InternalError, 0.3)];
    let key = format!("PATCH {DEPLOYMENT}");
    let web = request(Method::PATCH, DEPLOYMENT);
    let other = request(Method::PATCH, "/api/v1/namespaces/shop/services/web");
    let alone = faults(3, rules());
    let mixed = faults(3, rules());
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in 0..200 {
        a.push(alone.decide(&web, &key).failure.is_some());
        for _ in 0..(i % 3) {
            mixed.decide(&other, "PATCH /api/v1/namespaces/shop/services/web");
        }
        b.push(mixed.decide(&web, &key).failure.is_some());
    }
    assert_eq!(a, b);
}

#[test]
fn latency_adds_up_and_the_first_failure_wins() {
    let f = faults(
        1,
        vec![
            FaultRule {
                delay: Duration::from_millis(30),
                ..FaultRule::new(FaultKind::Latency, 1.0)
            },
            FaultRule {
                retry_after: Duration::from_secs(2),
                ..FaultRule::new(FaultKind::Throttle, 1.0)
            },
            FaultRule::new(FaultKind::InternalError, 1.0),
            FaultRule {
                delay: Duration::from_millis(20),
                ..FaultRule::new(FaultKind::Latency, 1.0)
            },
        ],
    );
    let d = f.decide(&request(Method::GET, DEPLOYMENT), "GET x");
    assert_eq!(d.delay, Duration::from_millis(50));
    assert_eq!(
        d.failure,
        Some((
            1,
            Failure::Throttle {
                retry_after_seconds: 2
            }
        ))
    );
    let counts = f.injected();
    assert_eq!(
        (counts.throttle, counts.internal_error, counts.latency),
        (1, 0, 2)
    );
}

#[test]
fn a_dropped_watch_is_cut_within_its_window() {
    let f = faults(
        1,
        vec![FaultRule {
            after: Duration::from_secs(2),
            ..FaultRule::new(FaultKind::DropWatch, 1.0)
        }],
    );
    let watch = request(Method::GET, "/api/v1/namespaces/shop/pods?watch=true");
    for _ in 0..50 {
        match f.decide(&watch, "GET /api/v1/namespaces/shop/pods").failure {
            Some((0, Failure::DropWatch { after })) => assert!(after <= Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn answers_are_statuses_kube_understands() {
    let patch = request(Method::PATCH, DEPLOYMENT);
    let read = |failure: Failure| {
        let r = answer(&patch, 4, &failure).expect("an answer");
        let retry_after = r
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(
            r.headers().get(FAULT_HEADER).map(|v| v.as_bytes()),
            Some(&b"4"[..])
        );
        let code = r.status().as_u16();
        let body = futures::executor::block_on(axum::body::to_bytes(r.into_body(), 1 << 20))
            .expect("body");
        let status: kube::core::Status = serde_json::from_slice(&body).expect("a Status");
        assert_eq!(status.code, code);
        (status, retry_after)
    };
    let (s, _) = read(Failure::InternalError);
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    assert!(s.is_failure());
    let (s, header) = read(Failure::Throttle {
        retry_after_seconds: 3,
    });
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(s.details.map(|d| d.retry_after_seconds), Some(3));
    assert_eq!(header.as_deref(), Some("3"));
    let (s, _) = read(Failure::Conflict);
    assert!(s.is_conflict() && !s.is_already_exists());
    assert!(
        s.message.contains("deployments.apps \"web\""),
        "{}",
        s.message
    );
    let d = s.details.expect("details");
    assert_eq!((d.name.as_str(), d.group.as_str()), ("web", "apps"));
}

#[test]
fn the_file_format() {
    let p = FaultProfile::from_yaml(
        r#"
seed: 7
rules:
  - fault: 500
    share: 3%
  - fault: throttle
    share: 0.02
    retryAfter: 2s
  - fault: "409"
    share: 2%
    verbs: [patch, create]
    resources: [deployments, services]
  - fault: drop-watch
    share: 20%
    after: 2s
  - fault: latency
    share: 10%
    delay: 200ms
    namespaces: [shop]
    components: true
"#,
        "faults.yaml",
    )
    .expect("parses");
    assert_eq!(p.seed, 7);
    let kinds: Vec<FaultKind> = p.rules.iter().map(|r| r.fault).collect();
    assert_eq!(
        kinds,
        [
            FaultKind::InternalError,
            FaultKind::Throttle,
            FaultKind::Conflict,
            FaultKind::DropWatch,
            FaultKind::Latency
        ]
    );
    assert!((p.rules[0].share - 0.03).abs() < 1e-12);
    assert_eq!(p.rules[1].retry_after, Duration::from_secs(2));
    assert_eq!(p.rules[2].verbs, [Verb::Patch, Verb::Create]);
    assert_eq!(p.rules[2].resources, ["deployments", "services"]);
    assert_eq!(p.rules[3].after, Duration::from_secs(2));
    assert_eq!(p.rules[4].delay, Duration::from_millis(200));
    assert!(p.rules[4].components && !p.rules[0].components);
    assert_eq!(
        FaultProfile::from_yaml("", "empty.yaml").expect("empty"),
        FaultProfile::default()
    );
}

#[test]
fn mistakes_say_where() {
    let err = |text: &str| {
        FaultProfile::from_yaml(text, "f.yaml")
            .expect_err(text)
            .to_string()
    };
    let e = err("rules:\n  - fault: 503\n    share: 1%\n");
    assert!(
        e.starts_with("f.yaml:2:") && e.contains("500, 429, 409"),
        "{e}"
    );
    let e = err("rules:\n  - fault: 500\n    share: 150%\n");
    assert!(e.starts_with("f.yaml:3:"), "{e}");
    let e = err("rules:\n  - fault: 500\n    share: 1%\n    verb: [get]\n");
    assert!(e.starts_with("f.yaml:4:") && e.contains("verb"), "{e}");
    let e = err("rules:\n  - fault: 500\n    share: 1%\n    verbs: [fetch]\n");
    assert!(e.starts_with("f.yaml:4:"), "{e}");
    let e = err("rules:\n  - fault: 500\n    share: 1%\n    retryAfter: 1s\n");
    assert_eq!(
        e,
        "f.yaml: rules[0]: retryAfter goes with fault 429, not 500"
    );
    let e = err("rules:\n  - fault: 429\n    share: 1%\n    retryAfter: 200ms\n");
    assert!(e.contains("whole seconds"), "{e}");
    let e = err("rules:\n  - fault: latency\n    share: 1%\n    delay: soon\n");
    assert!(e.starts_with("f.yaml:4:"), "{e}");
    let e = err("rules:\n  - share: 1%\n");
    assert!(e.contains("fault"), "{e}");
}
