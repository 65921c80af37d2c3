//! Scripted runs on the embedded cluster, for `rollout demo`, `rollout experiment` and
//! `rollout compare`: a fresh cluster, the app's manifests, user traffic through the ingress,
//! a rollout, and what the users saw — the figures and the timeline of a [`RunReport`].
//!
//! This is where the embedded cluster and the orchestrator meet: the cluster is started here
//! and its client handed to the engine, which talks to it like to any cluster.

pub mod apply;
pub mod experiment;
pub mod figures;
pub mod receivers;
pub mod sampler;
pub mod table;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubesim::traffic::{Traffic, TrafficSpec, parse_group};
use kubesim::{SimCluster, SimOptions};
use rollout_core::cluster::{Cluster, ClusterError};
use rollout_core::engine::start::{Request, StartError};
use rollout_core::engine::{Options, RunEnd};
use rollout_core::report::data::RunReport;
use rollout_core::report::event::Recorder;
use rollout_core::report::{Sink, event::Tee};

/// The example app `demo` and `compare` use, built into the binary so they run from anywhere.
pub const MICROBLOG: [(&str, &str); 7] = [
    (
        "manifests/microblog/00-namespace.yaml",
        include_str!("../../manifests/microblog/00-namespace.yaml"),
    ),
    (
        "manifests/microblog/10-config.yaml",
        include_str!("../../manifests/microblog/10-config.yaml"),
    ),
    (
        "manifests/microblog/20-deployment.yaml",
        include_str!("../../manifests/microblog/20-deployment.yaml"),
    ),
    (
        "manifests/microblog/30-service.yaml",
        include_str!("../../manifests/microblog/30-service.yaml"),
    ),
    (
        "manifests/microblog/40-ingress.yaml",
        include_str!("../../manifests/microblog/40-ingress.yaml"),
    ),
    (
        "manifests/microblog/50-hpa.yaml",
        include_str!("../../manifests/microblog/50-hpa.yaml"),
    ),
    (
        "manifests/mysql/00-secret.yaml",
        include_str!("../../manifests/mysql/00-secret.yaml"),
    ),
];

