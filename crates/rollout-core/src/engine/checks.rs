//! Running checks: inline (an analysis step: `count` measurements, `interval` apart), in the
//! background (for the whole rollout; a failure stops it), and the A/B / shadow experiment.
//! The probe check in the background follows the pods' watch, so a crash loop is caught as
//! it happens.

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;

use super::{Engine, StepError, Stop};
use crate::cluster::ClusterError;
use crate::gate::compare::Comparer;
use crate::gate::http::Endpoint;
use crate::gate::tally::{Standing, Tally};
use crate::gate::{self, Context, GateError, Measurement, Outcome};
use crate::spec::{Check, CheckKind, OnInconclusive, Promote, VersionRef, Via};

/// How a check of an analysis step ended, when it did not fail.
enum Conclusion {
    Decided,
    /// Still inconclusive at the step's deadline: why, with its figures.
    Undecided(String),
}

/// How long a check through a Service waits for the Service's endpoints to catch up with its
/// selector before it counts as not measured.
const ENDPOINTS_SETTLE: Duration = Duration::from_secs(30);

/// Where users reach the app through its Ingress.
pub(crate) enum Front {
    /// `http://address:port` (or `--ingress-url`), with the rule's host as the Host header.
    Plain { base: String, host: Option<String> },
    /// `https://host:port`, connecting to `address`.
    Tls {
        base: String,
        host: String,
        address: std::net::SocketAddr,
        ca: Option<Vec<u8>>,
    },
}

/// `host:port`, with an IPv6 address in brackets.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What a check needs to measure, cloned into background tasks.
#[derive(Clone)]
pub(crate) struct Measurer {
    cluster: crate::cluster::Cluster,
    plan: crate::plan::Plan,
    opts: super::Options,
    /// Headers that reach the new version through the router at any weight.
    new_headers: Vec<(String, String)>,
    /// The plan step measuring (from 0); `None` in the background.
    step: Option<usize>,
    /// The weight and phase of the rollout as they change.
    live: tokio::sync::watch::Receiver<super::Live>,
}

impl Measurer {
    async fn pods_of_new(&self) -> Result<crate::gate::probe::NewPods, ClusterError> {
        let d = self.cluster.deployment(&self.plan.names.deployment).await?;
        let selector = crate::cluster::api::selector_query(&d);
        let pods: Vec<Pod> = self.cluster.list(Some(&selector)).await?;
        let (container, image) = (&self.plan.container, &self.plan.to_image);
        // The rollout's own Deployments and the app's: whichever runs the new template.
        let names = [
            Some(self.plan.names.new_deployment.as_str()),
            Some(self.plan.names.deployment.as_str()),
        ];
        let mut desired = Vec::new();
        for name in names.into_iter().flatten() {
            if desired.iter().any(|(n, _): &(String, i32)| n == name) {
                continue;
            }
            let Some(d) = self.cluster.get_opt::<Deployment>(name).await? else {
                continue;
            };
            let runs_new = d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .is_some_and(|s| {
                    s.containers
                        .iter()
                        .any(|c| &c.name == container && c.image.as_deref() == Some(image))
                });
            if runs_new {
                desired.push((
                    name.to_owned(),
                    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                ));
            }
        }
        Ok(crate::gate::probe::NewPods {
            pods: pods
                .into_iter()
                .filter(|p| super::steps::runs_image(p, container, image))
                .collect(),
            version: crate::gate::probe::version_of(image).to_owned(),
            desired,
        })
    }

