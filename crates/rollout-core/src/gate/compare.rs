//! The comparison check: the new version against the stable one on the same live traffic,
//! from the router's per-version request metrics.
//!
//! A comparison accumulates the evidence of both versions from the moment it starts —
//! requests, errors and requests per latency bucket — and judges it with the always-valid
//! sequential test of [`super::sequential`]: it may look after every window, as often as it
//! likes, and still says "worse" of two identical versions at most 1 − confidence of the time.
//! "Not worse" is said only with the confidence asked for; until then the answer is
//! inconclusive, with the requests it likely still needs.
//!
//! The counts come from the rollout's metrics [`Source`]: running totals (the controller's
//! `/metrics`, directly or through the API server's pod proxy), whose differences are the
//! windows, or a Prometheus server's `increase(...)` over the time since the previous window.
//! Either way a version's requests are those its Service *served*, as the router's observer
//! tells them apart (see [`crate::metrics::observer`]).

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use super::sequential::{self, Evidence, Metric, MetricJudgement, Policy};
use super::{Context, Gate, GateError, Measurement, Outcome, format};
use crate::metrics::observer::Observer;
use crate::metrics::{Counters, MetricsError, Source};
use crate::spec::{Compare, StatTest};

/// The comparison as a gate: every measurement judges everything since the gate started.
pub struct CompareGate {
    name: String,
    compare: Compare,
    comparer: Option<Comparer>,
}

impl CompareGate {
    pub fn new(name: String, compare: Compare) -> Self {
        CompareGate {
            name,
            compare,
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
            match &mut self.comparer {
                Some(c) => c.measure(&self.name, &self.compare, http).await,
                None => Measurement::error(&self.name, GateError::NoMetrics),
            }
        })
    }
}

/// How far back the first Prometheus window looks when [`Comparer::start`] was not called.
const DEFAULT_RANGE_SECS: u64 = 60;

/// Compares the new version's Service with the stable one's, on the evidence gathered since
/// [`Comparer::start`].
#[derive(Clone)]
pub struct Comparer {
    source: Arc<dyn Source>,
    observer: &'static dyn Observer,
    namespace: String,
    stable_service: String,
    new_service: String,
    /// Counters at the end of the previous window, for sources of running totals: new,
    /// stable.
    last: Option<(Counters, Counters)>,
    /// When the current window began (Prometheus).
    since: Option<Instant>,
    evidence: Evidence,
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
            evidence: Evidence::default(),
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

    /// Starts the comparison: no evidence yet, and the counters now (running totals) or the
    /// time (Prometheus) to measure the first window from. Without it the first window counts
    /// from the controller's start (running totals) or looks back a minute (Prometheus).
    pub async fn start(&mut self, http: &reqwest::Client) -> Result<(), MetricsError> {
        self.evidence = Evidence::default();
        if self.source.totals() {
            self.last = Some(self.read(http, 0).await?);
        }
        self.since = Some(Instant::now());
        Ok(())
    }

    /// Adds the traffic since the previous call (or [`Comparer::start`]) to the evidence and
    /// judges all of it. A read that fails leaves the window open, so the next one covers
    /// its traffic too.
    pub async fn measure(
        &mut self,
        name: &str,
        compare: &Compare,
        http: &reqwest::Client,
    ) -> Measurement {
        match self.window(http).await {
            Ok((new, stable)) => {
                self.evidence.add(&new, &stable);
                judge(name, compare, &self.evidence)
            }
            Err(e) => Measurement::error(name, crate::error::chain(&e)),
        }
    }

    /// Both versions' traffic in the window: the difference between the last running totals
    /// and new ones, or the increases over the time since the last window (Prometheus).
    async fn window(
        &mut self,
        http: &reqwest::Client,
    ) -> Result<(Counters, Counters), MetricsError> {
        let began = Instant::now();
        // Whole seconds, rounded up so that no traffic falls between two windows; at least
        // one second, since a zero range is not valid PromQL.
        let range = self.since.map_or(DEFAULT_RANGE_SECS, |since| {
            since.elapsed().as_secs_f64().ceil().max(1.0) as u64
        });
        let (new, stable) = self.read(http, range).await?;
        let window = match (self.source.totals(), &self.last) {
            (true, Some((new_before, stable_before))) => (
                new.since(Some(new_before)),
                stable.since(Some(stable_before)),
            ),
            _ => (new.clone(), stable.clone()),
        };
        if self.source.totals() {
            self.last = Some((new, stable));
        }
        self.since = Some(began);
        Ok(window)
    }
}

/// The measurement of the evidence so far.
///
/// Below `minSamples` requests on either version nothing is judged (inconclusive). With
/// `test: sequential` (the default) each metric is judged by [`sequential::judge`]; with
/// `test: threshold` the observed error rates and latency quantiles are compared with the
/// allowed increase directly, without statistics.
pub fn judge(name: &str, compare: &Compare, evidence: &Evidence) -> Measurement {
    let new = evidence.new_version();
    let stable = evidence.stable();
    let judgement = sequential::judge(evidence, &Policy::from_compare(compare));
    let mut m = Measurement::new(name, Outcome::Inconclusive, String::new())
        .figure("new_requests", new.requests as f64)
        .figure("stable_requests", stable.requests as f64)
        .figure("new_error_rate", new.error_rate() * 100.0)
        .figure("stable_error_rate", stable.error_rate() * 100.0);
    if let Some(l) = judgement.get(Metric::Latency) {
        if l.new_value.is_finite() {
            m = m.figure("new_p50_ms", l.new_value * 1000.0);
        }
        if l.stable_value.is_finite() {
            m = m.figure("stable_p50_ms", l.stable_value * 1000.0);
        }
    }
    let min = u64::from(compare.min_samples);
    if new.requests < min || stable.requests < min {
        m.summary = format!(
            "not enough data: new {} requests, stable {}; needs {} more on the new version, {} on stable (minSamples {min})",
            new.requests,
            stable.requests,
            min.saturating_sub(new.requests),
            min.saturating_sub(stable.requests),
        );
        return m.figure("more_new_requests", min.saturating_sub(new.requests) as f64);
    }
    match compare.test {
        StatTest::Threshold => threshold(m, compare, &judgement.metrics),
        StatTest::Sequential => {
            let more = judgement
                .metrics
                .iter()
                .filter_map(|j| j.decision.more_requests())
                .map(|more| more.new)
                .max();
            m.outcome = judgement.outcome();
            m.summary = judgement.summary();
            match more {
                Some(n) if m.outcome == Outcome::Inconclusive => {
                    m.figure("more_new_requests", n as f64)
                }
                _ => m,
            }
        }
    }
}

