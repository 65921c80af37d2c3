//! Running checks: inline (an analysis step: `count` measurements, `interval` apart), in the
//! background (for the whole rollout; a failure stops it), and the A/B / shadow experiment.
//! The probe check in the background follows the pods' watch, so a crash loop is caught as
//! it happens.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;

use super::{Engine, Stop};
use crate::gate::compare::{Comparer, Source};
use crate::gate::http::Endpoint;
use crate::gate::tally::{Tally, Verdict};
use crate::gate::{Measurement, Outcome, probe};
use crate::spec::{Check, CheckKind, HttpTarget, Promote, VersionRef, Via};
use crate::traffic::RouterKind;

/// How long a check through a Service waits for the Service's endpoints to catch up with its
/// selector before it counts as not measured.
const ENDPOINTS_SETTLE: Duration = Duration::from_secs(30);

/// What a check needs to measure, cloned into background tasks.
#[derive(Clone)]
pub(crate) struct Measurer {
    cluster: crate::cluster::Cluster,
    plan: crate::plan::Plan,
    opts: super::Options,
    /// The new version's header match for ingress checks (the A/B header when it holds the
    /// only header slot of ingress-nginx).
    new_headers: Vec<(String, String)>,
}

impl Measurer {
    async fn new_pods(&self) -> Result<Vec<Pod>, String> {
        let d = self
            .cluster
            .deployment(&self.plan.names.deployment)
            .await
            .map_err(|e| e.to_string())?;
        let selector = crate::cluster::api::selector_query(&d);
        let pods: Vec<Pod> = self
            .cluster
            .list("pods", Some(&selector))
            .await
            .map_err(|e| e.to_string())?;
        Ok(pods
            .into_iter()
            .filter(|p| super::steps::runs_image(p, &self.plan.container, &self.plan.to_image))
            .collect())
    }

    async fn ingress_base(&self) -> Option<(String, Option<String>)> {
        let ingress_name = self.plan.names.ingress.as_deref()?;
        let ingress: k8s_openapi::api::networking::v1::Ingress = self
            .cluster
            .get_opt("ingresses", ingress_name)
            .await
            .ok()??;
        let host = ingress
            .spec
            .as_ref()
            .and_then(|s| s.rules.as_ref())
            .and_then(|r| r.first())
            .and_then(|r| r.host.clone());
        if let Some(url) = &self.opts.ingress_url {
            return Some((url.trim_end_matches('/').to_owned(), host));
        }
        let lb = ingress
            .status
            .as_ref()?
            .load_balancer
            .as_ref()?
            .ingress
            .as_ref()?
            .first()?
            .clone();
        let addr = lb.ip.or(lb.hostname)?;
        Some((format!("http://{addr}"), host))
    }

    /// The API server's proxy to `service`, on its first port by number (the API server maps
    /// a number to the port's name; no port at all would mean only an unnamed port). Returns
    /// once the Service's endpoints show the pods it selects now, not the ones it selected a
    /// moment ago.
    async fn service_proxy(&self, service: Option<String>) -> Result<Endpoint, String> {
        let service = service
            .ok_or_else(|| "the app has no Service to send the check's requests to".to_owned())?;
        let svc = self
            .cluster
            .wait_service_endpoints(&service, ENDPOINTS_SETTLE)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("Service {service:?} not found"))?;
        let port = svc
            .spec
            .and_then(|s| s.ports?.first().map(|p| p.port))
            .ok_or_else(|| format!("Service {service:?} has no port"))?;
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

