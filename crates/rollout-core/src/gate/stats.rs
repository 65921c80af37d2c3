//! Statistics for judging a new version (the canary) against the stable one.
//!
//! Everything here is pure: data in, [`Verdict`] out, no I/O, no clocks and no randomness, so
//! the same numbers always give the same answer (a gate that flips on a re-run is worse than no
//! gate). Each judgement answers one of three things, and says why with the numbers in the reason:
//!
//! * [`Verdict::Worse`]: the data shows the canary is worse by more than the allowed margin;
//! * [`Verdict::NotWorse`]: the data shows it is not (at the configured confidence);
//! * [`Verdict::NotEnoughData`]: neither can be said yet. With few requests nothing is
//!   significant, and passing or failing on noise is exactly the failure mode users complain
//!   about in other tools, so the caller waits for more data (or times out on its own terms).
//!
//! The methods, and why each one fits its kind of data:
//!
//! * Error rates are counts out of requests, i.e. binomial. [`compare_error_rates`] puts a
//!   uniform Beta(1, 1) prior on each side's rate, so each posterior is
//!   Beta(1 + errors, 1 + successes), and integrates numerically for
//!   P(p_canary > p_stable + margin). Unlike a rank test this uses the counts themselves, and
//!   unlike a z-test for two proportions it stays right with zero errors or a handful of requests.
//! * Latencies (and other per-request samples) are skewed and heavy-tailed, so
//!   [`compare_latencies`] uses the Mann-Whitney U test (no normality assumption, as Kayenta does)
//!   plus an effect-size guard on the medians: with many samples a 1% slowdown is "significant"
//!   but not worth a rollback.
//! * [`Sprt`] is Wald's sequential probability ratio test on the stream of canary outcomes: it
//!   looks after every request (or batch) while keeping its error rates, so a clearly bad canary
//!   fails after a handful of errors instead of waiting out the analysis interval.
//! * [`score`] combines several per-metric classifications ([`classify_metric`]) into a weighted
//!   score with `pass` / `marginal` thresholds, as Kayenta does.
//!
//! Special functions (regularized incomplete beta, complementary error function) come from the
//! `statrs` crate, used with `default-features = false, features = ["std"]` so it pulls in no
//! linear-algebra or random-number crates. Its `beta_reg` agrees with a 30-digit reference to
//! about 1e-9 up to a million requests per side and to a few 1e-4 at a billion: far below what
//! moves a verdict at the confidence levels used for gating; its `erfc` is good to about 1e-10
//! relative, likewise ample for p-values compared with alpha (both measured against mpmath).
//! Its own Mann-Whitney test is not used: it checks every pair of samples for comparability
//! (quadratic in the sample count) and gets exact p-values by enumerating every split of the
//! ranks (exponential); the version here sorts once and uses a polynomial recursion.

use std::fmt;

use statrs::function::beta::checked_beta_reg;
use statrs::function::erf::erfc;

// ---------------------------------------------------------------------------------------------
// Verdict
// ---------------------------------------------------------------------------------------------

/// The outcome of comparing the canary with stable on one signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The canary is worse than stable by more than the allowed margin, with the required
    /// confidence.
    Worse {
        /// Why, with the numbers.
        reason: String,
    },
    /// The canary is not worse than stable by more than the allowed margin, with the required
    /// confidence.
    NotWorse {
        /// Why, with the numbers.
        reason: String,
    },
    /// Neither can be said yet: too few samples, or the evidence is not strong either way.
    NotEnoughData {
        /// Why, with the numbers.
        reason: String,
    },
}

impl Verdict {
    /// The human-readable reason, whatever the verdict.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Worse { reason }
            | Verdict::NotWorse { reason }
            | Verdict::NotEnoughData { reason } => reason,
        }
    }

    /// True for [`Verdict::Worse`].
    pub fn is_worse(&self) -> bool {
        matches!(self, Verdict::Worse { .. })
    }

    /// True for [`Verdict::NotWorse`].
    pub fn is_not_worse(&self) -> bool {
        matches!(self, Verdict::NotWorse { .. })
    }

    /// True for [`Verdict::NotEnoughData`].
    pub fn is_not_enough_data(&self) -> bool {
        matches!(self, Verdict::NotEnoughData { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            Verdict::Worse { .. } => "worse",
            Verdict::NotWorse { .. } => "not worse",
            Verdict::NotEnoughData { .. } => "not enough data",
        };
        write!(f, "{word}: {}", self.reason())
    }
}

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

/// Standard normal cumulative distribution function Φ(z).
///
/// Computed as `erfc(-z/√2) / 2`, which keeps full relative precision in the lower tail (a
/// plain `1 - Φ(-z)` would round tiny p-values to 0).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal survival function 1 − Φ(z), precise in the upper tail.
pub fn normal_sf(z: f64) -> f64 {
    normal_cdf(-z)
}

/// Cumulative distribution function of Beta(a, b) at `x`, i.e. the regularized incomplete beta
/// function I_x(a, b). `x` outside [0, 1] is clamped; `a` or `b` not positive gives NaN.
pub fn beta_cdf(a: f64, b: f64, x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    checked_beta_reg(a, b, x).unwrap_or(f64::NAN)
}

/// The `q`-quantile of already sorted data, interpolating linearly between the two closest
/// ranks exactly like numpy's default (`method="linear"`): position `q * (n - 1)`.
///
/// `q` is a fraction in [0, 1] (0.99 for p99, not 99). Returns `None` for empty data or a `q`
/// outside [0, 1] (including NaN). The data must be sorted ascending; that is not checked.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let t = pos - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    if t == 0.0 || a == b {
        return Some(a);
    }
    // numpy's _lerp: interpolate from the nearer end so the result is monotone in q and exact
    // at the ends.
    let diff = b - a;
    Some(if t < 0.5 {
        a + diff * t
    } else {
        b - diff * (1.0 - t)
    })
}

// ---------------------------------------------------------------------------------------------
// Error rates: Bayesian beta-binomial
// ---------------------------------------------------------------------------------------------

/// Requests and errors seen on one side over the comparison window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorCounts {
    /// Requests seen (errors included).
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
}

impl ErrorCounts {
    /// Counts from requests and errors.
    pub fn new(requests: u64, errors: u64) -> Self {
        ErrorCounts { requests, errors }
    }

    /// The observed error rate, 0 with no requests.
    pub fn rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// How [`compare_error_rates`] decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorRatePolicy {
    /// Allowed absolute excess of the canary's error rate over stable's (0.01 = one percentage
    /// point). In [0, 1).
    pub margin: f64,
    /// Posterior probability needed to call it either way (e.g. 0.95). In (0.5, 1) to be
    /// meaningful; at or below 0.5 both answers could hold and `Worse` wins.
    pub confidence: f64,
    /// Requests needed on each side before judging at all (e.g. 50).
    pub min_requests: u64,
}

impl Default for ErrorRatePolicy {
    fn default() -> Self {
        ErrorRatePolicy {
            margin: 0.01,
            confidence: 0.95,
            min_requests: 50,
        }
    }
}