/// `test: threshold`: the observed values against the allowed increase, no statistics.
fn threshold(mut m: Measurement, compare: &Compare, judged: &[MetricJudgement]) -> Measurement {
    let mut parts = Vec::new();
    let mut worse = false;
    for j in judged {
        let (label, limit, over) = match j.metric {
            Metric::ErrorRate => {
                let limit = j.stable_value + compare.max_error_rate_increase.ratio();
                (
                    format!(
                        "error rate new {} vs allowed {}",
                        format::percent(j.new_value * 100.0),
                        format::percent(limit * 100.0)
                    ),
                    limit,
                    j.new_value > limit,
                )
            }
            Metric::Latency => {
                let limit = j.stable_value * (1.0 + compare.max_latency_increase.ratio());
                (
                    format!(
                        "p50 new {} vs allowed {}",
                        format::millis(j.new_value),
                        format::millis(limit)
                    ),
                    limit,
                    j.new_value > limit,
                )
            }
        };
        // No value on a side (no requests) says nothing either way.
        if !(j.new_value.is_finite() && limit.is_finite()) {
            parts.push(format!("{}: no data", j.metric));
            m.summary = parts.join("; ");
            return m;
        }
        worse |= over;
        parts.push(format!(
            "{label}: {}",
            if over { "worse" } else { "not worse" }
        ));
    }
    m.outcome = if judged.is_empty() {
        Outcome::Inconclusive
    } else if worse {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    m.summary = if parts.is_empty() {
        "no metric to compare".to_owned()
    } else {
        parts.join("; ")
    };
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CompareMetric, Percent};

    fn compare(test: StatTest, min_samples: u32) -> Compare {
        Compare {
            metrics: vec![CompareMetric::ErrorRate, CompareMetric::Latency],
            test,
            confidence: Percent::new(95.0).expect("percent"),
            max_error_rate_increase: Percent::new(1.0).expect("percent"),
            max_latency_increase: Percent::new(10.0).expect("percent"),
            min_samples,
        }
    }

    /// `requests` requests, `errors` of them 5xx, all in the 5–10 ms bucket.
    fn window(requests: u64, errors: u64) -> Counters {
        Counters {
            requests,
            errors,
            buckets: vec![(0.005, 0), (0.01, requests), (f64::INFINITY, requests)],
        }
    }

    fn evidence(new: Counters, stable: Counters) -> Evidence {
        let mut e = Evidence::default();
        e.add(&new, &stable);
        e
    }

    #[test]
    fn a_clearly_bad_canary_fails() {
        let m = judge(
            "errors",
            &compare(StatTest::Sequential, 50),
            &evidence(window(420, 84), window(3800, 8)),
        );
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        assert!(m.summary.contains("error rate"), "{}", m.summary);
    }

    #[test]
    fn few_requests_are_inconclusive_and_say_how_many_more() {
        let m = judge(
            "errors",
            &compare(StatTest::Sequential, 50),
            &evidence(window(20, 0), window(80, 0)),
        );
        assert_eq!(m.outcome, Outcome::Inconclusive, "{}", m.summary);
        assert_eq!(m.figures.get("more_new_requests"), Some(&30.0));
        let m = judge(
            "errors",
            &compare(StatTest::Sequential, 0),
            &evidence(window(20, 0), window(80, 0)),
        );
        assert_eq!(m.outcome, Outcome::Inconclusive, "{}", m.summary);
        assert!(m.figures.get("more_new_requests").is_some_and(|n| *n > 0.0));
    }

    #[test]
    fn evidence_adds_up_to_a_conclusive_not_worse() {
        let c = Compare {
            metrics: vec![CompareMetric::ErrorRate],
            ..compare(StatTest::Sequential, 50)
        };
        let mut e = Evidence::default();
        let mut last = Outcome::Inconclusive;
        for _ in 0..40 {
            e.add(&window(50, 0), &window(200, 0));
            last = judge("errors", &c, &e).outcome;
            if last != Outcome::Inconclusive {
                break;
            }
        }
        assert_eq!(last, Outcome::Pass);
    }

    #[test]
    fn threshold_compares_observed_values() {
        let c = compare(StatTest::Threshold, 50);
        let m = judge("c", &c, &evidence(window(100, 3), window(1000, 10)));
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        assert!(
            m.summary
                .starts_with("error rate new 3% vs allowed 2%: worse"),
            "{}",
            m.summary
        );
        let m = judge("c", &c, &evidence(window(100, 1), window(1000, 10)));
        assert_eq!(m.outcome, Outcome::Pass, "{}", m.summary);
    }
}
