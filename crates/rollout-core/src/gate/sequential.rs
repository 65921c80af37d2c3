//! The sequential judge: is the new version worse than the stable one, judged on everything
//! seen so far and safe to ask again after every window.
//!
//! # The problem it solves
//!
//! A comparison gate looks at the data every interval and stops as soon as it has an answer.
//! Re-running a fixed-level test on the growing totals at every look ("peeking") makes a false
//! alarm far likelier than the level says: two identical versions at 5% errors, checked 60
//! times, get rolled back about 8% of the time at a nominal 5%. Judging each window on its own
//! does not help either: 60 independent looks at 5% each fail a healthy version almost surely
//! sooner or later. What a gate needs is a statement that holds *at every look at once*, so
//! that looking more often, or for longer, cannot add false alarms. [`judge`] gives it: at a
//! confidence of 95%, the chance that two identical versions are *ever* called worse, on either
//! metric, however often and however long the gate looks, is at most 5%.
//!
//! # Method: always-valid confidence sequences from Beta-mixture likelihood ratios
//!
//! Both metrics come down to the mean μ of a per-request value in [0, 1]: for the error rate
//! the value is 1 for a 5xx answer and 0 otherwise; for latency it is the share of the
//! request's histogram bucket that lies below a latency `x` (1 for buckets entirely below `x`,
//! 0 above, linear within the bucket holding `x`), whose mean is the histogram's interpolated
//! cumulative distribution F̃(x). After n requests with sum S, the Beta-mixture likelihood
//! ratio against a candidate mean μ is
//!
//! ```text
//!   M_n(μ) = ∫ q^S (1−q)^(n−S) π(dq) / (μ^S (1−μ)^(n−S))
//!          = Σ_k w_k · B(a_k + S, b_k + n − S) / B(a_k, b_k) / (μ^S (1−μ)^(n−S))
//! ```
//!
//! for a prior π = Σ w_k Beta(a_k, b_k). For Bernoulli data with mean μ it is a martingale
//! with M_0 = 1 (Robbins 1970; Lai 1976); for any [0, 1]-valued data with mean μ it is a
//! supermartingale, because q^x (1−q)^(1−x) is convex in x, so its expectation is at most that
//! of a Bernoulli with the same mean (the argument of Waudby-Smith & Ramdas 2024). Ville's
//! inequality (1939) then bounds the chance that it *ever* reaches 1/α by α, so the set
//! {μ : M_n(μ) < 1/α} is a confidence sequence: it holds the true mean at every n
//! simultaneously with probability at least 1 − α (Darling & Robbins 1967; Howard, Ramdas,
//! McAuliffe & Sekhon 2021). Two properties make it fit a gate:
//!
//! * **Any looks, any stopping.** The guarantee is over all n at once, so the gate may look
//!   after every window, skip looks, or stop whenever it likes; the error rates stay put
//!   (this is the "always valid" property of Johari, Koomen, Pekelis & Walsh 2022, whose mixture
//!   SPRT is the Gaussian cousin of this test).
//! * **Counts are enough.** M_n depends on the data only through n and S, so windows of counts
//!   (`increase()` over 10 s, or a scrape difference) give exactly the values request-by-request
//!   monitoring would have given at those instants, whatever the order inside a window.
//!
//! Rare events need no special care: with no error in n requests the upper bound on the rate
//! is 1 − (m_n · α)^(1/n) (m_n the mixture's marginal likelihood), about (ln(1/α) + ln(1/m_n))/n,
//! never zero. With the default policy it is 19% after 20 error-free requests, so they prove
//! nothing, and it falls below 1% after about 490 (against an error-free stable version, that
//! is "not worse" at a margin of one point).
//!
//! # Comparing the versions
//!
//! Each version gets its own sequences; the comparison combines them with a union bound:
//!
//! * **Error rate** (margin δ in absolute percentage points): the difference
//!   Δ = p_new − p_stable lies in [L_new − U_stable, U_new − L_stable]. *Worse* when the lower
//!   end exceeds δ, *not worse* when the upper end is at most δ.
//! * **Latency** (relative margin m on a quantile, the median by default): the histogram
//!   quantile Q̃ (the latency at which the interpolated distribution reaches q, exactly what
//!   Prometheus' `histogram_quantile` estimates) is bounded by inverting the sequence for
//!   F̃ at level q: Q̃ ≤ the first latency whose F̃ is confidently at least q, and Q̃ ≥ the last
//!   one whose F̃ is confidently below q (the bound for the unknown point Q̃ only needs the
//!   sequence at that one point, because the sum S(x) grows with x). *Worse* when the lower
//!   bound of Q̃_new > (1 + m) × the upper bound of Q̃_stable; *not worse* when the upper
//!   bound of Q̃_new ≤ (1 + m) × the lower bound of Q̃_stable. The interpolated quantile is a
//!   property of the bucket probabilities alone, so no assumption about the shape of the
//!   latencies inside a bucket is needed for the guarantee; identical versions have identical
//!   bucket probabilities. Only per-bucket counts are kept: memory is bounded by the number of
//!   buckets, and no per-request latency is ever stored.
//!
//! Error budget, with α = 1 − confidence. A false rollback needs some metric to say *worse*
//! wrongly, so *worse* spends α in total: α/k for each of the k metrics judged, half of it on
//! each version's one-sided bound. A bad version gets through only if the metric on which it
//! is worse says *not worse* wrongly (a pass needs every metric to say *not worse*), so each
//! metric's *not worse* spends α, half per version. The three answers exclude each other, and
//! an undecided metric never passes.
//!
//! # Prior
//!
//! Any fixed prior gives valid sequences; the prior only decides where the test is sharpest
//! (as the mixing variance does for the mixture SPRT). Each prior here is an equal mixture of
//! Jeffreys' Beta(½, ½), which is within ½·ln n of the best fit wherever the truth lies (the
//! Krichevsky–Trofimov mixture, 1981), and a component placed where decisions are made:
//!
//! * error rates: Beta(½, b) with b = [`RARE_SCALE`] / δ (clamped to [`RARE_B_RANGE`]), which
//!   puts its mass on rates of the order of the margin, where healthy services sit and where
//!   "at most +δ" is decided; a 0-error stream reaches "not worse" with fewer requests;
//! * latency at quantile q: Beta(k·q, k·(1 − q)) with k = [`QUANTILE_FOCUS`], which puts its
//!   mass within a few percent of q, where F̃ is evaluated.
//!
//! Jeffreys' half keeps the bounds tight far from the focus (a 50% error rate, a latency
//! doubling); the mixture costs at most ln 2 against the better component.
//!
//! # How many more requests
//!
//! An undecided metric comes with an estimate of the requests still needed: the smallest
//! growth of both versions' counts, in the current traffic split and at the current rates and
//! bucket shares, at which the same judge would decide. It is a plug-in projection (early on
//! it moves as the estimates move) and is `None` when the data sits on the margin itself,
//! where no amount of data decides.
//!
//! # Assumptions and limits
//!
//! Each version's requests are taken as independent with a steady error rate and latency
//! distribution over the comparison (the usual A/B assumption); both versions are measured
//! over the same period, so load swings hit both. The union bound and Ville's inequality make
//! the guarantee conservative: the actual false-alarm rate is usually well below α, which
//! `rollout bench judge` shows together with the sample sizes this costs.
//!
//! # References
//!
//! * J. Ville, *Étude critique de la notion de collectif*, Gauthier-Villars, 1939.
//! * A. Wald, "Sequential tests of statistical hypotheses", *Ann. Math. Statist.* 16, 1945.
//! * D. A. Darling, H. Robbins, "Confidence sequences for mean, variance, and median",
//!   *PNAS* 58, 1967.
//! * H. Robbins, "Statistical methods related to the law of the iterated logarithm",
//!   *Ann. Math. Statist.* 41, 1970.
//! * T. L. Lai, "On confidence sequences", *Ann. Statist.* 4, 1976.
//! * R. Krichevsky, V. Trofimov, "The performance of universal encoding", *IEEE Trans. Inf.
//!   Theory* 27, 1981.
//! * S. R. Howard, A. Ramdas, J. McAuliffe, J. Sekhon, "Time-uniform, nonparametric,
//!   nonasymptotic confidence sequences", *Ann. Statist.* 49, 2021.
//! * R. Johari, P. Koomen, L. Pekelis, D. Walsh, "Always valid inference: continuous monitoring
//!   of A/B tests", *Operations Research* 70, 2022.
//! * I. Waudby-Smith, A. Ramdas, "Estimating means of bounded random variables by betting",
//!   *J. R. Statist. Soc. B* 86, 2024.

