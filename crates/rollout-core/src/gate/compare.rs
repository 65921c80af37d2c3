//! The comparison check: the new version against the stable one on the same live traffic,
//! from the ingress controller's request metrics.
//!
//! Each measurement covers the traffic since the previous one (a window), so successive
//! measurements are independent samples rather than ever-growing totals in which a version
//! that went bad late would be drowned out by its good past.
//!
//! The counts come either straight from the controller's `/metrics` ([`Source::Scrape`]: two
//! snapshots, their difference) or from a Prometheus server that scrapes it
//! ([`Source::Prometheus`]: `increase(...)` over the time since the previous measurement).
//! Either way a version's requests are those its Service *served*, which for an ingress-nginx
//! canary means the series whose `canary` label names its upstream (see [`metrics`]).

use std::time::Instant;

use super::metrics::{self, ServiceCounters, Window};
use super::stats::{self, ErrorCounts, ErrorRatePolicy, LatencyPolicy, Verdict, percentile};
use super::{Measurement, Outcome, format, prometheus};
use crate::spec::{Compare, CompareMetric, StatTest};

/// Where the request counts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The ingress controller's metrics endpoint (`http://.../metrics`), read directly.
    Scrape { url: String },
    /// A Prometheus server (base URL) that scrapes the controller.
    Prometheus { address: String },
}

/// How far back the first Prometheus window looks when [`Comparer::start`] was not called.
const DEFAULT_RANGE_SECS: u64 = 60;

/// Compares the new version's Service with the stable one's, window by window.
#[derive(Debug, Clone)]
pub struct Comparer {
    source: Source,
    namespace: String,
    stable_service: String,
    new_service: String,
    /// Counters at the end of the previous window (Scrape).
    last: Option<metrics::Snapshot>,
    /// When the current window began (Prometheus).
    since: Option<Instant>,
}

impl Comparer {
    pub fn new(
        source: Source,
        namespace: impl Into<String>,
        stable_service: impl Into<String>,
        new_service: impl Into<String>,
    ) -> Self {
        Comparer {
            source,
            namespace: namespace.into(),
            stable_service: stable_service.into(),
            new_service: new_service.into(),
            last: None,
            since: None,
        }
    }

    /// Starts the window: remembers the counters now (Scrape) or the time (Prometheus). Call
    /// it before the first [`Comparer::measure`]; without it the first window counts from
    /// the controller's start (Scrape) or looks back a minute (Prometheus).
    pub async fn start(&mut self, http: &reqwest::Client) -> Result<(), String> {
        if let Source::Scrape { url } = &self.source {
            self.last = Some(metrics::scrape(http, url).await?);
        }
        self.since = Some(Instant::now());
        Ok(())
    }

    /// One measurement over the traffic since the previous call (or [`Comparer::start`]). A
    /// measurement that errors leaves the window open, so the next one covers its traffic too.
    pub async fn measure(
        &mut self,
        name: &str,
        compare: &Compare,
        http: &reqwest::Client,
    ) -> Measurement {
        let windows = match self.source.clone() {
            Source::Scrape { url } => self.scrape_windows(http, &url).await,
            Source::Prometheus { address } => self.prometheus_windows(http, &address).await,
        };
        match windows {
            Ok((new, stable)) => judge(name, compare, &new, &stable),
            Err(e) => Measurement::error(name, e),
        }
    }

    /// Both versions' windows from the difference between the last snapshot and a new one.
    async fn scrape_windows(
        &mut self,
        http: &reqwest::Client,
        url: &str,
    ) -> Result<(Window, Window), String> {
        let now = metrics::scrape(http, url).await?;
        let side = |service: &str| {
            let before = self
                .last
                .as_ref()
                .and_then(|s| s.served_by(&self.namespace, service));
            let after = now.served_by(&self.namespace, service).unwrap_or_default();
            metrics::window(before.as_ref(), &after)
        };
        let windows = (side(&self.new_service), side(&self.stable_service));
        self.last = Some(now);
        self.since = Some(Instant::now());
        Ok(windows)
    }

    /// Both versions' windows from Prometheus: increases over the time since the last window.
    async fn prometheus_windows(
        &mut self,
        http: &reqwest::Client,
        address: &str,
    ) -> Result<(Window, Window), String> {
        let began = Instant::now();
        // Whole seconds, rounded up so that no traffic falls between two windows; at least
        // one second, since a zero range is not valid PromQL.
        let range = self.since.map_or(DEFAULT_RANGE_SECS, |since| {
            since.elapsed().as_secs_f64().ceil().max(1.0) as u64
        });
        let (new, stable) = futures::try_join!(
            self.prometheus_counters(http, address, &self.new_service, range),
            self.prometheus_counters(http, address, &self.stable_service, range),
        )?;
        self.since = Some(began);
        Ok((metrics::window(None, &new), metrics::window(None, &stable)))
    }

