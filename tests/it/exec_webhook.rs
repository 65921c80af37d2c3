//! Exec and webhook checks gating canary rollouts on the embedded cluster: a command's exit
//! status and a webhook's answer decide; the rollout reaches both in their environment and
//! payload; a `confirm` webhook holds the rollout until it approves.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::TestCluster;
use crate::common::rollouts::{Events, Front, deploy_web, options, request, run, strategy_file};
use crate::receiver::{Answer, Receiver};
use rollout_core::gate::Outcome;
use rollout_core::report::{Event, Finish};

/// A canary that sets weight 50, then runs the analysis `step`; `checks` are YAML lines under
/// `analysis.checks` (indented by four spaces).
fn canary(tc: &TestCluster, name: &str, step: &str, background: &str, checks: &str) -> String {
    strategy_file(
        tc,
        name,
        &format!(
            r#"
strategy: canary
progressDeadline: 20s
steps:
  - setWeight: 50
  - analysis: {step}
analysis:
  interval: 200ms
  background: {background}
  checks:
    probes:
      probe: {{ readinessDeadline: 4s }}
{checks}
"#
        ),
    )
}

/// An executable script in the test's directory; returns its path, quoted for YAML.
fn script(tc: &TestCluster, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = tc.dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    serde_json::to_string(&path.display().to_string()).expect("quoted")
}

