//! Running checks: inline (an analysis step: `count` measurements, `interval` apart), in the
//! background (for the whole rollout; a failure stops it), and the A/B / shadow experiment.
//! The probe check in the background follows the pods' watch, so a crash loop is caught as
//! it happens.

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;

use super::{Engine, StepError, Stop};
use crate::cluster::ClusterError;
use crate::gate::compare::Comparer;
use crate::gate::http::Endpoint;
use crate::gate::tally::{Standing, Tally};
use crate::gate::{self, Context, GateError, Measurement, Outcome, Span};
use crate::spec::{Check, CheckKind, Promote, VersionRef, Via};

/// How long a check through a Service waits for the Service's endpoints to catch up with its
/// selector before it counts as not measured.
const ENDPOINTS_SETTLE: Duration = Duration::from_secs(30);

/// Where users reach the app through its Ingress.
enum Front {
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
}

impl Measurer {
    async fn pods_of_new(&self) -> Result<Vec<Pod>, ClusterError> {
        let d = self.cluster.deployment(&self.plan.names.deployment).await?;
        let selector = crate::cluster::api::selector_query(&d);
        let pods: Vec<Pod> = self.cluster.list(Some(&selector)).await?;
        Ok(pods
            .into_iter()
            .filter(|p| super::steps::runs_image(p, &self.plan.container, &self.plan.to_image))
            .collect())
    }

    /// Where users reach the app: the Ingress's status address and ports, the host of its
    /// first rule, and HTTPS when its `tls` covers that host (`--ingress-url` overrides the
    /// address). `None` while the Ingress has no address.
    async fn ingress_front(&self) -> Result<Option<Front>, GateError> {
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
    fn new_pods(&self) -> BoxFuture<'_, Result<Vec<Pod>, ClusterError>> {
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
        }
    }

    /// Runs `checks` now, all at once; fails on the first check that fails.
    pub(crate) async fn analysis(&self, step: usize, checks: &[String]) -> Result<(), StepError> {
        let measurer = self.measurer();
        let runs = checks
            .iter()
            .filter_map(|n| self.spec.check(n))
            .map(|check| {
                let measurer = measurer.clone();
                async move {
                    let mut tally = Tally::new(check.failure_limit, check.consecutive_error_limit);
                    let mut gate = gate::gate(check, Span::Windows);
                    if let Err(e) = gate.start(&measurer).await {
                        let m = Measurement::error(&check.name, crate::error::chain(&e));
                        self.measured(Some(step), &m);
                        tally.record(&m);
                    }
                    if matches!(check.kind, CheckKind::Compare(_)) {
                        // The first window takes one interval.
                        tokio::time::sleep(check.interval.std()).await;
                    }
                    let mut last_error = None;
                    for k in 0..check.count {
                        let m = gate.measure(&measurer).await;
                        self.measured(Some(step), &m);
                        if tally.record(&m) == Standing::Failed {
                            return Err(StepError::Check(tally.reason.unwrap_or_default()));
                        }
                        if m.outcome == Outcome::Error {
                            last_error = Some(m.summary);
                        }
                        if k + 1 < check.count {
                            tokio::time::sleep(check.interval.std()).await;
                        }
                    }
                    // Errors under the limit are tolerated among real measurements, but a
                    // step where nothing could be measured has shown nothing.
                    match last_error {
                        Some(why) if tally.nothing_measured() => Err(StepError::Check(format!(
                            "check {:?} could not measure any of {} time(s): {why}",
                            check.name, check.count
                        ))),
                        _ => Ok(()),
                    }
                }
            });
        let results = futures::future::join_all(runs).await;
        results
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
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
                let mut gate = gate::gate(&check, Span::Cumulative);
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

    /// Compares the new version with the stable one for `duration`, then decides.
    pub(crate) async fn experiment(
        &self,
        step: usize,
        duration: crate::spec::Duration,
        compare: &crate::spec::Compare,
        promote: Promote,
    ) -> Result<(), StepError> {
        let measurer = self.measurer();
        let mut baseline = measurer
            .make_comparer()
            .ok_or_else(|| StepError::Check(GateError::NoMetrics.to_string()))?;
        baseline
            .start(&self.opts.http)
            .await
            .map_err(|e| StepError::Check(crate::error::chain(&e)))?;
        // Every measurement covers the whole experiment so far (a copy of the comparer
        // started at its beginning): the verdict grows firmer as requests add up.
        let interval = self.spec.analysis.interval.std().min(duration.std());
        let end = tokio::time::Instant::now() + duration.std();
        let mut passes = 0;
        let mut last = None;
        loop {
            let now = tokio::time::Instant::now();
            if now >= end {
                break;
            }
            tokio::time::sleep(interval.min(end - now)).await;
            let m = baseline
                .clone()
                .measure("compare", compare, &self.opts.http)
                .await;
            self.measured(Some(step), &m);
            match m.outcome {
                Outcome::Fail if promote != Promote::Always => {
                    return Err(StepError::Check(format!(
                        "the new version is worse: {}",
                        m.summary
                    )));
                }
                Outcome::Pass => passes += 1,
                _ => {}
            }
            last = Some(m);
        }
        let summary = last.map(|m| m.summary).unwrap_or_default();
        match promote {
            Promote::Always => Ok(()),
            Promote::Never => Err(StepError::Check(format!(
                "promote: never — the comparison said: {summary}"
            ))),
            Promote::IfNoWorse if passes > 0 => Ok(()),
            Promote::IfNoWorse => Err(StepError::Check(format!(
                "not enough data to show the new version is no worse: {summary}"
            ))),
        }
    }
}