use std::fmt;

use serde::Serialize;
use statrs::function::gamma::ln_gamma;

use super::Outcome;
use super::format;
use crate::metrics::Counters;
use crate::spec::{Compare, CompareMetric};

#[cfg(test)]
mod tests;

/// The upper bounds (seconds) of ingress-nginx's request duration histogram
/// (`nginx_ingress_controller_request_duration_seconds`, the Prometheus client's defaults);
/// the `+Inf` bucket is implicit.
pub const INGRESS_NGINX_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The error-rate prior's focused component is Beta(½, `RARE_SCALE` / margin): its mean is
/// about margin / (2·`RARE_SCALE`) and most of its mass lies below a few margins, so error-free
/// streams reach "at most +margin" early.
pub const RARE_SCALE: f64 = 2.0;

/// Range of the focused component's `b` (a margin of 0 would make it infinite).
pub const RARE_B_RANGE: (f64, f64) = (10.0, 10_000.0);

/// The latency prior's focused component is Beta(k·q, k·(1 − q)) with this k: a standard
/// deviation of about √(q(1−q)/k), 5 points at the median, the scale on which F̃ has to be
/// pinned down to tell a 10% slowdown.
pub const QUANTILE_FOCUS: f64 = 100.0;

/// The projection of an undecided metric's `more_requests` looks at most this many times the
/// current counts ahead (and never beyond 10¹² requests, where the log-likelihoods, of the
/// order of the count, would lose the precision the level needs).
const MAX_GROWTH: f64 = 1e6;

// ---------------------------------------------------------------------------------------------
// Evidence
// ---------------------------------------------------------------------------------------------

/// One version's traffic: requests, 5xx errors and requests per latency bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests answered.
    pub requests: u64,
    /// Of those, answered with a 5xx status.
    pub errors: u64,
    /// Requests per latency bucket (not cumulative): `buckets[j]` took more than
    /// `bounds[j - 1]` and at most `bounds[j]`; the last entry, one past the bounds, counts
    /// those above the last bound (`+Inf`). Empty when there is no histogram.
    pub buckets: Vec<u64>,
}

impl Counts {
    /// Counts with an empty histogram of `buckets` buckets (bounds + 1).
    pub fn with_buckets(buckets: usize) -> Self {
        Counts {
            requests: 0,
            errors: 0,
            buckets: vec![0; buckets],
        }
    }

    /// Requests in the latency histogram.
    pub fn latency_requests(&self) -> u64 {
        self.buckets.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// The observed error rate, 0 without requests.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors.min(self.requests) as f64 / self.requests as f64
        }
    }

    fn accumulate(&mut self, other: &Counts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors.min(other.requests));
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
    }

    fn clear_histogram(&mut self, buckets: usize) {
        self.buckets.clear();
        self.buckets.resize(buckets, 0);
    }
}

/// Evidence that cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvidenceError(String);

/// A policy that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

/// Everything seen of both versions since the comparison began: per version the requests,
/// errors and requests per latency bucket over one shared list of bucket bounds.
///
/// Memory is two counters plus one counter per bucket and version, however long it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Finite upper bounds of the latency buckets in seconds, ascending; `+Inf` is implicit.
    bounds: Vec<f64>,
    new: Counts,
    stable: Counts,
}

impl Default for Evidence {
    /// Empty evidence over ingress-nginx's buckets ([`INGRESS_NGINX_BUCKETS`]).
    fn default() -> Self {
        Evidence::empty(INGRESS_NGINX_BUCKETS.to_vec())
    }
}

impl Evidence {
    /// Empty evidence over the given bucket bounds (seconds): positive, strictly increasing
    /// and finite, except that a last `+Inf` is accepted (the `+Inf` bucket is always there).
    pub fn new(bounds: &[f64]) -> Result<Self, EvidenceError> {
        let mut finite: Vec<f64> = bounds.to_vec();
        if finite.last().is_some_and(|b| *b == f64::INFINITY) {
            finite.pop();
        }
        for (i, &b) in finite.iter().enumerate() {
            if !(b.is_finite() && b > 0.0) {
                return Err(EvidenceError(format!(
                    "bucket bound {b} is not a positive number of seconds"
                )));
            }
            if i > 0 && b <= finite[i - 1] {
                return Err(EvidenceError(format!(
                    "bucket bounds must increase: {} then {b}",
                    finite[i - 1]
                )));
            }
        }
        Ok(Evidence::empty(finite))
    }

    fn empty(bounds: Vec<f64>) -> Self {
        let buckets = bounds.len() + 1;
        Evidence {
            bounds,
            new: Counts::with_buckets(buckets),
            stable: Counts::with_buckets(buckets),
        }
    }

