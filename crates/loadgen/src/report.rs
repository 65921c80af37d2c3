//! What the users experienced, for the whole run or any window of it.
//!
//! A [`Report`] is computed from the 100 ms buckets it holds on to, so [`Report::between`] can
//! answer "which versions served the users, and did they fail" for each step of a rollout
//! without the generator keeping every request.

use crate::histogram::Histogram;
use crate::record::{
    BUCKET_MS, Bucket, GroupCell, StatusKey, UNKNOWN_VERSION, VersionCell, serialize_ms,
};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const BUCKETS_PER_SECOND: u64 = 1000 / BUCKET_MS;

/// Why the generator stopped sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The spec's duration passed.
    Duration,
    /// The spec's `max_requests` were sent.
    MaxRequests,
    /// No duration was given and [`crate::MAX_DURATION`] passed.
    HardCap,
    /// [`crate::Traffic::stop`] was called.
    Stopped,
}

/// Requests one version answered (or, for [`UNKNOWN_VERSION`], no version answered).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionStats {
    /// Sent requests attributed to this version.
    pub requests: u64,
    /// Of those, not served.
    pub failed: u64,
    /// [`Report::share_of`] this version.
    pub share: f64,
    /// Latency percentiles over all its requests, failed ones included (a slow 500 is slow for
    /// its user too).
    #[serde(rename = "p50_ms", serialize_with = "serialize_ms")]
    pub p50: Duration,
    #[serde(rename = "p95_ms", serialize_with = "serialize_ms")]
    pub p95: Duration,
    #[serde(rename = "p99_ms", serialize_with = "serialize_ms")]
    pub p99: Duration,
    /// Requests per `X-Pod`.
    pub pods: BTreeMap<String, u64>,
}

/// One second of the run (seconds counted from the generator's start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Second {
    pub second: u64,
    /// Sent (ok + failed).
    pub requests: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Sent requests per version.
    pub by_version: BTreeMap<String, u64>,
}

/// One user group's requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStats {
    /// Index in the spec's groups; `None` for users in no group.
    pub group: Option<usize>,
    /// As written on the command line (`10%:header:X-Canary=always`), or `none`.
    pub label: String,
    /// Configured share of the requests.
    pub share: f64,
    /// Share of all due requests (sent or dropped) this group actually got.
    pub observed_share: f64,
    /// Sent (ok + failed).
    pub requests: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Sent requests per version: where this group's users landed.
    pub by_version: BTreeMap<String, u64>,
}

/// A stretch in which every sent request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outage {
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Outage {
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.to_ms - self.from_ms)
    }
}

/// Name and configured share of a group, for reports.
#[derive(Debug, Clone)]
pub(crate) struct GroupMeta {
    pub label: String,
    pub share: f64,
}

/// What a snapshot holds: the buckets as they were, shared with the generator until it
/// changes one.
#[derive(Debug)]
pub(crate) struct Data {
    pub started: SystemTime,
    pub buckets: Vec<Arc<Bucket>>,
    pub groups: Vec<GroupMeta>,
    pub in_flight: u64,
    pub end: Option<End>,
}

