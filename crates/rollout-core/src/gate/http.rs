//! The HTTP check: send a few requests to one version of the app and judge the answers
//! (status, body, JSON fields) and their latency.
//!
//! A request either gets an answer from the app, good or bad, or no answer at all (connection
//! refused, timeout before the headers, TLS failure, the API server unable to reach the
//! Service). Bad answers count against the success rate; when *no* request got an answer the
//! measurement is an error rather than a failure, because then nothing was measured about the
//! app — the way to it is broken (or it is not up yet), which the check's
//! `consecutiveErrorLimit` is there to tolerate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use http_body_util::BodyExt;
use hyper::http;
use regex::Regex;

use futures::future::BoxFuture;

use super::stats::percentile;
use super::{Context, Gate, Measurement, Outcome, format};
use crate::spec::{Condition, HttpCheck, HttpTarget};

/// The HTTP check as a gate: each measurement finds the version's endpoint, then sends the
/// check's requests.
pub struct HttpGate {
    name: String,
    check: HttpCheck,
}

impl HttpGate {
    pub fn new(name: String, check: HttpCheck) -> Self {
        HttpGate { name, check }
    }
}

impl Gate for HttpGate {
    fn measure<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Measurement> {
        Box::pin(async move {
            let endpoint = match &self.check.target {
                HttpTarget::Url(u) => Ok(Endpoint::Url {
                    base: u.clone(),
                    host: None,
                    headers: Vec::new(),
                }),
                HttpTarget::Path { via, .. } => cx.endpoint(self.check.version, *via).await,
            };
            match endpoint {
                Ok(ep) => {
                    measure(&self.name, &self.check, &ep, cx.http(self.check.tls_verify)).await
                }
                Err(e) => Measurement::error(&self.name, crate::error::chain(&e)),
            }
        })
    }
}

/// Where the requests of a [`HttpTarget::Path`] check go.
#[derive(Clone)]
pub enum Endpoint {
    /// A URL reached directly; `host` overrides the Host header (ingress by IP), `headers` are
    /// added (e.g. the canary header).
    Url {
        base: String,
        host: Option<String>,
        headers: Vec<(String, String)>,
    },
    /// The API server's service proxy:
    /// `/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{path}`. Build `client`
    /// with [`proxy_client`], so that the app's 503 answers are not retried.
    ServiceProxy {
        client: kube::Client,
        namespace: String,
        service: String,
        /// Service port name or number; empty for the Service's first port.
        port: String,
    },
    /// An HTTPS address by its host name (`https://shop.example:443`), reached at `address`
    /// (the ingress's), so that the TLS handshake names the host (SNI) and the certificate is
    /// checked against it; `ca` (PEM) is trusted besides the system's roots.
    Tls {
        base: String,
        host: String,
        address: std::net::SocketAddr,
        ca: Option<Vec<u8>>,
        headers: Vec<(String, String)>,
    },
}

/// Requests of one measurement in flight at once: enough that a slow app does not stretch a
/// measurement to `requests × latency`, few enough not to load the app being judged.
const CONCURRENCY: usize = 4;

/// Body bytes kept for `bodyMatch` and `json`; the rest is read (it counts in the latency) but
/// dropped, so a huge answer cannot exhaust memory.
const MAX_BODY: usize = 1 << 20;

/// Failure reasons named in a failing summary; more would make the line unreadable.
const REASONS_SHOWN: usize = 3;

/// An HTTP client for checks. TLS certificates are verified unless `tls_verify` is false (a
/// check's `tlsVerify: false`, for self-signed test endpoints). Redirects are not followed, so
/// that a status condition sees what the endpoint itself answered. Needs the process's TLS
/// provider ([`kube_util::tls::install_crypto_provider`]).
pub fn client(tls_verify: bool) -> reqwest::Result<reqwest::Client> {
    builder(tls_verify).build()
}

fn builder(tls_verify: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(!tls_verify)
        .redirect(reqwest::redirect::Policy::none())
}

