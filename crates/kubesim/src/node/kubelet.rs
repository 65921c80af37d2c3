//! The node agent: registers a Node, binds pending pods to it (the scheduler's job, for a
//! one-node cluster), and runs each bound pod like a kubelet — an HTTP app per declared
//! container port on the pod's own address, probes on their timings, restarts with back-off,
//! status written back, graceful termination.
//!
//! It talks to the API server only through a `kube::Client`, so it can join the embedded
//! cluster or an external control plane alike.

use super::addresses::AddressPool;
use super::app::{AppSpec, AppStats, Live, RunningApp};
use super::behaviour::{self, Behaviour, LiveProfiles, Profiles};
use super::pod_status::{self, State};
use super::probe::{self, ProbeState};
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
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How the node agent runs.
#[derive(Clone)]
pub struct NodeOptions {
    pub node_name: String,
    /// The node's own address (status.addresses InternalIP, pods' hostIP).
    pub host_ip: String,
    pub pool: Arc<AddressPool>,
    pub profiles: Arc<LiveProfiles>,
    /// Every simulated duration (probe periods and delays, back-off, grace periods, app
    /// start-up) is divided by this.
    pub time_scale: f64,
}

impl NodeOptions {
    pub fn new(node_name: &str) -> Self {
        Self {
            node_name: node_name.to_string(),
            host_ip: "127.0.0.1".into(),
            pool: Arc::new(AddressPool::loopback()),
            profiles: Arc::new(LiveProfiles::new(Profiles::builtin())),
            time_scale: 1.0,
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        let s = if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        d.div_f64(s)
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
        let task = tokio::spawn(run(client, opts, stopping, stats.clone()));
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

    /// Stops every pod's apps at once and the agent with them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
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

async fn run(
    client: kube::Client,
    opts: NodeOptions,
    mut stopping: watch::Receiver<bool>,
    stats: PodStats,
) {
    let pods: Api<Pod> = Api::all(client.clone());
    let nodes: Api<Node> = Api::all(client.clone());
    let mut stream = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let mut beat = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = stopping.changed() => break,
            _ = beat.tick() => {
                if let Err(e) = heartbeat(&nodes, &opts).await {
                    tracing::warn!(error = %e, "node heartbeat failed");
                }
            }
            ev = stream.next() => match ev {
                Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))) => on_pod(&client, &opts, &stats, &mut workers, p).await,
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
    for (_, w) in workers {
        w.task.abort();
    }
}

async fn on_pod(
    client: &kube::Client,
    opts: &NodeOptions,
    stats: &PodStats,
    workers: &mut HashMap<String, Worker>,
    pod: Pod,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let deleting = pod.metadata.deletion_timestamp.is_some();
    let node = spec.node_name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    if node.is_empty() {
        let scheduler = spec
            .scheduler_name
            .as_deref()
            .unwrap_or("default-scheduler");
        if !deleting && scheduler == "default-scheduler" {
            bind(&api, &name, &opts.node_name).await;
        }
        return;
    }
    if node != opts.node_name {
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
            finish_deletion(&api, &name, &uid).await;
        }
        return;
    }
    let (tx, rx) = watch::channel(None);
    let worker = PodWorker {
        api,
        events: Api::namespaced(client.clone(), &ns),
        pod,
        opts: opts.clone(),
        stats: stats.clone(),
    };
    workers.insert(
        uid,
        Worker {
            deleting: tx,
            task: tokio::spawn(worker.run(rx)),
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
    /// When each probe (startup, readiness, liveness) runs next.
    due: [Option<Instant>; 3],
    /// A restart or image pull retry waiting for its back-off.
    retry_at: Option<Instant>,
    pull_attempts: u32,
    /// Bumped on every (re)start so exit notices of older runs are ignored.
    generation: u64,
}

struct PodWorker {
    api: Api<Pod>,
    events: Api<CoreEvent>,
    pod: Pod,
    opts: NodeOptions,
    stats: PodStats,
}

/// Kubelet back-off: 10 s doubling to 5 minutes.
fn backoff(step: u32) -> Duration {
    Duration::from_secs(10u64.saturating_mul(1u64 << step.min(5))).min(Duration::from_secs(300))
}

impl PodWorker {
    fn name(&self) -> String {
        self.pod.metadata.name.clone().unwrap_or_default()
    }

    fn key(&self) -> (String, String) {
        (
            self.pod.metadata.namespace.clone().unwrap_or_default(),
            self.name(),
        )
    }

    async fn event(&self, type_: &str, reason: &str, message: &str, field: Option<&str>) {
        let t = now();
        let mut involved = json!({"kind": "Pod", "apiVersion": "v1", "namespace": self.key().0, "name": self.name(), "uid": self.pod.metadata.uid});
        if let Some(f) = field {
            involved["fieldPath"] = json!(f);
        }
        let ev = json!({
            // Named like the real kubelet's events: `<pod>.<unique hex>` (a generateName ending
            // in '.' would not be a valid prefix).
            "metadata": {"name": format!("{}.{:016x}", self.name(), rand::random::<u64>())},
            "involvedObject": involved, "reason": reason, "message": message, "type": type_,
            "source": {"component": "kubelet", "host": self.opts.node_name},
            "firstTimestamp": t, "lastTimestamp": t, "count": 1, "reportingComponent": "kubelet", "reportingInstance": self.opts.node_name,
        });
        if let Ok(ev) = serde_json::from_value::<CoreEvent>(ev)
            && let Err(e) = self.events.create(&PostParams::default(), &ev).await
        {
            tracing::debug!(error = %e, reason, "could not record event");
        }
    }

    async fn run(self, mut deleting: watch::Receiver<Option<i64>>) {
        let Some(ip) = self.free_address().await else {
            return;
        };
        let started = now();
        let mut facts = pod_status::PodFacts {
            pod_ip: Some(ip.to_string()),
            host_ip: self.opts.host_ip.clone(),
            start_time: started.clone(),
            ready_since: started.clone(),
        };
        let scheduled_at = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| started.clone());
        let spec = self.pod.spec.clone().unwrap_or_default();
        let mut containers: Vec<Running> =
            spec.containers.iter().map(|c| self.prepare(c)).collect();
        let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<(usize, u64, i32)>();
        for (i, c) in containers.iter_mut().enumerate() {
            self.start_container(c, i, IpAddr::V4(ip), &exit_tx).await;
        }
        let mut last_written = Value::Null;
        let mut was_ready = false;
        loop {
            let ready = containers.iter().all(|c| c.status.ready);
            if ready != was_ready {
                facts.ready_since = now();
                was_ready = ready;
            }
            let statuses: Vec<pod_status::Container> =
                containers.iter().map(|c| c.status.clone()).collect();
            let status = pod_status::status(&statuses, &facts, &scheduled_at);
            if status != last_written {
                match self
                    .api
                    .patch_status(
                        &self.name(),
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"status": status})),
                    )
                    .await
                {
                    Ok(_) => last_written = status,
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
                    self.terminate(containers, &mut facts, &scheduled_at, grace).await;
                    break;
                }
                Some((i, generation, code)) = exit_rx.recv() => {
                    if let Some(c) = containers.get_mut(i)
                        && c.generation == generation
                    {
                        self.container_exited(c, code, "Error").await;
                    }
                }
                _ = sleep_until(next) => {
                    let now_i = Instant::now();
                    for (i, c) in containers.iter_mut().enumerate() {
                        self.tick(c, i, IpAddr::V4(ip), now_i, &exit_tx).await;
                    }
                }
            }
        }
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key());
        self.opts.pool.release(ip);
    }

    /// An address whose declared ports are all free to bind (another process may hold some
    /// loopback ports; a taken address is left reserved in the pool and another is tried).
    async fn free_address(&self) -> Option<Ipv4Addr> {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let ports: Vec<u16> = spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| u16::try_from(p.container_port).ok())
            .collect();
        for _ in 0..64 {
            let ip = match self.opts.pool.allocate() {
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
        let (behaviour, env_error) = self.opts.profiles.resolve(&image, &env);
        if let Some(e) = env_error {
            tracing::warn!(pod = self.name(), container = c.name, error = %e, "ignoring SIM_* settings");
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
        exits: &mpsc::UnboundedSender<(usize, u64, i32)>,
    ) {
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
            c.retry_at =
                Some(Instant::now() + self.opts.scaled(backoff(c.pull_attempts.saturating_sub(1))));
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
                pod: self.name(),
                namespace: self.key().0,
                version: behaviour::version_of(&c.status.image),
                image: c.status.image.clone(),
                ip,
                port,
                behaviour: c.behaviour.clone(),
                time_scale: self.opts.time_scale,
                live: Some(Live {
                    profiles: self.opts.profiles.clone(),
                    env: c.env.clone(),
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
        for app in &apps {
            let mut rx = app.exit_watch();
            let tx = exits.clone();
            let generation = c.generation;
            tokio::spawn(async move {
                if let Ok(code) = rx.wait_for(Option::is_some).await {
                    let _ = tx.send((index, generation, code.unwrap_or(1)));
                }
            });
        }
        {
            let mut registry = self.stats.lock().unwrap_or_else(|p| p.into_inner());
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
        let start = Instant::now();
        for (slot, p) in [&mut c.startup, &mut c.readiness, &mut c.liveness]
            .into_iter()
            .enumerate()
        {
            if let Some(p) = p {
                p.successes = 0;
                p.failures = 0;
                p.passing = None;
                c.due[slot] = Some(start + self.opts.scaled(p.initial_delay()));
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
        now_i: Instant,
        exits: &mpsc::UnboundedSender<(usize, u64, i32)>,
    ) {
        if c.retry_at.is_some_and(|t| t <= now_i) {
            self.start_container(c, index, ip, exits).await;
            return;
        }
        if !matches!(c.status.state, State::Running { .. }) {
            return;
        }
        let field = format!("spec.containers{{{}}}", c.spec.name);
        let started = c.startup.as_ref().is_none_or(|p| p.passing == Some(true));
        for slot in 0..3 {
            if c.due[slot].is_none_or(|t| t > now_i) {
                continue;
            }
            // Liveness and readiness wait for the startup probe to pass.
            if slot > 0 && !started {
                c.due[slot] = Some(now_i + self.opts.scaled(Duration::from_secs(1)));
                continue;
            }
            let Some(state) = (match slot {
                0 => c.startup.as_mut(),
                1 => c.readiness.as_mut(),
                _ => c.liveness.as_mut(),
            }) else {
                continue;
            };
            let timeout = self
                .opts
                .scaled(state.timeout())
                .max(Duration::from_millis(50));
            let outcome = probe::run(&state.probe, &c.spec, ip, timeout).await;
            let period = self.opts.scaled(state.period());
            let changed = state.record(outcome.ok);
            c.due[slot] = Some(Instant::now() + period);
            let kind = ["Startup", "Readiness", "Liveness"][slot];
            if !outcome.ok && state.failures == 1 {
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
        for app in std::mem::take(&mut c.apps) {
            app.stop(Duration::ZERO).await;
        }
        self.stats
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
            self.name()
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
        c.retry_at = Some(Instant::now() + self.opts.scaled(wait));
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
        let _ = self
            .api
            .patch_status(
                &self.name(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await;
        for c in &containers {
            self.event(
                "Normal",
                "Killing",
                &format!("Stopping container {}", c.spec.name),
                Some(&format!("spec.containers{{{}}}", c.spec.name)),
            )
            .await;
        }
        let grace = self.opts.scaled(Duration::from_secs(grace.max(0) as u64));
        // The pod left the endpoints when it was marked for deletion; give proxies a moment to
        // see that before the apps stop accepting connections (what a preStop sleep does on a
        // real cluster), within the grace period.
        tokio::time::sleep(grace.min(Duration::from_millis(500))).await;
        let stops = containers
            .into_iter()
            .flat_map(|c| c.apps)
            .map(|app| app.stop(grace));
        futures::future::join_all(stops).await;
        finish_deletion(
            &self.api,
            &self.name(),
            self.pod.metadata.uid.as_deref().unwrap_or_default(),
        )
        .await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
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
