//! Apps sized by a HorizontalPodAutoscaler, on the embedded cluster whose autoscaler scales on
//! the CPU the pods spend serving requests: every strategy leaves the app's replica count to
//! its autoscaler (who wrote each replica count is read from `managedFields`), the new
//! version gets a copy of the autoscaler sized to its share, and the app's autoscaler is the
//! same object after the rollout as before.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kubesim::testing::eventually;
use kubesim::traffic::{Traffic, TrafficSpec};
use rollout_core::cluster::api::FIELD_MANAGER;
use rollout_core::report::Finish;
use serde_json::{Value, json};

use crate::common::TestCluster;
use crate::common::rollouts::{
    Events, Front, HOST, checks, deploy_web, leftovers, request, run, strategy_file,
};

/// One change of the app's replica count: the new count and the manager that owns
/// `spec.replicas` after it (the one that wrote it).
#[derive(Debug, Clone, PartialEq)]
struct ReplicaWrite {
    replicas: i32,
    by: String,
}

/// Every change of `web`'s `spec.replicas` from now on.
struct ReplicaLog {
    writes: Arc<Mutex<Vec<ReplicaWrite>>>,
    task: tokio::task::JoinHandle<()>,
}

fn owner_of_replicas(d: &Deployment) -> String {
    d.metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|e| {
            e.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:replicas").is_some())
        })
        .and_then(|e| e.manager.clone())
        .unwrap_or_default()
}

impl ReplicaLog {
    fn start(tc: &TestCluster) -> ReplicaLog {
        let api: Api<Deployment> = Api::default_namespaced(tc.client.clone());
        let writes = Arc::new(Mutex::new(Vec::<ReplicaWrite>::new()));
        let log = writes.clone();
        let task = tokio::spawn(async move {
            let config = watcher::Config::default().fields("metadata.name=web");
            let mut last: Option<i32> = None;
            let mut stream = watcher::watcher(api, config).boxed();
            while let Some(event) = stream.next().await {
                let objects = match event {
                    Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => vec![d],
                    _ => continue,
                };
                for d in objects {
                    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    if last.is_some_and(|l| l != replicas) {
                        log.lock().expect("log").push(ReplicaWrite {
                            replicas,
                            by: owner_of_replicas(&d),
                        });
                    }
                    last = Some(replicas);
                }
            }
        });
        ReplicaLog { writes, task }
    }

    fn stop(self) -> Vec<ReplicaWrite> {
        self.task.abort();
        self.writes.lock().expect("log").clone()
    }
}

/// `web` (v1) with a CPU request, pods that spend 200 ms of CPU per request, and an
/// autoscaler (2–6 replicas, 50 % CPU) — under `rate` requests a second through the ingress,
/// until the autoscaler has scaled it above its minimum.
async fn autoscaled_web(tc: &TestCluster, rate: f64) -> Traffic {
    deploy_web(tc, "web:v1", 2, Front::Nginx).await;
    let deployments: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{
                "name": "app",
                "env": [{"name": "SIM_LATENCY", "value": "200ms"}],
                "resources": {"requests": {"cpu": "200m"}}
            }]}}}})),
        )
        .await
        .expect("patch web");
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 6,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                         "target": {"type": "Utilization", "averageUtilization": 50}}}]
        }
    }))
    .expect("hpa");
    Api::<HorizontalPodAutoscaler>::default_namespaced(tc.client.clone())
        .create(&PostParams::default(), &hpa)
        .await
        .expect("create hpa");
    let mut spec = TrafficSpec::new(tc.cluster.ingress().expect("ingress").addr(), HOST);
    spec.rate_per_second = rate;
    spec.duration = Some(Duration::from_secs(240));
    let load = Traffic::start(spec).expect("traffic");
    eventually(
        "the autoscaler to scale web above its minimum",
        Duration::from_secs(60),
        || async {
            let d = deployments.get("web").await.ok()?;
            let status = d.status?;
            (d.spec?.replicas? > 2 && status.ready_replicas? > 2).then_some(())
        },
    )
    .await;
    load
}

