//! `rollout bench judge`: what the sequential comparison judge promises and what it costs,
//! from seeded simulations of the demo's traffic (see `rollout_core::gate::simulate`): how
//! often identical versions are rolled back however often the gate looks, how many requests
//! a bad version needs to be caught (beside the fixed-sample z-test and Wald's SPRT), and how
//! long the demo takes to an answer.

use std::time::Instant;

use crate::cli::BenchJudgeArgs;
use rollout_core::gate::simulate::{self, AaRow, Bench, BenchConfig, DemoRow, DetectionRow};

pub fn run(args: &BenchJudgeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    let config = BenchConfig::new(args.runs, args.seed);
    let began = Instant::now();
    let bench = simulate::bench(&config);
    let elapsed = began.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&bench)?);
    } else {
        print!("{}", text(&bench, &config));
        println!(
            "\n{} simulated requests, judged at every look, in {:.1}s on {} threads",
            count(Some(bench.simulated_requests())),
            elapsed.as_secs_f64(),
            config.threads
        );
    }
    Ok(())
}

/// The report as tables.
fn text(b: &Bench, config: &BenchConfig) -> String {
    let t = &b.traffic;
    let p = &b.policy;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "Sequential judge, {} simulated rollouts per row (seed {})",
        b.runs, b.seed
    ));
    line(format!(
        "traffic: {} requests/s, {} to the new version ({}/s), a look every {}s; confidence {}",
        t.requests_per_second,
        pct(t.new_weight),
        t.requests_per_second * t.new_weight,
        t.look_every,
        pct(p.confidence)
    ));
    line(format!(
        "margins: error rate +{}pt (absolute), p{} latency +{} (relative); both versions' latency \
         log-normal, p50 {}ms p99 20ms, in ingress-nginx's buckets",
        p.max_error_rate_increase * 100.0,
        p.latency_quantile * 100.0,
        pct(p.max_latency_increase),
        b.stable.latency_p50 * 1000.0
    ));
    line(String::new());
    line(
        "A/A: identical versions. False rollbacks: share of runs ever called worse (either metric) \
         within N looks"
            .to_owned(),
    );
    let looks: Vec<u32> =
        b.aa.first()
            .map(|r| r.false_rollbacks.iter().map(|l| l.looks).collect())
            .unwrap_or_default();
    let mut header = format!("{:<7} {:<11}", "errors", "margins");
    for l in &looks {
        header.push_str(&format!(" {:>7}", format!("N={l}")));
    }
    header.push_str(" |");
    for l in looks.iter().filter(|l| **l >= 10) {
        header.push_str(&format!(" {:>9}", format!("peek N={l}")));
    }
    header.push_str(&format!(" | {:>7} {:>17}", "passed", "to pass p50/p95"));
    line(header);
    for r in &b.aa {
        line(aa_line(r));
    }
    line(
        "(peek: a one-sided two-proportion z-test at the same level re-run on the error-rate \
         totals at every look, as a fixed-level gate does; passed: every metric not worse, before \
         any worse, within the last N; to pass: requests on the new version by then)"
            .to_owned(),
    );
    line(String::new());
    line(format!(
        "Detection: new version worse than stable; requests on the new version when it was \
         called worse (up to {} looks)",
        config.max_looks
    ));
    line(format!(
        "{:<18} {:>6} {:>7} {:>7} {:>7} {:>10} | {:>12} {:>10}",
        "alternative", "power", "passed", "p50", "p95", "stable p95", "fixed test", "Wald ASN"
    ));
    for r in &b.detection {
        line(detection_line(r));
    }
    line(format!(
        "(power: share of runs failed; passed: share of bad versions passed first; p95: the \
         requests by which 95% of runs had failed, the sample size for 95% power; fixed test: \
         two-proportion z-test looked at once, same α = {} and 95% power, {} stable requests per \
         new one (latency: likelihood-ratio test between the binned distributions, stable \
         known); Wald ASN: average requests of Wald's SPRT between the margin's edge and the \
         alternative, stable known: the sequential optimum for that one alternative)",
        fmt_g(1.0 - p.confidence),
        fmt_g((1.0 - t.new_weight) / t.new_weight)
    ));
    line(String::new());
    line(format!(
        "Demo traffic ({} requests/s, up to {} looks): seconds until the gate's answer for a \
         healthy version (should pass) and one with 5% errors (should fail)",
        t.requests_per_second, config.max_looks
    ));
    line(format!(
        "{:>6} {:>6} {:<11} {:<20} {:>7} {:>7} {:>8} {:>8}",
        "weight", "new/s", "new version", "metrics", "right", "wrong", "p50 s", "p95 s"
    ));
    for r in &b.demo {
        line(demo_line(r, t.requests_per_second));
    }
    out
}

fn aa_line(r: &AaRow) -> String {
    let mut s = format!(
        "{:<7} {:<11}",
        pct(r.error_rate),
        format!(
            "+{}pt/+{}",
            fmt_g(r.max_error_rate_increase * 100.0),
            pct(r.max_latency_increase)
        )
    );
    for l in &r.false_rollbacks {
        s.push_str(&format!(" {:>7}", pct1(l.share)));
    }
    s.push_str(" |");
    for l in r.naive_false_rollbacks.iter().filter(|l| l.looks >= 10) {
        s.push_str(&format!(" {:>9}", pct1(l.share)));
    }
    s.push_str(&format!(
        " | {:>7} {:>17}",
        pct1(r.passed),
        format!(
            "{} / {}",
            count(r.pass_new_requests_p50),
            count(r.pass_new_requests_p95)
        )
    ));
    s
}

fn detection_line(r: &DetectionRow) -> String {
    format!(
        "{:<18} {:>6} {:>7} {:>7} {:>7} {:>10} | {:>12} {:>10}",
        r.name,
        pct1(r.power),
        pct1(r.passed),
        count(r.new_requests_p50),
        count(r.new_requests_p95),
        count(r.stable_requests_p95),
        count(r.fixed_new_requests.map(|n| n.ceil() as u64)),
        count(r.sprt_asn.map(|n| n.ceil() as u64)),
    )
}

fn demo_line(r: &DemoRow, rate: f64) -> String {
    let seconds = |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{s:.0}"));
    format!(
        "{:>6} {:>6} {:<11} {:<20} {:>7} {:>7} {:>8} {:>8}",
        pct(r.new_weight),
        fmt_g(rate * r.new_weight),
        if r.new.error_rate > 0.0 {
            format!("{} errors", pct(r.new.error_rate))
        } else {
            "healthy".to_owned()
        },
        r.metrics
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(" + "),
        pct1(r.right),
        pct1(r.wrong),
        seconds(r.seconds_p50),
        seconds(r.seconds_p95),
    )
}

/// A share as a percentage without decimals: "20%".
fn pct(share: f64) -> String {
    format!("{}%", fmt_g(share * 100.0))
}

/// A share with one decimal: "4.9%".
fn pct1(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A whole count with thousands separators, "-" for none.
fn count(n: Option<u64>) -> String {
    let Some(n) = n else {
        return "-".to_owned();
    };
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A number with at most three decimals, trailing zeros dropped.
fn fmt_g(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
