//! ingress-nginx-compatible Prometheus metrics of the embedded ingress proxy, and cheap in-process
//! counters ([`ProxyStats`]) for the rollout analysis.
//!
//! Names, labels and default buckets are those of ingress-nginx's socket collector
//! (`internal/ingress/metric/collectors/socket.go`) with `--metrics-per-host` on (its default):
//!
//! | metric | type | buckets |
//! |---|---|---|
//! | `nginx_ingress_controller_requests` | counter | |
//! | `nginx_ingress_controller_request_duration_seconds` | histogram | `.005 … 10` (Prometheus defaults) |
//! | `nginx_ingress_controller_header_duration_seconds` | histogram | same (upstream time to headers) |
//! | `nginx_ingress_controller_response_duration_seconds` | histogram | same (upstream time to last byte) |
//! | `nginx_ingress_controller_request_size` | histogram | `10, 20 … 100` |
//! | `nginx_ingress_controller_response_size` | histogram | `10, 20 … 100` |
//!
//! Every series carries `status, method, path, namespace, ingress, service, canary, host` plus the
//! constant labels `controller_namespace, controller_class, controller_pod`; labels are written
//! in name order, as the Go client does. `path` is the matched rule path (not the URL), so the
//! label set stays bounded by the configuration; `host` and `method` come from the client, so the
//! number of series is capped ([`Metrics::with_max_series`]) and observations for new series
//! past the cap are dropped from the exposition (still counted in [`ProxyStats`]).
//! Upstream durations are only observed when a request reached an upstream (as nginx logs `-`
//! otherwise). Requests that match no Ingress or HTTPRoute (404 from the default server) are not
//! exported, like ingress-nginx's per-host filter does; they are counted in
//! [`ProxyStats::not_found`].
//!
//! # HTTPRoute traffic: Envoy's cluster statistics
//!
//! Ingress traffic is what ingress-nginx would serve; HTTPRoute traffic is what a Gateway API
//! implementation would, and the one modelled is Contour, whose Envoy exports per-upstream
//! cluster statistics. Contour makes one Envoy cluster per backend Service port and sets its
//! `alt_stat_name` to `<namespace>_<service>_<port>`, which Envoy's Prometheus output puts in
//! the `envoy_cluster_name` label ([`envoy_cluster_name`]). So HTTPRoute requests are exported
//! as (and only as):
//!
//! | metric | type | |
//! |---|---|---|
//! | `envoy_cluster_upstream_rq_total` | counter | requests that reached an upstream |
//! | `envoy_cluster_upstream_rq_xx` | counter | responses by `envoy_response_code_class` (`1`…`5`), including the 502 / 503 / 504 the proxy answers for the cluster when no upstream could (Envoy charges those to the cluster too) |
//! | `envoy_cluster_upstream_rq_time` | histogram | milliseconds, Envoy's default buckets ([`ENVOY_TIME_BUCKETS`]), time to the upstream response's end |
//!
//! A mirrored (shadow) request counts on the mirror backend's cluster, as Envoy counts
//! shadowed requests on the shadow cluster. A rule without a usable backend answers from no
//! cluster, so nothing counts it (Envoy's direct responses are not cluster statistics).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Prefix of every exported metric.
pub const NAMESPACE: &str = "nginx_ingress_controller";
/// Prometheus' default buckets, ingress-nginx's `--time-buckets` default.
pub const TIME_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// `prometheus.LinearBuckets(10, 10, 10)`, ingress-nginx's `--length-buckets` default.
pub const LENGTH_BUCKETS: [f64; 10] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
/// Default cap on the number of label sets exported.
pub const DEFAULT_MAX_SERIES: usize = 10_000;
/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Envoy's default histogram buckets (milliseconds for the request time).
pub const ENVOY_TIME_BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Contour's `alt_stat_name` of the Envoy cluster of a Service port: the value of the
/// `envoy_cluster_name` label.
pub fn envoy_cluster_name(namespace: &str, service: &str, port: &str) -> String {
    format!("{namespace}_{service}_{port}")
}

/// Which series a request is exported in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Exported {
    /// ingress-nginx's (Ingress traffic).
    #[default]
    Nginx,
    /// Envoy's cluster statistics (HTTPRoute traffic), of this cluster ([`envoy_cluster_name`]);
    /// `None`: the request had no backend, so no cluster counts it.
    Envoy(Option<String>),
}

