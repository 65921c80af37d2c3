//! `rollout demo`, `rollout compare`, `rollout experiment` and the report they leave: run on
//! fresh embedded clusters, with users sending requests through the ingress.

use std::process::Command;

use rollout::commands::compare;

fn rollout(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run rollout");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_completes_a_canary_and_writes_the_report_with_its_charts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report");
    let (code, _, stderr) = rollout(&[
        "demo",
        "--speed",
        "20",
        "--report-dir",
        &report.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Live progress, then the summary.
    assert!(
        stderr.contains("step 1/") && stderr.contains("set weight 10%"),
        "{stderr}"
    );
    assert!(
        stderr.contains("microblog now runs ghcr.io/rollout-demo/microblog:v2"),
        "{stderr}"
    );
    assert!(stderr.contains("users affected: 0 of"), "{stderr}");
    assert!(
        stderr.contains(&report.join("report.md").display().to_string()),
        "{stderr}"
    );
    // The charts hold one series per version, and the step boundaries.
    let share = std::fs::read_to_string(report.join("traffic-share.svg")).expect("svg");
    assert!(share.starts_with("<svg") && share.trim_end().ends_with("</svg>"));
    for series in ["data-series=\"v1\"", "data-series=\"v2\""] {
        assert!(share.contains(series), "traffic-share.svg lacks {series}");
    }
    assert!(
        share.contains("set weight 50%"),
        "no step marker in the chart"
    );
    let pods = std::fs::read_to_string(report.join("ready-pods.svg")).expect("svg");
    assert!(pods.contains("data-series=\"v2\""));
    let errors = std::fs::read_to_string(report.join("error-rate.svg")).expect("svg");
    assert!(errors.contains("data-series=\"v1\""));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).expect("json"))
            .expect("report.json");
    assert_eq!(json["figures"]["outcome"], "done");
    assert!(json["timeline"].as_array().is_some_and(|t| t.len() >= 5));

    // The report's step times are the live progress's: `- 4.5s — set weight 10%` in the
    // report for `[  4.5s] step 8/22 ▶ set weight 10%` on stderr, step by step.
    let md = std::fs::read_to_string(report.join("report.md")).expect("report.md");
    let in_report: Vec<(f64, &str)> = md
        .lines()
        .filter_map(|l| {
            let (t, label) = l.strip_prefix("- ")?.split_once("s — ")?;
            Some((t.parse().ok()?, label))
        })
        .collect();
    let live: Vec<(f64, &str)> = stderr
        .lines()
        .filter_map(|l| {
            let (stamp, rest) = l.strip_prefix('[')?.split_once("s] step ")?;
            let (_, label) = rest.split_once(" ▶ ")?;
            Some((stamp.trim().parse().ok()?, label))
        })
        .collect();
    assert!(in_report.len() >= 3, "{md}");
    assert_eq!(
        in_report.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
        live.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
        "the same steps in report.md and the live progress"
    );
    for ((t, label), (at, _)) in in_report.iter().zip(&live) {
        assert!(
            (t - at).abs() <= 0.11,
            "{label:?}: {t}s in report.md, {at}s in the live progress"
        );
    }
}

