//! The comparison table: one row per strategy, the figures of its runs (the median, and the
//! range when there were several).

use rollout_core::report::data::RunFigures;

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `median` alone for one run, `median (min–max)` for several; `—` when no run has a value.
fn cell(values: Vec<Option<f64>>, decimals: usize) -> String {
    let present: Vec<f64> = values.into_iter().flatten().collect();
    if present.is_empty() {
        return "—".into();
    }
    let m = median(present.clone());
    if present.len() == 1 {
        return format!("{m:.decimals$}");
    }
    let lo = present.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if (hi - lo).abs() < f64::EPSILON {
        format!("{m:.decimals$}")
    } else {
        format!("{m:.decimals$} ({lo:.decimals$}–{hi:.decimals$})")
    }
}

fn outcome(runs: &[RunFigures]) -> String {
    let mut names: Vec<&str> = runs.iter().map(|r| r.outcome.as_str()).collect();
    names.dedup();
    if names.len() == 1 {
        names[0].to_owned()
    } else {
        let done = runs.iter().filter(|r| r.outcome == "done").count();
        format!("done {done}/{}", runs.len())
    }
}

/// The Markdown table of `rows` (strategy, its runs).
pub fn markdown(rows: &[(String, Vec<RunFigures>)]) -> String {
    let mut out = String::from(
        "| strategy | result | downtime (s) | failed requests | failed (%) | served by new | time to complete / roll back (s) | time to detect (s) | rollback (s) | peak pods |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, runs) in rows {
        let f = |g: &dyn Fn(&RunFigures) -> Option<f64>, d| cell(runs.iter().map(g).collect(), d);
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            outcome(runs),
            f(&|r| Some(r.downtime_seconds), 1),
            f(&|r| Some(r.failed as f64), 0),
            f(&|r| Some(r.failed_percent()), 2),
            f(&|r| Some(r.served_by_new as f64), 0),
            f(&|r| Some(r.seconds), 1),
            f(&|r| r.detect_seconds, 1),
            f(&|r| r.rollback_seconds, 1),
            f(&|r| Some(f64::from(r.peak_pods)), 0),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: &str, failed: u64, seconds: f64, detect: Option<f64>) -> RunFigures {
        RunFigures {
            strategy: "canary".into(),
            outcome: outcome.into(),
            requests: 1000,
            failed,
            seconds,
            detect_seconds: detect,
            peak_pods: 3,
            ..Default::default()
        }
    }

    #[test]
    fn medians_and_ranges() {
        let rows = vec![
            ("recreate".to_owned(), vec![run("done", 120, 8.0, None)]),
            (
                "canary".to_owned(),
                vec![
                    run("rolled-back", 10, 5.0, Some(1.0)),
                    run("rolled-back", 30, 7.0, Some(2.0)),
                    run("rolled-back", 20, 6.0, Some(1.5)),
                ],
            ),
        ];
        insta::assert_snapshot!(markdown(&rows));
    }
}