    async fn endpoint(&self, version: VersionRef, via: Via) -> Result<Endpoint, String> {
        let names = &self.plan.names;
        let service = match version {
            VersionRef::New => names.new_service.clone().or_else(|| names.service.clone()),
            VersionRef::Stable => names.service.clone(),
        };
        let routed = matches!(
            self.plan.router,
            RouterKind::IngressNginx | RouterKind::GatewayApi
        );
        let through_ingress = match via {
            Via::Service => false,
            Via::Ingress => true,
            // Through the ingress the way users come, when it can target the version.
            Via::Auto => {
                self.plan.names.ingress.is_some()
                    && (version == VersionRef::Stable && !routed
                        || version == VersionRef::New && routed)
                    || self.plan.router == RouterKind::Deployment
                        && self.plan.names.ingress.is_some()
            }
        };
        if !through_ingress {
            return self.service_proxy(service).await;
        }
        let Some((base, host)) = self.ingress_base().await else {
            if via == Via::Ingress {
                return Err("the app's Ingress has no address yet (give --ingress-url)".into());
            }
            return self.service_proxy(service).await;
        };
        let headers = if version == VersionRef::New && routed {
            self.new_headers.clone()
        } else {
            Vec::new()
        };
        Ok(Endpoint::Url {
            base,
            host,
            headers,
        })
    }

    fn comparer(&self) -> Option<Comparer> {
        let source = if let Some(url) = &self.opts.metrics_url {
            Source::Scrape { url: url.clone() }
        } else {
            Source::Prometheus {
                address: self.opts.prometheus.clone()?,
            }
        };
        Some(Comparer::new(
            source,
            self.plan.namespace.clone(),
            self.plan.names.service.clone()?,
            self.plan.names.new_service.clone()?,
        ))
    }

    /// One measurement of `check` (`comparer` keeps a comparison's window between calls).
    pub(crate) async fn measure(
        &self,
        check: &Check,
        comparer: &mut Option<Comparer>,
    ) -> Measurement {
        match &check.kind {
            CheckKind::Probe(p) => match self.new_pods().await {
                Ok(pods) => probe::evaluate(&check.name, p, &pods, jiff::Timestamp::now()),
                Err(e) => Measurement::error(&check.name, e),
            },
            CheckKind::Http(h) => {
                let http = if h.tls_verify {
                    &self.opts.http
                } else {
                    &self.opts.http_insecure
                };
                let endpoint = match &h.target {
                    HttpTarget::Url(u) => Ok(Endpoint::Url {
                        base: u.clone(),
                        host: None,
                        headers: Vec::new(),
                    }),
                    HttpTarget::Path { via, .. } => self.endpoint(h.version, *via).await,
                };
                match endpoint {
                    Ok(ep) => crate::gate::http::measure(&check.name, h, &ep, http).await,
                    Err(e) => Measurement::error(&check.name, e),
                }
            }
            CheckKind::Prometheus(p) => {
                let Some(address) = p.address.clone().or_else(|| self.opts.prometheus.clone())
                else {
                    return Measurement::error(
                        &check.name,
                        "no Prometheus address (set `address` in the check or give --prometheus)",
                    );
                };
                let vars = crate::gate::prometheus::Vars {
                    namespace: self.plan.namespace.clone(),
                    app: self.plan.names.deployment.clone(),
                    service: self.plan.names.service.clone().unwrap_or_default(),
                    new: self.plan.names.new_service.clone().unwrap_or_default(),
                    stable: self.plan.names.service.clone().unwrap_or_default(),
                    interval: format!("{}s", check.interval.std().as_secs().max(1)),
                };
                crate::gate::prometheus::measure(&check.name, p, &address, &vars, &self.opts.http)
                    .await
            }
            CheckKind::Compare(c) => {
                if comparer.is_none() {
                    let Some(mut fresh) = self.comparer() else {
                        return Measurement::error(
                            &check.name,
                            "no metrics to compare the versions with",
                        );
                    };
                    if let Err(e) = fresh.start(&self.opts.http).await {
                        return Measurement::error(&check.name, e);
                    }
                    *comparer = Some(fresh);
                    return Measurement::new(&check.name, Outcome::Inconclusive, "window started");
                }
                match comparer.as_mut() {
                    Some(cmp) => cmp.measure(&check.name, c, &self.opts.http).await,
                    None => Measurement::error(&check.name, "no comparer"),
                }
            }
        }
    }
}

impl Engine {
    pub(crate) fn measurer(&self) -> Measurer {
        let new_headers = self
            .record
            .routing
            .matches
            .iter()
            .find(|m| m.header.is_some() && !m.regex)
            .and_then(|m| Some((m.header.clone()?, m.value.clone())))
            .filter(|_| self.plan.router == RouterKind::IngressNginx)
            .map(|h| vec![h])
            .unwrap_or_else(|| vec![(self.spec.canary_header.clone(), "always".into())]);
        Measurer {
            cluster: self.cluster.clone(),
            plan: self.plan.clone(),
            opts: self.opts.clone(),
            new_headers,
        }
    }

