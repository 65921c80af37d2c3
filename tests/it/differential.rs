//! The same Deployment updates on the embedded cluster and on a real control plane: rolling
//! updates with several maxSurge / maxUnavailable pairs, Recreate, pause and resume, and undo.
//! Each run is traced — the sequence of ReplicaSet sizes, the Progressing and Available
//! conditions as they change, the revision annotations and the final status — and the traces
//! are compared field by field.
//!
//! With a real control plane at hand (`scripts/real-k8s.sh test`) both targets run live. Without
//! one, the embedded cluster is compared with the traces recorded from Kubernetes 1.20.2 in
//! `tests/fixtures/differential-k8s-1.20.2.json` (`ROLLOUT_DIFFERENTIAL_RECORD=FILE` writes
//! them on a real run).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::common;
use crate::conformance::Platform;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/differential-k8s-1.20.2.json"
);

/// How a scenario's ReplicaSet sizes are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Steps {
    /// Step by step: one new pod at a time is in flight, so every state is determined.
    Exact,
    /// First and last state, and every state within replicas + maxSurge: with two new pods in
    /// flight, whether the old ReplicaSet steps down by one or by two depends on whether the
    /// controller saw both become available in one sync (seen differ between runs of the
    /// same real control plane).
    Bounded,
}

#[derive(Debug, Clone, Copy)]
enum Change {
    /// `kubectl set image` to this tag.
    Image(&'static str),
    Pause,
    Resume,
    /// `kubectl rollout undo`.
    Undo,
}

struct Scenario {
    name: &'static str,
    strategy: Value,
    changes: &'static [Change],
    steps: Steps,
}

fn scenarios() -> Vec<Scenario> {
    let rolling = |surge: Value, unavailable: Value| json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}});
    vec![
        Scenario {
            name: "rolling surge 1 unavailable 0",
            strategy: rolling(json!(1), json!(0)),
            steps: Steps::Exact,
            changes: &[Change::Image("v2")],
        },
        Scenario {
            name: "rolling surge 0 unavailable 1",
            strategy: rolling(json!(0), json!(1)),
            steps: Steps::Exact,
            changes: &[Change::Image("v2")],
        },
        Scenario {
            name: "rolling surge 25% unavailable 25%",
            strategy: rolling(json!("25%"), json!("25%")),
            steps: Steps::Bounded,
            changes: &[Change::Image("v2")],
        },
        Scenario {
            name: "rolling surge 2 unavailable 0",
            strategy: rolling(json!(2), json!(0)),
            steps: Steps::Bounded,
            changes: &[Change::Image("v2")],
        },
        Scenario {
            name: "recreate",
            strategy: json!({"type": "Recreate"}),
            steps: Steps::Exact,
            changes: &[Change::Image("v2")],
        },
        Scenario {
            name: "pause, update, resume",
            strategy: rolling(json!(1), json!(0)),
            steps: Steps::Exact,
            changes: &[Change::Pause, Change::Image("v2"), Change::Resume],
        },
        Scenario {
            name: "update then undo",
            strategy: rolling(json!(1), json!(0)),
            steps: Steps::Exact,
            changes: &[Change::Image("v2"), Change::Undo],
        },
    ]
}

