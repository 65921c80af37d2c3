//! Every strategy with the API server failing one request in ten (500, 429 with Retry-After,
//! 409 on writes) and dropping watches and delaying requests besides: a good image still
//! ends done, a bad one rolled back, with the Service's pods all on the expected image and
//! nothing left over. The test's own client is spared the faults (it counts as one of the
//! cluster's components); the orchestrator's is not.

use std::sync::Arc;
use std::time::Duration;

use crate::common::TestCluster;
use crate::common::rollouts::{
    Events, Front, HOST, checks, deploy_web, leftovers, options, request, strategy_file, stray_pods,
};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use kubesim::api::faults::FaultProfile;
use kubesim::traffic::{Traffic, TrafficSpec};
use rollout_core::report::Finish;
use serde_json::{Value, json};

/// About one request in ten fails: writes meet 500, 429 and 409; reads 500 and 429. A
/// tenth of the watches is cut within 2s of its start, a tenth of the requests waits 50ms.
pub const TEN_PERCENT: &str = r#"
seed: 12
rules:
  - {fault: 409, share: 5%}
  - {fault: 500, share: 3%, verbs: [create, update, patch, delete]}
  - {fault: 429, share: 2%, verbs: [create, update, patch, delete], retryAfter: 1s}
  - {fault: 500, share: 5%, verbs: [get, list]}
  - {fault: 429, share: 5%, verbs: [get, list], retryAfter: 1s}
  - {fault: drop-watch, share: 10%, after: 2s}
  - {fault: latency, share: 10%, delay: 50ms}
"#;

/// The strategies as the strategy tests write them, with the front each runs behind.
pub const STRATEGIES: [(&str, &str, Front); 6] = [
    (
        "recreate",
        "strategy: recreate\nverify: [smoke]",
        Front::Nginx,
    ),
    (
        "rolling",
        "strategy: rolling\nmaxSurge: 1\nmaxUnavailable: 0\nverify: [smoke]",
        Front::Nginx,
    ),
    (
        "blue-green",
        "strategy: blue-green\nprePromotion: [smoke-new]\npostPromotion: [smoke]\npostPromotionWindow: 500ms\nscaleDownDelay: 0s",
        Front::Nginx,
    ),
    (
        "canary",
        "strategy: canary\nsteps:\n  - setWeight: 50\n  - pause: 1s\n  - analysis: smoke",
        Front::Nginx,
    ),
    (
        "ab",
        "strategy: ab\nmatch:\n  - header: X-Variant\n    value: b\nduration: 3s\ncompare:\n  metric: [error-rate]\n  maxErrorRateIncrease: 5%\n  minSamples: 10\npromote: if-no-worse",
        Front::Nginx,
    ),
    (
        "shadow",
        "strategy: shadow\nmirror: 100%\nduration: 2s\ncompare:\n  metric: [error-rate]\n  maxErrorRateIncrease: 5%\n  minSamples: 10\npromote: if-no-worse",
        Front::Route,
    ),
];

/// A strategy file: the strategy, a progress deadline and the checks its steps name.
pub fn strategy(tc: &TestCluster, name: &str, head: &str) -> String {
    strategy_file(
        tc,
        name,
        &format!("{head}\nprogressDeadline: 20s\n{}", checks("200ms", "4s")),
    )
}

/// What is left when the rollout is over: the app's own objects, on `image`.
pub fn clean(front: Front, image: &str) -> Value {
    let ingresses: Vec<&str> = if front == Front::Nginx {
        vec!["web"]
    } else {
        vec![]
    };
    json!({"deployments": ["web"], "services": ["kubernetes", "web"], "ingresses": ingresses, "leases": [],
           "selector": {"app": "web"}, "image": image, "record": null})
}

/// Waits until every pod the Service `web` selects runs `image` (old ones may still be on
/// their way out when the rollout ends).
pub async fn service_pods_on(c: &kube::Client, ns: &str, image: &str) {
    let services: Api<Service> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    crate::common::eventually(
        &format!("the Service's pods all on {image}"),
        Duration::from_secs(30),
        || async {
            let selector = services.get("web").await.ok()?.spec?.selector?;
            let query: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let selected = pods
                .list(&ListParams::default().labels(&query.join(",")))
                .await
                .ok()?
                .items;
            let images: Vec<String> = selected
                .iter()
                .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
                .collect();
            (!images.is_empty() && images.iter().all(|i| i == image)).then_some(())
        },
    )
    .await;
}

