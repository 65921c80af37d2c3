//! Gates: the checks that decide whether a rollout step may go on — pod probes, HTTP checks,
//! Prometheus queries, the comparison of the new version with the stable one, commands and
//! webhooks — and the statistics they share.
//!
//! Every kind of check is one module behind the [`Gate`] trait, and [`gate`] is the one place
//! that names them all. A gate produces [`Measurement`]s; a [`tally::Tally`] turns a check's
//! measurements into its verdict with the check's failure and consecutive-error limits.

pub mod compare;
pub mod exec;
mod format;
pub mod http;
pub mod probe;
pub mod prometheus;
pub mod sequential;
pub mod simulate;
pub mod stats;
pub mod tally;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::spec::{Check, CheckKind, VersionRef, Via};

/// Why a gate could not measure at all.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("the app has no Service to send the check's requests to")]
    NoService,
    #[error("Service {0:?} has no port")]
    NoPort(String),
    #[error("the app's Ingress has no address yet (give --ingress-url)")]
    NoIngressAddress,
    #[error("no Prometheus address (set `address` in the check or give --prometheus)")]
    NoPrometheus,
    #[error("no metrics to compare the versions with")]
    NoMetrics,
}

/// What a gate needs from the rollout it guards.
pub trait Context: Send + Sync {
    /// The new version's pods as they are now, with the Deployments that want them.
    fn new_pods(&self) -> BoxFuture<'_, Result<probe::NewPods, crate::cluster::ClusterError>>;

    /// Where requests to one version go, the way `via` says.
    fn endpoint(
        &self,
        version: VersionRef,
        via: Via,
    ) -> BoxFuture<'_, Result<http::Endpoint, GateError>>;

    /// The HTTP client for checks (`tls_verify` false: certificates are not verified).
    fn http(&self, tls_verify: bool) -> &reqwest::Client;

    /// The Prometheus server given on the command line, if any.
    fn prometheus(&self) -> Option<&str>;

    /// Values for a Prometheus query's placeholders.
    fn vars(&self, check: &Check) -> prometheus::Vars;

    /// A comparer of the two versions' request metrics, when they can be read.
    fn comparer(&self) -> Option<compare::Comparer>;

    /// The rollout as it is now, for checks that tell another program about it (exec,
    /// webhook).
    fn rollout(&self) -> BoxFuture<'_, Rollout>;
}

/// The rollout a check guards, as exec and webhook checks pass it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub app: String,
    pub namespace: String,
    pub strategy: String,
    pub old_image: String,
    pub new_image: String,
    /// The plan step running the check, from 1; `None` in the background.
    pub step: Option<usize>,
    /// The share of requests the new version gets now.
    pub weight: u8,
    pub phase: crate::engine::record::Phase,
    /// Where a request reaches the new version (the app's front, with `new_header`), when
    /// there is such a place.
    pub new_url: Option<String>,
    /// The Host header `new_url` expects (the Ingress rule's host), if any.
    pub new_host: Option<String>,
    /// The header (name, value) that sends a request at `new_url` to the new version.
    pub new_header: Option<(String, String)>,
}

impl Rollout {
    /// `running`, `waiting-for-promotion` or `rolling-back`.
    pub fn phase_name(&self) -> &'static str {
        use crate::engine::record::Phase;
        match self.phase {
            Phase::Running => "running",
            Phase::WaitingForPromotion => "waiting-for-promotion",
            Phase::RollingBack => "rolling-back",
        }
    }

    /// The new version's header as `Name: value`.
    pub fn new_header_line(&self) -> Option<String> {
        self.new_header
            .as_ref()
            .map(|(name, value)| format!("{name}: {value}"))
    }
}

/// One check of a strategy file, ready to measure. A gate may keep state between
/// measurements (a comparison keeps its window).
pub trait Gate: Send {
    /// Prepares the first measurement (a comparison opens its window here).
    fn start<'a>(&'a mut self, _cx: &'a dyn Context) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async { Ok(()) })
    }

    /// One measurement.
    fn measure<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Measurement>;
}

/// The gate of `check`: one line per kind of check.
pub fn gate(check: &Check) -> Box<dyn Gate> {
    let name = check.name.clone();
    match &check.kind {
        CheckKind::Probe(p) => Box::new(probe::ProbeGate::new(name, p.clone())),
        CheckKind::Http(h) => Box::new(http::HttpGate::new(name, (**h).clone())),
        CheckKind::Prometheus(p) => {
            Box::new(prometheus::PrometheusGate::new(check.clone(), p.clone()))
        }
        CheckKind::Compare(c) => Box::new(compare::CompareGate::new(name, c.clone())),
        CheckKind::Exec(e) => Box::new(exec::ExecGate::new(name, e.clone())),
        CheckKind::Webhook(w) => Box::new(webhook::WebhookGate::new(name, w.clone())),
    }
}

/// The result of one measurement of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Name of the check in the strategy file.
    pub check: String,
    pub outcome: Outcome,
    /// One line with the figures and what they were held against, e.g.
    /// `50/50 ok, success 100% (>= 99%), p95 12ms (< 300ms)`.
    pub summary: String,
    /// The measured figures by name (`requests`, `success_rate`, `p95_ms`, `value`, ...).
    pub figures: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The figures meet the check's conditions.
    Pass,
    /// The figures break a condition.
    Fail,
    /// Measured, but too little data to decide (a comparison with too few requests).
    Inconclusive,
    /// Could not measure (connection refused, query error, ...).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Measurement {
    pub fn new(check: impl Into<String>, outcome: Outcome, summary: impl Into<String>) -> Self {
        Measurement {
            check: check.into(),
            outcome,
            summary: summary.into(),
            figures: BTreeMap::new(),
        }
    }

    /// A measurement that could not be taken.
    pub fn error(check: impl Into<String>, why: impl fmt::Display) -> Self {
        Measurement::new(check, Outcome::Error, why.to_string())
    }

    pub fn figure(mut self, name: &str, value: f64) -> Self {
        self.figures.insert(name.to_owned(), value);
        self
    }
}
