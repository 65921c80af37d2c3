//! What traffic to send: the [`TrafficSpec`], its user groups, and the validation that turns it
//! into ready-to-send request parts once, so the hot path never parses or fails on input.

use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Longest a generator runs. It applies even when no duration is given, so a forgotten
/// generator stops by itself instead of loading the machine for ever.
pub const MAX_DURATION: Duration = Duration::from_secs(60 * 60);

/// Highest accepted rate: well above what one loopback ingress answers, low enough that a
/// typo (an extra zero or three) is refused rather than turned into a flood.
pub const MAX_RATE_PER_SECOND: f64 = 20_000.0;

/// Highest accepted `max_in_flight`: more concurrent sockets than that only exhausts file
/// descriptors and ephemeral ports.
pub const MAX_IN_FLIGHT: usize = 10_000;

/// How many individual outcomes are kept by default (about 100 MB at most); later ones are
/// only aggregated.
pub const DEFAULT_KEEP_OUTCOMES: usize = 1_000_000;

/// Headers a group may not set: they decide routing or framing (use `host` of the spec, or a
/// `cookie` group), and setting them per group would make the request say something else than
/// the experiment intends.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "cookie",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// Why a generator could not start, or a group flag could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// Synthetic traffic may only go to this machine: anything else would be load sent to
    /// someone else's server.
    #[error(
        "traffic may only go to a loopback address (127.0.0.0/8 or [::1]), not {0}; point it at the embedded cluster's ingress"
    )]
    NotLoopback(SocketAddr),
    /// A field of the spec is out of range or malformed.
    #[error("invalid traffic spec: {0}")]
    InvalidSpec(String),
    /// A user group (from the spec or a CLI flag) is malformed.
    #[error(
        "invalid user group {input:?}: {reason} (expected SHARE:header:NAME=VALUE or SHARE:cookie:NAME=VALUE, e.g. 10%:header:X-Canary=always)"
    )]
    InvalidGroup {
        /// The group as written.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The generator spawns tasks, so it needs a Tokio runtime to spawn them on.
    #[error("the traffic generator must be started from within a Tokio runtime")]
    NoRuntime,
}

/// A share of the users that carry a marker (header and/or cookie) on every request, as an
/// A/B or canary-by-header experiment needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserGroup {
    /// Fraction of requests sent by this group, in (0, 1].
    pub share: f64,
    /// Header (name, value) its requests carry.
    pub header: Option<(String, String)>,
    /// Cookie (name, value) its requests carry.
    pub cookie: Option<(String, String)>,
}

impl UserGroup {
    /// A group whose requests carry the header `name: value`.
    pub fn with_header(share: f64, name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            share,
            header: Some((name.into(), value.into())),
            cookie: None,
        }
    }

    /// A group whose requests carry the cookie `name=value`.
    pub fn with_cookie(share: f64, name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            share,
            header: None,
            cookie: Some((name.into(), value.into())),
        }
    }
}

/// The CLI form (`10%:header:X-Canary=always`), so reports and messages name a group the way
/// the user wrote it.
impl fmt::Display for UserGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = (self.share * 100.0 * 1000.0).round() / 1000.0;
        write!(f, "{percent}%")?;
        let mut separator = ":";
        if let Some((name, value)) = &self.header {
            write!(f, "{separator}header:{name}={value}")?;
            separator = ",";
        }
        if let Some((name, value)) = &self.cookie {
            write!(f, "{separator}cookie:{name}={value}")?;
        }
        Ok(())
    }
}

/// Reads a user group as given on the command line: `SHARE:header:NAME=VALUE` or
/// `SHARE:cookie:NAME=VALUE`, the share as a percentage (`10%`, `12.5%`) or a fraction (`0.1`).
pub fn parse_group(s: &str) -> Result<UserGroup, TrafficError> {
    let invalid = |reason: String| TrafficError::InvalidGroup {
        input: s.to_owned(),
        reason,
    };
    let mut parts = s.trim().splitn(3, ':');
    let share = parts.next().unwrap_or_default();
    let (Some(kind), Some(pair)) = (parts.next(), parts.next()) else {
        return Err(invalid("missing ':header:' or ':cookie:' part".into()));
    };
    let share = parse_share(share).map_err(invalid)?;
    let Some((name, value)) = pair.split_once('=') else {
        return Err(invalid(format!("expected NAME=VALUE, got {pair:?}")));
    };
    let (name, value) = (name.trim(), value.trim());
    let group = match kind.trim().to_ascii_lowercase().as_str() {
        "header" => UserGroup::with_header(share, name, value),
        "cookie" => UserGroup::with_cookie(share, name, value),
        other => {
            return Err(invalid(format!(
                "unknown kind {other:?}: use 'header' or 'cookie'"
            )));
        }
    };
    prepare_group(&group).map_err(invalid)?;
    Ok(group)
}

