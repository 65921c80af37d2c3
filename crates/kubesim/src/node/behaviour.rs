//! Behaviour profiles: what the simulated application inside a pod does, decided by the
//! container image.
//!
//! The embedded cluster runs no real images. Instead every image resolves to a [`Behaviour`]
//! (startup time, latency, error ratio, crashes, readiness, …) so that deployment strategies can
//! be exercised against versions that are good, bad, slow or broken in well-known ways, just by
//! picking an image name such as `web:v2-bad`.
//!
//! # Resolution ([`Profiles::for_image`])
//!
//! Profiles map *image patterns* to behaviours. There are three kinds of pattern, tried in this
//! order; within a kind the entry listed first wins, and user entries (from a YAML file, see
//! [`Profiles::merged_with`]) are listed before the built-in ones:
//!
//! 1. **exact image** — a pattern with `:`, `/` or `@` and no `*`, e.g. `shop/api:v2`. It is
//!    compared with the image after both are normalised (a missing tag means `:latest`).
//! 2. **glob** — a pattern with `*` (any run of characters, `/` and `:` included) matched
//!    against the normalised image `repository:tag` (`repository@digest` for a digest-only
//!    image, `repository:tag@digest` when both are given), e.g. `shop/*:canary-*`.
//! 3. **word** — any other pattern, e.g. `bad`. It matches when the image's tag equals the word
//!    or ends with `-word` (`v2-bad`), or when the image's name (the last path segment of the
//!    repository) equals the word (`registry.local/bad:1.0`). The demo images are words.
//!
//! An image no pattern matches gets the default behaviour: a healthy app (see
//! [`Behaviour::default`]), unless a profile file sets `default`.
//!
//! # Demo images ([`Profiles::builtin`])
//!
//! | word          | behaviour                                                     |
//! |---------------|---------------------------------------------------------------|
//! | `bad`         | half the requests to the app's paths answer 500               |
//! | `errors`      | the same as `bad`                                             |
//! | `flaky`       | 5% of the requests answer 500                                 |
//! | `slow`        | latency p50 300ms, p99 900ms                                  |
//! | `crash`       | the process exits with code 1 three seconds after it starts   |
//! | `never-ready` | the health path answers 503 forever; `/` still answers        |
//! | `unpullable`  | the image cannot be pulled (ErrImagePull, ImagePullBackOff)   |
//! | `slow-start`  | the app takes 20s to start listening                          |
//! | `leak`        | resident memory grows by 50 MiB per minute                    |
//! | `regression`  | half the requests to `/explore` answer 500; `/` stays healthy   |
//!
//! So `web:bad`, `web:v2-bad`, `bad` and `registry.local/demo/bad:3` all answer errors, while
//! `web:v2` and `web:badger` are healthy.
//!
//! # Profile file ([`Profiles::from_yaml`])
//!
//! A YAML map from image pattern to behaviour. Fields left out take the built-in defaults (not
//! those of `default`, so that an entry reads the same wherever it sits); an empty value (`~`)
//! is a healthy app, which is how a demo word can be switched off. Keys with `*` must be quoted
//! because a plain `*` starts a YAML alias. The key `default` sets the behaviour of every image
//! no other pattern matches.
//!
//! ```yaml
//! default:                      # images nothing else matches
//!   latency: {p50: 8ms, p99: 40ms}
//! shop/api:v2:                  # exact image
//!   errorRatio: 0.2
//! "shop/*:canary-*":            # glob over repository:tag
//!   latency: 5ms..40ms          # uniform between the two
//!   crashAfter: 2m
//! beta:                         # word: tag `beta` or `…-beta`, or an image named `beta`
//!   neverReady: true
//!   healthPath: /ready
//!   paths: [/api, /static]
//!   body: "{pod} ({version}) in {namespace}\n"
//! flaky: ~                      # switch a demo word off
//! ```
//!
//! Every field: `startup`, `latency` (`5ms`, `5ms..40ms`, `{fixed: 5ms}`, `{p50: 5ms, p99:
//! 20ms}` or `{min: 5ms, max: 40ms}`), `errorRatio`, `crashAfter`, `neverReady`, `pullError`,
//! `memoryGrowthMibPerMin`, `paths`, `errorPaths`, `healthPath`, `body`. Durations are written the
//! `humantime` way: `500ms`, `2s`, `1m30s`. Mistakes are reported as `file:line:column: what
//! was expected`.
//!
//! # Per-pod overrides ([`apply_env`])
//!
//! A pod can adjust its own behaviour through its container's environment, which is handy for
//! one-off experiments without a new image: see [`apply_env`] for the names.

