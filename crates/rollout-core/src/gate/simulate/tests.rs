use super::*;

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "expected {expected}, got {actual} (tolerance {tol})"
    );
}

fn scenario(stable: Version, new: Version, looks: u32, policy: Policy) -> Scenario {
    Scenario {
        traffic: Traffic {
            looks,
            ..Traffic::default()
        },
        stable,
        new,
        policy,
    }
}

fn two_threads() -> NonZeroUsize {
    NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN)
}

#[test]
fn runs_are_deterministic_for_a_seed_and_independent_of_threads() {
    let s = scenario(
        Version::demo(),
        Version::demo().with_error_rate(0.05),
        300,
        Policy::default(),
    );
    let a = run(&s, 7, Stop::AtDecision);
    assert_eq!(a, run(&s, 7, Stop::AtDecision));
    let one = run_many(&s, 12, 3, 1, Stop::AtDecision, NonZeroUsize::MIN);
    let two = run_many(&s, 12, 3, 1, Stop::AtDecision, two_threads());
    assert_eq!(one, two);
    // Different seeds give different streams.
    let looks: Vec<Option<u32>> = one.iter().map(|r| r.worse.map(|w| w.look)).collect();
    assert!(looks.iter().any(|l| *l != looks[0]), "{looks:?}");
}

#[test]
fn requests_arrive_at_the_rate_and_split_by_the_weight() {
    assert_eq!(Traffic::default().sent_by(40), 2000);
    let s = scenario(
        Version::demo(),
        Version::demo().with_error_rate(0.5),
        100,
        Policy::default(),
    );
    let (mut new, mut all) = (0, 0);
    for r in run_many(&s, 40, 8, 3, Stop::AtDecision, two_threads()) {
        let w = r.worse.expect("worse");
        // 50 requests a second, a look a second.
        assert_eq!(w.new_requests + w.stable_requests, 50 * u64::from(w.look));
        new += w.new_requests;
        all += w.new_requests + w.stable_requests;
    }
    let share = new as f64 / all as f64;
    assert!((0.15..0.25).contains(&share), "{share}");
}

#[test]
fn identical_versions_stay_under_the_level_while_peeking_does_not() {
    // The hardest case: zero margins put identical versions on the edge of "worse".
    let policy = Policy {
        max_error_rate_increase: 0.0,
        max_latency_increase: 0.0,
        ..Policy::default()
    };
    let version = Version::demo().with_error_rate(0.05);
    let s = scenario(version, version, 100, policy);
    let runs = run_many(&s, 200, 42, 1, Stop::AtWorse, two_threads());
    let share = |f: &dyn Fn(&Run) -> bool| runs.iter().filter(|r| f(r)).count() as f64 / 200.0;
    let sequential = share(&|r| r.worse.is_some());
    let naive = share(&|r| r.naive_worse.is_some());
    assert!(
        sequential <= 0.05,
        "sequential false rollbacks {sequential}"
    );
    // Re-testing the totals at a fixed 5% every look, for 100 looks, does far worse.
    assert!(naive > 0.1, "naive false rollbacks {naive}");
}

#[test]
fn a_broken_version_is_caught_within_seconds() {
    let s = scenario(
        Version::demo(),
        Version::demo().with_error_rate(0.5),
        100,
        Policy::default(),
    );
    for r in run_many(&s, 20, 5, 2, Stop::AtDecision, two_threads()) {
        assert_eq!(r.outcome(), Outcome::Fail, "{r:?}");
        let w = r.worse.expect("worse");
        assert_eq!(w.metric, Some(Metric::ErrorRate));
        assert!(w.look <= 10, "{w:?}");
    }
}

#[test]
fn a_slow_version_fails_on_latency() {
    let s = scenario(
        Version::demo(),
        Version::demo().slower(2.0),
        300,
        Policy::default(),
    );
    let r = run(&s, 9, Stop::AtDecision);
    assert_eq!(r.outcome(), Outcome::Fail);
    assert_eq!(r.worse.and_then(|w| w.metric), Some(Metric::Latency));
}

#[test]
fn the_demo_version_matches_its_profile() {
    let p = Version::demo().bucket_probabilities();
    assert_eq!(p.len(), 12);
    close(p.iter().sum(), 1.0, 1e-12);
    // p50 at 5ms: half the requests in the first bucket; p99 at 20ms.
    close(p[0], 0.5, 1e-12);
    // Even the far buckets keep a probability.
    assert!(p.iter().all(|x| *x > 0.0), "{p:?}");
    let below_25ms: f64 = p[..3].iter().sum();
    assert!(below_25ms > 0.99 && below_25ms < 0.999, "{below_25ms}");
}

