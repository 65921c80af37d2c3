//! Simulated comparisons for the [sequential judge](super::sequential): seeded request streams
//! for both versions, judged at every look, to measure what the judge promises (how often two
//! identical versions get rolled back) and what it costs (how many requests it needs to catch a
//! bad version), beside the textbook references.
//!
//! A run sends requests at a steady rate; each goes to the new version with the traffic weight's
//! probability (as the ingress splits it), fails with its version's error rate, and takes a
//! log-normal latency that is binned into ingress-nginx's histogram buckets
//! ([`INGRESS_NGINX_BUCKETS`]), exactly what the gate would read from the controller. At every
//! look the window's counts are added to the evidence and [`sequential::decide`] is asked.
//!
//! Everything is deterministic for a seed: each run draws from its own generator, seeded from
//! the master seed, the scenario and the run's index, so results do not depend on how runs are
//! spread over threads. Loops are bounded by the number of looks and the requests per look.
//!
//! The references beside the simulated figures:
//!
//! * the fixed-sample size of a one-sided two-proportion z-test at the same α and power (the
//!   classic formula with unpooled variances; it is valid only when looked at once);
//! * the average sample number of Wald's SPRT between the two simple hypotheses at the edge of
//!   the margin and at the true alternative, with Wald's bounds A = (1−β)/α and B = β/(1−α),
//!   stable's behaviour taken as known (Wald 1945). Among all tests with those error rates it
//!   needs the fewest observations on average for that one alternative, so it is the floor any
//!   sequential test can approach, not a method a gate could use (it must know both rates).
//!
//! For latency the hypotheses are binned distributions: stable's latencies stretched by the
//! margin (the edge of "not worse") and by the alternative's factor. The fixed-sample reference
//! is then the Neyman–Pearson test between them (normal approximation of the summed
//! log-likelihood ratio), since the z-test for proportions does not apply. Both references know
//! the whole shape of both distributions, while the judge learns a median from counts, so they
//! are floors rather than competitors.
//!
//! A/A runs go on looking after a pass: a false rollback is counted if the judge *ever* says
//! worse within the looks, the strict reading of the guarantee.

use std::num::NonZeroUsize;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use statrs::function::erf::erfc_inv;

use super::Outcome;
use super::sequential::{self, Counts, Evidence, INGRESS_NGINX_BUCKETS, Metric, Policy};
use super::stats::normal_cdf;

#[cfg(test)]
mod tests;

/// One version's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Version {
    /// Share of requests answered with a 5xx.
    pub error_rate: f64,
    /// Median latency, seconds.
    pub latency_p50: f64,
    /// Standard deviation of the logarithm of the latency.
    pub latency_sigma: f64,
}

impl Version {
    /// The demo app's healthy version: no errors, log-normal latency with p50 5ms and
    /// p99 20ms (the embedded cluster's default app behaviour).
    pub fn demo() -> Self {
        Version {
            error_rate: 0.0,
            latency_p50: 0.005,
            // p99 / p50 = 4 = e^(2.326σ).
            latency_sigma: 4.0_f64.ln() / 2.326_347_874_040_840_8,
        }
    }

    /// The same with another error rate.
    pub fn with_error_rate(self, error_rate: f64) -> Self {
        Version { error_rate, ..self }
    }

    /// The same with every latency multiplied by `factor`.
    pub fn slower(self, factor: f64) -> Self {
        Version {
            latency_p50: self.latency_p50 * factor,
            ..self
        }
    }

    /// The probability of each of ingress-nginx's buckets (the last is `+Inf`).
    pub fn bucket_probabilities(&self) -> Vec<f64> {
        let z = |x: f64| (x / self.latency_p50).ln() / self.latency_sigma;
        // Above the median the upper tail is taken directly, so that the far buckets keep
        // their tiny but positive probabilities instead of 1 − 1 = 0.
        let mass = |lo: f64, hi: f64| {
            let (zl, zh) = (z(lo), z(hi));
            if zh <= 0.0 {
                normal_cdf(zh) - normal_cdf(zl)
            } else {
                normal_cdf(-zl) - normal_cdf(-zh)
            }
        };
        let mut out = Vec::with_capacity(INGRESS_NGINX_BUCKETS.len() + 1);
        let mut lo = 0.0;
        for &b in &INGRESS_NGINX_BUCKETS {
            out.push(mass(lo, b));
            lo = b;
        }
        out.push(mass(lo, f64::INFINITY));
        out
    }
}