/// The controller's constant labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerLabels {
    /// `controller_class`: ingress-nginx reports the IngressClass controller value.
    pub class: String,
    pub namespace: String,
    pub pod: String,
}

impl Default for ControllerLabels {
    fn default() -> Self {
        ControllerLabels {
            class: "k8s.io/ingress-nginx".into(),
            namespace: "ingress-nginx".into(),
            pod: "rollout-ingress".into(),
        }
    }
}

/// The per-request labels (ingress-nginx's `requestTags` plus `host`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RequestLabels {
    pub canary: String,
    pub host: String,
    pub ingress: String,
    pub method: String,
    pub namespace: String,
    pub path: String,
    pub service: String,
    pub status: u16,
}

/// What the proxy learnt about one finished request.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub labels: RequestLabels,
    /// Whole request, first byte read to last byte written (nginx `$request_time`).
    pub request_seconds: f64,
    /// Upstream time to response headers (`$upstream_header_time`); `None`: no upstream.
    pub upstream_header_seconds: Option<f64>,
    /// Upstream time to the last response byte (`$upstream_response_time`).
    pub upstream_response_seconds: Option<f64>,
    /// Request line, headers and body (`$request_length`).
    pub request_size: u64,
    /// Status line, headers and body sent (`$bytes_sent`).
    pub response_size: u64,
    /// For [`ProxyStats`]: the Service that actually got the request (the canary's own Service
    /// when the canary served); empty when none did.
    pub served_by: String,
    /// For [`ProxyStats`]: the canary served.
    pub canary: bool,
    /// Which series export it.
    pub exported: Exported,
}

