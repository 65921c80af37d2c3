//! The embedded cluster's controllers (what kube-controller-manager runs on a real cluster):
//! Deployment, ReplicaSet, Endpoints / EndpointSlice, and the events they record; and the
//! garbage collector ([`gc`]), which the cluster runs even without the others, since without
//! it deletions would not cascade.
//!
//! The decisions are pure functions in the submodules; this runner feeds them the observed
//! state from the store and writes their decisions back through the store, so every change
//! passes admission and reaches watchers like any client's write. It reacts to store events
//! (no polling) and to the requeue times the decisions ask for (minReadySeconds, progress
//! deadlines).

pub mod autoscaler;
pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod gc;
pub mod hash;
pub mod hpa;
pub mod replicaset;
pub mod slices;

use crate::resources::{self, ResourceType};
use crate::store::{
    DeleteOptions, EventType, FieldSelector, LabelSelector, Part, Store, StoreError, WatchEvent,
    WriteOptions,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// What a controller works on: kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Deployment(String, String),
    ReplicaSet(String, String),
    Service(String, String),
}

fn rt(group: &str, plural: &str) -> &'static ResourceType {
    let version = "v1";
    resources::find(group, version, plural)
        .unwrap_or_else(|| unreachable!("{group}/{plural} is in the registry"))
}

pub(crate) fn deployments() -> &'static ResourceType {
    rt("apps", "deployments")
}
pub(crate) fn replicasets() -> &'static ResourceType {
    rt("apps", "replicasets")
}
pub(crate) fn pods() -> &'static ResourceType {
    rt("", "pods")
}
pub(crate) fn services() -> &'static ResourceType {
    rt("", "services")
}
fn endpoints_rt() -> &'static ResourceType {
    rt("", "endpoints")
}
fn slices_rt() -> &'static ResourceType {
    rt("discovery.k8s.io", "endpointslices")
}

pub(crate) fn name_ns(obj: &Value) -> (String, String) {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// The controller owner (kind, uid, name) of an object, if any.
fn controller_of(obj: &Value) -> Option<(String, String, String)> {
    obj.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            let s = |k: &str| {
                r.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (s("kind"), s("uid"), s("name"))
        })
}

/// Handle to the running controllers.
pub struct Controllers {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    lag: LagSink,
}

/// Where the runner reports how long changes waited to be synced, once someone listens.
type LagSink = Arc<std::sync::OnceLock<Arc<crate::clock::SimClock>>>;