fn parse_share(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (number, scale) = match s.strip_suffix('%') {
        Some(percent) => (percent.trim(), 100.0),
        None => (s, 1.0),
    };
    let share = number
        .parse::<f64>()
        .map_err(|_| format!("share {s:?} is not a number"))?
        / scale;
    check_share(share)?;
    Ok(share)
}

fn check_share(share: f64) -> Result<(), String> {
    if share.is_finite() && share > 0.0 && share <= 1.0 {
        Ok(())
    } else {
        Err(format!(
            "share must be above 0 and at most 1 (or 100%), got {share}"
        ))
    }
}

/// The traffic to send. [`TrafficSpec::new`] fills in defaults for everything but where to.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    /// The ingress address. Must be loopback: see [`TrafficError::NotLoopback`].
    pub target: SocketAddr,
    /// `Host` header, i.e. the Ingress rule host. Empty sends the target address instead.
    pub host: String,
    /// Path and optional query, starting with `/`.
    pub path: String,
    /// Requests per second, sent on a fixed schedule whether or not earlier requests have
    /// been answered (open loop), so a slow backend shows up as latency and drops, never as a
    /// silently lower rate.
    pub rate_per_second: f64,
    /// Most requests awaiting an answer at once. A request due while that many are waiting is
    /// not sent and counts as dropped, so the generator's own limit is never mistaken for the
    /// app's failure.
    pub max_in_flight: usize,
    /// Per request, including reading the body. A timeout counts as a failed request.
    pub timeout: Duration,
    /// Users that carry a header or cookie; shares add up to at most 1, the rest carry none.
    pub groups: Vec<UserGroup>,
    /// Stop after this long (at most [`MAX_DURATION`]); `None` runs until stopped or
    /// [`MAX_DURATION`].
    pub duration: Option<Duration>,
    /// Stop after this many requests (dropped ones included: they were due).
    pub max_requests: Option<u64>,
    /// How many individual [`crate::Outcome`]s to keep; later ones are only aggregated.
    pub keep_outcomes: usize,
    /// Send HTTPS (to a target that terminates TLS), naming `host` (SNI) and trusting only
    /// this CA (PEM); `None`: plain HTTP.
    pub tls_ca: Option<String>,
    /// Accept a target that is not loopback. Only for load its owner asked for against their
    /// own app (a strategy's `load:` through the app's ingress); experiments and `rollout sim
    /// traffic` keep to this machine.
    pub allow_remote: bool,
}

impl TrafficSpec {
    /// 50 requests/s of `GET /` to `target` with `Host: host`, at most 256 in flight, 2 s
    /// timeout, no groups, until stopped.
    pub fn new(target: SocketAddr, host: impl Into<String>) -> Self {
        Self {
            target,
            host: host.into(),
            path: "/".into(),
            rate_per_second: 50.0,
            max_in_flight: 256,
            timeout: Duration::from_secs(2),
            groups: Vec::new(),
            duration: None,
            max_requests: None,
            keep_outcomes: DEFAULT_KEEP_OUTCOMES,
            tls_ca: None,
            allow_remote: false,
        }
    }

    /// Checks the spec without sending anything (what [`crate::Traffic::start`] checks first).
    pub fn validate(&self) -> Result<(), TrafficError> {
        self.prepare().map(|_| ())
    }