/// How requests arrive and how often the judge looks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Traffic {
    /// Requests per second over both versions.
    pub requests_per_second: f64,
    /// Share of the requests the new version gets, in [0, 1].
    pub new_weight: f64,
    /// Seconds between two looks.
    pub look_every: f64,
    /// Looks in a run (the run stops earlier when the scenario says so).
    pub looks: u32,
}

impl Default for Traffic {
    /// The demo: 50 requests/s, 20% to the new version, a look every second, 1000 looks.
    fn default() -> Self {
        Traffic {
            requests_per_second: 50.0,
            new_weight: 0.2,
            look_every: 1.0,
            looks: 1000,
        }
    }
}

impl Traffic {
    /// Requests sent up to the end of look `look` (whole requests; fractions carry over).
    fn sent_by(&self, look: u32) -> u64 {
        let per_look = self.requests_per_second * self.look_every;
        if per_look.is_finite() && per_look > 0.0 {
            (per_look * f64::from(look)).floor() as u64
        } else {
            0
        }
    }
}

/// Two versions, their traffic and the judge's policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scenario {
    pub traffic: Traffic,
    pub stable: Version,
    pub new: Version,
    pub policy: Policy,
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// At the first decisive outcome (pass or fail), as a gate would.
    AtDecision,
    /// After every look, or once a "worse" and the naive test's "worse" are both seen: to
    /// count every run that is *ever* called worse, even after a pass.
    AtWorse,
}

/// A moment of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The look, from 1.
    pub look: u32,
    /// Requests each version had served by then.
    pub new_requests: u64,
    pub stable_requests: u64,
    /// The metric that said worse, for a "worse".
    pub metric: Option<Metric>,
}

/// What happened in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Run {
    /// The first look at which a metric said worse.
    pub worse: Option<Event>,
    /// The first look at which every metric said not worse, if before any "worse".
    pub pass: Option<Event>,
    /// The first look at which a one-sided two-proportion z-test at level α on the error
    /// rates so far (the peeking gate) said worse.
    pub naive_worse: Option<Event>,
    /// Looks made.
    pub looks: u32,
}

impl Run {
    /// The gate's outcome: the first decisive answer.
    pub fn outcome(&self) -> Outcome {
        match (self.worse, self.pass) {
            (Some(w), Some(p)) if p.look < w.look => Outcome::Pass,
            (Some(_), _) => Outcome::Fail,
            (None, Some(_)) => Outcome::Pass,
            (None, None) => Outcome::Inconclusive,
        }
    }
}

/// A standard normal from two uniforms (Box–Muller), the second one kept for the next call.
#[derive(Debug, Default)]
struct Gaussian {
    spare: Option<f64>,
}

impl Gaussian {
    fn next(&mut self, rng: &mut StdRng) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 − U is in (0, 1], so its logarithm is finite.
        let r = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
        let t = std::f64::consts::TAU * rng.random::<f64>();
        self.spare = Some(r * t.sin());
        r * t.cos()
    }
}