#[derive(Debug, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(buckets: &[f64]) -> Histogram {
        Histogram {
            counts: vec![0; buckets.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, buckets: &[f64], v: f64) {
        let idx = buckets
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(buckets.len());
        if let Some(c) = self.counts.get_mut(idx) {
            *c += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// Name, help, buckets and accessor of one exported histogram.
type HistogramSpec = (
    &'static str,
    &'static str,
    &'static [f64],
    fn(&Series) -> &Histogram,
);

#[derive(Debug, Clone)]
struct Series {
    requests: u64,
    request_duration: Histogram,
    header_duration: Histogram,
    response_duration: Histogram,
    request_size: Histogram,
    response_size: Histogram,
}

impl Series {
    fn new() -> Series {
        Series {
            requests: 0,
            request_duration: Histogram::new(&TIME_BUCKETS),
            header_duration: Histogram::new(&TIME_BUCKETS),
            response_duration: Histogram::new(&TIME_BUCKETS),
            request_size: Histogram::new(&LENGTH_BUCKETS),
            response_size: Histogram::new(&LENGTH_BUCKETS),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct StatsKey {
    namespace: String,
    ingress: String,
    service: String,
    canary: bool,
}

#[derive(Debug, Clone, Default)]
struct StatsEntry {
    by_class: [u64; 5],
    other: u64,
    duration_sum: f64,
}

/// One Envoy cluster's request statistics.
#[derive(Debug, Clone)]
struct EnvoyCluster {
    rq_total: u64,
    /// Responses by class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    rq_xx: [u64; 5],
    rq_time: Histogram,
}

#[derive(Debug, Default)]
struct Inner {
    series: HashMap<RequestLabels, Series>,
    envoy: HashMap<String, EnvoyCluster>,
    dropped: u64,
    stats: HashMap<StatsKey, StatsEntry>,
    not_found: u64,
    mirrors_sent: u64,
    mirrors_failed: u64,
    mirrors_skipped: u64,
}

/// Counts of one (Ingress or HTTPRoute, served Service, main/canary).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendStats {
    pub namespace: String,
    /// The Ingress (the *main* one for a canary, as in the metrics) or HTTPRoute.
    pub ingress: String,
    /// The Service that got the requests (for an ingress-nginx canary: the canary's own Service);
    /// empty for answers given without a backend (503/500 of a rule without one).
    pub service: String,
    pub canary: bool,
    /// Responses by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub by_class: [u64; 5],
    /// Sum of the request durations, seconds.
    pub duration_sum_seconds: f64,
}

impl BackendStats {
    /// All responses counted.
    pub fn total(&self) -> u64 {
        self.by_class.iter().sum()
    }

    /// 5xx responses.
    pub fn server_errors(&self) -> u64 {
        self.by_class[4]
    }
}

/// Snapshot of the proxy's counters since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyStats {
    /// Sorted by namespace, ingress, service, canary.
    pub backends: Vec<BackendStats>,
    /// Requests that matched nothing (answered 404).
    pub not_found: u64,
    /// Mirrored copies sent (their answers are ignored).
    pub mirrors_sent: u64,
    /// Mirrored copies that failed to connect or timed out.
    pub mirrors_failed: u64,
    /// Mirrors sampled but not sent (body too big or streamed, no endpoints, too many in flight).
    pub mirrors_skipped: u64,
    /// Observations left out of the exposition because of the series cap.
    pub dropped_series: u64,
}

impl ProxyStats {
    /// Sum over the entries of one Service (main and canary entries alike).
    pub fn for_service(&self, namespace: &str, service: &str) -> [u64; 5] {
        let mut out = [0u64; 5];
        for b in self
            .backends
            .iter()
            .filter(|b| b.namespace == namespace && b.service == service)
        {
            for (o, c) in out.iter_mut().zip(b.by_class) {
                *o += c;
            }
        }
        out
    }

    /// All requests that got a decision.
    pub fn total(&self) -> u64 {
        self.backends.iter().map(BackendStats::total).sum()
    }
}

/// The proxy's metrics registry.
#[derive(Debug)]
pub struct Metrics {
    controller: ControllerLabels,
    max_series: usize,
    inner: Mutex<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(ControllerLabels::default())
    }
}

impl Metrics {
    pub fn new(controller: ControllerLabels) -> Metrics {
        Metrics::with_max_series(controller, DEFAULT_MAX_SERIES)
    }

    pub fn with_max_series(controller: ControllerLabels, max_series: usize) -> Metrics {
        Metrics {
            controller,
            max_series,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records one finished request.
    pub fn observe(&self, obs: &Observation) {
        let mut inner = self.lock();
        let key = StatsKey {
            namespace: obs.labels.namespace.clone(),
            ingress: obs.labels.ingress.clone(),
            service: obs.served_by.clone(),
            canary: obs.canary,
        };
        let entry = inner.stats.entry(key).or_default();
        match obs.labels.status / 100 {
            c @ 1..=5 => entry.by_class[usize::from(c - 1)] += 1,
            _ => entry.other += 1,
        }
        entry.duration_sum += obs.request_seconds;

        let max = self.max_series;
        let len = inner.series.len() + inner.envoy.len();
        match &obs.exported {
            Exported::Nginx => {}
            Exported::Envoy(None) => return,
            Exported::Envoy(Some(cluster)) => {
                let c = match inner.envoy.get_mut(cluster) {
                    Some(c) => c,
                    None if len < max => {
                        inner
                            .envoy
                            .entry(cluster.clone())
                            .or_insert_with(|| EnvoyCluster {
                                rq_total: 0,
                                rq_xx: [0; 5],
                                rq_time: Histogram::new(&ENVOY_TIME_BUCKETS),
                            })
                    }
                    None => {
                        inner.dropped += 1;
                        return;
                    }
                };
                if let class @ 1..=5 = obs.labels.status / 100 {
                    c.rq_xx[usize::from(class - 1)] += 1;
                }
                if obs.upstream_header_seconds.is_some() {
                    c.rq_total += 1;
                }
                if let Some(r) = obs.upstream_response_seconds {
                    c.rq_time.observe(&ENVOY_TIME_BUCKETS, r * 1000.0);
                }
                return;
            }
        }
        let series = match inner.series.get_mut(&obs.labels) {
            Some(s) => s,
            None if len < max => inner
                .series
                .entry(obs.labels.clone())
                .or_insert_with(Series::new),
            None => {
                inner.dropped += 1;
                return;
            }
        };
        series.requests += 1;
        series
            .request_duration
            .observe(&TIME_BUCKETS, obs.request_seconds);
        if let Some(h) = obs.upstream_header_seconds {
            series.header_duration.observe(&TIME_BUCKETS, h);
        }
        if let Some(r) = obs.upstream_response_seconds {
            series.response_duration.observe(&TIME_BUCKETS, r);
        }
        series
            .request_size
            .observe(&LENGTH_BUCKETS, obs.request_size as f64);
        series
            .response_size
            .observe(&LENGTH_BUCKETS, obs.response_size as f64);
    }

    /// Counts a request that matched nothing.
    pub fn not_found(&self) {
        self.lock().not_found += 1;
    }

    /// Counts a mirrored copy: sent (`Ok(true)`), failed (`Ok(false)`), or skipped (`Err(())`).
    pub fn mirror(&self, outcome: MirrorOutcome) {
        let mut inner = self.lock();
        match outcome {
            MirrorOutcome::Sent => inner.mirrors_sent += 1,
            MirrorOutcome::Failed => inner.mirrors_failed += 1,
            MirrorOutcome::Skipped => inner.mirrors_skipped += 1,
        }
    }

    /// Snapshot of the in-process counters.
    pub fn stats(&self) -> ProxyStats {
        let inner = self.lock();
        let mut backends: Vec<BackendStats> = inner
            .stats
            .iter()
            .map(|(k, v)| BackendStats {
                namespace: k.namespace.clone(),
                ingress: k.ingress.clone(),
                service: k.service.clone(),
                canary: k.canary,
                by_class: v.by_class,
                duration_sum_seconds: v.duration_sum,
            })
            .collect();
        backends.sort_by(|a, b| {
            (&a.namespace, &a.ingress, &a.service, a.canary).cmp(&(
                &b.namespace,
                &b.ingress,
                &b.service,
                b.canary,
            ))
        });
        ProxyStats {
            backends,
            not_found: inner.not_found,
            mirrors_sent: inner.mirrors_sent,
            mirrors_failed: inner.mirrors_failed,
            mirrors_skipped: inner.mirrors_skipped,
            dropped_series: inner.dropped,
        }
    }

    /// Number of exported label sets (ingress-nginx's, and Envoy clusters).
    pub fn series_count(&self) -> usize {
        let inner = self.lock();
        inner.series.len() + inner.envoy.len()
    }

    /// The whole exposition, text format 0.0.4: ingress-nginx's series, then Envoy's.
    pub fn render(&self) -> String {
        let mut out = self.render_nginx();
        out.push_str(&self.render_envoy());
        out
    }

    /// Envoy's cluster statistics, as its admin endpoint `/stats/prometheus` writes them
    /// (`# TYPE` lines, no `# HELP`).
    pub fn render_envoy(&self) -> String {
        let inner = self.lock();
        let mut clusters: Vec<(&String, &EnvoyCluster)> = inner.envoy.iter().collect();
        clusters.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::new();
        let label = |name: &str| {
            let mut s = String::from("envoy_cluster_name=\"");
            escape_label_value(&mut s, name);
            s.push('"');
            s
        };
        out.push_str("# TYPE envoy_cluster_upstream_rq_total counter\n");
        for (name, c) in &clusters {
            let _ = writeln!(
                out,
                "envoy_cluster_upstream_rq_total{{{}}} {}",
                label(name),
                c.rq_total
            );
        }
        out.push_str("# TYPE envoy_cluster_upstream_rq_xx counter\n");
        for (name, c) in &clusters {
            for (i, n) in c.rq_xx.iter().enumerate() {
                // Envoy makes a class's counter when it first counts one.
                if *n > 0 {
                    let _ = writeln!(
                        out,
                        "envoy_cluster_upstream_rq_xx{{envoy_response_code_class=\"{}\",{}}} {n}",
                        i + 1,
                        label(name)
                    );
                }
            }
        }
        out.push_str("# TYPE envoy_cluster_upstream_rq_time histogram\n");
        for (name, c) in &clusters {
            let h = &c.rq_time;
            if h.count == 0 {
                continue;
            }
            let mut cumulative = 0u64;
            for (i, n) in h.counts.iter().enumerate() {
                cumulative += n;
                let le = ENVOY_TIME_BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| format_float(*b));
                let _ = writeln!(
                    out,
                    "envoy_cluster_upstream_rq_time_bucket{{{},le=\"{le}\"}} {cumulative}",
                    label(name)
                );
            }
            let _ = writeln!(
                out,
                "envoy_cluster_upstream_rq_time_sum{{{}}} {}",
                label(name),
                format_float(h.sum)
            );
            let _ = writeln!(
                out,
                "envoy_cluster_upstream_rq_time_count{{{}}} {}",
                label(name),
                h.count
            );
        }
        out
    }

    /// ingress-nginx's series.
    pub fn render_nginx(&self) -> String {
        let inner = self.lock();
        let mut keys: Vec<&RequestLabels> = inner.series.keys().collect();
        keys.sort();
        let mut out = String::new();
        let series = |k: &RequestLabels| &inner.series[k];

        header(
            &mut out,
            "requests",
            "The total number of client requests",
            "counter",
        );
        for k in &keys {
            let labels = self.label_string(k, None);
            let _ = writeln!(
                out,
                "{NAMESPACE}_requests{{{labels}}} {}",
                series(k).requests
            );
        }
        let histograms: [HistogramSpec; 5] = [
            (
                "request_duration_seconds",
                "The request processing time in seconds",
                &TIME_BUCKETS,
                |s| &s.request_duration,
            ),
            (
                "header_duration_seconds",
                "The time spent on receiving first header from the upstream server",
                &TIME_BUCKETS,
                |s| &s.header_duration,
            ),
            (
                "response_duration_seconds",
                "The time spent on receiving the response from the upstream server",
                &TIME_BUCKETS,
                |s| &s.response_duration,
            ),
            (
                "request_size",
                "The request length (including request line, header, and request body)",
                &LENGTH_BUCKETS,
                |s| &s.request_size,
            ),
            (
                "response_size",
                "The response length (including status line, header, and response body)",
                &LENGTH_BUCKETS,
                |s| &s.response_size,
            ),
        ];
        for (name, help, buckets, pick) in histograms {
            header(&mut out, name, help, "histogram");
            for k in &keys {
                let h = pick(series(k));
                if h.count == 0 {
                    continue;
                }
                let mut cumulative = 0u64;
                for (i, c) in h.counts.iter().enumerate() {
                    cumulative += c;
                    let le = buckets
                        .get(i)
                        .map_or_else(|| "+Inf".to_string(), |b| format_float(*b));
                    let labels = self.label_string(k, Some(&le));
                    let _ = writeln!(out, "{NAMESPACE}_{name}_bucket{{{labels}}} {cumulative}");
                }
                let labels = self.label_string(k, None);
                let _ = writeln!(
                    out,
                    "{NAMESPACE}_{name}_sum{{{labels}}} {}",
                    format_float(h.sum)
                );
                let _ = writeln!(out, "{NAMESPACE}_{name}_count{{{labels}}} {}", h.count);
            }
        }
        out
    }

    /// `name="value",…` in label-name order, with `le` last when given.
    fn label_string(&self, k: &RequestLabels, le: Option<&str>) -> String {
        let status = k.status.to_string();
        let pairs: [(&str, &str); 11] = [
            ("canary", &k.canary),
            ("controller_class", &self.controller.class),
            ("controller_namespace", &self.controller.namespace),
            ("controller_pod", &self.controller.pod),
            ("host", &k.host),
            ("ingress", &k.ingress),
            ("method", &k.method),
            ("namespace", &k.namespace),
            ("path", &k.path),
            ("service", &k.service),
            ("status", &status),
        ];
        let mut s = String::new();
        for (i, (name, value)) in pairs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(name);
            s.push_str("=\"");
            escape_label_value(&mut s, value);
            s.push('"');
        }
        if let Some(le) = le {
            s.push_str(",le=\"");
            s.push_str(le);
            s.push('"');
        }
        s
    }
}

/// What became of one sampled mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorOutcome {
    Sent,
    Failed,
    Skipped,
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {NAMESPACE}_{name} {help}");
    let _ = writeln!(out, "# TYPE {NAMESPACE}_{name} {kind}");
}

/// Escapes a label value for the text format: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as Prometheus prints it (`+Inf`, `-Inf`, `NaN`, shortest decimal otherwise).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(status: u16, canary: &str) -> RequestLabels {
        RequestLabels {
            canary: canary.into(),
            host: "app.example.com".into(),
            ingress: "web".into(),
            method: "GET".into(),
            namespace: "apps".into(),
            path: "/".into(),
            service: "web-stable".into(),
            status,
        }
    }

    fn obs(status: u16, canary: &str, secs: f64, size: u64) -> Observation {
        Observation {
            labels: labels(status, canary),
            request_seconds: secs,
            upstream_header_seconds: Some(secs / 2.0),
            upstream_response_seconds: Some(secs),
            request_size: 40,
            response_size: size,
            served_by: if canary.is_empty() {
                "web-stable".into()
            } else {
                "web-canary".into()
            },
            canary: !canary.is_empty(),
            exported: Exported::Nginx,
        }
    }

    #[test]
    fn escaping_and_floats() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(10.0), "10");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn counter_and_histogram_exposition() {
        let m = Metrics::default();
        m.observe(&obs(200, "", 0.003, 55));
        m.observe(&obs(200, "", 0.2, 150));
        m.observe(&obs(503, "apps-web-canary-80", 0.02, 5));
        let text = m.render();
        let base = "controller_class=\"k8s.io/ingress-nginx\",controller_namespace=\"ingress-nginx\",controller_pod=\"rollout-ingress\",host=\"app.example.com\",ingress=\"web\",method=\"GET\",namespace=\"apps\",path=\"/\",service=\"web-stable\"";
        assert!(text.contains("# TYPE nginx_ingress_controller_requests counter\n"));
        assert!(text.contains(&format!(
            "nginx_ingress_controller_requests{{canary=\"\",{base},status=\"200\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "nginx_ingress_controller_requests{{canary=\"apps-web-canary-80\",{base},status=\"503\"}} 1\n"
        )));
        assert!(
            text.contains("# TYPE nginx_ingress_controller_request_duration_seconds histogram\n")
        );
        let main = format!("canary=\"\",{base},status=\"200\"");
        for (le, n) in [
            ("0.005", 1),
            ("0.1", 1),
            ("0.25", 2),
            ("10", 2),
            ("+Inf", 2),
        ] {
            assert!(
                text.contains(&format!(
                    "nginx_ingress_controller_request_duration_seconds_bucket{{{main},le=\"{le}\"}} {n}\n"
                )),
                "bucket {le}:\n{text}"
            );
        }
        assert!(text.contains(&format!(
            "nginx_ingress_controller_request_duration_seconds_count{{{main}}} 2\n"
        )));
        assert!(text.contains(&format!(
            "nginx_ingress_controller_request_duration_seconds_sum{{{main}}} 0.203\n"
        )));
        for (le, n) in [("50", 0), ("60", 1), ("100", 1), ("+Inf", 2)] {
            assert!(text.contains(&format!(
                "nginx_ingress_controller_response_size_bucket{{{main},le=\"{le}\"}} {n}\n"
            )));
        }
        assert!(text.contains(&format!(
            "nginx_ingress_controller_response_size_sum{{{main}}} 205\n"
        )));
        // every non-comment line parses as `name{labels} value`
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            assert!(series.ends_with('}'), "{line}");
            assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        }
    }

    #[test]
    fn upstream_durations_only_when_an_upstream_answered() {
        let m = Metrics::default();
        let mut o = obs(503, "", 0.001, 10);
        o.upstream_header_seconds = None;
        o.upstream_response_seconds = None;
        m.observe(&o);
        let text = m.render();
        assert!(text.contains("nginx_ingress_controller_request_duration_seconds_count{"));
        assert!(!text.contains("nginx_ingress_controller_header_duration_seconds_count{"));
        assert!(text.contains("# TYPE nginx_ingress_controller_header_duration_seconds histogram"));
    }

    #[test]
    fn stats_by_backend_and_class() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.observe(&obs(200, "", 0.01, 10));
        }
        m.observe(&obs(502, "", 0.01, 10));
        m.observe(&obs(201, "apps-web-canary-80", 0.01, 10));
        m.observe(&obs(404, "apps-web-canary-80", 0.01, 10));
        m.not_found();
        m.mirror(MirrorOutcome::Sent);
        m.mirror(MirrorOutcome::Skipped);
        let s = m.stats();
        assert_eq!(s.backends.len(), 2);
        assert_eq!(s.backends[0].service, "web-canary");
        assert!(s.backends[0].canary);
        assert_eq!(s.backends[0].by_class, [0, 1, 0, 1, 0]);
        assert_eq!(s.backends[1].by_class, [0, 3, 0, 0, 1]);
        assert_eq!(s.backends[1].server_errors(), 1);
        assert_eq!(s.for_service("apps", "web-stable"), [0, 3, 0, 0, 1]);
        assert_eq!(s.total(), 6);
        assert_eq!(s.not_found, 1);
        assert_eq!(
            (s.mirrors_sent, s.mirrors_skipped, s.mirrors_failed),
            (1, 1, 0)
        );
    }

    #[test]
    fn series_are_capped() {
        let m = Metrics::with_max_series(ControllerLabels::default(), 2);
        for i in 0..5 {
            let mut o = obs(200, "", 0.01, 10);
            o.labels.host = format!("h{i}.example.com");
            m.observe(&o);
        }
        m.observe(&obs(200, "", 0.01, 10)); // new again: dropped
        let mut o = obs(200, "", 0.01, 10);
        o.labels.host = "h0.example.com".into();
        m.observe(&o); // existing: kept
        assert_eq!(m.series_count(), 2);
        let s = m.stats();
        assert_eq!(s.dropped_series, 4);
        assert_eq!(s.total(), 7);
        assert!(m.render().contains("host=\"h0.example.com\",ingress=\"web\",method=\"GET\",namespace=\"apps\",path=\"/\",service=\"web-stable\",status=\"200\"} 2\n"));
    }

    fn route_obs(status: u16, cluster: Option<&str>, upstream: Option<f64>) -> Observation {
        let mut o = obs(status, "", upstream.unwrap_or(0.001), 10);
        o.upstream_header_seconds = upstream;
        o.upstream_response_seconds = upstream;
        o.exported = Exported::Envoy(cluster.map(str::to_string));
        o
    }

    #[test]
    fn httproute_requests_are_envoy_cluster_statistics_only() {
        let m = Metrics::default();
        m.observe(&route_obs(200, Some("apps_web_80"), Some(0.003)));
        m.observe(&route_obs(200, Some("apps_web_80"), Some(0.2)));
        m.observe(&route_obs(503, Some("apps_web-canary_80"), None));
        m.observe(&route_obs(500, Some("apps_web-canary_80"), Some(0.0004)));
        m.observe(&route_obs(500, None, None));
        let text = m.render_envoy();
        for line in [
            "# TYPE envoy_cluster_upstream_rq_total counter\n",
            "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"apps_web_80\"} 2\n",
            "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"apps_web-canary_80\"} 1\n",
            "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"apps_web_80\"} 2\n",
            "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"5\",envoy_cluster_name=\"apps_web-canary_80\"} 2\n",
            "# TYPE envoy_cluster_upstream_rq_time histogram\n",
            "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"apps_web_80\",le=\"0.5\"} 0\n",
            "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"apps_web_80\",le=\"5\"} 1\n",
            "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"apps_web_80\",le=\"250\"} 2\n",
            "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"apps_web_80\",le=\"3600000\"} 2\n",
            "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"apps_web_80\",le=\"+Inf\"} 2\n",
            "envoy_cluster_upstream_rq_time_sum{envoy_cluster_name=\"apps_web_80\"} 203\n",
            "envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"apps_web_80\"} 2\n",
            "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"apps_web-canary_80\",le=\"0.5\"} 1\n",
        ] {
            assert!(text.contains(line), "{line}in:\n{text}");
        }
        assert!(!text.contains("envoy_response_code_class=\"4\""));
        // Not in ingress-nginx's series, but in the whole exposition and the counters.
        assert!(
            !m.render_nginx()
                .contains("nginx_ingress_controller_requests{")
        );
        assert!(m.render().contains("envoy_cluster_upstream_rq_total{"));
        assert_eq!(m.stats().total(), 5);
        assert_eq!(m.series_count(), 2);
    }

    #[test]
    fn label_values_are_escaped_in_output() {
        let m = Metrics::default();
        let mut o = obs(200, "", 0.01, 10);
        o.labels.path = "/a\"b".into();
        m.observe(&o);
        assert!(m.render().contains("path=\"/a\\\"b\""));
    }
}