    /// The finite bucket bounds in seconds (the `+Inf` bucket follows them).
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The new version's totals.
    pub fn new_version(&self) -> &Counts {
        &self.new
    }

    /// The stable version's totals.
    pub fn stable(&self) -> &Counts {
        &self.stable
    }

    /// Adds one window of each version given per bucket on these bounds. A window's
    /// `buckets` is either empty (no histogram) or one longer than [`Evidence::bounds`];
    /// errors beyond the requests count as requests.
    pub fn add_counts(&mut self, new: &Counts, stable: &Counts) -> Result<(), EvidenceError> {
        let expected = self.bounds.len() + 1;
        for (side, c) in [("new", new), ("stable", stable)] {
            if !c.buckets.is_empty() && c.buckets.len() != expected {
                return Err(EvidenceError(format!(
                    "the {side} version's window has {} latency buckets, expected {expected}",
                    c.buckets.len()
                )));
            }
        }
        self.new.accumulate(new);
        self.stable.accumulate(stable);
        Ok(())
    }

    /// Adds one window of each version as the gate reads them: the *increase* of the counters
    /// over the window (what `increase(...)` returns, or [`Counters::since`] of two scrapes),
    /// histogram as cumulative `(le, count)` pairs.
    ///
    /// The histograms are mapped onto the evidence's bounds. While no latency has been added
    /// yet, the bounds become those the windows share, so any histogram layout works. A later
    /// window that lacks one of the bounds makes the evidence drop it (its bucket merges into
    /// the next one) rather than guess how the window's requests split there.
    pub fn add(&mut self, new: &Counters, stable: &Counters) {
        let windows = [new, stable];
        let histograms: Vec<Vec<f64>> = windows
            .iter()
            .filter(|w| !w.buckets.is_empty())
            .map(|w| finite_bounds(w))
            .collect();
        if self.new.latency_requests() == 0
            && self.stable.latency_requests() == 0
            && let Some(first) = histograms.first()
        {
            let shared: Vec<f64> = first
                .iter()
                .copied()
                .filter(|b| histograms.iter().all(|h| contains_bound(h, *b)))
                .collect();
            if shared != self.bounds {
                let buckets = shared.len() + 1;
                self.bounds = shared;
                self.new.clear_histogram(buckets);
                self.stable.clear_histogram(buckets);
            }
        }
        for les in &histograms {
            self.coarsen_to(les);
        }
        let to_counts = |w: &Counters| Counts {
            requests: w.requests,
            errors: w.errors.min(w.requests),
            buckets: if w.buckets.is_empty() {
                Vec::new()
            } else {
                per_bucket(&self.bounds, &w.buckets)
            },
        };
        let (n, s) = (to_counts(new), to_counts(stable));
        self.new.accumulate(&n);
        self.stable.accumulate(&s);
    }

    /// Drops the bounds `les` lacks, merging each dropped bucket into the next.
    fn coarsen_to(&mut self, les: &[f64]) {
        let keep: Vec<bool> = self
            .bounds
            .iter()
            .map(|b| contains_bound(les, *b))
            .collect();
        if keep.iter().all(|k| *k) {
            return;
        }
        for side in [&mut self.new, &mut self.stable] {
            let mut merged = Vec::with_capacity(side.buckets.len());
            let mut carry = 0u64;
            for (j, &c) in side.buckets.iter().enumerate() {
                carry = carry.saturating_add(c);
                if keep.get(j).copied().unwrap_or(true) {
                    merged.push(carry);
                    carry = 0;
                }
            }
            side.buckets = merged;
        }
        let mut j = 0;
        self.bounds.retain(|_| {
            j += 1;
            keep[j - 1]
        });
        let buckets = self.bounds.len() + 1;
        for side in [&mut self.new, &mut self.stable] {
            if side.buckets.len() != buckets {
                side.clear_histogram(buckets);
            }
        }
    }
}

/// The finite positive `le` values of a histogram, ascending, without duplicates.
fn finite_bounds(w: &Counters) -> Vec<f64> {
    let mut les: Vec<f64> = w
        .buckets
        .iter()
        .map(|(le, _)| *le)
        .filter(|le| le.is_finite() && *le > 0.0)
        .collect();
    les.sort_by(f64::total_cmp);
    les.dedup_by(|a, b| same_bound(*a, *b));
    les
}

/// Bounds parsed from the same exposition are equal; a relative tolerance keeps `0.1` from two
/// different formatters equal too.
fn same_bound(a: f64, b: f64) -> bool {
    a == b || (a.is_finite() && b.is_finite() && (a - b).abs() <= 1e-9 * a.abs().max(b.abs()))
}

fn contains_bound(les: &[f64], b: f64) -> bool {
    les.iter().any(|le| same_bound(*le, b))
}

/// Per-bucket counts on `bounds` (+Inf last) from cumulative `(le, count)` pairs. Every bound
/// is among the `le`s (see [`Evidence::coarsen_to`]); the cumulative counts are made monotone,
/// since Prometheus' extrapolated increases can dip by rounding.
fn per_bucket(bounds: &[f64], cumulative: &[(f64, u64)]) -> Vec<u64> {
    let mut sorted: Vec<(f64, u64)> = cumulative
        .iter()
        .copied()
        .filter(|(le, _)| !le.is_nan())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut running = 0u64;
    let mut before = 0u64;
    let mut next = sorted.iter().peekable();
    for &b in bounds {
        while let Some(&&(le, n)) = next.peek() {
            if le < b || same_bound(le, b) {
                running = running.max(n);
                next.next();
            } else {
                break;
            }
        }
        out.push(running - before);
        before = running;
    }
    for &(_, n) in next {
        running = running.max(n);
    }
    out.push(running - before);
    out
}

// ---------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------

/// How the judge decides.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Policy {
    /// 1 − the largest chance of a wrong answer (e.g. 0.95): of calling identical versions
    /// worse on any metric, ever, and of calling a version not worse on a metric where it is
    /// worse. In (0, 1).
    pub confidence: f64,
    /// How much higher (absolute, 0.01 = one percentage point) the new version's error rate may
    /// be than stable's. In [0, 1). At 0, "not worse" needs the new version to be better.
    pub max_error_rate_increase: f64,
    /// How much slower (relative, 0.1 = 10%) the new version's latency quantile may be.
    /// Finite, not negative.
    pub max_latency_increase: f64,
    /// The latency quantile compared, in (0, 1): 0.5 for the median.
    pub latency_quantile: f64,
    /// Judge the error rate.
    pub error_rate: bool,
    /// Judge the latency.
    pub latency: bool,
}