    /// Runs `checks` now, all at once; fails on the first check that fails.
    pub(crate) async fn analysis(&self, step: usize, checks: &[String]) -> Result<(), String> {
        let measurer = self.measurer();
        let runs = checks
            .iter()
            .filter_map(|n| self.spec.check(n))
            .map(|check| {
                let measurer = measurer.clone();
                async move {
                    let mut tally = Tally::new(check.failure_limit, check.consecutive_error_limit);
                    let mut comparer = None;
                    if matches!(check.kind, CheckKind::Compare(_)) {
                        // The first measurement opens the window.
                        let m = measurer.measure(check, &mut comparer).await;
                        if m.outcome == Outcome::Error {
                            self.measured(Some(step), &m);
                            tally.record(&m);
                        }
                        tokio::time::sleep(check.interval.std()).await;
                    }
                    let mut last_error = None;
                    for k in 0..check.count {
                        let m = measurer.measure(check, &mut comparer).await;
                        self.measured(Some(step), &m);
                        if tally.record(&m) == Verdict::Failed {
                            return Err(tally.reason.unwrap_or_default());
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
                        Some(why) if tally.nothing_measured() => Err(format!(
                            "check {:?} could not measure any of {} time(s): {why}",
                            check.name, check.count
                        )),
                        _ => Ok(()),
                    }
                }
            });
        let results = futures::future::join_all(runs).await;
        results
            .into_iter()
            .collect::<Result<Vec<()>, String>>()
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
                if let CheckKind::Probe(p) = &check.kind {
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
                        let m = match measurer.new_pods().await {
                            Ok(pods) => {
                                probe::evaluate(&check.name, p, &pods, jiff::Timestamp::now())
                            }
                            Err(e) => Measurement::error(&check.name, e),
                        };
                        // Only failures count for each pod change; passes once per summary.
                        if m.outcome == Outcome::Pass && m.summary == last_summary {
                            continue;
                        }
                        last_summary = m.summary.clone();
                        emit(&m);
                        if tally.record(&m) == Verdict::Failed {
                            stopper.stop(Stop::Failed(tally.reason.clone().unwrap_or_default()));
                            return;
                        }
                    }
                }
                // A comparison in the background covers everything since the check began
                // (each measurement works on a copy of the comparer started then), so a
                // version that gets little traffic still gathers enough requests to judge.
                let mut comparer = None;
                loop {
                    let mut current = comparer.clone();
                    let m = measurer.measure(&check, &mut current).await;
                    if comparer.is_none() {
                        comparer = current;
                    }
                    if !(m.summary == "window started" && m.outcome == Outcome::Inconclusive) {
                        emit(&m);
                        if tally.record(&m) == Verdict::Failed {
                            stopper.stop(Stop::Failed(tally.reason.clone().unwrap_or_default()));
                            return;
                        }
                    }
                    tokio::time::sleep(check.interval.std().max(Duration::from_millis(50))).await;
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
    ) -> Result<(), String> {
        let measurer = self.measurer();
        let Some(mut comparer) = measurer.comparer() else {
            return Err("no metrics to compare the versions with".into());
        };
        comparer.start(&self.opts.http).await?;
        // Every measurement covers the whole experiment so far (a copy of the comparer
        // started at its beginning): the verdict grows firmer as requests add up.
        let baseline = comparer;
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
                    return Err(format!("the new version is worse: {}", m.summary));
                }
                Outcome::Pass => passes += 1,
                _ => {}
            }
            last = Some(m);
        }
        let summary = last.map(|m| m.summary).unwrap_or_default();
        match promote {
            Promote::Always => Ok(()),
            Promote::Never => Err(format!("promote: never — the comparison said: {summary}")),
            Promote::IfNoWorse if passes > 0 => Ok(()),
            Promote::IfNoWorse => Err(format!(
                "not enough data to show the new version is no worse: {summary}"
            )),
        }
    }
}
