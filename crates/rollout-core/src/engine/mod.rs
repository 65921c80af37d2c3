//! The executor: takes the Lease, records progress on the app's Deployment, runs the plan's
//! steps with their gates, runs the background checks for the whole rollout, and on a failed
//! gate, `rollout abort` or Ctrl-C rolls back — traffic back to the stable version first,
//! then the temporary objects removed.

mod autoscale;
mod checks;
mod gates;
mod load;
pub mod record;
mod restore;
pub mod start;

pub use steps::rolled_out;
mod steps;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;

use crate::cluster::lease::Holder;
use crate::cluster::wait::Stuck;
use crate::cluster::{Cluster, ClusterError};
use crate::plan::{Plan, Step};
use crate::report::{Event, Finish, Sink, StepState};
use crate::spec::Spec;
use crate::traffic::{Routing, TrafficError};
use record::{Phase, Record};

/// Why a step could not be done.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Traffic(#[from] TrafficError),
    /// A check failed (or could not measure anything): the reason, with its figures.
    #[error("{0}")]
    Check(String),
    #[error("Deployment {deployment:?} has no container {container:?}")]
    NoContainer {
        deployment: String,
        container: String,
    },
    #[error("Service {0:?} is gone")]
    ServiceGone(String),
    #[error("the pod template of Deployment {0:?} cannot be read")]
    Template(String, #[source] serde_json::Error),
}

/// What the engine needs besides the plan: how to reach the app and its metrics.
#[derive(Clone)]
pub struct Options {
    /// HTTP client for checks (TLS verified).
    pub http: reqwest::Client,
    /// HTTP client for checks with `tlsVerify: false`.
    pub http_insecure: reqwest::Client,
    /// Base URL of the ingress (`http://127.0.0.1:8080`); else the Ingress status address.
    pub ingress_url: Option<String>,
    /// The ingress controller's metrics (Prometheus text), for comparisons.
    pub metrics_url: Option<String>,
    /// A Prometheus server, for Prometheus checks and comparisons.
    pub prometheus: Option<String>,
    /// How long a `pause: {}` waits for `rollout promote` before it gives up and rolls back.
    pub promotion_timeout: Duration,
    /// Roll back on Ctrl-C (the CLI); tests stop the engine through [`Stopper`].
    pub handle_signals: bool,
    /// Client for checks through the API server's service proxy (one that does not retry
    /// 503s); the cluster's client when `None`.
    pub proxy_client: Option<kube::Client>,
}

impl Options {
    pub fn new() -> Result<Options, reqwest::Error> {
        let http = crate::gate::http::client(true)?;
        let http_insecure = crate::gate::http::client(false)?;
        Ok(Options {
            http,
            http_insecure,
            ingress_url: None,
            metrics_url: None,
            prometheus: None,
            promotion_timeout: Duration::from_secs(24 * 3600),
            handle_signals: false,
            proxy_client: None,
        })
    }
}

/// The reason of a rollback asked for with `rollout abort`.
pub const ABORTED: &str = "aborted with `rollout abort`";

/// What checks see of a running rollout as it changes: they describe it to other programs
/// (see [`crate::gate::Rollout`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Live {
    pub weight: u8,
    pub phase: Phase,
}

/// Why a rollout stops before its last step.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// A gate failed (or a step could not be done): roll back.
    Failed(String),
    /// `rollout abort`: roll back.
    Aborted,
    /// A signal (Ctrl-C, SIGTERM, SIGHUP; its name): roll back, then exit 130.
    Interrupted(&'static str),
    /// The Lease was lost (taken over, or not renewed in time): stop writing at once; who
    /// holds it now decides.
    Lost(String),
}

impl Stop {
    fn reason(&self) -> String {
        match self {
            Stop::Failed(r) => r.clone(),
            Stop::Aborted => ABORTED.into(),
            Stop::Interrupted(signal) => format!("interrupted ({signal})"),
            Stop::Lost(why) => format!("lost the lease: {why}"),
        }
    }
}

/// Stops a running engine from outside (tests, `demo`).
#[derive(Clone)]
pub struct Stopper(watch::Sender<Option<Stop>>);

