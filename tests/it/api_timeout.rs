//! An API server that stops answering in the middle of a rollback: the run does not wait in
//! silence but says, at least every 10 s of wall time, what it waits for and since when; it
//! fails the rollback within its `--api-timeout`, exits 4 and leaves its record; once the
//! server answers again, `rollout abort` puts the app back. The cluster is `rollout sim up` in
//! a process of its own, frozen with SIGSTOP and thawed with SIGCONT (the kernel still
//! accepts connections to a stopped process; nothing answers them).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::rollouts::{Front, deploy_web_in, leftovers_in, stray_pods_in};
use crate::sim_stop::{SimUp, client, sim_up};
use serde_json::json;

/// All old pods go at once and the new ones never get ready, so the rollback has to start the
/// old version's pods again; those take 20 simulated seconds to listen (`slow-start`), which
/// at 5× leaves about four real seconds of the rollback's wait to stop the server in.
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

/// Longer than the reminder interval, so that the unanswered wait has to say it goes on
/// while a read of it is held (a read begun just after a reminder would otherwise leave the
/// next word to the request's own, up to 10 s after the read began).
const API_TIMEOUT: Duration = Duration::from_secs(15);

/// From the server stopping to the run's exit. A wait that is not reading learns of the
/// silence only when its watch has heard nothing for [`API_TIMEOUT`]; its next read then
/// waits [`API_TIMEOUT`] for an answer and fails. Room on top for a loaded machine; far below
/// the ten-minute progress deadline that bounds a rollback's waits otherwise.
const EXIT_WITHIN: Duration = Duration::from_secs(2 * 15 + 12);

/// The reminder interval (10 s), and what a loaded machine may add to it.
const REMIND_WITHIN: Duration = Duration::from_millis(11_500);

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
    let sim = sim_up("5");
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
    // Each event with the wall time it arrived at.
    let (tx, events_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap_or(json!(line));
            if tx.send((Instant::now(), event)).is_err() {
                return;
            }
        }
    });
    let (before, after, took, code, said, sim) = tokio::task::spawn_blocking(move || {
        let mut before: Vec<(Instant, serde_json::Value)> = Vec::new();
        // The rollback is waiting for the old pods: stop the API server under it.
        let deadline = Instant::now() + Duration::from_secs(120);
        let rolling_back = |events: &[(Instant, serde_json::Value)]| {
            events
                .iter()
                .position(|(_, e)| e["event"] == "rolling-back")
        };
        loop {
            let waiting = rolling_back(&before).is_some_and(|at| {
                before[at..].iter().any(|(_, e)| {
                    e["event"] == "waiting"
                        && e["what"]
                            .as_str()
                            .is_some_and(|w| w.contains("back on its previous template"))
                })
            });
            if waiting {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match events_rx.recv_timeout(left) {
                Ok(event) => before.push(event),
                Err(e) => panic!("the rollback did not wait for the old pods ({e}): {before:?}"),
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
        let after: Vec<(Instant, serde_json::Value)> = events_rx.iter().collect();
        let said: Vec<String> = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect();
        (before, after, took, code, said, sim)
    })
    .await
    .expect("join");
    signal(&sim, "-CONT");
    let shown: Vec<&serde_json::Value> = before.iter().chain(&after).map(|(_, e)| e).collect();

    assert_eq!(
        code,
        Some(4),
        "exit code {code:?} {took:?} after the server stopped; events {shown:#?}, stderr {said:?}"
    );
    assert!(took <= EXIT_WITHIN, "{took:?}");

    // While the server did not answer, never more than the reminder interval without a
    // word, from the last one before it stopped to the end.
    let last_before = before.last().map(|(at, _)| *at).expect("events");
    let times: Vec<Instant> = std::iter::once(last_before)
        .chain(after.iter().map(|(at, _)| *at))
        .collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap <= REMIND_WITHIN, "{gap:?} without a word: {shown:#?}");
    }
    // What it waited for, and since when: the rollback's wait, and the request the server
    // held (named with the server) once it had held it for the reminder interval.
    let waits: Vec<(&str, f64)> = after
        .iter()
        .filter(|(_, e)| e["event"] == "waiting")
        .map(|(_, e)| {
            (
                e["what"].as_str().unwrap_or_default(),
                e["seconds"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        waits
            .iter()
            .any(|(what, _)| what.contains("Deployment \"web\" back on its previous template")),
        "{waits:#?}"
    );
    assert!(
        waits.iter().any(
            |(what, seconds)| what.starts_with("the API server at 127.0.0.1:")
                && what.contains("to answer: ")
                && *seconds >= 9.5
        ),
        "{waits:#?}"
    );
    let finished = after
        .iter()
        .map(|(_, e)| e)
        .find(|e| e["event"] == "finished")
        .unwrap_or_else(|| panic!("no finished event: {shown:#?}"));
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
    assert_eq!(record["phase"], "rolling-back", "{left}");
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
