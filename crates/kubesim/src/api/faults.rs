//! Injected faults: the API server answering some requests the way a loaded or flaky real one
//! does — 500 InternalError, 429 TooManyRequests with `Retry-After`, 409 Conflict on writes,
//! watch streams whose connection drops mid-stream, and added latency — so that clients can
//! be tested against them. A fault profile is a list of rules read from YAML
//! ([`FaultProfile::from_yaml`]); the server applies it as a layer in front of every handler
//! ([`layer`]), answering with proper `metav1.Status` bodies.
//!
//! # Fault file
//!
//! ```yaml
//! seed: 7                  # the same seed gives the same decisions (see below); 0 by default
//! rules:
//!   - fault: 500           # 500 InternalError
//!     share: 3%            # of the requests the rule matches (also 0.03)
//!   - fault: 429           # 429 TooManyRequests, Retry-After header and details.retryAfterSeconds
//!     share: 2%
//!     retryAfter: 1s       # whole seconds, 1s by default
//!   - fault: 409           # 409 Conflict; only ever on writes
//!     share: 2%
//!     verbs: [patch]
//!     resources: [deployments, services]
//!   - fault: drop-watch    # the watch's connection is closed mid-stream
//!     share: 20%
//!     after: 2s            # at a random moment within this much of the start, 1s by default
//!   - fault: latency       # the request waits this long before it is handled
//!     share: 10%
//!     delay: 200ms
//!     namespaces: [shop]
//! ```
//!
//! Every rule has `fault` (`500`, `429`, `409`, `drop-watch` or `latency`; also spelled
//! `internal-error`, `throttle`, `conflict`) and `share`, and may narrow what it matches:
//!
//! - `verbs`: any of `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
//!   `deletecollection` (all when absent). A 409 rule matches writes only, a `drop-watch`
//!   rule watches only, whatever it lists.
//! - `resources`: plural names, optionally with the group (`deployments` or
//!   `deployments.apps`), and `plural/subresource` for a subresource (`deployments/scale`,
//!   `services/proxy`). A name alone matches the resource itself, not its subresources. When
//!   absent, every resource except the `proxy` subresources: what is proxied is the app's
//!   traffic, not the API's (image profiles make apps fail).
//! - `namespaces`: the request's namespace is one of these.
//! - `components: true`: the embedded cluster's own components (node agent, ingress) are
//!   affected too. By default they are not: their clients send the header
//!   [`COMPONENT_HEADER`] (see `SimCluster::component_client`), and rules skip requests that
//!   carry it. A test harness that wants to observe the cluster without faults can send it
//!   as well.
//!
//! Requests that do not address a resource (`/version`, `/healthz`, discovery, OpenAPI) are
//! never faulted. Latency rules add up and the request then goes on; of the other rules, the
//! first (in file order) whose draw hits decides the answer.
//!
//! Durations are real time: the cluster's time scale does not shorten them.
//!
//! # Repeatable decisions
//!
//! Whether a rule hits a request is a hash of the seed, the rule's position, the request's
//! method and path, and how many requests with that method and path came before it — not a
//! shared random stream. So the n-th `PATCH` of one object meets the same fate on every run
//! with the same seed, however requests for other objects interleave with it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::path::{self, Route};
use super::status::ApiError;

/// The header the embedded cluster's own clients send, naming the component (`node-agent`,
/// `ingress`). Rules without `components: true` leave such requests alone.
pub const COMPONENT_HEADER: &str = "x-kubesim-component";

/// The header on every injected answer, naming the rule (its position in the file, from 0).
pub const FAULT_HEADER: &str = "x-kubesim-fault";

/// How many per-request counters are kept before they are forgotten (bounded memory on a
/// long-running cluster; decisions stay seeded, only the repeat counts start over).
const MAX_COUNTERS: usize = 1 << 16;

/// An API verb, as RBAC and audit logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    Deletecollection,
}

impl Verb {
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::Deletecollection
        )
    }
}

/// What a rule does to a request it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 500 InternalError.
    InternalError,
    /// 429 TooManyRequests with `Retry-After`.
    Throttle,
    /// 409 Conflict, on writes.
    Conflict,
    /// The watch's connection is closed mid-stream.
    DropWatch,
    /// The request is delayed, then handled.
    Latency,
}