/// A client for [`Endpoint::Tls`]: `host` resolves to `address`, `ca` is trusted too.
fn tls_client(
    tls_verify: bool,
    host: &str,
    address: std::net::SocketAddr,
    ca: Option<&[u8]>,
) -> Result<reqwest::Client, NoAnswer> {
    let mut b = builder(tls_verify).resolve(host, address);
    if let Some(pem) = ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| NoAnswer(format!("the ingress's CA certificate: {e}")))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| NoAnswer(format!("cannot make the HTTPS client: {e}")))
}

/// A kube client for [`Endpoint::ServiceProxy`] from the cluster's configuration.
///
/// kube's default client retries 429, 503 and 504 answers with backoff (up to 15 times), which
/// through the service proxy would hide the app's own 503s and stretch them into timeouts (an
/// error instead of a failure); this client takes every answer as it comes.
pub fn proxy_client(mut config: kube::Config) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    kube::Client::try_from(config)
}

/// One measurement of an HTTP check: sends `check.requests` requests and judges them.
pub async fn measure(
    name: &str,
    check: &HttpCheck,
    endpoint: &Endpoint,
    http: &reqwest::Client,
) -> Measurement {
    let body_match = match check.body_match.as_deref().map(Regex::new).transpose() {
        Ok(re) => re,
        Err(e) => return Measurement::error(name, format!("invalid bodyMatch: {e}")),
    };
    let method = match http::Method::from_bytes(check.method.as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            return Measurement::error(name, format!("invalid HTTP method `{}`", check.method));
        }
    };
    let target = match Target::new(check, endpoint) {
        Ok(t) => t,
        Err(NoAnswer(e)) => return Measurement::error(name, e),
    };
    let attempts: Vec<Attempt> = futures::stream::iter(0..check.requests)
        .map(|_| {
            let (target, method, body_match) = (&target, &method, body_match.as_ref());
            async move {
                match target.send(check, method, http).await {
                    Ok(answer) => Attempt::Answered {
                        latency: answer.latency,
                        problem: match &answer.problem {
                            Some(p) => Some(p.clone()),
                            None => judge_answer(check, body_match, &answer),
                        },
                    },
                    Err(NoAnswer(e)) => Attempt::NoAnswer(e),
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    summarize(name, check, &attempts)
}

/// Why a request got no answer at all (refused, timed out, the proxy could not reach it).
struct NoAnswer(String);

/// The result of one request.
#[derive(Debug, Clone, PartialEq)]
enum Attempt {
    /// The app answered; `problem` says why the answer does not count as a success.
    Answered {
        latency: Duration,
        problem: Option<String>,
    },
    /// No answer at all.
    NoAnswer(String),
}

/// What came back from one request.
struct Answer {
    status: u16,
    /// At most [`MAX_BODY`] bytes.
    body: Vec<u8>,
    latency: Duration,
    /// Set when the answer broke off (the body could not be read to the end).
    problem: Option<String>,
}

/// Where one request goes, resolved once per measurement.
enum Target<'a> {
    Reqwest {
        url: String,
        host: Option<&'a str>,
        headers: &'a [(String, String)],
        /// The endpoint's own client, when it needs one (TLS by host name).
        client: Option<reqwest::Client>,
    },
    Kube {
        client: &'a kube::Client,
        path: String,
    },
}

impl<'a> Target<'a> {
    fn new(check: &HttpCheck, endpoint: &'a Endpoint) -> Result<Self, NoAnswer> {
        let path = match &check.target {
            HttpTarget::Url(url) => {
                return Ok(Target::Reqwest {
                    url: url.clone(),
                    host: None,
                    headers: &[],
                    client: None,
                });
            }
            HttpTarget::Path { path, .. } => path,
        };
        Ok(match endpoint {
            Endpoint::Url {
                base,
                host,
                headers,
            } => Target::Reqwest {
                url: format!("{}{path}", base.trim_end_matches('/')),
                host: host.as_deref(),
                headers,
                client: None,
            },
            Endpoint::Tls {
                base,
                host,
                address,
                ca,
                headers,
            } => Target::Reqwest {
                url: format!("{}{path}", base.trim_end_matches('/')),
                host: None,
                headers,
                client: Some(tls_client(check.tls_verify, host, *address, ca.as_deref())?),
            },
            Endpoint::ServiceProxy {
                client,
                namespace,
                service,
                port,
            } => {
                if namespace.is_empty() || service.is_empty() {
                    return Err(NoAnswer(
                        "service proxy endpoint without namespace or service".into(),
                    ));
                }
                let port = if port.is_empty() {
                    String::new()
                } else {
                    format!(":{port}")
                };
                Target::Kube {
                    client,
                    path: format!(
                        "/api/v1/namespaces/{namespace}/services/{service}{port}/proxy{path}"
                    ),
                }
            }
        })
    }

    /// Sends one request; `Err` when nothing answered.
    async fn send(
        &self,
        check: &HttpCheck,
        method: &http::Method,
        http: &reqwest::Client,
    ) -> Result<Answer, NoAnswer> {
        match self {
            Target::Reqwest {
                url,
                host,
                headers,
                client,
            } => {
                let http = client.as_ref().unwrap_or(http);
                send_reqwest(http, url, *host, headers, check, method).await
            }
            Target::Kube { client, path } => send_kube(client, path, check, method).await,
        }
    }
}

async fn send_reqwest(
    http: &reqwest::Client,
    url: &str,
    host: Option<&str>,
    extra_headers: &[(String, String)],
    check: &HttpCheck,
    method: &http::Method,
) -> Result<Answer, NoAnswer> {
    let mut req = http
        .request(method.clone(), url)
        .timeout(check.timeout.std());
    if let Some(host) = host {
        req = req.header(http::header::HOST, host);
    }
    for (k, v) in check.headers.iter().chain(extra_headers) {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(body) = &check.body {
        req = req.body(body.clone());
    }
    let start = Instant::now();
    let mut resp = req
        .send()
        .await
        .map_err(|e| NoAnswer(describe_reqwest(&e, check)))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut problem = None;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => keep(&mut body, &chunk),
            Ok(None) => break,
            Err(e) => {
                problem = Some(if e.is_timeout() {
                    format!("body not read within {}", check.timeout)
                } else {
                    format!("reading the body: {}", crate::error::chain(&e))
                });
                break;
            }
        }
    }
    Ok(Answer {
        status,
        body,
        latency: start.elapsed(),
        problem,
    })
}

async fn send_kube(
    client: &kube::Client,
    path: &str,
    check: &HttpCheck,
    method: &http::Method,
) -> Result<Answer, NoAnswer> {
    let mut builder = http::Request::builder().method(method.clone()).uri(path);
    for (k, v) in &check.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = check.body.clone().unwrap_or_default().into_bytes();
    let req = builder
        .body(kube::client::Body::from(body))
        .map_err(|e| NoAnswer(format!("cannot build the request: {e}")))?;
    let timeout = check.timeout.std();
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let resp = match tokio::time::timeout_at(deadline, client.send(req)).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => return Err(NoAnswer(crate::error::chain(&e))),
        Err(_) => return Err(NoAnswer(format!("no answer within {}", check.timeout))),
    };
    let status = resp.status().as_u16();
    let mut stream = resp.into_body();
    let mut body = Vec::new();
    let mut problem = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    keep(&mut body, data);
                }
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                problem = Some(format!("reading the body: {}", crate::error::chain(&e)));
                break;
            }
            Err(_) => {
                problem = Some(format!("body not read within {}", check.timeout));
                break;
            }
        }
    }
    if let Some(message) = api_server_refusal(status, &body) {
        return Err(NoAnswer(message));
    }
    Ok(Answer {
        status,
        body,
        latency: start.elapsed(),
        problem,
    })
}

