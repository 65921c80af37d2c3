use super::*;
use crate::gate::stats::normal_cdf;

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "expected {expected}, got {actual} (tolerance {tol})"
    );
}

/// Evidence over ingress-nginx's buckets from per-side totals.
fn evidence(new: Counts, stable: Counts) -> Evidence {
    let mut e = Evidence::default();
    e.add_counts(&new, &stable).unwrap();
    e
}

/// Requests and errors without a histogram.
fn errors(requests: u64, errors: u64) -> Counts {
    Counts {
        requests,
        errors,
        buckets: Vec::new(),
    }
}

/// `n` requests spread over ingress-nginx's buckets as a log-normal latency with median
/// `p50` seconds and log-standard deviation `sigma` would be (expected counts, rounded).
fn lognormal_counts(n: u64, p50: f64, sigma: f64) -> Vec<u64> {
    let cdf = |x: f64| normal_cdf((x / p50).ln() / sigma);
    let mut out = Vec::new();
    let mut before = 0.0;
    for &b in &INGRESS_NGINX_BUCKETS {
        let at = cdf(b);
        out.push((n as f64 * (at - before)).round() as u64);
        before = at;
    }
    out.push((n as f64 * (1.0 - before)).round() as u64);
    out
}

/// The demo app's healthy latency: p50 5ms, p99 20ms (σ = ln 4 / z_0.99).
const DEMO_SIGMA: f64 = 0.595_910_171_728_492_4;

fn latency(n: u64, p50: f64) -> Counts {
    let buckets = lognormal_counts(n, p50, DEMO_SIGMA);
    Counts {
        requests: buckets.iter().sum(),
        errors: 0,
        buckets,
    }
}

fn error_only() -> Policy {
    Policy {
        latency: false,
        ..Policy::default()
    }
}

fn latency_only() -> Policy {
    Policy {
        error_rate: false,
        ..Policy::default()
    }
}

// Reference values below were computed with mpmath at 40 digits (beta, findroot with
// bisection), independently of this code.

#[test]
fn marginal_likelihoods_are_exact() {
    // Jeffreys: Γ(n + ½) / (√π n!) = C(2n, n) / 4^n for n failures.
    close(
        Prior::single(0.5, 0.5).ln_marginal(0.0, 20.0),
        (137_846_528_820.0_f64 / 1_099_511_627_776.0).ln(),
        1e-12,
    );
    // Uniform: 1 / ((n + 1) C(n, s)).
    close(
        Prior::single(1.0, 1.0).ln_marginal(3.0, 7.0),
        -(1320.0_f64).ln(),
        1e-12,
    );
    // An equal mixture of the two is the mean of the marginals.
    let mixed = Prior::halves((0.5, 0.5), (1.0, 1.0)).ln_marginal(3.0, 7.0);
    let jeffreys = Prior::single(0.5, 0.5).ln_marginal(3.0, 7.0).exp();
    close(mixed, (0.5 * jeffreys + 0.5 / 1320.0).ln(), 1e-12);
}

#[test]
fn closed_form_bounds_when_all_on_one_side() {
    let c = threshold(0.05);
    // Uniform prior, no error in 20: 1 − (α / 21)^(1/20).
    close(
        mean_bound(&Prior::single(1.0, 1.0), 0.0, 20.0, c, Side::Upper),
        0.260_671_350_937_657_6,
        1e-12,
    );
    // Every one of 10 an error: (α / 11)^(1/10).
    close(
        mean_bound(&Prior::single(1.0, 1.0), 10.0, 0.0, c, Side::Lower),
        0.583_119_724_343_463_9,
        1e-12,
    );
    // The trivial ends.
    assert_eq!(
        mean_bound(&Prior::single(1.0, 1.0), 0.0, 20.0, c, Side::Lower),
        0.0
    );
    assert_eq!(
        mean_bound(&Prior::single(1.0, 1.0), 10.0, 0.0, c, Side::Upper),
        1.0
    );
    assert_eq!(
        mean_bound(&Prior::single(1.0, 1.0), 0.0, 0.0, c, Side::Upper),
        1.0
    );
}

