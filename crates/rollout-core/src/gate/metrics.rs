//! ingress-nginx's request metrics, read straight from the controller's `/metrics` (the
//! Prometheus text exposition format) and summed per Service, for comparing two versions
//! without a Prometheus server.
//!
//! Two series matter: the `nginx_ingress_controller_requests` counter and the
//! `nginx_ingress_controller_request_duration_seconds` histogram, both labelled with
//! `namespace`, `service`, `status` and `canary`.
//!
//! Attribution follows ingress-nginx's labelling: a request the *canary* Ingress served still
//! carries the main Ingress's `service` label, and its `canary` label names the canary upstream
//! (`<namespace>-<service>-<port>`). So [`Snapshot::by_service`] holds only the series with an
//! empty `canary` label (the named Service really served them), [`Snapshot::by_canary`] holds
//! the others by upstream name, and [`Snapshot::served_by`] adds the two up for one Service.

use std::collections::HashMap;
use std::time::Duration;

/// Name of the request counter.
pub const REQUESTS: &str = "nginx_ingress_controller_requests";
/// Name of the request duration histogram (without the `_bucket` suffix).
pub const REQUEST_DURATION: &str = "nginx_ingress_controller_request_duration_seconds";

/// Longest wait for a scrape: `/metrics` is answered from memory, so anything slower means the
/// controller is in trouble, and a gate should say so rather than hang.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of the requests one Service served.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceCounters {
    pub requests: u64,
    /// Requests answered with a 5xx status.
    pub errors: u64,
    /// The request duration histogram summed over label sets: (upper bound `le` in seconds,
    /// cumulative count), ascending by `le`; the last bound is `+Inf` when exported.
    pub buckets: Vec<(f64, u64)>,
}

impl ServiceCounters {
    /// Adds `other`'s counts to these, bucket by bucket.
    pub fn add(&mut self, other: &ServiceCounters) {
        self.requests += other.requests;
        self.errors += other.errors;
        for &(le, count) in &other.buckets {
            self.add_bucket(le, count);
        }
    }

    fn add_bucket(&mut self, le: f64, count: u64) {
        match self.buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => {
                let at = self.buckets.partition_point(|(b, _)| *b < le);
                self.buckets.insert(at, (le, count));
            }
        }
    }
}

/// The counters of every Service in one exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Requests the (namespace, service) served itself: series with an empty `canary` label.
    pub by_service: HashMap<(String, String), ServiceCounters>,
    /// Requests an ingress-nginx canary served, by (namespace, canary upstream name
    /// `<namespace>-<service>-<port>`).
    pub by_canary: HashMap<(String, String), ServiceCounters>,
}

impl Snapshot {
    /// All requests `service` in `namespace` served, directly or as a canary upstream.
    ///
    /// A canary upstream is `<namespace>-<service>-<port>`; since names may contain `-`, the
    /// port part is taken to be a number or a port name without `-` (`80`, `http`), which
    /// keeps `web` from claiming the upstream of a Service named `web-canary`. Canary backends
    /// addressed by a port name with a `-` in it are therefore not attributed.
    pub fn served_by(&self, namespace: &str, service: &str) -> Option<ServiceCounters> {
        let mut total: Option<ServiceCounters> = None;
        let key = (namespace.to_owned(), service.to_owned());
        if let Some(c) = self.by_service.get(&key) {
            total.get_or_insert_with(Default::default).add(c);
        }
        let prefix = format!("{namespace}-{service}-");
        for ((ns, upstream), c) in &self.by_canary {
            let port = match upstream.strip_prefix(&prefix) {
                Some(port) if ns == namespace => port,
                _ => continue,
            };
            if !port.is_empty() && !port.contains('-') {
                total.get_or_insert_with(Default::default).add(c);
            }
        }
        total
    }
}