/// The app's autoscaler as a user would compare it: everything but what the server keeps.
async fn app_autoscaler(tc: &TestCluster) -> Value {
    let hpa = Api::<HorizontalPodAutoscaler>::default_namespaced(tc.client.clone())
        .get("web")
        .await
        .expect("the app's autoscaler");
    json!({"labels": hpa.metadata.labels, "annotations": hpa.metadata.annotations,
           "uid": hpa.metadata.uid, "spec": hpa.spec})
}

async fn autoscaler_names(tc: &TestCluster) -> Vec<String> {
    Api::<HorizontalPodAutoscaler>::default_namespaced(tc.client.clone())
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|h| h.metadata.name)
        .collect()
}

/// The writes of `spec.replicas` the rollout made: never one that lowers the count.
fn rollout_writes(log: &[ReplicaWrite]) -> Vec<ReplicaWrite> {
    let mut before = None;
    let mut mine = Vec::new();
    for w in log {
        if w.by == FIELD_MANAGER {
            assert!(
                before.is_none_or(|b| w.replicas > b),
                "the rollout lowered the app's replica count: {log:?}"
            );
            mine.push(w.clone());
        }
        before = Some(w.replicas);
    }
    mine
}

const CANARY: &str =
    "strategy: canary\nsteps:\n  - setWeight: 50\n  - pause: 3s\n  - analysis: smoke\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_of_an_autoscaled_app_never_fights_its_autoscaler() {
    let tc = TestCluster::fast(20.0).await;
    let _load = autoscaled_web(&tc, 40.0).await;
    let before = app_autoscaler(&tc).await;
    let log = ReplicaLog::start(&tc);
    // The copy of the autoscaler, as the canary ran at 50 %.
    let watch_copy = {
        let api: Api<HorizontalPodAutoscaler> = Api::default_namespaced(tc.client.clone());
        tokio::spawn(async move {
            eventually(
                "the canary's autoscaler",
                Duration::from_secs(120),
                || async { api.get("web-canary").await.ok()?.spec },
            )
            .await
        })
    };
    let path = strategy_file(
        &tc,
        "canary",
        &format!("{CANARY}{}", checks("200ms", "10s")),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let writes = log.stop();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);

    let copy = watch_copy.await.expect("copy watcher");
    assert_eq!(copy.scale_target_ref.name, "web-canary");
    assert_eq!(
        (copy.min_replicas, copy.max_replicas),
        (Some(1), 3),
        "bounds scaled to the canary's 50 %"
    );
    let original: Value = before["spec"]["metrics"].clone();
    assert_eq!(
        serde_json::to_value(&copy.metrics).expect("metrics"),
        original,
        "the copy scales on the app's metrics"
    );

    let by_hpa = writes.iter().filter(|w| w.by != FIELD_MANAGER).count();
    let mine = rollout_writes(&writes);
    assert!(
        mine.len() <= 1,
        "at most one raise before requests come back to the app: {writes:?}"
    );
    assert!(
        by_hpa + mine.len() == writes.len(),
        "every write is the autoscaler's or the rollout's: {writes:?}"
    );
    assert_eq!(
        app_autoscaler(&tc).await,
        before,
        "the app's autoscaler is as it was"
    );
    assert_eq!(autoscaler_names(&tc).await, vec!["web".to_owned()]);
    let left = leftovers(&tc).await;
    assert_eq!(left["deployments"], json!(["web"]), "{left}");
    assert_eq!(left["image"], json!("web:v2"), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_canary_of_an_autoscaled_app_removes_the_copy() {
    let tc = TestCluster::fast(20.0).await;
    let _load = autoscaled_web(&tc, 40.0).await;
    let before = app_autoscaler(&tc).await;
    let log = ReplicaLog::start(&tc);
    let path = strategy_file(
        &tc,
        "canary",
        &format!("{CANARY}{}", checks("200ms", "10s")),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2-errors"), &events).await;
    let writes = log.stop();
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    assert!(
        rollout_writes(&writes).len() <= 1,
        "at most one raise before requests come back to the app: {writes:?}"
    );
    assert_eq!(app_autoscaler(&tc).await, before);
    assert_eq!(autoscaler_names(&tc).await, vec!["web".to_owned()]);
    let left = leftovers(&tc).await;
    assert_eq!(left["deployments"], json!(["web"]), "{left}");
    assert_eq!(left["image"], json!("web:v1"), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_of_an_autoscaled_app_starts_green_at_blues_count() {
    let tc = TestCluster::fast(20.0).await;
    let _load = autoscaled_web(&tc, 40.0).await;
    let before = app_autoscaler(&tc).await;
    let deployments: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    let blue_now = deployments
        .get("web")
        .await
        .expect("web")
        .spec
        .and_then(|s| s.replicas)
        .expect("replicas");
    let green_first = {
        let api = deployments.clone();
        tokio::spawn(async move {
            eventually("green scaled up", Duration::from_secs(120), || async {
                let r = api.get("web-green").await.ok()?.spec?.replicas?;
                (r > 0).then_some(r)
            })
            .await
        })
    };
    let log = ReplicaLog::start(&tc);
    let strategy = format!(
        "strategy: blue-green\nprePromotion: [smoke-new]\npostPromotion: [smoke]\npostPromotionWindow: 2s\nscaleDownDelay: 0s\n{}",
        checks("200ms", "10s")
    );
    let path = strategy_file(&tc, "bg", &strategy);
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let writes = log.stop();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    let green = green_first.await.expect("green watcher");
    // The autoscaler may have moved blue by one between the two reads.
    assert!(
        (green - blue_now).abs() <= 1 && green > 2,
        "green started at {green}, blue ran {blue_now}"
    );
    assert!(rollout_writes(&writes).len() <= 1, "{writes:?}");
    assert_eq!(app_autoscaler(&tc).await, before);
    assert_eq!(autoscaler_names(&tc).await, vec!["web".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_scales_an_autoscaled_app_to_zero_and_back_and_rolling_leaves_it_alone() {
    let tc = TestCluster::fast(20.0).await;
    let _load = autoscaled_web(&tc, 40.0).await;
    let before = app_autoscaler(&tc).await;
    let had = Api::<Deployment>::default_namespaced(tc.client.clone())
        .get("web")
        .await
        .expect("web")
        .spec
        .and_then(|s| s.replicas)
        .expect("replicas");
    let log = ReplicaLog::start(&tc);
    let path = strategy_file(
        &tc,
        "recreate",
        &format!(
            "strategy: recreate\nverify: [smoke]\n{}",
            checks("200ms", "10s")
        ),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let writes = log.stop();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    let mine = rollout_writes_any(&writes);
    assert_eq!(
        mine.first().map(|w| w.replicas),
        Some(0),
        "scaled to 0: {writes:?}"
    );
    let back = mine.get(1).map(|w| w.replicas).unwrap_or(0);
    assert!(
        (back - had).abs() <= 1 && mine.len() == 2,
        "back to the count it had ({had}): {writes:?}"
    );
    assert_eq!(app_autoscaler(&tc).await, before);

    let log = ReplicaLog::start(&tc);
    let path = strategy_file(
        &tc,
        "rolling",
        &format!(
            "strategy: rolling\nmaxSurge: 1\nmaxUnavailable: 0\nverify: [smoke]\n{}",
            checks("200ms", "10s")
        ),
    );
    let outcome = run(&tc, &request(&path, "v3"), &events).await;
    let writes = log.stop();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    assert_eq!(rollout_writes_any(&writes), vec![], "{writes:?}");
    assert_eq!(app_autoscaler(&tc).await, before);
}

/// The rollout's writes of the replica count, whichever way they go.
fn rollout_writes_any(log: &[ReplicaWrite]) -> Vec<ReplicaWrite> {
    log.iter()
        .filter(|w| w.by == FIELD_MANAGER)
        .cloned()
        .collect()
}