/// What the users experienced.
///
/// Counts: `total = ok + failed + dropped`; "sent" below means `ok + failed`. Requests still
/// awaiting an answer are in none of them (see `in_flight`) until they are answered.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(serialize_with = "serialize_time")]
    pub started: SystemTime,
    /// The window covered, in ms since `started`, whole buckets: `[from_ms, to_ms)`.
    pub from_ms: u64,
    pub to_ms: u64,
    /// Due requests: sent or dropped.
    pub total: u64,
    /// Served: complete 2xx/3xx answers.
    pub ok: u64,
    /// Sent and not served: 5xx, 4xx, connection errors, timeouts, broken bodies.
    pub failed: u64,
    /// Not sent because `max_in_flight` were waiting.
    pub dropped: u64,
    /// Requests awaiting an answer when the snapshot was taken (of the whole generator, in a
    /// sub-window too).
    pub in_flight: u64,
    /// Requests per HTTP status, or per error (`connect`, `timeout`, `transport`, `body`,
    /// `dropped`).
    pub by_status: BTreeMap<String, u64>,
    /// Sent requests per `X-Version` ([`UNKNOWN_VERSION`] when there was none).
    pub per_version: BTreeMap<String, VersionStats>,
    pub per_second: Vec<Second>,
    /// One entry per group of the spec, in its order.
    pub per_group: Vec<GroupStats>,
    /// Users in no group.
    pub ungrouped: GroupStats,
    /// Total length of the 100 ms windows in which there were requests and all failed. A
    /// window without requests (low rates) counts as the state last seen before it.
    #[serde(rename = "downtime_ms", serialize_with = "serialize_ms")]
    pub downtime: Duration,
    #[serde(rename = "longest_outage_ms", serialize_with = "serialize_ms")]
    pub longest_outage: Duration,
    pub outages: Vec<Outage>,
    /// Why the generator stopped sending; `None` while it runs.
    pub end: Option<End>,
    #[serde(skip)]
    data: Arc<Data>,
}

impl Report {
    pub(crate) fn whole(data: Arc<Data>) -> Self {
        let len = data.buckets.len();
        Self::build(data, 0, len)
    }

    /// The requests sent in `[from_ms, to_ms)` (ms since start; widened to whole 100 ms
    /// buckets), within this report's own window: e.g. the traffic split and errors during one
    /// step of a rollout.
    pub fn between(&self, from_ms: u64, to_ms: u64) -> Report {
        let from = from_ms.max(self.from_ms) / BUCKET_MS;
        let to = to_ms.min(self.to_ms).div_ceil(BUCKET_MS);
        let index = |b: u64| usize::try_from(b).unwrap_or(usize::MAX);
        Self::build(self.data.clone(), index(from), index(to))
    }

    /// Requests sent (ok + failed).
    pub fn sent(&self) -> u64 {
        self.ok + self.failed
    }

    /// Failed share of the sent requests; 0 when none was sent. Dropped ones are left out:
    /// they say how the generator was limited, not how the app did.
    pub fn failed_ratio(&self) -> f64 {
        ratio(self.failed, self.sent())
    }

    /// Share of the requests answered by some version that `version` answered — the traffic
    /// split, undisturbed by requests that reached no app. For [`UNKNOWN_VERSION`]: its share
    /// of all sent requests.
    pub fn share_of(&self, version: &str) -> f64 {
        let count = |v: &str| self.per_version.get(v).map_or(0, |s| s.requests);
        if version == UNKNOWN_VERSION {
            ratio(count(UNKNOWN_VERSION), self.sent())
        } else {
            ratio(
                count(version),
                self.sent().saturating_sub(count(UNKNOWN_VERSION)),
            )
        }
    }