impl Stopper {
    pub fn stop(&self, why: Stop) {
        self.0.send_if_modified(|s| {
            if s.is_none() {
                *s = Some(why);
                true
            } else {
                false
            }
        });
    }
}

/// A rollout in progress.
pub struct Engine {
    pub(crate) cluster: Cluster,
    pub(crate) spec: Spec,
    pub(crate) plan: Plan,
    pub(crate) record: Record,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) opts: Options,
    pub(crate) lease: Arc<Holder>,
    /// The gates' last measurements, written into the record with it.
    gates: Arc<gates::GateLog>,
    stop_tx: watch::Sender<Option<Stop>>,
    pub(crate) stop_rx: watch::Receiver<Option<Stop>>,
    /// `rollout promote --full`: pauses and analyses left are skipped.
    pub(crate) skip_to_end: bool,
    started: Instant,
    /// The weight and phase, for checks running beside the steps.
    pub(crate) live: watch::Sender<Live>,
    /// Posts the events to the receivers the strategy file and `--notify` name.
    notifier: Option<Arc<crate::report::notify::Notifier>>,
    /// Per plan step, the most requests a comparison counted (both versions), so synthetic
    /// load can say what share of them it sent.
    compared: std::sync::Mutex<std::collections::BTreeMap<usize, u64>>,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    pub finish: Finish,
    pub reason: Option<String>,
}