    /// Where users reach the app: the Ingress's status address and ports, the host of its
    /// first rule, and HTTPS when its `tls` covers that host (`--ingress-url` overrides the
    /// address). `None` while the Ingress has no address.
    pub(crate) async fn ingress_front(&self) -> Result<Option<Front>, GateError> {
        let Some(ingress_name) = self.plan.names.ingress.as_deref() else {
            return Ok(None);
        };
        let Some(ingress) = self.cluster.get_opt::<Ingress>(ingress_name).await? else {
            return Ok(None);
        };
        let spec = ingress.spec.clone().unwrap_or_default();
        let host = spec.rules.iter().flatten().find_map(|r| r.host.clone());
        if let Some(url) = &self.opts.ingress_url {
            return Ok(Some(Front::Plain {
                base: url.trim_end_matches('/').to_owned(),
                host,
            }));
        }
        let Some(lb) = ingress
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .and_then(|i| i.into_iter().next())
        else {
            return Ok(None);
        };
        let Some(at) = lb.ip.clone().or(lb.hostname.clone()) else {
            return Ok(None);
        };
        let ports: Vec<u16> = lb
            .ports
            .iter()
            .flatten()
            .filter_map(|p| u16::try_from(p.port).ok())
            .collect();
        let tls = spec.tls.iter().flatten().find(|t| {
            let hosts = t.hosts.as_deref().unwrap_or_default();
            hosts.is_empty() || host.as_ref().is_some_and(|h| hosts.contains(h))
        });
        let Some(tls) = tls else {
            // The HTTP port: 80 when listed, else the first listed.
            let port = ports
                .iter()
                .copied()
                .find(|p| *p == 80)
                .or(ports.first().copied())
                .unwrap_or(80);
            return Ok(Some(Front::Plain {
                base: format!("http://{}", join_host_port(&at, port)),
                host,
            }));
        };
        // The HTTPS port: 443 when listed, else the second listed (an ingress that lists
        // its own ports writes the HTTP one first), else 443.
        let port = ports
            .iter()
            .copied()
            .find(|p| *p == 443)
            .or(ports.get(1).copied())
            .unwrap_or(443);
        let address = tokio::net::lookup_host(join_host_port(&at, port))
            .await
            .ok()
            .and_then(|mut a| a.next());
        let Some(address) = address else {
            return Ok(None);
        };
        // The CA that signed the certificate, when the Secret carries it (cert-manager's
        // `ca.crt`); reading Secrets is not in the orchestrator's Role, so a refusal means
        // the system's roots alone.
        let ca = match &tls.secret_name {
            Some(name) => self
                .cluster
                .get_opt::<k8s_openapi::api::core::v1::Secret>(name)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.data?.get("ca.crt").map(|b| b.0.clone())),
            None => None,
        };
        Ok(Some(match host {
            Some(host) => Front::Tls {
                base: format!("https://{}", join_host_port(&host, port)),
                host,
                address,
                ca,
            },
            None => Front::Plain {
                base: format!("https://{address}"),
                host: None,
            },
        }))
    }

    /// The API server's proxy to `service`, on its first port by number (the API server maps
    /// a number to the port's name; no port at all would mean only an unnamed port). Returns
    /// once the Service's endpoints show the pods it selects now, not the ones it selected a
    /// moment ago.
    async fn service_proxy(&self, service: Option<String>) -> Result<Endpoint, GateError> {
        let service = service.ok_or(GateError::NoService)?;
        let svc: Service = self
            .cluster
            .wait_service_endpoints(&service, ENDPOINTS_SETTLE)
            .await?
            .ok_or_else(|| GateError::NoPort(service.clone()))?;
        let port = svc
            .spec
            .and_then(|s| s.ports?.first().map(|p| p.port))
            .ok_or_else(|| GateError::NoPort(service.clone()))?;
        Ok(Endpoint::ServiceProxy {
            client: self
                .opts
                .proxy_client
                .clone()
                .unwrap_or_else(|| self.cluster.client.clone()),
            namespace: self.plan.namespace.clone(),
            service,
            port: port.to_string(),
        })
    }

    async fn find_endpoint(&self, version: VersionRef, via: Via) -> Result<Endpoint, GateError> {
        let names = &self.plan.names;
        let service = match version {
            VersionRef::New => names.new_service.clone().or_else(|| names.service.clone()),
            VersionRef::Stable => names.service.clone(),
        };
        // The router can send a request to the new version by its headers (ingress-nginx,
        // Gateway API); the others split by pods or not at all.
        let routed = !self.new_headers.is_empty();
        let splits = !self.plan.router.capabilities().is_empty();
        let through_ingress = match via {
            Via::Service => false,
            Via::Ingress => true,
            // Through the ingress the way users come, when it can target the version.
            Via::Auto => {
                names.ingress.is_some()
                    && (version == VersionRef::Stable && !routed
                        || version == VersionRef::New && routed
                        || !splits)
            }
        };
        if !through_ingress {
            return self.service_proxy(service).await;
        }
        let Some(front) = self.ingress_front().await? else {
            if via == Via::Ingress {
                return Err(GateError::NoIngressAddress);
            }
            return self.service_proxy(service).await;
        };
        let headers = if version == VersionRef::New && routed {
            self.new_headers.clone()
        } else {
            Vec::new()
        };
        Ok(match front {
            Front::Plain { base, host } => Endpoint::Url {
                base,
                host,
                headers,
            },
            Front::Tls {
                base,
                host,
                address,
                ca,
            } => Endpoint::Tls {
                base,
                host,
                address,
                ca,
                headers,
            },
        })
    }

    /// The rollout as exec and webhook checks describe it. The new version's address is the
    /// app's front when the router sends requests there to the new version by header, or
    /// does not split traffic at all (the way the HTTP check's `via: auto` goes).
    async fn describe(&self) -> gate::Rollout {
        let live = *self.live.borrow();
        let routed = !self.new_headers.is_empty();
        let splits = !self.plan.router.capabilities().is_empty();
        let front = if routed || !splits {
            self.ingress_front().await.ok().flatten()
        } else {
            None
        };
        let (new_url, new_host) = match front {
            Some(Front::Plain { base, host }) => (Some(base), host),
            Some(Front::Tls { base, .. }) => (Some(base), None),
            None => (None, None),
        };
        gate::Rollout {
            app: self.plan.names.deployment.clone(),
            namespace: self.plan.namespace.clone(),
            strategy: self.plan.strategy.to_string(),
            old_image: self.plan.from_image.clone(),
            new_image: self.plan.to_image.clone(),
            step: self.step.map(|s| s + 1),
            weight: live.weight,
            phase: live.phase,
            new_header: new_url
                .as_ref()
                .and_then(|_| self.new_headers.first().cloned()),
            new_url,
            new_host,
        }
    }

    fn make_comparer(&self) -> Option<Comparer> {
        let source = crate::metrics::source::open(&self.plan.metrics, &self.cluster.client)?;
        Some(Comparer::new(
            source.into(),
            self.plan.router.observer()?,
            self.plan.namespace.clone(),
            self.plan.names.service.clone()?,
            self.plan.names.new_service.clone()?,
        ))
    }
}