#[test]
fn error_rate_bounds_match_reference() {
    // The default error-rate prior (margin 1pt: half Jeffreys, half Beta(½, 200)) at the
    // "not worse" level of the default policy, α/2 = 0.025.
    let prior = Prior::error_rate(0.01);
    let c = (40.0_f64).ln();
    close(
        mean_bound(&prior, 0.0, 20.0, c, Side::Upper),
        0.193_708_415_547_727_89,
        1e-12,
    );
    close(
        mean_bound(&prior, 0.0, 1000.0, c, Side::Upper),
        0.005_221_954_619_354_357,
        1e-12,
    );
    close(
        mean_bound(&prior, 5.0, 95.0, c, Side::Lower),
        0.005_285_054_280_607_951,
        1e-10,
    );
    close(
        mean_bound(&prior, 5.0, 95.0, c, Side::Upper),
        0.171_836_146_630_976_73,
        1e-10,
    );
}

#[test]
fn rank_thresholds_match_reference() {
    // The median's prior (half Jeffreys, half Beta(50, 50)), 1000 values, α = 0.025.
    let prior = Prior::quantile(0.5);
    let c = (40.0_f64).ln();
    let up = rank_threshold(&prior, 1000.0, 0.5, c, Side::Upper).unwrap();
    let down = rank_threshold(&prior, 1000.0, 0.5, c, Side::Lower).unwrap();
    close(up, 554.672_378_607_592_4, 1e-6);
    close(down, 445.327_621_392_407_6, 1e-6);
    // Too few values to exclude the median with any sum.
    assert_eq!(rank_threshold(&prior, 3.0, 0.5, c, Side::Upper), None);
    assert_eq!(rank_threshold(&prior, 0.0, 0.5, c, Side::Lower), None);
}

#[test]
fn bounds_are_the_roots_and_contain_the_estimate() {
    let prior = Prior::error_rate(0.01);
    let c = threshold(0.0125);
    for (s, f) in [
        (1.0, 9.0),
        (3.0, 997.0),
        (50.0, 950.0),
        (500.0, 500.0),
        (999.0, 1.0),
        (2.0, 1e6),
    ] {
        let ln_m = prior.ln_marginal(s, f);
        let h = |p: f64| ln_m - s * p.ln() - f * (-p).ln_1p();
        let low = mean_bound(&prior, s, f, c, Side::Lower);
        let high = mean_bound(&prior, s, f, c, Side::Upper);
        let estimate = s / (s + f);
        assert!(low < estimate && estimate < high, "{s}/{f}: {low} {high}");
        close(h(low), c, 1e-6);
        close(h(high), c, 1e-6);
        // Rounded outwards: the bound itself is excluded (at or beyond the level).
        assert!(h(low) >= c - 1e-9 && h(high) >= c - 1e-9);
    }
}

#[test]
fn bounds_tighten_with_data_and_move_with_errors() {
    let prior = Prior::error_rate(0.01);
    let c = threshold(0.025);
    let mut last = 1.0;
    for n in [1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0] {
        let high = mean_bound(&prior, 0.0, n, c, Side::Upper);
        assert!(high < last, "n = {n}: {high} !< {last}");
        assert!(high > 0.0, "never a zero-width interval");
        last = high;
    }
    let (mut last_low, mut last_high) = (0.0, 0.0);
    for s in 0..=40 {
        let s = s as f64;
        let low = mean_bound(&prior, s, 400.0 - s, c, Side::Lower);
        let high = mean_bound(&prior, s, 400.0 - s, c, Side::Upper);
        assert!(low >= last_low && high > last_high, "s = {s}");
        (last_low, last_high) = (low, high);
    }
}

/// The exact probability, for Bernoulli(p) requests looked at after every single one up to
/// `horizon`, that the confidence sequence at level α ever excludes p (M_n(p) ≥ 1/α), by
/// dynamic programming over the number of errors.
fn ever_excluded(prior: &Prior, p: f64, alpha: f64, horizon: usize) -> f64 {
    let c = threshold(alpha);
    let (ln_p, ln_1p) = (p.ln(), (-p).ln_1p());
    // mass[s]: probability of s errors so far without ever having excluded p.
    let mut mass = vec![0.0_f64; horizon + 1];
    mass[0] = 1.0;
    let mut excluded = 0.0;
    for n in 1..=horizon {
        for s in (0..=n).rev() {
            let stay = if s < n { mass[s] * (1.0 - p) } else { 0.0 };
            let step = if s > 0 { mass[s - 1] * p } else { 0.0 };
            mass[s] = stay + step;
        }
        for (s, m) in mass.iter_mut().enumerate().take(n + 1) {
            if *m < 1e-20 {
                continue;
            }
            let (s, f) = (s as f64, (n - s) as f64);
            if prior.ln_marginal(s, f) - s * ln_p - f * ln_1p >= c {
                excluded += *m;
                *m = 0.0;
            }
        }
    }
    excluded
}