/// Parses the metrics of an exposition in the text format (0.0.4). Lines of other metrics,
/// comments and blank lines are skipped; a malformed line of a metric read here is an error.
pub fn parse(text: &str) -> Result<Snapshot, String> {
    let mut snapshot = Snapshot::default();
    let bucket_name = format!("{REQUEST_DURATION}_bucket");
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        let name = &line[..name_end];
        let is_requests = name == REQUESTS;
        if !is_requests && name != bucket_name {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", index + 1);
        let (labels, rest) = parse_labels(&line[name_end..]).map_err(at)?;
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| at(format!("`{name}` has no value")))?;
        let value =
            parse_float(value_text).ok_or_else(|| at(format!("`{value_text}` is not a number")))?;
        let count = to_count(value)
            .ok_or_else(|| at(format!("`{value_text}` is not a count of requests")))?;
        let label = |n: &str| {
            labels
                .iter()
                .find(|(k, _)| k == n)
                .map_or("", |(_, v)| v.as_str())
        };
        let namespace = label("namespace").to_owned();
        let canary = label("canary");
        let counters = if canary.is_empty() {
            let key = (namespace, label("service").to_owned());
            snapshot.by_service.entry(key).or_default()
        } else {
            let key = (namespace, canary.to_owned());
            snapshot.by_canary.entry(key).or_default()
        };
        if is_requests {
            counters.requests += count;
            if label("status").starts_with('5') {
                counters.errors += count;
            }
        } else {
            let le_text = label("le");
            let le = parse_float(le_text)
                .filter(|le| !le.is_nan())
                .ok_or_else(|| at(format!("bucket bound le=\"{le_text}\" is not a number")))?;
            counters.add_bucket(le, count);
        }
    }
    Ok(snapshot)
}

/// Label names and values of one sample, in the order written.
type Labels = Vec<(String, String)>;

/// Parses `{name="value",...}` (or nothing) at the start of `s`; returns the labels and what
/// follows. Label values may hold `\\`, `\"` and `\n` escapes; a trailing comma is allowed.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((Vec::new(), s));
    };
    let mut labels = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or("labels are not closed with }")?;
        if name_end == 0 {
            return Err(format!("expected a label name at `{}`", head(rest)));
        }
        let name = rest[..name_end].to_owned();
        rest = rest[name_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("expected = after label {name}"))?
            .trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("expected a quoted value for label {name}"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unfinished escape in label {name}")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("the value of label {name} is not closed")),
            }
        };
        labels.push((name, value));
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!("expected , or }} at `{}`", head(rest)));
        }
    }
}

fn head(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// A sample value: a decimal or `+Inf`, `-Inf`, `NaN` as Prometheus writes them.
fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// A counter value as a count; counters are exported as floats (`1e+06`), and Prometheus'
/// `increase()` extrapolates to fractions, hence the rounding.
pub(crate) fn to_count(value: f64) -> Option<u64> {
    (value.is_finite() && value >= 0.0).then(|| value.round() as u64)
}

/// The traffic of one Service between two snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub requests: u64,
    /// 5xx answers; never more than `requests`.
    pub errors: u64,
    /// Request durations in seconds, one per request counted in the histogram, each at its
    /// bucket's midpoint (the upper bound for the first bucket, the last finite bound for
    /// `+Inf`): what is left of the latencies after bucketing.
    pub latencies: Vec<f64>,
}

/// The traffic counted between `before` (`None`: from zero) and `after`.
///
/// When a counter went down the controller restarted in between (its counters began again at
/// zero), so `after` is taken whole as the window; the counters of one Service reset together,
/// hence one decision for all of them.
pub fn window(before: Option<&ServiceCounters>, after: &ServiceCounters) -> Window {
    let empty = ServiceCounters::default();
    let mut before = before.unwrap_or(&empty);
    let bucket_of = |c: &ServiceCounters, le: f64| {
        c.buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0, |(_, n)| *n)
    };
    let reset = after.requests < before.requests
        || after.errors < before.errors
        || before
            .buckets
            .iter()
            .any(|&(le, n)| bucket_of(after, le) < n);
    if reset {
        before = &empty;
    }
    let requests = after.requests - before.requests;
    let errors = (after.errors - before.errors).min(requests);

    let mut latencies = Vec::new();
    let mut cumulative_before = 0u64;
    let mut lower: Option<f64> = None;
    let mut last_finite: Option<f64> = None;
    for &(le, n) in &after.buckets {
        // Cumulative counts never go down along `le`; extrapolated ones (Prometheus'
        // `increase()`) can, by rounding, and must not make a negative bucket.
        let cumulative = n
            .saturating_sub(bucket_of(before, le))
            .max(cumulative_before);
        let in_bucket = cumulative - cumulative_before;
        cumulative_before = cumulative;
        let sample = if le.is_finite() {
            let at = lower.map_or(le, |low| (low + le) / 2.0);
            lower = Some(le);
            last_finite = Some(le);
            Some(at)
        } else {
            last_finite
        };
        if let Some(at) = sample {
            latencies.extend(std::iter::repeat_n(at, in_bucket as usize));
        }
    }
    Window {
        requests,
        errors,
        latencies,
    }
}

