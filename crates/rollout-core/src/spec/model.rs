//! Stage 2 output: the validated strategy. Every field has its final type and its default
//! filled in; every check name that is referenced exists. `strategies/README.md` documents
//! each key.

use std::fmt;

use serde::Serialize;

use super::condition::{Condition, JsonPath};
use super::error::SpecError;
use super::locate::SourceIndex;
use super::values::{Duration, IntOrPercent, Percent, Rate, Weight};

/// A validated strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// Where it was read from: a file's path, or `built-in NAME`.
    pub origin: String,
    pub description: Option<String>,
    /// Which traffic router to use.
    pub traffic: Traffic,
    /// Header (with value `always`) that sends a request to the new version through the
    /// ingress; used by HTTP checks that target the new version via the ingress.
    pub canary_header: String,
    /// Deadline of every rollout wait (new pods ready, old pods gone).
    pub progress_deadline: Duration,
    pub strategy: Strategy,
    pub analysis: Analysis,
    /// Where events of the rollout are posted (the file's `notify`, then `--notify`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
    #[serde(skip)]
    pub(crate) source: SourceIndex,
}

impl Spec {
    pub fn kind(&self) -> StrategyKind {
        self.strategy.kind()
    }

    /// A check by name (every name a [`Spec`] refers to exists).
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.analysis.check(name)
    }

    /// Line and column of the value at `path` (as printed in errors: `traffic`,
    /// `steps[2].setWeight`, `analysis.checks.smoke.http.path`) in the file the spec was
    /// read from, when it was written there (not when it is a default).
    pub fn location_of(&self, path: &str) -> Option<(usize, usize)> {
        self.source.location_of(path)
    }

    /// An error about the node at `path`, positioned when the node was written in the file:
    /// for errors found after validation (e.g. a strategy the traffic router cannot serve).
    pub fn error_at(&self, path: &str, message: impl fmt::Display) -> SpecError {
        let message = if path.is_empty() {
            message.to_string()
        } else {
            format!("{path}: {message}")
        };
        match self.source.location_of(path) {
            Some((line, column)) => SpecError::at(self.origin.clone(), line, column, message),
            None => SpecError::whole(self.origin.clone(), message),
        }
    }
}

/// The traffic router a strategy file asks for: how requests are split between the stable
/// and the new version (see [`crate::traffic::ROUTERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Traffic {
    /// Chosen from what the app has: an HTTPRoute → gateway-api, an Ingress of class nginx →
    /// ingress-nginx, otherwise the replica ratio.
    Auto,
    /// The router of this name.
    Router(&'static str),
}

impl Traffic {
    /// The names a strategy file may give: `auto` and every router that routes traffic.
    pub fn table() -> Vec<(&'static str, Traffic)> {
        std::iter::once(("auto", Traffic::Auto))
            .chain(
                crate::traffic::ROUTERS
                    .iter()
                    .filter(|r| !r.capabilities().is_empty())
                    .map(|r| (r.name(), Traffic::Router(r.name()))),
            )
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Traffic::Auto => "auto",
            Traffic::Router(name) => name,
        }
    }
}

impl Serialize for Traffic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