impl Default for Policy {
    /// 95% confidence, +1 point of errors, +10% on the median latency, both metrics.
    fn default() -> Self {
        Policy::new(0.95, 0.01, 0.10)
    }
}

impl Policy {
    /// Both metrics, the median latency.
    pub fn new(confidence: f64, max_error_rate_increase: f64, max_latency_increase: f64) -> Self {
        Policy {
            confidence,
            max_error_rate_increase,
            max_latency_increase,
            latency_quantile: 0.5,
            error_rate: true,
            latency: true,
        }
    }

    /// The policy of a strategy file's compare check: its confidence, margins and metrics.
    /// The check's `test` and `minSamples` have no part in it (the sequential bounds account
    /// for small samples themselves).
    pub fn from_compare(compare: &Compare) -> Self {
        Policy {
            error_rate: compare.metrics.contains(&CompareMetric::ErrorRate),
            latency: compare.metrics.contains(&CompareMetric::Latency),
            ..Policy::new(
                compare.confidence.ratio(),
                compare.max_error_rate_increase.ratio(),
                compare.max_latency_increase.ratio(),
            )
        }
    }

    /// Why the policy cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), PolicyError> {
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(PolicyError(format!(
                "confidence {} must be between 0 and 1",
                self.confidence
            )));
        }
        if !(self.max_error_rate_increase.is_finite()
            && (0.0..1.0).contains(&self.max_error_rate_increase))
        {
            return Err(PolicyError(format!(
                "maximum error-rate increase {} must be in [0, 1)",
                self.max_error_rate_increase
            )));
        }
        if !(self.max_latency_increase.is_finite() && self.max_latency_increase >= 0.0) {
            return Err(PolicyError(format!(
                "maximum latency increase {} must be finite and not negative",
                self.max_latency_increase
            )));
        }
        if !(self.latency_quantile > 0.0 && self.latency_quantile < 1.0) {
            return Err(PolicyError(format!(
                "latency quantile {} must be between 0 and 1",
                self.latency_quantile
            )));
        }
        Ok(())
    }

    /// The metrics judged.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut m = Vec::with_capacity(2);
        if self.error_rate {
            m.push(Metric::ErrorRate);
        }
        if self.latency {
            m.push(Metric::Latency);
        }
        m
    }

    /// α = 1 − confidence.
    pub fn alpha(&self) -> f64 {
        1.0 - self.confidence
    }

    /// The chance each metric may spend on a wrong "worse": α shared by the metrics judged.
    pub fn worse_alpha(&self) -> f64 {
        self.alpha() / self.metrics().len().max(1) as f64
    }

    /// The chance each metric may spend on a wrong "not worse": α.
    pub fn not_worse_alpha(&self) -> f64 {
        self.alpha()
    }
}

// ---------------------------------------------------------------------------------------------
// Judgement
// ---------------------------------------------------------------------------------------------

/// A compared metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    ErrorRate,
    Latency,
}

impl Metric {
    /// The name strategy files use: `error-rate`, `latency`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error-rate",
            Metric::Latency => "latency",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decision without its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Worse,
    NotWorse,
    Undecided,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Worse => "worse",
            Kind::NotWorse => "not worse",
            Kind::Undecided => "undecided",
        }
    }
}

/// How many more requests each version would likely need before a metric is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct More {
    /// More requests on the new version.
    pub new: u64,
    /// More requests on the stable version (in the current traffic split).
    pub stable: u64,
}

/// The judge's answer for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The new version is worse than stable by more than the margin (fail).
    Worse { reason: String },
    /// The new version is not worse than stable by more than the margin (pass).
    NotWorse { reason: String },
    /// Neither can be said yet.
    Undecided {
        reason: String,
        /// The likely requests still needed to decide, at the current rates and traffic
        /// split; `None` without data on a version or when the data sits on the margin.
        more_requests: Option<More>,
    },
}

impl Decision {
    pub fn kind(&self) -> Kind {
        match self {
            Decision::Worse { .. } => Kind::Worse,
            Decision::NotWorse { .. } => Kind::NotWorse,
            Decision::Undecided { .. } => Kind::Undecided,
        }
    }

    /// Why, with the numbers.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Worse { reason }
            | Decision::NotWorse { reason }
            | Decision::Undecided { reason, .. } => reason,
        }
    }

    pub fn is_worse(&self) -> bool {
        self.kind() == Kind::Worse
    }

    pub fn is_not_worse(&self) -> bool {
        self.kind() == Kind::NotWorse
    }

    pub fn is_undecided(&self) -> bool {
        self.kind() == Kind::Undecided
    }

    /// The estimate of the requests still needed, for an undecided metric.
    pub fn more_requests(&self) -> Option<More> {
        match self {
            Decision::Undecided { more_requests, .. } => *more_requests,
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind().as_str(), self.reason())
    }
}

/// One metric's judgement with its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricJudgement {
    pub metric: Metric,
    pub decision: Decision,
    /// The new version's observed value: error rate (fraction) or latency quantile (seconds;
    /// infinite when it lies in the `+Inf` bucket, NaN without data).
    pub new_value: f64,
    /// The stable version's, likewise.
    pub stable_value: f64,
    /// The compared quantity: new − stable for the error rate, new / stable for latency.
    pub estimate: f64,
    /// Always-valid lower bound of the compared quantity, at the "worse" confidence.
    pub low: f64,
    /// Always-valid upper bound of the compared quantity, at the "not worse" confidence.
    pub high: f64,
    /// The largest allowed value of the compared quantity: the margin for the error rate,
    /// 1 + margin for latency.
    pub limit: f64,
}

/// The judge's answers for the metrics of a [`Policy`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub metrics: Vec<MetricJudgement>,
}

impl Judgement {
    /// Fail when any metric is worse; pass when there are metrics and all are not worse;
    /// otherwise inconclusive (an undecided metric never passes).
    pub fn outcome(&self) -> Outcome {
        self.decisions().outcome()
    }

    /// One metric's judgement.
    pub fn get(&self, metric: Metric) -> Option<&MetricJudgement> {
        self.metrics.iter().find(|m| m.metric == metric)
    }

    /// The decisions without reasons, as [`decide`] returns them.
    pub fn decisions(&self) -> Decisions {
        let kind = |m: Metric| self.get(m).map(|j| j.decision.kind());
        Decisions {
            error_rate: kind(Metric::ErrorRate),
            latency: kind(Metric::Latency),
        }
    }

