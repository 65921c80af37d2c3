//! What happened to each request ([`Outcome`]) and the bounded aggregates kept of them.
//!
//! Outcomes land in 100 ms buckets by the time the request was *sent*: the state of the system
//! a user met is the state when they asked, even if the answer (or timeout) came later. Each
//! bucket is an `Arc`, so a snapshot copies pointers, and a late outcome for a bucket a snapshot
//! still holds copies just that one bucket.

use crate::histogram::Histogram;
use crate::spec::MAX_DURATION;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Width of the internal buckets, in milliseconds: the precision of downtime and of
/// [`crate::Report::between`].
pub const BUCKET_MS: u64 = 100;

/// Version of answers without an `X-Version` header (the ingress's own 503 or 404) and of
/// requests that got no answer.
pub const UNKNOWN_VERSION: &str = "unknown";

/// Version or pod name recorded once too many distinct names were seen: a misbehaving backend
/// inventing a name per response must not grow memory without bound.
pub const OTHER: &str = "other";

const MAX_VERSIONS: usize = 64;
const MAX_PODS: usize = 4096;
/// Buckets the longest run needs, plus slack for a scheduler running late at the very end.
const MAX_BUCKETS: usize = (MAX_DURATION.as_millis() as usize) / (BUCKET_MS as usize) + 100;
/// Longest version or pod name kept, in bytes.
const MAX_NAME: usize = 128;

/// Why a request has no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection was refused or could not be made: nothing listens, as when the ingress
    /// is down.
    Connect,
    /// No complete answer within the spec's timeout.
    Timeout,
    /// The connection failed after it was made, before a status arrived (reset, closed).
    Transport,
    /// A status arrived but the body broke off: the user saw a broken page.
    Body,
    /// Not sent: `max_in_flight` requests were already waiting. The generator's limit, not the
    /// app's failure, so it is counted apart from both `ok` and `failed`.
    Dropped,
}

impl ErrorKind {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Transport => "transport",
            Self::Body => "body",
            Self::Dropped => "dropped",
        }
    }
}

/// One request, as its user saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// When it was sent (or dropped), in ms since the generator started.
    pub at_ms: u64,
    /// HTTP status; `None` when no status arrived.
    pub status: Option<u16>,
    /// Why there is no usable answer; `None` when the answer is complete.
    pub error: Option<ErrorKind>,
    /// Until the whole body was read, or the error.
    #[serde(rename = "latency_ms", serialize_with = "serialize_ms")]
    pub latency: Duration,
    /// `X-Version` of the answer.
    pub version: Option<String>,
    /// `X-Pod` of the answer.
    pub pod: Option<String>,
    /// Index of the user group in the spec; `None` for users in no group.
    pub group: Option<usize>,
}

impl Outcome {
    pub(crate) fn dropped(at_ms: u64, group: Option<usize>) -> Self {
        Self {
            at_ms,
            status: None,
            error: Some(ErrorKind::Dropped),
            latency: Duration::ZERO,
            version: None,
            pod: None,
            group,
        }
    }

    /// Served: a complete 2xx or 3xx answer (redirects are not followed: the user got one).
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && matches!(self.status, Some(200..=399))
    }

    /// Not sent by the generator.
    pub fn is_dropped(&self) -> bool {
        self.error == Some(ErrorKind::Dropped)
    }

    /// Sent and not served: 5xx, 4xx (an ingress 404 during a cut-over is a user not served
    /// too), connection errors, timeouts, broken bodies.
    pub fn is_failed(&self) -> bool {
        !self.is_ok() && !self.is_dropped()
    }
}

/// Key of the status breakdown: the HTTP code, or the error for requests without a complete
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StatusKey {
    Code(u16),
    Error(ErrorKind),
}

impl StatusKey {
    fn of(outcome: &Outcome) -> Self {
        match (outcome.error, outcome.status) {
            (Some(error), _) => Self::Error(error),
            (None, Some(code)) => Self::Code(code),
            (None, None) => Self::Error(ErrorKind::Transport),
        }
    }

    pub fn label(self) -> String {
        match self {
            Self::Code(code) => code.to_string(),
            Self::Error(error) => error.as_str().to_owned(),
        }
    }
}

/// One version's requests within a bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct VersionCell {
    pub requests: u64,
    pub failed: u64,
    pub latency: Histogram,
    pub pods: BTreeMap<String, u64>,
}