use serde::de::{self, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// The body template used when a behaviour sets none.
pub const DEFAULT_BODY: &str = "Host: {pod}, Version: {version}\n";

/// What the app in a container does. Every field has a default, so a profile only names what
/// differs from a healthy app.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behaviour {
    /// From container start until the app listens (and so can pass probes). Until then
    /// connections are refused, as with a real app that is still initialising.
    #[serde(with = "duration_text")]
    pub startup: Duration,
    /// Time the app takes to answer a request to one of its paths.
    pub latency: Latency,
    /// Share of the requests to the app's paths answered `500` (0.0 to 1.0).
    #[serde(deserialize_with = "ratio")]
    pub error_ratio: f64,
    /// The process exits with code 1 this long after the container starts.
    #[serde(with = "opt_duration_text", skip_serializing_if = "Option::is_none")]
    pub crash_after: Option<Duration>,
    /// The health path answers 503 forever, so readiness never passes; the app's paths still
    /// answer.
    pub never_ready: bool,
    /// The image cannot be pulled: the kubelet reports ErrImagePull then ImagePullBackOff and
    /// the server never starts.
    pub pull_error: bool,
    /// Resident memory growth, reported in `/metrics` (`process_resident_memory_bytes`) so a
    /// kubelet can compare it with the memory limit.
    #[serde(deserialize_with = "non_negative")]
    pub memory_growth_mib_per_min: f64,
    /// Path prefixes the app answers (besides the health path and `/metrics`), matched on
    /// segment boundaries: `/api` answers `/api` and `/api/users` but not `/apis`. Hence the
    /// default `["/"]` answers every path. Other paths answer 404.
    #[serde(deserialize_with = "path_list")]
    pub paths: Vec<String>,
    /// When set, `errorRatio` applies only to requests under these path prefixes (a
    /// regression that smoke tests of other paths do not see).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_paths: Vec<String>,
    /// The path probes are expected to use; it answers `ok` (or 503 when `never_ready`). A
    /// probe aimed at `/` passes too, since `/` is an ordinary app path.
    #[serde(deserialize_with = "path")]
    pub health_path: String,
    /// Body template of a successful answer; `None` means [`DEFAULT_BODY`]. Placeholders:
    /// `{pod}`, `{version}`, `{image}`, `{ip}`, `{port}`, `{namespace}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Default for Behaviour {
    /// A healthy app: up in a second, fast, no errors, answers every path.
    fn default() -> Self {
        Self {
            startup: Duration::from_secs(1),
            latency: Latency::LogNormal {
                p50: Duration::from_millis(5),
                p99: Duration::from_millis(20),
            },
            error_ratio: 0.0,
            crash_after: None,
            never_ready: false,
            pull_error: false,
            memory_growth_mib_per_min: 0.0,
            paths: vec!["/".to_string()],
            error_paths: Vec::new(),
            health_path: "/healthz".to_string(),
            body: None,
        }
    }
}

impl Behaviour {
    /// The body template in force.
    pub fn body_template(&self) -> &str {
        self.body.as_deref().unwrap_or(DEFAULT_BODY)
    }

    /// One line naming what differs from a healthy app, for listings.
    pub fn summary(&self) -> String {
        let d = Behaviour::default();
        let mut parts = Vec::new();
        if self.pull_error {
            parts.push("image cannot be pulled".to_string());
        }
        if self.startup != d.startup {
            parts.push(format!(
                "startup {}",
                humantime::format_duration(self.startup)
            ));
        }
        if self.latency != d.latency {
            parts.push(format!("latency {}", self.latency));
        }
        if self.error_ratio != d.error_ratio {
            parts.push(format!("errorRatio {}", self.error_ratio));
        }
        if let Some(after) = self.crash_after {
            parts.push(format!(
                "crashes after {}",
                humantime::format_duration(after)
            ));
        }
        if self.never_ready {
            parts.push("never ready".to_string());
        }
        if self.memory_growth_mib_per_min != d.memory_growth_mib_per_min {
            parts.push(format!(
                "memory grows {} MiB/min",
                self.memory_growth_mib_per_min
            ));
        }
        if self.paths != d.paths {
            parts.push(format!("paths {}", self.paths.join(", ")));
        }
        if self.health_path != d.health_path {
            parts.push(format!("healthPath {}", self.health_path));
        }
        if self.body.is_some() {
            parts.push("custom body".to_string());
        }
        if parts.is_empty() {
            "healthy".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Distribution of the time the app takes to answer.
///
/// Written in YAML (and `SIM_LATENCY`) as `5ms` (fixed), `5ms..40ms` (uniform), or as a map:
/// `{fixed: 5ms}`, `{p50: 5ms, p99: 20ms}`, `{min: 5ms, max: 40ms}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Log-normal fitted to a median and a 99th percentile: real latencies are skewed, with a
    /// long right tail, which is what percentile gates are meant to catch.
    LogNormal { p50: Duration, p99: Duration },
    /// Uniform between two bounds.
    Uniform { min: Duration, max: Duration },
}

/// z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874;

impl Latency {
    /// Parses the short forms: `50ms` (fixed) or `5ms..40ms` (uniform).
    pub fn parse(text: &str) -> Result<Latency, String> {
        match text.split_once("..") {
            Some((min, max)) => {
                let min = parse_duration(min)?;
                let max = parse_duration(max)?;
                Latency::Uniform { min, max }.validated()
            }
            None => Ok(Latency::Fixed(parse_duration(text)?)),
        }
    }

    /// Checks that the bounds are in order.
    fn validated(self) -> Result<Latency, String> {
        match self {
            Latency::LogNormal { p50, p99 } if p99 < p50 => Err(format!(
                "p99 ({}) must not be below p50 ({})",
                humantime::format_duration(p99),
                humantime::format_duration(p50)
            )),
            Latency::Uniform { min, max } if max < min => Err(format!(
                "max ({}) must not be below min ({})",
                humantime::format_duration(max),
                humantime::format_duration(min)
            )),
            ok => Ok(ok),
        }
    }

    /// Draws one latency. Log-normal draws are capped at ten times p99 so that a freak draw
    /// cannot stall a request for minutes.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                let (lo, hi) = (min.as_secs_f64(), max.as_secs_f64());
                secs(lo + (hi - lo) * rng.random::<f64>())
            }
            Latency::LogNormal { p50, p99 } => {
                if p50.is_zero() {
                    return Duration::ZERO;
                }
                let mu = p50.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64().ln() - mu) / Z99;
                // Box–Muller: two uniforms give one standard normal draw.
                let u1 = 1.0 - rng.random::<f64>(); // in (0, 1], so ln is finite
                let u2 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let cap = p99.as_secs_f64() * 10.0;
                secs((mu + sigma * z).exp().min(cap))
            }
        }
    }
}