/// Compares error rates, which are binomial counts, with a Bayesian beta-binomial model.
///
/// Each side's error rate gets a uniform prior, so its posterior is
/// Beta(1 + errors, 1 + requests − errors). The verdict uses
/// `P = P(p_canary > p_stable + margin)` under the two independent posteriors:
/// `Worse` when `P ≥ confidence`, `NotWorse` when `1 − P ≥ confidence`, otherwise
/// `NotEnoughData` ("not enough data yet"). Below `min_requests` on either side it does not
/// judge at all.
///
/// Why this fits: the posterior probability is exactly the question a gate asks ("how sure are we
/// the canary is worse by more than we tolerate?"), it behaves with zero errors and with small
/// counts where normal approximations break down, and the third answer falls out naturally when
/// the posteriors still overlap too much.
///
/// `P` is computed by deterministic numerical integration (composite Simpson, 2000 intervals,
/// split where the shifted support of the other side begins) over the central 1 − 2·10⁻¹⁰ of
/// the narrower posterior, of its density times the other side's beta CDF; integrating over the
/// narrower one keeps the other factor smooth on the grid. It agrees with a 40-digit reference
/// to about 1e-10.
/// Counts with more errors than requests are not judged.
pub fn compare_error_rates(
    canary: ErrorCounts,
    stable: ErrorCounts,
    policy: &ErrorRatePolicy,
) -> Verdict {
    if !(policy.margin.is_finite() && (0.0..1.0).contains(&policy.margin)) {
        return Verdict::NotEnoughData {
            reason: format!(
                "invalid error-rate policy: margin {} must be in [0, 1)",
                policy.margin
            ),
        };
    }
    if !(policy.confidence > 0.0 && policy.confidence < 1.0) {
        return Verdict::NotEnoughData {
            reason: format!(
                "invalid error-rate policy: confidence {} must be in (0, 1)",
                policy.confidence
            ),
        };
    }
    for (side, counts) in [("canary", canary), ("stable", stable)] {
        if counts.errors > counts.requests {
            return Verdict::NotEnoughData {
                reason: format!(
                    "invalid {side} counts: {} errors out of {} requests",
                    fmt_count(counts.errors),
                    fmt_count(counts.requests)
                ),
            };
        }
    }

    let summary = format!(
        "canary error rate {} ({}/{}) vs stable {} ({}/{})",
        fmt_pct(canary.rate()),
        fmt_count(canary.errors),
        fmt_count(canary.requests),
        fmt_pct(stable.rate()),
        fmt_count(stable.errors),
        fmt_count(stable.requests),
    );
    if canary.requests < policy.min_requests || stable.requests < policy.min_requests {
        return Verdict::NotEnoughData {
            reason: format!(
                "{summary}: fewer than {} requests on a side, not enough data yet",
                fmt_count(policy.min_requests)
            ),
        };
    }

    let p_worse = prob_exceeds(
        BetaPosterior::from_counts(canary),
        BetaPosterior::from_counts(stable),
        policy.margin,
    );
    let p_not_worse = 1.0 - p_worse;
    let margin = fmt_points(policy.margin);
    if p_worse >= policy.confidence {
        Verdict::Worse {
            reason: format!(
                "{summary}: P(canary > stable + {margin}) {}",
                fmt_prob(p_worse)
            ),
        }
    } else if p_not_worse >= policy.confidence {
        Verdict::NotWorse {
            reason: format!(
                "{summary}: P(canary <= stable + {margin}) {}",
                fmt_prob(p_not_worse)
            ),
        }
    } else {
        Verdict::NotEnoughData {
            reason: format!(
                "{summary}: P(canary > stable + {margin}) {}, short of {} either way, not enough data yet",
                fmt_prob(p_worse),
                fmt_sig(policy.confidence)
            ),
        }
    }
}

/// A Beta(a, b) posterior with a, b ≥ 1 (uniform prior plus counts).
#[derive(Debug, Clone, Copy)]
struct BetaPosterior {
    a: f64,
    b: f64,
}

impl BetaPosterior {
    fn from_counts(c: ErrorCounts) -> Self {
        BetaPosterior {
            a: 1.0 + c.errors as f64,
            b: 1.0 + (c.requests - c.errors) as f64,
        }
    }

    fn sd(&self) -> f64 {
        let s = self.a + self.b;
        (self.a * self.b / (s * s * (s + 1.0))).sqrt()
    }

    fn mode(&self) -> f64 {
        let s = self.a + self.b;
        if s > 2.0 {
            (self.a - 1.0) / (s - 2.0)
        } else {
            0.5
        }
    }

    fn cdf(&self, x: f64) -> f64 {
        beta_cdf(self.a, self.b, x)
    }

    /// 1 − CDF, computed through the mirrored distribution so the upper tail keeps precision.
    fn sf(&self, x: f64) -> f64 {
        beta_cdf(self.b, self.a, 1.0 - x)
    }

    /// Log of the unnormalized density x^(a−1) (1−x)^(b−1), with 0·ln 0 taken as 0.
    fn ln_kernel(&self, x: f64) -> f64 {
        xlny(self.a - 1.0, x) + xlny(self.b - 1.0, 1.0 - x)
    }

    /// Quantile by bisection on the CDF: slow-ish but robust for any (a, b), and only called
    /// twice per comparison.
    fn quantile(&self, p: f64) -> f64 {
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if self.cdf(mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// E[g(X)] for X from this posterior, by self-normalized composite Simpson over its central
    /// 1 − 2·10⁻¹⁰ mass. `kink` is where `g` may have a corner (the edge of the other
    /// posterior's support, shifted by the margin): the range is split there, so Simpson's rule
    /// never straddles it.
    fn expect(&self, g: impl Fn(f64) -> f64, kink: f64) -> f64 {
        const INTERVALS: usize = 2000;
        const TAIL: f64 = 1e-10;
        let lo = self.quantile(TAIL);
        let hi = self.quantile(1.0 - TAIL);
        if hi <= lo {
            return g(lo);
        }
        let peak = self.ln_kernel(self.mode().clamp(lo, hi));
        let segments: &[(f64, f64)] = if kink > lo && kink < hi {
            &[(lo, kink), (kink, hi)]
        } else {
            &[(lo, hi)]
        };
        let (mut num, mut den) = (0.0, 0.0);
        for &(from, to) in segments {
            let h = (to - from) / INTERVALS as f64;
            for k in 0..=INTERVALS {
                let x = if k == INTERVALS {
                    to
                } else {
                    from + h * k as f64
                };
                let w = if k == 0 || k == INTERVALS {
                    1.0
                } else if k % 2 == 1 {
                    4.0
                } else {
                    2.0
                } * h;
                let f = (self.ln_kernel(x) - peak).exp();
                num += w * f * g(x);
                den += w * f;
            }
        }
        if den > 0.0 { num / den } else { g(lo) }
    }
}

/// `k · ln(y)` with `0 · ln(0) = 0`.
fn xlny(k: f64, y: f64) -> f64 {
    if k == 0.0 { 0.0 } else { k * y.ln() }
}

/// P(p_canary > p_stable + margin) for independent posteriors.
fn prob_exceeds(canary: BetaPosterior, stable: BetaPosterior, margin: f64) -> f64 {
    let p = if canary.sd() <= stable.sd() {
        prob_exceeds_over_canary(canary, stable, margin)
    } else {
        prob_exceeds_over_stable(canary, stable, margin)
    };
    p.clamp(0.0, 1.0)
}

/// ∫ f_canary(y) · P(p_stable < y − margin) dy.
fn prob_exceeds_over_canary(canary: BetaPosterior, stable: BetaPosterior, margin: f64) -> f64 {
    canary.expect(|y| stable.cdf(y - margin), margin)
}

/// ∫ f_stable(x) · P(p_canary > x + margin) dx.
fn prob_exceeds_over_stable(canary: BetaPosterior, stable: BetaPosterior, margin: f64) -> f64 {
    stable.expect(
        |x| {
            let t = x + margin;
            if t >= 1.0 { 0.0 } else { canary.sf(t) }
        },
        1.0 - margin,
    )
}

// ---------------------------------------------------------------------------------------------
// Latencies: Mann-Whitney U with an effect-size guard
// ---------------------------------------------------------------------------------------------

/// How [`compare_latencies`] (and [`classify_metric`]) decide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyPolicy {
    /// Significance level of the Mann-Whitney test (e.g. 0.05). In (0, 1).
    pub alpha: f64,
    /// Relative amount by which the canary's median may exceed stable's before it counts as
    /// worse (0.1 = 10%). Not negative.
    pub margin_ratio: f64,
    /// Finite samples needed on each side before judging at all (e.g. 20); 0 is taken as 1.
    pub min_samples: usize,
}

impl Default for LatencyPolicy {
    fn default() -> Self {
        LatencyPolicy {
            alpha: 0.05,
            margin_ratio: 0.1,
            min_samples: 20,
        }
    }
}

/// How the p-values of a [`MannWhitney`] result were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MannWhitneyMethod {
    /// The exact null distribution of U (no ties, both samples of at most 50).
    Exact,
    /// The normal approximation with tie correction and continuity correction.
    Normal,
}

/// Result of a Mann-Whitney U test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U for `x`: the number of pairs (xᵢ, yⱼ) with xᵢ > yⱼ, ties counting one half.
    pub u: f64,
    /// One-sided p-value for "x tends to be larger than y".
    pub p_greater: f64,
    /// One-sided p-value for "x tends to be smaller than y".
    pub p_less: f64,
    /// How the p-values were computed.
    pub method: MannWhitneyMethod,
}