/// What a run leaves to compare, as JSON (field name → value).
type Trace = BTreeMap<String, Value>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_updates_match_a_real_control_plane() {
    if !common::have_kubectl() {
        return;
    }
    let embedded = Platform::embedded().await;
    let real = Platform::real().await;
    let reference: BTreeMap<String, Trace> = match &real {
        Some(real) => {
            let mut traces = BTreeMap::new();
            for s in scenarios() {
                traces.insert(s.name.to_owned(), run(real, &s).await);
            }
            if let Some(path) = std::env::var("ROLLOUT_DIFFERENTIAL_RECORD")
                .ok()
                .filter(|p| !p.is_empty())
            {
                let text = serde_json::to_string_pretty(&traces).expect("json");
                std::fs::write(&path, text + "\n").expect("record the traces");
            }
            traces
        }
        None => serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("fixture"))
            .expect("fixture JSON"),
    };
    let mut differences = Vec::new();
    for s in scenarios() {
        let ours = run(&embedded, &s).await;
        let theirs = reference.get(s.name).cloned().unwrap_or_default();
        let (ours, theirs) = (compared(&s, ours), compared(&s, theirs));
        for field in ours.keys().chain(theirs.keys()) {
            let (a, b) = (ours.get(field), theirs.get(field));
            if a == b {
                continue;
            }
            let line = format!(
                "{}: {field}\n  embedded: {}\n  real:     {}",
                s.name,
                a.map_or("-".into(), Value::to_string),
                b.map_or("-".into(), Value::to_string)
            );
            differences.push(line);
        }
    }
    differences.dedup();
    assert!(
        differences.is_empty(),
        "the embedded cluster differs from Kubernetes:\n{}",
        differences.join("\n")
    );
}

/// The trace as compared: for [`Steps::Bounded`], the sizes' first and last states and
/// whether every state kept within the bounds, instead of every state.
fn compared(s: &Scenario, mut trace: Trace) -> Trace {
    if s.steps == Steps::Bounded {
        let sizes = trace.remove("replicaset sizes").unwrap_or_default();
        let states = sizes.as_array().cloned().unwrap_or_default();
        trace.insert(
            "replicaset sizes".into(),
            json!({"first": states.first(), "last": states.last(),
                   "within replicas + maxSurge": within_bounds(s, &sizes)}),
        );
    }
    trace
}

/// Every state of a rolling update keeps at most replicas + maxSurge pods (4 replicas).
fn within_bounds(s: &Scenario, sizes: &Value) -> bool {
    let surge = match &s.strategy["rollingUpdate"]["maxSurge"] {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        // 25% of 4, rounded up.
        Value::String(p) if p == "25%" => 1,
        _ => 0,
    };
    sizes.as_array().into_iter().flatten().all(|state| {
        let total: i64 = state
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, n)| n.as_i64())
            .sum();
        total <= 4 + surge
    })
}

/// Runs one scenario in a fresh namespace of `t` and traces it.
async fn run(t: &Platform, s: &Scenario) -> Trace {
    let ns = t.namespace("diff").await;
    let recorder = Recorder::start(t.client.clone(), &ns).await;
    let api: Api<Deployment> = Api::namespaced(t.client.clone(), &ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": s.strategy,
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "app", "image": "web:v1", "ports": [{"name": "http", "containerPort": 8080}],
                                                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}}]}}
        }
    }))
    .expect("deployment");
    api.create(&PostParams::default(), &d)
        .await
        .expect("create");
    settled(&api, &recorder).await;
    // How the first rollout's conditions go depends on how soon its pods are ready against
    // how soon the controller sees them (a real one works from informer caches that lag):
    // conditions are traced from the first change on.
    recorder.forget_conditions();
    let mut paused_view = Value::Null;
    for change in s.changes {
        match change {
            Change::Image(tag) => {
                t.kubectl(
                    &ns,
                    &["set", "image", "deployment/web", &format!("app=web:{tag}")],
                );
            }
            Change::Pause => {
                t.kubectl(&ns, &["rollout", "pause", "deployment/web"]);
            }
            Change::Resume => {
                t.kubectl(&ns, &["rollout", "resume", "deployment/web"]);
            }
            Change::Undo => {
                t.kubectl(&ns, &["rollout", "undo", "deployment/web"]);
            }
        }
        let paused = api
            .get("web")
            .await
            .ok()
            .and_then(|d| d.spec?.paused)
            .unwrap_or(false);
        if paused {
            // Nothing rolls out while paused: the controller only says so.
            paused_view = observed_paused(&api).await;
        } else {
            settled(&api, &recorder).await;
        }
    }
    let mut trace = recorder.stop();
    trace.insert("while paused".into(), paused_view);
    trace.extend(final_state(t, &ns).await);
    t.forget(&ns).await;
    trace
}

