//! The node agent: registers a Node, binds pending pods to it (the scheduler's job, for a
//! one-node cluster), and runs each bound pod like a kubelet — an HTTP app per declared
//! container port on the pod's own address, probes on their timings, restarts with back-off,
//! status written back, graceful termination.
//!
//! It talks to the API server only through a `kube::Client`, so it can join the embedded
//! cluster or an external control plane alike.
//!
//! Load: a node with hundreds of pods probes thousands of times a second at high speeds. Each
//! pod's first probe is put at a random point of its first period (second at most), so pods
//! created together do not probe in step; probes run at most [`MAX_CONCURRENT_PROBES`] at a
//! time and API calls at most [`MAX_CONCURRENT_API_CALLS`] (each concurrent call is a
//! connection to the API server). How late probes start against their schedule goes to the
//! node's [`SimClock`], which slows simulated time down when the node cannot keep up.

use super::addresses::AddressPool;
use super::app::{AppSpec, AppStats, ExitNotice, Live, RunningApp};
use super::behaviour::{self, Behaviour, LiveProfiles, Profiles};
use super::pod_status::{self, State};
use super::probe::{self, ProbeState};
use crate::clock::{SimClock, SimInstant};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Event as CoreEvent, Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

/// Probes running at once on one node. Loopback probes take well under a millisecond each, so
/// this is thousands a second; more at once would only queue inside the runtime.
pub const MAX_CONCURRENT_PROBES: usize = 32;

/// API calls (status writes, events, bindings) in flight at once from one node.
pub const MAX_CONCURRENT_API_CALLS: usize = 8;

/// The first probe of a container comes at a random point this long (or its period, when
/// shorter) after its initial delay.
const FIRST_PROBE_SPREAD: Duration = Duration::from_secs(1);

/// How the node agent runs.
#[derive(Clone)]
pub struct NodeOptions {
    pub node_name: String,
    /// The node's own address (status.addresses InternalIP, pods' hostIP).
    pub host_ip: String,
    pub pool: Arc<AddressPool>,
    pub profiles: Arc<LiveProfiles>,
    /// Every probe period and delay, back-off, grace period and app start-up is simulated
    /// time on this clock; probe lag is reported to it.
    pub clock: Arc<SimClock>,
}