    /// One Service's requests, 5xx answers and duration buckets over the last `range` seconds.
    async fn prometheus_counters(
        &self,
        http: &reqwest::Client,
        address: &str,
        service: &str,
        range: u64,
    ) -> Result<ServiceCounters, String> {
        let served = |metric: &str, extra: &str| {
            served_selector(metric, &self.namespace, service, extra, range)
        };
        let requests = format!("sum({})", served(metrics::REQUESTS, ""));
        let errors = format!("sum({})", served(metrics::REQUESTS, r#",status=~"5..""#));
        let buckets = format!(
            "sum by (le) ({})",
            served(&format!("{}_bucket", metrics::REQUEST_DURATION), "")
        );
        let (requests, errors, buckets) = futures::try_join!(
            prometheus::query(http, address, &requests),
            prometheus::query(http, address, &errors),
            prometheus::query_vector(http, address, &buckets),
        )?;
        // No series means no requests in the window.
        let count = |v: Option<f64>| v.and_then(metrics::to_count).unwrap_or(0);
        let mut counters = ServiceCounters {
            requests: count(requests),
            errors: count(errors),
            buckets: Vec::new(),
        };
        let mut bounds: Vec<(f64, u64)> = buckets
            .iter()
            .filter_map(|s| {
                let le = parse_le(s.labels.get("le")?)?;
                Some((le, metrics::to_count(s.value)?))
            })
            .collect();
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        counters.buckets = bounds;
        Ok(counters)
    }
}

/// `increase(metric{...}[Ns])` of the requests `service` served: its own series (empty
/// `canary` label) or those of an ingress-nginx canary upstream `<namespace>-<service>-<port>`.
/// `or` unites the two (their label sets differ in `canary`).
fn served_selector(
    metric: &str,
    namespace: &str,
    service: &str,
    extra: &str,
    range: u64,
) -> String {
    let ns = promql_string(namespace);
    let own = promql_string(service);
    let upstream = promql_string(&format!(
        "{}-{}-[^-]+",
        regex_literal(namespace),
        regex_literal(service)
    ));
    format!(
        r#"increase({metric}{{namespace="{ns}",service="{own}",canary=""{extra}}}[{range}s]) or increase({metric}{{namespace="{ns}",canary=~"{upstream}"{extra}}}[{range}s])"#
    )
}

/// Escapes a text for a double-quoted PromQL string.
fn promql_string(s: &str) -> String {
    s.replace('\\', r"\\").replace('"', "\\\"")
}

/// Escapes a text so that a regular expression matches it literally.
fn regex_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        _ => s.parse().ok().filter(|x: &f64| !x.is_nan()),
    }
}

/// The verdict of one window.
///
/// Below `compare.min_samples` requests on either side nothing is judged (inconclusive).
/// Otherwise each metric gets a [`Verdict`]: error rates with [`stats::compare_error_rates`]
/// (margin `maxErrorRateIncrease`, posterior probability `confidence`), latencies with
/// [`stats::compare_latencies`] (margin `maxLatencyIncrease` on the median, significance
/// 1 − `confidence`); with `test: threshold` the observed rates and medians are compared with
/// the allowed increase directly. Any metric worse fails the measurement, all not worse pass
/// it, anything else is inconclusive.
pub fn judge(name: &str, compare: &Compare, new: &Window, stable: &Window) -> Measurement {
    let new_counts = counts(new);
    let stable_counts = counts(stable);
    let new_ms = sorted_ms(&new.latencies);
    let stable_ms = sorted_ms(&stable.latencies);
    let new_p50 = percentile(&new_ms, 0.5);
    let stable_p50 = percentile(&stable_ms, 0.5);

    let mut m = Measurement::new(name, Outcome::Inconclusive, String::new())
        .figure("new_requests", new.requests as f64)
        .figure("stable_requests", stable.requests as f64)
        .figure("new_error_rate", new_counts.rate() * 100.0)
        .figure("stable_error_rate", stable_counts.rate() * 100.0);
    if let Some(p) = new_p50 {
        m = m.figure("new_p50_ms", p);
    }
    if let Some(p) = stable_p50 {
        m = m.figure("stable_p50_ms", p);
    }

    let min = u64::from(compare.min_samples);
    if new.requests < min || stable.requests < min {
        m.summary = format!(
            "not enough data: new {} requests, stable {}; need {min} each",
            new.requests, stable.requests
        );
        return m;
    }

    let mut parts = Vec::new();
    let mut verdicts = Vec::new();
    for metric in &compare.metrics {
        let (label, verdict) = match metric {
            CompareMetric::ErrorRate => {
                let label = format!(
                    "error rate new {} vs stable {} (n={}/{})",
                    format::percent(new_counts.rate() * 100.0),
                    format::percent(stable_counts.rate() * 100.0),
                    new.requests,
                    stable.requests
                );
                (
                    label,
                    error_rate_verdict(compare, new_counts, stable_counts),
                )
            }
            CompareMetric::Latency => {
                let label = match (new_p50, stable_p50) {
                    (Some(n), Some(s)) => format!(
                        "p50 new {} vs stable {} ({}, n={}/{})",
                        format::millis(n / 1000.0),
                        format::millis(s / 1000.0),
                        change(n, s),
                        new_ms.len(),
                        stable_ms.len()
                    ),
                    _ => format!("latency n={}/{}", new_ms.len(), stable_ms.len()),
                };
                (label, latency_verdict(compare, &new_ms, &stable_ms))
            }
        };
        parts.push(format!("{label}: {}", verdict_word(&verdict)));
        verdicts.push(verdict);
    }
    m.outcome = if verdicts.iter().any(Verdict::is_worse) {
        Outcome::Fail
    } else if !verdicts.is_empty() && verdicts.iter().all(Verdict::is_not_worse) {
        Outcome::Pass
    } else {
        Outcome::Inconclusive
    };
    m.summary = if parts.is_empty() {
        "no metric to compare".to_owned()
    } else {
        parts.join("; ")
    };
    m
}