/// Waits until the Deployment has rolled out and the recorder has seen its last ReplicaSet
/// sizes.
async fn settled(api: &Api<Deployment>, recorder: &Recorder) {
    common::eventually("the rollout to finish", Duration::from_secs(90), || async {
        let d = api.get("web").await.ok()?;
        rollout_core::engine::rolled_out(&d).ok()?.then_some(())
    })
    .await;
    let rs: Api<ReplicaSet> = Api::namespaced(api.clone().into_client(), recorder.namespace());
    common::eventually("the trace to catch up", Duration::from_secs(30), || async {
        let sets = rs.list(&Default::default()).await.ok()?.items;
        let d = api.get("web").await.ok()?;
        let seen = recorder.seen.lock().ok()?;
        (seen.sizes.last() == Some(&sizes(sets.iter()))
            && seen.deployment_version == d.metadata.resource_version)
            .then_some(())
    })
    .await;
}

/// The Progressing condition and the ReplicaSets once a paused Deployment's change is seen.
async fn observed_paused(api: &Api<Deployment>) -> Value {
    common::eventually(
        "the paused change to be observed",
        Duration::from_secs(30),
        || async {
            let d = api.get("web").await.ok()?;
            let status = d.status.as_ref()?;
            if status.observed_generation? < d.metadata.generation? {
                return None;
            }
            let progressing = condition(&d, "Progressing")?;
            (progressing["reason"] == "DeploymentPaused").then_some(progressing)
        },
    )
    .await
}

fn condition(d: &Deployment, kind: &str) -> Option<Value> {
    let c = d
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)?;
    Some(json!({"status": c.status, "reason": c.reason}))
}

/// Spec sizes of the ReplicaSets, by image.
fn sizes<'a>(sets: impl Iterator<Item = &'a ReplicaSet>) -> BTreeMap<String, i32> {
    sets.filter_map(|rs| {
        let spec = rs.spec.as_ref()?;
        let image = spec
            .template
            .as_ref()?
            .spec
            .as_ref()?
            .containers
            .first()?
            .image
            .clone()?;
        Some((image, spec.replicas.unwrap_or(1)))
    })
    .collect()
}

/// Revisions and status at the end.
async fn final_state(t: &Platform, ns: &str) -> Trace {
    let d = Api::<Deployment>::namespaced(t.client.clone(), ns)
        .get("web")
        .await
        .expect("web");
    let sets = Api::<ReplicaSet>::namespaced(t.client.clone(), ns)
        .list(&Default::default())
        .await
        .expect("replicasets")
        .items;
    let annotation =
        |m: &kube::api::ObjectMeta, k: &str| m.annotations.as_ref().and_then(|a| a.get(k)).cloned();
    let mut revisions = BTreeMap::new();
    for rs in &sets {
        let image = sizes(std::iter::once(rs))
            .into_keys()
            .next()
            .unwrap_or_default();
        let status = rs.status.clone().unwrap_or_default();
        revisions.insert(
            image,
            json!({
                "revision": annotation(&rs.metadata, "deployment.kubernetes.io/revision"),
                "revision-history": annotation(&rs.metadata, "deployment.kubernetes.io/revision-history"),
                "desired-replicas": annotation(&rs.metadata, "deployment.kubernetes.io/desired-replicas"),
                "max-replicas": annotation(&rs.metadata, "deployment.kubernetes.io/max-replicas"),
                "status": {"replicas": status.replicas, "ready": status.ready_replicas,
                           "available": status.available_replicas},
            }),
        );
    }
    let status = d.status.clone().unwrap_or_default();
    let mut trace = Trace::new();
    trace.insert("replicasets at the end".into(), json!(revisions));
    trace.insert(
        "deployment at the end".into(),
        json!({
            "revision": annotation(&d.metadata, "deployment.kubernetes.io/revision"),
            "observed generation is current": status.observed_generation == d.metadata.generation,
            "replicas": status.replicas, "updatedReplicas": status.updated_replicas,
            "readyReplicas": status.ready_replicas, "availableReplicas": status.available_replicas,
            "unavailableReplicas": status.unavailable_replicas,
            "collisionCount": status.collision_count,
            "Available": condition(&d, "Available"),
            "Progressing": condition(&d, "Progressing"),
        }),
    );
    trace
}