impl NodeOptions {
    pub fn new(node_name: &str) -> Self {
        Self {
            node_name: node_name.to_string(),
            host_ip: "127.0.0.1".into(),
            pool: Arc::new(AddressPool::loopback()),
            profiles: Arc::new(LiveProfiles::new(Profiles::builtin())),
            clock: SimClock::fixed(1.0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot register node {node}: {source}")]
    Register { node: String, source: kube::Error },
}

/// Per-pod app counters, for whoever models load from them (the HPA controller).
pub type PodStats = Arc<Mutex<HashMap<(String, String), Vec<Arc<AppStats>>>>>;

pub struct NodeAgent {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    stats: PodStats,
}

fn now() -> String {
    kube_util::time::now_rfc3339()
}

impl NodeAgent {
    pub async fn start(client: kube::Client, opts: NodeOptions) -> Result<Self, NodeError> {
        register_node(&client, &opts)
            .await
            .map_err(|source| NodeError::Register {
                node: opts.node_name.clone(),
                source,
            })?;
        let (stop, stopping) = watch::channel(false);
        let stats: PodStats = Arc::default();
        let node = Arc::new(Agent {
            opts,
            stats: stats.clone(),
            probes: Semaphore::new(MAX_CONCURRENT_PROBES),
            api: Semaphore::new(MAX_CONCURRENT_API_CALLS),
        });
        let task = tokio::spawn(run(client, node, stopping));
        Ok(Self { stop, task, stats })
    }

    /// The app counters of one pod's containers (empty when it runs nothing).
    pub fn pod_stats(&self, namespace: &str, name: &str) -> Vec<Arc<AppStats>> {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn stats(&self) -> PodStats {
        self.stats.clone()
    }

    /// Stops every pod's apps at once and the agent with them. An agent caught in a call to
    /// an API server that does not answer is not waited for.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_millis(300), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// What the agent's pod workers share.
struct Agent {
    opts: NodeOptions,
    stats: PodStats,
    probes: Semaphore,
    api: Semaphore,
}

impl Agent {
    fn clock(&self) -> &SimClock {
        &self.opts.clock
    }

    /// A turn to call the API server; held for the length of the call.
    async fn api_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed, so this is always a permit.
        self.api.acquire().await.ok()
    }
}

async fn register_node(client: &kube::Client, opts: &NodeOptions) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let body: Node = serde_json::from_value(json!({
        "metadata": {"name": opts.node_name, "labels": {
            "kubernetes.io/hostname": opts.node_name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/worker": ""}},
        "spec": {}
    }))
    .map_err(kube::Error::SerdeError)?;
    match nodes.create(&PostParams::default(), &body).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e),
    }
    heartbeat(&nodes, opts).await
}

async fn heartbeat(nodes: &Api<Node>, opts: &NodeOptions) -> Result<(), kube::Error> {
    let t = now();
    let cond = |type_: &str, status: &str, reason: &str, message: &str| json!({"type": type_, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": t, "lastTransitionTime": t});
    let status = json!({"status": {
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": opts.host_ip}, {"type": "Hostname", "address": opts.node_name}],
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "250", "ephemeral-storage": "100Gi"},
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "250", "ephemeral-storage": "100Gi"},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": std::env::consts::OS,
            "osImage": "rollout embedded node", "containerRuntimeVersion": "rollout-sim://1",
            "kubeletVersion": "v1.33.0-rollout-sim", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"
        }
    }});
    nodes
        .patch_status(
            &opts.node_name,
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .map(|_| ())
}

struct Worker {
    /// Deletion grace (seconds) once the pod is being deleted.
    deleting: watch::Sender<Option<i64>>,
    task: tokio::task::JoinHandle<()>,
}

async fn run(client: kube::Client, node: Arc<Agent>, mut stopping: watch::Receiver<bool>) {
    let pods: Api<Pod> = Api::all(client.clone());
    let mut stream = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    let heartbeats = tokio::spawn(beat(Api::all(client.clone()), node.clone()));
    let mut workers: HashMap<String, Worker> = HashMap::new();
    loop {
        tokio::select! {
            _ = stopping.changed() => break,
            ev = stream.next() => match ev {
                Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))) => on_pod(&client, &node, &mut workers, p),
                Some(Ok(watcher::Event::Delete(p))) => {
                    if let Some(w) = p.metadata.uid.as_ref().and_then(|u| workers.remove(u)) {
                        w.task.abort();
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::debug!(error = %e, "pod watch error; retrying"),
                None => break,
            }
        }
        workers.retain(|_, w| !w.task.is_finished());
    }
    heartbeats.abort();
    for (_, w) in workers {
        w.task.abort();
    }
}

/// The node's heartbeat, apart from the pod loop so that a slow API server delays neither.
async fn beat(nodes: Api<Node>, node: Arc<Agent>) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = heartbeat(&nodes, &node.opts).await {
            tracing::warn!(error = %e, "node heartbeat failed");
        }
    }
}

/// Handles one pod event without waiting on the API server: what needs a call (binding, the
/// final deletion) runs on its own, so one slow answer does not hold up every other pod.
fn on_pod(
    client: &kube::Client,
    node: &Arc<Agent>,
    workers: &mut HashMap<String, Worker>,
    pod: Pod,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let deleting = pod.metadata.deletion_timestamp.is_some();
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let bound_to = spec.node_name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    if bound_to.is_empty() {
        let scheduler = spec
            .scheduler_name
            .as_deref()
            .unwrap_or("default-scheduler");
        if !deleting && scheduler == "default-scheduler" {
            let node = node.clone();
            tokio::spawn(async move {
                let _turn = node.api_turn().await;
                bind(&api, &name, &node.opts.node_name).await;
            });
        }
        return;
    }
    if bound_to != node.opts.node_name {
        return;
    }
    if let Some(w) = workers.get(&uid) {
        if deleting {
            let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30);
            let _ = w.deleting.send(Some(grace));
        }
        return;
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending");
    if deleting || matches!(phase, "Succeeded" | "Failed") {
        if deleting {
            let node = node.clone();
            tokio::spawn(async move {
                let _turn = node.api_turn().await;
                finish_deletion(&api, &name, &uid).await;
            });
        }
        return;
    }
    let (tx, rx) = watch::channel(None);
    let worker = PodWorker {
        api,
        events: Api::namespaced(client.clone(), &ns),
        node: node.clone(),
        name,
        namespace: ns,
        uid: uid.clone(),
    };
    workers.insert(
        uid,
        Worker {
            deleting: tx,
            task: tokio::spawn(worker.run(pod, rx)),
        },
    );
}

