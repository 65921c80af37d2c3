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
//! Either way a version's requests are those its Service *served*, as the router's observer
//! tells them apart (see [`crate::metrics::observer`]).

use std::time::Instant;

use futures::future::BoxFuture;

use super::stats::{self, ErrorCounts, ErrorRatePolicy, LatencyPolicy, Verdict, percentile};
use super::{Context, Gate, GateError, Measurement, Outcome, Span, format};
use crate::metrics::observer::Observer;
use std::sync::Arc;

use crate::metrics::{Counters, MetricsError, Source};
use crate::spec::{Compare, CompareMetric, StatTest};

/// The comparison as a gate. In [`Span::Windows`] each measurement covers the traffic since
/// the previous one; in [`Span::Cumulative`] every measurement covers everything since the
/// gate started (each works on a copy of the comparer started then), so a version that gets
/// little traffic still gathers enough requests to judge.
pub struct CompareGate {
    name: String,
    compare: Compare,
    span: Span,
    comparer: Option<Comparer>,
}

impl CompareGate {
    pub fn new(name: String, compare: Compare, span: Span) -> Self {
        CompareGate {
            name,
            compare,
            span,
            comparer: None,
        }
    }
}

impl Gate for CompareGate {
    fn start<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async move {
            let mut comparer = cx.comparer().ok_or(GateError::NoMetrics)?;
            comparer.start(cx.http(true)).await?;
            self.comparer = Some(comparer);
            Ok(())
        })
    }

    fn measure<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Measurement> {
        Box::pin(async move {
            if self.comparer.is_none()
                && let Err(e) = self.start(cx).await
            {
                return Measurement::error(&self.name, crate::error::chain(&e));
            }
            let http = cx.http(true);
            match (&mut self.comparer, self.span) {
                (Some(c), Span::Windows) => c.measure(&self.name, &self.compare, http).await,
                (Some(c), Span::Cumulative) => {
                    c.clone().measure(&self.name, &self.compare, http).await
                }
                (None, _) => Measurement::error(&self.name, GateError::NoMetrics),
            }
        })
    }
}

/// How far back the first Prometheus window looks when [`Comparer::start`] was not called.
const DEFAULT_RANGE_SECS: u64 = 60;

/// Compares the new version's Service with the stable one's, window by window.
#[derive(Clone)]
pub struct Comparer {
    source: Arc<dyn Source>,
    observer: &'static dyn Observer,
    namespace: String,
    stable_service: String,
    new_service: String,
    /// Counters at the end of the previous window (Scrape): new, stable.
    last: Option<(Counters, Counters)>,
    /// When the current window began (Prometheus).
    since: Option<Instant>,
}

impl Comparer {
    pub fn new(
        source: Arc<dyn Source>,
        observer: &'static dyn Observer,
        namespace: impl Into<String>,
        stable_service: impl Into<String>,
        new_service: impl Into<String>,
    ) -> Self {
        Comparer {
            source,
            observer,
            namespace: namespace.into(),
            stable_service: stable_service.into(),
            new_service: new_service.into(),
            last: None,
            since: None,
        }
    }

    async fn read(
        &self,
        http: &reqwest::Client,
        range_secs: u64,
    ) -> Result<(Counters, Counters), MetricsError> {
        let mut both = self
            .source
            .counters(
                http,
                self.observer,
                &self.namespace,
                &[&self.new_service, &self.stable_service],
                range_secs,
            )
            .await?
            .into_iter();
        let new = both.next().unwrap_or_default();
        let stable = both.next().unwrap_or_default();
        Ok((new, stable))
    }

    /// Starts the window: remembers the counters now (Scrape) or the time (Prometheus). Call
    /// it before the first [`Comparer::measure`]; without it the first window counts from
    /// the controller's start (Scrape) or looks back a minute (Prometheus).
    pub async fn start(&mut self, http: &reqwest::Client) -> Result<(), MetricsError> {
        if self.source.totals() {
            self.last = Some(self.read(http, 0).await?);
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
        match self.windows(http).await {
            Ok((new, stable)) => judge(name, compare, &new, &stable),
            Err(e) => Measurement::error(name, crate::error::chain(&e)),
        }
    }

    /// Both versions' windows: the difference between the last snapshot and a new one
    /// (Scrape), or the increases over the time since the last window (Prometheus).
    async fn windows(&mut self, http: &reqwest::Client) -> Result<(Window, Window), MetricsError> {
        let began = Instant::now();
        // Whole seconds, rounded up so that no traffic falls between two windows; at least
        // one second, since a zero range is not valid PromQL.
        let range = self.since.map_or(DEFAULT_RANGE_SECS, |since| {
            since.elapsed().as_secs_f64().ceil().max(1.0) as u64
        });
        let (new, stable) = self.read(http, range).await?;
        let windows = match (self.source.totals(), &self.last) {
            (true, Some((new_before, stable_before))) => (
                window(Some(new_before), &new),
                window(Some(stable_before), &stable),
            ),
            _ => (window(None, &new), window(None, &stable)),
        };
        if self.source.totals() {
            self.last = Some((new, stable));
        }
        self.since = Some(began);
        Ok(windows)
    }
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
pub fn window(before: Option<&Counters>, after: &Counters) -> Window {
    let empty = Counters::default();
    let mut before = before.unwrap_or(&empty);
    if after.reset_since(before) {
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
        let cumulative = n.saturating_sub(before.bucket(le)).max(cumulative_before);
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
    fn changes_read_as_percentages() {
        assert_eq!(change(12.0, 10.0), "+20%");
        assert_eq!(change(9.5, 10.0), "-5%");
    }

    fn counters(requests: u64, errors: u64, buckets: &[(f64, u64)]) -> Counters {
        Counters {
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
        let w = super::window(Some(&before), &after);
        assert_eq!((w.requests, w.errors), (10, 2));
        // 3 in the first bucket (at its bound), 4 between 5 and 10ms, 1 between 10 and
        // 100ms, 2 above 100ms (at the last finite bound).
        let mut expected = vec![0.005; 3];
        expected.extend([0.0075; 4]);
        expected.push(0.055);
        expected.extend([0.1; 2]);
        assert_eq!(w.latencies, expected);
        // From zero.
        let w = super::window(None, &before);
        assert_eq!((w.requests, w.errors, w.latencies.len()), (100, 10, 100));
    }

    #[test]
    fn window_after_a_reset_counts_from_zero() {
        let inf = f64::INFINITY;
        let before = counters(1000, 50, &[(0.005, 900), (0.01, 1000), (inf, 1000)]);
        let after = counters(30, 3, &[(0.005, 20), (0.01, 30), (inf, 30)]);
        let w = super::window(Some(&before), &after);
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
        let w = super::window(None, &after);
        assert_eq!(w.latencies.len(), 10);
        let w = super::window(Some(&counters(0, 0, &[(0.01, 0)])), &after);
        assert_eq!(w.latencies.len(), 10);
        // Errors never exceed requests.
        let w = super::window(None, &counters(3, 5, &[]));
        assert_eq!((w.requests, w.errors), (3, 3));
    }
}