    /// One line: each metric's decision and reason, `; `-separated.
    pub fn summary(&self) -> String {
        if self.metrics.is_empty() {
            return "no metric to compare".to_owned();
        }
        self.metrics
            .iter()
            .map(|m| m.decision.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The decisions of [`decide`]: `None` for a metric the policy does not judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Decisions {
    pub error_rate: Option<Kind>,
    pub latency: Option<Kind>,
}

impl Decisions {
    /// As [`Judgement::outcome`].
    pub fn outcome(&self) -> Outcome {
        let kinds: Vec<Kind> = [self.error_rate, self.latency]
            .into_iter()
            .flatten()
            .collect();
        if kinds.contains(&Kind::Worse) {
            Outcome::Fail
        } else if !kinds.is_empty() && kinds.iter().all(|k| *k == Kind::NotWorse) {
            Outcome::Pass
        } else {
            Outcome::Inconclusive
        }
    }

    /// The first metric found worse (error rate before latency).
    pub fn worse(&self) -> Option<Metric> {
        if self.error_rate == Some(Kind::Worse) {
            Some(Metric::ErrorRate)
        } else if self.latency == Some(Kind::Worse) {
            Some(Metric::Latency)
        } else {
            None
        }
    }
}

/// Judges the evidence so far: each metric of the policy is worse, not worse or undecided
/// (with the likely requests still needed), with the numbers in its reason.
///
/// Safe to call after every window, as often as wanted: see the module documentation for the
/// guarantee. Deterministic; a few hundred microseconds at most.
pub fn judge(evidence: &Evidence, policy: &Policy) -> Judgement {
    if let Err(why) = policy.check() {
        return Judgement {
            metrics: policy
                .metrics()
                .into_iter()
                .map(|metric| MetricJudgement {
                    metric,
                    decision: Decision::Undecided {
                        reason: format!("invalid policy: {why}"),
                        more_requests: None,
                    },
                    new_value: f64::NAN,
                    stable_value: f64::NAN,
                    estimate: f64::NAN,
                    low: f64::NAN,
                    high: f64::NAN,
                    limit: f64::NAN,
                })
                .collect(),
        };
    }
    let metrics = policy
        .metrics()
        .into_iter()
        .map(|metric| match metric {
            Metric::ErrorRate => judge_error_rate(evidence, policy),
            Metric::Latency => judge_latency(evidence, policy),
        })
        .collect();
    Judgement { metrics }
}

/// The decisions of [`judge`] without reasons, bounds reported or projections: the same
/// answers, computing only the bound each answer hangs on. For simulations that judge
/// millions of times.
pub fn decide(evidence: &Evidence, policy: &Policy) -> Decisions {
    let valid = policy.check().is_ok();
    let kind =
        |on: bool, f: &dyn Fn() -> Kind| on.then(|| if valid { f() } else { Kind::Undecided });
    Decisions {
        error_rate: kind(policy.error_rate, &|| {
            assess_rates(&RateView::of(evidence, 1.0), policy, false).kind
        }),
        latency: kind(policy.latency, &|| {
            assess_latency(&HistView::of(evidence, 1.0), policy, false).kind
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Error rate
// ---------------------------------------------------------------------------------------------

/// Both versions' error counts as reals, scaled by a growth factor for projections.
struct RateView {
    new_errors: f64,
    new_requests: f64,
    stable_errors: f64,
    stable_requests: f64,
}

impl RateView {
    fn of(e: &Evidence, scale: f64) -> Self {
        let side = |c: &Counts| {
            (
                c.errors.min(c.requests) as f64 * scale,
                c.requests as f64 * scale,
            )
        };
        let (new_errors, new_requests) = side(&e.new);
        let (stable_errors, stable_requests) = side(&e.stable);
        RateView {
            new_errors,
            new_requests,
            stable_errors,
            stable_requests,
        }
    }
}

fn ratio_or_zero(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { 0.0 }
}

struct RateAssessment {
    kind: Kind,
    /// Lower bound of new − stable at the "worse" confidence (computed when needed or asked).
    low: Option<f64>,
    /// Upper bound at the "not worse" confidence.
    high: Option<f64>,
}

/// The error-rate decision. Only the bound on the side of the margin where the observed
/// difference lies can decide (the bounds always contain the observed difference), so the
/// other is computed only when `full`.
fn assess_rates(v: &RateView, policy: &Policy, full: bool) -> RateAssessment {
    let margin = policy.max_error_rate_increase;
    let prior = Prior::error_rate(margin);
    let observed = ratio_or_zero(v.new_errors, v.new_requests)
        - ratio_or_zero(v.stable_errors, v.stable_requests);
    let worse_side = observed > margin;
    let new_fail = v.new_requests - v.new_errors;
    let stable_fail = v.stable_requests - v.stable_errors;
    let low = (worse_side || full).then(|| {
        let c = threshold(policy.worse_alpha() / 2.0);
        mean_bound(&prior, v.new_errors, new_fail, c, Side::Lower)
            - mean_bound(&prior, v.stable_errors, stable_fail, c, Side::Upper)
    });
    let high = (!worse_side || full).then(|| {
        let c = threshold(policy.not_worse_alpha() / 2.0);
        mean_bound(&prior, v.new_errors, new_fail, c, Side::Upper)
            - mean_bound(&prior, v.stable_errors, stable_fail, c, Side::Lower)
    });
    let kind = if worse_side {
        if low.is_some_and(|l| l > margin) {
            Kind::Worse
        } else {
            Kind::Undecided
        }
    } else if high.is_some_and(|h| h <= margin) {
        Kind::NotWorse
    } else {
        Kind::Undecided
    };
    RateAssessment { kind, low, high }
}

fn judge_error_rate(e: &Evidence, policy: &Policy) -> MetricJudgement {
    let a = assess_rates(&RateView::of(e, 1.0), policy, true);
    let (new, stable) = (&e.new, &e.stable);
    let margin = policy.max_error_rate_increase;
    let low = a.low.unwrap_or(f64::NAN);
    let high = a.high.unwrap_or(f64::NAN);
    let summary = format!(
        "error rate new {} ({}/{}) vs stable {} ({}/{})",
        rate_text(new.error_rate()),
        count_text(new.errors.min(new.requests)),
        count_text(new.requests),
        rate_text(stable.error_rate()),
        count_text(stable.errors.min(stable.requests)),
        count_text(stable.requests),
    );
    let worse_conf = percent_text(1.0 - policy.worse_alpha());
    let not_worse_conf = percent_text(1.0 - policy.not_worse_alpha());
    let allowed = points_text(margin);
    let decision = match a.kind {
        Kind::Worse => Decision::Worse {
            reason: format!(
                "{summary}: higher by at least {} ({worse_conf} always-valid bound), more than the allowed {allowed}",
                points_text(low)
            ),
        },
        Kind::NotWorse => Decision::NotWorse {
            reason: format!(
                "{summary}: higher by at most {} ({not_worse_conf} always-valid bound), within the allowed {allowed}",
                points_text(high)
            ),
        },
        Kind::Undecided => {
            let more = project(e, policy, Metric::ErrorRate);
            Decision::Undecided {
                reason: format!(
                    "{summary}: difference between {} and {} (always-valid bounds), the allowed {allowed} in between{}",
                    points_text(low),
                    points_text(high),
                    more_text(&more, new.requests, stable.requests)
                ),
                more_requests: more,
            }
        }
    };
    MetricJudgement {
        metric: Metric::ErrorRate,
        decision,
        new_value: new.error_rate(),
        stable_value: stable.error_rate(),
        estimate: new.error_rate() - stable.error_rate(),
        low,
        high,
        limit: margin,
    }
}

// ---------------------------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------------------------

/// Both versions' histograms, with a growth factor for projections.
struct HistView<'a> {
    bounds: &'a [f64],
    new: &'a [u64],
    stable: &'a [u64],
    scale: f64,
}

impl<'a> HistView<'a> {
    fn of(e: &'a Evidence, scale: f64) -> Self {
        HistView {
            bounds: &e.bounds,
            new: &e.new.buckets,
            stable: &e.stable.buckets,
            scale,
        }
    }
}

struct LatencyAssessment {
    kind: Kind,
    /// Observed quantiles (seconds), NaN without data.
    new_q: f64,
    stable_q: f64,
    /// Lower bound of new / stable at the "worse" confidence.
    low: Option<f64>,
    /// Upper bound at the "not worse" confidence.
    high: Option<f64>,
}

/// One end of the confidence sequence for one version's histogram quantile at level `c`
/// (= ln(1/α)), in seconds.
fn quantile_bounds(
    prior: &Prior,
    bounds: &[f64],
    counts: &[u64],
    scale: f64,
    q: f64,
    c: f64,
    side: Side,
) -> f64 {
    let n = total(counts) * scale;
    match side {
        // The first latency whose F̃ is confidently ≥ q; none: unbounded.
        Side::Upper => rank_threshold(prior, n, q, c, Side::Upper)
            .map_or(f64::INFINITY, |s| position(bounds, counts, s / scale)),
        // The first latency whose F̃ is not confidently < q; none: 0.
        Side::Lower => rank_threshold(prior, n, q, c, Side::Lower)
            .map_or(0.0, |s| position(bounds, counts, s / scale)),
    }
}

/// The latency decision; as for error rates only the bound on the observed side is needed.
fn assess_latency(v: &HistView<'_>, policy: &Policy, full: bool) -> LatencyAssessment {
    let q = policy.latency_quantile;
    let limit = 1.0 + policy.max_latency_increase;
    let (n_new, n_stable) = (total(v.new), total(v.stable));
    if n_new <= 0.0 || n_stable <= 0.0 {
        return LatencyAssessment {
            kind: Kind::Undecided,
            new_q: if n_new > 0.0 {
                position(v.bounds, v.new, n_new * q)
            } else {
                f64::NAN
            },
            stable_q: if n_stable > 0.0 {
                position(v.bounds, v.stable, n_stable * q)
            } else {
                f64::NAN
            },
            low: None,
            high: None,
        };
    }
    let prior = Prior::quantile(q);
    let new_q = position(v.bounds, v.new, n_new * q);
    let stable_q = position(v.bounds, v.stable, n_stable * q);
    let worse_side = new_q > limit * stable_q;
    let bound = |counts: &[u64], c: f64, side: Side| {
        quantile_bounds(&prior, v.bounds, counts, v.scale, q, c, side)
    };
    let worse = (worse_side || full).then(|| {
        let c = threshold(policy.worse_alpha() / 2.0);
        (
            bound(v.new, c, Side::Lower),
            bound(v.stable, c, Side::Upper),
        )
    });
    let not_worse = (!worse_side || full).then(|| {
        let c = threshold(policy.not_worse_alpha() / 2.0);
        (
            bound(v.new, c, Side::Upper),
            bound(v.stable, c, Side::Lower),
        )
    });
    let kind = if worse_side {
        // An unbounded stable quantile shows nothing; a new one beyond every bucket does.
        match worse {
            Some((new_low, stable_high))
                if stable_high.is_finite() && new_low > limit * stable_high =>
            {
                Kind::Worse
            }
            _ => Kind::Undecided,
        }
    } else {
        match not_worse {
            Some((new_high, stable_low))
                if new_high.is_finite() && new_high <= limit * stable_low =>
            {
                Kind::NotWorse
            }
            _ => Kind::Undecided,
        }
    };
    LatencyAssessment {
        kind,
        new_q,
        stable_q,
        low: worse.map(|(n, s)| quotient(n, s)),
        high: not_worse.map(|(n, s)| quotient(n, s)),
    }
}

/// a / b for latencies: ∞ over a finite value is ∞, anything over 0 is ∞ unless it is 0 too
/// (then 1: both at the bottom of the first bucket), ∞ / ∞ is NaN (unknown).
fn quotient(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        if a == 0.0 { 1.0 } else { f64::INFINITY }
    } else {
        a / b
    }
}

fn judge_latency(e: &Evidence, policy: &Policy) -> MetricJudgement {
    let a = assess_latency(&HistView::of(e, 1.0), policy, true);
    let limit = 1.0 + policy.max_latency_increase;
    let (n_new, n_stable) = (e.new.latency_requests(), e.stable.latency_requests());
    let label = quantile_label(policy.latency_quantile);
    let estimate = quotient(a.new_q, a.stable_q);
    let low = a.low.unwrap_or(f64::NAN);
    let high = a.high.unwrap_or(f64::NAN);
    let summary = format!(
        "{label} latency new {} vs stable {} ({}; {} vs {} requests)",
        latency_text(a.new_q, &e.bounds),
        latency_text(a.stable_q, &e.bounds),
        change_text(estimate),
        count_text(n_new),
        count_text(n_stable),
    );
    let worse_conf = percent_text(1.0 - policy.worse_alpha());
    let not_worse_conf = percent_text(1.0 - policy.not_worse_alpha());
    let allowed = change_text(limit);
    let decision = match a.kind {
        Kind::Worse => Decision::Worse {
            reason: format!(
                "{summary}: change at least {} ({worse_conf} always-valid bound), more than the allowed {allowed}",
                change_text(low)
            ),
        },
        Kind::NotWorse => Decision::NotWorse {
            reason: format!(
                "{summary}: change at most {} ({not_worse_conf} always-valid bound), within the allowed {allowed}",
                change_text(high)
            ),
        },
        Kind::Undecided => {
            let more = project(e, policy, Metric::Latency);
            let why = if n_new == 0 || n_stable == 0 {
                "no latency histogram on a version yet".to_owned()
            } else {
                format!(
                    "change between {} and {} (always-valid bounds), the allowed {allowed} in between",
                    change_text(low),
                    change_text(high)
                )
            };
            Decision::Undecided {
                reason: format!("{summary}: {why}{}", more_text(&more, n_new, n_stable)),
                more_requests: more,
            }
        }
    };
    MetricJudgement {
        metric: Metric::Latency,
        decision,
        new_value: a.new_q,
        stable_value: a.stable_q,
        estimate,
        low,
        high,
        limit,
    }
}

fn total(counts: &[u64]) -> f64 {
    counts.iter().map(|&c| c as f64).sum()
}

/// The latency at which the interpolated cumulative count reaches `s`: inf{x : S(x) ≥ s},
/// S growing linearly inside each bucket (from 0 at the bottom of the first one). In the
/// `+Inf` bucket, or beyond all requests, it is ∞.
fn position(bounds: &[f64], counts: &[u64], s: f64) -> f64 {
    if s <= 0.0 {
        return 0.0;
    }
    let mut below = 0.0;
    let mut lo = 0.0;
    for (j, &c) in counts.iter().enumerate() {
        let hi = bounds.get(j).copied().unwrap_or(f64::INFINITY);
        let c = c as f64;
        if c > 0.0 && below + c >= s {
            if !hi.is_finite() {
                return f64::INFINITY;
            }
            return lo + (s - below) / c * (hi - lo);
        }
        below += c;
        lo = hi;
    }
    f64::INFINITY
}

// ---------------------------------------------------------------------------------------------
// How many more requests
// ---------------------------------------------------------------------------------------------

/// The smallest growth of both versions' counts (same rates, same traffic split) at which the
/// metric would be decided, as more requests per version.
fn project(e: &Evidence, policy: &Policy, metric: Metric) -> Option<More> {
    let (n_new, n_stable) = match metric {
        Metric::ErrorRate => (e.new.requests, e.stable.requests),
        Metric::Latency => (e.new.latency_requests(), e.stable.latency_requests()),
    };
    if n_new == 0 || n_stable == 0 {
        return None;
    }
    let decided = |scale: f64| {
        let kind = match metric {
            Metric::ErrorRate => assess_rates(&RateView::of(e, scale), policy, false).kind,
            Metric::Latency => assess_latency(&HistView::of(e, scale), policy, false).kind,
        };
        kind != Kind::Undecided
    };
    let largest = n_new.max(n_stable) as f64;
    let (mut lo, mut hi) = (1.0_f64, 2.0_f64);
    while !decided(hi) {
        lo = hi;
        hi *= 2.0;
        if hi > MAX_GROWTH || largest * hi > 1e12 {
            return None;
        }
    }
    // Geometric bisection to about 1%: the estimate is a plug-in guess, not a promise.
    while hi / lo > 1.01 {
        let mid = (lo * hi).sqrt();
        if decided(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let more = |n: u64| ((hi - 1.0) * n as f64).ceil() as u64;
    Some(More {
        new: more(n_new).max(1),
        stable: more(n_stable),
    })
}

// ---------------------------------------------------------------------------------------------
// The Beta-mixture confidence sequence
// ---------------------------------------------------------------------------------------------

/// Which end of a confidence sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Lower,
    Upper,
}

/// ln(1/α): the log-likelihood-ratio level at which a candidate mean is excluded.
fn threshold(alpha: f64) -> f64 {
    -alpha.ln()
}

/// One Beta(a, b) component of a prior, with its log weight and ln B(a, b).
#[derive(Debug, Clone, Copy)]
struct Component {
    ln_weight: f64,
    a: f64,
    b: f64,
    ln_beta: f64,
}

impl Component {
    fn new(weight: f64, a: f64, b: f64) -> Self {
        Component {
            ln_weight: weight.ln(),
            a,
            b,
            ln_beta: ln_beta(a, b),
        }
    }
}

/// A prior on the mean: a mixture of at most two Beta distributions.
#[derive(Debug, Clone, Copy)]
struct Prior {
    parts: [Component; 2],
    len: usize,
}

impl Prior {
    #[cfg(test)]
    fn single(a: f64, b: f64) -> Self {
        let c = Component::new(1.0, a, b);
        Prior {
            parts: [c, c],
            len: 1,
        }
    }

    fn halves(first: (f64, f64), second: (f64, f64)) -> Self {
        Prior {
            parts: [
                Component::new(0.5, first.0, first.1),
                Component::new(0.5, second.0, second.1),
            ],
            len: 2,
        }
    }

    /// Half Jeffreys, half Beta(½, b) on rates of the order of the margin.
    fn error_rate(margin: f64) -> Self {
        let b = if margin > 0.0 {
            RARE_SCALE / margin
        } else {
            RARE_B_RANGE.1
        };
        Prior::halves((0.5, 0.5), (0.5, b.clamp(RARE_B_RANGE.0, RARE_B_RANGE.1)))
    }

    /// Half Jeffreys, half Beta(kq, k(1−q)) around the quantile level.
    fn quantile(q: f64) -> Self {
        Prior::halves((0.5, 0.5), (QUANTILE_FOCUS * q, QUANTILE_FOCUS * (1.0 - q)))
    }

    /// ln ∫ q^s (1−q)^f π(dq): the log marginal likelihood of `s` "ones" and `f` "zeros"
    /// (reals: for [0, 1]-valued data `s` is the sum and `f` = n − s).
    fn ln_marginal(&self, s: f64, f: f64) -> f64 {
        let terms = self.parts[..self.len]
            .iter()
            .map(|c| c.ln_weight + ln_beta(c.a + s, c.b + f) - c.ln_beta);
        log_sum_exp(terms)
    }
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + terms.map(|t| (t - max).exp()).sum::<f64>().ln()
}

/// ln(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// One end of the confidence sequence for a mean after `s` ones and `f` zeros, at level `c`
/// (= ln(1/α)): the mean beyond which the mixture likelihood ratio reaches e^c.
///
/// The log ratio is convex in the mean with its minimum (≤ 0) at s/(s+f), so each end is the
/// one root on its side; the search runs in log-odds, where the ratio grows about linearly,
/// and returns the root rounded outwards (the conservative side).
fn mean_bound(prior: &Prior, s: f64, f: f64, c: f64, side: Side) -> f64 {
    let n = s + f;
    // The trivial bound, for no data or a bound beyond double precision.
    let none = match side {
        Side::Lower => 0.0,
        Side::Upper => 1.0,
    };
    if n <= 0.0 {
        return none;
    }
    let ln_m = prior.ln_marginal(s, f);
    match side {
        // Nothing observed on the side of the bound: it is the trivial one.
        Side::Lower if s <= 0.0 => return 0.0,
        Side::Upper if f <= 0.0 => return 1.0,
        // Closed forms when every observation is on one side: ln m − f·ln(1−μ) = c, or
        // ln m − s·ln μ = c.
        Side::Upper if s <= 0.0 => return -((ln_m - c) / f).exp_m1(),
        Side::Lower if f <= 0.0 => return ((ln_m - c) / s).exp(),
        _ => {}
    }
    // h(θ) = ln m − s·ln μ − f·ln(1−μ) − c with μ = 1/(1+e^−θ).
    let h = |theta: f64| ln_m + s * softplus(-theta) + f * softplus(theta) - c;
    let center = (s / f).ln();
    let dir = match side {
        Side::Lower => -1.0,
        Side::Upper => 1.0,
    };
    let (mut inner, mut h_inner) = (center, h(center));
    let mut step = 1.0;
    loop {
        let outer = center + dir * step;
        let h_outer = h(outer);
        if h_outer >= 0.0 {
            let theta = solve(h, inner, h_inner, outer, h_outer, 1e-11);
            return 1.0 / (1.0 + (-theta).exp());
        }
        (inner, h_inner) = (outer, h_outer);
        step *= 2.0;
        if step > 4096.0 {
            // e^−4096 underflows: the bound is 0 or 1 to double precision.
            return none;
        }
    }
}

/// For quantile bounds: the sums S of `n` [0, 1]-values at which the mean q is excluded at
/// level `c`, i.e. where g(S) = ln m(S, n − S) − S·ln q − (n − S)·ln(1 − q) ≥ c. g is convex
/// in S with g(nq) ≤ 0, so the excluded set is [0, S₋] ∪ [S₊, n]: `Upper` gives S₊ (the
/// smallest sum whose lower bound on the mean reaches q), `Lower` gives S₋ (the largest sum
/// whose upper bound stays below q); `None` when that part is empty.
fn rank_threshold(prior: &Prior, n: f64, q: f64, c: f64, side: Side) -> Option<f64> {
    if n <= 0.0 {
        return None;
    }
    let (ln_q, ln_1q) = (q.ln(), (-q).ln_1p());
    let g = |s: f64| {
        let s = s.clamp(0.0, n);
        prior.ln_marginal(s, n - s) - s * ln_q - (n - s) * ln_1q - c
    };
    let mid = n * q;
    let end = match side {
        Side::Upper => n,
        Side::Lower => 0.0,
    };
    let g_end = g(end);
    if g_end < 0.0 {
        return None;
    }
    Some(solve(g, mid, g(mid), end, g_end, 1e-10 * n.max(1.0)))
}

/// The root of a continuous `f` between `a` (f(a) < 0) and `b` (f(b) ≥ 0) by the Illinois
/// variant of regula falsi, returned on the f ≥ 0 side, within `tol`.
fn solve(
    f: impl Fn(f64) -> f64,
    mut a: f64,
    mut fa: f64,
    mut b: f64,
    mut fb: f64,
    tol: f64,
) -> f64 {
    // The point kept on the f ≥ 0 side, whichever end it ends up at.
    let mut inside = b;
    for _ in 0..200 {
        if (b - a).abs() <= tol {
            break;
        }
        let mut x = b - fb * (b - a) / (fb - fa);
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        if !(x > lo && x < hi) {
            x = 0.5 * (a + b);
        }
        let fx = f(x);
        if fx >= 0.0 {
            inside = x;
        }
        if (fx >= 0.0) != (fb >= 0.0) {
            (a, fa) = (b, fb);
        } else {
            fa *= 0.5;
        }
        (b, fb) = (x, fx);
    }
    if fb >= 0.0 {
        b
    } else if fa >= 0.0 {
        a
    } else {
        inside
    }
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/// 2250 → "2,250".
fn count_text(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// An error rate (fraction) as a percentage: "0.12%", "5%".
fn rate_text(rate: f64) -> String {
    format::percent(rate * 100.0)
}

/// A difference of rates in signed percentage points: "+1pt", "-0.25pt".
fn points_text(diff: f64) -> String {
    if diff.is_nan() {
        return "?".to_owned();
    }
    let text = format::percent(diff.abs() * 100.0);
    let sign = if diff < 0.0 { "-" } else { "+" };
    format!("{sign}{}pt", text.trim_end_matches('%'))
}

/// A confidence: 0.975 → "97.5%".
fn percent_text(p: f64) -> String {
    format::percent(p * 100.0)
}

/// A ratio of latencies as a change: 1.1 → "+10%", 0.95 → "-5%", ∞ → "unbounded".
fn change_text(ratio: f64) -> String {
    if ratio.is_nan() {
        return "?".to_owned();
    }
    if ratio == f64::INFINITY {
        return "unbounded".to_owned();
    }
    let pct = (ratio - 1.0) * 100.0;
    if pct.abs() < 0.05 {
        // Not "-0%".
        return "+0%".to_owned();
    }
    let text = if pct.abs() >= 10.0 {
        format!("{pct:+.0}%")
    } else {
        format!("{pct:+.1}%")
    };
    text.replace(".0%", "%")
}

/// A quantile level as a label: 0.5 → "p50", 0.999 → "p99.9".
fn quantile_label(q: f64) -> String {
    let text = format!("{:.3}", q * 100.0);
    format!("p{}", text.trim_end_matches('0').trim_end_matches('.'))
}

/// A histogram latency: "7.1ms", "above 10000ms" in the `+Inf` bucket, "none" without data.
fn latency_text(seconds: f64, bounds: &[f64]) -> String {
    if seconds.is_nan() {
        "none".to_owned()
    } else if seconds.is_infinite() {
        match bounds.last() {
            Some(last) => format!("above {}", format::millis(*last)),
            None => "unknown (no finite bucket)".to_owned(),
        }
    } else {
        format::millis(seconds)
    }
}

/// "; needs ~340 more requests on the new version (~1,360 on stable) at the current rates".
fn more_text(more: &Option<More>, n_new: u64, n_stable: u64) -> String {
    match more {
        Some(m) => format!(
            "; needs ~{} more requests on the new version (~{} on stable) if the rates stay as they are",
            count_text(m.new),
            count_text(m.stable)
        ),
        None if n_new == 0 => "; no requests on the new version yet".to_owned(),
        None if n_stable == 0 => "; no requests on the stable version yet".to_owned(),
        None => "; the observed difference is at the allowed one, so more requests may not decide"
            .to_owned(),
    }
}
