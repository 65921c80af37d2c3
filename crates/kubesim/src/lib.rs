//! The embedded cluster: an in-process Kubernetes API server (and, built on it, the controllers,
//! node agent and ingress) that real clients — kubectl, the `kube` crate — use unchanged.
//!
//! What is inside, from the bottom up:
//!
//! - [`store`]: the objects, their resourceVersions and watch history, indexes for selectors
//!   and ownerReferences, Event expiry, optional write-through to disk;
//! - [`admission`]: defaults and validation with Kubernetes' own rules and messages;
//! - [`api`]: the HTTPS API server (CRUD, the four patch types, watch, discovery, OpenAPI,
//!   Tables, subresources, proxies, protobuf request bodies);
//! - [`controllers`]: Deployment, ReplicaSet, Endpoints and EndpointSlice, HPA, events, and the
//!   garbage collector;
//! - [`node`]: the node agent, whose pods are in-process HTTP servers on loopback addresses
//!   with real probes, restarts and back-off; what each image does comes from
//!   [`node::behaviour`] profiles;
//! - [`ingress`]: an ingress controller for Ingress (with ingress-nginx's canary annotations
//!   and TLS) and Gateway API HTTPRoutes, with the per-version metrics ingress-nginx and
//!   Contour's Envoy export, shown in the cluster as their controller pods;
//! - [`traffic`]: a generator of users' requests, with per-version results.
//!
//! Simulated time runs on one [`clock::SimClock`] per cluster: `time_scale` times faster than
//! real time, or slower when the cluster cannot keep that pace — which it then says, in a log
//! line, an Event on its Node and [`SimCluster::achieved_speed`].
//!
//! It meets the orchestrator only at the Kubernetes API: nothing here knows about strategies,
//! plans or gates, and the crate graph keeps it that way (this crate depends on `kube-util`
//! alone among the project's crates).

pub mod admission;
pub mod api;
pub mod clock;
pub mod controllers;
pub mod ingress;
mod json;
pub mod kubeconfig;
pub mod node;
pub mod resources;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
/// The traffic generator, at the path the cluster's users know it by; it lives in its own
/// crate so the orchestrator can send synthetic load without depending on the cluster.
pub mod traffic {
    pub use loadgen::*;
}

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use store::Store;

/// The Node the embedded ingress's controller pods are bound to.
pub const INGRESS_NODE: &str = "sim-ingress-1";

