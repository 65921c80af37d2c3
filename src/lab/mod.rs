//! Scripted runs on the embedded cluster, for `rollout demo`, `rollout experiment` and
//! `rollout compare`: a fresh cluster, the app's manifests, user traffic through the ingress,
//! a rollout, and what the users saw — the figures and the timeline of a [`RunReport`].
//!
//! This is where the embedded cluster and the orchestrator meet: the cluster is started here
//! and its client handed to the engine, which talks to it like to any cluster.

pub mod apply;
pub mod experiment;
pub mod figures;
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
        })
    }

    pub fn ingress_addr(&self) -> Result<std::net::SocketAddr, LabError> {
        self.cluster
            .ingress()
            .map(|i| i.addr())
            .ok_or(LabError::NoIngress)
    }

    /// Engine options pointing the checks at this cluster's ingress and its metrics.
    pub fn options(&self) -> Result<Options, LabError> {
        let mut o = Options::new()?;
        if let Some(i) = self.cluster.ingress() {
            o.ingress_url = Some(format!("http://{}", i.addr()));
            o.metrics_url = Some(format!("http://{}/metrics", i.metrics_addr()));
        }
        Ok(o)
    }

    /// Waits until every Deployment of `namespace` has rolled out.
    pub async fn wait_ready(&self, namespace: &str, deadline: Duration) -> Result<(), LabError> {
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
    pub fn start(&self, lab: &Lab) -> Result<Traffic, LabError> {
        let mut spec = TrafficSpec::new(lab.ingress_addr()?, self.host.clone());
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
