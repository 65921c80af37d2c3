//! Tests of the strategy format: built-ins, loading, every kind of error with its position,
//! defaults, overrides.

use super::*;

fn ok(text: &str) -> Spec {
    parse(text, "t.yaml").unwrap_or_else(|e| panic!("{e}\n--- input:\n{text}"))
}

fn err(text: &str) -> String {
    match parse(text, "t.yaml") {
        Ok(spec) => panic!("expected an error, got {spec:?}\n--- input:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn canary_steps(spec: &Spec) -> &[CanaryStep] {
    match &spec.strategy {
        Strategy::Canary(c) => &c.steps,
        other => panic!("not a canary: {other:?}"),
    }
}

const CHECKS: &str = "strategy: recreate\nanalysis:\n  checks:\n";

// ----- built-ins --------------------------------------------------------------------------

#[test]
fn every_builtin_parses_and_is_named_after_its_strategy() {
    assert_eq!(
        builtin_names(),
        [
            "recreate",
            "rolling",
            "blue-green",
            "canary",
            "ab",
            "shadow"
        ]
    );
    for name in builtin_names() {
        let spec = load(name, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.kind().as_str(), name);
        assert_eq!(spec.origin, format!("built-in {name}"));
        assert!(
            spec.check("probes").is_some(),
            "{name} has the probes check"
        );
        let text = builtin_text(name).unwrap_or_default();
        assert!(
            text.starts_with('#'),
            "{name}.yaml starts with a comment for users"
        );
        assert_eq!(parse(text, name).map(|s| s.strategy), Ok(spec.strategy));
    }
}

#[test]
fn builtin_aliases() {
    assert_eq!(builtin_text("ramped"), builtin_text("rolling"));
    assert_eq!(builtin_text("nope"), None);
    let spec = load("ramped", None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.kind(), StrategyKind::Rolling);
    assert_eq!(spec.origin, "built-in rolling");
}

#[test]
fn builtin_canary_matches_the_issue() {
    let spec = load("canary", None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.traffic, Traffic::Auto);
    let steps = canary_steps(&spec);
    assert_eq!(
        steps.first(),
        Some(&CanaryStep::SetWeight(Weight::new(10).unwrap_or_default()))
    );
    assert_eq!(steps.last(), Some(&CanaryStep::SetWeight(Weight::FULL)));
    assert!(steps.contains(&CanaryStep::Analysis(AnalysisStep {
        checks: vec!["smoke".into()],
        load: None,
        timeout: None,
        on_inconclusive: None,
    })));
    assert_eq!(spec.analysis.background, ["probes", "errors"]);
    let Some(CheckKind::Compare(compare)) = spec.check("errors").map(|c| &c.kind) else {
        panic!("errors is a compare check");
    };
    assert_eq!(compare.metrics, [CompareMetric::ErrorRate]);
    let Some(CheckKind::Http(smoke)) = spec.check("smoke").map(|c| &c.kind) else {
        panic!("smoke is an http check");
    };
    assert_eq!(smoke.requests, 50);
    assert_eq!(
        smoke.p95.as_ref().map(ToString::to_string).as_deref(),
        Some("< 300ms")
    );
}

#[test]
fn builtin_ab_and_shadow() {
    let ab = load("ab", None).unwrap_or_else(|e| panic!("{e}"));
    let Strategy::Ab(ab) = ab.strategy else {
        panic!("ab");
    };
    assert_eq!(ab.promote, Promote::IfNoWorse);
    assert_eq!(
        ab.matches,
        [
            RequestMatch {
                on: MatchOn::Header("X-Variant".into()),
                value: MatchValue::Exact("b".into())
            },
            RequestMatch {
                on: MatchOn::Cookie("variant".into()),
                value: MatchValue::Exact("always".into())
            },
        ]
    );
    let shadow = load("shadow", None).unwrap_or_else(|e| panic!("{e}"));
    let Strategy::Shadow(shadow) = shadow.strategy else {
        panic!("shadow");
    };
    assert_eq!(shadow.mirror, Percent::HUNDRED);
    assert_eq!(shadow.duration, Duration::from_secs(300));
}

// ----- load -------------------------------------------------------------------------------

#[test]
fn load_reads_paths_and_prefers_the_strategies_dir() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("canary.yaml");
    std::fs::write(&file, "strategy: canary\nsteps:\n  - setWeight: 33\n")
        .unwrap_or_else(|e| panic!("{e}"));
    // A path.
    let path = file.display().to_string();
    let spec = load(&path, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.origin, path);
    assert_eq!(canary_steps(&spec).len(), 1);
    // A name: the directory wins over the built-in.
    let spec = load("canary", Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(canary_steps(&spec).len(), 1);
    // A name not in the directory: the built-in.
    let spec = load("rolling", Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.origin, "built-in rolling");
    // Errors in a file carry its path.
    std::fs::write(&file, "strategy: canary\nsteps:\n  - setWeight: 150\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let e = load(&path, None).map(|_| ()).unwrap_err_or_panic();
    assert_eq!(
        e.to_string(),
        format!("{path}:3:16: steps[0].setWeight: expected a number from 0 to 100, got 150")
    );
    // A custom name is suggested too.
    std::fs::write(
        dir.path().join("my-canary.yml"),
        "strategy: canary\nsteps: [{setWeight: 5}]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = load("my-canry", Some(dir.path()))
        .map(|_| ())
        .unwrap_err_or_panic();
    assert!(e.message.contains("did you mean `my-canary`?"), "{e}");
    assert!(load("my-canary", Some(dir.path())).is_ok());
}

#[test]
fn load_errors() {
    let e = load("canry", None).map(|_| ()).unwrap_err_or_panic();
    assert_eq!(
        e.to_string(),
        "--strategy: unknown strategy `canry`; did you mean `canary`? (or give the path of a strategy file, like ./my-canary.yaml)"
    );
    let e = load("./does-not-exist.yaml", None)
        .map(|_| ())
        .unwrap_err_or_panic();
    assert_eq!(e.origin, "./does-not-exist.yaml");
    assert_eq!(e.line, None);
    assert!(
        e.message.starts_with("cannot read the strategy file: "),
        "{e}"
    );
}

trait UnwrapErr {
    fn unwrap_err_or_panic(self) -> SpecError;
}

impl UnwrapErr for Result<(), SpecError> {
    fn unwrap_err_or_panic(self) -> SpecError {
        match self {
            Ok(()) => panic!("expected an error"),
            Err(e) => e,
        }
    }
}

// ----- errors: every kind points at the offending node --------------------------------------

/// Input, and the whole message with its position. Each line is one kind of error.
const ERRORS: &[(&str, &str)] = &[
    // YAML syntax.
    (
        "strategy: [canary\n",
        "t.yaml:1:11: invalid YAML: unclosed bracket '['",
    ),
    (
        "strategy: canary\nsteps:\n  - setWeight: 10\n---\nstrategy: canary\n",
        "t.yaml:5:1: expected one YAML document, found a second one (remove the `---` line)",
    ),
    // Shape (stage 1).
    (
        "strategy: canary\nsteps:\n  - setWieght: 10\n",
        "t.yaml:3:5: steps[0]: unknown key `setWieght`; did you mean `setWeight`?",
    ),
    (
        "strategy: canary\nstpes:\n  - setWeight: 10\n",
        "t.yaml:2:1: unknown top-level key `stpes`; did you mean `steps`?",
    ),
    (
        "strategy: canary\nsteps: [{setWeight: 1}]\nanalysis:\n  intervall: 5s\n",
        "t.yaml:4:3: analysis: unknown key `intervall`; did you mean `interval`?",
    ),
    (
        "strategy: ab\nmatch:\n  - header: X-A\ncompare:\n  metrics: [latency]\n",
        "t.yaml:5:3: compare: unknown key `metrics`; did you mean `metric`?",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    s:\n      http: {pth: /}\n",
        "t.yaml:5:14: analysis.checks.s.http: unknown key `pth`; did you mean `path`?",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    s:\n      http: {path: /}\n      sucessRate: \">= 1%\"\n",
        "t.yaml:6:7: analysis.checks.s: unknown key `sucessRate`; did you mean `successRate`?",
    ),
    (
        "strategy: canary\nstrategy: rolling\n",
        "t.yaml:2:1: duplicate key `strategy`; each key may appear once",
    ),
    (
        "strategy: canary\nsteps:\n  - setWeight\n",
        "t.yaml:3:5: steps[0]: expected a mapping (key: value lines), got `setWeight`",
    ),
    (
        "strategy: canary\nsteps: 5\n",
        "t.yaml:2:8: steps: expected a list, got 5",
    ),
    (
        "strategy: recreate\nanalysis: 5\n",
        "t.yaml:2:11: analysis: expected a mapping (key: value lines), got 5",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks: [a]\n",
        "t.yaml:3:11: analysis.checks: expected a mapping (key: value lines), got a list",
    ),
    (
        "- strategy: canary\n",
        "t.yaml:1:1: expected a mapping (key: value lines), got a list",
    ),
    // Values (stage 2).
    (
        "strategy: canary\nsteps:\n  - setWeight: 10\n  - pause: 30s\n  - setWeight: 150\n",
        "t.yaml:5:16: steps[2].setWeight: expected a number from 0 to 100, got 150",
    ),
    (
        "strategy: canary\nsteps:\n  - setWeight: ten\n",
        "t.yaml:3:16: steps[0].setWeight: expected a number from 0 to 100, got `ten`",
    ),
    (
        "strategy: canary\nsteps:\n  - pause: forever\n",
        "t.yaml:3:12: steps[0].pause: expected a duration like 30s, or {} to wait for `rollout promote`, got `forever`",
    ),
    (
        "strategy: canary\nsteps:\n  - pause: [1]\n",
        "t.yaml:3:12: steps[0].pause: expected a duration like 30s, or {} to wait for `rollout promote`, got a list",
    ),
    (
        "strategy: canary\nsteps:\n  - pause: {duraton: 5s}\n",
        "t.yaml:3:13: steps[0].pause: unknown key `duraton`; did you mean `duration`?",
    ),
    (
        "strategy: canary\nsteps:\n  - pause: {duration: 5}\n",
        "t.yaml:3:23: steps[0].pause.duration: expected a duration with a unit, like 30s, 2m or 500ms, got `5` (add a unit: 5s, 5m, ...)",
    ),
    (
        "strategy: recreate\nprogressDeadline: 30\n",
        "t.yaml:2:19: progressDeadline: expected a duration with a unit, like 30s, 2m or 500ms, got `30` (add a unit: 30s, 30m, ...)",
    ),
    (
        "strategy: recreate\nanalysis:\n  interval: 0s\n",
        "t.yaml:3:13: analysis.interval: expected a duration above zero, like 30s, got `0s`",
    ),
    (
        "strategy: shadow\nmirror: 50\n",
        "t.yaml:2:9: mirror: expected a percentage with a % sign, like 50%, got `50`",
    ),
    (
        "strategy: shadow\nmirror: 0%\n",
        "t.yaml:2:9: mirror: expected a percentage above 0%, like 10% or 100%, got `0%`",
    ),
    (
        "strategy: recreate\nanalysis:\n  count: 0\n",
        "t.yaml:3:10: analysis.count: expected a whole number of at least 1, got 0",
    ),
    (
        "strategy: blue-green\nautoPromotion: yes\n",
        "t.yaml:2:16: autoPromotion: expected true or false, got yes",
    ),
    (
        "strategy: canary\ntraffic: ingres-nginx\nsteps: [{setWeight: 1}]\n",
        "t.yaml:2:10: traffic: unknown traffic router `ingres-nginx`; did you mean `ingress-nginx`?",
    ),
    (
        "strategy: canary\ntraffic: nginx\nsteps: [{setWeight: 1}]\n",
        "t.yaml:2:10: traffic: unknown traffic router `nginx`; expected one of: auto, gateway-api, ingress-nginx, replicas, service",
    ),
    (
        "strategy: canry\n",
        "t.yaml:1:11: strategy: unknown strategy `canry`; did you mean `canary`?",
    ),
    (
        "traffic: auto\n",
        "t.yaml:1:1: missing key `strategy`: expected one of recreate, rolling, blue-green, canary, ab, shadow",
    ),
    (
        "",
        "t.yaml: the file is empty; expected at least `strategy: NAME` (recreate, rolling, blue-green, canary, ab, shadow)",
    ),
    // Keys of another strategy.
    (
        "strategy: blue-green\nsteps:\n  - setWeight: 1\n",
        "t.yaml:2:1: steps: not used by the blue-green strategy; it is a setting of canary",
    ),
    (
        "strategy: canary\nsteps: [{setWeight: 1}]\nduration: 5m\n",
        "t.yaml:3:1: duration: not used by the canary strategy; it is a setting of ab and shadow",
    ),
    // Steps.
    (
        "strategy: canary\nsteps:\n  - setWeight: 10\n    pause: 5s\n",
        "t.yaml:4:5: steps[0].pause: a step has exactly one key and this one already has `setWeight`; start a new `- pause: ...` item",
    ),
    (
        "strategy: canary\nsteps:\n  - {}\n",
        "t.yaml:3:5: steps[0]: expected a step: setWeight, pause, analysis or setCanaryScale, got an empty mapping",
    ),
    (
        "strategy: canary\nsteps: []\n",
        "t.yaml:2:8: steps: expected at least one step, got an empty list",
    ),
    (
        "strategy: canary\n",
        "t.yaml:1:11: strategy: a canary needs `steps` (a list of setWeight, pause, analysis and setCanaryScale steps)",
    ),
    (
        "strategy: canary\nsteps:\n  - setCanaryScale: {replicas: 2, weight: 5}\n",
        "t.yaml:3:35: steps[0].setCanaryScale.weight: give one of replicas, weight or matchTrafficWeight; `replicas` is already set",
    ),
    (
        "strategy: canary\nsteps:\n  - setCanaryScale: {matchTrafficWeight: false}\n",
        "t.yaml:3:42: steps[0].setCanaryScale.matchTrafficWeight: only `true` makes sense here; use replicas or weight to size the canary",
    ),
    // References to checks.
    (
        "strategy: canary\nsteps:\n  - analysis: smok\nanalysis:\n  checks:\n    smoke: {http: {path: /}}\n",
        "t.yaml:3:15: steps[0].analysis: unknown check `smok`; did you mean `smoke`? (checks are defined under analysis.checks)",
    ),
    (
        "strategy: canary\nsteps:\n  - setWeight: 1\nanalysis:\n  background: [probes, nope]\n",
        "t.yaml:5:24: analysis.background[1]: unknown check `nope`; expected one of: probes (checks are defined under analysis.checks)",
    ),
    (
        "strategy: blue-green\nprePromotion: [smoke]\n",
        "t.yaml:2:16: prePromotion[0]: unknown check `smoke`; expected one of: probes (checks are defined under analysis.checks)",
    ),
    (
        "strategy: recreate\nverify: {a: 1}\n",
        "t.yaml:2:9: verify: expected a check name, or a list of them, got a mapping",
    ),
    // Checks.
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      interval: 5s\n",
        "t.yaml:5:7: analysis.checks.smoke: expected one of the keys probe, http, prometheus, compare, exec or webhook (the kind of check)",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /}\n      compare: canary-vs-stable\n",
        "t.yaml:6:7: analysis.checks.smoke.compare: a check has one kind, and this one is already an http check; define another check",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /}\n      condition: \"< 1\"\n",
        "t.yaml:6:7: analysis.checks.smoke.condition: only prometheus checks have `condition`; this is an http check",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    \"a b\":\n      probe: {}\n",
        "t.yaml:4:5: analysis.checks: check names use letters, digits, - and _ only, got `a b`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    p:\n      probe: {maxRestart: 1}\n",
        "t.yaml:5:15: analysis.checks.p.probe: unknown key `maxRestart`; did you mean `maxRestarts`?",
    ),
    // Conditions.
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /}\n      successRate: \">= 0.99\"\n",
        "t.yaml:6:20: analysis.checks.smoke.successRate: expected a condition on a percentage, like \">= 99%\", got `>= 0.99`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /}\n      p95: 300ms\n",
        "t.yaml:6:12: analysis.checks.smoke.p95: expected a condition with an operator, like \"< 300ms\", got `300ms`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /}\n      status: \"= 200\"\n",
        "t.yaml:6:15: analysis.checks.smoke.status: expected a condition like \">= 99%\", \"< 300ms\", \"== 200\" or \"in [200, 299]\", got `= 200` (write == to compare)",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    q:\n      prometheus: {query: up}\n      condition: \"> 1%\"\n",
        "t.yaml:6:18: analysis.checks.q.condition: expected a condition on a plain number, like \"< 0.01\", got `> 1%`",
    ),
    // HTTP checks.
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /, url: \"http://x\"}\n",
        "t.yaml:5:14: analysis.checks.smoke.http.path: give either `url` or `path`, not both",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: healthz}\n",
        "t.yaml:5:20: analysis.checks.smoke.http.path: expected a path starting with /, like /healthz, got `healthz`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {url: \"ftp://x\"}\n",
        "t.yaml:5:19: analysis.checks.smoke.http.url: expected an absolute URL starting with http:// or https://, got `ftp://x`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {}\n",
        "t.yaml:5:13: analysis.checks.smoke.http: missing key `path` (a path on the app, like /healthz) or `url` (an absolute URL)",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /}\n      bodyMatch: \"(\"\n",
        "t.yaml:6:18: analysis.checks.smoke.bodyMatch: expected a regular expression, got `(` (error: unclosed group)",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /}\n      json: {status: ok}\n",
        "t.yaml:6:14: analysis.checks.smoke.json: expected a JSON path like $.status or $.items[0].name, got `status` (it must start with $)",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /, headers: {\"X A\": b}}\n",
        "t.yaml:5:33: analysis.checks.smoke.http.headers[\"X A\"]: expected a header name (letters, digits and - only), got `X A`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    smoke:\n      http: {path: /, requests: -1}\n",
        "t.yaml:5:33: analysis.checks.smoke.http.requests: expected a whole number of at least 1, got -1",
    ),
    // Prometheus checks.
    (
        "strategy: recreate\nanalysis:\n  checks:\n    q:\n      prometheus: {query: up}\n",
        "t.yaml:5:7: analysis.checks.q: missing key `condition`: what the query result must meet, like \"< 0.01\"",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    q:\n      prometheus: {query: \"up{app='{{ap}}'}\"}\n      condition: \"> 0\"\n",
        "t.yaml:5:27: analysis.checks.q.prometheus.query: unknown placeholder `{{ap}}`; did you mean `{{app}}`?",
    ),
    // Comparisons.
    (
        "strategy: recreate\nanalysis:\n  checks:\n    e:\n      compare: canary-vs-baseline\n",
        "t.yaml:5:16: analysis.checks.e.compare: unknown comparison `canary-vs-baseline`; did you mean `canary-vs-stable`?",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    e:\n      compare: canary-vs-stable\n      metric: error-rate\n      test: mann-whitney\n",
        "t.yaml:7:13: analysis.checks.e.test: `mann-whitney` is not a test rollout runs: comparisons use the always-valid sequential test (`sequential`, the default), valid however often they look, or `threshold` (no statistics)",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    e:\n      compare: canary-vs-stable\n      metric: [latency, latency]\n",
        "t.yaml:6:25: analysis.checks.e.metric[1]: `latency` is listed twice",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    e:\n      compare: canary-vs-stable\n      confidence: 100%\n",
        "t.yaml:6:19: analysis.checks.e.confidence: expected a confidence above 0% and below 100%, like 95%, got `100%`",
    ),
    // Rolling, blue-green.
    (
        "strategy: rolling\nmaxSurge: 0\nmaxUnavailable: 0%\n",
        "t.yaml:3:17: maxUnavailable: maxSurge and maxUnavailable cannot both be 0: no pod could ever be replaced",
    ),
    (
        "strategy: rolling\nmaxSurge: lots\n",
        "t.yaml:2:11: maxSurge: expected a number of pods or a percentage, like 1 or 25%, got `lots`",
    ),
    (
        "strategy: blue-green\nselectorLabel: \"Bad Label\"\n",
        "t.yaml:2:16: selectorLabel: expected a label key like rollout.dev/slot or version, got `Bad Label`",
    ),
    (
        "strategy: blue-green\npreviewService: Web_Preview\n",
        "t.yaml:2:17: previewService: expected a Service name (lowercase letters, digits and -, starting with a letter, at most 63), got `Web_Preview`",
    ),
    // A/B.
    (
        "strategy: ab\n",
        "t.yaml:1:11: strategy: an ab rollout needs `match` (the requests that go to B: a header or a cookie)",
    ),
    (
        "strategy: ab\nmatch: []\n",
        "t.yaml:2:8: match: expected at least one matcher, got an empty list",
    ),
    (
        "strategy: ab\nmatch:\n  - header: X-A\n    cookie: a\n",
        "t.yaml:4:5: match[0].cookie: a matcher has either `header` or `cookie`; use two list items to match both",
    ),
    (
        "strategy: ab\nmatch:\n  - value: b\n",
        "t.yaml:3:5: match[0]: expected `header: NAME` or `cookie: NAME` (with `value` or `regex`)",
    ),
    (
        "strategy: ab\nmatch:\n  - header: X-A\n    regex: \"[\"\n",
        "t.yaml:4:12: match[0].regex: expected a regular expression, got `[` (error: unclosed character class)",
    ),
    (
        "strategy: ab\nmatch:\n  - header: X-A\npromote: sometimes\n",
        "t.yaml:4:10: promote: unknown promotion rule `sometimes`; expected one of: if-no-worse, always, never",
    ),
    // What happens while a comparison is inconclusive.
    (
        "strategy: ab\nmatch:\n  - header: X-A\nduration: 10m\nmaxDuration: 5m\n",
        "t.yaml:5:14: maxDuration: expected a duration of at least `duration` (10m), got `5m`",
    ),
    (
        "strategy: ab\nmatch:\n  - header: X-A\nonInconclusive: retry\n",
        "t.yaml:4:17: onInconclusive: unknown onInconclusive value `retry`; expected one of: fail, pass, pause",
    ),
    (
        "strategy: canary\nsteps:\n  - analysis: {timeout: 1m}\n",
        "t.yaml:3:15: steps[0].analysis: missing key `checks`: the checks to run",
    ),
    (
        "strategy: canary\nsteps:\n  - analysis: {checks: probes, onInconclusive: maybe}\n",
        "t.yaml:3:48: steps[0].analysis.onInconclusive: unknown onInconclusive value `maybe`; expected one of: fail, pass, pause",
    ),
    (
        "strategy: canary\nmaxDuration: 1m\nsteps:\n  - setWeight: 10\n",
        "t.yaml:2:1: maxDuration: not used by the canary strategy; it is a setting of ab and shadow",
    ),
];

