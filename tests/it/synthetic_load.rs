//! Synthetic load: an app with only 2 requests a second of its own is judged conclusively when
//! the strategy sends `load:` through its ingress, and not promoted without it; the synthetic
//! requests are counted apart from users' in the events, their JSON and the summary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::TestCluster;
use crate::common::rollouts::strategy_file;
use crate::common::rollouts::{Events, Front, HOST, deploy_web, leftovers, request, run};
use kubesim::traffic::{Traffic, TrafficSpec};
use rollout_core::gate::Outcome;
use rollout_core::report::{Event, Finish, LoadSummary};
use serde_json::json;

/// A canary judged only by comparing it with stable; `{load}` is put in the analysis step.
fn strategy(load: &str) -> String {
    format!(
        r#"
strategy: canary
steps:
  - setWeight: 20
  - analysis: {{ checks: [errors], timeout: 6s, onInconclusive: fail{load} }}
  - setWeight: 100
analysis:
  interval: 250ms
  background: [probes]
  checks:
    probes:
      probe: {{ readinessDeadline: 10s }}
    errors:
      compare: canary-vs-stable
      metric: error-rate
      test: sequential
      confidence: 95%
      maxErrorRateIncrease: 5%
      minSamples: 50
"#
    )
}

/// The comparison's measurements, in order.
fn comparisons(events: &Events) -> Vec<rollout_core::gate::Measurement> {
    events
        .all()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Gate { measurement, .. } if measurement.check == "errors" => Some(measurement),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_traffic_canary_is_judged_conclusively_only_with_synthetic_load() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    // The app's own users: 2 requests a second.
    let mut spec = TrafficSpec::new(tc.cluster.ingress().expect("ingress").addr(), HOST);
    spec.rate_per_second = 2.0;
    spec.duration = Some(Duration::from_secs(120));
    let users = Traffic::start(spec).expect("traffic");

    // Without load: the comparison never has enough requests, and the canary is not promoted.
    let events = Arc::new(Events::default());
    let path = strategy_file(&tc, "starved", &strategy(""));
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    let reason = outcome.reason.unwrap_or_default();
    assert!(reason.contains("inconclusive"), "{reason}");
    assert!(
        comparisons(&events)
            .iter()
            .all(|m| m.outcome == Outcome::Inconclusive),
        "without load nothing is decided"
    );
    assert_eq!(leftovers(&tc).await["image"], json!("web:v1"));

    // With load: 100 requests a second through the ingress, split by the weight.
    let events = Arc::new(Events::default());
    let path = strategy_file(
        &tc,
        "loaded",
        &strategy(", load: { rate: 100/s, paths: [/, /healthz], target: both }"),
    );
    let users_before = users.snapshot().sent();
    let began = Instant::now();
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let elapsed = began.elapsed();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    let users_during = users.snapshot().sent() - users_before;
    let last = comparisons(&events).pop().expect("the comparison measured");
    assert_eq!(last.outcome, Outcome::Pass, "{}", last.summary);
    assert!(
        last.summary.contains("not worse") && !last.summary.contains("inconclusive"),
        "conclusive: {}",
        last.summary
    );
    assert_eq!(leftovers(&tc).await["image"], json!("web:v2"));

    // Counted apart: one load event for the analysis step, with what it sent.
    let loads: Vec<LoadSummary> = events
        .all()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Load(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(loads.len(), 1, "{loads:?}");
    let load = &loads[0];
    assert!(
        load.requests >= 50 && (load.requests as f64) <= 100.0 * elapsed.as_secs_f64() + 10.0,
        "{load:?} in {elapsed:?}"
    );
    assert_eq!(load.failed, 0, "{load:?}");
    // About a fifth of the plain requests reach the canary at weight 20.
    let to_new = load.to_new.expect("the simulated app says its version");
    assert!(
        to_new > 0 && (to_new as f64) < load.requests as f64 * 0.45,
        "{load:?}"
    );
    // The comparison counted the synthetic requests with the users' (far fewer).
    let compared = load.compared.expect("the comparison's count");
    let new_and_stable = last.figures["new_requests"] + last.figures["stable_requests"];
    assert_eq!(compared as f64, new_and_stable, "{load:?}");
    assert!(
        compared >= users_during && compared > load.requests / 2,
        "{compared} compared, {users_during} from users, {load:?}"
    );

    // Apart in the JSON events and the summary.
    let json_events: Vec<serde_json::Value> = events
        .all()
        .iter()
        .map(|(_, e)| serde_json::to_value(e).expect("json"))
        .filter(|v| v["event"] == "load")
        .collect();
    assert_eq!(json_events.len(), 1);
    assert_eq!(json_events[0]["requests"], json!(load.requests));
    assert_eq!(json_events[0]["toNew"], json!(to_new));
    assert_eq!(json_events[0]["target"], json!("both"));
    let all: Vec<Event> = events.all().into_iter().map(|(_, e)| e).collect();
    let summary = rollout_core::report::summary(&all);
    let line = format!(
        "synthetic load: {} requests ({to_new} to new)",
        load.requests
    );
    assert!(summary.contains(&line), "{summary}");
}