#[test]
fn confidence_sequences_hold_at_rare_events_with_a_look_after_every_request() {
    // The level of one version's "worse" bound under the default policy: 0.05 / 2 metrics / 2.
    let alpha = 0.0125;
    let prior = Prior::error_rate(0.01);
    for (p, horizon) in [(0.001, 3000), (0.01, 3000), (0.05, 2000), (0.3, 1000)] {
        let excluded = ever_excluded(&prior, p, alpha, horizon);
        assert!(
            excluded <= alpha,
            "p = {p}: excluded with probability {excluded} > {alpha}"
        );
        assert!(excluded > 0.0, "p = {p}: the test never rejects");
    }
    // The latency prior at the median, likewise.
    let excluded = ever_excluded(&Prior::quantile(0.5), 0.5, 0.025, 2000);
    assert!(excluded <= 0.025 && excluded > 0.0, "{excluded}");
}

#[test]
fn twenty_clean_requests_prove_nothing() {
    let j = judge(&evidence(errors(20, 0), errors(80, 0)), &error_only());
    let m = j.get(Metric::ErrorRate).unwrap();
    assert!(m.decision.is_undecided(), "{}", m.decision);
    assert!(m.high > 0.15, "upper bound {}", m.high);
    let more = m.decision.more_requests().expect("an estimate");
    assert!((300..700).contains(&more.new), "{more:?}");
    assert_eq!(j.outcome(), Outcome::Inconclusive);
    assert!(
        m.decision
            .reason()
            .starts_with("error rate new 0% (0/20) vs stable 0% (0/80): difference between"),
        "{}",
        m.decision
    );
    assert!(
        m.decision
            .reason()
            .contains("more requests on the new version"),
        "{}",
        m.decision
    );
}

#[test]
fn enough_clean_requests_are_not_worse() {
    let j = judge(&evidence(errors(600, 0), errors(2400, 0)), &error_only());
    let m = j.get(Metric::ErrorRate).unwrap();
    assert!(m.decision.is_not_worse(), "{}", m.decision);
    assert!(m.high <= 0.01 && m.high > 0.0);
    assert_eq!(
        m.decision.reason(),
        format!(
            "error rate new 0% (0/600) vs stable 0% (0/2,400): higher by at most {} \
             (95% always-valid bound), within the allowed +1pt",
            points_text(m.high)
        )
    );
    assert_eq!(j.outcome(), Outcome::Pass);
}

#[test]
fn a_clearly_bad_error_rate_is_worse() {
    let j = judge(&evidence(errors(300, 30), errors(1200, 2)), &error_only());
    let m = j.get(Metric::ErrorRate).unwrap();
    assert!(m.decision.is_worse(), "{}", m.decision);
    assert!(m.low > 0.01);
    assert!(
        m.decision.reason().starts_with(
            "error rate new 10% (30/300) vs stable 0.17% (2/1,200): higher by at least +"
        ),
        "{}",
        m.decision
    );
    // The only metric judged spends all of α on "worse".
    assert!(
        m.decision
            .reason()
            .ends_with("(95% always-valid bound), more than the allowed +1pt"),
        "{}",
        m.decision
    );
    assert_eq!(j.outcome(), Outcome::Fail);
    close(m.estimate, 0.1 - 2.0 / 1200.0, 1e-15);
    assert!(m.low < m.estimate && m.estimate < m.high);
}

#[test]
fn decisions_move_monotonically_with_the_new_versions_errors() {
    let policy = error_only();
    let mut seen = Vec::new();
    let (mut last_low, mut last_high) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for e in 0..=100 {
        let j = judge(&evidence(errors(1000, e), errors(4000, 20)), &policy);
        let m = j.get(Metric::ErrorRate).unwrap();
        assert!(m.low >= last_low && m.high >= last_high, "{e} errors");
        (last_low, last_high) = (m.low, m.high);
        let kind = m.decision.kind();
        if seen.last() != Some(&kind) {
            seen.push(kind);
        }
    }
    assert_eq!(seen, vec![Kind::NotWorse, Kind::Undecided, Kind::Worse]);
}