/// Seconds to a duration, treating nonsense (NaN, negative, overflow) as zero or the maximum.
fn secs(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = humantime::format_duration;
        match *self {
            Latency::Fixed(d) => write!(f, "{}", h(d)),
            Latency::LogNormal { p50, p99 } => write!(f, "p50 {} p99 {}", h(p50), h(p99)),
            Latency::Uniform { min, max } => write!(f, "{}..{}", h(min), h(max)),
        }
    }
}

/// The map form of [`Latency`], used to serialize it.
#[derive(Serialize)]
struct LatencyFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    fixed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<String>,
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = |d: Duration| Some(humantime::format_duration(d).to_string());
        let mut fields = LatencyFields {
            fixed: None,
            p50: None,
            p99: None,
            min: None,
            max: None,
        };
        match *self {
            Latency::Fixed(d) => fields.fixed = text(d),
            Latency::LogNormal { p50, p99 } => {
                fields.p50 = text(p50);
                fields.p99 = text(p99);
            }
            Latency::Uniform { min, max } => {
                fields.min = text(min);
                fields.max = text(max);
            }
        }
        fields.serialize(s)
    }
}

const LATENCY_FIELDS: &[&str] = &["fixed", "p50", "p99", "min", "max"];

struct LatencyVisitor;

impl<'de> Visitor<'de> for LatencyVisitor {
    type Value = Latency;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a latency: 5ms, 5ms..40ms, {fixed: 5ms}, {p50: 5ms, p99: 20ms} or {min: 5ms, max: 40ms}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Latency, E> {
        Latency::parse(v).map_err(|why| E::custom(format!("invalid latency: {why}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Latency, E> {
        if v == 0 {
            Ok(Latency::Fixed(Duration::ZERO))
        } else {
            Err(E::invalid_value(Unexpected::Unsigned(v), &self))
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Latency, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Latency, A::Error> {
        let mut slots: [Option<Duration>; 5] = [None; 5];
        while let Some(key) = map.next_key::<String>()? {
            let Some(i) = LATENCY_FIELDS.iter().position(|f| *f == key) else {
                return Err(de::Error::unknown_field(&key, LATENCY_FIELDS));
            };
            if slots[i].is_some() {
                return Err(de::Error::duplicate_field(LATENCY_FIELDS[i]));
            }
            slots[i] = Some(map.next_value::<DurationText>()?.0);
        }
        let latency = match slots {
            [Some(d), None, None, None, None] => Latency::Fixed(d),
            [None, Some(p50), Some(p99), None, None] => Latency::LogNormal { p50, p99 },
            [None, None, None, Some(min), Some(max)] => Latency::Uniform { min, max },
            _ => {
                return Err(de::Error::custom(
                    "latency needs `fixed`, or both `p50` and `p99`, or both `min` and `max`",
                ));
            }
        };
        latency.validated().map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Latency, D::Error> {
        d.deserialize_any(LatencyVisitor)
    }
}

/// Parses a duration written the `humantime` way (`500ms`, `2s`, `1m 30s`); a bare `0` is
/// accepted since it is unambiguous.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text).map_err(|_| format!("{text:?} is not {DURATION_EXPECTED}"))
}

const DURATION_EXPECTED: &str = "a duration such as 500ms, 2s or 1m30s";

/// A duration in its text form, for serde.
struct DurationText(Duration);

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DURATION_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
        parse_duration(v)
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

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DurationText, D::Error> {
        d.deserialize_str(DurationVisitor)
    }
}

/// Serde for `Duration` fields as humantime text, so profiles read `500ms`, not `{secs, nanos}`.
mod duration_text {
    use super::DurationText;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(DurationText::deserialize(d)?.0)
    }
}

/// Serde for `Option<Duration>` fields as humantime text (`~` is none).
mod opt_duration_text {
    use super::DurationText;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<DurationText>::deserialize(d)?.map(|t| t.0))
    }
}

/// A share between 0 and 1, rejected where it is written rather than misbehaving later.
fn ratio<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(de::Error::invalid_value(
            Unexpected::Float(v),
            &"a ratio between 0.0 and 1.0",
        ))
    }
}

/// A finite rate that is zero or more.
fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(de::Error::invalid_value(
            Unexpected::Float(v),
            &"a number of MiB per minute, zero or more",
        ))
    }
}

/// An absolute URL path.
fn path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let p = String::deserialize(d)?;
    check_path(&p).map_err(|why| de::Error::invalid_value(Unexpected::Str(&p), &why))?;
    Ok(p)
}

/// A list of absolute URL paths.
fn path_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let paths = Vec::<String>::deserialize(d)?;
    for p in &paths {
        check_path(p).map_err(|why| de::Error::invalid_value(Unexpected::Str(p), &why))?;
    }
    Ok(paths)
}

fn check_path(p: &str) -> Result<(), &'static str> {
    if p.starts_with('/') && !p.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err("an absolute path such as /api")
    }
}

/// A profile that cannot be used, with enough context to find the mistake.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// The profile file is not valid; `line` and `column` are 1-based, 0 when unknown.
    #[error("{origin}{}: {message}", location_suffix(.line, .column))]
    Yaml {
        origin: String,
        line: u64,
        column: u64,
        message: String,
    },
    /// An override in the container's environment has a value the simulator cannot use.
    #[error("environment variable {name}={value:?}: expected {expected}")]
    Env {
        name: String,
        value: String,
        expected: String,
    },
    /// A `SIM_` variable the simulator does not know, most likely a typo.
    #[error("unknown environment variable {name}; known: {}", ENV_NAMES.join(", "))]
    UnknownEnv { name: String },
}