/// How to start an embedded cluster.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Persist objects here (write-through); memory only when absent.
    pub data_dir: Option<PathBuf>,
    /// How often idle watches get a bookmark.
    pub bookmark_interval: Duration,
    /// How many changes a watch can resume from before it gets 410 Expired.
    pub history: usize,
    /// How long an Event lives after its last write (kube-apiserver's `--event-ttl`).
    pub event_ttl: Duration,
    /// Run the controllers (Deployment, ReplicaSet, Endpoints). Off gives a bare API server,
    /// where objects stay exactly as clients write them.
    pub controllers: bool,
    /// Run a node agent (node `sim-node-1`) that schedules pods and runs them as HTTP servers.
    pub node_agent: bool,
    /// How many times faster than real time simulated time runs (probe timings, back-off,
    /// grace periods, app start-up); real HTTP still flows. The cluster slows down from it
    /// when it cannot keep up (see [`SimCluster::achieved_speed`]).
    pub time_scale: f64,
    /// Image behaviour profiles; the built-in ones when absent.
    pub profiles: Option<node::behaviour::Profiles>,
    /// Run the ingress proxy (class `nginx`) on 127.0.0.1 at this port (0 picks a free one);
    /// None runs no ingress.
    pub ingress_port: Option<u16>,
    /// Faults the API server injects into the requests it serves ([`api::faults`]); the
    /// cluster's own components are spared unless a rule says otherwise.
    pub faults: Option<api::faults::FaultProfile>,
    /// The ingress's HTTPS listener, on 127.0.0.1 at this port (0 picks a free one).
    pub ingress_tls_port: u16,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            port: 0,
            data_dir: None,
            bookmark_interval: Duration::from_secs(10),
            history: store::HISTORY,
            event_ttl: store::EVENT_TTL,
            controllers: true,
            node_agent: true,
            time_scale: 1.0,
            profiles: None,
            ingress_port: Some(0),
            faults: None,
            ingress_tls_port: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on 127.0.0.1:{port}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the ingress cannot start")]
    Ingress(#[source] ingress::proxy::IngressError),
    #[error("cannot make the cluster's TLS certificates: {0}")]
    Certificates(#[source] rcgen::Error),
    #[error("cannot load the TLS configuration: {0}")]
    Tls(#[source] std::io::Error),
    #[error("cannot open the data dir: {0}")]
    DataDir(String),
    #[error("cannot build a client for the embedded cluster: {0}")]
    Client(String),
}

/// A running embedded cluster.
pub struct SimCluster {
    url: String,
    addr: SocketAddr,
    kubeconfig: String,
    store: Arc<Store>,
    stop: tokio::sync::watch::Sender<bool>,
    handle: axum_server::Handle<SocketAddr>,
    server: tokio::task::JoinHandle<()>,
    controllers: Option<controllers::Controllers>,
    gc: controllers::gc::GarbageCollector,
    event_expiry: controllers::events::Expiry,
    node: Option<node::kubelet::NodeAgent>,
    ingress: Option<ingress::proxy::IngressProxy>,
    /// What the node agent's apps do, by image; changeable while they run.
    profiles: Arc<node::behaviour::LiveProfiles>,
    clock: Arc<clock::SimClock>,
    /// Says when the clock slows down or catches up again, as an Event on the Node.
    pace_events: tokio::task::JoinHandle<()>,
    /// The faults the API server injects, when it was given a profile.
    faults: Option<Arc<api::faults::Faults>>,
}

impl SimCluster {
    /// Starts the cluster. The process's TLS provider must be installed first
    /// ([`kube_util::tls::install_crypto_provider`]).
    pub async fn start(opts: SimOptions) -> Result<Self, SimError> {
        let store_opts = store::StoreOptions {
            history: opts.history,
            event_ttl: opts.event_ttl,
            ..Default::default()
        };
        let store = match &opts.data_dir {
            Some(dir) => Store::open_with(dir, store_opts).map_err(SimError::DataDir)?,
            None => Store::with_options(store_opts),
        };
        let certs = tls::generate().map_err(SimError::Certificates)?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port)).map_err(|source| {
            SimError::Listen {
                port: opts.port,
                source,
            }
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| SimError::Listen {
                port: opts.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Listen {
            port: opts.port,
            source,
        })?;
        let url = format!("https://{addr}");
        let token = uuid::Uuid::new_v4().simple().to_string();
        let kubeconfig = kubeconfig::render(&url, &certs.ca_pem, &token, "default");

        let (stop, stopping) = tokio::sync::watch::channel(false);
        let faults = opts
            .faults
            .clone()
            .map(|p| Arc::new(api::faults::Faults::new(p)));
        let state = Arc::new(api::ApiState {
            store: store.clone(),
            token,
            address: addr.to_string(),
            stopping,
            bookmark_interval: opts.bookmark_interval,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| SimError::Client(e.to_string()))?,
            faults: faults.clone(),
        });
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            certs.server_cert_pem.into_bytes(),
            certs.server_key_pem.into_bytes(),
        )
        .await
        .map_err(SimError::Tls)?;
        let handle = axum_server::Handle::new();
        let server = axum_server::tls_rustls::from_tcp_rustls(listener, config)
            .map_err(|source| SimError::Listen {
                port: opts.port,
                source,
            })?
            .handle(handle.clone());
        let app = api::router(state);
        let server = tokio::spawn(async move {
            if let Err(e) = server.serve(app.into_make_service()).await {
                tracing::error!(error = %e, "embedded API server stopped");
            }
        });
        let clock = clock::SimClock::adaptive(opts.time_scale);
        let pace_events = tokio::spawn(record_pace(clock.pace(), store.clone()));
        // The API's own housekeeping: deletions cascade and Events expire whether or not the
        // workload controllers run.
        let gc = controllers::gc::GarbageCollector::start(store.clone());
        let event_expiry = controllers::events::Expiry::start(store.clone());
        let mut cluster = Self {
            url,
            addr,
            kubeconfig,
            store,
            stop,
            handle,
            server,
            controllers: None,
            gc,
            event_expiry,
            node: None,
            ingress: None,
            profiles: Arc::new(node::behaviour::LiveProfiles::new(
                opts.profiles
                    .clone()
                    .unwrap_or_else(node::behaviour::Profiles::builtin),
            )),
            clock,
            pace_events,
            faults,
        };
        if opts.node_agent {
            let client = cluster.component_client("node-agent").await?;
            let mut node_opts = node::kubelet::NodeOptions::new(node::kubelet::DEFAULT_NODE);
            node_opts.clock = cluster.clock.clone();
            node_opts.profiles = cluster.profiles.clone();
            let agent = node::kubelet::NodeAgent::start(client, node_opts)
                .await
                .map_err(|e| SimError::Client(e.to_string()))?;
            cluster.node = Some(agent);
        }
        if let Some(port) = opts.ingress_port {
            let client = cluster.component_client("ingress").await?;
            let listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let tls_listen = std::net::SocketAddr::from(([127, 0, 0, 1], opts.ingress_tls_port));
            let proxy = ingress::proxy::IngressProxy::start(
                client,
                ingress::proxy::IngressOptions {
                    listen,
                    tls_listen: Some(tls_listen),
                    // Shows itself as ingress-nginx's and Contour's pods, so that clients find
                    // its metrics as on a real cluster.
                    controller_node: Some(INGRESS_NODE.to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(SimError::Ingress)?;
            cluster.ingress = Some(proxy);
        }
        if opts.controllers {
            // The autoscaler reads load from the node agent's apps (see controllers::autoscaler).
            let busy = cluster.node.as_ref().map(|n| {
                let stats = n.stats();
                let f: controllers::autoscaler::BusyMicros =
                    Arc::new(move |ns: &str, pod: &str| {
                        let registry = stats.lock().unwrap_or_else(|p| p.into_inner());
                        let apps = registry.get(&(ns.to_string(), pod.to_string()))?;
                        Some(
                            apps.iter()
                                .map(|a| a.busy_micros.load(std::sync::atomic::Ordering::Relaxed))
                                .sum(),
                        )
                    });
                f
            });
            let controllers =
                controllers::Controllers::start(cluster.store.clone(), busy, opts.time_scale);
            controllers.report_lag_to(cluster.clock.clone());
            cluster.controllers = Some(controllers);
        }
        Ok(cluster)
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The kubeconfig (YAML) with context `rollout-sim`.
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // It holds a bearer token: readable by its owner only, as kubectl's own files are.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        #[cfg(unix)]
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::io::Write::write_all(&mut file, self.kubeconfig.as_bytes())
    }

    /// The store behind the API, for the cluster's own components.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A `kube::Client` for this cluster, built from its kubeconfig like any other.
    pub async fn client(&self) -> Result<kube::Client, SimError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig)
            .map_err(|e| SimError::Client(e.to_string()))?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| SimError::Client(e.to_string()))?;
        kube::Client::try_from(config).map_err(|e| SimError::Client(e.to_string()))
    }

    /// A client whose requests count as the cluster's own component `component`: they carry
    /// [`api::faults::COMPONENT_HEADER`], and fault rules leave them alone unless they say
    /// `components: true`. The node agent and the ingress use one; so can a test that
    /// watches the cluster without meeting the faults it injects into the client under test.
    pub async fn component_client(&self, component: &str) -> Result<kube::Client, SimError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig)
            .map_err(|e| SimError::Client(e.to_string()))?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| SimError::Client(e.to_string()))?;
        let value = axum::http::HeaderValue::from_str(component)
            .map_err(|e| SimError::Client(format!("component name {component:?}: {e}")))?;
        config.headers.push((
            axum::http::HeaderName::from_static(api::faults::COMPONENT_HEADER),
            value,
        ));
        kube::Client::try_from(config).map_err(|e| SimError::Client(e.to_string()))
    }

    /// The faults injected so far, when the cluster was started with a fault profile.
    pub fn faults_injected(&self) -> Option<api::faults::FaultCounts> {
        self.faults.as_ref().map(|f| f.injected())
    }

    /// Puts `extra` on top of the node agent's profiles: running apps answer by the new
    /// behaviour at once (see [`node::behaviour::LiveProfiles`]).
    pub fn change_profiles(&self, extra: node::behaviour::Profiles) {
        self.profiles.change(extra);
    }

    /// The ingress proxy, when the cluster runs one.
    pub fn ingress(&self) -> Option<&ingress::proxy::IngressProxy> {
        self.ingress.as_ref()
    }

    /// The node agent, when the cluster runs one.
    pub fn node(&self) -> Option<&node::kubelet::NodeAgent> {
        self.node.as_ref()
    }

    /// The speed simulated time runs at now: `time_scale`, or less while the cluster cannot
    /// keep up with it.
    pub fn achieved_speed(&self) -> f64 {
        self.clock.speed()
    }

    /// The cluster's simulated clock: its speed, its changes ([`clock::SimClock::pace`]), and
    /// simulated time itself, for averaging the speed over a run.
    pub fn clock(&self) -> &Arc<clock::SimClock> {
        &self.clock
    }

    /// Stops serving: open watches end, connections close. The parts stop side by side and
    /// none is waited for long, so a cluster stops promptly however loaded it is.
    pub async fn stop(self) {
        self.pace_events.abort();
        let ingress = async {
            if let Some(i) = self.ingress {
                i.stop().await;
            }
        };
        let node = async {
            if let Some(n) = self.node {
                n.stop().await;
            }
        };
        let controllers = async {
            if let Some(c) = self.controllers {
                c.stop().await;
            }
        };
        let housekeeping = async {
            tokio::join!(self.gc.stop(), self.event_expiry.stop());
        };
        let parts = async { tokio::join!(ingress, node, controllers, housekeeping) };
        let _ = tokio::time::timeout(Duration::from_millis(500), parts).await;
        let _ = self.stop.send(true);
        self.handle
            .graceful_shutdown(Some(Duration::from_millis(200)));
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_millis(300), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

/// Records the clock's noticeable speed changes as Events on the node, where `kubectl get
/// events` and `kubectl describe node` show them.
async fn record_pace(mut pace: tokio::sync::watch::Receiver<clock::Pace>, store: Arc<Store>) {
    let Some(nodes) = resources::find("", "v1", "nodes") else {
        return;
    };
    while pace.changed().await.is_ok() {
        let p = pace.borrow_and_update().clone();
        let Ok(node) = store.get(nodes, "", node::kubelet::DEFAULT_NODE) else {
            continue;
        };
        let (type_, reason) = if p.at_asked() {
            ("Normal", "SimulatedTimeAtSpeed")
        } else {
            ("Warning", "SimulatedTimeSlowed")
        };
        controllers::events::record(
            &store,
            &node,
            "kubesim-clock",
            type_,
            reason,
            &format!("embedded cluster {p}"),
        );
    }
}
