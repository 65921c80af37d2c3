//! Canary rollouts on the embedded cluster: weights through ingress-nginx, Gateway API and
//! the replica ratio; a good image completes, bad ones are rolled back.

use std::sync::Arc;
use std::time::Duration;

use crate::common::TestCluster;
use crate::common::rollouts::{
    Events, Front, HOST, deploy_web, leftovers, original_route_rules, request, route_rules, run,
    strategy_file, stray_pods,
};
use kubesim::traffic::{Traffic, TrafficSpec};
use rollout_core::report::Finish;
use serde_json::json;

const CANARY: &str = r#"
strategy: canary
steps:
  - setWeight: 20
  - pause: 1500ms
  - analysis: smoke
  - setWeight: 50
  - pause: 1500ms
analysis:
  interval: 200ms
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
    smoke:
      http: { path: /, version: new, requests: 20 }
      count: 2
      successRate: ">= 95%"
"#;

fn traffic(tc: &TestCluster) -> Traffic {
    let addr = tc.cluster.ingress().expect("ingress").addr();
    let mut spec = TrafficSpec::new(addr, HOST);
    spec.rate_per_second = 200.0;
    spec.keep_outcomes = 100_000;
    spec.duration = Some(Duration::from_secs(60));
    Traffic::start(spec).expect("traffic")
}

/// Runs the canary to v2 behind `front` and checks the share of v2 at every weight.
async fn shifts_traffic_and_ends_clean(front: Front) {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, front).await;
    let t0 = std::time::Instant::now();
    let load = traffic(&tc);
    let events = Arc::new(Events::default());
    let path = strategy_file(&tc, "canary", CANARY);
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let report = load.snapshot();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    // Share of v2 while each weight held (skipping the first 300ms after each change).
    let weights = events.weights();
    let mut checked = 0;
    for pair in weights.windows(2) {
        let (from, w) = pair[0];
        let to = pair[1].0;
        let from_ms = (from - t0).as_millis() as u64 + 300;
        let to_ms = (to - t0).as_millis() as u64;
        if to_ms <= from_ms + 500 {
            continue;
        }
        let window = report.between(from_ms, to_ms);
        let share = window.share_of("v2") * 100.0;
        assert!(
            (share - f64::from(w)).abs() <= 10.0,
            "weight {w}%: v2 served {share:.1}% of {} requests",
            window.sent()
        );
        checked += 1;
    }
    assert!(checked >= 2, "too few weights held long enough to measure");
    assert_eq!(
        weights.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
        vec![0, 20, 50, 100]
    );
    assert!(
        report.failed_ratio() < 0.01,
        "failed {:.2}%",
        report.failed_ratio() * 100.0
    );
    let ingresses: Vec<&str> = if front == Front::Nginx {
        vec!["web"]
    } else {
        vec![]
    };
    assert_eq!(
        leftovers(&tc).await,
        json!({"deployments": ["web"], "services": ["kubernetes", "web"], "ingresses": ingresses, "leases": [],
               "selector": {"app": "web"}, "image": "web:v2", "record": null})
    );
    assert!(stray_pods(&tc).await.is_empty());
    if front == Front::Route {
        assert_eq!(route_rules(&tc).await, Some(original_route_rules()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_ingress_nginx_shifts_traffic_and_ends_clean() {
    shifts_traffic_and_ends_clean(Front::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_an_httproute_shifts_traffic_and_ends_clean() {
    shifts_traffic_and_ends_clean(Front::Route).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_with_errors_is_rolled_back_and_stable_keeps_serving() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let load = traffic(&tc);
    let events = Arc::new(Events::default());
    let path = strategy_file(&tc, "canary", CANARY);
    let outcome = run(&tc, &request(&path, "v2-errors"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack);
    assert!(
        outcome
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("smoke")),
        "{:?}",
        outcome.reason
    );
    let after = load.snapshot();
    assert_eq!(
        leftovers(&tc).await,
        json!({"deployments": ["web"], "services": ["kubernetes", "web"], "ingresses": ["web"], "leases": [],
               "selector": {"app": "web"}, "image": "web:v1", "record": null})
    );
    assert!(stray_pods(&tc).await.is_empty());
    assert!(after.share_of("v1") > 0.5);
}

/// A canary whose comparison gets almost no traffic (1 request a second, 20 % of it to the
/// canary): the analysis step never passes on an inconclusive comparison; at its `timeout`,
/// `onInconclusive: fail` rolls back and says why, with how many requests each version had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_traffic_to_conclude_rolls_back_and_says_why() {
    const STARVED: &str = r#"
strategy: canary
steps:
  - setWeight: 20
  - analysis: { checks: [errors], timeout: 4s, onInconclusive: fail }
  - setWeight: 100
analysis:
  interval: 200ms
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
    errors:
      compare: canary-vs-stable
      metric: error-rate
      test: sequential
      confidence: 95%
      maxErrorRateIncrease: 1%
      minSamples: 50
"#;
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let mut spec = TrafficSpec::new(tc.cluster.ingress().expect("ingress").addr(), HOST);
    spec.rate_per_second = 1.0;
    spec.duration = Some(Duration::from_secs(60));
    let _load = Traffic::start(spec).expect("traffic");
    let events = Arc::new(Events::default());
    let path = strategy_file(&tc, "starved", STARVED);
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    let reason = outcome.reason.unwrap_or_default();
    assert!(
        reason.contains("inconclusive") && reason.contains("onInconclusive: fail"),
        "{reason}"
    );
    assert!(
        reason.contains("requests"),
        "says how many requests: {reason}"
    );
    let left = leftovers(&tc).await;
    assert_eq!(left["image"], json!("web:v1"), "{left}");
    assert_eq!(left["deployments"], json!(["web"]), "{left}");
}