fn location_suffix(line: &u64, column: &u64) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!(":{line}:{column}")
    }
}

/// How an image pattern matches (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// The normalised image.
    Exact(String),
    /// Matched against the normalised image.
    Glob(String),
    /// A tag, tag suffix or image name.
    Word(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(format!(
                "image pattern {text:?}: expected an image, a glob or a word, without spaces"
            ));
        }
        Ok(if text.contains('*') {
            Pattern::Glob(text.to_string())
        } else if text.contains([':', '/', '@']) {
            Pattern::Exact(ImageRef::parse(text).normalized())
        } else {
            Pattern::Word(text.to_string())
        })
    }

    /// 0 for exact, 1 for glob, 2 for word: the order in which kinds are tried.
    fn rank(&self) -> u8 {
        match self {
            Pattern::Exact(_) => 0,
            Pattern::Glob(_) => 1,
            Pattern::Word(_) => 2,
        }
    }

    fn matches(&self, image: &ImageRef<'_>, normalized: &str) -> bool {
        match self {
            Pattern::Exact(p) => p == normalized,
            Pattern::Glob(p) => glob(p, normalized),
            Pattern::Word(w) => {
                let tag = image.tag.unwrap_or("latest");
                tag == w
                    || tag
                        .strip_suffix(w.as_str())
                        .is_some_and(|t| t.ends_with('-'))
                    || image.name() == w
            }
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is currently stretched to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// An image reference split into its parts: `repository[:tag][@digest]`.
struct ImageRef<'a> {
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    fn parse(image: &'a str) -> ImageRef<'a> {
        let (name_tag, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (image, None),
        };
        // A ':' before the last '/' belongs to a registry port, not to a tag.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        match name_tag[last_slash..].rfind(':') {
            Some(i) => ImageRef {
                repository: &name_tag[..last_slash + i],
                tag: Some(&name_tag[last_slash + i + 1..]),
                digest,
            },
            None => ImageRef {
                repository: name_tag,
                tag: None,
                digest,
            },
        }
    }

    /// The last path segment of the repository: `bad` in `registry:5000/demo/bad:v1`.
    fn name(&self) -> &'a str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(self.repository)
    }

    /// `repository:tag`, with `latest` for a missing tag unless a digest pins the image.
    fn normalized(&self) -> String {
        let mut out = self.repository.to_string();
        match (self.tag, self.digest) {
            (Some(tag), _) => {
                out.push(':');
                out.push_str(tag);
            }
            (None, None) => out.push_str(":latest"),
            (None, Some(_)) => {}
        }
        if let Some(digest) = self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }
}

/// The version a pod reports (in `X-Version`, the body and `/metrics`): the image tag, `latest`
/// when the image has none; a digest-only image gives the first 12 hex digits of its digest
/// (`web@sha256:4f2a…` → `4f2a…`, like `docker images` shows), and a tag wins over a digest
/// because it is what people wrote.
pub fn version_of(image: &str) -> String {
    let r = ImageRef::parse(image);
    match (r.tag, r.digest) {
        (Some(tag), _) if !tag.is_empty() => tag.to_string(),
        (_, Some(digest)) => {
            let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
            hex.chars().take(12).collect()
        }
        _ => "latest".to_string(),
    }
}

/// One pattern with its behaviour.
#[derive(Debug, Clone, PartialEq)]
struct Profile {
    /// As written, for listings and for replacing entries by name.
    name: String,
    pattern: Pattern,
    behaviour: Behaviour,
    description: String,
}

/// Image patterns mapped to behaviours; see the module documentation for the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles {
    /// In priority order within each kind of pattern.
    entries: Vec<Profile>,
    /// For images no entry matches; `None` means [`Behaviour::default`].
    default: Option<Profile>,
}

/// The key of a profile file that sets the fallback behaviour.
const DEFAULT_KEY: &str = "default";

impl Profiles {
    /// The demo images; every other image is healthy.
    pub fn builtin() -> Profiles {
        let ms = Duration::from_millis;
        let demo = |word: &str, description: &str, change: &dyn Fn(&mut Behaviour)| {
            let mut behaviour = Behaviour::default();
            change(&mut behaviour);
            Profile {
                name: word.to_string(),
                pattern: Pattern::Word(word.to_string()),
                behaviour,
                description: description.to_string(),
            }
        };
        let entries = vec![
            demo(
                "bad",
                "half the requests answer 500 (errorRatio 0.5)",
                &|b| b.error_ratio = 0.5,
            ),
            demo("errors", "the same as bad (errorRatio 0.5)", &|b| {
                b.error_ratio = 0.5
            }),
            demo(
                "regression",
                "half the requests to /explore answer 500; / and the health path stay fine (smoke tests of / pass)",
                &|b| {
                    b.error_ratio = 0.5;
                    b.error_paths = vec!["/explore".into()];
                },
            ),
            demo(
                "flaky",
                "5% of the requests answer 500 (errorRatio 0.05)",
                &|b| b.error_ratio = 0.05,
            ),
            demo("slow", "slow answers: latency p50 300ms, p99 900ms", &|b| {
                b.latency = Latency::LogNormal {
                    p50: ms(300),
                    p99: ms(900),
                }
            }),
            demo(
                "crash",
                "exits with code 1 three seconds after start",
                &|b| b.crash_after = Some(Duration::from_secs(3)),
            ),
            demo(
                "never-ready",
                "health path answers 503 forever; / still answers",
                &|b| b.never_ready = true,
            ),
            demo(
                "unpullable",
                "the image cannot be pulled (ErrImagePull, ImagePullBackOff)",
                &|b| b.pull_error = true,
            ),
            demo("slow-start", "takes 20s to start listening", &|b| {
                b.startup = Duration::from_secs(20)
            }),
            demo("leak", "resident memory grows by 50 MiB a minute", &|b| {
                b.memory_growth_mib_per_min = 50.0
            }),
        ];
        Profiles {
            entries,
            default: None,
        }
    }

