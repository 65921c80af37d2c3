//! Every strategy on the embedded cluster: a good image completes and leaves exactly the app's
//! own objects on the new template; a bad one (errors, crash loop, never ready) is rolled back
//! and leaves the stable version serving, with no temporary object or pod left.

use crate::common;
use std::sync::Arc;
use std::time::Duration;

use crate::common::TestCluster;
use crate::common::rollouts::{
    Events, Front, HOST, checks, deploy_web, leftovers, original_route_rules, request, route_rules,
    run, strategy_file, stray_pods,
};
use kubesim::traffic::{Traffic, TrafficSpec};
use rollout_core::report::{Event, Finish};
use serde_json::{Value, json};

fn file(tc: &TestCluster, name: &str, head: &str) -> String {
    strategy_file(
        tc,
        name,
        &format!("{head}\nprogressDeadline: 20s\n{}", checks("200ms", "4s")),
    )
}

fn traffic(tc: &TestCluster, groups: &[&str]) -> Traffic {
    let addr = tc.cluster.ingress().expect("ingress").addr();
    let mut spec = TrafficSpec::new(addr, HOST);
    spec.rate_per_second = 100.0;
    spec.keep_outcomes = 100_000;
    spec.duration = Some(Duration::from_secs(60));
    for g in groups {
        spec.groups
            .push(kubesim::traffic::parse_group(g).expect("group"));
    }
    Traffic::start(spec).expect("traffic")
}

fn clean(front: Front, image: &str) -> Value {
    let ingresses: Vec<&str> = if front == Front::Nginx {
        vec!["web"]
    } else {
        vec![]
    };
    json!({"deployments": ["web"], "services": ["kubernetes", "web"], "ingresses": ingresses, "leases": [],
           "selector": {"app": "web"}, "image": image, "record": null})
}

async fn good(
    name: &str,
    head: &str,
    front: Front,
) -> (TestCluster, Arc<Events>, kubesim::traffic::Report) {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, front).await;
    let load = traffic(&tc, &["50%:header:X-Variant=b"]);
    let events = Arc::new(Events::default());
    let path = file(&tc, name, head);
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let report = load.snapshot();
    assert_eq!(outcome.finish, Finish::Done, "{name}: {:?}", outcome.reason);
    assert_eq!(leftovers(&tc).await, clean(front, "web:v2"), "{name}");
    assert!(stray_pods(&tc).await.is_empty(), "{name}");
    (tc, events, report)
}

async fn bad(name: &str, head: &str, front: Front, image: &str, why: &str) {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, front).await;
    // Users, some in the A/B group: comparisons judge what the versions served them.
    let _load = traffic(&tc, &["50%:header:X-Variant=b"]);
    let events = Arc::new(Events::default());
    let path = file(&tc, name, head);
    let outcome = run(&tc, &request(&path, image), &events).await;
    assert_eq!(
        outcome.finish,
        Finish::RolledBack,
        "{name} {image}: {:?}",
        outcome.reason
    );
    let reason = outcome.reason.unwrap_or_default();
    // `why` lists the acceptable gate messages, `|`-separated (a crash is caught by its first
    // restart or by CrashLoopBackOff, whichever the watch sees first).
    assert!(
        why.split('|').any(|w| reason.contains(w)),
        "{name} {image}: {reason}"
    );
    assert_eq!(
        leftovers(&tc).await,
        clean(front, "web:v1"),
        "{name} {image}"
    );
    assert!(stray_pods(&tc).await.is_empty(), "{name} {image}");
    if front == Front::Route {
        assert_eq!(
            route_rules(&tc).await,
            Some(original_route_rules()),
            "{name} {image}"
        );
    }
    // Stable serves again through the ingress.
    if front != Front::Nothing {
        let http = common::http_client();
        let addr = tc.cluster.ingress().expect("ingress").addr();
        let (status, version) = common::via_ingress(&http, addr, HOST, "/", &[]).await;
        assert_eq!((status, version.as_str()), (200, "v1"), "{name} {image}");
    }
}

const RECREATE: &str = "strategy: recreate\nverify: [smoke]";
const ROLLING: &str = "strategy: rolling\nmaxSurge: 1\nmaxUnavailable: 0\nverify: [smoke]";
const BLUE_GREEN: &str = "strategy: blue-green\nprePromotion: [smoke-new]\npostPromotion: [smoke]\npostPromotionWindow: 500ms\nscaleDownDelay: 0s";
const AB: &str = "strategy: ab\nmatch:\n  - header: X-Variant\n    value: b\nduration: 3s\ncompare:\n  metric: [error-rate]\n  maxErrorRateIncrease: 5%\n  minSamples: 10\npromote: if-no-worse";
const SHADOW: &str = "strategy: shadow\nmirror: 100%\nduration: 2s\ncompare:\n  metric: [error-rate]\n  maxErrorRateIncrease: 5%\n  minSamples: 10\npromote: if-no-worse";
const CANARY: &str =
    "strategy: canary\nsteps:\n  - setWeight: 50\n  - pause: 1s\n  - analysis: smoke";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_good() {
    let (_, _, report) = good("recreate", RECREATE, Front::Nginx).await;
    // Recreate stops every old pod before a new one starts: users see failures.
    assert!(report.failed > 0, "recreate without downtime?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_good() {
    let (_, _, report) = good("rolling", ROLLING, Front::Nginx).await;
    assert!(
        report.failed_ratio() < 0.01,
        "rolling failed {:.2}%",
        report.failed_ratio() * 100.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_good() {
    let (_, _, report) = good("blue-green", BLUE_GREEN, Front::Nginx).await;
    assert!(
        report.failed_ratio() < 0.01,
        "blue-green failed {:.2}%",
        report.failed_ratio() * 100.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_by_replica_ratio_good() {
    let (_, events, _) = good("canary", CANARY, Front::Nothing).await;
    assert!(events.all().iter().any(|(_, e)| matches!(
        e,
        Event::Weight {
            weight: 50,
            approximate: true
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_by_header_routes_the_group_and_compares() {
    let (_, _, report) = good("ab", AB, Front::Nginx).await;
    // The group with X-Variant: b saw v2 while the test ran; others only v1 until promotion.
    let group = report
        .per_group
        .iter()
        .find(|g| g.group == Some(0))
        .expect("group");
    assert!(
        group.by_version.get("v2").copied().unwrap_or(0) > 0,
        "{:?}",
        group.by_version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mirrors_without_serving() {
    let (_, _, report) = good("shadow", SHADOW, Front::Route).await;
    assert!(report.failed_ratio() < 0.01);
}

/// The bad images and the gate messages that may catch them.
const BAD: [(&str, &str); 3] = [
    ("v2-errors", "smoke|is worse"),
    ("v2-crash", "CrashLoopBackOff|restarted"),
    ("v2-never-ready", "not ready"),
];

async fn all_bad(name: &str, head: &str, front: Front) {
    for (image, why) in BAD {
        bad(name, head, front, image, why).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_rolls_back_bad_images() {
    all_bad("recreate", RECREATE, Front::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_rolls_back_bad_images() {
    all_bad("rolling", ROLLING, Front::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_rolls_back_bad_images() {
    all_bad("blue-green", BLUE_GREEN, Front::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_by_replica_ratio_rolls_back_bad_images() {
    all_bad("canary", CANARY, Front::Nothing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_rolls_back_bad_images() {
    all_bad("ab", AB, Front::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_rolls_back_bad_images() {
    all_bad("shadow", SHADOW, Front::Route).await;
}
