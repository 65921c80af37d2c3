//! The data of a run's report: what users saw second by second, per version, the markers of
//! the rollout's steps on that timeline, and the run's figures. [`super::run`] writes it out
//! as Markdown and JSON, [`super::charts`] draws it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One second of a run, per version ("v1", "v2", "unknown"...).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VersionSecond {
    /// Requests this version answered, failed ones included.
    pub requests: u64,
    /// Of those, the ones it failed (5xx).
    pub failed: u64,
    pub ready_pods: u32,
    /// 95th percentile of the time to answer, milliseconds, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

/// One moment of a run: a second, or less for a short run (see [`SecondSample::t`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecondSample {
    /// Seconds since the start, at the beginning of this sample's time bin (one second, or
    /// a fraction of one for a short run).
    pub t: f64,
    pub by_version: BTreeMap<String, VersionSecond>,
    /// Requests that got no answer (connection refused, timeout).
    pub unanswered: u64,
}

/// A point in time worth marking on the charts: a step boundary ("set weight 20%"), the start
/// of a rollback.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    pub t: f64,
    pub label: String,
}

/// The figures a run is judged by.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunFigures {
    pub strategy: String,
    pub from_image: String,
    pub to_image: String,
    /// `done`, `rolled-back`, `rollback-failed` or `interrupted`.
    pub outcome: String,
    pub reason: Option<String>,
    /// Time to complete, or to roll back.
    pub seconds: f64,
    /// User requests.
    pub requests: u64,
    /// Of those, the ones that failed (5xx or no answer).
    pub failed: u64,
    /// Total time with no successful answer.
    pub downtime_seconds: f64,
    /// Requests answered by the new version.
    pub served_by_new: u64,
    /// Most pods running at once: what the strategy cost in resources.
    pub peak_pods: u32,
    /// From the first request the new version served to the failing gate.
    pub detect_seconds: Option<f64>,
    /// From the failing gate to the end of the rollback.
    pub rollback_seconds: Option<f64>,
    /// Most ready pods of each version at once (how far each one scaled).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peak_ready: BTreeMap<String, u32>,
    /// Whether every HorizontalPodAutoscaler of the namespace was, after the run, the same
    /// object with the same spec as before it (none when there was none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscalers_unchanged: Option<bool>,
    /// Requests each webhook receiver of an experiment got, by the receiver's name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub received: BTreeMap<String, u64>,
}

impl RunFigures {
    /// Failed requests as a percentage of all requests (0 when there were none).
    pub fn failed_percent(&self) -> f64 {
        share(self.failed, self.requests)
    }
}

/// Everything about one run: its figures, what happened each second, its steps, and the
/// engine's events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub title: String,
    pub figures: RunFigures,
    pub timeline: Vec<SecondSample>,
    pub markers: Vec<Marker>,
    /// The engine's events as JSON values.
    pub events: Vec<serde_json::Value>,
    /// Seconds from the timeline's start to the rollout's: the timeline begins with a moment
    /// of traffic before it, while the live progress counts from the rollout's start.
    #[serde(default)]
    pub started: f64,
}

impl RunReport {
    /// When a step began, as the live progress stamped it: seconds since the rollout
    /// started, to a tenth, so that the report and the log of one run read the same.
    pub fn step_time(&self, m: &Marker) -> String {
        format!("{:.1}s", (m.t - self.started).max(0.0))
    }
}

/// `part` as a percentage of `whole` (0 when there is no whole).
pub(crate) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}