fn counts(w: &Window) -> ErrorCounts {
    ErrorCounts::new(w.requests, w.errors.min(w.requests))
}

/// Latencies in milliseconds, so that the statistics' reasons read in the unit of summaries.
fn sorted_ms(seconds: &[f64]) -> Vec<f64> {
    let mut ms: Vec<f64> = seconds
        .iter()
        .map(|s| s * 1000.0)
        .filter(|x| x.is_finite())
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn error_rate_verdict(compare: &Compare, new: ErrorCounts, stable: ErrorCounts) -> Verdict {
    let margin = compare.max_error_rate_increase.ratio();
    match compare.test {
        StatTest::Threshold => {
            let limit = stable.rate() + margin;
            let reason = format!(
                "new {} vs allowed {}",
                format::percent(new.rate() * 100.0),
                format::percent(limit * 100.0)
            );
            if new.rate() > limit {
                Verdict::Worse { reason }
            } else {
                Verdict::NotWorse { reason }
            }
        }
        // `auto` and `z-test` (the only error-rate tests the validator lets through; a
        // mann-whitney on error rates is rejected there) use the beta-binomial comparison,
        // which unlike a z-test stays right with few errors.
        StatTest::Auto | StatTest::ZTest | StatTest::MannWhitney => {
            let policy = ErrorRatePolicy {
                margin,
                confidence: compare.confidence.ratio(),
                min_requests: u64::from(compare.min_samples),
            };
            stats::compare_error_rates(new, stable, &policy)
        }
    }
}

fn latency_verdict(compare: &Compare, new_ms: &[f64], stable_ms: &[f64]) -> Verdict {
    let margin = compare.max_latency_increase.ratio();
    match compare.test {
        StatTest::Threshold => {
            let (Some(n), Some(s)) = (percentile(new_ms, 0.5), percentile(stable_ms, 0.5)) else {
                return Verdict::NotEnoughData {
                    reason: "no latency samples".to_owned(),
                };
            };
            let limit = s * (1.0 + margin);
            let reason = format!(
                "new median {} vs allowed {}",
                format::millis(n / 1000.0),
                format::millis(limit / 1000.0)
            );
            if n > limit {
                Verdict::Worse { reason }
            } else {
                Verdict::NotWorse { reason }
            }
        }
        StatTest::Auto | StatTest::MannWhitney | StatTest::ZTest => {
            let policy = LatencyPolicy {
                alpha: 1.0 - compare.confidence.ratio(),
                margin_ratio: margin,
                min_samples: compare.min_samples as usize,
            };
            stats::compare_latencies(new_ms, stable_ms, &policy)
        }
    }
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Worse { .. } => "worse",
        Verdict::NotWorse { .. } => "not worse",
        Verdict::NotEnoughData { .. } => "not enough data",
    }
}