/// Largest sample size (each side) for which the exact null distribution is used.
const EXACT_MAX: usize = 50;

/// The Mann-Whitney U (Wilcoxon rank-sum) test of `x` against `y`.
///
/// Ranks the pooled samples once (O(n log n)), giving tied values their average rank. Without
/// ties and with both samples of at most 50 the p-values come from the exact null distribution
/// of U (a dynamic program over the position of the largest observation, a few million additions
/// at most); otherwise from the normal approximation with the tie-corrected variance
/// `n₁n₂/12 · ((n+1) − Σ(t³−t)/(n(n−1)))` and a continuity correction of ½, as scipy does.
///
/// Non-finite values (NaN, ±∞) are dropped. Returns `None` when either side has no finite value.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let mut pooled: Vec<(f64, bool)> = x
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| (v, true))
        .chain(y.iter().filter(|v| v.is_finite()).map(|&v| (v, false)))
        .collect();
    let n1 = pooled.iter().filter(|(_, is_x)| *is_x).count();
    let n2 = pooled.len() - n1;
    if n1 == 0 || n2 == 0 {
        return None;
    }
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));

    let n = pooled.len();
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut ties = false;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && pooled[end].0 == pooled[start].0 {
            end += 1;
        }
        // Ranks start+1 ..= end share their average.
        let avg_rank = (start + 1 + end) as f64 / 2.0;
        let in_x = pooled[start..end].iter().filter(|(_, is_x)| *is_x).count();
        rank_sum_x += avg_rank * in_x as f64;
        let t = (end - start) as f64;
        if end - start > 1 {
            ties = true;
            tie_term += t * t * t - t;
        }
        start = end;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_x - n1f * (n1f + 1.0) / 2.0;

    if !ties && n1 <= EXACT_MAX && n2 <= EXACT_MAX {
        let pmf = exact_u_pmf(n1, n2);
        let k = u.round() as usize;
        let p_greater: f64 = pmf[k..].iter().sum();
        let p_less: f64 = pmf[..=k].iter().sum();
        return Some(MannWhitney {
            u,
            p_greater: p_greater.min(1.0),
            p_less: p_less.min(1.0),
            method: MannWhitneyMethod::Exact,
        });
    }

    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    let (p_greater, p_less) = if var > 0.0 {
        let sd = var.sqrt();
        (
            normal_sf((u - mean - 0.5) / sd),
            normal_cdf((u - mean + 0.5) / sd),
        )
    } else {
        // Every value tied: no evidence either way.
        (1.0, 1.0)
    };
    Some(MannWhitney {
        u,
        p_greater,
        p_less,
        method: MannWhitneyMethod::Normal,
    })
}

/// Null distribution of U (pairs with x > y) for sample sizes m and n without ties.
///
/// The largest of the m + n observations is an x with probability m/(m+n), and then it beats all
/// n y's: P_{m,n}(u) = m/(m+n)·P_{m−1,n}(u−n) + n/(m+n)·P_{m,n−1}(u). Working in probabilities
/// (a convex combination) avoids the overflow of counting C(m+n, m) arrangements.
fn exact_u_pmf(m: usize, n: usize) -> Vec<f64> {
    // prev[j] holds P_{i-1, j}; with i = 0, U is 0 for sure.
    let mut prev: Vec<Vec<f64>> = vec![vec![1.0]; n + 1];
    for i in 1..=m {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
        cur.push(vec![1.0]);
        for j in 1..=n {
            let total = (i + j) as f64;
            let (wx, wy) = (i as f64 / total, j as f64 / total);
            let mut dist = vec![0.0; i * j + 1];
            for (u, &p) in prev[j].iter().enumerate() {
                dist[u + j] += wx * p;
            }
            for (u, &p) in cur[j - 1].iter().enumerate() {
                dist[u] += wy * p;
            }
            cur.push(dist);
        }
        prev = cur;
    }
    prev.pop().unwrap_or_else(|| vec![1.0])
}

/// Finite values, sorted ascending.
fn finite_sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn latency_policy_error(policy: &LatencyPolicy) -> Option<String> {
    if !(policy.alpha > 0.0 && policy.alpha < 1.0) {
        return Some(format!(
            "invalid latency policy: alpha {} must be in (0, 1)",
            policy.alpha
        ));
    }
    if !(policy.margin_ratio.is_finite() && policy.margin_ratio >= 0.0) {
        return Some(format!(
            "invalid latency policy: margin_ratio {} must be finite and not negative",
            policy.margin_ratio
        ));
    }
    None
}