/// Why a scripted run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot start the embedded cluster")]
    Sim(#[from] kubesim::SimError),
    #[error(transparent)]
    Profiles(#[from] kubesim::node::behaviour::ProfileError),
    #[error(transparent)]
    Faults(#[from] kubesim::api::faults::FaultError),
    #[error("the embedded cluster runs no ingress")]
    NoIngress,
    #[error("cannot make the HTTP client of the checks")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("users' traffic")]
    Traffic(#[from] kubesim::traffic::TrafficError),
    #[error("cannot make the demo's TLS Secret: {0}")]
    Tls(String),
    #[error(transparent)]
    Start(#[from] StartError),
}

impl From<LabError> for crate::commands::exit::Exit {
    fn from(e: LabError) -> Self {
        use crate::commands::exit::{Exit, ExitCode};
        match e {
            LabError::Start(s) => s.into(),
            other => Exit::error(ExitCode::Error, &other),
        }
    }
}

/// A running embedded cluster for one scripted run.
pub struct Lab {
    pub cluster: SimCluster,
    /// The lab's own client: manifests, waits, samples, killed pods. Injected faults spare it
    /// (it counts as one of the cluster's components).
    pub client: kube::Client,
    /// The client the orchestrator runs with: the one injected faults are meant for.
    pub orchestrator: kube::Client,
    /// The CA each HTTPS host's certificate chains to (from the TLS Secrets the lab made or
    /// found): users reach those hosts over HTTPS, trusting it.
    tls: std::sync::Mutex<BTreeMap<String, String>>,
}

impl Lab {
    /// Starts a cluster with simulated time `speed` times faster, and `profiles` (YAML text of
    /// image behaviours) on top of the built-in ones.
    pub async fn start(speed: f64, profiles: Option<(&str, &str)>) -> Result<Lab, LabError> {
        Lab::start_with(speed, profiles, None).await
    }

    /// [`Lab::start`] with the API server injecting the faults of `faults` (YAML text of a
    /// fault profile, and where it comes from) into the orchestrator's requests.
    pub async fn start_with(
        speed: f64,
        profiles: Option<(&str, &str)>,
        faults: Option<(&str, &str)>,
    ) -> Result<Lab, LabError> {
        let mut opts = SimOptions {
            port: 0,
            time_scale: speed,
            ..Default::default()
        };
        if let Some((origin, text)) = profiles {
            let extra = kubesim::node::behaviour::Profiles::from_yaml(text, origin)?;
            opts.profiles = Some(kubesim::node::behaviour::Profiles::builtin().merged_with(extra));
        }
        if let Some((origin, text)) = faults {
            opts.faults = Some(kubesim::api::faults::FaultProfile::from_yaml(text, origin)?);
        }
        kube_util::tls::install_crypto_provider();
        let cluster = SimCluster::start(opts).await?;
        let client = cluster.component_client("lab").await?;
        let orchestrator = cluster.client().await?;
        Ok(Lab {
            cluster,
            client,
            orchestrator,
            tls: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    pub fn ingress_addr(&self) -> Result<std::net::SocketAddr, LabError> {
        self.cluster
            .ingress()
            .map(|i| i.addr())
            .ok_or(LabError::NoIngress)
    }

    /// Engine options for a rollout on this cluster: none but the defaults. The orchestrator
    /// finds the ingress from the Ingress's status (HTTPS with the Secret's CA when it has
    /// TLS) and the metrics from the controller pods, as on any cluster.
    pub fn options(&self) -> Result<Options, LabError> {
        Ok(Options::new()?)
    }

    /// Makes the TLS Secrets the Ingresses of `namespace` name and that do not exist, as
    /// cert-manager would (a CA of their own and a certificate for the hosts, `ca.crt` beside
    /// it), and learns the CA of every TLS host, so that users reach them over HTTPS.
    pub async fn provide_tls(&self, namespace: &str) -> Result<(), LabError> {
        use k8s_openapi::api::core::v1::Secret;
        use k8s_openapi::api::networking::v1::Ingress;
        let cluster = Cluster::new(self.client.clone(), namespace);
        let ingresses: Vec<Ingress> = cluster.list(None).await?;
        for ing in &ingresses {
            let spec = ing.spec.clone().unwrap_or_default();
            let rule_hosts: Vec<String> = spec
                .rules
                .iter()
                .flatten()
                .filter_map(|r| r.host.clone())
                .collect();
            for tls in spec.tls.iter().flatten() {
                let Some(name) = tls.secret_name.as_deref() else {
                    continue;
                };
                let hosts = match tls.hosts.as_deref() {
                    Some(h) if !h.is_empty() => h.to_vec(),
                    _ => rule_hosts.clone(),
                };
                let Some(first) = hosts.first() else {
                    continue;
                };
                let secret = match cluster.get_opt::<Secret>(name).await? {
                    Some(s) => s,
                    None => {
                        let made = kubesim::tls::tls_secret(namespace, name, first)
                            .map_err(|e| LabError::Tls(e.to_string()))?;
                        let made: Secret = serde_json::from_value(made)
                            .map_err(|e| LabError::Tls(e.to_string()))?;
                        cluster.create(&made).await?;
                        made
                    }
                };
                let ca = secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get("ca.crt"))
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned());
                if let Some(ca) = ca {
                    let mut known = self.tls.lock().unwrap_or_else(|p| p.into_inner());
                    for h in &hosts {
                        known.insert(h.to_ascii_lowercase(), ca.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// The CA users trust for `host`, when the lab serves it over HTTPS.
    pub fn tls_ca(&self, host: &str) -> Option<String> {
        self.tls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&host.to_ascii_lowercase())
            .cloned()
    }

    /// Makes the TLS Secrets of `namespace` (see [`Lab::provide_tls`]), then waits until
    /// every Deployment there has rolled out.
    pub async fn wait_ready(&self, namespace: &str, deadline: Duration) -> Result<(), LabError> {
        self.provide_tls(namespace).await?;
        Ok(Cluster::new(self.client.clone(), namespace)
            .wait_deployments(
                deadline,
                &format!("the Deployments of namespace {namespace:?} to roll out"),
                |all| {
                    all.iter()
                        .all(|d| rollout_core::engine::rolled_out(d).unwrap_or(false))
                },
            )
            .await?)
    }
}

/// User traffic of a run.
#[derive(Debug, Clone)]
pub struct Load {
    pub host: String,
    pub path: String,
    pub rate: f64,
    /// `10%:header:X-Variant=b` and the like.
    pub groups: Vec<String>,
}

impl Load {
    /// Users of a host with a certificate come over HTTPS (as a browser does after the
    /// ingress's redirect), the others over plain HTTP.
    pub fn start(&self, lab: &Lab) -> Result<Traffic, LabError> {
        let https = lab.cluster.ingress().and_then(|i| i.tls_addr());
        let (target, tls_ca) = match (lab.tls_ca(&self.host), https) {
            (Some(ca), Some(tls)) => (tls, Some(ca)),
            _ => (lab.ingress_addr()?, None),
        };
        let mut spec = TrafficSpec::new(target, self.host.clone());
        spec.tls_ca = tls_ca;
        spec.path = self.path.clone();
        spec.rate_per_second = self.rate;
        spec.keep_outcomes = 500_000;
        spec.duration = Some(Duration::from_secs(600));
        for g in &self.groups {
            spec.groups.push(parse_group(g)?);
        }
        Ok(Traffic::start(spec)?)
    }
}

/// What a scripted rollout gives back.
pub struct Run {
    pub outcome: RunEnd,
    pub report: RunReport,
}

/// The recording of a run: user traffic, pod samples and the engine's events from the
/// moment it starts.
pub struct Session {
    traffic: Traffic,
    sampler: sampler::Sampler,
    pub recorder: Arc<Recorder>,
    t0: Instant,
}

impl Session {
    pub fn start(lab: &Lab, namespace: &str, load: &Load) -> Result<Session, LabError> {
        let traffic = load.start(lab)?;
        let t0 = Instant::now();
        Ok(Session {
            traffic,
            sampler: sampler::Sampler::start(lab.client.clone(), namespace.to_owned(), t0),
            recorder: Arc::new(Recorder::default()),
            t0,
        })
    }

    /// The engine's sink: the recorder, and `extra` (live progress) when given.
    pub fn sink(&self, extra: Option<Arc<dyn Sink>>) -> Arc<dyn Sink> {
        let mut sinks: Vec<Arc<dyn Sink>> = vec![self.recorder.clone()];
        sinks.extend(extra);
        Arc::new(Tee(sinks))
    }

    /// Stops recording and makes the report.
    pub async fn finish(self) -> RunReport {
        let (outcomes, _) = self.traffic.outcomes();
        let samples = self.sampler.stop().await;
        let events = self
            .recorder
            .0
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        figures::report(figures::Inputs {
            t0: self.t0,
            traffic_started: self.t0,
            outcomes: &outcomes,
            samples: &samples,
            events: &events,
        })
    }
}

/// Runs `req` on `namespace` of the lab under `load`, reporting to `sink` too; traffic goes on
/// for `after` once the rollout has ended, so what users see of the result is counted.
pub async fn run(
    lab: &Lab,
    namespace: &str,
    req: &Request,
    load: &Load,
    after: Duration,
    sink: Option<Arc<dyn Sink>>,
) -> Result<Run, LabError> {
    let session = Session::start(lab, namespace, load)?;
    let opts = lab.options()?;
    let cluster = Cluster::new(lab.orchestrator.clone(), namespace);
    // A moment of steady traffic first, so the charts show where the run started from.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outcome = rollout_core::engine::start::run(cluster, req, opts, session.sink(sink)).await?;
    tokio::time::sleep(after).await;
    let report = session.finish().await;
    Ok(Run { outcome, report })
}

/// Ready pods per version at one instant, and all pods.
#[derive(Debug, Clone, Default)]
pub struct PodSample {
    pub t: f64,
    pub ready: BTreeMap<String, u32>,
    pub pods: u32,
}