    /// Parses a profile file (format in the module documentation). `origin` names the file in
    /// errors, which read `origin:line:column: message`.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Profiles, ProfileError> {
        let file: ProfileFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(&e, origin))?;
        let mut profiles = Profiles {
            entries: Vec::new(),
            default: None,
        };
        for (name, behaviour) in file.0 {
            let description = format!("{} ({origin})", behaviour.summary());
            if name == DEFAULT_KEY {
                profiles.default = Some(Profile {
                    name,
                    pattern: Pattern::Word(DEFAULT_KEY.to_string()),
                    behaviour,
                    description,
                });
                continue;
            }
            // Keys were checked while parsing, where the error could carry a location.
            let pattern = Pattern::parse(&name).map_err(|message| ProfileError::Yaml {
                origin: origin.to_string(),
                line: 0,
                column: 0,
                message,
            })?;
            profiles.entries.push(Profile {
                name,
                pattern,
                behaviour,
                description,
            });
        }
        Ok(profiles)
    }

    /// `self` with `user`'s entries in front, so they win over entries of the same kind, and
    /// with entries of the same pattern text replaced; `user`'s `default`, if set, wins too.
    pub fn merged_with(self, user: Profiles) -> Profiles {
        let mut entries = user.entries;
        for entry in self.entries {
            if !entries.iter().any(|u| u.name == entry.name) {
                entries.push(entry);
            }
        }
        Profiles {
            entries,
            default: user.default.or(self.default),
        }
    }

    /// The behaviour of `image`: the first exact match, else the first glob match, else the
    /// first word match, else the default.
    pub fn for_image(&self, image: &str) -> Behaviour {
        let r = ImageRef::parse(image.trim());
        let normalized = r.normalized();
        (0..=2)
            .find_map(|rank| {
                self.entries
                    .iter()
                    .find(|e| e.pattern.rank() == rank && e.pattern.matches(&r, &normalized))
            })
            .or(self.default.as_ref())
            .map(|e| e.behaviour.clone())
            .unwrap_or_default()
    }

    /// Pattern and one-line description of every entry, in priority order, then `default`;
    /// for `rollout sim images`.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for rank in 0..=2 {
            for e in self.entries.iter().filter(|e| e.pattern.rank() == rank) {
                out.push((e.name.clone(), e.description.clone()));
            }
        }
        let default = match &self.default {
            Some(d) => d.description.clone(),
            None => format!("any other image: {}", Behaviour::default().summary()),
        };
        out.push((DEFAULT_KEY.to_string(), default));
        out
    }
}

/// The entries of a profile file in file order (a map would lose the order, and order decides
/// between patterns of the same kind).
struct ProfileFile(Vec<(String, Behaviour)>);

struct ProfileFileVisitor;

impl<'de> Visitor<'de> for ProfileFileVisitor {
    type Value = ProfileFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from image pattern to behaviour")
    }

    /// An empty file (or one with only comments) has no profiles.
    fn visit_unit<E: de::Error>(self) -> Result<ProfileFile, E> {
        Ok(ProfileFile(Vec::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<ProfileFile, E> {
        Ok(ProfileFile(Vec::new()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProfileFile, A::Error> {
        let mut entries: Vec<(String, Behaviour)> = Vec::new();
        while let Some(PatternKey(key)) = map.next_key::<PatternKey>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!(
                    "image pattern {key:?} is listed twice"
                )));
            }
            // `~` (or an empty value) is a healthy app.
            let behaviour = map.next_value::<Option<Behaviour>>()?.unwrap_or_default();
            entries.push((key, behaviour));
        }
        Ok(ProfileFile(entries))
    }
}

/// A key of a profile file, checked while it is read so that a bad pattern is reported with
/// its location.
struct PatternKey(String);

impl<'de> Deserialize<'de> for PatternKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PatternKey, D::Error> {
        let key = String::deserialize(d)?.trim().to_string();
        if key != DEFAULT_KEY {
            Pattern::parse(&key).map_err(de::Error::custom)?;
        }
        Ok(PatternKey(key))
    }
}

impl<'de> Deserialize<'de> for ProfileFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ProfileFile, D::Error> {
        d.deserialize_map(ProfileFileVisitor)
    }
}

/// Turns a YAML error into `origin:line:column: message`, dropping the parser's own location
/// suffix and its source snippet (the caller prints one line).
fn yaml_error(e: &serde_saphyr::Error, origin: &str) -> ProfileError {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut message = e.without_snippet().to_string();
    let suffix = format!(" at line {line}, column {column}");
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_string();
    }
    // The parser suggests an API option to the programmer; the user needs the fact.
    if let Some((fact, _hint)) = message.split_once(", set DuplicateKeyPolicy") {
        message = fact.to_string();
    }
    // A plain `*` starts a YAML alias, so an unquoted glob key reads as an unknown alias.
    if message.contains("alias") {
        message.push_str(" (quote image patterns that start with `*`)");
    }
    ProfileError::Yaml {
        origin: origin.to_string(),
        line,
        column,
        message,
    }
}