/// One run of a scenario.
pub fn run(scenario: &Scenario, seed: u64, stop: Stop) -> Run {
    let traffic = &scenario.traffic;
    let policy = &scenario.policy;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut gaussian = Gaussian::default();
    let mut evidence = Evidence::default();
    let buckets = evidence.bounds().len() + 1;
    let mut new_window = Counts::with_buckets(buckets);
    let mut stable_window = Counts::with_buckets(buckets);
    let naive_z = z_quantile(policy.confidence);
    let mut result = Run::default();
    let mut sent = 0u64;
    for look in 1..=traffic.looks {
        for w in [&mut new_window, &mut stable_window] {
            w.requests = 0;
            w.errors = 0;
            w.buckets.iter_mut().for_each(|b| *b = 0);
        }
        let until = traffic.sent_by(look);
        for _ in sent..until {
            let (version, window) = if rng.random::<f64>() < traffic.new_weight {
                (&scenario.new, &mut new_window)
            } else {
                (&scenario.stable, &mut stable_window)
            };
            window.requests += 1;
            if rng.random::<f64>() < version.error_rate {
                window.errors += 1;
            }
            let latency =
                version.latency_p50 * (version.latency_sigma * gaussian.next(&mut rng)).exp();
            // A request of exactly `le` seconds belongs to that bucket (upper bounds are
            // inclusive in Prometheus histograms).
            let bucket = INGRESS_NGINX_BUCKETS.partition_point(|b| *b < latency);
            window.buckets[bucket] += 1;
        }
        sent = until;
        if evidence.add_counts(&new_window, &stable_window).is_err() {
            break;
        }
        result.looks = look;
        let at = |metric| Event {
            look,
            new_requests: evidence.new_version().requests,
            stable_requests: evidence.stable().requests,
            metric,
        };
        let decisions = sequential::decide(&evidence, policy);
        match decisions.outcome() {
            Outcome::Fail if result.worse.is_none() => result.worse = Some(at(decisions.worse())),
            Outcome::Pass if result.pass.is_none() && result.worse.is_none() => {
                result.pass = Some(at(None));
            }
            _ => {}
        }
        if policy.error_rate
            && result.naive_worse.is_none()
            && naive_worse(&evidence, policy.max_error_rate_increase, naive_z)
        {
            result.naive_worse = Some(at(Some(Metric::ErrorRate)));
        }
        let done = match stop {
            Stop::AtDecision => result.worse.is_some() || result.pass.is_some(),
            Stop::AtWorse => {
                result.worse.is_some() && (result.naive_worse.is_some() || !policy.error_rate)
            }
        };
        if done {
            break;
        }
    }
    result
}

/// The peeking gate: a one-sided two-proportion z-test (unpooled) of "new − stable > margin"
/// on the totals so far, at a fixed level.
fn naive_worse(e: &Evidence, margin: f64, z: f64) -> bool {
    let (n, s) = (e.new_version(), e.stable());
    if n.requests == 0 || s.requests == 0 {
        return false;
    }
    let (pn, ps) = (n.error_rate(), s.error_rate());
    let se = (pn * (1.0 - pn) / n.requests as f64 + ps * (1.0 - ps) / s.requests as f64).sqrt();
    se > 0.0 && (pn - ps - margin) / se > z
}

/// The seed of run `index` of the scenario numbered `stream`.
pub fn run_seed(seed: u64, stream: u64, index: u64) -> u64 {
    splitmix(
        seed ^ splitmix(
            stream
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(splitmix(index)),
        ),
    )
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `runs` runs of a scenario on `threads` threads, in run order.
pub fn run_many(
    scenario: &Scenario,
    runs: usize,
    seed: u64,
    stream: u64,
    stop: Stop,
    threads: NonZeroUsize,
) -> Vec<Run> {
    let threads = threads.get().min(runs.max(1));
    let mut results = vec![Run::default(); runs];
    std::thread::scope(|scope| {
        for (t, chunk) in results
            .chunks_mut(runs.div_ceil(threads).max(1))
            .enumerate()
        {
            let first = t * runs.div_ceil(threads).max(1);
            scope.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    *slot = run(scenario, run_seed(seed, stream, (first + i) as u64), stop);
                }
            });
        }
    });
    results
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// The share of runs that did something within a number of looks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtLooks {
    pub looks: u32,
    pub share: f64,
}

/// Identical versions: how often they were ever called worse.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AaRow {
    /// Both versions' error rate.
    pub error_rate: f64,
    /// The margins judged with: error rate (points) and latency (relative).
    pub max_error_rate_increase: f64,
    pub max_latency_increase: f64,
    pub runs: usize,
    /// Share of runs called worse (on either metric) within so many looks: the false
    /// rollbacks.
    pub false_rollbacks: Vec<AtLooks>,
    /// Of the runs called worse within the last look count, how many on each metric first.
    pub by_error_rate: usize,
    pub by_latency: usize,
    /// The same for the peeking z-test on error rates.
    pub naive_false_rollbacks: Vec<AtLooks>,
    /// Share of runs that passed (before any "worse") within the last look count.
    pub passed: f64,
    /// Requests on the new version when they passed: median and 95th percentile over all
    /// runs (`None` when fewer than that share passed).
    pub pass_new_requests_p50: Option<u64>,
    pub pass_new_requests_p95: Option<u64>,
    /// Requests simulated for the row.
    pub simulated_requests: u64,
}