#[test]
fn each_error_kind_points_at_the_offending_node() {
    let mut failures = Vec::new();
    for (input, expected) in ERRORS {
        match parse(input, "t.yaml") {
            Ok(_) => failures.push(format!("no error for {input:?}, expected\n  {expected}")),
            Err(e) if e.to_string() != *expected => {
                failures.push(format!(
                    "for {input:?}\n  got      {e}\n  expected {expected}"
                ));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_carry_structured_positions() {
    let e = parse("strategy: canary\nsteps:\n  - setWeight: 150\n", "x.yaml")
        .map(|_| ())
        .unwrap_err_or_panic();
    assert_eq!(e.origin, "x.yaml");
    assert_eq!((e.line, e.column), (Some(3), Some(16)));
    assert_eq!(
        e.message,
        "steps[0].setWeight: expected a number from 0 to 100, got 150"
    );
    // Everything but the empty file has a position.
    for (input, _) in ERRORS.iter().filter(|(input, _)| !input.is_empty()) {
        if let Err(e) = parse(input, "t.yaml") {
            assert!(e.line.is_some() && e.column.is_some(), "no position: {e}");
        }
    }
}

#[test]
fn positions_follow_aliases_to_where_the_value_is_used() {
    let text = "strategy: canary\nsteps:\n  - setWeight: &w 10\n  - pause: 1s\n  - setWeight: *w\n  - setWeight: &big 120\n";
    assert_eq!(
        err(text),
        "t.yaml:6:21: steps[3].setWeight: expected a number from 0 to 100, got 120"
    );
    let spec = ok("strategy: canary\nsteps:\n  - setWeight: &w 10\n  - setWeight: *w\n");
    assert_eq!(
        canary_steps(&spec)[1],
        CanaryStep::SetWeight(Weight::new(10).unwrap_or_default())
    );
}

// ----- what parses, and the defaults --------------------------------------------------------

#[test]
fn defaults_of_a_minimal_file() {
    let spec = ok("strategy: canary\nsteps:\n  - setWeight: 20\n");
    assert_eq!(spec.traffic, Traffic::Auto);
    assert_eq!(spec.canary_header, "X-Rollout-Canary");
    assert_eq!(spec.progress_deadline, Duration::from_secs(600));
    assert_eq!(spec.description, None);
    let a = &spec.analysis;
    assert_eq!(a.interval, Duration::from_secs(10));
    assert_eq!(
        (a.count, a.failure_limit, a.consecutive_error_limit),
        (1, 0, 4)
    );
    assert_eq!(a.background, ["probes"]);
    assert_eq!(a.checks.len(), 1);
    assert_eq!(
        a.checks[0].kind,
        CheckKind::Probe(ProbeCheck {
            readiness_deadline: Duration::from_secs(600),
            max_restarts: 0,
            fail_on_crash_loop: true,
        })
    );

    let Strategy::Rolling(r) = ok("strategy: ramped\n").strategy else {
        panic!("rolling");
    };
    assert_eq!(r.max_surge.to_string(), "25%");
    assert_eq!(r.max_unavailable.to_string(), "25%");
    assert!(r.verify.is_empty());

    let Strategy::BlueGreen(bg) = ok("strategy: blue-green\n").strategy else {
        panic!("blue-green");
    };
    assert_eq!(bg.selector_label, "pod-template-hash");
    assert_eq!(bg.preview_service, None);
    assert!(bg.auto_promotion);
    assert_eq!(bg.post_promotion_window, Duration::from_secs(30));
    assert_eq!(bg.scale_down_delay, Duration::from_secs(30));

    let Strategy::Shadow(sh) = ok("strategy: shadow\n").strategy else {
        panic!("shadow");
    };
    assert_eq!(sh.mirror, Percent::HUNDRED);
    assert_eq!(
        sh.compare.metrics,
        [CompareMetric::ErrorRate, CompareMetric::Latency]
    );
    assert_eq!(sh.compare.test, StatTest::Sequential);
    assert_eq!(sh.compare.confidence.to_string(), "95%");
    assert_eq!(sh.compare.min_samples, 50);
    assert_eq!(sh.promote, Promote::IfNoWorse);
}

#[test]
fn pause_forms() {
    let spec = ok(
        "strategy: canary\nsteps:\n  - pause: 30s\n  - pause: {}\n  - pause:\n  - pause: {duration: 2m}\n  - pause: 1m30s\n",
    );
    assert_eq!(
        canary_steps(&spec),
        [
            CanaryStep::Pause(Pause::For(Duration::from_secs(30))),
            CanaryStep::Pause(Pause::UntilPromoted),
            CanaryStep::Pause(Pause::UntilPromoted),
            CanaryStep::Pause(Pause::For(Duration::from_secs(120))),
            CanaryStep::Pause(Pause::For(Duration::from_secs(90))),
        ]
    );
}

#[test]
fn other_canary_steps() {
    let spec = ok(
        "strategy: canary\nsteps:\n  - setWeight: 5%\n  - setWeight: \"7\"\n  - analysis: [smoke, probes]\n  - setCanaryScale: {replicas: 2}\n  - setCanaryScale: {weight: 30}\n  - setCanaryScale: {matchTrafficWeight: true}\nanalysis:\n  checks:\n    smoke: {http: {path: /}}\n",
    );
    let w = |n| CanaryStep::SetWeight(Weight::new(n).unwrap_or_default());
    assert_eq!(
        canary_steps(&spec),
        [
            w(5),
            w(7),
            CanaryStep::Analysis(AnalysisStep {
                checks: vec!["smoke".into(), "probes".into()],
                load: None,
                timeout: None,
                on_inconclusive: None,
            }),
            CanaryStep::SetCanaryScale(CanaryScale::Replicas(2)),
            CanaryStep::SetCanaryScale(CanaryScale::Weight(Weight::new(30).unwrap_or_default())),
            CanaryStep::SetCanaryScale(CanaryScale::MatchTrafficWeight),
        ]
    );
}

#[test]
fn http_check_in_full() {
    let text = format!(
        "{CHECKS}    smoke:\n      http:\n        url: https://example.test/health\n        version: stable\n        method: post\n        headers: {{X-Token: abc, X-Num: 5}}\n        body: '{{}}'\n        requests: 7\n        timeout: 2s\n        tlsVerify: false\n      interval: 3s\n      count: 4\n      failureLimit: 1\n      consecutiveErrorLimit: 2\n      status: 200\n      successRate: \">= 99.5%\"\n      p50: \"< 100ms\"\n      p99: \"<= 1s\"\n      bodyMatch: \"^ok\"\n      json:\n        \"$.status\": ok\n        \"$.items[0].n\": \"> 3\"\n"
    );
    let spec = ok(&text);
    let Some(check) = spec.check("smoke") else {
        panic!("smoke");
    };
    assert_eq!(check.interval, Duration::from_secs(3));
    assert_eq!(
        (
            check.count,
            check.failure_limit,
            check.consecutive_error_limit
        ),
        (4, 1, 2)
    );
    let CheckKind::Http(h) = &check.kind else {
        panic!("http");
    };
    assert_eq!(
        h.target,
        HttpTarget::Url("https://example.test/health".into())
    );
    assert_eq!(h.version, VersionRef::Stable);
    assert_eq!(h.method, "POST");
    assert_eq!(
        h.headers,
        [
            ("X-Token".to_owned(), "abc".to_owned()),
            ("X-Num".to_owned(), "5".to_owned())
        ]
    );
    assert_eq!(h.body.as_deref(), Some("{}"));
    assert_eq!(
        (h.requests, h.timeout, h.tls_verify),
        (7, Duration::from_secs(2), false)
    );
    assert_eq!(h.status.to_string(), "== 200");
    assert_eq!(h.success_rate.to_string(), ">= 99.5%");
    assert_eq!(
        h.p50.as_ref().map(ToString::to_string).as_deref(),
        Some("< 100ms")
    );
    assert_eq!(h.p95, None);
    assert_eq!(
        h.p99.as_ref().map(ToString::to_string).as_deref(),
        Some("<= 1s")
    );
    assert_eq!(h.body_match.as_deref(), Some("^ok"));
    let json: Vec<String> = h.json.iter().map(|(p, c)| format!("{p} {c}")).collect();
    assert_eq!(json, ["$.status == \"ok\"", "$.items[0].n > 3"]);

    let spec = ok(&format!(
        "{CHECKS}    smoke:\n      http: {{path: /healthz, via: ingress}}\n"
    ));
    let Some(CheckKind::Http(h)) = spec.check("smoke").map(|c| &c.kind) else {
        panic!("http");
    };
    assert_eq!(
        h.target,
        HttpTarget::Path {
            path: "/healthz".into(),
            via: Via::Ingress
        }
    );
    assert_eq!(h.status.to_string(), "in [200, 399]");
    assert_eq!(h.success_rate.to_string(), ">= 99%");
    assert!(h.tls_verify);
}

#[test]
fn prometheus_and_compare_checks() {
    let text = format!(
        "{CHECKS}    q:\n      prometheus:\n        address: http://prometheus:9090\n        query: sum(rate(http_requests_total{{app=\"{{{{app}}}}\",code=~\"5..\"}}[{{{{ interval }}}}]))\n      condition: \"< 0.01\"\n    c:\n      compare: canary-vs-stable\n      metric: latency\n      test: threshold\n      confidence: 99%\n      maxLatencyIncrease: 5%\n      minSamples: 10\n"
    );
    let spec = ok(&text);
    let Some(CheckKind::Prometheus(p)) = spec.check("q").map(|c| &c.kind) else {
        panic!("prometheus");
    };
    assert_eq!(p.address.as_deref(), Some("http://prometheus:9090"));
    assert!(p.query.contains("{{app}}"));
    assert!(p.condition.holds_f64(0.001));
    let Some(CheckKind::Compare(c)) = spec.check("c").map(|c| &c.kind) else {
        panic!("compare");
    };
    assert_eq!(c.metrics, [CompareMetric::Latency]);
    assert_eq!(c.test, StatTest::Threshold);
    assert_eq!(c.confidence.to_string(), "99%");
    assert_eq!(c.max_latency_increase.to_string(), "5%");
    assert_eq!(c.max_error_rate_increase.to_string(), "1%");
    assert_eq!(c.min_samples, 10);
}

#[test]
fn user_defined_probes_check_replaces_the_default() {
    let spec = ok(&format!("{CHECKS}    probes:\n      probe:\n"));
    assert_eq!(spec.analysis.checks.len(), 1);
    let spec = ok(&format!(
        "{CHECKS}    probes:\n      probe: {{maxRestarts: 2, readinessDeadline: 1m}}\n"
    ));
    let Some(CheckKind::Probe(p)) = spec.check("probes").map(|c| &c.kind) else {
        panic!("probe");
    };
    assert_eq!(
        (p.max_restarts, p.readiness_deadline),
        (2, Duration::from_secs(60))
    );
    let spec = ok("strategy: recreate\nanalysis:\n  background: []\n");
    assert!(spec.analysis.background.is_empty());
}

#[test]
fn ab_matchers() {
    let spec = ok(
        "strategy: ab\nmatch:\n  - header: X-Group\n    regex: \"^beta-.*\"\n  - cookie: group\n    value: b\npromote: always\nduration: 1h\n",
    );
    let Strategy::Ab(ab) = spec.strategy else {
        panic!("ab");
    };
    assert_eq!(ab.matches[0].value, MatchValue::Regex("^beta-.*".into()));
    assert_eq!(ab.matches[1].on, MatchOn::Cookie("group".into()));
    assert_eq!(ab.promote, Promote::Always);
    assert_eq!(ab.duration, Duration::from_secs(3600));
}

// ----- after validation ---------------------------------------------------------------------

#[test]
fn later_errors_can_point_into_the_file() {
    let spec = ok("strategy: ab\ntraffic: replicas\nmatch:\n  - header: X-A\n");
    assert_eq!(spec.location_of("traffic"), Some((2, 10)));
    assert_eq!(spec.location_of("match[0].header"), Some((4, 13)));
    let e = spec.error_at("traffic", "the replicas router cannot route by header");
    assert_eq!(
        e.to_string(),
        "t.yaml:2:10: traffic: the replicas router cannot route by header"
    );
    // Not written (a default): no position.
    let e = spec.error_at("duration", "too long");
    assert_eq!(e.to_string(), "t.yaml: duration: too long");
}

#[test]
fn serializes_to_json() {
    let spec = load("canary", None).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_value(&spec).unwrap_or_default();
    assert_eq!(json["traffic"], "auto");
    assert_eq!(json["strategy"]["name"], "canary");
    assert_eq!(json["strategy"]["steps"][0]["setWeight"], 10);
    assert_eq!(json["strategy"]["steps"][1]["pause"]["for"], "30s");
    assert_eq!(json["progressDeadline"], "10m");
}

// ----- overrides ----------------------------------------------------------------------------

#[test]
fn overrides_apply() {
    let spec = ok(
        "strategy: canary\nsteps:\n  - setWeight: 10\n  - pause: 5m\n  - pause: {}\n  - setWeight: 50\n  - pause: 10s\nanalysis:\n  checks:\n    smoke: {http: {path: /}, interval: 1m}\n",
    );
    let o = Overrides {
        traffic: Some(Traffic::Router("gateway-api")),
        analysis_interval: Some(Duration::from_secs(2)),
        progress_deadline: Some(Duration::from_secs(60)),
        auto_promote: true,
        max_pause: Some(Duration::from_secs(30)),
        ..Overrides::default()
    };
    let spec = spec.with_overrides(&o).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.traffic, Traffic::Router("gateway-api"));
    assert_eq!(spec.progress_deadline, Duration::from_secs(60));
    assert!(
        spec.analysis
            .checks
            .iter()
            .all(|c| c.interval == Duration::from_secs(2))
    );
    let w = |n| CanaryStep::SetWeight(Weight::new(n).unwrap_or_default());
    assert_eq!(
        canary_steps(&spec),
        [
            w(10),
            CanaryStep::Pause(Pause::For(Duration::from_secs(30))),
            w(50),
            CanaryStep::Pause(Pause::For(Duration::from_secs(10))),
        ]
    );
    // max_pause 0 drops timed pauses, and leaves the indefinite ones alone.
    let spec = ok("strategy: canary\nsteps:\n  - pause: 5m\n  - pause: {}\n")
        .with_overrides(&Overrides {
            max_pause: Some(Duration::ZERO),
            ..Overrides::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        canary_steps(&spec),
        [CanaryStep::Pause(Pause::UntilPromoted)]
    );
}

#[test]
fn overrides_per_strategy() {
    let bg = ok("strategy: blue-green\nautoPromotion: false\n");
    let no_pause = Overrides {
        no_pause: true,
        ..Overrides::default()
    };
    let Strategy::BlueGreen(b) = bg
        .clone()
        .with_overrides(&no_pause)
        .map(|s| s.strategy)
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("blue-green");
    };
    assert!(b.auto_promotion);

    let shadow = ok("strategy: shadow\n")
        .with_overrides(&Overrides {
            duration: Some(Duration::from_secs(20)),
            ..Overrides::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let Strategy::Shadow(s) = shadow.strategy else {
        panic!("shadow");
    };
    assert_eq!(s.duration, Duration::from_secs(20));

    let e = ok("strategy: canary\nsteps: [{setWeight: 5}]\n")
        .with_overrides(&Overrides {
            duration: Some(Duration::from_secs(20)),
            ..Overrides::default()
        })
        .map(|_| ())
        .unwrap_err_or_panic();
    assert_eq!(
        e.to_string(),
        "command line: duration: the canary strategy has no duration (only ab and shadow have one)"
    );
    // --auto-promote never waits for a person, and leaves timed pauses.
    let canary = ok("strategy: canary\nsteps: [{setWeight: 5}, {pause: {}}, {pause: 30s}]\n");
    let steps = |o: Overrides| {
        let spec = canary
            .clone()
            .with_overrides(&o)
            .unwrap_or_else(|e| panic!("{e}"));
        canary_steps(&spec).to_vec()
    };
    assert_eq!(
        steps(Overrides {
            auto_promote: true,
            ..Overrides::default()
        }),
        [
            CanaryStep::SetWeight(Weight::new(5).expect("weight")),
            CanaryStep::Pause(Pause::For(Duration::from_secs(30)))
        ]
    );
    // --no-pause skips every pause.
    assert_eq!(
        steps(Overrides {
            no_pause: true,
            ..Overrides::default()
        }),
        [CanaryStep::SetWeight(Weight::new(5).expect("weight"))]
    );
    let e = ok("strategy: recreate\n")
        .with_overrides(&Overrides {
            analysis_interval: Some(Duration::ZERO),
            ..Overrides::default()
        })
        .map(|_| ())
        .unwrap_err_or_panic();
    assert_eq!(
        e.to_string(),
        "command line: analysis.interval: expected a duration above zero, like 30s, got 0s"
    );
}

#[test]
fn every_full_example_in_the_readme_parses() {
    let readme = include_str!("../../../../strategies/README.md");
    let mut examples = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        if body.starts_with("strategy:") {
            examples += 1;
            if let Err(e) = parse(body, "README.md") {
                panic!("{e}\n--- example:\n{body}");
            }
        }
    }
    assert!(examples >= 6, "one example per strategy, found {examples}");
}

#[test]
fn inconclusive_settings_of_steps_and_experiments() {
    let spec = parse(
        "strategy: canary\nsteps:\n  - analysis: smoke\n  - analysis: {checks: [smoke], timeout: 2m, onInconclusive: pause}\nanalysis:\n  timeout: 1m\n  onInconclusive: pass\n  checks:\n    smoke:\n      http: {path: /}\n",
        "t.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.analysis.timeout, Duration::from_secs(60));
    assert_eq!(spec.analysis.on_inconclusive, OnInconclusive::Pass);
    let Strategy::Canary(c) = &spec.strategy else {
        panic!("canary")
    };
    assert_eq!(
        c.steps[1],
        CanaryStep::Analysis(AnalysisStep {
            checks: vec!["smoke".into()],
            load: None,
            timeout: Some(Duration::from_secs(120)),
            on_inconclusive: Some(OnInconclusive::Pause),
        })
    );
    let ab = parse(
        "strategy: ab\nmatch:\n  - header: X-A\nduration: 1m\n",
        "t.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let Strategy::Ab(ab) = &ab.strategy else {
        panic!("ab")
    };
    assert_eq!(ab.on_inconclusive, OnInconclusive::Fail);
    assert_eq!(
        max_duration(ab.duration, ab.max_duration),
        Duration::from_secs(180),
        "three times duration when not written"
    );
}

// ----- exec and webhook checks, notifications ----------------------------------------------

#[test]
fn exec_and_webhook_checks() {
    let spec = ok(&format!(
        "{CHECKS}    it:\n      exec: {{command: [./smoke.sh, --fast, 3, \"\"], timeout: 2m}}\n      failureLimit: 1\n    hook:\n      webhook: {{url: \"http://tester:8080/check\"}}\n    gate:\n      webhook: {{url: \"https://approve.example/x\", timeout: 1s, confirm: true}}\n      interval: 30s\n"
    ));
    let Some(CheckKind::Exec(exec)) = spec.check("it").map(|c| &c.kind) else {
        panic!("it is an exec check");
    };
    assert_eq!(exec.command, ["./smoke.sh", "--fast", "3", ""]);
    assert_eq!(exec.timeout, Duration::from_secs(120));
    assert_eq!(spec.check("it").map(|c| c.failure_limit), Some(1));
    let Some(CheckKind::Webhook(hook)) = spec.check("hook").map(|c| &c.kind) else {
        panic!("hook is a webhook check");
    };
    assert_eq!(
        hook,
        &WebhookCheck {
            url: "http://tester:8080/check".into(),
            timeout: Duration::from_secs(10),
            confirm: false,
        }
    );
    let Some(CheckKind::Webhook(gate)) = spec.check("gate").map(|c| &c.kind) else {
        panic!("gate is a webhook check");
    };
    assert!(gate.confirm);
    assert_eq!(gate.timeout, Duration::from_secs(1));
    // Exec defaults.
    let spec = ok(&format!(
        "{CHECKS}    it:\n      exec: {{command: [true]}}\n"
    ));
    let Some(CheckKind::Exec(exec)) = spec.check("it").map(|c| &c.kind) else {
        panic!("it is an exec check");
    };
    assert_eq!(exec.timeout, Duration::from_secs(60));
    // Usable in steps and in the background.
    ok(
        "strategy: canary\nsteps:\n  - analysis: it\nanalysis:\n  background: [probes, hook]\n  checks:\n    it: {exec: {command: [./it.sh]}}\n    hook: {webhook: {url: \"http://h/\"}}\n",
    );
}

#[test]
fn notify_receivers() {
    let spec = ok(
        "strategy: recreate\nnotify:\n  - url: https://hooks.example/T/B/x\n  - url: http://ci:8080/events\n    events: [started, done, rolled-back]\n  - url: http://one/\n    events: abort\n",
    );
    assert_eq!(
        spec.notify,
        [
            Notify {
                url: "https://hooks.example/T/B/x".into(),
                events: NotifyEvent::all(),
            },
            Notify {
                url: "http://ci:8080/events".into(),
                events: vec![
                    NotifyEvent::Started,
                    NotifyEvent::Done,
                    NotifyEvent::RolledBack
                ],
            },
            Notify {
                url: "http://one/".into(),
                events: vec![NotifyEvent::Abort],
            },
        ]
    );
    assert_eq!(NotifyEvent::all().len(), 8);
    assert_eq!(NotifyEvent::GateFailed.as_str(), "gate-failed");
    assert!(ok("strategy: recreate\n").notify.is_empty());
}

#[test]
fn notify_from_the_command_line() {
    let spec = ok("strategy: recreate\nnotify:\n  - url: http://a/\n    events: [done]\n  - url: http://b/\n    events: [done]\n")
        .with_overrides(&Overrides {
            notify: vec!["http://b/".into(), "http://c/".into()],
            ..Overrides::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let urls: Vec<(&str, usize)> = spec
        .notify
        .iter()
        .map(|n| (n.url.as_str(), n.events.len()))
        .collect();
    // The flag's receivers get every event, even one the file names for fewer.
    assert_eq!(urls, [("http://a/", 1), ("http://b/", 8), ("http://c/", 8)]);
    let e = ok("strategy: recreate\n")
        .with_overrides(&Overrides {
            notify: vec!["hooks.example/x".into()],
            ..Overrides::default()
        })
        .map(|_| ())
        .unwrap_err_or_panic();
    assert_eq!(
        e.to_string(),
        "command line: notify: expected an absolute URL starting with http:// or https://, got `hooks.example/x`"
    );
    // Kept in the record as a list, and absent from old records.
    let json = serde_json::to_value(Overrides {
        notify: vec!["http://c/".into()],
        ..Overrides::default()
    })
    .unwrap_or_default();
    assert_eq!(json["notify"], serde_json::json!(["http://c/"]));
    let old: Overrides = serde_json::from_str("{\"noPause\": true}").unwrap_or_default();
    assert!(old.no_pause && old.notify.is_empty());
}

/// Errors of the exec, webhook and notify keys, each at the offending node.
const NEW_KEY_ERRORS: &[(&str, &str)] = &[
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {comand: [x]}\n",
        "t.yaml:5:14: analysis.checks.it.exec: unknown key `comand`; did you mean `command`?",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: []}\n",
        "t.yaml:5:23: analysis.checks.it.exec.command: expected the program and its arguments, like [\"./smoke.sh\", \"--fast\"], got an empty list",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: ./smoke.sh --fast}\n",
        "t.yaml:5:23: analysis.checks.it.exec.command: expected a list of the program and its arguments, like [\"./smoke.sh\", \"--fast\"] (it runs without a shell), got `./smoke.sh --fast`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: [\"\", a]}\n",
        "t.yaml:5:24: analysis.checks.it.exec.command[0]: expected the program to run (a name or a path), got ``",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: [a, {b: c}]}\n",
        "t.yaml:5:27: analysis.checks.it.exec.command[1]: expected an argument (one word of text), got a mapping",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {timeout: 5s}\n",
        "t.yaml:5:13: analysis.checks.it.exec: missing key `command`: the program and its arguments, like [\"./smoke.sh\", \"--fast\"]",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: [a], timeout: 0s}\n",
        "t.yaml:5:37: analysis.checks.it.exec.timeout: expected a duration above zero, like 30s, got `0s`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: [a], timeout: -5s}\n",
        "t.yaml:5:37: analysis.checks.it.exec.timeout: expected a duration with a unit, like 30s, 2m or 500ms, got `-5s` (durations cannot be negative)",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: [a]}\n      status: 200\n",
        "t.yaml:6:7: analysis.checks.it.status: only http checks have `status`; this is an exec check",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    it:\n      exec: {command: [a]}\n      webhook: {url: \"http://x/\"}\n",
        "t.yaml:6:7: analysis.checks.it.webhook: a check has one kind, and this one is already an exec check; define another check",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    h:\n      webhook: {url: tester:8080/check}\n",
        "t.yaml:5:22: analysis.checks.h.webhook.url: expected an absolute URL starting with http:// or https://, got `tester:8080/check`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    h:\n      webhook: {timeout: 1s}\n",
        "t.yaml:5:16: analysis.checks.h.webhook: missing key `url`: where to POST, like http://tester:8080/check",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    h:\n      webhook: {url: \"http://x/\", timeout: 0s}\n",
        "t.yaml:5:44: analysis.checks.h.webhook.timeout: expected a duration above zero, like 30s, got `0s`",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    h:\n      webhook: {url: \"http://x/\", confrim: true}\n",
        "t.yaml:5:35: analysis.checks.h.webhook: unknown key `confrim`; did you mean `confirm`?",
    ),
    (
        "strategy: recreate\nanalysis:\n  checks:\n    h:\n      webhook: {url: \"http://x/\", confirm: yes}\n",
        "t.yaml:5:44: analysis.checks.h.webhook.confirm: expected true or false, got yes",
    ),
    (
        "strategy: recreate\nnotify:\n  - url: http://x/\n    events: [started, rolledback]\n",
        "t.yaml:4:23: notify[0].events[1]: unknown event `rolledback`; did you mean `rolled-back`?",
    ),
    (
        "strategy: recreate\nnotify:\n  - url: http://x/\n    events: []\n",
        "t.yaml:4:13: notify[0].events: expected at least one event; leave `events` out to send all of them",
    ),
    (
        "strategy: recreate\nnotify:\n  - url: http://x/\n    events: [done, done]\n",
        "t.yaml:4:20: notify[0].events[1]: `done` is listed twice",
    ),
    (
        "strategy: recreate\nnotify:\n  - events: [done]\n",
        "t.yaml:3:5: notify[0]: missing key `url`: where to POST the events, like https://hooks.slack.com/services/...",
    ),
    (
        "strategy: recreate\nnotify:\n  - url: slack\n",
        "t.yaml:3:10: notify[0].url: expected an absolute URL starting with http:// or https://, got `slack`",
    ),
    (
        "strategy: recreate\nnotify:\n  - url: http://x/\n  - url: http://x/\n",
        "t.yaml:4:10: notify[1].url: `http://x/` is listed twice; give all its events in one item",
    ),
    (
        "strategy: recreate\nnotify:\n  - url: http://x/\n    event: [done]\n",
        "t.yaml:4:5: notify[0]: unknown key `event`; did you mean `events`?",
    ),
    (
        "strategy: recreate\nnotify:\n  url: http://x/\n",
        "t.yaml:3:3: notify: expected a list, got a mapping",
    ),
];

#[test]
fn errors_of_exec_webhook_and_notify_keys() {
    let mut failures = Vec::new();
    for (input, expected) in NEW_KEY_ERRORS {
        let got = err(input);
        if got != *expected {
            failures.push(format!(
                "for {input:?}\n  got      {got}\n  expected {expected}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ----- synthetic load ---------------------------------------------------------------------

const LOADED: &str = "strategy: canary
steps:
  - setWeight: 10
  - analysis: { checks: [probes], load: { rate: 5/m, target: new, duration: 30s } }
  - analysis: probes
analysis:
  load:
    rate: 20/s
    paths: [/, /explore]
";

#[test]
fn load_in_the_section_and_in_a_step() {
    let spec = ok(LOADED);
    let section = spec.analysis.load.clone().expect("section load");
    assert_eq!(section.rate, Rate(20.0));
    assert_eq!(section.paths, ["/", "/explore"]);
    assert_eq!(section.duration, None);
    assert_eq!(section.target, LoadTarget::Both);
    let steps = canary_steps(&spec);
    let CanaryStep::Analysis(step) = &steps[1] else {
        panic!("{steps:?}")
    };
    let load = step.load.clone().expect("step load");
    assert!((load.rate.per_second() - 5.0 / 60.0).abs() < 1e-12);
    assert_eq!(load.paths, ["/"]);
    assert_eq!(load.duration, Some(Duration::from_secs(30)));
    assert_eq!(load.target, LoadTarget::New);
    let CanaryStep::Analysis(plain) = &steps[2] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        plain.load, None,
        "the section's default is applied by the plan"
    );
}

#[test]
fn load_errors_say_where() {
    let with = |load: &str| {
        format!("strategy: canary\nsteps:\n  - setWeight: 10\nanalysis:\n  load: {load}\n")
    };
    let e = err(&with("{ rate: 20/x }"));
    assert!(e.starts_with("t.yaml:5:17: analysis.load.rate:"), "{e}");
    assert!(e.contains("the unit is /s, /m or /h"), "{e}");
    let e = err(&with("{ rate: 20 }"));
    assert!(
        e.contains("analysis.load.rate") && e.contains("20/s"),
        "{e}"
    );
    let e = err(&with("{ rate: 0/s }"));
    assert!(e.contains("above zero"), "{e}");
    let e = err(&with("{ rate: 20/s, paths: [] }"));
    assert!(e.starts_with("t.yaml:5:30: analysis.load.paths:"), "{e}");
    let e = err(&with("{ rate: 20/s, paths: [explore] }"));
    assert!(e.starts_with("t.yaml:5:31: analysis.load.paths[0]:"), "{e}");
    let e = err(&with("{ rate: 20/s, target: sideways }"));
    assert!(e.starts_with("t.yaml:5:31: analysis.load.target:"), "{e}");
    assert!(e.contains("both") && e.contains("stable"), "{e}");
    let e = err(&with("{ rate: 20/s, duration: 0s }"));
    assert!(e.starts_with("t.yaml:5:33: analysis.load.duration:"), "{e}");
    assert!(e.contains("above zero"), "{e}");
    let e = err(&with("{ paths: [/] }"));
    assert!(e.contains("missing key `rate`"), "{e}");
    let e = err(&with("{ rate: 20/s, rpm: 3 }"));
    assert!(e.contains("rpm"), "{e}");
    let e =
        err("strategy: canary\nsteps:\n  - analysis: { checks: [probes], load: { rate: 1/q } }\n");
    assert!(
        e.starts_with("t.yaml:3:49: steps[0].analysis.load.rate:"),
        "{e}"
    );
}

#[test]
fn every_example_file_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../strategies/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("strategies/examples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        if let Err(e) = parse(&text, &path.display().to_string()) {
            panic!("{e}");
        }
        seen += 1;
    }
    assert!(seen >= 2, "found {seen} examples");
    let low = std::fs::read_to_string(dir.join("low-traffic-canary.yaml")).expect("read");
    let spec = ok(&low);
    assert!(
        spec.analysis.load.is_some(),
        "the low-traffic example sends load"
    );
}