async fn bind(api: &Api<Pod>, name: &str, node: &str) {
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    if let Err(e) = api
        .create_subresource::<Value, Value>("binding", name, &PostParams::default(), &binding)
        .await
    {
        tracing::debug!(pod = name, error = %e, "binding failed");
    }
}

async fn finish_deletion(api: &Api<Pod>, name: &str, uid: &str) {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..Default::default()
    };
    if let Err(e) = api.delete(name, &dp).await {
        tracing::debug!(pod = name, error = %e, "final pod deletion failed");
    }
}

/// One container as the worker runs it.
struct Running {
    spec: Container,
    behaviour: Behaviour,
    /// The container's `SIM_*` environment, for its apps to re-read their behaviour with.
    env: Vec<(String, String)>,
    status: pod_status::Container,
    apps: Vec<RunningApp>,
    startup: Option<ProbeState>,
    readiness: Option<ProbeState>,
    liveness: Option<ProbeState>,
    /// When each probe (startup, readiness, liveness) runs next, on the simulated clock.
    due: [Option<SimInstant>; 3],
    /// A restart or image pull retry waiting for its back-off.
    retry_at: Option<SimInstant>,
    pull_attempts: u32,
    /// Bumped on every (re)start so exit notices of older runs are ignored.
    generation: u64,
}

/// Runs one pod. It keeps only what it needs of the pod object (names, the containers),
/// since a node holds one of these per pod for as long as the pod runs.
struct PodWorker {
    api: Api<Pod>,
    events: Api<CoreEvent>,
    node: Arc<Agent>,
    name: String,
    namespace: String,
    uid: String,
}

/// Kubelet back-off: 10 s doubling to 5 minutes.
fn backoff(step: u32) -> Duration {
    Duration::from_secs(10u64.saturating_mul(1u64 << step.min(5))).min(Duration::from_secs(300))
}

/// Exit notices carry the container's index and run in one number.
fn exit_tag(index: usize, generation: u64) -> u64 {
    (generation << 16) | (index as u64 & 0xffff)
}

fn from_exit_tag(tag: u64) -> (usize, u64) {
    ((tag & 0xffff) as usize, tag >> 16)
}

/// When the pod's `PodScheduled` condition was set, as written.
fn scheduled_at(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?
        .last_transition_time
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(str::to_string))
}

impl PodWorker {
    async fn event(&self, type_: &str, reason: &str, message: &str, field: Option<&str>) {
        let t = now();
        let node = &self.node.opts.node_name;
        let mut involved = json!({"kind": "Pod", "apiVersion": "v1", "namespace": self.namespace, "name": self.name, "uid": self.uid});
        if let Some(f) = field {
            involved["fieldPath"] = json!(f);
        }
        let ev = json!({
            // Named like the real kubelet's events: `<pod>.<unique hex>` (a generateName ending
            // in '.' would not be a valid prefix).
            "metadata": {"name": format!("{}.{:016x}", self.name, rand::random::<u64>())},
            "involvedObject": involved, "reason": reason, "message": message, "type": type_,
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": t, "lastTimestamp": t, "count": 1, "reportingComponent": "kubelet", "reportingInstance": node,
        });
        if let Ok(ev) = serde_json::from_value::<CoreEvent>(ev) {
            let _turn = self.node.api_turn().await;
            // Boxed: the call's future is large, and this worker lives as long as the pod.
            if let Err(e) = Box::pin(self.events.create(&PostParams::default(), &ev)).await {
                tracing::debug!(error = %e, reason, "could not record event");
            }
        }
    }