/// A bad version: how soon it was called worse.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionRow {
    pub name: String,
    pub stable: Version,
    pub new: Version,
    pub runs: usize,
    /// Share of runs failed (before any pass) within the looks: the power reached.
    pub power: f64,
    /// Share of runs passed first: bad versions let through.
    pub passed: f64,
    /// Requests on the new version when "worse" was declared: median and 95th percentile
    /// over all runs (`None` when fewer than that share failed).
    pub new_requests_p50: Option<u64>,
    pub new_requests_p95: Option<u64>,
    /// Requests on the stable version at the 95th percentile run.
    pub stable_requests_p95: Option<u64>,
    /// The fixed-sample test's requests on the new version for 95% power at the same α
    /// (`None` where it does not apply).
    pub fixed_new_requests: Option<f64>,
    /// Wald's SPRT's average requests on the new version under the alternative (stable
    /// known).
    pub sprt_asn: Option<f64>,
    /// Requests simulated for the row.
    pub simulated_requests: u64,
}

/// A demo traffic level: how long until the gate decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoRow {
    pub new_weight: f64,
    pub new: Version,
    /// The metrics judged.
    pub metrics: Vec<Metric>,
    pub runs: usize,
    /// The right answer: pass for a healthy version, fail for a bad one.
    pub expected: Outcome,
    /// Share of runs that gave it within the looks, and that gave the other one.
    pub right: f64,
    pub wrong: f64,
    /// Seconds until the right answer: median and 95th percentile over all runs.
    pub seconds_p50: Option<f64>,
    pub seconds_p95: Option<f64>,
    /// Requests simulated for the row.
    pub simulated_requests: u64,
}

/// The whole bench.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bench {
    pub runs: usize,
    pub seed: u64,
    pub traffic: Traffic,
    pub policy: Policy,
    pub stable: Version,
    pub aa: Vec<AaRow>,
    pub detection: Vec<DetectionRow>,
    pub demo: Vec<DemoRow>,
}

/// What the bench runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchConfig {
    pub runs: usize,
    pub seed: u64,
    pub traffic: Traffic,
    pub policy: Policy,
    /// Looks a detection or demo run may take at most.
    pub max_looks: u32,
    pub threads: NonZeroUsize,
}