#[test]
fn textbook_references() {
    close(z_quantile(0.95), 1.644_853_626_951_472_2, 1e-9);
    close(z_quantile(0.5), 0.0, 1e-12);
    // 0% → 5% against a 1-point margin, 4 stable requests per new one:
    // (2 · 1.6449)² · (0.05 · 0.95 + 0) / 0.04².
    let z = 2.0 * 1.644_853_626_951_472_2;
    close(
        z_test_sample_size(0.0, 0.05, 0.01, 0.05, 0.95, 4.0).unwrap(),
        z * z * 0.0475 / 0.0016,
        1e-6,
    );
    assert_eq!(z_test_sample_size(0.01, 0.015, 0.01, 0.05, 0.95, 4.0), None);
    // Wald: with α = β the ASN is (1 − 2α)·ln((1−α)/α) / KL.
    let kl = bernoulli_kl(0.05, 0.01);
    close(
        kl,
        0.05 * 5.0_f64.ln() + 0.95 * (0.95_f64 / 0.99).ln(),
        1e-15,
    );
    close(
        sprt_asn(kl, 0.05, 0.05).unwrap(),
        0.9 * 19.0_f64.ln() / kl,
        1e-9,
    );
    assert_eq!(sprt_asn(0.0, 0.05, 0.05), None);
    // For two Bernoulli distributions the likelihood-ratio test's normal approximation is the
    // one-sample test of a proportion: ((z_α√(p0 q0) + z_β√(p1 q1)) / (p1 − p0))².
    let (p0, p1) = (0.01_f64, 0.05_f64);
    let expected = ((1.644_853_626_951_472_2 * (p0 * (1.0 - p0)).sqrt()
        + 1.644_853_626_951_472_2 * (p1 * (1.0 - p1)).sqrt())
        / (p1 - p0))
        .powi(2);
    close(
        lr_test_sample_size(&[p0, 1.0 - p0], &[p1, 1.0 - p1], 0.05, 0.95).unwrap(),
        expected,
        1e-6,
    );
}

#[test]
fn percentiles_count_never_as_last() {
    let v = [Some(5), None, Some(1), Some(3)];
    assert_eq!(percentile(&v, 0.5), Some(3));
    assert_eq!(percentile(&v, 0.75), Some(5));
    assert_eq!(percentile(&v, 0.95), None);
    assert_eq!(percentile(&[], 0.5), None);
    assert_eq!(look_counts(1000), vec![1, 10, 100, 1000]);
    assert_eq!(look_counts(60), vec![1, 10, 60]);
    assert_eq!(look_counts(0), Vec::<u32>::new());
}

#[test]
fn a_small_bench_reports_every_row() {
    let config = BenchConfig {
        runs: 8,
        seed: 1,
        traffic: Traffic {
            looks: 20,
            ..Traffic::default()
        },
        policy: Policy::default(),
        max_looks: 50,
        threads: two_threads(),
    };
    let b = bench(&config);
    assert_eq!(b.aa.len(), 6);
    assert_eq!(b.detection.len(), 4);
    assert_eq!(b.demo.len(), 9);
    for row in &b.aa {
        assert_eq!(
            row.false_rollbacks
                .iter()
                .map(|l| l.looks)
                .collect::<Vec<_>>(),
            vec![1, 10, 20]
        );
    }
    // 0% → 50% is caught in every run, well within 50 looks.
    let broken = &b.detection[2];
    assert_eq!(broken.power, 1.0);
    assert!(broken.sprt_asn.is_some_and(|n| n < 5.0));
    // Every reference applies to every alternative.
    for row in &b.detection {
        assert!(
            row.fixed_new_requests.is_some() && row.sprt_asn.is_some(),
            "{row:?}"
        );
    }
    // A/A runs make every look unless called worse.
    let per_run = config.traffic.sent_by(20);
    for row in &b.aa {
        assert!(row.simulated_requests <= 8 * per_run && row.simulated_requests >= per_run);
    }
    assert!(b.simulated_requests() > b.aa[0].simulated_requests);
    assert_eq!(b, bench(&config));
}