/// Compares latency samples: is the canary slower than stable?
///
/// Runs a one-sided Mann-Whitney U test ("canary tends to be slower", see [`mann_whitney`]) and
/// compares medians. Verdicts:
///
/// * `Worse`: significant (p < alpha) **and** the canary's median exceeds stable's by more than
///   `margin_ratio`;
/// * `NotWorse`: the canary's median is within the margin (whatever the test says: a significant
///   but small slowdown is tolerated by design);
/// * `NotEnoughData`: fewer than `min_samples` finite samples on a side, or the median is beyond
///   the margin but the test is not yet significant (the samples are too few or too noisy to
///   tell).
///
/// Why this fits: latency distributions are skewed and heavy-tailed, so a rank test that assumes
/// no distribution shape is the robust choice (it is what Kayenta uses); but with thousands of
/// samples any tiny difference becomes significant, so the effect-size guard keeps the gate to
/// slowdowns that matter. Non-finite samples are dropped (count timeouts as errors instead).
pub fn compare_latencies(canary: &[f64], stable: &[f64], policy: &LatencyPolicy) -> Verdict {
    if let Some(reason) = latency_policy_error(policy) {
        return Verdict::NotEnoughData { reason };
    }
    let c = finite_sorted(canary);
    let s = finite_sorted(stable);
    let min = policy.min_samples.max(1);
    if c.len() < min || s.len() < min {
        return Verdict::NotEnoughData {
            reason: format!(
                "{} canary vs {} stable latency samples, fewer than {} on a side: not enough data yet",
                fmt_count(c.len() as u64),
                fmt_count(s.len() as u64),
                fmt_count(min as u64)
            ),
        };
    }
    let (Some(mw), Some(med_c), Some(med_s)) = (
        mann_whitney(&c, &s),
        percentile(&c, 0.5),
        percentile(&s, 0.5),
    ) else {
        // Unreachable with at least one finite sample per side.
        return Verdict::NotEnoughData {
            reason: "no latency samples".to_string(),
        };
    };

    let limit = med_s + policy.margin_ratio * med_s.abs();
    let beyond_margin = med_c > limit;
    let significant = mw.p_greater < policy.alpha;
    let summary = format!(
        "canary median latency {} vs stable {} ({}, margin {}); Mann-Whitney one-sided p = {} (alpha {}, n {}/{}{})",
        fmt_sig(med_c),
        fmt_sig(med_s),
        fmt_change(med_c, med_s),
        fmt_ratio_pct(policy.margin_ratio),
        fmt_p(mw.p_greater),
        fmt_sig(policy.alpha),
        fmt_count(c.len() as u64),
        fmt_count(s.len() as u64),
        match mw.method {
            MannWhitneyMethod::Exact => ", exact",
            MannWhitneyMethod::Normal => "",
        }
    );
    if beyond_margin && significant {
        Verdict::Worse {
            reason: format!("{summary}: canary is significantly slower"),
        }
    } else if !beyond_margin {
        Verdict::NotWorse {
            reason: format!("{summary}: canary median within the margin"),
        }
    } else {
        Verdict::NotEnoughData {
            reason: format!(
                "{summary}: median beyond the margin but not significant, not enough data yet"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sequential probability ratio test
// ---------------------------------------------------------------------------------------------

/// Where a [`Sprt`] stands, with the log-likelihood ratio ln(L(H1)/L(H0)) so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SprtState {
    /// Between the bounds: keep observing.
    Continue {
        /// Log-likelihood ratio so far.
        llr: f64,
    },
    /// Crossed the lower bound: the error rate is acceptable (p = p0).
    AcceptH0 {
        /// Log-likelihood ratio when the bound was crossed.
        llr: f64,
    },
    /// Crossed the upper bound: the error rate is bad (p = p1).
    AcceptH1 {
        /// Log-likelihood ratio when the bound was crossed.
        llr: f64,
    },
}

impl SprtState {
    /// The log-likelihood ratio, whatever the state.
    pub fn llr(&self) -> f64 {
        match *self {
            SprtState::Continue { llr }
            | SprtState::AcceptH0 { llr }
            | SprtState::AcceptH1 { llr } => llr,
        }
    }

    /// True once either hypothesis was accepted.
    pub fn is_decided(&self) -> bool {
        !matches!(self, SprtState::Continue { .. })
    }
}

/// Invalid parameters for [`Sprt::try_new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SprtParamError(String);

impl fmt::Display for SprtParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SprtParamError {}

/// Wald's sequential probability ratio test on a stream of canary outcomes (error or not).
///
/// Tests H0: error rate = `p0` (acceptable, e.g. stable's rate floored at 1%) against
/// H1: error rate = `p1` (clearly bad, e.g. 10%). Each error adds ln(p1/p0) to the
/// log-likelihood ratio, each success ln((1−p1)/(1−p0)); H1 is accepted when the ratio reaches
/// ln((1−β)/α) and H0 when it falls to ln(β/(1−α)). Wald's bounds keep the chance of wrongly
/// failing a good canary near α and of passing a bad one near β.
///
/// Why this fits: a fixed-interval test must wait out the interval even when the first ten
/// requests are half errors; the SPRT looks after every observation and, for a given α and β,
/// needs on average the fewest observations of any test, so a clearly bad canary fails after a
/// handful of errors while a healthy one is accepted after a few dozen successes.
///
/// The decision is sticky: once a bound is crossed further observations are ignored (continuing
/// would break the error guarantees). Call [`Sprt::reset`] to start a fresh test, e.g. for the
/// next analysis interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Sprt {
    p0: f64,
    p1: f64,
    alpha: f64,
    beta: f64,
    error_step: f64,
    success_step: f64,
    upper: f64,
    lower: f64,
    requests: u64,
    errors: u64,
    state: SprtState,
}

impl Sprt {
    /// A test of H0 p = `p0` vs H1 p = `p1` with error rates `alpha` (false alarm) and `beta`
    /// (missed bad canary).
    ///
    /// # Panics
    ///
    /// Unless 0 < p0 < p1 < 1, 0 < alpha < 1, 0 < beta < 1 and alpha + beta < 1; use
    /// [`Sprt::try_new`] for parameters from configuration.
    pub fn new(p0: f64, p1: f64, alpha: f64, beta: f64) -> Self {
        match Self::try_new(p0, p1, alpha, beta) {
            Ok(sprt) => sprt,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Sprt::new`], returning an error for invalid parameters.
    pub fn try_new(p0: f64, p1: f64, alpha: f64, beta: f64) -> Result<Self, SprtParamError> {
        if !(p0 > 0.0 && p0 < p1 && p1 < 1.0) {
            return Err(SprtParamError(format!(
                "SPRT needs 0 < p0 < p1 < 1, got p0 = {p0}, p1 = {p1}"
            )));
        }
        if !(alpha > 0.0 && alpha < 1.0 && beta > 0.0 && beta < 1.0 && alpha + beta < 1.0) {
            return Err(SprtParamError(format!(
                "SPRT needs 0 < alpha, beta < 1 and alpha + beta < 1, got alpha = {alpha}, beta = {beta}"
            )));
        }
        Ok(Sprt {
            p0,
            p1,
            alpha,
            beta,
            error_step: (p1 / p0).ln(),
            success_step: (-p1).ln_1p() - (-p0).ln_1p(),
            upper: ((1.0 - beta) / alpha).ln(),
            lower: (beta / (1.0 - alpha)).ln(),
            requests: 0,
            errors: 0,
            state: SprtState::Continue { llr: 0.0 },
        })
    }

    /// Records one request's outcome and returns the state after it.
    pub fn observe(&mut self, error: bool) -> SprtState {
        self.observe_counts(1, u64::from(error))
    }

    /// Records a batch of `requests` outcomes of which `errors` failed, and returns the state
    /// after it. The order within the batch is unknown, so the bounds are checked once at its
    /// end (a group-sequential look); errors beyond `requests` count as requests too.
    pub fn observe_counts(&mut self, requests: u64, errors: u64) -> SprtState {
        if self.state.is_decided() || (requests == 0 && errors == 0) {
            return self.state;
        }
        let requests = requests.max(errors);
        let successes = requests - errors;
        self.requests = self.requests.saturating_add(requests);
        self.errors = self.errors.saturating_add(errors);
        let llr = self.state.llr()
            + errors as f64 * self.error_step
            + successes as f64 * self.success_step;
        self.state = if llr >= self.upper {
            SprtState::AcceptH1 { llr }
        } else if llr <= self.lower {
            SprtState::AcceptH0 { llr }
        } else {
            SprtState::Continue { llr }
        };
        self.state
    }

    /// The current state.
    pub fn state(&self) -> SprtState {
        self.state
    }

    /// Forgets all observations (keeps the parameters).
    pub fn reset(&mut self) {
        self.requests = 0;
        self.errors = 0;
        self.state = SprtState::Continue { llr: 0.0 };
    }

    /// Requests observed so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Errors observed so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The log-likelihood ratio at which H1 is accepted, ln((1−β)/α).
    pub fn upper_bound(&self) -> f64 {
        self.upper
    }

    /// The log-likelihood ratio at which H0 is accepted, ln(β/(1−α)).
    pub fn lower_bound(&self) -> f64 {
        self.lower
    }

    /// The state as a [`Verdict`]: H1 is `Worse`, H0 `NotWorse`, undecided `NotEnoughData`.
    pub fn verdict(&self) -> Verdict {
        let seen = format!(
            "{} errors in {} canary requests",
            fmt_count(self.errors),
            fmt_count(self.requests)
        );
        let h = format!(
            "H0 error rate {} vs H1 {}, alpha {}, beta {}",
            fmt_pct(self.p0),
            fmt_pct(self.p1),
            fmt_sig(self.alpha),
            fmt_sig(self.beta)
        );
        match self.state {
            SprtState::AcceptH1 { llr } => Verdict::Worse {
                reason: format!(
                    "SPRT: {seen}: log-likelihood ratio {llr:.2} >= {:.2}, error rate looks like {} ({h})",
                    self.upper,
                    fmt_pct(self.p1)
                ),
            },
            SprtState::AcceptH0 { llr } => Verdict::NotWorse {
                reason: format!(
                    "SPRT: {seen}: log-likelihood ratio {llr:.2} <= {:.2}, error rate looks like {} ({h})",
                    self.lower,
                    fmt_pct(self.p0)
                ),
            },
            SprtState::Continue { llr } => Verdict::NotEnoughData {
                reason: format!(
                    "SPRT: {seen}: log-likelihood ratio {llr:.2} between {:.2} and {:.2}, not enough data yet ({h})",
                    self.lower, self.upper
                ),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kayenta-like scoring over several metrics
// ---------------------------------------------------------------------------------------------

/// How one metric of the canary compares with stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricClass {
    /// No meaningful difference.
    Pass,
    /// The canary is significantly and materially higher.
    High,
    /// The canary is significantly and materially lower.
    Low,
    /// Too few samples to classify; left out of the score.
    NoData,
}

/// Which deviation counts as a failure for a metric (Kayenta's "direction").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// Only higher is bad (latency, error rate, memory).
    High,
    /// Only lower is bad (throughput, cache hit ratio).
    Low,
    /// Any significant change is bad.
    #[default]
    Either,
}

/// Classifies one metric's canary samples against stable's, as Kayenta does per metric.
///
/// Two one-sided Mann-Whitney tests at `alpha / 2` each (together a two-sided test at `alpha`),
/// each guarded by the same median margin as [`compare_latencies`]: `High` when the canary is
/// significantly larger and its median exceeds stable's by more than `margin_ratio`, `Low`
/// symmetrically, `NoData` below `min_samples` finite samples on a side, else `Pass` (no
/// material difference shown).
pub fn classify_metric(canary: &[f64], stable: &[f64], policy: &LatencyPolicy) -> MetricClass {
    if latency_policy_error(policy).is_some() {
        return MetricClass::NoData;
    }
    let c = finite_sorted(canary);
    let s = finite_sorted(stable);
    let min = policy.min_samples.max(1);
    if c.len() < min || s.len() < min {
        return MetricClass::NoData;
    }
    let (Some(mw), Some(med_c), Some(med_s)) = (
        mann_whitney(&c, &s),
        percentile(&c, 0.5),
        percentile(&s, 0.5),
    ) else {
        return MetricClass::NoData;
    };
    let allowed = policy.margin_ratio * med_s.abs();
    let half_alpha = policy.alpha / 2.0;
    if mw.p_greater < half_alpha && med_c > med_s + allowed {
        MetricClass::High
    } else if mw.p_less < half_alpha && med_c < med_s - allowed {
        MetricClass::Low
    } else {
        MetricClass::Pass
    }
}

/// One metric's classification with its scoring settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricOutcome {
    /// Metric name, for the reason.
    pub name: String,
    /// How the canary compared.
    pub class: MetricClass,
    /// Which deviation fails the metric.
    pub fail_on: FailOn,
    /// Relative weight in the score; negative or non-finite weights count as 0.
    pub weight: f64,
    /// A failing critical metric fails the whole run, whatever the score.
    pub critical: bool,
}

impl MetricOutcome {
    /// A metric with weight 1 that fails on any deviation and is not critical.
    pub fn new(name: impl Into<String>, class: MetricClass) -> Self {
        MetricOutcome {
            name: name.into(),
            class,
            fail_on: FailOn::Either,
            weight: 1.0,
            critical: false,
        }
    }

    /// Sets which deviation fails the metric.
    pub fn fail_on(mut self, fail_on: FailOn) -> Self {
        self.fail_on = fail_on;
        self
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    /// Marks the metric critical.
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// `Some(true)` when the metric passes, `Some(false)` when it fails, `None` without data.
    pub fn passes(&self) -> Option<bool> {
        match (self.class, self.fail_on) {
            (MetricClass::NoData, _) => None,
            (MetricClass::Pass, _) => Some(true),
            (MetricClass::High, FailOn::Low) | (MetricClass::Low, FailOn::High) => Some(true),
            (MetricClass::High | MetricClass::Low, _) => Some(false),
        }
    }

    fn effective_weight(&self) -> f64 {
        if self.weight.is_finite() && self.weight > 0.0 {
            self.weight
        } else {
            0.0
        }
    }
}

/// Score thresholds on Kayenta's 0–100 scale (e.g. pass 95, marginal 75).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreThresholds {
    /// A score at or above this passes.
    pub pass: f64,
    /// A score below this fails; between `marginal` and `pass` is marginal.
    pub marginal: f64,
}

impl Default for ScoreThresholds {
    fn default() -> Self {
        ScoreThresholds {
            pass: 95.0,
            marginal: 75.0,
        }
    }
}

/// The outcome of a scored run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreOutcome {
    /// Score at or above `pass`, and no critical metric failed.
    Pass,
    /// Score between `marginal` and `pass`: inconclusive.
    Marginal,
    /// Score below `marginal`, or a critical metric failed.
    Fail,
    /// No weighted metric had data.
    NoData,
}

/// The result of [`score`].
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    /// Weighted share of passing metrics, 0–100; `None` when no weighted metric had data.
    pub score: Option<f64>,
    /// The outcome.
    pub outcome: ScoreOutcome,
    /// Names of the failing metrics, in input order.
    pub failed: Vec<String>,
    /// Why, with the numbers.
    pub reason: String,
}

impl Scorecard {
    /// The outcome as a [`Verdict`]: `Fail` is `Worse`, `Pass` is `NotWorse`, and `Marginal` and
    /// `NoData` are `NotEnoughData` (inconclusive: the caller decides whether to wait or stop).
    pub fn verdict(&self) -> Verdict {
        let reason = self.reason.clone();
        match self.outcome {
            ScoreOutcome::Fail => Verdict::Worse { reason },
            ScoreOutcome::Pass => Verdict::NotWorse { reason },
            ScoreOutcome::Marginal | ScoreOutcome::NoData => Verdict::NotEnoughData { reason },
        }
    }
}

/// Scores a canary run over several metrics, as Kayenta does.
///
/// The score is the weighted share of passing metrics among those with data, on 0–100:
/// `100 · Σ weight(passing) / Σ weight(with data)`. It passes at or above `thresholds.pass`,
/// fails below `thresholds.marginal`, and is marginal in between; a failing critical metric
/// fails the run whatever the score. Metrics without data are left out (and reported).
///
/// Why this fits: single metrics are noisy and a run watches many; weighting lets the important
/// ones dominate, the marginal band leaves room for "inconclusive", and critical metrics keep a
/// broken error rate from being averaged away by a dozen healthy gauges.
pub fn score(metrics: &[MetricOutcome], thresholds: &ScoreThresholds) -> Scorecard {
    let mut total = 0.0;
    let mut passing = 0.0;
    let (mut n_with_data, mut n_passing) = (0usize, 0usize);
    let mut failed = Vec::new();
    let mut critical_failed = Vec::new();
    let mut no_data = Vec::new();
    for m in metrics {
        match m.passes() {
            None => no_data.push(m.name.as_str()),
            Some(pass) => {
                let w = m.effective_weight();
                n_with_data += 1;
                total += w;
                if pass {
                    n_passing += 1;
                    passing += w;
                } else {
                    failed.push(m.name.clone());
                    if m.critical {
                        critical_failed.push(format!("{} ({})", m.name, class_word(m.class)));
                    }
                }
            }
        }
    }
    let no_data_note = if no_data.is_empty() {
        String::new()
    } else {
        format!("; no data: {}", no_data.join(", "))
    };
    let failed_note = if failed.is_empty() {
        String::new()
    } else {
        format!("; failing: {}", failed.join(", "))
    };

    if !critical_failed.is_empty() {
        let score = (total > 0.0).then(|| 100.0 * passing / total);
        return Scorecard {
            score,
            outcome: ScoreOutcome::Fail,
            reason: format!(
                "critical metric failed: {}{failed_note}{no_data_note}",
                critical_failed.join(", ")
            ),
            failed,
        };
    }
    if total <= 0.0 {
        return Scorecard {
            score: None,
            outcome: ScoreOutcome::NoData,
            reason: format!(
                "no weighted metric had data, not enough data yet{failed_note}{no_data_note}"
            ),
            failed,
        };
    }
    let value = 100.0 * passing / total;
    let (outcome, verdict) = if value >= thresholds.pass {
        (
            ScoreOutcome::Pass,
            format!("pass (>= {})", fmt_sig(thresholds.pass)),
        )
    } else if value >= thresholds.marginal {
        (
            ScoreOutcome::Marginal,
            format!(
                "marginal ({} to {})",
                fmt_sig(thresholds.marginal),
                fmt_sig(thresholds.pass)
            ),
        )
    } else {
        (
            ScoreOutcome::Fail,
            format!("fail (< {})", fmt_sig(thresholds.marginal)),
        )
    };
    Scorecard {
        score: Some(value),
        outcome,
        reason: format!(
            "score {value:.1} ({n_passing} of {n_with_data} metrics passing): {verdict}{failed_note}{no_data_note}"
        ),
        failed,
    }
}

fn class_word(class: MetricClass) -> &'static str {
    match class {
        MetricClass::Pass => "pass",
        MetricClass::High => "high",
        MetricClass::Low => "low",
        MetricClass::NoData => "no data",
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers for reasons
// ---------------------------------------------------------------------------------------------

/// 2250 → "2,250".
fn fmt_count(n: u64) -> String {
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

/// 0.048 → "4.8%".
fn fmt_pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// 0.01 → "1pt", 0.005 → "0.5pt" (absolute percentage points).
fn fmt_points(margin: f64) -> String {
    format!("{}pt", trim_zeros(&format!("{:.3}", margin * 100.0)))
}

/// 0.1 → "10%".
fn fmt_ratio_pct(ratio: f64) -> String {
    format!("{}%", trim_zeros(&format!("{:.2}", ratio * 100.0)))
}

/// Relative change of `new` over `base`: "+23.4%", "-5.0%", or "+inf%" from 0.
fn fmt_change(new: f64, base: f64) -> String {
    if base == 0.0 {
        return if new == 0.0 {
            "+0.0%".to_string()
        } else if new > 0.0 {
            "up from 0".to_string()
        } else {
            "down from 0".to_string()
        };
    }
    format!("{:+.1}%", (new - base) / base.abs() * 100.0)
}

/// A probability with its relation, three decimals, saturating so it never prints as a certain
/// 0 or 1: "= 0.998", "> 0.999", "< 0.001".
fn fmt_prob(p: f64) -> String {
    if p >= 0.9995 {
        "> 0.999".to_string()
    } else if p < 0.0005 {
        "< 0.001".to_string()
    } else {
        format!("= {p:.3}")
    }
}

/// A p-value with four decimals, saturating at "< 0.0001".
fn fmt_p(p: f64) -> String {
    if p < 0.00005 {
        "< 0.0001".to_string()
    } else {
        format!("{p:.4}")
    }
}

/// About four significant digits, trailing zeros trimmed: 123.456 → "123.5", 0.05 → "0.05".
fn fmt_sig(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 9) as usize;
    trim_zeros(&format!("{x:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!(
            (actual - expected).abs() <= tol,
            "expected {expected}, got {actual} (tolerance {tol})"
        );
    }

    /// Deterministic generator for test data (splitmix64).
    struct Rng(u64);

    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        /// Latency-like sample: a floor plus an exponential tail.
        fn latency(&mut self, floor: f64, mean_tail: f64) -> f64 {
            floor - mean_tail * self.next_f64().ln()
        }
    }

    fn policy() -> ErrorRatePolicy {
        ErrorRatePolicy {
            margin: 0.01,
            confidence: 0.95,
            min_requests: 50,
        }
    }

    // Reference values below were computed with mpmath at 30 digits (ncdf, betainc, quad) and,
    // for the exact Mann-Whitney p-values, by enumerating every assignment of ranks.

    #[test]
    fn normal_cdf_known_values() {
        close(normal_cdf(0.0), 0.5, 1e-15);
        // statrs's erfc is good to about 1e-10 relative (measured against mpmath over
        // [-6, 6]): far finer than any p-value a gate compares with alpha.
        close(normal_cdf(1.96), 0.975_002_104_851_779_6, 1e-10);
        close(normal_cdf(-1.0), 0.158_655_253_931_457_05, 1e-10);
        close(normal_cdf(3.5), 0.999_767_370_920_964_5, 1e-10);
        close(normal_cdf(1.0) + normal_cdf(-1.0), 1.0, 1e-15);
        // Lower tail keeps relative precision.
        let tail = normal_cdf(-8.0);
        close(tail / 6.220_960_574_271_784e-16, 1.0, 1e-9);
        close(normal_sf(8.0) / 6.220_960_574_271_784e-16, 1.0, 1e-9);
        assert!(normal_cdf(f64::NAN).is_nan());
        assert_eq!(normal_cdf(f64::INFINITY), 1.0);
        assert_eq!(normal_cdf(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn beta_cdf_known_values() {
        close(beta_cdf(2.0, 3.0, 0.5), 0.6875, 1e-14);
        close(beta_cdf(3.0, 5.0, 0.3), 0.352_930_5, 1e-13);
        close(beta_cdf(13.0, 239.0, 0.05), 0.488_269_436_259_364_23, 1e-11);
        close(
            beta_cdf(10.0, 2242.0, 0.004),
            0.413_119_658_987_853_86,
            1e-11,
        );
        // I_x(1, 1) = x and I_x(a, 1) = x^a.
        close(beta_cdf(1.0, 1.0, 0.37), 0.37, 1e-14);
        close(beta_cdf(4.0, 1.0, 0.6), 0.6_f64.powi(4), 1e-14);
        assert_eq!(beta_cdf(2.0, 2.0, -0.1), 0.0);
        assert_eq!(beta_cdf(2.0, 2.0, 1.5), 1.0);
        assert!(beta_cdf(0.0, 2.0, 0.5).is_nan());
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        let data = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&data, 0.0), Some(1.0));
        assert_eq!(percentile(&data, 1.0), Some(4.0));
        assert_eq!(percentile(&data, 0.5), Some(2.5));
        // numpy.percentile([1, 2, 3, 4], 90) == 3.7
        close(percentile(&data, 0.9).unwrap(), 3.7, 1e-12);
        close(percentile(&data, 0.25).unwrap(), 1.75, 1e-12);
        let odd = [10.0, 20.0, 30.0, 40.0, 50.0];
        assert_eq!(percentile(&odd, 0.5), Some(30.0));
        close(percentile(&odd, 0.99).unwrap(), 49.6, 1e-12);
    }

    #[test]
    fn percentile_edge_cases() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[7.0], 1.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], -0.1), None);
        assert_eq!(percentile(&[1.0, 2.0], 1.1), None);
        assert_eq!(percentile(&[1.0, 2.0], 99.0), None);
        assert_eq!(percentile(&[1.0, 2.0], f64::NAN), None);
        // Equal neighbours, including infinite ones, never interpolate into NaN.
        assert_eq!(percentile(&[1.0, 5.0, 5.0, 9.0], 0.5), Some(5.0));
        let inf = [1.0, f64::INFINITY, f64::INFINITY];
        assert_eq!(percentile(&inf, 0.75), Some(f64::INFINITY));
    }

    #[test]
    fn mann_whitney_exact_textbook_example() {
        // scipy's documentation example (males vs females): U = 17, exact two-sided p = 1/9.
        let males = [19.0, 22.0, 16.0, 29.0, 24.0];
        let females = [20.0, 11.0, 17.0, 12.0];
        let mw = mann_whitney(&males, &females).unwrap();
        assert_eq!(mw.method, MannWhitneyMethod::Exact);
        close(mw.u, 17.0, 0.0);
        close(mw.p_greater, 7.0 / 126.0, 1e-12);
        close(2.0 * mw.p_greater, 0.111_111_111_111_111_1, 1e-12);
    }

    #[test]
    fn mann_whitney_tortoise_and_hare() {
        // Wikipedia's worked example: finishing order THHHHHTTTTTH; U_T = 25 by rank sum
        // (11 wins for the tortoises counted the other way round).
        let order = "THHHHHTTTTTH";
        let pos = |who: char| -> Vec<f64> {
            order
                .chars()
                .enumerate()
                .filter(|&(_, c)| c == who)
                .map(|(i, _)| (i + 1) as f64)
                .collect()
        };
        let (t, h) = (pos('T'), pos('H'));
        let mw = mann_whitney(&t, &h).unwrap();
        close(mw.u, 25.0, 0.0);
        close(mw.p_greater, 0.154_761_904_761_904_77, 1e-12);
        close(mw.p_less, 0.879_870_129_870_129_9, 1e-12);
        let back = mann_whitney(&h, &t).unwrap();
        close(back.u, 11.0, 0.0);
        close(back.p_less, mw.p_greater, 1e-12);
    }

    #[test]
    fn mann_whitney_normal_approximation_with_ties() {
        let x = [
            1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.0,
        ];
        let y = [
            1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0, 5.0, 6.0, 2.0, 3.0,
        ];
        let mw = mann_whitney(&x, &y).unwrap();
        assert_eq!(mw.method, MannWhitneyMethod::Normal);
        close(mw.u, 121.0, 0.0);
        close(mw.p_greater, 0.074_065_691_298_566_09, 1e-10);
        close(mw.p_less, 0.932_567_029_420_135, 1e-10);
    }

    #[test]
    fn mann_whitney_exact_distribution_is_a_distribution() {
        for (m, n) in [(1, 1), (3, 7), (12, 5), (50, 50)] {
            let pmf = exact_u_pmf(m, n);
            assert_eq!(pmf.len(), m * n + 1);
            close(pmf.iter().sum(), 1.0, 1e-12);
            // Symmetric around m·n/2.
            for u in 0..=m * n {
                close(pmf[u], pmf[m * n - u], 1e-15);
            }
        }
        // P(U = 0) for sizes 3 and 7 is 1 / C(10, 3).
        close(exact_u_pmf(3, 7)[0], 1.0 / 120.0, 1e-15);
    }

    #[test]
    fn mann_whitney_degenerate_inputs() {
        assert!(mann_whitney(&[], &[1.0]).is_none());
        assert!(mann_whitney(&[f64::NAN], &[1.0]).is_none());
        let same = mann_whitney(&[3.0; 60], &[3.0; 60]).unwrap();
        assert_eq!(same.p_greater, 1.0);
        assert_eq!(same.p_less, 1.0);
    }

    #[test]
    fn error_rates_clearly_worse() {
        let v = compare_error_rates(
            ErrorCounts::new(250, 12),
            ErrorCounts::new(2250, 9),
            &policy(),
        );
        assert!(v.is_worse(), "{v}");
        assert_eq!(
            v.reason(),
            "canary error rate 4.8% (12/250) vs stable 0.4% (9/2,250): \
             P(canary > stable + 1pt) > 0.999"
        );
    }

    #[test]
    fn error_rate_probability_matches_reference() {
        // (canary errors, requests, stable errors, requests, margin, P(worse)).
        let cases = [
            (12, 250, 9, 2250, 0.01, 0.999_864_287_838_052),
            (1, 10, 0, 10, 0.01, 0.731_646_616_613_133),
            (50, 5000, 500, 50000, 0.01, 3.250_323_605_519_17e-8),
            (6, 200, 2, 200, 0.01, 0.741_543_574_493_32),
            (30, 1000, 20, 1000, 0.005, 0.759_707_891_063_212),
            (3, 100, 1, 100, 0.0, 0.815_632_890_822_271),
        ];
        for (ec, rc, es, rs, margin, expected) in cases {
            let canary = BetaPosterior::from_counts(ErrorCounts::new(rc, ec));
            let stable = BetaPosterior::from_counts(ErrorCounts::new(rs, es));
            let p = prob_exceeds(canary, stable, margin);
            close(p, expected, 1e-9);
            // Both integration orders agree.
            close(
                prob_exceeds_over_canary(canary, stable, margin),
                prob_exceeds_over_stable(canary, stable, margin),
                1e-8,
            );
        }
    }

    #[test]
    fn error_rates_equal_with_lots_of_data_not_worse() {
        let v = compare_error_rates(
            ErrorCounts::new(5000, 50),
            ErrorCounts::new(50000, 500),
            &policy(),
        );
        assert!(v.is_not_worse(), "{v}");
        assert!(
            v.reason().contains("P(canary <= stable + 1pt) > 0.999"),
            "{v}"
        );
        // No errors at all on either side is fine too.
        let v = compare_error_rates(
            ErrorCounts::new(2000, 0),
            ErrorCounts::new(2000, 0),
            &policy(),
        );
        assert!(v.is_not_worse(), "{v}");
    }

    #[test]
    fn error_rates_one_in_ten_vs_none_not_enough_data() {
        // Enough requests for the policy, but the posteriors still overlap.
        let lenient = ErrorRatePolicy {
            min_requests: 10,
            ..policy()
        };
        let v = compare_error_rates(ErrorCounts::new(10, 1), ErrorCounts::new(10, 0), &lenient);
        assert!(v.is_not_enough_data(), "{v}");
        assert!(v.reason().contains("= 0.732"), "{v}");
        assert!(v.reason().contains("not enough data yet"), "{v}");
        // And with the default minimum it does not even look.
        let v = compare_error_rates(ErrorCounts::new(10, 1), ErrorCounts::new(10, 0), &policy());
        assert!(v.is_not_enough_data(), "{v}");
    }

    #[test]
    fn error_rates_below_min_requests_not_enough_data() {
        // Even a terrible canary is not judged below the minimum.
        let v = compare_error_rates(
            ErrorCounts::new(40, 40),
            ErrorCounts::new(10_000, 10),
            &policy(),
        );
        assert!(v.is_not_enough_data(), "{v}");
        assert!(v.reason().contains("fewer than 50 requests"), "{v}");
        let v = compare_error_rates(ErrorCounts::new(500, 5), ErrorCounts::new(0, 0), &policy());
        assert!(v.is_not_enough_data(), "{v}");
    }

    #[test]
    fn error_rates_invalid_input_not_judged() {
        let v = compare_error_rates(
            ErrorCounts::new(100, 101),
            ErrorCounts::new(100, 0),
            &policy(),
        );
        assert!(
            v.is_not_enough_data() && v.reason().contains("invalid canary"),
            "{v}"
        );
        let bad = ErrorRatePolicy {
            margin: f64::NAN,
            ..policy()
        };
        let v = compare_error_rates(ErrorCounts::new(100, 1), ErrorCounts::new(100, 1), &bad);
        assert!(v.reason().contains("invalid error-rate policy"), "{v}");
    }

    #[test]
    fn error_rates_are_deterministic() {
        let a = compare_error_rates(
            ErrorCounts::new(300, 7),
            ErrorCounts::new(3000, 40),
            &policy(),
        );
        let b = compare_error_rates(
            ErrorCounts::new(300, 7),
            ErrorCounts::new(3000, 40),
            &policy(),
        );
        assert_eq!(a, b);
    }

    fn latency_policy() -> LatencyPolicy {
        LatencyPolicy {
            alpha: 0.05,
            margin_ratio: 0.1,
            min_samples: 20,
        }
    }

    #[test]
    fn latencies_shifted_distribution_worse() {
        let mut rng = Rng(7);
        let stable: Vec<f64> = (0..400).map(|_| rng.latency(80.0, 20.0)).collect();
        let canary: Vec<f64> = (0..100).map(|_| rng.latency(110.0, 20.0)).collect();
        let v = compare_latencies(&canary, &stable, &latency_policy());
        assert!(v.is_worse(), "{v}");
        assert!(v.reason().contains("n 100/400"), "{v}");
    }

    #[test]
    fn latencies_identical_not_worse() {
        let mut rng = Rng(11);
        let stable: Vec<f64> = (0..500).map(|_| rng.latency(80.0, 20.0)).collect();
        let canary = stable.clone();
        let v = compare_latencies(&canary, &stable, &latency_policy());
        assert!(v.is_not_worse(), "{v}");
        // Same distribution, different draws.
        let canary: Vec<f64> = (0..500).map(|_| rng.latency(80.0, 20.0)).collect();
        let v = compare_latencies(&canary, &stable, &latency_policy());
        assert!(v.is_not_worse(), "{v}");
    }

    #[test]
    fn latencies_small_significant_slowdown_is_tolerated() {
        // 3% slower everywhere: significant with this many samples, but within 10%.
        let mut rng = Rng(5);
        let stable: Vec<f64> = (0..5000).map(|_| rng.latency(80.0, 20.0)).collect();
        let canary: Vec<f64> = stable.iter().map(|x| x * 1.03).collect();
        assert!(mann_whitney(&canary, &stable).unwrap().p_greater < 0.05);
        let v = compare_latencies(&canary, &stable, &latency_policy());
        assert!(v.is_not_worse(), "{v}");
    }

    #[test]
    fn latencies_tiny_samples_not_enough_data() {
        let v = compare_latencies(
            &[500.0, 600.0, 700.0],
            &[100.0, 110.0, 120.0],
            &latency_policy(),
        );
        assert!(v.is_not_enough_data(), "{v}");
        assert!(v.reason().contains("fewer than 20"), "{v}");
        // Non-finite samples do not count towards the minimum.
        let canary = vec![f64::NAN; 30];
        let stable = vec![100.0; 30];
        assert!(compare_latencies(&canary, &stable, &latency_policy()).is_not_enough_data());
    }

    #[test]
    fn latencies_slower_median_but_noisy_not_enough_data() {
        // Median 17% higher but the samples overlap too much to be significant.
        let stable: Vec<f64> = (0..20).map(|i| 50.0 + 10.0 * i as f64).collect();
        let canary: Vec<f64> = stable.iter().map(|x| x + 25.0).collect();
        let v = compare_latencies(&canary, &stable, &latency_policy());
        assert!(v.is_not_enough_data(), "{v}");
        assert!(v.reason().contains("exact"), "{v}");
    }

    #[test]
    fn sprt_bad_canary_fails_fast() {
        let mut sprt = Sprt::new(0.01, 0.10, 0.05, 0.10);
        let outcomes = [
            true, false, true, false, true, false, true, false, true, false,
        ];
        let mut decided_at = None;
        for (i, &e) in outcomes.iter().enumerate() {
            if let SprtState::AcceptH1 { .. } = sprt.observe(e) {
                decided_at.get_or_insert(i + 1);
            }
        }
        // Each error adds ln(10) = 2.30, each success ln(0.9/0.99) = -0.10, and H1 needs
        // ln(0.9/0.05) = 2.89: error, success, error decides after three requests.
        let at = decided_at.expect("accepts H1");
        assert_eq!(at, 3);
        assert!(matches!(sprt.state(), SprtState::AcceptH1 { llr } if llr > sprt.upper_bound()));
        assert!(sprt.verdict().is_worse(), "{}", sprt.verdict());
        // Sticky: later successes do not undo it.
        for _ in 0..1000 {
            sprt.observe(false);
        }
        assert!(sprt.verdict().is_worse());
        assert_eq!(sprt.requests(), at as u64);
    }

    #[test]
    fn sprt_healthy_canary_accepted() {
        let mut sprt = Sprt::new(0.01, 0.10, 0.05, 0.10);
        let mut decided_at = None;
        for i in 0..500 {
            if let SprtState::AcceptH0 { .. } = sprt.observe(false) {
                decided_at.get_or_insert(i + 1);
            }
        }
        // ln(0.1/0.95) / ln(0.9/0.99) = 23.6, so the 24th success decides.
        assert_eq!(decided_at, Some(24));
        assert!(sprt.verdict().is_not_worse(), "{}", sprt.verdict());
        assert_eq!(sprt.errors(), 0);
    }

    #[test]
    fn sprt_counts_and_reset() {
        let mut sprt = Sprt::new(0.01, 0.10, 0.05, 0.10);
        let state = sprt.observe_counts(10, 5);
        let expected = 5.0 * 10f64.ln() + 5.0 * (0.9f64 / 0.99).ln();
        assert!(matches!(state, SprtState::AcceptH1 { .. }));
        close(state.llr(), expected, 1e-12);
        sprt.reset();
        assert_eq!(sprt.state(), SprtState::Continue { llr: 0.0 });
        let s = sprt.observe_counts(5, 0);
        assert!(matches!(s, SprtState::Continue { .. }));
        assert!(sprt.verdict().is_not_enough_data());
        assert!(
            sprt.verdict()
                .reason()
                .contains("0 errors in 5 canary requests")
        );
        assert_eq!(sprt.observe_counts(0, 0), s);
    }

    #[test]
    fn sprt_rejects_bad_parameters() {
        assert!(Sprt::try_new(0.0, 0.1, 0.05, 0.1).is_err());
        assert!(Sprt::try_new(0.1, 0.1, 0.05, 0.1).is_err());
        assert!(Sprt::try_new(0.01, 1.0, 0.05, 0.1).is_err());
        assert!(Sprt::try_new(0.01, 0.1, 0.6, 0.5).is_err());
        assert!(Sprt::try_new(0.01, 0.1, f64::NAN, 0.1).is_err());
        close(
            Sprt::new(0.01, 0.1, 0.05, 0.1).upper_bound(),
            18f64.ln(),
            1e-12,
        );
        close(
            Sprt::new(0.01, 0.1, 0.05, 0.1).lower_bound(),
            (0.1f64 / 0.95).ln(),
            1e-12,
        );
    }

    #[test]
    #[should_panic(expected = "0 < p0 < p1 < 1")]
    fn sprt_new_panics_on_bad_parameters() {
        let _ = Sprt::new(0.2, 0.1, 0.05, 0.1);
    }

    #[test]
    fn classify_metric_high_low_pass_nodata() {
        let mut rng = Rng(3);
        let stable: Vec<f64> = (0..300).map(|_| rng.latency(100.0, 10.0)).collect();
        let higher: Vec<f64> = (0..300).map(|_| rng.latency(130.0, 10.0)).collect();
        let lower: Vec<f64> = (0..300).map(|_| rng.latency(70.0, 10.0)).collect();
        let same: Vec<f64> = (0..300).map(|_| rng.latency(100.0, 10.0)).collect();
        let p = latency_policy();
        assert_eq!(classify_metric(&higher, &stable, &p), MetricClass::High);
        assert_eq!(classify_metric(&lower, &stable, &p), MetricClass::Low);
        assert_eq!(classify_metric(&same, &stable, &p), MetricClass::Pass);
        assert_eq!(
            classify_metric(&higher[..5], &stable, &p),
            MetricClass::NoData
        );
    }

    #[test]
    fn score_weighted_share_and_thresholds() {
        let t = ScoreThresholds {
            pass: 95.0,
            marginal: 75.0,
        };
        let all_pass = [
            MetricOutcome::new("latency", MetricClass::Pass),
            MetricOutcome::new("cpu", MetricClass::Pass),
        ];
        let card = score(&all_pass, &t);
        assert_eq!(card.outcome, ScoreOutcome::Pass);
        assert_eq!(card.score, Some(100.0));
        assert!(card.verdict().is_not_worse());

        // 4 of 5 weight units pass: 80 is marginal.
        let marginal = [
            MetricOutcome::new("latency", MetricClass::Pass).weight(4.0),
            MetricOutcome::new("cpu", MetricClass::High).fail_on(FailOn::High),
        ];
        let card = score(&marginal, &t);
        assert_eq!(card.outcome, ScoreOutcome::Marginal);
        close(card.score.unwrap(), 80.0, 1e-12);
        assert_eq!(card.failed, vec!["cpu".to_string()]);
        assert!(card.verdict().is_not_enough_data());
        assert_eq!(
            card.reason,
            "score 80.0 (1 of 2 metrics passing): marginal (75 to 95); failing: cpu"
        );

        // Equal weights, one of two failing: 50 fails.
        let failing = [
            MetricOutcome::new("latency", MetricClass::Pass),
            MetricOutcome::new("errors", MetricClass::High),
        ];
        let card = score(&failing, &t);
        assert_eq!(card.outcome, ScoreOutcome::Fail);
        assert!(card.verdict().is_worse());
    }

    #[test]
    fn score_direction_nodata_and_critical() {
        let t = ScoreThresholds::default();
        // Lower latency is not a failure when only High fails; no-data metrics are left out.
        let metrics = [
            MetricOutcome::new("latency", MetricClass::Low).fail_on(FailOn::High),
            MetricOutcome::new("throughput", MetricClass::High).fail_on(FailOn::Low),
            MetricOutcome::new("gc", MetricClass::NoData),
        ];
        let card = score(&metrics, &t);
        assert_eq!(card.outcome, ScoreOutcome::Pass);
        assert!(card.reason.contains("no data: gc"), "{}", card.reason);

        // A failing critical metric fails the run even with a high score.
        let mut metrics: Vec<MetricOutcome> = (0..30)
            .map(|i| MetricOutcome::new(format!("m{i}"), MetricClass::Pass))
            .collect();
        metrics.push(MetricOutcome::new("errors", MetricClass::High).critical(true));
        let card = score(&metrics, &t);
        assert_eq!(card.outcome, ScoreOutcome::Fail);
        assert!(card.score.unwrap() > 95.0);
        assert!(
            card.reason
                .starts_with("critical metric failed: errors (high)")
        );

        // Nothing with data, or nothing weighted: no verdict.
        let card = score(&[MetricOutcome::new("gc", MetricClass::NoData)], &t);
        assert_eq!(card.outcome, ScoreOutcome::NoData);
        assert_eq!(card.score, None);
        let card = score(
            &[MetricOutcome::new("x", MetricClass::Pass).weight(f64::NAN)],
            &t,
        );
        assert_eq!(card.outcome, ScoreOutcome::NoData);
        assert!(score(&[], &t).verdict().is_not_enough_data());
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(2250), "2,250");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_points(0.01), "1pt");
        assert_eq!(fmt_points(0.005), "0.5pt");
        assert_eq!(fmt_ratio_pct(0.1), "10%");
        assert_eq!(fmt_sig(123.456), "123.5");
        assert_eq!(fmt_sig(0.05), "0.05");
        assert_eq!(fmt_sig(12345.6), "12346");
        assert_eq!(fmt_prob(0.9981), "= 0.998");
        assert_eq!(fmt_prob(0.99999), "> 0.999");
        assert_eq!(fmt_prob(1e-9), "< 0.001");
        assert_eq!(fmt_change(110.0, 100.0), "+10.0%");
    }
}