#[test]
fn a_zero_margin_never_passes_identical_versions() {
    let policy = Policy {
        max_error_rate_increase: 0.0,
        ..error_only()
    };
    let j = judge(&evidence(errors(100_000, 0), errors(100_000, 0)), &policy);
    let m = j.get(Metric::ErrorRate).unwrap();
    assert!(m.decision.is_undecided(), "{}", m.decision);
    assert_eq!(m.decision.more_requests(), None);
    assert!(
        m.decision.reason().ends_with(
            "the observed difference is at the allowed one, so more requests may not decide"
        ),
        "{}",
        m.decision
    );
    // A new version that is better can pass, though.
    let j = judge(&evidence(errors(20_000, 0), errors(20_000, 200)), &policy);
    assert!(j.get(Metric::ErrorRate).unwrap().decision.is_not_worse());
}

#[test]
fn no_requests_on_a_version_is_undecided_without_an_estimate() {
    let j = judge(&evidence(errors(0, 0), errors(5000, 3)), &Policy::default());
    for m in &j.metrics {
        assert!(m.decision.is_undecided(), "{}", m.decision);
        assert_eq!(m.decision.more_requests(), None);
    }
    assert!(
        j.get(Metric::ErrorRate)
            .unwrap()
            .decision
            .reason()
            .ends_with("no requests on the new version yet")
    );
    assert!(
        j.get(Metric::Latency)
            .unwrap()
            .decision
            .reason()
            .contains("no latency histogram on a version yet")
    );
}

#[test]
fn the_projection_is_what_the_judge_then_needs() {
    let policy = error_only();
    let j = judge(&evidence(errors(100, 0), errors(400, 0)), &policy);
    let more = j
        .get(Metric::ErrorRate)
        .unwrap()
        .decision
        .more_requests()
        .expect("an estimate");
    // In the current split, 1 to 4.
    assert!(more.stable.abs_diff(4 * more.new) <= 4, "{more:?}");
    let at = |share: f64| {
        let new = 100 + (more.new as f64 * share).round() as u64;
        let stable = 400 + (more.stable as f64 * share).round() as u64;
        judge(&evidence(errors(new, 0), errors(stable, 0)), &policy)
            .get(Metric::ErrorRate)
            .unwrap()
            .decision
            .kind()
    };
    assert_eq!(at(1.0), Kind::NotWorse);
    assert_eq!(at(0.95), Kind::Undecided);
}

#[test]
fn histogram_quantiles_interpolate_within_buckets() {
    let bounds = [0.005, 0.01, 0.025];
    let counts = [2, 2, 0, 1];
    // Rank 2.5 of 5: half-way into the second bucket's two requests.
    close(position(&bounds, &counts, 2.5), 0.00625, 1e-15);
    close(position(&bounds, &counts, 1.0), 0.0025, 1e-15);
    assert_eq!(position(&bounds, &counts, 4.0), 0.01);
    // The empty bucket is skipped; the fifth request is beyond the last bound.
    assert_eq!(position(&bounds, &counts, 4.5), f64::INFINITY);
    assert_eq!(position(&bounds, &counts, 0.0), 0.0);
    assert_eq!(position(&bounds, &counts, 6.0), f64::INFINITY);
}

#[test]
fn identical_latencies_are_not_worse_given_enough_requests() {
    let j = judge(
        &evidence(latency(20_000, 0.005), latency(80_000, 0.005)),
        &latency_only(),
    );
    let m = j.get(Metric::Latency).unwrap();
    assert!(m.decision.is_not_worse(), "{}", m.decision);
    // The expected counts are rounded, so the two histograms differ a little.
    close(m.estimate, 1.0, 1e-3);
    assert!(m.low < 1.0 && 1.0 < m.high && m.high <= 1.1, "{m:?}");
    let reason = m.decision.reason();
    assert!(
        reason.starts_with("p50 latency new 5ms vs stable 5ms (+0%; ")
            && reason.contains(" requests): change at most +")
            && reason.ends_with("(95% always-valid bound), within the allowed +10%"),
        "{reason}"
    );
}

#[test]
fn a_much_slower_version_is_worse_and_a_bit_slower_one_is_not() {
    let slower = judge(
        &evidence(latency(2000, 0.0075), latency(8000, 0.005)),
        &latency_only(),
    );
    let m = slower.get(Metric::Latency).unwrap();
    assert!(m.decision.is_worse(), "{}", m.decision);
    assert!(m.low > 1.1 && m.estimate > m.low, "{m:?}");
    assert!(
        m.decision
            .reason()
            .ends_with("(95% always-valid bound), more than the allowed +10%"),
        "{}",
        m.decision
    );
    // 3% slower, with a 10% margin and plenty of requests.
    let bit = judge(
        &evidence(latency(50_000, 0.00515), latency(200_000, 0.005)),
        &latency_only(),
    );
    assert!(bit.get(Metric::Latency).unwrap().decision.is_not_worse());
}