    fn build(data: Arc<Data>, from: usize, to: usize) -> Report {
        let to = to.min(data.buckets.len());
        let from = from.min(to);
        let buckets = &data.buckets[from..to];

        let (mut ok, mut failed, mut dropped) = (0, 0, 0);
        let mut statuses: BTreeMap<StatusKey, u64> = BTreeMap::new();
        let mut versions: BTreeMap<String, VersionCell> = BTreeMap::new();
        let mut groups = vec![GroupCell::default(); data.groups.len() + 1];
        let mut per_second: Vec<Second> = Vec::new();
        for (offset, bucket) in buckets.iter().enumerate() {
            ok += bucket.ok;
            failed += bucket.failed;
            dropped += bucket.dropped;
            for (key, n) in &bucket.statuses {
                *statuses.entry(*key).or_default() += n;
            }
            for (version, cell) in &bucket.versions {
                versions.entry(version.clone()).or_default().merge(cell);
            }
            for (slot, cell) in bucket.groups.iter().enumerate() {
                if let Some(total) = groups.get_mut(slot) {
                    total.merge(cell);
                }
            }
            let second = (from + offset) as u64 / BUCKETS_PER_SECOND;
            if per_second.last().is_none_or(|s| s.second != second) {
                per_second.push(Second {
                    second,
                    requests: 0,
                    failed: 0,
                    dropped: 0,
                    by_version: BTreeMap::new(),
                });
            }
            if let Some(s) = per_second.last_mut() {
                s.requests += bucket.ok + bucket.failed;
                s.failed += bucket.failed;
                s.dropped += bucket.dropped;
                for (version, cell) in &bucket.versions {
                    *s.by_version.entry(version.clone()).or_default() += cell.requests;
                }
            }
        }

        let sent = ok + failed;
        let total = sent + dropped;
        let unknown = versions.get(UNKNOWN_VERSION).map_or(0, |c| c.requests);
        let per_version = versions
            .into_iter()
            .map(|(version, cell)| {
                let share = if version == UNKNOWN_VERSION {
                    ratio(cell.requests, sent)
                } else {
                    ratio(cell.requests, sent.saturating_sub(unknown))
                };
                let stats = version_stats(cell, share);
                (version, stats)
            })
            .collect();
        let group_stats = |slot: usize, cell: &GroupCell| {
            let (label, share) = match slot.checked_sub(1).and_then(|g| data.groups.get(g)) {
                Some(meta) => (meta.label.clone(), meta.share),
                None => (
                    "none".to_owned(),
                    (1.0 - data.groups.iter().map(|g| g.share).sum::<f64>()).max(0.0),
                ),
            };
            GroupStats {
                group: slot.checked_sub(1),
                label,
                share,
                observed_share: ratio(cell.requests + cell.dropped, total),
                requests: cell.requests,
                failed: cell.failed,
                dropped: cell.dropped,
                by_version: cell.versions.clone(),
            }
        };
        let ungrouped = group_stats(0, &groups[0]);
        let per_group = groups
            .iter()
            .enumerate()
            .skip(1)
            .map(|(slot, cell)| group_stats(slot, cell))
            .collect();
        let outages = outages(buckets, from);
        let downtime = outages.iter().map(Outage::duration).sum();
        let longest_outage = outages
            .iter()
            .map(Outage::duration)
            .max()
            .unwrap_or_default();

        Report {
            started: data.started,
            from_ms: from as u64 * BUCKET_MS,
            to_ms: to as u64 * BUCKET_MS,
            total,
            ok,
            failed,
            dropped,
            in_flight: data.in_flight,
            by_status: statuses
                .into_iter()
                .map(|(key, n)| (key.label(), n))
                .collect(),
            per_version,
            per_second,
            per_group,
            ungrouped,
            downtime,
            longest_outage,
            outages,
            end: data.end,
            data,
        }
    }
}

fn version_stats(cell: VersionCell, share: f64) -> VersionStats {
    let latency: &Histogram = &cell.latency;
    VersionStats {
        requests: cell.requests,
        failed: cell.failed,
        share,
        p50: latency.quantile(0.50),
        p95: latency.quantile(0.95),
        p99: latency.quantile(0.99),
        pods: cell.pods,
    }
}

/// Runs of buckets in which all sent requests failed. A bucket without sent requests takes the
/// state of the last bucket that had some (at 5 requests/s most 100 ms buckets are empty, and
/// the service did not come back in between); buckets before the first and after the last
/// request count as neither.
fn outages(buckets: &[Arc<Bucket>], from: usize) -> Vec<Outage> {
    let ms = |offset: usize| (from + offset) as u64 * BUCKET_MS;
    let Some(last) = buckets.iter().rposition(|b| b.ok + b.failed > 0) else {
        return Vec::new();
    };
    let mut outages = Vec::new();
    let mut down = false;
    let mut start = None;
    for (offset, bucket) in buckets[..=last].iter().enumerate() {
        if bucket.ok + bucket.failed > 0 {
            down = bucket.ok == 0;
        }
        match (down, start) {
            (true, None) => start = Some(offset),
            (false, Some(s)) => {
                outages.push(Outage {
                    from_ms: ms(s),
                    to_ms: ms(offset),
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        outages.push(Outage {
            from_ms: ms(s),
            to_ms: ms(last + 1),
        });
    }
    outages
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// RFC 3339, as every other timestamp a person or tool reads in JSON.
fn serialize_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}