super::values::deserialize_from_str!(Traffic);

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Traffic {
    type Err = super::error::ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let table = Self::table();
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        table
            .iter()
            .find(|(n, _)| *n == s.trim())
            .map(|(_, r)| *r)
            .ok_or_else(|| {
                super::error::ValueError(super::error::unknown_word(
                    "traffic router",
                    s.trim(),
                    &names,
                ))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    Recreate,
    Rolling,
    BlueGreen,
    Canary,
    Ab,
    Shadow,
}

impl StrategyKind {
    /// The strategies, by their names.
    pub const NAMES: [(&'static str, StrategyKind); 6] = [
        ("recreate", StrategyKind::Recreate),
        ("rolling", StrategyKind::Rolling),
        ("blue-green", StrategyKind::BlueGreen),
        ("canary", StrategyKind::Canary),
        ("ab", StrategyKind::Ab),
        ("shadow", StrategyKind::Shadow),
    ];

    /// Other names a strategy is known by (`ramped`, as the classic article calls rolling).
    pub const ALIASES: [(&'static str, &'static str); 3] = [
        ("ramped", "rolling"),
        ("bluegreen", "blue-green"),
        ("a-b", "ab"),
    ];

    /// The name `name` stands for: itself, or what an alias means.
    pub fn canonical(name: &str) -> &str {
        Self::ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, target)| *target)
    }

    /// Names accepted after `strategy:`: the names and the aliases.
    pub fn accepted() -> Vec<(&'static str, StrategyKind)> {
        let mut all = Self::NAMES.to_vec();
        for (alias, target) in Self::ALIASES {
            if let Some((_, kind)) = Self::NAMES.iter().find(|(n, _)| *n == target) {
                all.push((alias, *kind));
            }
        }
        all
    }

    /// The strategy a name (or alias) names.
    pub fn named(name: &str) -> Option<StrategyKind> {
        let name = Self::canonical(name);
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Recreate => "recreate",
            StrategyKind::Rolling => "rolling",
            StrategyKind::BlueGreen => "blue-green",
            StrategyKind::Canary => "canary",
            StrategyKind::Ab => "ab",
            StrategyKind::Shadow => "shadow",
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the strategy does, with the settings of that strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum Strategy {
    Recreate(Recreate),
    Rolling(Rolling),
    BlueGreen(BlueGreen),
    Canary(Canary),
    Ab(Ab),
    Shadow(Shadow),
}

impl Strategy {
    pub fn kind(&self) -> StrategyKind {
        match self {
            Strategy::Recreate(_) => StrategyKind::Recreate,
            Strategy::Rolling(_) => StrategyKind::Rolling,
            Strategy::BlueGreen(_) => StrategyKind::BlueGreen,
            Strategy::Canary(_) => StrategyKind::Canary,
            Strategy::Ab(_) => StrategyKind::Ab,
            Strategy::Shadow(_) => StrategyKind::Shadow,
        }
    }
}

/// Scale the stable version to zero, wait until its pods are gone, set the new template,
/// scale back up; then run `verify`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recreate {
    /// Checks run (as an analysis step) once the new version is up.
    pub verify: Vec<String>,
}

/// Replace pods a few at a time, as a Deployment's RollingUpdate does; then run `verify`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rolling {
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
    pub verify: Vec<String>,
}

/// Start the new version beside the old one, check it through the preview Service, switch
/// the Service selector, watch, then scale the old one down.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreen {
    /// Service that selects the new version before the switch; `None`: `<service>-preview`.
    pub preview_service: Option<String>,
    /// Pod label whose value tells the two versions apart; the Service selector is switched
    /// on it.
    pub selector_label: String,
    /// Switch as soon as `pre_promotion` passes; if false, wait for `rollout promote`.
    pub auto_promotion: bool,
    pub pre_promotion: Vec<String>,
    pub post_promotion: Vec<String>,
    /// How long background and post-promotion checks watch after the switch; a failure in
    /// this window switches back.
    pub post_promotion_window: Duration,
    /// How long the old version keeps running after the window (for a fast switch back).
    pub scale_down_delay: Duration,
}

/// Shift traffic to the new version step by step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Canary {
    /// After the last step the new version is promoted (100%).
    pub steps: Vec<CanaryStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CanaryStep {
    /// Send this percentage of requests to the new version.
    SetWeight(Weight),
    Pause(Pause),
    /// Run these checks (each `count` measurements, `interval` apart, and on until each is
    /// conclusive); fail the rollout if one fails.
    Analysis(AnalysisStep),
    /// Size the new version independently of its traffic weight.
    SetCanaryScale(CanaryScale),
}

/// An analysis step: its checks, and what it does when one stays inconclusive (the
/// section's `timeout` and `onInconclusive` when not written here).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStep {
    pub checks: Vec<String>,
    /// Synthetic load sent while the step runs (the section's `load` when not written here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<Load>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_inconclusive: Option<OnInconclusive>,
}