impl FaultKind {
    fn index(self) -> usize {
        match self {
            FaultKind::InternalError => 0,
            FaultKind::Throttle => 1,
            FaultKind::Conflict => 2,
            FaultKind::DropWatch => 3,
            FaultKind::Latency => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::InternalError => "500",
            FaultKind::Throttle => "429",
            FaultKind::Conflict => "409",
            FaultKind::DropWatch => "drop-watch",
            FaultKind::Latency => "latency",
        }
    }

    fn parse(text: &str) -> Option<FaultKind> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "500" | "internal-error" | "internalerror" => FaultKind::InternalError,
            "429" | "throttle" | "too-many-requests" => FaultKind::Throttle,
            "409" | "conflict" => FaultKind::Conflict,
            "drop-watch" | "dropwatch" | "drop" => FaultKind::DropWatch,
            "latency" | "delay" => FaultKind::Latency,
            _ => return None,
        })
    }

    /// Whether the kind can apply to a request with this verb at all.
    fn applies_to(self, verb: Verb) -> bool {
        match self {
            FaultKind::Conflict => verb.is_write(),
            FaultKind::DropWatch => verb == Verb::Watch,
            _ => true,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const KIND_EXPECTED: &str = "one of 500, 429, 409, drop-watch, latency";

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FaultKind, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FaultKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(KIND_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FaultKind, E> {
                FaultKind::parse(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FaultKind, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FaultKind, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

/// A share of requests: `0.05` or `5%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share(pub f64);

const SHARE_EXPECTED: &str = "a share such as 0.05 or 5%";

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Share, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SHARE_EXPECTED)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Share, E> {
                if v.is_finite() && (0.0..=1.0).contains(&v) {
                    Ok(Share(v))
                } else {
                    Err(E::invalid_value(
                        Unexpected::Float(v),
                        &"a share between 0 and 1",
                    ))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Share, E> {
                match v {
                    0 | 1 => Ok(Share(v as f64)),
                    _ => Err(E::invalid_value(
                        Unexpected::Unsigned(v),
                        &"a share between 0 and 1 (or a percentage such as 5%)",
                    )),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Share, E> {
                Err(E::invalid_value(Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Share, E> {
                let t = v.trim();
                let parsed = match t.strip_suffix('%') {
                    Some(p) => p.trim().parse::<f64>().ok().map(|p| p / 100.0),
                    None => t.parse::<f64>().ok(),
                };
                match parsed {
                    Some(s) if s.is_finite() && (0.0..=1.0).contains(&s) => Ok(Share(s)),
                    _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written the `humantime` way, for serde.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DurationText, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 500ms, 2s or 1m30s")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                crate::node::behaviour::parse_duration(v)
                    .map(DurationText)
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
                if v == 0 {
                    Ok(DurationText(Duration::ZERO))
                } else {
                    Err(E::invalid_value(Unexpected::Unsigned(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProfileFile {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleFile {
    fault: FaultKind,
    share: Share,
    #[serde(default)]
    verbs: Vec<Verb>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    components: bool,
    #[serde(default)]
    retry_after: Option<DurationText>,
    #[serde(default)]
    delay: Option<DurationText>,
    #[serde(default)]
    after: Option<DurationText>,
}

/// One rule of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub fault: FaultKind,
    /// Of the requests the rule matches, the share it hits (0 to 1).
    pub share: f64,
    /// Empty: every verb.
    pub verbs: Vec<Verb>,
    /// Empty: every resource but `proxy` subresources.
    pub resources: Vec<String>,
    /// Empty: every namespace (and cluster-scoped requests).
    pub namespaces: Vec<String>,
    /// Whether the embedded cluster's own components' requests are affected too.
    pub components: bool,
    /// 429: what `Retry-After` says (whole seconds).
    pub retry_after: Duration,
    /// Latency: how long a hit request waits.
    pub delay: Duration,
    /// Drop-watch: the stream is cut at a random moment within this long of its start.
    pub after: Duration,
}

impl FaultRule {
    /// A rule of `fault` hitting `share` of every request it can apply to.
    pub fn new(fault: FaultKind, share: f64) -> Self {
        FaultRule {
            fault,
            share,
            verbs: Vec::new(),
            resources: Vec::new(),
            namespaces: Vec::new(),
            components: false,
            retry_after: Duration::from_secs(1),
            delay: Duration::from_millis(100),
            after: Duration::from_secs(1),
        }
    }

    /// Whether the rule is about this request (before the draw).
    pub fn matches(&self, r: &RequestInfo) -> bool {
        if r.component.is_some() && !self.components {
            return false;
        }
        if !self.fault.applies_to(r.verb) {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&r.verb) {
            return false;
        }
        if !self.namespaces.is_empty()
            && !r
                .namespace
                .as_deref()
                .is_some_and(|ns| self.namespaces.iter().any(|n| n == ns))
        {
            return false;
        }
        if self.resources.is_empty() {
            return r.subresource.as_deref() != Some("proxy");
        }
        self.resources.iter().any(|e| r.is_resource(e))
    }
}

/// A fault profile: rules and the seed of their draws.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultProfile {
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("{origin}:{line}:{column}: {message}")]
    Yaml {
        origin: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{origin}: rules[{index}]: {message}")]
    Rule {
        origin: String,
        index: usize,
        message: String,
    },
}

impl FaultProfile {
    /// Reads a fault file; mistakes are said as `origin:line:column: what was expected`, or
    /// `origin: rules[N]: …` for a rule whose fields do not go together.
    pub fn from_yaml(text: &str, origin: &str) -> Result<FaultProfile, FaultError> {
        let file: ProfileFile = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let mut message = e.without_snippet().to_string();
            let suffix = format!(" at line {line}, column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
            FaultError::Yaml {
                origin: origin.to_string(),
                line,
                column,
                message,
            }
        })?;
        let mut rules = Vec::with_capacity(file.rules.len());
        for (index, r) in file.rules.into_iter().enumerate() {
            let wrong = |message: String| FaultError::Rule {
                origin: origin.to_string(),
                index,
                message,
            };
            let only = |field: &str, set: bool, kind: FaultKind| {
                if set && r.fault != kind {
                    Err(wrong(format!(
                        "{field} goes with fault {kind}, not {}",
                        r.fault
                    )))
                } else {
                    Ok(())
                }
            };
            only("retryAfter", r.retry_after.is_some(), FaultKind::Throttle)?;
            only("delay", r.delay.is_some(), FaultKind::Latency)?;
            only("after", r.after.is_some(), FaultKind::DropWatch)?;
            for e in &r.resources {
                if e.trim().is_empty() || e.split('/').count() > 2 {
                    return Err(wrong(format!(
                        "resources: {e:?} is not a resource (`deployments`, `deployments.apps`, `services/proxy`)"
                    )));
                }
            }
            let mut rule = FaultRule::new(r.fault, r.share.0);
            rule.verbs = r.verbs;
            rule.resources = r.resources;
            rule.namespaces = r.namespaces;
            rule.components = r.components;
            if let Some(DurationText(d)) = r.retry_after {
                if d < Duration::from_secs(1) {
                    return Err(wrong(
                        "retryAfter: Retry-After counts whole seconds; at least 1s".into(),
                    ));
                }
                rule.retry_after = d;
            }
            if let Some(DurationText(d)) = r.delay {
                rule.delay = d;
            }
            if let Some(DurationText(d)) = r.after {
                rule.after = d;
            }
            rules.push(rule);
        }
        Ok(FaultProfile {
            seed: file.seed,
            rules,
        })
    }
}

/// What the fault layer needs to know about a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInfo {
    pub verb: Verb,
    pub plural: String,
    pub group: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The component named by [`COMPONENT_HEADER`], when the request carries it.
    pub component: Option<String>,
}

impl RequestInfo {
    /// What a request addresses and how; `None` for requests that address no resource.
    pub fn of(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<RequestInfo> {
        let Route::Object(t) = path::parse(uri.path()) else {
            return None;
        };
        let watch = uri.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k == "watch" && matches!(v.as_ref(), "true" | "1" | "True"))
        });
        let named = t.name.is_some();
        let verb = match *method {
            Method::GET | Method::HEAD if watch => Verb::Watch,
            Method::GET | Method::HEAD if named => Verb::Get,
            Method::GET | Method::HEAD => Verb::List,
            Method::POST => Verb::Create,
            Method::PUT => Verb::Update,
            Method::PATCH => Verb::Patch,
            Method::DELETE if named => Verb::Delete,
            Method::DELETE => Verb::Deletecollection,
            _ => return None,
        };
        Some(RequestInfo {
            verb,
            plural: t.resource.plural.to_string(),
            group: t.resource.group.to_string(),
            subresource: t.subresource.clone(),
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            component: headers
                .get(COMPONENT_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    }

    /// Whether `entry` (`plural`, `plural.group`, `plural/sub`, `plural.group/sub`) names
    /// this request's resource.
    fn is_resource(&self, entry: &str) -> bool {
        let (resource, sub) = match entry.trim().split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (entry.trim(), None),
        };
        let resource_matches = resource == self.plural
            || resource
                .strip_prefix(self.plural.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|g| g == self.group);
        resource_matches && sub == self.subresource.as_deref()
    }
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Added before the request is handled.
    pub delay: Duration,
    /// The failure, with the rule's position.
    pub failure: Option<(usize, Failure)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    InternalError,
    Throttle {
        retry_after_seconds: u64,
    },
    Conflict,
    /// Cut the stream this long after the answer starts.
    DropWatch {
        after: Duration,
    },
}

/// How many faults of each kind were injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultCounts {
    /// Requests that some rule was about (before its draw): what the shares are of.
    pub requests: u64,
    pub internal_error: u64,
    pub throttle: u64,
    pub conflict: u64,
    pub drop_watch: u64,
    pub latency: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.internal_error + self.throttle + self.conflict + self.drop_watch + self.latency
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "of {} requests, 500: {}, 429: {}, 409: {}, dropped watches: {}, delayed: {}",
            self.requests,
            self.internal_error,
            self.throttle,
            self.conflict,
            self.drop_watch,
            self.latency
        )
    }
}

/// A profile at work: its rules, the per-request counters behind the draws, and counts of
/// what was injected.
#[derive(Debug)]
pub struct Faults {
    profile: FaultProfile,
    seen: Mutex<HashMap<u64, u64>>,
    injected: [AtomicU64; 5],
    requests: AtomicU64,
}

impl Faults {
    pub fn new(profile: FaultProfile) -> Self {
        Faults {
            profile,
            seen: Mutex::new(HashMap::new()),
            injected: Default::default(),
            requests: AtomicU64::new(0),
        }
    }

    pub fn profile(&self) -> &FaultProfile {
        &self.profile
    }

    pub fn injected(&self) -> FaultCounts {
        let n = |k: FaultKind| self.injected[k.index()].load(Ordering::Relaxed);
        FaultCounts {
            requests: self.requests.load(Ordering::Relaxed),
            internal_error: n(FaultKind::InternalError),
            throttle: n(FaultKind::Throttle),
            conflict: n(FaultKind::Conflict),
            drop_watch: n(FaultKind::DropWatch),
            latency: n(FaultKind::Latency),
        }
    }

    /// Decides the fate of a request: `key` identifies it (method and path), and its
    /// repeat count among requests with the same key is part of the draw.
    pub fn decide(&self, request: &RequestInfo, key: &str) -> Decision {
        let mut decision = Decision {
            delay: Duration::ZERO,
            failure: None,
        };
        if !self.profile.rules.iter().any(|r| r.matches(request)) {
            return decision;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let key_hash = fnv1a(key.as_bytes());
        let nth = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() >= MAX_COUNTERS && !seen.contains_key(&key_hash) {
                seen.clear();
            }
            let n = seen.entry(key_hash).or_insert(0);
            *n += 1;
            *n
        };
        for (index, rule) in self.profile.rules.iter().enumerate() {
            if !rule.matches(request) {
                continue;
            }
            let draw = |salt: u64| {
                unit(mix(self.profile.seed
                    ^ mix(index as u64 + 1)
                    ^ mix(key_hash ^ mix(nth))
                    ^ salt))
            };
            if draw(0) >= rule.share {
                continue;
            }
            let failure = match rule.fault {
                FaultKind::Latency => {
                    decision.delay += rule.delay;
                    self.count(FaultKind::Latency);
                    continue;
                }
                _ if decision.failure.is_some() => continue,
                FaultKind::InternalError => Failure::InternalError,
                FaultKind::Throttle => Failure::Throttle {
                    retry_after_seconds: rule.retry_after.as_secs_f64().ceil().max(1.0) as u64,
                },
                FaultKind::Conflict => Failure::Conflict,
                FaultKind::DropWatch => Failure::DropWatch {
                    after: rule.after.mul_f64(draw(0x5eed)),
                },
            };
            self.count(rule.fault);
            decision.failure = Some((index, failure));
        }
        decision
    }

    fn count(&self, kind: FaultKind) {
        self.injected[kind.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// FNV-1a over bytes: a stable hash (std's hasher is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The splitmix64 finalizer: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash as a number in [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The Status a failure is answered with, and its extra headers.
fn answer(request: &RequestInfo, rule: usize, failure: &Failure) -> Option<Response> {
    let resource = if request.group.is_empty() {
        request.plural.clone()
    } else {
        format!("{}.{}", request.plural, request.group)
    };
    let name = request.name.clone().unwrap_or_default();
    let (error, retry_after) = match failure {
        Failure::InternalError => {
            let cause = format!("injected fault (rule {rule})");
            let mut e = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("Internal error occurred: {cause}"),
            );
            e.details = Some(json!({"causes": [{"message": cause}]}));
            (e, None)
        }
        Failure::Throttle {
            retry_after_seconds,
        } => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests, please try again later.",
            );
            e.details = Some(json!({"retryAfterSeconds": retry_after_seconds}));
            (e, Some(*retry_after_seconds))
        }
        Failure::Conflict => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
                ),
            );
            let mut details = json!({"name": name, "kind": request.plural});
            if !request.group.is_empty() {
                details["group"] = json!(request.group);
            }
            e.details = Some(details);
            (e, None)
        }
        Failure::DropWatch { .. } => return None,
    };
    let mut response = error.into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
        .headers_mut()
        .insert(FAULT_HEADER, HeaderValue::from(rule as u64));
    Some(response)
}

/// The answer's body, cut `after` from now: the stream ends with an error, which closes the
/// connection without the end of the chunked body (a dropped connection, as the client sees
/// it), rather than ending cleanly as a server's watch timeout does.
fn cut(response: Response, after: Duration) -> Response {
    let (parts, body) = response.into_parts();
    let deadline = Box::pin(tokio::time::sleep(after));
    let data = body.into_data_stream();
    let stream = futures::stream::unfold(Some((data, deadline)), |state| async move {
        let (mut data, mut deadline) = state?;
        tokio::select! {
            chunk = data.next() => {
                let chunk: Result<Bytes, axum::BoxError> = chunk?.map_err(Into::into);
                Some((chunk, Some((data, deadline))))
            }
            () = &mut deadline => {
                let dropped: axum::BoxError = Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "injected fault: watch stream dropped",
                ));
                Some((Err(dropped), None))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The layer: decides each request's fate, then delays, answers with a Status, or cuts the
/// stream as decided.
pub async fn layer(
    State(faults): State<std::sync::Arc<Faults>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(info) = RequestInfo::of(request.method(), request.uri(), request.headers()) else {
        return next.run(request).await;
    };
    let key = format!("{} {}", request.method(), request.uri().path());
    let decision = faults.decide(&info, &key);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let Some((rule, failure)) = decision.failure else {
        return next.run(request).await;
    };
    tracing::debug!(rule, fault = ?failure, %key, "injected fault");
    if let Failure::DropWatch { after } = failure {
        let mut response = cut(next.run(request).await, after);
        response
            .headers_mut()
            .insert(FAULT_HEADER, HeaderValue::from(rule as u64));
        return response;
    }
    answer(&info, rule, &failure)
        .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests;