    /// Writes the pod's status (a 404 says the pod is gone).
    async fn write_status(&self, status: Value) -> Result<(), kube::Error> {
        let _turn = self.node.api_turn().await;
        Box::pin(self.api.patch_status(
            &self.name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        ))
        .await
        .map(|_| ())
    }

    async fn run(self, pod: Pod, mut deleting: watch::Receiver<Option<i64>>) {
        let started = now();
        let scheduled_at = scheduled_at(&pod).unwrap_or_else(|| started.clone());
        let spec = pod.spec.unwrap_or_default();
        let Some(ip) = Box::pin(self.free_address(&spec.containers)).await else {
            return;
        };
        let mut facts = pod_status::PodFacts {
            pod_ip: Some(ip.to_string()),
            host_ip: self.node.opts.host_ip.clone(),
            start_time: started.clone(),
            ready_since: started,
        };
        let mut containers: Vec<Running> =
            spec.containers.iter().map(|c| self.prepare(c)).collect();
        drop(spec);
        let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<(u64, i32)>();
        for (i, c) in containers.iter_mut().enumerate() {
            Box::pin(self.start_container(c, i, IpAddr::V4(ip), &exit_tx)).await;
        }
        // What the last status written was made of: the status is rebuilt and sent only when
        // that changes, not on every probe.
        let mut last_written: Option<(Vec<pod_status::Container>, pod_status::PodFacts)> = None;
        let mut was_ready = false;
        loop {
            let ready = containers.iter().all(|c| c.status.ready);
            if ready != was_ready {
                facts.ready_since = now();
                was_ready = ready;
            }
            let statuses: Vec<pod_status::Container> =
                containers.iter().map(|c| c.status.clone()).collect();
            if last_written
                .as_ref()
                .is_none_or(|(s, f)| *s != statuses || *f != facts)
            {
                let status = pod_status::status(&statuses, &facts, &scheduled_at);
                match self.write_status(status).await {
                    Ok(()) => last_written = Some((statuses, facts.clone())),
                    Err(kube::Error::Api(e)) if e.code == 404 => break,
                    Err(e) => tracing::debug!(error = %e, "pod status write failed"),
                }
            }
            let next = containers
                .iter()
                .flat_map(|c| c.due.iter().flatten().chain(c.retry_at.iter()))
                .min()
                .copied();
            tokio::select! {
                changed = deleting.changed() => {
                    let grace = if changed.is_ok() { deleting.borrow().unwrap_or(30) } else { 0 };
                    Box::pin(self.terminate(containers, &mut facts, &scheduled_at, grace)).await;
                    break;
                }
                Some((tag, code)) = exit_rx.recv() => {
                    let (i, generation) = from_exit_tag(tag);
                    if let Some(c) = containers.get_mut(i)
                        && c.generation == generation
                    {
                        Box::pin(self.container_exited(c, code, "Error")).await;
                    }
                }
                _ = sleep_until(self.node.clock(), next) => {
                    let now_s = self.node.clock().now();
                    for (i, c) in containers.iter_mut().enumerate() {
                        Box::pin(self.tick(c, i, IpAddr::V4(ip), now_s, &exit_tx)).await;
                    }
                }
            }
        }
        self.node
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key());
        self.node.opts.pool.release(ip);
    }

    fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }

    /// An address whose declared ports are all free to bind (another process may hold some
    /// loopback ports; a taken address is left reserved in the pool and another is tried).
    async fn free_address(&self, containers: &[Container]) -> Option<Ipv4Addr> {
        let ports: Vec<u16> = containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| u16::try_from(p.container_port).ok())
            .collect();
        for _ in 0..64 {
            let ip = match self.node.opts.pool.allocate() {
                Ok(ip) => ip,
                Err(e) => {
                    self.event("Warning", "FailedCreatePodSandBox", &e.to_string(), None)
                        .await;
                    return None;
                }
            };
            // A privileged port a normal user may not bind is served on a high port instead
            // (see `ports`): it does not make the address unusable.
            if ports
                .iter()
                .all(|p| match std::net::TcpListener::bind((ip, *p)) {
                    Ok(_) => true,
                    Err(e) => super::ports::is_privileged_refusal(*p, &e),
                })
            {
                return Some(ip);
            }
        }
        self.event(
            "Warning",
            "FailedCreatePodSandBox",
            "no pod address with free ports found",
            None,
        )
        .await;
        None
    }

    fn prepare(&self, c: &Container) -> Running {
        let image = c.image.clone().unwrap_or_default();
        let env: Vec<(String, String)> = c
            .env
            .iter()
            .flatten()
            .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
            .collect();
        let (behaviour, env_error) = self.node.opts.profiles.resolve(&image, &env);
        if let Some(e) = env_error {
            tracing::warn!(pod = self.name, container = c.name, error = %e, "ignoring SIM_* settings");
        }
        Running {
            spec: c.clone(),
            behaviour,
            env,
            status: pod_status::Container {
                name: c.name.clone(),
                image,
                state: State::Waiting {
                    reason: "ContainerCreating".into(),
                    message: None,
                },
                last_state: None,
                ready: false,
                started: false,
                restart_count: 0,
            },
            apps: Vec::new(),
            startup: c.startup_probe.clone().map(ProbeState::new),
            readiness: c.readiness_probe.clone().map(ProbeState::new),
            liveness: c.liveness_probe.clone().map(ProbeState::new),
            due: [None; 3],
            retry_at: None,
            pull_attempts: 0,
            generation: 0,
        }
    }

    async fn start_container(
        &self,
        c: &mut Running,
        index: usize,
        ip: IpAddr,
        exits: &mpsc::UnboundedSender<(u64, i32)>,
    ) {
        let clock = self.node.clock();
        let field = format!("spec.containers{{{}}}", c.spec.name);
        c.retry_at = None;
        if c.behaviour.pull_error {
            c.pull_attempts += 1;
            let image = c.status.image.clone();
            let reason = if c.pull_attempts == 1 {
                "ErrImagePull"
            } else {
                "ImagePullBackOff"
            };
            let message = format!("Back-off pulling image \"{image}\"");
            c.status.state = State::Waiting {
                reason: reason.into(),
                message: Some(message.clone()),
            };
            if c.pull_attempts == 1 {
                self.event(
                    "Normal",
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    Some(&field),
                )
                .await;
                self.event("Warning", "Failed", &format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"), Some(&field)).await;
                self.event("Warning", "Failed", "Error: ErrImagePull", Some(&field))
                    .await;
            } else {
                self.event("Normal", "BackOff", &message, Some(&field))
                    .await;
            }
            c.retry_at = Some(clock.now() + backoff(c.pull_attempts.saturating_sub(1)));
            return;
        }
        if c.generation == 0 {
            self.event(
                "Normal",
                "Pulled",
                &format!(
                    "Container image \"{}\" already present on machine",
                    c.status.image
                ),
                Some(&field),
            )
            .await;
        }
        c.generation += 1;
        let ports: Vec<u16> = c
            .spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| u16::try_from(p.container_port).ok())
            .collect();
        let mut apps = Vec::new();
        for port in ports {
            let spec = AppSpec {
                pod: self.name.clone(),
                namespace: self.namespace.clone(),
                version: behaviour::version_of(&c.status.image),
                image: c.status.image.clone(),
                ip,
                port,
                behaviour: c.behaviour.clone(),
                clock: self.node.opts.clock.clone(),
                live: Some(Live {
                    profiles: self.node.opts.profiles.clone(),
                    env: c.env.clone(),
                }),
                on_exit: Some(ExitNotice {
                    tx: exits.clone(),
                    tag: exit_tag(index, c.generation),
                }),
            };
            match RunningApp::start(spec).await {
                Ok(app) => apps.push(app),
                Err(e) => {
                    self.event(
                        "Warning",
                        "Failed",
                        &format!("Error: cannot listen on {ip}:{port}: {e}"),
                        Some(&field),
                    )
                    .await;
                }
            }
        }
        {
            let mut registry = self.node.stats.lock().unwrap_or_else(|p| p.into_inner());
            let entry = registry.entry(self.key()).or_default();
            entry.extend(apps.iter().map(RunningApp::stats));
        }
        c.apps = apps;
        self.event(
            "Normal",
            "Created",
            &format!("Created container {}", c.spec.name),
            Some(&field),
        )
        .await;
        self.event(
            "Normal",
            "Started",
            &format!("Started container {}", c.spec.name),
            Some(&field),
        )
        .await;
        let t = now();
        c.status.state = State::Running { started_at: t };
        c.status.started = c.startup.is_none();
        // Without probes a container is ready once it runs (as on a kubelet): here, once its
        // apps are up, or at once when it declares no ports.
        let unprobed = c.readiness.is_none() && c.startup.is_none();
        c.status.ready = unprobed && (!c.apps.is_empty() || c.spec.ports.is_none());
        let start = clock.now();
        for (slot, p) in [&mut c.startup, &mut c.readiness, &mut c.liveness]
            .into_iter()
            .enumerate()
        {
            if let Some(p) = p {
                p.successes = 0;
                p.failures = 0;
                p.passing = None;
                // Pods started together would otherwise probe in step, all at once, every
                // period; a real kubelet's probe workers are out of step the same way.
                let spread = p
                    .period()
                    .min(FIRST_PROBE_SPREAD)
                    .mul_f64(rand::random::<f64>());
                c.due[slot] = Some(start + p.initial_delay() + spread);
            } else {
                c.due[slot] = None;
            }
        }
    }

    /// Runs what is due for one container: restarts after back-off, then its probes.
    async fn tick(
        &self,
        c: &mut Running,
        index: usize,
        ip: IpAddr,
        now_s: SimInstant,
        exits: &mpsc::UnboundedSender<(u64, i32)>,
    ) {
        let clock = self.node.clock();
        if c.retry_at.is_some_and(|t| t <= now_s) {
            self.start_container(c, index, ip, exits).await;
            return;
        }
        if !matches!(c.status.state, State::Running { .. }) {
            return;
        }
        let field = format!("spec.containers{{{}}}", c.spec.name);
        let started = c.startup.as_ref().is_none_or(|p| p.passing == Some(true));
        for slot in 0..3 {
            let Some(due) = c.due[slot].filter(|t| *t <= now_s) else {
                continue;
            };
            // Liveness and readiness wait for the startup probe to pass.
            if slot > 0 && !started {
                c.due[slot] = Some(now_s + Duration::from_secs(1));
                continue;
            }
            let Some(state) = (match slot {
                0 => c.startup.as_mut(),
                1 => c.readiness.as_mut(),
                _ => c.liveness.as_mut(),
            }) else {
                continue;
            };
            let outcome = {
                let _turn = self.node.probes.acquire().await.ok();
                clock.record_probe_start(due, state.period());
                let timeout = clock.scaled(state.timeout()).max(Duration::from_millis(50));
                probe::run(&state.probe, &c.spec, ip, timeout).await
            };
            let outcome = if slot == 1 && outcome.ok && c.apps.iter().any(RunningApp::never_ready) {
                // A never-ready app does not become ready because its probe names another
                // path than the one that reports it unready.
                probe::Outcome {
                    ok: false,
                    message: "HTTP probe failed with statuscode: 503".into(),
                }
            } else {
                outcome
            };
            let changed = state.record(outcome.ok);
            c.due[slot] = Some(clock.now() + state.period());
            let kind = ["Startup", "Readiness", "Liveness"][slot];
            if !outcome.ok && state.tell_failure(&outcome.message) {
                self.event(
                    "Warning",
                    "Unhealthy",
                    &format!("{kind} probe failed: {}", outcome.message),
                    Some(&field),
                )
                .await;
            }
            match (slot, changed) {
                (0, Some(true)) => {
                    c.status.started = true;
                    if c.readiness.is_none() {
                        c.status.ready = true;
                    }
                    c.due[0] = None;
                }
                (1, Some(ready)) => c.status.ready = ready,
                (0, Some(false)) | (2, Some(false)) => {
                    self.event(
                        "Normal",
                        "Killing",
                        &format!(
                            "Container {} failed {} probe, will be restarted",
                            c.spec.name,
                            kind.to_lowercase()
                        ),
                        Some(&field),
                    )
                    .await;
                    let apps = std::mem::take(&mut c.apps);
                    c.generation += 1;
                    for app in apps {
                        app.stop(Duration::ZERO).await;
                    }
                    self.container_exited(c, 137, "Error").await;
                    return;
                }
                _ => {}
            }
        }
    }

    /// A container's process ended (crash or kill): record it and schedule the restart with
    /// the kubelet's back-off, showing CrashLoopBackOff while waiting.
    async fn container_exited(&self, c: &mut Running, code: i32, reason: &str) {
        let started_at = match &c.status.state {
            State::Running { started_at } => started_at.clone(),
            _ => now(),
        };
        // The container's other apps stop with it; their exit notices are of this run, which
        // is over.
        c.generation += 1;
        for app in std::mem::take(&mut c.apps) {
            app.stop(Duration::ZERO).await;
        }
        self.node
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key());
        c.status.last_state = Some(State::Terminated {
            exit_code: code,
            reason: reason.into(),
            started_at,
            finished_at: now(),
        });
        c.status.restart_count += 1;
        c.status.ready = false;
        c.status.started = false;
        c.due = [None; 3];
        let wait = if c.status.restart_count <= 1 {
            Duration::ZERO
        } else {
            backoff(c.status.restart_count as u32 - 2)
        };
        let message = format!(
            "back-off {} restarting failed container={} pod={}",
            humantime::format_duration(wait),
            c.spec.name,
            self.name
        );
        c.status.state = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(message.clone()),
        };
        if !wait.is_zero() {
            self.event(
                "Warning",
                "BackOff",
                "Back-off restarting failed container",
                Some(&format!("spec.containers{{{}}}", c.spec.name)),
            )
            .await;
        }
        c.retry_at = Some(self.node.clock().now() + wait);
    }

    /// Graceful termination: the pod is already out of the endpoints (it is terminating), so
    /// traffic drains; the apps get the grace period to finish in-flight requests, then the
    /// pod object is removed.
    async fn terminate(
        &self,
        containers: Vec<Running>,
        facts: &mut pod_status::PodFacts,
        scheduled_at: &str,
        grace: i64,
    ) {
        let mut statuses: Vec<pod_status::Container> =
            containers.iter().map(|c| c.status.clone()).collect();
        for s in &mut statuses {
            s.ready = false;
        }
        facts.ready_since = now();
        let status = pod_status::status(&statuses, facts, scheduled_at);
        let _ = self.write_status(status).await;
        for c in &containers {
            self.event(
                "Normal",
                "Killing",
                &format!("Stopping container {}", c.spec.name),
                Some(&format!("spec.containers{{{}}}", c.spec.name)),
            )
            .await;
        }
        let grace = self
            .node
            .clock()
            .scaled(Duration::from_secs(grace.max(0) as u64));
        // The pod left the endpoints when it was marked for deletion; give proxies a moment to
        // see that before the apps stop accepting connections (what a preStop sleep does on a
        // real cluster), within the grace period.
        tokio::time::sleep(grace.min(Duration::from_millis(500))).await;
        let stops = containers
            .into_iter()
            .flat_map(|c| c.apps)
            .map(|app| app.stop(grace));
        futures::future::join_all(stops).await;
        let _turn = self.node.api_turn().await;
        finish_deletion(&self.api, &self.name, &self.uid).await;
    }
}

async fn sleep_until(clock: &SimClock, at: Option<SimInstant>) {
    match at {
        Some(at) => clock.sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The default single node of the embedded cluster.
pub const DEFAULT_NODE: &str = "sim-node-1";

#[cfg(test)]
mod tests {
    #[test]
    fn event_json_decodes() {
        let t = super::now();
        let ev = serde_json::json!({
            "metadata": {"name": "p.1a2b"},
            "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": "d", "name": "p", "uid": "u", "fieldPath": "spec.containers{app}"},
            "reason": "Started", "message": "m", "type": "Normal",
            "source": {"component": "kubelet", "host": "n"},
            "firstTimestamp": t, "lastTimestamp": t, "count": 1, "reportingComponent": "kubelet", "reportingInstance": "n",
        });
        let r = serde_json::from_value::<k8s_openapi::api::core::v1::Event>(ev);
        assert!(r.is_ok(), "{r:?}");
    }
}