#[test]
fn few_latency_samples_are_undecided() {
    let j = judge(
        &evidence(latency(30, 0.006), latency(120, 0.005)),
        &latency_only(),
    );
    let m = j.get(Metric::Latency).unwrap();
    assert!(m.decision.is_undecided(), "{}", m.decision);
    assert!(m.decision.more_requests().is_some());
}

#[test]
fn a_quantile_beyond_the_last_bucket() {
    let mut slow = Counts::with_buckets(12);
    slow.buckets[11] = 500;
    slow.requests = 500;
    // The new version's median is confidently above 10 s, stable's is 5ms: worse.
    let j = judge(
        &evidence(slow.clone(), latency(500, 0.005)),
        &latency_only(),
    );
    let m = j.get(Metric::Latency).unwrap();
    assert!(m.decision.is_worse(), "{}", m.decision);
    assert!(
        m.decision.reason().contains("new above 10000ms"),
        "{}",
        m.decision
    );
    // Both beyond: nothing can be said.
    let j = judge(&evidence(slow.clone(), slow), &latency_only());
    assert!(j.get(Metric::Latency).unwrap().decision.is_undecided());
}

#[test]
fn judge_and_decide_agree() {
    // A deterministic spread of evidence around the margins.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |m: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % m
    };
    let policy = Policy::default();
    for _ in 0..300 {
        let n_new = 1 + next(3000);
        let n_stable = 1 + next(12_000);
        let new = Counts {
            requests: n_new,
            errors: next(n_new / 10 + 1),
            buckets: lognormal_counts(n_new, 0.004 + next(4) as f64 * 0.001, DEMO_SIGMA),
        };
        let stable = Counts {
            requests: n_stable,
            errors: next(n_stable / 20 + 1),
            buckets: lognormal_counts(n_stable, 0.005, DEMO_SIGMA),
        };
        let e = evidence(new, stable);
        assert_eq!(judge(&e, &policy).decisions(), decide(&e, &policy), "{e:?}");
    }
}

#[test]
fn windows_of_any_size_give_the_same_judgement() {
    let policy = Policy::default();
    let one = evidence(latency(900, 0.006), latency(3600, 0.005));
    let mut many = Evidence::default();
    let (new, stable) = (latency(900, 0.006), latency(3600, 0.005));
    // The same totals in 9 windows of unequal sizes.
    let mut rest = (new.clone(), stable.clone());
    for k in (1..=9u64).rev() {
        let take = |c: &mut Counts| {
            let part = Counts {
                requests: c.requests / k,
                errors: c.errors / k,
                buckets: c.buckets.iter().map(|b| b / k).collect(),
            };
            c.requests -= part.requests;
            c.errors -= part.errors;
            for (b, p) in c.buckets.iter_mut().zip(&part.buckets) {
                *b -= p;
            }
            part
        };
        let (n, s) = (take(&mut rest.0), take(&mut rest.1));
        many.add_counts(&n, &s).unwrap();
    }
    assert_eq!(many, one);
    assert_eq!(judge(&many, &policy), judge(&one, &policy));
}

#[test]
fn add_reads_cumulative_histograms_and_copes_with_layouts() {
    let inf = f64::INFINITY;
    let window = |requests, errors, buckets: &[(f64, u64)]| Counters {
        requests,
        errors,
        buckets: buckets.to_vec(),
    };
    let mut e = Evidence::default();
    e.add(
        &window(10, 1, &[(0.005, 4), (0.01, 9), (0.025, 9), (inf, 10)]),
        &window(20, 0, &[(0.005, 15), (0.01, 20), (0.025, 20), (inf, 20)]),
    );
    // The first histogram sets the bounds.
    assert_eq!(e.bounds(), &[0.005, 0.01, 0.025]);
    assert_eq!(e.new_version().buckets, vec![4, 5, 0, 1]);
    assert_eq!(e.stable().buckets, vec![15, 5, 0, 0]);
    assert_eq!((e.new_version().requests, e.new_version().errors), (10, 1));
    // A window without the 0.01 bound merges that bucket into the next; an extra bound is
    // absorbed; a cumulative count that dips is made monotone.
    e.add(
        &window(5, 0, &[(0.005, 2), (0.02, 4), (0.025, 3), (inf, 5)]),
        &window(0, 0, &[]),
    );
    assert_eq!(e.bounds(), &[0.005, 0.025]);
    assert_eq!(e.new_version().buckets, vec![4 + 2, 5 + 2, 1 + 1]);
    assert_eq!(e.stable().buckets, vec![15, 5, 0]);
    // Errors beyond the requests count as requests.
    e.add(&window(1, 3, &[]), &window(0, 0, &[]));
    assert_eq!((e.new_version().requests, e.new_version().errors), (16, 2));
}