impl Context for Measurer {
    fn new_pods(&self) -> BoxFuture<'_, Result<crate::gate::probe::NewPods, ClusterError>> {
        Box::pin(self.pods_of_new())
    }

    fn endpoint(
        &self,
        version: VersionRef,
        via: Via,
    ) -> BoxFuture<'_, Result<Endpoint, GateError>> {
        Box::pin(self.find_endpoint(version, via))
    }

    fn http(&self, tls_verify: bool) -> &reqwest::Client {
        if tls_verify {
            &self.opts.http
        } else {
            &self.opts.http_insecure
        }
    }

    fn prometheus(&self) -> Option<&str> {
        self.opts.prometheus.as_deref()
    }

    fn vars(&self, check: &Check) -> crate::gate::prometheus::Vars {
        let names = &self.plan.names;
        crate::gate::prometheus::Vars {
            namespace: self.plan.namespace.clone(),
            app: names.deployment.clone(),
            service: names.service.clone().unwrap_or_default(),
            new: names.new_service.clone().unwrap_or_default(),
            stable: names.service.clone().unwrap_or_default(),
            interval: format!("{}s", check.interval.std().as_secs().max(1)),
        }
    }

    fn comparer(&self) -> Option<Comparer> {
        self.make_comparer()
    }

    fn rollout(&self) -> BoxFuture<'_, gate::Rollout> {
        Box::pin(self.describe())
    }
}

impl Engine {
    pub(crate) fn measurer(&self) -> Measurer {
        let new_headers = self
            .plan
            .router
            .new_version_headers(&self.record.routing, &self.spec.canary_header);
        Measurer {
            cluster: self.cluster.clone(),
            plan: self.plan.clone(),
            opts: self.opts.clone(),
            new_headers,
            step: None,
            live: self.live.subscribe(),
        }
    }