/// A cluster whose API server injects [`TEN_PERCENT`] into every client but the test's own,
/// with draws seeded by `seed`. (Draws depend on the request's path and how many came
/// before with that path: runs that make the same requests under one seed meet the same
/// faults, so each run gets a seed of its own.)
async fn faulty_cluster(seed: &str) -> TestCluster {
    let mut profile = FaultProfile::from_yaml(TEN_PERCENT, "TEN_PERCENT").expect("fault profile");
    profile.seed = seed.bytes().fold(profile.seed, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let mut tc = TestCluster::start_with(kubesim::SimOptions {
        bookmark_interval: Duration::from_millis(200),
        time_scale: 20.0,
        faults: Some(profile),
        ..Default::default()
    })
    .await;
    tc.client = tc
        .cluster
        .component_client("test")
        .await
        .expect("the test's client");
    tc
}

/// Users of `host` through the cluster's ingress, half of them in the A/B test's group: the
/// comparisons judge what they see.
pub fn traffic(tc: &TestCluster, host: &str, rate: f64) -> Traffic {
    let addr = tc.cluster.ingress().expect("ingress").addr();
    let mut spec = TrafficSpec::new(addr, host);
    spec.rate_per_second = rate;
    spec.duration = Some(Duration::from_secs(60));
    spec.groups
        .push(kubesim::traffic::parse_group("50%:header:X-Variant=b").expect("group"));
    Traffic::start(spec).expect("traffic")
}

/// Rolls `image` out with strategy `name` under faults; asserts it ends `finish` with the
/// Service's pods on `ends_on` and nothing else left. Returns the faults injected.
async fn under_faults(
    name: &str,
    head: &str,
    front: Front,
    image: &str,
    finish: Finish,
    ends_on: &str,
) -> kubesim::api::faults::FaultCounts {
    let tc = faulty_cluster(&format!("{name} {image}")).await;
    deploy_web(&tc, "web:v1", 2, front).await;
    let _load = traffic(&tc, HOST, 100.0);
    let events = Arc::new(Events::default());
    let path = strategy(&tc, name, head);
    let orchestrator = tc
        .cluster
        .client()
        .await
        .expect("the orchestrator's client");
    let cluster = rollout_core::cluster::Cluster::new(orchestrator, "default");
    let outcome =
        rollout_core::engine::start::run(cluster, &request(&path, image), options(&tc), events)
            .await
            .expect("the rollout starts");
    let injected = tc.cluster.faults_injected().expect("faults were injected");
    assert_eq!(
        outcome.finish, finish,
        "{name} {image}: {:?} ({injected})",
        outcome.reason
    );
    assert_eq!(
        leftovers(&tc).await,
        clean(front, ends_on),
        "{name} {image}"
    );
    assert!(stray_pods(&tc).await.is_empty(), "{name} {image}");
    service_pods_on(&tc.client, "default", ends_on).await;
    let errors = injected.internal_error + injected.throttle + injected.conflict;
    assert!(
        errors > 0,
        "{name} {image}: no fault met the rollout ({injected})"
    );
    eprintln!("faults: {name} {image} ended {finish:?}; {injected}");
    injected
}

/// A good image ends done, a bad one (errors) rolled back, both under faults.
async fn strategy_under_faults(name: &str) {
    let (name, head, front) = STRATEGIES
        .iter()
        .copied()
        .find(|(n, _, _)| *n == name)
        .expect("a strategy");
    under_faults(name, head, front, "v2", Finish::Done, "web:v2").await;
    under_faults(name, head, front, "v2-errors", Finish::RolledBack, "web:v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_under_faults() {
    strategy_under_faults("recreate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_under_faults() {
    strategy_under_faults("rolling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_under_faults() {
    strategy_under_faults("blue-green").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_under_faults() {
    strategy_under_faults("canary").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_under_faults() {
    strategy_under_faults("ab").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_under_faults() {
    strategy_under_faults("shadow").await;
}

/// `rollout sim up --faults FILE` injects the file's faults; a wrong file is refused with
/// its line before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_up_takes_a_fault_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "rules:\n  - {fault: 404, share: 5%}\n").expect("write");
    let out = tokio::task::spawn_blocking({
        let bad = bad.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
                .args([
                    "sim",
                    "up",
                    "--port",
                    "0",
                    "--ingress-port",
                    "0",
                    "--faults",
                ])
                .arg(&bad)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run")
        }
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("bad.yaml:2:"), "names the line: {stderr}");

    let good = dir.path().join("faults.yaml");
    std::fs::write(
        &good,
        "rules:\n  - {fault: 500, share: 100%, resources: [configmaps]}\n",
    )
    .expect("write");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut sim = std::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args([
            "sim",
            "up",
            "--port",
            "0",
            "--ingress-port",
            "0",
            "--faults",
        ])
        .arg(&good)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sim up");
    let client =
        crate::common::eventually("sim up's kubeconfig", Duration::from_secs(30), || async {
            let text = std::fs::read_to_string(&kubeconfig).ok()?;
            let kc = kube::config::Kubeconfig::from_yaml(&text).ok()?;
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .ok()?;
            let client = kube::Client::try_from(config).ok()?;
            client.apiserver_version().await.ok()?;
            Some(client)
        })
        .await;
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "default");
    let refused = configmaps.list(&Default::default()).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let listed = pods.list(&Default::default()).await;
    let _ = sim.kill();
    let _ = sim.wait();
    match refused {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"), "{s:?}");
            assert!(s.message.contains("injected fault"), "{s:?}");
        }
        other => panic!("configmaps: expected the injected 500: {other:?}"),
    }
    assert!(listed.is_ok(), "pods are not faulted: {listed:?}");
}