#[test]
fn demo_with_a_failing_image_rolls_back_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = rollout(&[
        "demo",
        "--image",
        "v2-errors",
        "--speed",
        "20",
        "--report-dir",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(code, 3, "{stderr}");
    // Half its answers are 500s: the smoke check fails, or the liveness probe (on `/` too)
    // restarts the pod first, whichever comes first.
    assert!(
        ["smoke", "probes"]
            .iter()
            .any(|check| stderr.contains(&format!(
                "rolled back to ghcr.io/rollout-demo/microblog:v1: check \"{check}\" failed"
            ))),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_measures_what_each_strategy_costs() {
    let healthy = compare::measure("v2", &["recreate".to_owned(), "canary".to_owned()], 1, 20.0)
        .await
        .expect("healthy");
    let recreate = &healthy[0].1[0];
    let canary = &healthy[1].1[0];
    assert_eq!(
        (recreate.outcome.as_str(), canary.outcome.as_str()),
        ("done", "done")
    );
    assert!(
        recreate.downtime_seconds > 0.0,
        "recreate without downtime: {recreate:?}"
    );
    assert_eq!(canary.downtime_seconds, 0.0, "{canary:?}");
    let table = rollout::lab::table::markdown(&healthy);
    assert!(table.contains("| recreate | done |"), "{table}");

    // A version with a regression the smoke checks do not see.
    let failing = compare::measure(
        "v2-regression",
        &[
            "rolling".to_owned(),
            "blue-green".to_owned(),
            "canary".to_owned(),
        ],
        1,
        20.0,
    )
    .await
    .expect("failing");
    let failed = |i: usize| failing[i].1[0].failed;
    let (rolling, blue_green, canary) = (failed(0), failed(1), failed(2));
    assert_eq!(failing[2].1[0].outcome, "rolled-back");
    assert!(
        canary * 3 < rolling && canary * 3 < blue_green,
        "failed requests: canary {canary}, rolling {rolling}, blue-green {blue_green}"
    );
}

/// `rollout compare` as the README runs it (`scripts/readme-compare.sh`). With a healthy
/// version every strategy completes: the canary's comparison concludes "not worse" at the
/// demo's traffic, and A/B's (half the users, for up to three times its 30 s) too. With a
/// regression only users hit, the strategies that compare live traffic (canary, A/B) roll it
/// back on a conclusive "worse", not for want of data.
#[test]
fn compare_promotes_a_healthy_version_and_catches_a_regression_by_a_verdict() {
    let runs = |args: &[&str]| -> serde_json::Value {
        let (code, stdout, stderr) = rollout(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    };
    let healthy = runs(&["compare", "--image", "v2", "--json"]);
    for strategy in ["recreate", "rolling", "blue-green", "canary", "ab"] {
        let run = &healthy[strategy][0];
        assert_eq!(run["outcome"], "done", "{strategy} with v2: {run:#}");
    }
    let failing = runs(&[
        "compare",
        "--image",
        "v2-regression",
        "--strategies",
        "canary,ab",
        "--json",
    ]);
    for strategy in ["canary", "ab"] {
        let run = &failing[strategy][0];
        assert_eq!(run["outcome"], "rolled-back", "{strategy}: {run:#}");
        let reason = run["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("worse: error rate new"),
            "{strategy} is rolled back by a conclusive verdict: {run:#}"
        );
    }
}

#[test]
fn every_example_experiment_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<_> = std::fs::read_dir("experiments")
        .expect("experiments/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for (i, file) in files.iter().enumerate() {
        let out = dir.path().join(i.to_string());
        let (code, _, stderr) = rollout(&[
            "experiment",
            &file.display().to_string(),
            "--report-dir",
            &out.display().to_string(),
        ]);
        assert_eq!(code, 0, "{}: {stderr}", file.display());
        assert!(out.join("report.md").exists());
    }
}

#[test]
fn an_experiment_with_a_false_expectation_fails_and_says_which() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wrong.yaml");
    std::fs::write(
        &file,
        "cluster: {speed: 20}\nmanifests: [builtin:microblog]\nnamespace: microblog\ntraffic: {host: microblog.example.local, path: /explore, rate: 50}\nactions:\n  - rollout: {strategy: rolling, image: v2, app: microblog, analysisInterval: 500ms}\nexpect:\n  - outcome == done\n  - rolled_back == true\n",
    )
    .expect("write");
    let (code, _, stderr) = rollout(&[
        "experiment",
        &file.display().to_string(),
        "--report-dir",
        &dir.path().join("out").display().to_string(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("holds: `outcome == done`"), "{stderr}");
    assert!(
        stderr.contains("FAILS: `rolled_back == true` (measured: false)"),
        "{stderr}"
    );
    // A broken file is bad input.
    std::fs::write(&file, "namespace: x\n").expect("write");
    let (code, _, stderr) = rollout(&["experiment", &file.display().to_string()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("wrong.yaml"), "{stderr}");
}