/// What a step does when a check is still inconclusive at its deadline. Never a silent
/// pass: `pass` is a choice written in the strategy file, and said when it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnInconclusive {
    /// Roll back.
    Fail,
    /// Go on, saying so.
    Pass,
    /// Wait for `rollout promote` (or `rollout abort`).
    Pause,
}

impl OnInconclusive {
    pub const NAMES: [(&'static str, OnInconclusive); 3] = [
        ("fail", OnInconclusive::Fail),
        ("pass", OnInconclusive::Pass),
        ("pause", OnInconclusive::Pause),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OnInconclusive::Fail => "fail",
            OnInconclusive::Pass => "pass",
            OnInconclusive::Pause => "pause",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Pause {
    /// Wait this long (background checks keep running).
    For(Duration),
    /// Wait for `rollout promote`.
    UntilPromoted,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CanaryScale {
    Replicas(u32),
    /// Percentage of the stable replica count.
    Weight(Weight),
    /// Back to the default: as many replicas as the traffic weight implies.
    MatchTrafficWeight,
}

/// Route the requests that match to the new version (B) for `duration`, compare B with A,
/// then promote B or roll back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ab {
    /// A request that matches any of these goes to B.
    pub matches: Vec<RequestMatch>,
    pub duration: Duration,
    /// How long the comparison may go on while it is inconclusive (see [`max_duration`]); three times `duration` when not written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
    pub compare: Compare,
    pub promote: Promote,
    /// What happens when the comparison is still inconclusive at `maxDuration`.
    pub on_inconclusive: OnInconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMatch {
    pub on: MatchOn,
    pub value: MatchValue,
}

impl RequestMatch {
    /// The match in the form routers consume.
    pub fn route(&self) -> crate::traffic::RouteMatch {
        let (value, regex) = match &self.value {
            MatchValue::Exact(v) => (v.clone(), false),
            MatchValue::Regex(r) => (r.clone(), true),
        };
        let (header, cookie) = match &self.on {
            MatchOn::Header(h) => (Some(h.clone()), None),
            MatchOn::Cookie(c) => (None, Some(c.clone())),
        };
        crate::traffic::RouteMatch {
            header,
            cookie,
            value,
            regex,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchOn {
    /// A request header, by name.
    Header(String),
    /// A cookie, by name.
    Cookie(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchValue {
    Exact(String),
    /// A regular expression the value must match (checked with the `regex` crate's syntax
    /// when the file is read).
    Regex(String),
}

/// Mirror a share of the requests to the new version (responses discarded), compare it with
/// the stable version for `duration`, then promote or roll back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shadow {
    pub mirror: Percent,
    pub duration: Duration,
    /// How long the comparison may go on while it is inconclusive (see [`max_duration`]); three times `duration` when not written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
    pub compare: Compare,
    pub promote: Promote,
    /// What happens when the comparison is still inconclusive at `maxDuration`.
    pub on_inconclusive: OnInconclusive,
}

/// When an A/B or shadow rollout promotes the new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Promote {
    /// Only if the comparison finds the new version no worse than the stable one.
    IfNoWorse,
    /// At the end of `duration` whatever the comparison says (checks still roll back).
    Always,
    /// Never: run the experiment, report, and roll back.
    Never,
}

/// How long an A/B or shadow comparison may go on while it is inconclusive: `maxDuration`
/// when written, else three times `duration`.
pub fn max_duration(duration: Duration, max_duration: Option<Duration>) -> Duration {
    max_duration
        .unwrap_or(Duration(duration.std() * 3))
        .max(duration)
}

impl Promote {
    pub const NAMES: [(&'static str, Promote); 3] = [
        ("if-no-worse", Promote::IfNoWorse),
        ("always", Promote::Always),
        ("never", Promote::Never),
    ];
}

/// Checks and how they are measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Default time between two measurements of a check.
    pub interval: Duration,
    /// Default number of measurements of an inline check (analysis step, verify, ...).
    pub count: u32,
    /// Default number of failed measurements a check tolerates.
    pub failure_limit: u32,
    /// Default number of measurements in a row that may error (could not measure).
    pub consecutive_error_limit: u32,
    /// Checks that run for the whole rollout.
    pub background: Vec<String>,
    /// How long an analysis step goes on measuring a check that is inconclusive.
    pub timeout: Duration,
    /// What an analysis step does when a check is still inconclusive at its timeout.
    pub on_inconclusive: OnInconclusive,
    /// Synthetic load sent during every analysis step (and an A/B or shadow comparison)
    /// that does not say otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<Load>,
    /// Every check, in file order; `probes` is always there (defaults if not written).
    pub checks: Vec<Check>,
}

impl Analysis {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Requests the rollout sends itself while it analyses, through the route users take, so an
/// app with little traffic of its own still gives the checks enough requests to judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    /// Requests per second.
    pub rate: Rate,
    /// Paths requested in turn.
    pub paths: Vec<String>,
    /// How long it sends from the start of the step; `None`: as long as the step runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    pub target: LoadTarget,
}

/// Which version the synthetic requests are meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadTarget {
    /// Plain requests, split between the versions by the router like users' requests (at
    /// the current weight).
    Both,
    /// Requests carrying what routes to the new version (the canary header).
    New,
    /// Plain requests where the router sends them to the stable version only.
    Stable,
}

impl LoadTarget {
    pub const NAMES: [(&'static str, LoadTarget); 3] = [
        ("both", LoadTarget::Both),
        ("new", LoadTarget::New),
        ("stable", LoadTarget::Stable),
    ];
}

/// A named check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    /// Time between two measurements.
    pub interval: Duration,
    /// Measurements taken when the check runs inline (ignored in the background, where it
    /// measures every `interval` until the rollout ends).
    pub count: u32,
    /// The check fails when more measurements than this have failed.
    pub failure_limit: u32,
    /// The check fails when more measurements than this in a row could not be taken.
    pub consecutive_error_limit: u32,
    pub kind: CheckKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckKind {
    Probe(ProbeCheck),
    Http(Box<HttpCheck>),
    Prometheus(PrometheusCheck),
    Compare(Compare),
    Exec(ExecCheck),
    Webhook(WebhookCheck),
}

impl CheckKind {
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Probe(_) => "probe",
            CheckKind::Http(_) => "http",
            CheckKind::Prometheus(_) => "prometheus",
            CheckKind::Compare(_) => "compare",
            CheckKind::Exec(_) => "exec",
            CheckKind::Webhook(_) => "webhook",
        }
    }
}

/// A command run where `rollout` runs (no shell), with the rollout in its environment; exit
/// status 0 passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCheck {
    /// The program, then its arguments.
    pub command: Vec<String>,
    /// A measurement fails when the command has not exited by then (its process group is
    /// killed).
    pub timeout: Duration,
}

/// A JSON POST describing the rollout; a 2xx answer passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCheck {
    pub url: String,
    /// A measurement without an answer by then fails (is inconclusive with `confirm`).
    pub timeout: Duration,
    /// A promotion gate held by someone else: anything but a 2xx answer is inconclusive
    /// (ask again), not a failure.
    pub confirm: bool,
}

/// A receiver of notifications: the events of the rollout posted to it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    pub url: String,
    pub events: Vec<NotifyEvent>,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    /// The rollout begins (or resumes).
    Started,
    /// A step is done.
    Step,
    /// A measurement of a check failed.
    GateFailed,
    /// Rolling back, because a check failed (or a step could not be done).
    RollingBack,
    /// The app is back on the stable version.
    RolledBack,
    /// The new version is rolled out.
    Done,
    /// The rollout ended without rolling back cleanly (rolling back failed, lease lost).
    Failed,
    /// `rollout abort` asked to roll back.
    Abort,
}

impl NotifyEvent {
    pub const NAMES: [(&'static str, NotifyEvent); 8] = [
        ("started", NotifyEvent::Started),
        ("step", NotifyEvent::Step),
        ("gate-failed", NotifyEvent::GateFailed),
        ("rolling-back", NotifyEvent::RollingBack),
        ("rolled-back", NotifyEvent::RolledBack),
        ("done", NotifyEvent::Done),
        ("failed", NotifyEvent::Failed),
        ("abort", NotifyEvent::Abort),
    ];

    /// Every event, the default of a receiver.
    pub fn all() -> Vec<NotifyEvent> {
        Self::NAMES.iter().map(|(_, e)| *e).collect()
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("?", |(n, _)| n)
    }
}

/// Pod health of the new version: readiness, restarts, crash loops.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeCheck {
    /// New pods must be ready within this.
    pub readiness_deadline: Duration,
    /// A measurement fails when a new pod has restarted more often than this.
    pub max_restarts: u32,
    /// A pod in CrashLoopBackOff fails the check at once.
    pub fail_on_crash_loop: bool,
}

/// Requests sent to one version; each measurement sends `requests` requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    pub target: HttpTarget,
    /// Which version the requests go to.
    pub version: VersionRef,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub requests: u32,
    pub timeout: Duration,
    pub tls_verify: bool,
    /// A response succeeds when its status meets this, its body matches `body_match` and
    /// every `json` condition holds.
    pub status: Condition,
    pub body_match: Option<String>,
    pub json: Vec<(JsonPath, Condition)>,
    /// A measurement passes when the share of successful responses meets this...
    pub success_rate: Condition,
    /// ...and the latency percentiles meet these.
    pub p50: Option<Condition>,
    pub p95: Option<Condition>,
    pub p99: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HttpTarget {
    /// An absolute URL, used as is.
    Url(String),
    /// A path on the app, reached as `via` says.
    Path { path: String, via: Via },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// Through the ingress when the app has one, else through the service proxy.
    Auto,
    /// Through the app's Ingress/HTTPRoute; requests for the new version carry
    /// `canaryHeader: always`.
    Ingress,
    /// Through the API server's proxy to the Service of that version.
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionRef {
    /// The version being rolled out (canary, green, B, shadow).
    New,
    Stable,
}

/// A PromQL query whose result must meet a condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusCheck {
    /// Prometheus base URL; `None`: the one given on the command line / environment.
    pub address: Option<String>,
    /// With `{{namespace}}`, `{{app}}`, `{{service}}`, `{{new}}`, `{{stable}}`,
    /// `{{interval}}` substituted (see [`PROMETHEUS_PLACEHOLDERS`]).
    pub query: String,
    pub condition: Condition,
}

/// Placeholders a Prometheus query may use.
pub const PROMETHEUS_PLACEHOLDERS: [&str; 6] =
    ["namespace", "app", "service", "new", "stable", "interval"];

/// Statistical comparison of the new version with the stable one on the same live traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compare {
    pub metrics: Vec<CompareMetric>,
    pub test: StatTest,
    /// A difference counts when the test is significant at this confidence.
    pub confidence: Percent,
    /// The new version may have an error rate this many percentage points above stable's.
    pub max_error_rate_increase: Percent,
    /// The new version's latency may be this much (relative) above stable's.
    pub max_latency_increase: Percent,
    /// Requests each version needs in a measurement before it is judged; below that the
    /// measurement is inconclusive (neither passes nor fails).
    pub min_samples: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompareMetric {
    ErrorRate,
    Latency,
}

impl CompareMetric {
    pub const NAMES: [(&'static str, CompareMetric); 2] = [
        ("error-rate", CompareMetric::ErrorRate),
        ("latency", CompareMetric::Latency),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatTest {
    /// The always-valid sequential test (see `gate::sequential`): error rates from the
    /// request counts, latency from the histogram's bucket counts; valid however often it
    /// looks.
    Sequential,
    /// No statistics: compare the observed values with the allowed increase.
    Threshold,
}

impl StatTest {
    /// `auto` is the default: the sequential test.
    pub const NAMES: [(&'static str, StatTest); 3] = [
        ("auto", StatTest::Sequential),
        ("sequential", StatTest::Sequential),
        ("threshold", StatTest::Threshold),
    ];
}