impl Engine {
    pub fn new(
        cluster: Cluster,
        spec: Spec,
        plan: Plan,
        record: Record,
        sink: Arc<dyn Sink>,
        opts: Options,
        lease: Arc<Holder>,
    ) -> Engine {
        let (stop_tx, stop_rx) = watch::channel(None);
        let notifier =
            crate::report::notify::Notifier::start(&spec.notify, &plan, sink.clone(), &opts.http);
        let sink: Arc<dyn Sink> = match &notifier {
            Some(n) => Arc::new(crate::report::event::Tee(vec![sink, n.clone()])),
            None => sink,
        };
        let (live, _) = watch::channel(Live {
            weight: record.routing.weight,
            phase: record.phase,
        });
        // Every write of the rollout is refused once its Lease is lost; every wait says how it
        // goes.
        let told = sink.clone();
        let cluster = cluster.fenced(lease.clone()).told(std::sync::Arc::new(
            move |what: &str, waited: Duration| {
                told.emit(&Event::Waiting {
                    what: what.to_owned(),
                    seconds: waited.as_secs_f64(),
                })
            },
        ));
        let gates = Arc::new(gates::GateLog::new(
            cluster.clone(),
            plan.names.deployment.clone(),
            record.gates.clone(),
        ));
        let sink: Arc<dyn Sink> = Arc::new(gates::Noting {
            inner: sink,
            log: gates.clone(),
        });
        Engine {
            gates,
            cluster,
            spec,
            plan,
            record,
            sink,
            opts,
            lease,
            stop_tx,
            stop_rx,
            skip_to_end: false,
            started: Instant::now(),
            live,
            notifier,
            compared: Default::default(),
        }
    }

    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop_tx.clone())
    }

    pub(crate) fn emit(&self, e: Event) {
        // Every change of weight or phase is followed by an event: checks see it from then on.
        let now = Live {
            weight: self.record.routing.weight,
            phase: self.record.phase,
        };
        self.live
            .send_if_modified(|live| std::mem::replace(live, now) != now);
        self.sink.emit(&e);
    }

    pub(crate) fn note(&self, message: impl Into<String>) {
        self.emit(Event::Note {
            message: message.into(),
        });
    }

    /// Writes the record on the app's Deployment, with the gates' last measurements.
    pub(crate) async fn save(&self) -> Result<(), ClusterError> {
        self.gates.save(&self.record).await
    }

    pub(crate) fn routing(&self) -> &Routing {
        &self.record.routing
    }

    /// Runs the plan from the record's step to the end, or rolls back.
    pub async fn run(self) -> RunEnd {
        let notifier = self.notifier.clone();
        let end = self.run_steps().await;
        // The last notifications go out before the caller (maybe about to exit) hears the
        // end; for a bounded time, so that a receiver that is down delays nothing much.
        if let Some(n) = notifier {
            n.flush().await;
        }
        end
    }

    async fn run_steps(mut self) -> RunEnd {
        let renew = self.lease.keep_renewed();
        let mut tasks = vec![renew];
        if self.opts.handle_signals {
            tasks.push(self.handle_signals());
        }
        tasks.push(self.watch_abort());
        tasks.push(self.watch_lease());
        if self.record.phase == Phase::RollingBack {
            let reason = self
                .record
                .reason
                .clone()
                .unwrap_or_else(|| "aborted".into());
            return self.finish_rollback(Stop::Failed(reason), tasks).await;
        }
        self.emit(Event::Started {
            app: self.plan.names.deployment.clone(),
            namespace: self.plan.namespace.clone(),
            strategy: self.plan.strategy.to_string(),
            router: self.plan.router.to_string(),
            from_image: self.plan.from_image.clone(),
            to_image: self.plan.to_image.clone(),
            steps: self.plan.steps.iter().map(ToString::to_string).collect(),
            first_step: self.record.step,
        });
        for note in self.plan.notes.clone() {
            self.note(note);
        }
        tasks.extend(self.start_background());
        let mut failure: Option<Stop> = None;
        let steps = self.plan.steps.clone();
        for (index, step) in steps.iter().enumerate().skip(self.record.step) {
            self.record.step = index;
            if self.record.phase != Phase::WaitingForPromotion {
                self.record.phase = Phase::Running;
            }
            if let Err(e) = self.save().await {
                failure = Some(Stop::Failed(crate::error::chain(&e)));
                break;
            }
            let description = step.to_string();
            if self.skip_to_end && is_skippable(step) {
                self.emit(Event::Step {
                    index,
                    state: StepState::Skipped,
                    description,
                });
                continue;
            }
            self.emit(Event::Step {
                index,
                state: StepState::Running,
                description: description.clone(),
            });
            if let Some(stop) = self.stop_rx.borrow().clone() {
                failure = Some(stop);
                break;
            }
            let mut stop_rx = self.stop_rx.clone();
            let result = tokio::select! {
                r = self.execute(index, step) => r.map_err(|e| Stop::Failed(crate::error::chain(&e))),
                s = stop_rx.wait_for(Option::is_some) => Err(s.ok().and_then(|s| s.clone()).unwrap_or(Stop::Aborted)),
            };
            match result {
                Ok(()) => self.emit(Event::Step {
                    index,
                    state: StepState::Done,
                    description,
                }),
                Err(stop) => {
                    self.emit(Event::Step {
                        index,
                        state: StepState::Failed,
                        description,
                    });
                    failure = Some(stop);
                    break;
                }
            }
        }
        match failure {
            Some(Stop::Lost(why)) => {
                for t in &tasks {
                    t.abort();
                }
                let reason = format!(
                    "stopped without rolling back: lost the lease of {:?} ({why}); whoever holds it now goes on or rolls back",
                    self.plan.names.deployment
                );
                self.finished(Finish::Lost, Some(reason))
            }
            Some(stop) => self.finish_rollback(stop, tasks).await,
            None => {
                for t in &tasks {
                    t.abort();
                }
                let finish = Finish::Done;
                let reason = None;
                self.close(finish, &reason).await;
                self.finished(finish, reason)
            }
        }
    }

    async fn finish_rollback(
        mut self,
        stop: Stop,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) -> RunEnd {
        // Background checks stop; the lease keeps being renewed while rolling back.
        for t in tasks.iter().skip(1) {
            t.abort();
        }
        let reason = stop.reason();
        self.emit(Event::RollingBack {
            reason: reason.clone(),
        });
        self.record.phase = Phase::RollingBack;
        self.record.reason = Some(reason.clone());
        let _ = self.save().await;
        let result = self.rollback().await;
        if let Some(t) = tasks.first() {
            t.abort();
        }
        match result {
            Ok(()) => {
                let finish = if matches!(stop, Stop::Interrupted(_)) {
                    Finish::Interrupted
                } else {
                    Finish::RolledBack
                };
                let reason = Some(reason);
                self.close(finish, &reason).await;
                self.finished(finish, reason)
            }
            Err(e) => {
                let _ = self.lease.release().await;
                let reason = Some(format!(
                    "{reason}; rolling back failed: {} (run `rollout abort {}` to try again)",
                    crate::error::chain(&e),
                    self.plan.names.deployment
                ));
                self.finished(Finish::RollbackFailed, reason)
            }
        }
    }

    /// Clears the record (keeping a one-line summary), releases the lease.
    async fn close(&self, finish: Finish, reason: &Option<String>) {
        let last = json!({
            "result": finish.as_str(),
            "strategy": self.plan.strategy.as_str(),
            "image": self.plan.to_image,
            "from": self.plan.from_image,
            "reason": reason,
            "at": jiff::Timestamp::now().to_string(),
        });
        self.gates.close().await;
        if let Err(e) = self
            .cluster
            .merge::<Deployment>(&self.plan.names.deployment, &record::clear_patch(&last))
            .await
        {
            self.note(format!(
                "could not clear the rollout record: {}",
                crate::error::chain(&e)
            ));
        }
        if let Err(e) = self.lease.release().await {
            self.note(format!(
                "could not release the lease: {}",
                crate::error::chain(&e)
            ));
        }
    }

    fn finished(&self, finish: Finish, reason: Option<String>) -> RunEnd {
        self.emit(Event::Finished {
            finish,
            reason: reason.clone(),
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
        });
        RunEnd { finish, reason }
    }

    /// Ctrl-C, SIGTERM (what CI runners, `timeout` and Kubernetes Jobs send) and SIGHUP roll
    /// back; a second signal stops at once, leaving the record for `abort` or `resume`.
    fn handle_signals(&self) -> tokio::task::JoinHandle<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let stopper = self.stopper();
        let app = self.plan.names.deployment.clone();
        let sink = self.sink.clone();
        tokio::spawn(async move {
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            let first = next_signal(&mut term, &mut hup).await;
            stopper.stop(Stop::Interrupted(first));
            let second = next_signal(&mut term, &mut hup).await;
            sink.emit(&Event::Note {
                message: format!(
                    "{second} again: stopping at once; the rollout stays recorded — `rollout abort {app}` rolls it back, `rollout resume {app}` goes on"
                ),
            });
            std::process::exit(i32::from(crate::exit::ExitCode::Interrupted.code()));
        })
    }

    /// Stops the rollout the moment its Lease is lost.
    fn watch_lease(&self) -> tokio::task::JoinHandle<()> {
        let mut lost = self.lease.lost();
        let stopper = self.stopper();
        tokio::spawn(async move {
            if let Ok(why) = lost.wait_for(Option::is_some).await {
                stopper.stop(Stop::Lost(why.clone().unwrap_or_default()));
            }
        })
    }

    /// Watches the app's Deployment for `rollout abort` (the abort annotation).
    fn watch_abort(&self) -> tokio::task::JoinHandle<()> {
        // It watches beside the run for as long as the run lasts: nothing waits on it, so it
        // has nothing to say.
        let cluster = self.cluster.clone().untold();
        let name = self.plan.names.deployment.clone();
        let stopper = self.stopper();
        tokio::spawn(async move {
            let wait = cluster.wait_deployment_alone(
                &name,
                Duration::from_secs(365 * 86400),
                "abort",
                |d| -> Result<Option<()>, Stuck> {
                    Ok(crate::cluster::api::annotation(&d.metadata, record::ABORT).map(|_| ()))
                },
            );
            if wait.await.is_ok() {
                stopper.stop(Stop::Aborted);
            }
        })
    }
}

/// The next of Ctrl-C, SIGTERM or SIGHUP, by name.
async fn next_signal(
    term: &mut tokio::signal::unix::Signal,
    hup: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

fn is_skippable(step: &Step) -> bool {
    matches!(
        step,
        Step::Pause { .. }
            | Step::WaitForPromotion
            | Step::Analysis { .. }
            | Step::Experiment { .. }
    )
}