    pub(crate) fn prepare(&self) -> Result<Prepared, TrafficError> {
        let invalid = |s: String| Err(TrafficError::InvalidSpec(s));
        // Canonical form so an IPv4-mapped IPv6 loopback (::ffff:127.0.0.1) is accepted as the
        // loopback it is, and nothing else slips through.
        if !self.allow_remote && !self.target.ip().to_canonical().is_loopback() {
            return Err(TrafficError::NotLoopback(self.target));
        }
        if self.target.port() == 0 {
            return invalid(format!("target {} has no port", self.target));
        }
        if !self.path.starts_with('/') || self.path.contains('#') {
            return invalid(format!(
                "path {:?} must start with '/' and have no fragment",
                self.path
            ));
        }
        let scheme = if self.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        let uri: Uri = format!("{scheme}://{}{}", self.target, self.path)
            .parse()
            .map_err(|e| TrafficError::InvalidSpec(format!("path {:?}: {e}", self.path)))?;
        let tls = match &self.tls_ca {
            None => None,
            Some(ca) => Some(client_tls(ca, self.host.trim()).map_err(TrafficError::InvalidSpec)?),
        };
        let host = match self.host.trim() {
            "" => None,
            host if host.contains(|c: char| c.is_whitespace() || c == '/') => {
                return invalid(format!("host {host:?} is not a host name"));
            }
            host => Some(
                HeaderValue::from_str(host)
                    .map_err(|_| TrafficError::InvalidSpec(format!("host {host:?}")))?,
            ),
        };
        let rate = self.rate_per_second;
        if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE_PER_SECOND) {
            return invalid(format!(
                "rate_per_second must be above 0 and at most {MAX_RATE_PER_SECOND}, got {rate}"
            ));
        }
        if self.max_in_flight == 0 || self.max_in_flight > MAX_IN_FLIGHT {
            return invalid(format!(
                "max_in_flight must be 1..={MAX_IN_FLIGHT}, got {}",
                self.max_in_flight
            ));
        }
        if self.timeout.is_zero() || self.timeout > MAX_DURATION {
            return invalid(format!(
                "timeout must be above 0 and at most {}, got {}",
                humantime::format_duration(MAX_DURATION),
                humantime::format_duration(self.timeout)
            ));
        }
        if let Some(duration) = self.duration
            && (duration.is_zero() || duration > MAX_DURATION)
        {
            return invalid(format!(
                "duration must be above 0 and at most {}, got {}",
                humantime::format_duration(MAX_DURATION),
                humantime::format_duration(duration)
            ));
        }
        if self.max_requests == Some(0) {
            return invalid("max_requests must be at least 1".into());
        }
        let mut groups = Vec::with_capacity(self.groups.len());
        let mut cumulative = Vec::with_capacity(self.groups.len());
        let mut sum = 0.0;
        for group in &self.groups {
            let headers = prepare_group(group).map_err(|reason| TrafficError::InvalidGroup {
                input: group.to_string(),
                reason,
            })?;
            sum += group.share;
            cumulative.push(sum);
            groups.push(headers);
        }
        // A little slack so 3 × 33.333…% still adds up.
        if sum > 1.0 + 1e-9 {
            return invalid(format!(
                "group shares add up to {:.4}, more than 1 (100%)",
                sum
            ));
        }
        Ok(Prepared {
            uri,
            tls,
            host,
            groups,
            cumulative,
            timeout: self.timeout,
        })
    }
}

/// A validated spec: request parts built once and cloned per request.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub uri: Uri,
    /// For HTTPS: the client configuration and the name the server is asked for (SNI).
    pub tls: Option<(rustls::ClientConfig, rustls::pki_types::ServerName<'static>)>,
    pub host: Option<HeaderValue>,
    /// Headers each group adds, by group index.
    pub groups: Vec<Vec<(HeaderName, HeaderValue)>>,
    /// Running sum of the group shares: group `i` takes positions in
    /// `[cumulative[i-1], cumulative[i])` of the unit interval.
    pub cumulative: Vec<f64>,
    pub timeout: Duration,
}

/// A TLS client trusting only `ca_pem`, and `host` as the name to ask the server for.
fn client_tls(
    ca_pem: &str,
    host: &str,
) -> Result<(rustls::ClientConfig, rustls::pki_types::ServerName<'static>), String> {
    use rustls::pki_types::pem::PemObject;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| format!("host {host:?} is not a name a TLS server can be asked for"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("the CA is not PEM certificates: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("the CA certificate cannot be trusted: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the CA holds no certificate".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok((config, name))
}

/// The headers a group adds, or why it cannot be sent.
fn prepare_group(group: &UserGroup) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    check_share(group.share)?;
    let mut headers = Vec::new();
    if let Some((name, value)) = &group.header {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        if RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(format!(
                "header {name} cannot be set by a group (use the spec's host, or a cookie group)"
            ));
        }
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("{value:?} is not a header value"))?;
        headers.push((name, value));
    }
    if let Some((name, value)) = &group.cookie {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(format!("{name:?} is not a cookie name"));
        }
        if !value.bytes().all(is_cookie_octet) {
            return Err(format!("{value:?} is not a cookie value"));
        }
        let cookie = HeaderValue::from_str(&format!("{name}={value}"))
            .map_err(|_| format!("cookie {name}={value}"))?;
        headers.push((hyper::header::COOKIE, cookie));
    }
    if headers.is_empty() {
        return Err("a group must carry a header or a cookie".into());
    }
    Ok(headers)
}

/// RFC 7230 `tchar`, which RFC 6265 requires of a cookie name.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 `cookie-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}