    /// Runs `checks` now, all at once: each `count` measurements `interval` apart, and on
    /// while it is inconclusive, up to `timeout`. Fails on the first check that fails; a check
    /// still inconclusive at `timeout` ends the step as `on_inconclusive` says.
    pub(crate) async fn analysis(
        &mut self,
        step: usize,
        checks: &[String],
        timeout: Duration,
        on_inconclusive: OnInconclusive,
    ) -> Result<(), StepError> {
        let measurer = Measurer {
            step: Some(step),
            ..self.measurer()
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let me: &Engine = self;
        let runs = checks
            .iter()
            .filter_map(|n| me.spec.check(n))
            .map(|check| me.run_check(step, check, &measurer, deadline));
        let results = futures::future::join_all(runs).await;
        let mut undecided = Vec::new();
        for r in results {
            match r? {
                Conclusion::Decided => {}
                Conclusion::Undecided(why) => undecided.push(why),
            }
        }
        if undecided.is_empty() {
            return Ok(());
        }
        let why = undecided.join("; ");
        let waited = humantime::format_duration(timeout);
        match on_inconclusive {
            OnInconclusive::Fail => Err(StepError::Check(format!(
                "inconclusive after {waited} (onInconclusive: fail): {why}"
            ))),
            OnInconclusive::Pass => {
                self.note(format!(
                    "going on although inconclusive after {waited} (onInconclusive: pass): {why}"
                ));
                Ok(())
            }
            OnInconclusive::Pause => {
                self.note(format!(
                    "inconclusive after {waited}: {why}; waiting for `rollout promote` (or `rollout abort`)"
                ));
                self.hold_for_promotion().await
            }
        }
    }

    /// One check of an analysis step, measured until it has decided (or `deadline`).
    async fn run_check(
        &self,
        step: usize,
        check: &Check,
        measurer: &Measurer,
        deadline: tokio::time::Instant,
    ) -> Result<Conclusion, StepError> {
        let mut tally = Tally::new(check.failure_limit, check.consecutive_error_limit);
        let mut gate = gate::gate(check);
        if let Err(e) = gate.start(measurer).await {
            let m = Measurement::error(&check.name, crate::error::chain(&e));
            self.measured(Some(step), &m);
            tally.record(&m);
        }
        if matches!(check.kind, CheckKind::Compare(_)) {
            // The first window takes one interval.
            tokio::time::sleep(check.interval.std()).await;
        }
        let mut last_error = None;
        let mut taken = 0;
        loop {
            let m = gate.measure(measurer).await;
            self.measured(Some(step), &m);
            if tally.record(&m) == Standing::Failed {
                return Err(StepError::Check(tally.reason.unwrap_or_default()));
            }
            if m.outcome == Outcome::Error {
                last_error = Some(m.summary.clone());
            }
            taken += 1;
            if taken >= check.count {
                // Errors under the limit are tolerated among real measurements, but a
                // step where nothing could be measured has shown nothing.
                if tally.nothing_measured()
                    && let Some(why) = last_error
                {
                    return Err(StepError::Check(format!(
                        "check {:?} could not measure any of {taken} time(s): {why}",
                        check.name
                    )));
                }
                // Inconclusive is never a pass: go on measuring until the check decides.
                if m.outcome != Outcome::Inconclusive {
                    return Ok(Conclusion::Decided);
                }
                if tokio::time::Instant::now() + check.interval.std() > deadline {
                    return Ok(Conclusion::Undecided(format!(
                        "check {:?}: {}",
                        check.name, m.summary
                    )));
                }
            }
            tokio::time::sleep(check.interval.std()).await;
        }
    }

    /// Starts the background checks; each stops the rollout when it fails.
    pub(crate) fn start_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for name in &self.plan.background {
            let Some(check) = self.spec.check(name).cloned() else {
                continue;
            };
            let measurer = self.measurer();
            let stopper = self.stopper();
            let sink = self.sink.clone();
            let emit = move |m: &Measurement| {
                sink.emit(&crate::report::Event::Gate {
                    step: None,
                    measurement: m.clone(),
                })
            };
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::new(check.failure_limit, check.consecutive_error_limit);
                let mut gate = gate::gate(&check);
                let fail = |m: &Measurement, tally: &mut Tally| {
                    emit(m);
                    if tally.record(m) == Standing::Failed {
                        stopper.stop(Stop::Failed(tally.reason.clone().unwrap_or_default()));
                        return true;
                    }
                    false
                };
                if let CheckKind::Probe(_) = &check.kind {
                    // Re-evaluated on every pod change, and at least every interval for the
                    // readiness deadline.
                    let api: kube::Api<Pod> = kube::Api::namespaced(
                        measurer.cluster.client.clone(),
                        &measurer.plan.namespace,
                    );
                    let mut changes = watcher(api, watcher::Config::default()).boxed();
                    let mut last_summary = String::new();
                    loop {
                        let _ = tokio::time::timeout(check.interval.std(), changes.next()).await;
                        let m = gate.measure(&measurer).await;
                        // Only failures count for each pod change; passes once per summary.
                        if m.outcome == Outcome::Pass && m.summary == last_summary {
                            continue;
                        }
                        last_summary = m.summary.clone();
                        if fail(&m, &mut tally) {
                            return;
                        }
                    }
                }
                let interval = check.interval.std().max(Duration::from_millis(50));
                if let Err(e) = gate.start(&measurer).await {
                    let m = Measurement::error(&check.name, crate::error::chain(&e));
                    if fail(&m, &mut tally) {
                        return;
                    }
                }
                if matches!(check.kind, CheckKind::Compare(_)) {
                    // A comparison's first window takes one interval.
                    tokio::time::sleep(interval).await;
                }
                loop {
                    let m = gate.measure(&measurer).await;
                    if fail(&m, &mut tally) {
                        return;
                    }
                    tokio::time::sleep(interval).await;
                }
            }));
        }
        tasks
    }

    /// Compares the new version with the stable one over the whole experiment: a
    /// conclusive "worse" ends it at once; at `duration` a conclusive "not worse" promotes (as
    /// `promote` says); while inconclusive it goes on up to `max_duration`, then does what
    /// `on_inconclusive` says.
    pub(crate) async fn experiment(
        &mut self,
        step: usize,
        duration: Duration,
        max_duration: Duration,
        compare: &crate::spec::Compare,
        promote: Promote,
        on_inconclusive: OnInconclusive,
    ) -> Result<(), StepError> {
        let measurer = self.measurer();
        let mut baseline = measurer
            .make_comparer()
            .ok_or_else(|| StepError::Check(GateError::NoMetrics.to_string()))?;
        baseline
            .start(&self.opts.http)
            .await
            .map_err(|e| StepError::Check(crate::error::chain(&e)))?;
        // Every measurement judges the whole experiment so far: the verdict grows firmer as
        // requests add up, and a look as often as it likes does not raise the false-alarm
        // rate (the sequential test).
        let interval = self.spec.analysis.interval.std().min(duration);
        let began = tokio::time::Instant::now();
        let mut silent_notice = false;
        let last = loop {
            tokio::time::sleep(interval).await;
            let m = baseline.measure("compare", compare, &self.opts.http).await;
            self.measured(Some(step), &m);
            let elapsed = began.elapsed();
            if m.outcome == Outcome::Fail && promote != Promote::Always {
                return Err(StepError::Check(format!(
                    "the new version is worse: {}",
                    m.summary
                )));
            }
            if !silent_notice && elapsed >= interval * 3 {
                silent_notice = self.say_if_new_gets_nothing(&m);
            }
            let decided = matches!(m.outcome, Outcome::Pass | Outcome::Fail);
            if elapsed >= duration && (decided || elapsed >= max_duration) {
                break m;
            }
        };
        match (promote, last.outcome) {
            (Promote::Always, _) => Ok(()),
            (Promote::Never, _) => Err(StepError::Check(format!(
                "promote: never — the comparison said: {}",
                last.summary
            ))),
            (Promote::IfNoWorse, Outcome::Pass) => Ok(()),
            (Promote::IfNoWorse, _) => {
                let waited = humantime::format_duration(max_duration);
                let why = format!(
                    "the comparison is inconclusive after {waited}: {}",
                    last.summary
                );
                match on_inconclusive {
                    OnInconclusive::Fail => {
                        Err(StepError::Check(format!("{why} (onInconclusive: fail)")))
                    }
                    OnInconclusive::Pass => {
                        self.note(format!("promoting anyway (onInconclusive: pass): {why}"));
                        Ok(())
                    }
                    OnInconclusive::Pause => {
                        self.note(format!(
                            "{why}; waiting for `rollout promote` (or `rollout abort`)"
                        ));
                        self.hold_for_promotion().await
                    }
                }
            }
        }
    }

    /// Says once, early, when the new version has had no request at all while the stable one
    /// has: the route to it is not taken (the header or cookie users do not send), which no
    /// amount of waiting fixes. Returns whether it said so.
    fn say_if_new_gets_nothing(&self, m: &Measurement) -> bool {
        let new = m.figures.get("new_requests").copied().unwrap_or(0.0);
        let stable = m.figures.get("stable_requests").copied().unwrap_or(0.0);
        if new > 0.0 || stable == 0.0 {
            return false;
        }
        let route = if self.record.routing.matches.is_empty() {
            "its route".to_owned()
        } else {
            self.record
                .routing
                .matches
                .iter()
                .map(|r| match (&r.header, &r.cookie) {
                    (Some(h), _) => format!("header {h}: {}", r.value),
                    (None, Some(c)) => format!("cookie {c}={}", r.value),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(" or ")
        };
        self.note(format!(
            "the new version has received no request yet, while the stable one answered {stable:.0}: only requests with {route} reach it — are users sending it?"
        ));
        true
    }
}