/// `NAME=value` lines as a map.
/// The `ROLLOUT_*` variables a check's command saw, without those it inherited from the
/// test's own environment (CI sets some).
fn read_env(path: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Plan step (from 1) of the first step whose description starts with `prefix`.
fn step_number(events: &Events, prefix: &str) -> usize {
    events
        .all()
        .iter()
        .find_map(|(_, e)| match e {
            Event::Step {
                index, description, ..
            } if description.starts_with(prefix) => Some(index + 1),
            _ => None,
        })
        .expect("the step ran")
}

/// The outcomes of the measurements of `check`, in order.
fn outcomes(events: &Events, check: &str) -> Vec<Outcome> {
    events
        .all()
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Gate { measurement, .. } if measurement.check == check => {
                Some(measurement.outcome)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_check_passes_with_the_rollout_in_its_environment() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let dumps = tc.dir.path().display().to_string();
    let dump = script(
        &tc,
        "dump-env.sh",
        "env | grep '^ROLLOUT_' > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"",
    );
    let path = canary(
        &tc,
        "exec-env",
        "integration",
        "[probes, watch]",
        &format!(
            "    integration:\n      exec: {{ command: [{dump}, \"{dumps}/step.env\"], timeout: 10s }}\n    watch:\n      exec: {{ command: [{dump}, \"{dumps}/background.env\"] }}\n"
        ),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);

    let env = read_env(&tc.dir.path().join("step.env"));
    // The Ingress's status says where the ingress listens.
    let ingress = format!("http://{}", tc.cluster.ingress().expect("ingress").addr());
    let step = step_number(&events, "analysis:").to_string();
    let expected: BTreeMap<String, String> = [
        ("ROLLOUT_APP", "web"),
        ("ROLLOUT_NAMESPACE", "default"),
        ("ROLLOUT_STRATEGY", "canary"),
        ("ROLLOUT_OLD_IMAGE", "web:v1"),
        ("ROLLOUT_NEW_IMAGE", "web:v2"),
        ("ROLLOUT_STEP", step.as_str()),
        ("ROLLOUT_WEIGHT", "50"),
        ("ROLLOUT_PHASE", "running"),
        ("ROLLOUT_CHECK", "integration"),
        ("ROLLOUT_NEW_URL", ingress.as_str()),
        ("ROLLOUT_NEW_HOST", crate::common::rollouts::HOST),
        ("ROLLOUT_NEW_HEADER", "X-Rollout-Canary: always"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(env, expected);

    // In the background there is no step.
    let background = read_env(&tc.dir.path().join("background.env"));
    assert_eq!(background.get("ROLLOUT_STEP").map(String::as_str), Some(""));
    assert_eq!(
        background.get("ROLLOUT_CHECK").map(String::as_str),
        Some("watch")
    );
    assert_eq!(outcomes(&events, "integration"), [Outcome::Pass]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_check_that_fails_rolls_back() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let smoke = script(
        &tc,
        "smoke.sh",
        "echo 'GET / ok'\necho 'smoke failed: 3 of 10 requests' >&2\nexit 3",
    );
    let path = canary(
        &tc,
        "exec-fails",
        "integration",
        "[probes]",
        &format!("    integration:\n      exec: {{ command: [{smoke}] }}\n"),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    let reason = outcome.reason.unwrap_or_default();
    assert!(
        reason.contains("exited 3") && reason.contains("stderr: smoke failed: 3 of 10 requests"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_check_fails_on_500_or_no_answer_and_passes_on_200() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let check = |url: &str| {
        format!("    load-test:\n      webhook: {{ url: \"{url}\", timeout: 300ms }}\n")
    };

    // 500: a failed measurement, rolled back.
    let failing = Receiver::answering(500).await;
    let path = canary(
        &tc,
        "hook-500",
        "load-test",
        "[probes]",
        &check(&failing.url("/check")),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    let reason = outcome.reason.unwrap_or_default();
    assert!(reason.contains("answered 500"), "{reason}");

    // No answer within the timeout: failed too.
    let silent = Receiver::start(|_| Answer::Hang).await;
    let path = canary(
        &tc,
        "hook-hang",
        "load-test",
        "[probes]",
        &check(&silent.url("/check")),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    let reason = outcome.reason.unwrap_or_default();
    assert!(reason.contains("no answer within 300ms"), "{reason}");

    // 200: the rollout goes on to the end; the payload describes it.
    let passing = Receiver::answering(200).await;
    let path = canary(
        &tc,
        "hook-200",
        "load-test",
        "[probes]",
        &check(&passing.url("/check")),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    assert_eq!(outcomes(&events, "load-test"), [Outcome::Pass]);
    let bodies = passing.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    let step = step_number(&events, "analysis:").to_string();
    assert_eq!(body["name"], "web");
    assert_eq!(body["namespace"], "default");
    assert_eq!(body["phase"], "running");
    let metadata = &body["metadata"];
    assert_eq!(metadata["check"], "load-test");
    assert_eq!(metadata["strategy"], "canary");
    assert_eq!(metadata["oldImage"], "web:v1");
    assert_eq!(metadata["newImage"], "web:v2");
    assert_eq!(metadata["step"], step.as_str());
    assert_eq!(metadata["weight"], "50");
    assert_eq!(metadata["newHeader"], "X-Rollout-Canary: always");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_webhook_holds_the_rollout_until_it_approves() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    // Not yet, not yet, not yet; then yes.
    let approver = Receiver::start(|n| Answer::Status(if n < 3 { 403 } else { 200 })).await;
    let path = canary(
        &tc,
        "confirm",
        "approval",
        "[probes]",
        &format!(
            "    approval:\n      webhook: {{ url: \"{}\", confirm: true }}\n",
            approver.url("/approve")
        ),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    assert_eq!(
        outcomes(&events, "approval"),
        [
            Outcome::Inconclusive,
            Outcome::Inconclusive,
            Outcome::Inconclusive,
            Outcome::Pass
        ]
    );
    assert_eq!(approver.bodies().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_webhook_never_approved_ends_as_on_inconclusive_says() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let refuser = Receiver::answering(403).await;
    let check = format!(
        "    approval:\n      webhook: {{ url: \"{}\", confirm: true }}\n",
        refuser.url("/approve")
    );

    // The default: fail, rolled back once the step's timeout has passed.
    let path = canary(
        &tc,
        "never-fail",
        "{checks: [approval], timeout: 1s}",
        "[probes]",
        &check,
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    let reason = outcome.reason.unwrap_or_default();
    assert!(
        reason.contains("inconclusive after 1s (onInconclusive: fail)")
            && reason.contains("not confirmed yet: answered 403"),
        "{reason}"
    );
    let asked = outcomes(&events, "approval");
    assert!(
        asked.len() >= 2 && asked.iter().all(|o| *o == Outcome::Inconclusive),
        "{asked:?}"
    );

    // `onInconclusive: pass` goes on, and says so.
    let path = canary(
        &tc,
        "never-pass",
        "{checks: [approval], timeout: 1s, onInconclusive: pass}",
        "[probes]",
        &check,
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    assert!(
        events
            .all()
            .iter()
            .any(|(_, e)| matches!(e, Event::Note { message }
            if message.contains("going on although inconclusive"))),
        "no note about going on"
    );
}

// ----- the binary, as a user runs it --------------------------------------------------------

/// What a run of the `rollout` binary ended with.
struct Ran {
    code: Option<i32>,
    stderr: String,
}

/// Runs the `rollout` binary against the embedded cluster the way a user would (kubeconfig,
/// namespace, the ingress's address), in the test's directory.
async fn rollout_binary(tc: &TestCluster, args: &[&str]) -> Ran {
    let endpoints = options(tc);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"));
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(tc.kubeconfig())
        .args(["-n", "default"])
        .current_dir(tc.dir.path())
        .env_remove("ROLLOUT_INGRESS_URL")
        .env_remove("ROLLOUT_METRICS_URL")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = &endpoints.ingress_url {
        command.args(["--ingress-url", url]);
    }
    if let Some(url) = &endpoints.metrics_url {
        command.args(["--metrics-url", url]);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("`rollout {}` did not end within 2 minutes", args.join(" ")))
        .expect("run rollout");
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `rollout strategies --check FILE`: its exit code and stderr.
fn check_file(path: &str) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["strategies", "--check", path])
        .output()
        .expect("run rollout strategies");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Line and column (from 1) of the first `word` in `text`.
fn position(text: &str, word: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, l)| l.find(word).map(|c| (i + 1, c + 1)))
        .expect("the word is in the text")
}

/// The image of `web`'s container now.
async fn image_of_web(tc: &TestCluster) -> String {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(tc.client.clone(), "default");
    let d = api.get("web").await.expect("web");
    d.spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.image)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_3_when_a_command_fails_and_0_when_it_passes() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    // `./smoke.sh` relative to where rollout runs, as a user's repository would have it.
    script(
        &tc,
        "smoke.sh",
        "[ \"$1\" = --fast ] || exit 9\necho 'checkout failed: 500' >&2\nexit 1",
    );
    let path = canary(
        &tc,
        "exec-binary",
        "integration",
        "[probes]",
        "    integration:\n      exec: { command: [./smoke.sh, --fast], timeout: 10s }\n",
    );
    let chat = Receiver::answering(200).await;
    let notify = chat.url("/services/T0/B0/secret");
    let args = [
        "--strategy",
        path.as_str(),
        "--image",
        "v2",
        "--app",
        "web",
        "--notify",
        notify.as_str(),
    ];

    let ran = rollout_binary(&tc, &args).await;
    assert_eq!(ran.code, Some(3), "rolled back exits 3:\n{}", ran.stderr);
    assert!(
        ran.stderr.contains("`./smoke.sh --fast` exited 1")
            && ran.stderr.contains("checkout failed: 500"),
        "{}",
        ran.stderr
    );
    assert_eq!(image_of_web(&tc).await, "web:v1");
    // The process ends only after its last notifications are out.
    let names = chat.events();
    assert_eq!(
        names.first().map(String::as_str),
        Some("started"),
        "{names:?}"
    );
    let tail: Vec<&str> = names
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        ["gate-failed", "rolling-back", "rolled-back"],
        "{names:?}"
    );
    assert!(
        chat.bodies()
            .iter()
            .all(|b| b["text"].as_str().is_some_and(|t| !t.is_empty())),
        "every post has a text to show"
    );

    // The same rollout with a command that passes finishes.
    script(
        &tc,
        "smoke.sh",
        "[ \"$1\" = --fast ] || exit 9\necho 'all good'",
    );
    let ran = rollout_binary(&tc, &args).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(image_of_web(&tc).await, "web:v2");
    assert_eq!(chat.events().last().map(String::as_str), Some("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_webhook_gated_canary_runs_as_a_user_runs_it() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let load_tester = Receiver::answering(200).await;
    // Not yet, not yet; then approved.
    let approvals = Receiver::start(|n| Answer::Status(if n < 2 { 409 } else { 200 })).await;
    let chat = Receiver::answering(200).await;

    // The example as a user adapts it: its URLs pointed at the services.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("strategies/examples/webhook-gated-canary.yaml");
    let mut text = std::fs::read_to_string(&example).expect("the example");
    for (theirs, ours) in [
        (
            "http://loadtester.example:8080/check",
            load_tester.url("/check"),
        ),
        (
            "https://approvals.example/rollouts",
            approvals.url("/rollouts"),
        ),
        (
            "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX",
            chat.url("/services/T0/B0/x"),
        ),
    ] {
        assert!(text.contains(theirs), "the example names {theirs}");
        text = text.replace(theirs, &ours);
    }
    let path = strategy_file(&tc, "webhook-gated-canary", &text);

    let (code, stderr) = check_file(&path);
    assert_eq!(code, Some(0), "{stderr}");
    // A mistake in the new keys is refused with where it is.
    let typo = text.replacen("confirm: true", "confrim: true", 1);
    let (line, column) = position(&typo, "confrim");
    let bad = strategy_file(&tc, "typo", &typo);
    let (code, stderr) = check_file(&bad);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "typo.yaml:{line}:{column}: analysis.checks.release-approval.webhook: unknown key `confrim`; did you mean `confirm`?"
        )),
        "{stderr}"
    );

    let ran = rollout_binary(
        &tc,
        &[
            "--strategy",
            &path,
            "--image",
            "v2",
            "--app",
            "web",
            "--analysis-interval",
            "200ms",
        ],
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(image_of_web(&tc).await, "web:v2");

    // The load tester was asked once at each weight, about the new version.
    let asked: Vec<(String, String)> = load_tester
        .bodies()
        .iter()
        .map(|b| {
            let m = &b["metadata"];
            (
                m["weight"].as_str().unwrap_or("?").to_owned(),
                m["newImage"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [
            ("10".into(), "web:v2".into()),
            ("50".into(), "web:v2".into())
        ]
    );
    // The approval was asked until it said yes, and not after.
    let approval_checks: Vec<String> = approvals
        .bodies()
        .iter()
        .map(|b| b["metadata"]["check"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(approval_checks, ["release-approval"; 3]);
    // The chat heard the events it asked for only.
    assert_eq!(chat.events(), ["started", "done"]);
}