impl VersionCell {
    pub fn merge(&mut self, other: &VersionCell) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.latency.merge(&other.latency);
        for (pod, n) in &other.pods {
            *self.pods.entry(pod.clone()).or_default() += n;
        }
    }
}

/// One user group's requests within a bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupCell {
    /// Sent (ok + failed).
    pub requests: u64,
    pub failed: u64,
    pub dropped: u64,
    pub versions: BTreeMap<String, u64>,
}

impl GroupCell {
    pub fn merge(&mut self, other: &GroupCell) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.dropped += other.dropped;
        for (version, n) in &other.versions {
            *self.versions.entry(version.clone()).or_default() += n;
        }
    }
}

/// Everything sent within one [`BUCKET_MS`] window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    pub ok: u64,
    pub failed: u64,
    pub dropped: u64,
    pub statuses: BTreeMap<StatusKey, u64>,
    pub versions: BTreeMap<String, VersionCell>,
    /// Index 0: users in no group; `i + 1`: group `i`.
    pub groups: Vec<GroupCell>,
}

impl Bucket {
    fn add(&mut self, outcome: &Outcome) {
        *self.statuses.entry(StatusKey::of(outcome)).or_default() += 1;
        let slot = outcome.group.map_or(0, |g| g.saturating_add(1));
        if self.groups.len() <= slot {
            self.groups.resize_with(slot + 1, GroupCell::default);
        }
        let group = &mut self.groups[slot];
        if outcome.is_dropped() {
            self.dropped += 1;
            group.dropped += 1;
            return;
        }
        let failed = outcome.is_failed();
        if failed {
            self.failed += 1;
        } else {
            self.ok += 1;
        }
        let version = outcome.version.as_deref().unwrap_or(UNKNOWN_VERSION);
        group.requests += 1;
        group.failed += u64::from(failed);
        *group.versions.entry(version.to_owned()).or_default() += 1;
        let cell = self.versions.entry(version.to_owned()).or_default();
        cell.requests += 1;
        cell.failed += u64::from(failed);
        cell.latency.record(outcome.latency);
        if let Some(pod) = &outcome.pod {
            *cell.pods.entry(pod.clone()).or_default() += 1;
        }
    }
}

/// All a generator recorded: aggregates of every outcome, and the first outcomes themselves.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub buckets: Vec<Arc<Bucket>>,
    pub outcomes: Vec<Outcome>,
    keep: usize,
    /// Outcomes aggregated but not kept.
    pub discarded: u64,
    versions: BTreeSet<String>,
    pods: BTreeSet<String>,
}

impl Recorder {
    pub fn new(keep: usize) -> Self {
        Self {
            buckets: Vec::new(),
            outcomes: Vec::new(),
            keep,
            discarded: 0,
            versions: BTreeSet::new(),
            pods: BTreeSet::new(),
        }
    }

    pub fn record(&mut self, mut outcome: Outcome) {
        outcome.version = outcome
            .version
            .map(|v| bounded_name(&mut self.versions, v, MAX_VERSIONS));
        outcome.pod = outcome
            .pod
            .map(|p| bounded_name(&mut self.pods, p, MAX_PODS));
        let index = usize::try_from(outcome.at_ms / BUCKET_MS)
            .unwrap_or(usize::MAX)
            .min(MAX_BUCKETS - 1);
        if self.buckets.len() <= index {
            self.buckets.resize_with(index + 1, Arc::default);
        }
        Arc::make_mut(&mut self.buckets[index]).add(&outcome);
        if self.outcomes.len() < self.keep {
            self.outcomes.push(outcome);
        } else {
            self.discarded += 1;
        }
    }
}

/// `name`, cut to [`MAX_NAME`] bytes, or [`OTHER`] once `limit` distinct names were seen.
fn bounded_name(seen: &mut BTreeSet<String>, mut name: String, limit: usize) -> String {
    if name.len() > MAX_NAME {
        let mut end = MAX_NAME;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    if seen.contains(&name) {
        name
    } else if seen.len() < limit {
        seen.insert(name.clone());
        name
    } else {
        OTHER.to_owned()
    }
}

/// Durations as milliseconds (fractional) in JSON: what dashboards and gates compare against.
pub(crate) fn serialize_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
}