#[test]
fn bad_bounds_and_layouts_are_errors() {
    assert!(Evidence::new(&[0.1, 0.05]).is_err());
    assert!(Evidence::new(&[0.0, 0.05]).is_err());
    assert!(Evidence::new(&[0.1, f64::NAN]).is_err());
    let e = Evidence::new(&[0.1, 1.0, f64::INFINITY]).unwrap();
    assert_eq!(e.bounds(), &[0.1, 1.0]);
    let mut e = Evidence::default();
    let err = e
        .add_counts(&Counts::with_buckets(3), &Counts::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the new version's window has 3 latency buckets, expected 12"
    );
}

#[test]
fn policies_from_strategy_files_and_invalid_ones() {
    use crate::spec::{Percent, StatTest};
    let compare = Compare {
        metrics: vec![CompareMetric::ErrorRate],
        test: StatTest::Sequential,
        confidence: Percent::new(99.0).unwrap(),
        max_error_rate_increase: Percent::new(2.0).unwrap(),
        max_latency_increase: Percent::new(20.0).unwrap(),
        min_samples: 50,
    };
    let p = Policy::from_compare(&compare);
    close(p.confidence, 0.99, 1e-15);
    close(p.max_error_rate_increase, 0.02, 1e-15);
    close(p.max_latency_increase, 0.2, 1e-15);
    assert!(p.error_rate && !p.latency);
    assert_eq!(p.metrics(), vec![Metric::ErrorRate]);
    // One metric spends the whole α on "worse"; two share it.
    close(p.worse_alpha(), 0.01, 1e-15);
    close(Policy::default().worse_alpha(), 0.025, 1e-15);

    let bad = Policy {
        confidence: 1.0,
        ..Policy::default()
    };
    let e = evidence(errors(10_000, 5_000), errors(10_000, 0));
    let j = judge(&e, &bad);
    assert_eq!(j.metrics.len(), 2);
    for m in &j.metrics {
        assert!(
            m.decision
                .reason()
                .starts_with("invalid policy: confidence 1")
        );
        assert!(m.decision.is_undecided());
    }
    assert_eq!(
        decide(&e, &bad),
        Decisions {
            error_rate: Some(Kind::Undecided),
            latency: Some(Kind::Undecided)
        }
    );
    let none = Policy {
        error_rate: false,
        latency: false,
        ..Policy::default()
    };
    assert_eq!(judge(&e, &none).outcome(), Outcome::Inconclusive);
    assert_eq!(judge(&e, &none).summary(), "no metric to compare");
}

#[test]
fn outcomes_need_every_metric_not_worse_to_pass() {
    let d = |error_rate, latency| Decisions {
        error_rate: Some(error_rate),
        latency: Some(latency),
    };
    assert_eq!(d(Kind::NotWorse, Kind::NotWorse).outcome(), Outcome::Pass);
    assert_eq!(
        d(Kind::NotWorse, Kind::Undecided).outcome(),
        Outcome::Inconclusive
    );
    assert_eq!(d(Kind::Undecided, Kind::Worse).outcome(), Outcome::Fail);
    assert_eq!(
        d(Kind::Undecided, Kind::Worse).worse(),
        Some(Metric::Latency)
    );
    assert_eq!(Decisions::default().outcome(), Outcome::Inconclusive);
}

#[test]
fn text_helpers() {
    assert_eq!(count_text(1_234_567), "1,234,567");
    assert_eq!(points_text(0.01), "+1pt");
    assert_eq!(points_text(-0.0025), "-0.25pt");
    assert_eq!(change_text(1.1), "+10%");
    assert_eq!(change_text(0.95), "-5%");
    assert_eq!(change_text(1.034), "+3.4%");
    assert_eq!(change_text(f64::INFINITY), "unbounded");
    assert_eq!(change_text(0.99995), "+0%");
    assert_eq!(quantile_label(0.5), "p50");
    assert_eq!(quantile_label(0.999), "p99.9");
    assert_eq!(percent_text(0.975), "97.5%");
}
