//! An API server that stops answering in the middle of a rollback: the run does not wait in
//! silence for good but fails the rollback within its `--api-timeout`, exits 4 and leaves its
//! record; once the server answers again, `rollout abort` puts the app back. The cluster is
//! `rollout sim up` in a process of its own, frozen with SIGSTOP and thawed with SIGCONT (the
//! kernel still accepts connections to a stopped process; nothing answers them).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::rollouts::{Front, deploy_web_in, leftovers_in, stray_pods_in};
use crate::sim_stop::{SimUp, client, sim_up};
use serde_json::json;

/// All old pods go at once and the new ones never get ready, so the rollback has to start the
/// old version's pods again; those take 20 simulated seconds to listen (`slow-start`), which
/// at 10× leaves two real seconds of rollback to stop the server in.
const ROLLING: &str = "
strategy: rolling
maxSurge: 0
maxUnavailable: 100%
analysis:
  interval: 200ms
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 3s }
";

const API_TIMEOUT: Duration = Duration::from_secs(2);

/// From the server stopping to the run's exit: a request or two of [`API_TIMEOUT`] (the one
/// in flight, then releasing the lease), with room for a loaded machine; far below the
/// ten-minute progress deadline that bounds a rollback's waits otherwise.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

fn signal(sim: &SimUp, signal: &str) {
    let pid = sim.child.id().to_string();
    let sent = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill {signal} {pid}");
}

fn rollout(sim: &SimUp, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollout"));
    c.args(args)
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .arg("--api-timeout")
        .arg(humantime::format_duration(API_TIMEOUT).to_string())
        .stdin(Stdio::null());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_stopping_mid_rollback_exits_4_and_abort_restores_later() {
    let sim = sim_up("10");
    let c = client(&sim.kubeconfig).await;
    deploy_web_in(
        &c,
        "default",
        "web.test",
        "web:v1-slow-start",
        3,
        Front::Nothing,
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let strategy = dir.path().join("rolling.yaml");
    std::fs::write(&strategy, ROLLING).expect("write strategy");

    let mut run = rollout(
        &sim,
        &[
            "--strategy",
            &strategy.display().to_string(),
            "--image",
            "v2-never-ready",
            "--app",
            "web",
            "--output",
            "json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start rollout");
    let stdout = run.stdout.take().expect("stdout");
    let stderr = run.stderr.take().expect("stderr");
    let (tx, events_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap_or(json!(line));
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    let (events, took, code, said, sim) = tokio::task::spawn_blocking(move || {
        let mut events: Vec<serde_json::Value> = Vec::new();
        // The rollback has begun: stop the API server under it.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !events.iter().any(|e| e["event"] == "rolling-back") {
            let left = deadline.saturating_duration_since(Instant::now());
            match events_rx.recv_timeout(left) {
                Ok(event) => events.push(event),
                Err(e) => panic!("the rollout did not roll back ({e}): {events:?}"),
            }
        }
        signal(&sim, "-STOP");
        let stopped_at = Instant::now();
        let code = loop {
            if let Some(status) = run.try_wait().expect("wait") {
                break status.code();
            }
            if stopped_at.elapsed() > EXIT_WITHIN {
                let _ = run.kill();
                let _ = run.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = stopped_at.elapsed();
        // The process is gone: its output ends.
        events.extend(events_rx.iter());
        let said: Vec<String> = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect();
        (events, took, code, said, sim)
    })
    .await
    .expect("join");
    signal(&sim, "-CONT");

    assert_eq!(
        code,
        Some(4),
        "exit code {code:?} {took:?} after the server stopped; events {events:?}, stderr {said:?}"
    );
    let finished = events
        .iter()
        .find(|e| e["event"] == "finished")
        .unwrap_or_else(|| panic!("no finished event: {events:?}"));
    assert_eq!(finished["finish"], "rollback-failed", "{finished}");
    let reason = finished["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("did not answer in time") && reason.contains("rollout abort web"),
        "{reason}"
    );

    // Answering again: the record is still there for abort to work from.
    let left = leftovers_in(&c, "default").await;
    let record: serde_json::Value =
        serde_json::from_str(left["record"].as_str().unwrap_or_default()).unwrap_or_default();
    // (Whether it says "rolling-back" yet depends on whether the server stopped before or
    // after the run saved that; either way it holds what a rollback needs.)
    assert_eq!(record["input"]["fromImage"], "web:v1-slow-start", "{left}");
    assert_eq!(
        record["saved"]["template"]["spec"]["containers"][0]["image"], "web:v1-slow-start",
        "{left}"
    );
    assert_eq!(record["saved"]["replicas"], 3, "{left}");

    let mut abort = rollout(&sim, &["abort", "web"]);
    let out = tokio::task::spawn_blocking(move || abort.output().expect("abort"))
        .await
        .expect("join");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        leftovers_in(&c, "default").await,
        json!({"deployments": ["web"], "services": ["kubernetes", "web"], "ingresses": [], "leases": [],
               "selector": {"app": "web"}, "image": "web:v1-slow-start", "record": null})
    );
    assert!(stray_pods_in(&c, "default").await.is_empty());
}