impl Controllers {
    /// Starts the controllers; with `busy` (a node agent's per-pod busy time) the HPA
    /// controller runs too, every sync period divided by `time_scale`.
    pub fn start(store: Arc<Store>, busy: Option<autoscaler::BusyMicros>, time_scale: f64) -> Self {
        let (stop, stopping) = watch::channel(false);
        if let Some(busy) = busy {
            let mut hpa = autoscaler::Autoscaler::new(store.clone(), busy, time_scale);
            let mut stopping = stopping.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(hpa.period());
                loop {
                    tokio::select! {
                        _ = stopping.changed() => return,
                        _ = tick.tick() => hpa.sync_all(),
                    }
                }
            });
        }
        let feed = store.subscribe();
        let lag = LagSink::default();
        let runner = Runner {
            lag: lag.clone(),
            store,
            opts: WriteOptions {
                field_manager: "kube-controller-manager".into(),
                ..WriteOptions::system()
            },
        };
        let task = tokio::spawn(runner.run(feed, stopping));
        Self { stop, task, lag }
    }

    /// Reports the queue lag (from a change to the sync it caused) to the cluster's clock,
    /// which slows simulated time down when the controllers fall behind.
    pub fn report_lag_to(&self, clock: Arc<crate::clock::SimClock>) {
        let _ = self.lag.set(clock);
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Runner {
    store: Arc<Store>,
    opts: WriteOptions,
    lag: LagSink,
}

impl Runner {
    async fn run(
        self,
        mut feed: broadcast::Receiver<Arc<WatchEvent>>,
        mut stopping: watch::Receiver<bool>,
    ) {
        let mut dirty: BTreeSet<Key> = BTreeSet::new();
        let mut timers: BinaryHeap<Reverse<(Instant, Key)>> = BinaryHeap::new();
        // Since when the oldest unsynced change has waited.
        let mut waiting_since: Option<Instant> = None;
        self.enqueue_everything(&mut dirty);
        loop {
            let drain_began = Instant::now();
            while let Some(key) = dirty.pop_first() {
                if let Some(after) = self.sync(&key) {
                    timers.push(Reverse((Instant::now() + after, key)));
                }
                // A sync does not wait on anything, and a queue of them can take seconds with
                // thousands of pods: let the rest of the cluster (probes, the API server, a
                // stop) have the thread between two.
                tokio::task::yield_now().await;
                if *stopping.borrow() {
                    return;
                }
            }
            if let (Some(since), Some(clock)) = (waiting_since.take(), self.lag.get()) {
                clock.record_queue_lag(since.elapsed());
            }
            // Changes made while syncing have waited since then at most.
            if !feed.is_empty() {
                waiting_since = Some(drain_began);
            }
            let next_timer = timers.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                _ = stopping.changed() => return,
                received = feed.recv() => match received {
                    Ok(e) => {
                        waiting_since.get_or_insert_with(Instant::now);
                        self.enqueue_for(&e, &mut dirty);
                        // Take everything already queued before syncing once.
                        while let Ok(e) = feed.try_recv() {
                            self.enqueue_for(&e, &mut dirty);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => self.enqueue_everything(&mut dirty),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = sleep_until_opt(next_timer) => {
                    let now = Instant::now();
                    while timers.peek().is_some_and(|Reverse((at, _))| *at <= now) {
                        if let Some(Reverse((_, key))) = timers.pop() {
                            dirty.insert(key);
                        }
                    }
                }
            }
        }
    }

    fn enqueue_everything(&self, dirty: &mut BTreeSet<Key>) {
        for d in self.store.all(deployments(), None) {
            let (ns, name) = name_ns(&d);
            dirty.insert(Key::Deployment(ns, name));
        }
        for r in self.store.all(replicasets(), None) {
            let (ns, name) = name_ns(&r);
            dirty.insert(Key::ReplicaSet(ns, name));
        }
        for s in self.store.all(services(), None) {
            let (ns, name) = name_ns(&s);
            dirty.insert(Key::Service(ns, name));
        }
    }

    fn enqueue_for(&self, e: &WatchEvent, dirty: &mut BTreeSet<Key>) {
        let (ns, name) = name_ns(&e.object);
        match e.resource.plural {
            "deployments" if e.resource.group == "apps" => {
                dirty.insert(Key::Deployment(ns, name));
            }
            "replicasets" if e.resource.group == "apps" => {
                if let Some((kind, _, owner)) = controller_of(&e.object)
                    && kind == "Deployment"
                {
                    dirty.insert(Key::Deployment(ns.clone(), owner));
                }
                dirty.insert(Key::ReplicaSet(ns, name));
            }
            "pods" if e.resource.group.is_empty() => {
                if let Some((kind, _, owner)) = controller_of(&e.object)
                    && kind == "ReplicaSet"
                {
                    dirty.insert(Key::ReplicaSet(ns.clone(), owner.clone()));
                    // Recreate waits for old pods to stop: their Deployment must look again.
                    if e.event_type == EventType::Deleted
                        && let Ok(rs) = self.store.get(replicasets(), &ns, &owner)
                        && let Some((k, _, d)) = controller_of(&rs)
                        && k == "Deployment"
                    {
                        dirty.insert(Key::Deployment(ns.clone(), d));
                    }
                }
                for s in self.store.all(services(), Some(&ns)) {
                    let (sns, sname) = name_ns(&s);
                    dirty.insert(Key::Service(sns, sname));
                }
            }
            "services" if e.resource.group.is_empty() => {
                dirty.insert(Key::Service(ns, name));
            }
            _ => {}
        }
    }

    /// Runs one controller on one object; returns when to look again, if asked.
    fn sync(&self, key: &Key) -> Option<Duration> {
        let result = match key {
            Key::Deployment(ns, name) => self.sync_deployment(ns, name),
            Key::ReplicaSet(ns, name) => self.sync_replicaset(ns, name),
            Key::Service(ns, name) => self.sync_service(ns, name).map(|()| None),
        };
        match result {
            Ok(after) => after,
            Err(e) => {
                // A conflict means someone wrote in between: the event it made requeues us.
                tracing::debug!(?key, error = %e, "controller sync failed; retrying");
                Some(Duration::from_millis(200))
            }
        }
    }

    /// The objects of `rt` in `ns` that `uid` controls, from the store's owner index.
    fn owned(&self, rt: &'static ResourceType, ns: &str, uid: &str) -> Vec<Arc<Value>> {
        self.store
            .dependents(uid)
            .into_iter()
            .filter(|(r, o)| {
                std::ptr::eq(*r, rt)
                    && name_ns(o).0 == ns
                    && controller_of(o).is_some_and(|(_, u, _)| u == uid)
            })
            .map(|(_, o)| o)
            .collect()
    }

    fn sync_deployment(&self, ns: &str, name: &str) -> Result<Option<Duration>, StoreError> {
        let Ok(raw) = self.store.get(deployments(), ns, name) else {
            return Ok(None);
        };
        let d: Deployment = typed(&raw)?;
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let owned = self.owned(replicasets(), ns, &uid);
        let rss: Vec<ReplicaSet> = owned.iter().map(|o| typed(o)).collect::<Result<_, _>>()?;
        let now = jiff::Timestamp::now();
        let new_rs_name =
            deployment::find_new_replica_set(&d, &rss).and_then(|r| r.metadata.name.clone());
        let old_pods_running = rss
            .iter()
            .filter(|r| r.metadata.name != new_rs_name)
            .flat_map(|r| self.owned(pods(), ns, r.metadata.uid.as_deref().unwrap_or_default()))
            .filter(|p| {
                !matches!(
                    p.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                )
            })
            .count() as i32;
        let observed = deployment::Observed {
            deployment: &d,
            replica_sets: &rss,
            old_pods_running,
        };
        let actions = deployment::sync(&observed, now);
        let after = deployment::requeue_after(&observed, now);
        for action in actions {
            self.apply_deployment_action(&raw, action)?;
        }
        Ok(after)
    }

    fn apply_deployment_action(
        &self,
        d: &Value,
        action: deployment::Action,
    ) -> Result<(), StoreError> {
        let (ns, name) = name_ns(d);
        match action {
            deployment::Action::CreateReplicaSet(rs) => {
                let body = untyped(&*rs)?;
                match self.store.create(replicasets(), &ns, body, &self.opts) {
                    Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            deployment::Action::UpdateReplicaSet {
                name: rs_name,
                replicas,
                annotations,
                template,
                min_ready_seconds,
            } => {
                self.store.modify(
                    replicasets(),
                    &ns,
                    &rs_name,
                    Part::Main,
                    &self.opts,
                    |cur| {
                        let Some(cur) = cur else {
                            return Err(crate::store::not_found(replicasets(), &rs_name));
                        };
                        let mut next = cur.clone();
                        if let Some(r) = replicas {
                            next["spec"]["replicas"] = json!(r);
                        }
                        if let Some(m) = min_ready_seconds {
                            next["spec"]["minReadySeconds"] = json!(m);
                        }
                        next["metadata"]["annotations"] = json!(annotations);
                        if let Some(t) = &template {
                            next["spec"]["template"] = serde_json::to_value(t)
                                .map_err(|e| StoreError::Internal(e.to_string()))?;
                        }
                        Ok(next)
                    },
                )?;
            }
            deployment::Action::DeleteReplicaSet { name: rs_name } => {
                match self
                    .store
                    .delete(replicasets(), &ns, &rs_name, &DeleteOptions::default())
                {
                    Ok(_) | Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            deployment::Action::UpdateDeployment { annotations } => {
                self.store
                    .modify(deployments(), &ns, &name, Part::Main, &self.opts, |cur| {
                        let Some(cur) = cur else {
                            return Err(crate::store::not_found(deployments(), &name));
                        };
                        let mut next = cur.clone();
                        next["metadata"]["annotations"] = json!(annotations);
                        Ok(next)
                    })?;
            }
            deployment::Action::UpdateStatus(status) => {
                let status = serde_json::to_value(&status)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                self.store
                    .modify(deployments(), &ns, &name, Part::Status, &self.opts, |cur| {
                        let Some(cur) = cur else {
                            return Err(crate::store::not_found(deployments(), &name));
                        };
                        let mut next = cur.clone();
                        next["status"] = status.clone();
                        Ok(next)
                    })?;
            }
            deployment::Action::Event {
                type_,
                reason,
                message,
            } => {
                events::record(
                    &self.store,
                    d,
                    "deployment-controller",
                    type_,
                    reason,
                    &message,
                );
            }
        }
        Ok(())
    }

    fn sync_replicaset(&self, ns: &str, name: &str) -> Result<Option<Duration>, StoreError> {
        let Ok(raw) = self.store.get(replicasets(), ns, name) else {
            return Ok(None);
        };
        let rs: ReplicaSet = typed(&raw)?;
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let pods_raw: Vec<Arc<Value>> = self
            .owned(pods(), ns, &uid)
            .into_iter()
            .filter(|p| {
                p.pointer("/metadata/deletionTimestamp")
                    .is_none_or(Value::is_null)
            })
            .collect();
        let pods_typed: Vec<Pod> = pods_raw
            .iter()
            .map(|p| typed(p))
            .collect::<Result<_, _>>()?;
        let now = jiff::Timestamp::now();
        let observed = replicaset::Observed {
            replica_set: &rs,
            pods: &pods_typed,
        };
        let (actions, status) = replicaset::sync(&observed, now);
        let after = replicaset::requeue_after(&observed, now);
        for action in actions {
            match action {
                replicaset::PodAction::Create(pod) => {
                    let created = self.store.create(pods(), ns, untyped(&*pod)?, &self.opts)?;
                    let pname = created
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    events::record(
                        &self.store,
                        &raw,
                        "replicaset-controller",
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {pname}"),
                    );
                }
                replicaset::PodAction::Delete { name: pod_name } => {
                    match self
                        .store
                        .delete(pods(), ns, &pod_name, &DeleteOptions::default())
                    {
                        Ok(_) => events::record(
                            &self.store,
                            &raw,
                            "replicaset-controller",
                            "Normal",
                            "SuccessfulDelete",
                            &format!("Deleted pod: {pod_name}"),
                        ),
                        Err(StoreError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        let status =
            serde_json::to_value(&status).map_err(|e| StoreError::Internal(e.to_string()))?;
        if raw.get("status") != Some(&status) {
            self.store
                .modify(replicasets(), ns, name, Part::Status, &self.opts, |cur| {
                    let Some(cur) = cur else {
                        return Err(crate::store::not_found(replicasets(), name));
                    };
                    let mut next = cur.clone();
                    next["status"] = status.clone();
                    Ok(next)
                })?;
        }
        Ok(after)
    }

    fn sync_service(&self, ns: &str, name: &str) -> Result<(), StoreError> {
        let Ok(svc) = self.store.get(services(), ns, name) else {
            // The Service is gone: so are its Endpoints (slices go through ownerReferences).
            match self
                .store
                .delete(endpoints_rt(), ns, name, &DeleteOptions::default())
            {
                Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        };
        // Only the pods the Service selects, through the store's label index: a Service's
        // sync does not walk every pod of its namespace.
        let pods = match svc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
        {
            Some(sel) => {
                self.store
                    .list(
                        pods(),
                        Some(ns),
                        &LabelSelector::from_map(sel),
                        &FieldSelector::default(),
                        None,
                        None,
                    )
                    .items
            }
            None => Vec::new(),
        };
        if let Some(desired) = endpoints::desired_endpoints(&svc, &pods) {
            match self.store.get(endpoints_rt(), ns, name) {
                Err(_) => {
                    self.store.create(endpoints_rt(), ns, desired, &self.opts)?;
                }
                Ok(current)
                    if current.get("subsets") != desired.get("subsets")
                        || current.pointer("/metadata/labels")
                            != desired.pointer("/metadata/labels") =>
                {
                    self.store
                        .modify(endpoints_rt(), ns, name, Part::Main, &self.opts, |cur| {
                            let Some(cur) = cur else {
                                return Err(crate::store::not_found(endpoints_rt(), name));
                            };
                            let mut next = cur.clone();
                            match desired.get("subsets") {
                                Some(s) => next["subsets"] = s.clone(),
                                None => {
                                    if let Some(o) = next.as_object_mut() {
                                        o.remove("subsets");
                                    }
                                }
                            }
                            if let Some(l) = desired.pointer("/metadata/labels") {
                                next["metadata"]["labels"] = l.clone();
                            }
                            Ok(next)
                        })?;
                }
                Ok(_) => {}
            }
        }
        if let Some((eps, ports)) = endpoints::desired_slice_content(&svc, &pods) {
            self.sync_slice(&svc, ns, name, eps, ports)?;
        }
        Ok(())
    }

    /// Writes the Service's EndpointSlices: endpoints spread over slices of at most a
    /// hundred, each endpoint kept in the slice that has it ([`slices::plan`]).
    fn sync_slice(
        &self,
        svc: &Value,
        ns: &str,
        name: &str,
        eps: Value,
        ports: Value,
    ) -> Result<(), StoreError> {
        let mut existing: Vec<Arc<Value>> = self
            .store
            .all(slices_rt(), Some(ns))
            .into_iter()
            .filter(|s| {
                s.pointer("/metadata/labels/kubernetes.io~1service-name")
                    .and_then(Value::as_str)
                    == Some(name)
            })
            .collect();
        existing.sort_by(|a, b| slice_name(a).cmp(slice_name(b)));
        let current: Vec<(String, Vec<Value>)> = existing
            .iter()
            .map(|s| {
                let endpoints = s
                    .get("endpoints")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                (slice_name(s).to_string(), endpoints)
            })
            .collect();
        let desired = eps.as_array().map(Vec::as_slice).unwrap_or_default();
        let plan = slices::plan(&current, desired);
        for (slice, endpoints) in plan.keep {
            let endpoints = Value::Array(endpoints);
            let unchanged = existing.iter().any(|s| {
                slice_name(s) == slice
                    && s.get("endpoints").unwrap_or(&Value::Null) == &endpoints
                    && s.get("ports") == Some(&ports)
            });
            if unchanged {
                continue;
            }
            self.store
                .modify(slices_rt(), ns, &slice, Part::Main, &self.opts, |cur| {
                    let Some(cur) = cur else {
                        return Err(crate::store::not_found(slices_rt(), &slice));
                    };
                    let mut next = cur.clone();
                    next["endpoints"] = endpoints.clone();
                    next["ports"] = ports.clone();
                    Ok(next)
                })?;
        }
        for endpoints in plan.create {
            let body = json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {
                    "generateName": format!("{name}-"),
                    "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                         "uid": svc.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                                         "controller": true, "blockOwnerDeletion": true}]
                },
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports
            });
            self.store.create(slices_rt(), ns, body, &self.opts)?;
        }
        for slice in plan.delete {
            match self
                .store
                .delete(slices_rt(), ns, &slice, &DeleteOptions::default())
            {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn slice_name(slice: &Value) -> &str {
    slice
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, StoreError> {
    serde_json::from_value(v.clone())
        .map_err(|e| StoreError::Internal(format!("stored object does not decode: {e}")))
}

fn untyped<T: serde::Serialize>(v: &T) -> Result<Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Internal(e.to_string()))
}