/// Reads the controller's metrics at `url` (its `/metrics`).
pub async fn scrape(http: &reqwest::Client, url: &str) -> Result<Snapshot, String> {
    let resp = http
        .get(url)
        .timeout(SCRAPE_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read metrics from {url}: {}",
                super::format::error_chain(&e)
            )
        })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("metrics at {url} answered {status}"));
    }
    let text = resp.text().await.map_err(|e| {
        format!(
            "cannot read metrics from {url}: {}",
            super::format::error_chain(&e)
        )
    })?;
    parse(&text).map_err(|e| format!("metrics at {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like the embedded ingress's (and ingress-nginx's) exposition, with a second
    /// label set, a canary series, an escaped label value and metrics that are not read.
    const TEXT: &str = r#"# HELP nginx_ingress_controller_requests The total number of client requests
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{canary="",controller_class="k8s.io/ingress-nginx",host="shop.local",ingress="shop",method="GET",namespace="apps",path="/a\"b\\c\nd",service="web",status="200"} 90
nginx_ingress_controller_requests{canary="",host="shop.local",ingress="shop",method="POST",namespace="apps",path="/",service="web",status="503"} 10
nginx_ingress_controller_requests{canary="apps-web-canary-80",host="shop.local",ingress="shop",method="GET",namespace="apps",path="/",service="web",status="500"} 4
nginx_ingress_controller_requests{canary="apps-web-canary-80",host="shop.local",ingress="shop",method="GET",namespace="apps",path="/",service="web",status="200"} 16
nginx_ingress_controller_requests{canary="",namespace="other",service="web",status="200"} 1e+03
# TYPE nginx_ingress_controller_request_duration_seconds histogram
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="200",le="0.005"} 50
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="200",le="0.01"} 80
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="200",le="+Inf"} 90
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="503",le="0.005"} 10
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="503",le="0.01"} 10
nginx_ingress_controller_request_duration_seconds_bucket{canary="",namespace="apps",service="web",status="503",le="+Inf"} 10
nginx_ingress_controller_request_duration_seconds_sum{canary="",namespace="apps",service="web",status="200"} 0.9
nginx_ingress_controller_request_duration_seconds_count{canary="",namespace="apps",service="web",status="200"} 90
nginx_ingress_controller_request_duration_seconds_bucket{canary="apps-web-canary-80",namespace="apps",service="web",status="200",le="0.005"} 20 1700000000000
nginx_ingress_controller_request_duration_seconds_bucket{canary="apps-web-canary-80",namespace="apps",service="web",status="200",le="+Inf"} 20
nginx_ingress_controller_response_size_bucket{weird="not read here",le="10"} x
process_cpu_seconds_total 12.5
"#;

    #[test]
    fn parses_counters_and_histograms_per_service() {
        let s = parse(TEXT).unwrap();
        let web = &s.by_service[&("apps".into(), "web".into())];
        assert_eq!(web.requests, 100);
        assert_eq!(web.errors, 10);
        assert_eq!(
            web.buckets,
            vec![(0.005, 60), (0.01, 90), (f64::INFINITY, 100)]
        );
        assert_eq!(s.by_service[&("other".into(), "web".into())].requests, 1000);
        let canary = &s.by_canary[&("apps".into(), "apps-web-canary-80".into())];
        assert_eq!((canary.requests, canary.errors), (20, 4));
        assert_eq!(canary.buckets, vec![(0.005, 20), (f64::INFINITY, 20)]);
    }

    #[test]
    fn canary_upstreams_are_attributed_to_their_service() {
        let s = parse(TEXT).unwrap();
        let canary = s.served_by("apps", "web-canary").unwrap();
        assert_eq!((canary.requests, canary.errors), (20, 4));
        // `web` is the main Service: the canary's requests are not its own.
        let web = s.served_by("apps", "web").unwrap();
        assert_eq!((web.requests, web.errors), (100, 10));
        assert_eq!(s.served_by("apps", "nothing"), None);
        assert_eq!(s.served_by("other", "web-canary"), None);
    }

    #[test]
    fn escapes_and_odd_spacing() {
        let (labels, rest) = parse_labels(r#"{ a = "x\"y\\z\n" , b="",} 3"#).unwrap();
        assert_eq!(
            labels,
            vec![("a".into(), "x\"y\\z\n".into()), ("b".into(), "".into())]
        );
        assert_eq!(rest.trim(), "3");
        let text = "nginx_ingress_controller_requests 7\n";
        assert_eq!(
            parse(text).unwrap().by_service[&(String::new(), String::new())].requests,
            7
        );
    }

    #[test]
    fn malformed_lines_of_read_metrics_are_errors() {
        let e = parse("nginx_ingress_controller_requests{service=\"web} 3\n").unwrap_err();
        assert!(e.starts_with("line 1:"), "{e}");
        let e =
            parse("# c\nnginx_ingress_controller_requests{service=\"web\"} many\n").unwrap_err();
        assert_eq!(e, "line 2: `many` is not a number");
        let e = parse("nginx_ingress_controller_requests{service=\"web\"}\n").unwrap_err();
        assert!(e.contains("has no value"), "{e}");
        let e = parse("nginx_ingress_controller_requests{service=\"web\"} -1\n").unwrap_err();
        assert!(e.contains("not a count"), "{e}");
        let e = parse("nginx_ingress_controller_request_duration_seconds_bucket{le=\"soon\"} 1\n")
            .unwrap_err();
        assert!(e.contains("le=\"soon\""), "{e}");
    }

    fn counters(requests: u64, errors: u64, buckets: &[(f64, u64)]) -> ServiceCounters {
        ServiceCounters {
            requests,
            errors,
            buckets: buckets.to_vec(),
        }
    }

    #[test]
    fn window_takes_deltas_and_rebuilds_latencies() {
        let inf = f64::INFINITY;
        let before = counters(100, 10, &[(0.005, 60), (0.01, 90), (0.1, 95), (inf, 100)]);
        let after = counters(110, 12, &[(0.005, 63), (0.01, 97), (0.1, 103), (inf, 110)]);
        let w = window(Some(&before), &after);
        assert_eq!((w.requests, w.errors), (10, 2));
        // 3 in the first bucket (at its bound), 4 between 5 and 10ms, 1 between 10 and
        // 100ms, 2 above 100ms (at the last finite bound).
        let mut expected = vec![0.005; 3];
        expected.extend([0.0075; 4]);
        expected.push(0.055);
        expected.extend([0.1; 2]);
        assert_eq!(w.latencies, expected);
        // From zero.
        let w = window(None, &before);
        assert_eq!((w.requests, w.errors, w.latencies.len()), (100, 10, 100));
    }

    #[test]
    fn window_after_a_reset_counts_from_zero() {
        let inf = f64::INFINITY;
        let before = counters(1000, 50, &[(0.005, 900), (0.01, 1000), (inf, 1000)]);
        let after = counters(30, 3, &[(0.005, 20), (0.01, 30), (inf, 30)]);
        let w = window(Some(&before), &after);
        assert_eq!((w.requests, w.errors), (30, 3));
        let mut expected = vec![0.005; 20];
        expected.extend([0.0075; 10]);
        assert_eq!(w.latencies, expected);
    }

    #[test]
    fn window_tolerates_uneven_buckets() {
        // Extrapolated increases can leave a cumulative count below the one before it, and a
        // bucket missing on one side.
        let after = counters(10, 0, &[(0.005, 6), (0.01, 5), (0.025, 10)]);
        let w = window(None, &after);
        assert_eq!(w.latencies.len(), 10);
        let w = window(Some(&counters(0, 0, &[(0.01, 0)])), &after);
        assert_eq!(w.latencies.len(), 10);
        // Errors never exceed requests.
        let w = window(None, &counters(3, 5, &[]));
        assert_eq!((w.requests, w.errors), (3, 3));
    }
}
