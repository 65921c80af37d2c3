//! Interrupting a rollout: Ctrl-C rolls back; a killed process leaves its record, and
//! `rollout resume` finishes it or `rollout abort` rolls it back; a second rollout of the same
//! app is refused while one runs. The real binary runs against the in-process cluster.

use crate::common;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::TestCluster;
use crate::common::rollouts::{Front, deploy_web, leftovers, strategy_file, stray_pods};
use serde_json::json;

/// A canary that waits long enough at 50% to be interrupted there.
const SLOW: &str = r#"
strategy: canary
steps:
  - setWeight: 50
  - pause: 3s
analysis:
  interval: 200ms
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
"#;

fn rollout(tc: &TestCluster, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollout"));
    c.args(args)
        .args([
            "--kubeconfig",
            &tc.kubeconfig().display().to_string(),
            "-n",
            "default",
        ])
        .env(
            "ROLLOUT_INGRESS_URL",
            format!("http://{}", tc.cluster.ingress().expect("ingress").addr()),
        )
        .stdin(Stdio::null());
    c
}

fn start(tc: &TestCluster, strategy: &str) -> Child {
    rollout(
        tc,
        &[
            "--strategy",
            strategy,
            "--image",
            "v2",
            "--app",
            "web",
            "--output",
            "json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start rollout")
}

/// Waits until the record says the rollout reached weight 50.
async fn at_weight_50(tc: &TestCluster) {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(tc.client.clone(), "default");
    common::eventually(
        "the rollout at weight 50",
        Duration::from_secs(30),
        || async {
            let d = api.get("web").await.ok()?;
            let text = d.metadata.annotations?.get("rollout.dev/state")?.clone();
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            (v["routing"]["weight"] == 50).then_some(())
        },
    )
    .await;
}

fn wait(mut child: Child, limit: Duration) -> (i32, String, String) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("rollout did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn clean(image: &str) -> serde_json::Value {
    json!({"deployments": ["web"], "services": ["kubernetes", "web"], "ingresses": ["web"], "leases": [],
           "selector": {"app": "web"}, "image": image, "record": null})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_rolls_back_and_exits_130() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let path = strategy_file(&tc, "slow", SLOW);
    let child = start(&tc, &path);
    at_weight_50(&tc).await;
    // SIGINT, as Ctrl-C sends.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(60)))
            .await
            .expect("join");
    assert_eq!(code, 130, "{stderr}");
    assert!(stdout.contains("\"event\":\"rolling-back\""), "{stdout}");
    assert_eq!(leftovers(&tc).await, clean("web:v1"));
    assert!(stray_pods(&tc).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_then_resumed_completes_and_a_second_rollout_is_refused() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let path = strategy_file(&tc, "slow", SLOW);
    let mut child = start(&tc, &path);
    at_weight_50(&tc).await;
    // While it runs, another rollout of the same app is refused, naming the holder.
    let second = rollout(&tc, &["--strategy", &path, "--image", "v3", "--app", "web"])
        .output()
        .expect("second");
    let text = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{text}");
    assert!(
        text.contains("another rollout of \"web\" is running") && text.contains("held by"),
        "{text}"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // The record survives the process.
    assert!(leftovers(&tc).await["record"].is_string());
    let out = tokio::task::spawn_blocking({
        let mut c = rollout(&tc, &["resume", "web"]);
        move || c.output().expect("resume")
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&tc).await, clean("web:v2"));
    assert!(stray_pods(&tc).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_then_aborted_rolls_back() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let path = strategy_file(&tc, "slow", SLOW);
    let mut child = start(&tc, &path);
    at_weight_50(&tc).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let out = tokio::task::spawn_blocking({
        let mut c = rollout(&tc, &["abort", "web"]);
        move || c.output().expect("abort")
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&tc).await, clean("web:v1"));
    assert!(stray_pods(&tc).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_and_changes_nothing() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let before = leftovers(&tc).await;
    let bad_file = strategy_file(&tc, "bad", "strategy: canary\nsteps:\n  - setWeight: 150\n");
    for (args, expected) in [
        (vec!["--strategy", "nope", "--image", "v2"], "nope"),
        (
            vec!["--strategy", bad_file.as_str(), "--image", "v2"],
            "bad.yaml:3:",
        ),
        (
            vec!["--strategy", "canary", "--image", "Not An Image"],
            "--image",
        ),
        (
            vec!["--strategy", "canary", "--image", "v2", "--app", "missing"],
            "no Deployment named \"missing\"",
        ),
        (
            vec!["--strategy", "shadow", "--image", "v2", "--app", "web"],
            "request mirroring",
        ),
    ] {
        let out = rollout(&tc, &args).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(leftovers(&tc).await, before);
}