/// Why the API server itself answered instead of the app, if it did: it sends a Status object
/// of its own when it cannot reach the Service (502/503: no ready endpoints, connection
/// refused) or refuses the identity (401/403).
fn api_server_refusal(status: u16, body: &[u8]) -> Option<String> {
    if !matches!(status, 401 | 403 | 502 | 503) {
        return None;
    }
    let message = api_server_status(body)?;
    Some(if status == 403 {
        format!(
            "forbidden by the API server: {message}; the orchestrator needs the Role in manifests/rbac.yaml"
        )
    } else {
        message
    })
}

/// The message of a Kubernetes `Status` object, if `body` is one.
fn api_server_status(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v.get("kind").and_then(|k| k.as_str()) != Some("Status") {
        return None;
    }
    Some(
        v.get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("the API server could not reach the service")
            .to_owned(),
    )
}

fn keep(body: &mut Vec<u8>, chunk: &[u8]) {
    let room = MAX_BODY.saturating_sub(body.len());
    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
}

fn describe_reqwest(e: &reqwest::Error, check: &HttpCheck) -> String {
    if e.is_timeout() {
        format!("no answer within {}", check.timeout)
    } else {
        crate::error::chain(e)
    }
}

/// Why an answer is not a success, or `None` when it is.
fn judge_answer(check: &HttpCheck, body_match: Option<&Regex>, answer: &Answer) -> Option<String> {
    if !check.status.holds_f64(f64::from(answer.status)) {
        return Some(format!("status {}", answer.status));
    }
    if let Some(re) = body_match
        && !re.is_match(&String::from_utf8_lossy(&answer.body))
    {
        return Some(format!("body does not match /{re}/"));
    }
    if check.json.is_empty() {
        return None;
    }
    let doc: serde_json::Value = match serde_json::from_slice(&answer.body) {
        Ok(doc) => doc,
        Err(_) => return Some("body is not JSON".to_owned()),
    };
    for (path, condition) in &check.json {
        match path.select(&doc) {
            None => return Some(format!("{path} missing")),
            Some(value) if !condition.holds_json(value) => {
                return Some(format!(
                    "{path} is {} (needs {condition})",
                    short_json(value)
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// A JSON value for a summary, cut short so one odd answer cannot flood it.
fn short_json(value: &serde_json::Value) -> String {
    const MAX: usize = 40;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The measurement from the attempts.
fn summarize(name: &str, check: &HttpCheck, attempts: &[Attempt]) -> Measurement {
    let total = attempts.len();
    let mut latencies = Vec::with_capacity(total);
    let mut ok = 0usize;
    let mut problems: BTreeMap<&str, usize> = BTreeMap::new();
    let mut no_answer = None;
    for attempt in attempts {
        match attempt {
            Attempt::Answered { latency, problem } => {
                latencies.push(latency.as_secs_f64());
                match problem {
                    None => ok += 1,
                    Some(p) => *problems.entry(p).or_default() += 1,
                }
            }
            Attempt::NoAnswer(e) => {
                *problems.entry(e).or_default() += 1;
                no_answer.get_or_insert(e);
            }
        }
    }
    let base = |m: Measurement| m.figure("requests", total as f64).figure("ok", ok as f64);
    if latencies.is_empty() {
        let why = no_answer.map_or("no requests sent", String::as_str);
        return base(Measurement::error(
            name,
            format!("no answer to {total} requests: {why}"),
        ));
    }
    latencies.sort_by(f64::total_cmp);
    let success = ok as f64 / total as f64 * 100.0;
    let pct = |q: f64| percentile(&latencies, q).unwrap_or(f64::NAN);
    let (p50, p95, p99) = (pct(0.5), pct(0.95), pct(0.99));
    let mut measurement = base(Measurement::new(name, Outcome::Pass, String::new()))
        .figure("success_rate", success)
        .figure("p50_ms", p50 * 1000.0)
        .figure("p95_ms", p95 * 1000.0)
        .figure("p99_ms", p99 * 1000.0);

    let latency_checks: Vec<(&str, f64, &Condition)> = [
        ("p50", p50, &check.p50),
        ("p95", p95, &check.p95),
        ("p99", p99, &check.p99),
    ]
    .into_iter()
    .filter_map(|(label, value, cond)| cond.as_ref().map(|c| (label, value, c)))
    .collect();

    if !check.success_rate.holds_f64(success) {
        let mut summary = format!(
            "success {} (needs {})",
            format::percent(success),
            check.success_rate
        );
        if !problems.is_empty() {
            summary.push_str(": ");
            summary.push_str(&reasons(&problems));
        }
        measurement.outcome = Outcome::Fail;
        measurement.summary = summary;
        return measurement;
    }
    if let Some((label, value, cond)) = latency_checks
        .iter()
        .find(|(_, value, cond)| !cond.holds_f64(*value))
    {
        measurement.outcome = Outcome::Fail;
        measurement.summary = format!(
            "{ok}/{total} ok, {label} {} (needs {cond})",
            format::millis(*value)
        );
        return measurement;
    }
    let mut summary = format!(
        "{ok}/{total} ok, success {} ({})",
        format::percent(success),
        check.success_rate
    );
    if latency_checks.is_empty() {
        // Nothing to hold it against, but the latency is still worth seeing.
        summary.push_str(&format!(", p95 {}", format::millis(p95)));
    }
    for (label, value, cond) in &latency_checks {
        summary.push_str(&format!(", {label} {} ({cond})", format::millis(*value)));
    }
    measurement.summary = summary;
    measurement
}

/// `10 × status 500, 2 × no answer within 1s`: the commonest reasons first.
fn reasons(problems: &BTreeMap<&str, usize>) -> String {
    let mut by_count: Vec<(&str, usize)> = problems.iter().map(|(p, n)| (*p, *n)).collect();
    // Stable sort on the count alone keeps equal counts in name order.
    by_count.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let mut parts: Vec<String> = by_count
        .iter()
        .take(REASONS_SHOWN)
        .map(|(p, n)| format!("{n} × {p}"))
        .collect();
    let rest: usize = by_count.iter().skip(REASONS_SHOWN).map(|(_, n)| n).sum();
    if rest > 0 {
        parts.push(format!("{rest} more"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Duration as SpecDuration, Via};

    fn check() -> HttpCheck {
        HttpCheck {
            target: HttpTarget::Path {
                path: "/".into(),
                via: Via::Auto,
            },
            version: crate::spec::VersionRef::New,
            method: "GET".into(),
            headers: vec![],
            body: None,
            requests: 10,
            timeout: SpecDuration::from_secs(1),
            tls_verify: true,
            status: "in [200, 299]".parse().unwrap(),
            body_match: None,
            json: vec![],
            success_rate: ">= 90%".parse().unwrap(),
            p50: None,
            p95: Some("< 300ms".parse().unwrap()),
            p99: None,
        }
    }

    fn answered(ms: u64, problem: Option<&str>) -> Attempt {
        Attempt::Answered {
            latency: Duration::from_millis(ms),
            problem: problem.map(str::to_owned),
        }
    }

    #[test]
    fn all_good_passes() {
        let attempts: Vec<Attempt> = (0..10).map(|_| answered(12, None)).collect();
        let m = summarize("smoke", &check(), &attempts);
        assert_eq!(m.outcome, Outcome::Pass);
        assert_eq!(
            m.summary,
            "10/10 ok, success 100% (>= 90%), p95 12ms (< 300ms)"
        );
        assert_eq!(m.figures["requests"], 10.0);
        assert_eq!(m.figures["ok"], 10.0);
        assert_eq!(m.figures["success_rate"], 100.0);
        assert!((m.figures["p95_ms"] - 12.0).abs() < 1e-9);
    }

    #[test]
    fn failures_are_named_commonest_first() {
        let mut attempts: Vec<Attempt> = (0..5).map(|_| answered(10, None)).collect();
        attempts.extend((0..3).map(|_| answered(10, Some("status 500"))));
        attempts.push(Attempt::NoAnswer("no answer within 1s".into()));
        attempts.push(answered(10, Some("status 500")));
        let m = summarize("smoke", &check(), &attempts);
        assert_eq!(m.outcome, Outcome::Fail);
        assert_eq!(
            m.summary,
            "success 50% (needs >= 90%): 4 × status 500, 1 × no answer within 1s"
        );
    }

    #[test]
    fn slow_answers_fail_on_latency() {
        let attempts: Vec<Attempt> = (0..10).map(|i| answered(100 + i * 100, None)).collect();
        let m = summarize("smoke", &check(), &attempts);
        assert_eq!(m.outcome, Outcome::Fail);
        assert_eq!(m.summary, "10/10 ok, p95 955ms (needs < 300ms)");
    }

    #[test]
    fn no_answer_at_all_is_an_error() {
        let attempts: Vec<Attempt> = (0..3)
            .map(|_| Attempt::NoAnswer("connection refused".into()))
            .collect();
        let m = summarize("smoke", &check(), &attempts);
        assert_eq!(m.outcome, Outcome::Error);
        assert_eq!(m.summary, "no answer to 3 requests: connection refused");
    }

    #[test]
    fn answers_are_judged_on_status_body_and_json() {
        let mut c = check();
        c.json = vec![
            ("$.status".parse().unwrap(), "== ok".parse().unwrap()),
            ("$.replicas".parse().unwrap(), "> 0".parse().unwrap()),
        ];
        let re = Regex::new("ok").unwrap();
        let answer = |status: u16, body: &str| Answer {
            status,
            body: body.as_bytes().to_vec(),
            latency: Duration::from_millis(1),
            problem: None,
        };
        let good = answer(200, r#"{"status":"ok","replicas":3}"#);
        assert_eq!(judge_answer(&c, Some(&re), &good), None);
        assert_eq!(
            judge_answer(&c, Some(&re), &answer(503, "ok")).as_deref(),
            Some("status 503")
        );
        assert_eq!(
            judge_answer(&c, Some(&re), &answer(200, r#"{"status":"down"}"#)).as_deref(),
            Some("body does not match /ok/")
        );
        assert_eq!(
            judge_answer(&c, None, &answer(200, r#"{"status":"down"}"#)).as_deref(),
            Some("$.status is \"down\" (needs == \"ok\")")
        );
        assert_eq!(
            judge_answer(&c, None, &answer(200, r#"{"status":"ok"}"#)).as_deref(),
            Some("$.replicas missing")
        );
        assert_eq!(
            judge_answer(&c, None, &answer(200, "plain ok")).as_deref(),
            Some("body is not JSON")
        );
    }

    #[test]
    fn api_server_status_is_recognised() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"web\"","code":503}"#;
        assert_eq!(
            api_server_status(body).as_deref(),
            Some("no endpoints available for service \"web\"")
        );
        assert_eq!(api_server_status(b"Service Unavailable"), None);
        assert_eq!(api_server_status(br#"{"kind":"Pod"}"#), None);
    }

    #[test]
    fn the_api_server_refusing_is_no_answer_from_the_app() {
        let refused = br#"{"kind":"Status","message":"services \"web\" is forbidden: User \"system:serviceaccount:ns:rollout\" cannot get resource \"services/proxy\"","code":403}"#;
        let why = api_server_refusal(403, refused).unwrap_or_default();
        assert!(why.starts_with("forbidden by the API server: services \"web\" is forbidden"));
        assert!(why.contains("manifests/rbac.yaml"));
        // The app's own 403 and 500 are answers, judged by the check.
        assert_eq!(api_server_refusal(403, b"go away"), None);
        assert_eq!(api_server_refusal(500, refused), None);
    }

    #[test]
    fn bodies_are_capped() {
        let mut body = Vec::new();
        keep(&mut body, &vec![b'a'; MAX_BODY - 1]);
        keep(&mut body, b"bcd");
        assert_eq!(body.len(), MAX_BODY);
        assert_eq!(body.last(), Some(&b'b'));
    }
}