/// `+20%`, `-5%`, `+0%`: the new value relative to the stable one.
fn change(new: f64, stable: f64) -> String {
    if stable == 0.0 {
        return if new == 0.0 { "+0%" } else { "+∞%" }.to_owned();
    }
    format!("{:+.0}%", (new / stable - 1.0) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Percent;

    fn compare(test: StatTest) -> Compare {
        Compare {
            metrics: vec![CompareMetric::ErrorRate, CompareMetric::Latency],
            test,
            confidence: Percent::new(95.0).unwrap(),
            max_error_rate_increase: Percent::new(1.0).unwrap(),
            max_latency_increase: Percent::new(10.0).unwrap(),
            min_samples: 50,
        }
    }

    /// `requests` requests, `errors` of them 5xx, latencies spread over `[low, low + 10ms)`.
    fn window(requests: u64, errors: u64, low: f64) -> Window {
        Window {
            requests,
            errors,
            latencies: (0..requests)
                .map(|i| low + 0.01 * (i % 10) as f64 / 10.0)
                .collect(),
        }
    }

    #[test]
    fn bad_canary_fails() {
        let m = judge(
            "compare",
            &compare(StatTest::Auto),
            &window(420, 42, 0.010),
            &window(3800, 8, 0.010),
        );
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        assert!(
            m.summary
                .starts_with("error rate new 10% vs stable 0.21% (n=420/3800): worse"),
            "{}",
            m.summary
        );
        assert_eq!(m.figures["new_requests"], 420.0);
        assert_eq!(m.figures["stable_requests"], 3800.0);
        assert!((m.figures["new_error_rate"] - 10.0).abs() < 1e-9);
    }

    #[test]
    fn slow_canary_fails_on_latency() {
        let m = judge(
            "compare",
            &compare(StatTest::Auto),
            &window(500, 0, 0.050),
            &window(2000, 0, 0.010),
        );
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        assert!(
            m.summary.contains("p50 new 54.5ms vs stable 14.5ms (+276%"),
            "{}",
            m.summary
        );
    }

    #[test]
    fn equal_versions_pass() {
        let m = judge(
            "compare",
            &compare(StatTest::Auto),
            &window(1000, 2, 0.010),
            &window(1000, 2, 0.010),
        );
        assert_eq!(m.outcome, Outcome::Pass, "{}", m.summary);
        assert_eq!(
            m.summary,
            "error rate new 0.2% vs stable 0.2% (n=1000/1000): not worse; \
             p50 new 14.5ms vs stable 14.5ms (+0%, n=1000/1000): not worse"
        );
        assert!((m.figures["new_p50_ms"] - 14.5).abs() < 1e-9);
    }

    #[test]
    fn too_few_requests_are_inconclusive() {
        let m = judge(
            "compare",
            &compare(StatTest::Auto),
            &window(12, 12, 0.010),
            &window(300, 0, 0.010),
        );
        assert_eq!(m.outcome, Outcome::Inconclusive);
        assert_eq!(
            m.summary,
            "not enough data: new 12 requests, stable 300; need 50 each"
        );
        assert_eq!(m.figures["new_requests"], 12.0);
    }

    #[test]
    fn close_call_is_inconclusive() {
        // 3 errors in 60 against none in 60: suspicious, not yet shown.
        let m = judge(
            "compare",
            &Compare {
                metrics: vec![CompareMetric::ErrorRate],
                ..compare(StatTest::Auto)
            },
            &window(60, 3, 0.010),
            &window(60, 0, 0.010),
        );
        assert_eq!(m.outcome, Outcome::Inconclusive, "{}", m.summary);
        assert!(m.summary.ends_with("not enough data"), "{}", m.summary);
    }

    #[test]
    fn threshold_compares_observed_values() {
        let c = compare(StatTest::Threshold);
        // 1.5% vs 0.2% + 1pt allowed.
        let m = judge("c", &c, &window(200, 3, 0.010), &window(1000, 2, 0.010));
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        // 1% vs 0.2% + 1pt allowed, and a median 5% higher against 10% allowed.
        let mut new = window(200, 2, 0.010);
        new.latencies.iter_mut().for_each(|x| *x *= 1.05);
        let m = judge("c", &c, &new, &window(1000, 2, 0.010));
        assert_eq!(m.outcome, Outcome::Pass, "{}", m.summary);
        // No latencies at all: the latency metric cannot say.
        let mut new = window(200, 0, 0.010);
        new.latencies.clear();
        let m = judge("c", &c, &new, &window(1000, 2, 0.010));
        assert_eq!(m.outcome, Outcome::Inconclusive, "{}", m.summary);
    }

    #[test]
    fn selectors_cover_own_and_canary_series() {
        let q = served_selector("m", "shop", "web.v2", "", 30);
        assert_eq!(
            q,
            r#"increase(m{namespace="shop",service="web.v2",canary=""}[30s]) or increase(m{namespace="shop",canary=~"shop-web\\.v2-[^-]+"}[30s])"#
        );
        assert_eq!(promql_string(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(change(12.0, 10.0), "+20%");
        assert_eq!(change(9.5, 10.0), "-5%");
    }
}