impl BenchConfig {
    /// The demo's traffic ([`Traffic::default`]), the default policy, 1000 looks for the
    /// A/A rows and up to 3000 for the others.
    pub fn new(runs: usize, seed: u64) -> Self {
        BenchConfig {
            runs,
            seed,
            traffic: Traffic::default(),
            policy: Policy::default(),
            max_looks: 3000,
            threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// The look counts reported for the A/A rows: 1, 10, 100, ... up to `looks`.
pub fn look_counts(looks: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut l = 1u32;
    while l <= looks {
        out.push(l);
        match l.checked_mul(10) {
            Some(next) => l = next,
            None => break,
        }
    }
    if out.last() != Some(&looks) && looks > 0 {
        out.push(looks);
    }
    out
}

/// A/A runs: identical versions at `error_rate` errors, every look made.
pub fn aa(config: &BenchConfig, error_rate: f64, policy: Policy, stream: u64) -> AaRow {
    let version = Version::demo().with_error_rate(error_rate);
    let scenario = Scenario {
        traffic: config.traffic,
        stable: version,
        new: version,
        policy,
    };
    let runs = run_many(
        &scenario,
        config.runs,
        config.seed,
        stream,
        Stop::AtWorse,
        config.threads,
    );
    let n = runs.len().max(1) as f64;
    let counts = look_counts(config.traffic.looks);
    let share_by = |looks: u32, event: &dyn Fn(&Run) -> Option<Event>| AtLooks {
        looks,
        share: runs
            .iter()
            .filter(|r| event(r).is_some_and(|e| e.look <= looks))
            .count() as f64
            / n,
    };
    let by = |metric| {
        runs.iter()
            .filter(|r| r.worse.is_some_and(|w| w.metric == Some(metric)))
            .count()
    };
    let pass_requests: Vec<Option<u64>> = runs
        .iter()
        .map(|r| r.pass.map(|p| p.new_requests))
        .collect();
    AaRow {
        error_rate,
        max_error_rate_increase: policy.max_error_rate_increase,
        max_latency_increase: policy.max_latency_increase,
        runs: runs.len(),
        false_rollbacks: counts.iter().map(|&l| share_by(l, &|r| r.worse)).collect(),
        by_error_rate: by(Metric::ErrorRate),
        by_latency: by(Metric::Latency),
        naive_false_rollbacks: counts
            .iter()
            .map(|&l| share_by(l, &|r| r.naive_worse))
            .collect(),
        passed: runs.iter().filter(|r| r.pass.is_some()).count() as f64 / n,
        pass_new_requests_p50: percentile(&pass_requests, 0.5),
        pass_new_requests_p95: percentile(&pass_requests, 0.95),
        simulated_requests: simulated(&scenario.traffic, &runs),
    }
}

/// Detection runs: the new version is `new`, stable the demo app; stop at the first answer.
pub fn detection(
    config: &BenchConfig,
    name: &str,
    stable: Version,
    new: Version,
    stream: u64,
) -> DetectionRow {
    let scenario = Scenario {
        traffic: Traffic {
            looks: config.max_looks,
            ..config.traffic
        },
        stable,
        new,
        policy: config.policy,
    };
    let runs = run_many(
        &scenario,
        config.runs,
        config.seed,
        stream,
        Stop::AtDecision,
        config.threads,
    );
    let n = runs.len().max(1) as f64;
    let failed: Vec<Option<Event>> = runs
        .iter()
        .map(|r| (r.outcome() == Outcome::Fail).then_some(r.worse).flatten())
        .collect();
    let new_requests: Vec<Option<u64>> = failed.iter().map(|e| e.map(|e| e.new_requests)).collect();
    let stable_requests: Vec<Option<u64>> = failed
        .iter()
        .map(|e| e.map(|e| e.stable_requests))
        .collect();
    let alpha = 1.0 - config.policy.confidence;
    let power = 0.95;
    let ratio = (1.0 - config.traffic.new_weight) / config.traffic.new_weight;
    let (fixed, sprt) = if new.error_rate > stable.error_rate {
        let p0 = stable.error_rate + config.policy.max_error_rate_increase;
        (
            z_test_sample_size(
                stable.error_rate,
                new.error_rate,
                config.policy.max_error_rate_increase,
                alpha,
                power,
                ratio,
            ),
            sprt_asn(bernoulli_kl(new.error_rate, p0), alpha, 1.0 - power),
        )
    } else {
        let h0 = stable
            .slower(1.0 + config.policy.max_latency_increase)
            .bucket_probabilities();
        let h1 = new.bucket_probabilities();
        (
            lr_test_sample_size(&h0, &h1, alpha, power),
            sprt_asn(categorical_kl(&h1, &h0), alpha, 1.0 - power),
        )
    };
    DetectionRow {
        name: name.to_owned(),
        stable,
        new,
        runs: runs.len(),
        power: failed.iter().filter(|e| e.is_some()).count() as f64 / n,
        passed: runs.iter().filter(|r| r.outcome() == Outcome::Pass).count() as f64 / n,
        new_requests_p50: percentile(&new_requests, 0.5),
        new_requests_p95: percentile(&new_requests, 0.95),
        stable_requests_p95: percentile(&stable_requests, 0.95),
        fixed_new_requests: fixed,
        sprt_asn: sprt,
        simulated_requests: simulated(&scenario.traffic, &runs),
    }
}

/// Demo traffic at a weight: seconds until the gate's answer for `new` against the demo app.
pub fn demo(
    config: &BenchConfig,
    new_weight: f64,
    new: Version,
    policy: Policy,
    stream: u64,
) -> DemoRow {
    let stable = Version::demo();
    let expected = if new == stable {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    let scenario = Scenario {
        traffic: Traffic {
            new_weight,
            looks: config.max_looks,
            ..config.traffic
        },
        stable,
        new,
        policy,
    };
    let runs = run_many(
        &scenario,
        config.runs,
        config.seed,
        stream,
        Stop::AtDecision,
        config.threads,
    );
    let n = runs.len().max(1) as f64;
    let looks: Vec<Option<u64>> = runs
        .iter()
        .map(|r| {
            (r.outcome() == expected)
                .then(|| r.worse.or(r.pass).map(|e| u64::from(e.look)))
                .flatten()
        })
        .collect();
    let wrong = runs
        .iter()
        .filter(|r| !matches!(r.outcome(), Outcome::Inconclusive) && r.outcome() != expected)
        .count();
    let seconds = |l: Option<u64>| l.map(|l| l as f64 * config.traffic.look_every);
    DemoRow {
        new_weight,
        new,
        metrics: policy.metrics(),
        runs: runs.len(),
        expected,
        right: looks.iter().filter(|l| l.is_some()).count() as f64 / n,
        wrong: wrong as f64 / n,
        seconds_p50: seconds(percentile(&looks, 0.5)),
        seconds_p95: seconds(percentile(&looks, 0.95)),
        simulated_requests: simulated(&scenario.traffic, &runs),
    }
}

/// The whole bench: A/A rows at 0%, 1% and 5% errors with the policy's margins and with zero
/// margins (where identical versions sit right on the edge of "worse", the hardest case for
/// the guarantee); detection of 0%→5%, 1%→3%, 0%→50% errors and +50% latency; and the time
/// to an answer at demo traffic, for a healthy version (both metrics, and the error rate
/// alone) and one with 5% errors.
pub fn bench(config: &BenchConfig) -> Bench {
    let zero = Policy {
        max_error_rate_increase: 0.0,
        max_latency_increase: 0.0,
        ..config.policy
    };
    let mut aa_rows = Vec::new();
    let mut stream = 0;
    for policy in [config.policy, zero] {
        for rate in [0.0, 0.01, 0.05] {
            stream += 1;
            aa_rows.push(aa(config, rate, policy, stream));
        }
    }
    let demo_app = Version::demo();
    let alternatives = [
        ("errors 0% -> 5%", demo_app, demo_app.with_error_rate(0.05)),
        (
            "errors 1% -> 3%",
            demo_app.with_error_rate(0.01),
            demo_app.with_error_rate(0.03),
        ),
        ("errors 0% -> 50%", demo_app, demo_app.with_error_rate(0.5)),
        ("latency +50%", demo_app, demo_app.slower(1.5)),
    ];
    let detection_rows = alternatives
        .iter()
        .map(|(name, stable, new)| {
            stream += 1;
            detection(config, name, *stable, *new, stream)
        })
        .collect();
    // Both metrics, and the error rate alone as the built-in canary strategy compares.
    let errors_only = Policy {
        latency: false,
        ..config.policy
    };
    let mut demo_rows = Vec::new();
    for weight in [0.1, 0.2, 0.5] {
        for (new, policy) in [
            (demo_app, config.policy),
            (demo_app, errors_only),
            (demo_app.with_error_rate(0.05), config.policy),
        ] {
            stream += 1;
            demo_rows.push(demo(config, weight, new, policy, stream));
        }
    }
    Bench {
        runs: config.runs,
        seed: config.seed,
        traffic: config.traffic,
        policy: config.policy,
        stable: demo_app,
        aa: aa_rows,
        detection: detection_rows,
        demo: demo_rows,
    }
}

/// Requests sent over all the looks the runs made.
fn simulated(traffic: &Traffic, runs: &[Run]) -> u64 {
    runs.iter().map(|r| traffic.sent_by(r.looks)).sum()
}

impl Bench {
    /// Requests simulated for the whole bench.
    pub fn simulated_requests(&self) -> u64 {
        let aa: u64 = self.aa.iter().map(|r| r.simulated_requests).sum();
        let detection: u64 = self.detection.iter().map(|r| r.simulated_requests).sum();
        let demo: u64 = self.demo.iter().map(|r| r.simulated_requests).sum();
        aa + detection + demo
    }
}

/// The `q` quantile (nearest rank) of values where `None` means "never" (sorted last);
/// `None` when it falls on a "never".
pub fn percentile(values: &[Option<u64>], q: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<u64> = values.iter().map(|v| v.unwrap_or(u64::MAX)).collect();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    let v = sorted[rank - 1];
    (v != u64::MAX).then_some(v)
}

// ---------------------------------------------------------------------------------------------
// Textbook references
// ---------------------------------------------------------------------------------------------

/// The standard normal quantile z_p.
pub fn z_quantile(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erfc_inv(2.0 * (1.0 - p))
}

/// Requests on the new version a one-sided two-proportion z-test of
/// "p_new − p_stable > margin" needs for `power` at level `alpha`, with `ratio` stable
/// requests per new one: (z_{1−α} + z_{power})² · (p_n(1−p_n) + p_s(1−p_s)/ratio) /
/// (p_n − p_s − margin)². `None` when the alternative is within the margin.
pub fn z_test_sample_size(
    p_stable: f64,
    p_new: f64,
    margin: f64,
    alpha: f64,
    power: f64,
    ratio: f64,
) -> Option<f64> {
    let effect = p_new - p_stable - margin;
    if !(effect > 0.0 && ratio > 0.0) {
        return None;
    }
    let z = z_quantile(1.0 - alpha) + z_quantile(power);
    let variance = p_new * (1.0 - p_new) + p_stable * (1.0 - p_stable) / ratio;
    Some(z * z * variance / (effect * effect))
}

/// Kullback–Leibler divergence KL(Bernoulli(p1) ‖ Bernoulli(p0)) in nats.
pub fn bernoulli_kl(p1: f64, p0: f64) -> f64 {
    categorical_kl(&[p1, 1.0 - p1], &[p0, 1.0 - p0])
}

/// KL(h1 ‖ h0) for two distributions over the same categories, in nats (0 · ln 0 = 0).
pub fn categorical_kl(h1: &[f64], h0: &[f64]) -> f64 {
    h1.iter()
        .zip(h0)
        .filter(|(p1, _)| **p1 > 0.0)
        .map(|(p1, p0)| p1 * (p1 / p0).ln())
        .sum()
}

/// The categories either distribution can produce, as (h0, h1) pairs.
fn support<'a>(h0: &'a [f64], h1: &'a [f64]) -> impl Iterator<Item = (f64, f64)> + 'a {
    h0.iter()
        .zip(h1)
        .map(|(a, b)| (*a, *b))
        .filter(|(a, b)| *a > 0.0 || *b > 0.0)
}

/// Wald's approximation of the SPRT's average sample number under the alternative:
/// ((1−β)·ln A + β·ln B) / KL(h1 ‖ h0), with A = (1−β)/α and B = β/(1−α). `None` when
/// the hypotheses cannot be told apart.
pub fn sprt_asn(kl_h1_h0: f64, alpha: f64, beta: f64) -> Option<f64> {
    if !(kl_h1_h0 > 0.0 && kl_h1_h0.is_finite()) {
        return None;
    }
    let ln_a = ((1.0 - beta) / alpha).ln();
    let ln_b = (beta / (1.0 - alpha)).ln();
    Some(((1.0 - beta) * ln_a + beta * ln_b) / kl_h1_h0)
}

/// Observations a fixed-sample Neyman–Pearson test between two categorical distributions needs
/// for `power` at level `alpha`, by the normal approximation of the summed log-likelihood
/// ratio z = ln(h1/h0): n = ((z_{1−α}·σ₀ + z_{power}·σ₁) / (μ₁ − μ₀))².
pub fn lr_test_sample_size(h0: &[f64], h1: &[f64], alpha: f64, power: f64) -> Option<f64> {
    // A category only one hypothesis can produce decides at once; the approximation needs
    // both to give every category some chance.
    if support(h0, h1).any(|(a, b)| a == 0.0 || b == 0.0) {
        return None;
    }
    let moments = |under_h1: bool| {
        let weight = |(a, b): (f64, f64)| if under_h1 { b } else { a };
        let llr = |(a, b): (f64, f64)| (b / a).ln();
        let mean: f64 = support(h0, h1).map(|c| weight(c) * llr(c)).sum();
        let var: f64 = support(h0, h1)
            .map(|c| weight(c) * (llr(c) - mean).powi(2))
            .sum();
        (mean, var.sqrt())
    };
    let (m0, s0) = moments(false);
    let (m1, s1) = moments(true);
    let gap = m1 - m0;
    if !(gap > 0.0 && gap.is_finite()) {
        return None;
    }
    let n = (z_quantile(1.0 - alpha) * s0 + z_quantile(power) * s1) / gap;
    Some(n * n)
}