/// Watches a namespace's ReplicaSets and its Deployment and keeps what changed, in order.
struct Recorder {
    namespace: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Seen {
    sets: BTreeMap<String, ReplicaSet>,
    /// Watches that have delivered their initial state.
    synced: usize,
    /// The resourceVersion of the last Deployment seen.
    deployment_version: Option<String>,
    /// ReplicaSet sizes by image, each change once.
    sizes: Vec<BTreeMap<String, i32>>,
    /// The Deployment's Progressing and Available conditions, each change once.
    progressing: Vec<Value>,
    available: Vec<Value>,
}

impl Seen {
    fn push<T: PartialEq>(list: &mut Vec<T>, v: T) {
        if list.last() != Some(&v) {
            list.push(v);
        }
    }
}

impl Recorder {
    /// Starts watching; returns once both watches are established, so that nothing done
    /// after is missed.
    async fn start(client: kube::Client, ns: &str) -> Recorder {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sets = watcher(
            Api::<ReplicaSet>::namespaced(client.clone(), ns),
            watcher::Config::default(),
        )
        .map(|e| e.map(Observed::Set));
        let deployments = watcher(
            Api::<Deployment>::namespaced(client, ns),
            watcher::Config::default(),
        )
        .map(|e| e.map(Observed::Deployment));
        let mut events = futures::stream::select(sets, deployments).boxed();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                let mut seen = s.lock().expect("lock");
                match event {
                    Observed::Set(watcher::Event::InitDone)
                    | Observed::Deployment(watcher::Event::InitDone) => {
                        seen.synced += 1;
                        continue;
                    }
                    Observed::Set(watcher::Event::Apply(rs) | watcher::Event::InitApply(rs)) => {
                        let name = rs.metadata.name.clone().unwrap_or_default();
                        seen.sets.insert(name, rs);
                    }
                    Observed::Set(watcher::Event::Delete(rs)) => {
                        seen.sets
                            .remove(&rs.metadata.name.clone().unwrap_or_default());
                    }
                    Observed::Deployment(
                        watcher::Event::Apply(d) | watcher::Event::InitApply(d),
                    ) => {
                        seen.deployment_version = d.metadata.resource_version.clone();
                        if let Some(c) = condition(&d, "Progressing") {
                            Seen::push(&mut seen.progressing, c);
                        }
                        if let Some(c) = condition(&d, "Available") {
                            Seen::push(&mut seen.available, c);
                        }
                        continue;
                    }
                    _ => continue,
                }
                let now = sizes(seen.sets.values());
                Seen::push(&mut seen.sizes, now);
            }
        });
        let recorder = Recorder {
            namespace: ns.to_owned(),
            seen,
            task,
        };
        common::eventually("the watches to start", Duration::from_secs(30), || async {
            (recorder.seen.lock().ok()?.synced >= 2).then_some(())
        })
        .await;
        recorder
    }

    fn forget_conditions(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.progressing.clear();
            seen.available.clear();
        }
    }

    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn stop(self) -> Trace {
        self.task.abort();
        let seen = self.seen.lock().expect("lock");
        let mut trace = Trace::new();
        trace.insert("replicaset sizes".into(), json!(seen.sizes));
        trace.insert("Progressing over time".into(), json!(seen.progressing));
        trace.insert("Available over time".into(), json!(seen.available));
        trace
    }
}

enum Observed {
    Set(watcher::Event<ReplicaSet>),
    Deployment(watcher::Event<Deployment>),
}