/// The environment variables [`apply_env`] understands.
pub const ENV_NAMES: &[&str] = &[
    "SIM_ERROR_RATIO",
    "SIM_LATENCY",
    "SIM_STARTUP",
    "SIM_CRASH_AFTER",
    "SIM_NEVER_READY",
    "SIM_BODY",
    "SIM_PATHS",
    "SIM_HEALTH_PATH",
    "SIM_MEMORY_GROWTH",
];

/// Profiles that can be replaced while pods run (an experiment's `changeProfile`): the node
/// agent reads them when a container starts, and running apps re-read their behaviour when
/// they change, so latency, error ratio, paths and readiness change at once; how an app
/// starts, crashes and what its body says are fixed when it starts.
#[derive(Debug)]
pub struct LiveProfiles {
    current: arc_swap::ArcSwap<Profiles>,
    /// Bumped on every replacement, so that apps notice with one atomic read.
    generation: std::sync::atomic::AtomicU64,
}

impl LiveProfiles {
    pub fn new(profiles: Profiles) -> Self {
        LiveProfiles {
            current: arc_swap::ArcSwap::from_pointee(profiles),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn current(&self) -> std::sync::Arc<Profiles> {
        self.current.load_full()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Puts `extra` on top of the current profiles.
    pub fn change(&self, extra: Profiles) {
        let merged = (*self.current()).clone().merged_with(extra);
        self.current.store(std::sync::Arc::new(merged));
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// A container's behaviour: its image's profile with its `SIM_*` environment applied
    /// (the environment's error, if any, beside it).
    pub fn resolve(
        &self,
        image: &str,
        env: &[(String, String)],
    ) -> (Behaviour, Option<ProfileError>) {
        let mut behaviour = self.current().for_image(image);
        let error = apply_env(&mut behaviour, env).err();
        (behaviour, error)
    }
}

/// Applies per-pod overrides from the container's environment, in order (a later duplicate
/// wins, as in Kubernetes), all or nothing: on an error `b` is left as it was. Variables not
/// starting with `SIM_` are ignored; an unknown `SIM_` name is an error, because a silently
/// ignored typo would make an experiment lie.
///
/// - `SIM_ERROR_RATIO` — `0.25` or `25%`
/// - `SIM_LATENCY` — `50ms` (fixed) or `5ms..40ms` (uniform)
/// - `SIM_STARTUP` — a duration such as `10s`
/// - `SIM_CRASH_AFTER` — a duration; empty or `never` for no crash
/// - `SIM_NEVER_READY` — `true`/`false` (also `1`/`0`, `yes`/`no`)
/// - `SIM_BODY` — the body template (placeholders as in [`Behaviour::body`])
/// - `SIM_PATHS` — comma-separated path prefixes, e.g. `/api,/static`
/// - `SIM_HEALTH_PATH` — e.g. `/ready`, to match the pod's probe path
/// - `SIM_MEMORY_GROWTH` — MiB per minute
pub fn apply_env(target: &mut Behaviour, env: &[(String, String)]) -> Result<(), ProfileError> {
    let mut changed = target.clone();
    let b = &mut changed;
    for (name, value) in env {
        if !name.starts_with("SIM_") {
            continue;
        }
        let bad = |expected: &str| ProfileError::Env {
            name: name.clone(),
            value: value.clone(),
            expected: expected.to_string(),
        };
        let v = value.trim();
        match name.as_str() {
            "SIM_ERROR_RATIO" => {
                let expected = "a ratio between 0 and 1, such as 0.25 or 25%";
                let ratio = match v.strip_suffix('%') {
                    Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
                    None => v.parse::<f64>(),
                }
                .map_err(|_| bad(expected))?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(bad(expected));
                }
                b.error_ratio = ratio;
            }
            "SIM_LATENCY" => {
                b.latency = Latency::parse(v)
                    .map_err(|why| bad(&format!("a latency such as 50ms or 5ms..40ms ({why})")))?;
            }
            "SIM_STARTUP" => {
                b.startup = parse_duration(v).map_err(|_| bad(DURATION_EXPECTED))?;
            }
            "SIM_CRASH_AFTER" => {
                b.crash_after = if v.is_empty() || v.eq_ignore_ascii_case("never") {
                    None
                } else {
                    Some(parse_duration(v).map_err(|_| bad("a duration such as 30s, or never"))?)
                };
            }
            "SIM_NEVER_READY" => {
                b.never_ready = match v.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" | "" => false,
                    _ => return Err(bad("true or false")),
                };
            }
            "SIM_BODY" => b.body = Some(value.clone()),
            "SIM_PATHS" => {
                let paths: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
                if paths.iter().any(|p| check_path(p).is_err()) {
                    return Err(bad("comma-separated absolute paths such as /api,/static"));
                }
                b.paths = paths;
            }
            "SIM_HEALTH_PATH" => {
                check_path(v).map_err(bad)?;
                b.health_path = v.to_string();
            }
            "SIM_MEMORY_GROWTH" => {
                let expected = "a number of MiB per minute, zero or more";
                let rate = v.parse::<f64>().map_err(|_| bad(expected))?;
                if !(rate.is_finite() && rate >= 0.0) {
                    return Err(bad(expected));
                }
                b.memory_growth_mib_per_min = rate;
            }
            _ => return Err(ProfileError::UnknownEnv { name: name.clone() }),
        }
    }
    *target = changed;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn healthy_by_default() {
        let p = Profiles::builtin();
        assert_eq!(p.for_image("web:v2"), Behaviour::default());
        assert_eq!(p.for_image("nginx"), Behaviour::default());
        assert_eq!(p.for_image("web:badger"), Behaviour::default());
        assert_eq!(p.for_image("web:v2-notbad"), Behaviour::default());
    }

    #[test]
    fn demo_words_match_tag_suffix_and_name() {
        let p = Profiles::builtin();
        assert_eq!(p.for_image("web:bad").error_ratio, 0.5);
        assert_eq!(p.for_image("web:v2-bad").error_ratio, 0.5);
        assert_eq!(p.for_image("bad").error_ratio, 0.5);
        assert_eq!(p.for_image("registry:5000/demo/bad:3").error_ratio, 0.5);
        assert_eq!(p.for_image("web:errors").error_ratio, 0.5);
        assert_eq!(p.for_image("web:v3-flaky").error_ratio, 0.05);
        assert_eq!(
            p.for_image("web:slow").latency,
            Latency::LogNormal {
                p50: Duration::from_millis(300),
                p99: Duration::from_millis(900)
            }
        );
        assert_eq!(
            p.for_image("web:crash").crash_after,
            Some(Duration::from_secs(3))
        );
        assert!(p.for_image("web:v2-never-ready").never_ready);
        assert!(p.for_image("web:unpullable").pull_error);
        let slow_start = p.for_image("web:v2-slow-start");
        assert_eq!(slow_start.startup, Duration::from_secs(20));
        assert_eq!(slow_start.latency, Behaviour::default().latency);
        assert!(p.for_image("web:leak").memory_growth_mib_per_min > 0.0);
    }

    #[test]
    fn version_of_tags_and_digests() {
        assert_eq!(version_of("web:v2"), "v2");
        assert_eq!(version_of("web"), "latest");
        assert_eq!(version_of("registry:5000/team/web"), "latest");
        assert_eq!(version_of("registry:5000/team/web:1.2.3"), "1.2.3");
        let digest = "sha256:4f2a9c0e1b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e";
        assert_eq!(version_of(&format!("web@{digest}")), "4f2a9c0e1b7d");
        assert_eq!(version_of(&format!("web:v3@{digest}")), "v3");
    }

    const FILE: &str = r#"
default:
  latency: 7ms
shop/api:v2:
  errorRatio: 0.2
"shop/*:canary-*":
  latency: 5ms..40ms
  crashAfter: 2m
beta:
  neverReady: true
  healthPath: /ready
  paths: [/api, /static]
  body: "{pod} ({version})\n"
flaky: ~
"*:v9":
  startup: 0
"#;

    #[test]
    fn yaml_profiles_resolve_in_documented_order() {
        let user = Profiles::from_yaml(FILE, "profiles.yaml").expect("valid file");
        let p = Profiles::builtin().merged_with(user);
        // exact
        assert_eq!(p.for_image("shop/api:v2").error_ratio, 0.2);
        // exact wins over a word: `shop/api:v2-bad` is not exact, so bad applies
        assert_eq!(p.for_image("shop/api:v2-bad").error_ratio, 0.5);
        // glob over repository:tag, and globs win over words
        let canary = p.for_image("shop/cart:canary-bad");
        assert_eq!(canary.crash_after, Some(Duration::from_secs(120)));
        assert_eq!(canary.error_ratio, 0.0);
        assert_eq!(
            canary.latency,
            Latency::Uniform {
                min: Duration::from_millis(5),
                max: Duration::from_millis(40)
            }
        );
        assert_eq!(p.for_image("other:v9").startup, Duration::ZERO);
        // word
        let beta = p.for_image("web:v2-beta");
        assert!(beta.never_ready);
        assert_eq!(beta.health_path, "/ready");
        assert_eq!(beta.paths, vec!["/api", "/static"]);
        assert_eq!(beta.body_template(), "{pod} ({version})\n");
        // a user entry replaces the demo word of the same name
        assert_eq!(p.for_image("web:flaky").error_ratio, 0.0);
        // default from the file
        assert_eq!(
            p.for_image("web:v1").latency,
            Latency::Fixed(Duration::from_millis(7))
        );
        let names: Vec<String> = p.describe().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.first().map(String::as_str), Some("shop/api:v2"));
        assert_eq!(names.last().map(String::as_str), Some("default"));
        assert!(names.iter().any(|n| n == "leak"));
        assert_eq!(names.iter().filter(|n| *n == "flaky").count(), 1);
    }

    #[test]
    fn exact_patterns_normalise_latest() {
        let p = Profiles::from_yaml("web:latest:\n  errorRatio: 1\n", "f").expect("valid");
        assert_eq!(p.for_image("web").error_ratio, 1.0);
        assert_eq!(p.for_image("web:latest").error_ratio, 1.0);
        assert_eq!(p.for_image("web:v1").error_ratio, 0.0);
    }

    #[test]
    fn empty_file_has_no_profiles() {
        let p = Profiles::from_yaml("# nothing yet\n", "f").expect("valid");
        assert_eq!(p.for_image("web:bad"), Behaviour::default());
        assert_eq!(p.describe().len(), 1);
    }

    fn yaml_err(text: &str) -> ProfileError {
        match Profiles::from_yaml(text, "p.yaml") {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn yaml_errors_name_file_line_and_column() {
        let e = yaml_err("web:v2:\n  errorRatio: 0.5\n  eror: 1\n");
        let text = e.to_string();
        assert!(text.starts_with("p.yaml:3:3: "), "{text}");
        assert!(text.contains("unknown field `eror`"), "{text}");
        assert!(!text.contains("at line"), "{text}");

        let text = yaml_err("web:v2:\n  errorRatio: 1.5\n").to_string();
        assert!(text.starts_with("p.yaml:2:"), "{text}");
        assert!(text.contains("between 0.0 and 1.0"), "{text}");

        let text = yaml_err("web:v2:\n  startup: soon\n").to_string();
        assert!(text.starts_with("p.yaml:2:"), "{text}");
        assert!(text.contains("a duration such as 500ms"), "{text}");

        let text = yaml_err("web:v2:\n  latency: {p50: 50ms}\n").to_string();
        assert!(text.starts_with("p.yaml:2:"), "{text}");
        assert!(text.contains("both `p50` and `p99`"), "{text}");

        let text = yaml_err("web:v2:\n  latency: {p50: 50ms, p99: 10ms}\n").to_string();
        assert!(text.contains("must not be below p50"), "{text}");

        let text = yaml_err("a:\n  paths: [api]\n").to_string();
        assert!(text.contains("an absolute path"), "{text}");

        let text = yaml_err("a: {}\na: {}\n").to_string();
        assert!(text.starts_with("p.yaml:2:1: "), "{text}");
        assert!(!text.contains("DuplicateKeyPolicy"), "{text}");

        let text = yaml_err("- image: web\n").to_string();
        assert!(text.starts_with("p.yaml:1:1: "), "{text}");

        let text = yaml_err("a: [1\n").to_string();
        assert!(text.starts_with("p.yaml:1:"), "{text}");
    }

    #[test]
    fn behaviour_round_trips_through_yaml() {
        let mut b = Profiles::builtin().for_image("web:slow");
        b.crash_after = Some(Duration::from_millis(1500));
        b.body = Some("hi {pod}\n".to_string());
        let text = serde_saphyr::to_string(&b).expect("serializes");
        let back: Behaviour = serde_saphyr::from_str(&text).expect("parses back");
        assert_eq!(back, b, "{text}");
    }

    #[test]
    fn env_overrides() {
        let mut b = Behaviour::default();
        apply_env(
            &mut b,
            &env(&[
                ("PATH", "/bin"),
                ("SIM_ERROR_RATIO", "25%"),
                ("SIM_LATENCY", "5ms..40ms"),
                ("SIM_STARTUP", "0"),
                ("SIM_CRASH_AFTER", "1m"),
                ("SIM_NEVER_READY", "yes"),
                ("SIM_BODY", "{version}"),
                ("SIM_PATHS", "/api, /v2"),
                ("SIM_HEALTH_PATH", "/ready"),
                ("SIM_MEMORY_GROWTH", "12.5"),
            ]),
        )
        .expect("valid overrides");
        assert_eq!(b.error_ratio, 0.25);
        assert_eq!(
            b.latency,
            Latency::Uniform {
                min: Duration::from_millis(5),
                max: Duration::from_millis(40)
            }
        );
        assert_eq!(b.startup, Duration::ZERO);
        assert_eq!(b.crash_after, Some(Duration::from_secs(60)));
        assert!(b.never_ready);
        assert_eq!(b.body.as_deref(), Some("{version}"));
        assert_eq!(b.paths, vec!["/api", "/v2"]);
        assert_eq!(b.health_path, "/ready");
        assert_eq!(b.memory_growth_mib_per_min, 12.5);

        apply_env(
            &mut b,
            &env(&[
                ("SIM_LATENCY", "50ms"),
                ("SIM_CRASH_AFTER", "never"),
                ("SIM_ERROR_RATIO", "0.1"),
            ]),
        )
        .expect("valid overrides");
        assert_eq!(b.latency, Latency::Fixed(Duration::from_millis(50)));
        assert_eq!(b.crash_after, None);
        assert_eq!(b.error_ratio, 0.1);
    }

    #[test]
    fn env_errors_say_what_was_expected() {
        let mut b = Behaviour::default();
        for (name, value, expected) in [
            ("SIM_ERROR_RATIO", "2", "ratio"),
            ("SIM_ERROR_RATIO", "lots", "ratio"),
            ("SIM_LATENCY", "40ms..5ms", "must not be below"),
            ("SIM_STARTUP", "10", "duration"),
            ("SIM_NEVER_READY", "maybe", "true or false"),
            ("SIM_HEALTH_PATH", "ready", "absolute path"),
        ] {
            let e = apply_env(&mut b, &env(&[(name, value)])).expect_err(name);
            let text = e.to_string();
            assert!(text.contains(name) && text.contains(expected), "{text}");
        }
        let e = apply_env(&mut b, &env(&[("SIM_ERROR_RATE", "0.5")])).expect_err("typo");
        assert!(e.to_string().contains("SIM_ERROR_RATIO"), "{e}");
        assert_eq!(b, Behaviour::default(), "failed overrides change nothing");
    }

    #[test]
    fn latency_samples_fit_their_percentiles() {
        let mut rng = rand::rng();
        let l = Latency::LogNormal {
            p50: Duration::from_millis(10),
            p99: Duration::from_millis(100),
        };
        let mut draws: Vec<Duration> = (0..20_000).map(|_| l.sample(&mut rng)).collect();
        draws.sort();
        let p50 = draws[10_000].as_secs_f64();
        let p99 = draws[19_800].as_secs_f64();
        assert!((0.009..0.011).contains(&p50), "p50 {p50}");
        assert!((0.085..0.115).contains(&p99), "p99 {p99}");
        let u = Latency::Uniform {
            min: Duration::from_millis(5),
            max: Duration::from_millis(6),
        };
        for _ in 0..100 {
            let d = u.sample(&mut rng);
            assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(6));
        }
        let zero = Latency::LogNormal {
            p50: Duration::ZERO,
            p99: Duration::ZERO,
        };
        assert_eq!(zero.sample(&mut rng), Duration::ZERO);
    }

    #[test]
    fn glob_wildcards() {
        assert!(glob("web:*", "web:v2"));
        assert!(glob("*:canary-*", "shop/web:canary-3"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(!glob("web:*", "webx:v2"));
    }
}
