//! A wait never passes in silence: while the new pods do not get ready, the live output says
//! what the rollout waits for and why it is not there yet — each pod's condition, its probe's
//! last failure, its restarts — as that changes, and again at least every 10 s of wall time
//! (what the person watching lives in, whatever the cluster's time scale).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::rollouts::{Front, deploy_web_in};
use crate::sim_stop::{client, sim_up};

/// Only the probe check, with a readiness deadline long enough for two reminders.
const STRATEGY: &str = "
strategy: canary
steps:
  - setWeight: 10
analysis:
  interval: 1s
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 22s }
";

/// The reminder interval, and what a loaded machine may add to it.
const REMIND_WITHIN: Duration = Duration::from_millis(11_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_ready_version_shows_its_probe_failure_and_restarts_while_the_rollout_waits() {
    let sim = sim_up("10");
    let c = client(&sim.kubeconfig).await;
    deploy_web_in(&c, "default", "web.test", "web:v1", 1, Front::Nothing).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let strategy = dir.path().join("canary.yaml");
    std::fs::write(&strategy, STRATEGY).expect("write strategy");

    let mut run = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["--strategy", &strategy.display().to_string()])
        .args(["--image", "v2-never-ready", "--app", "web"])
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rollout");
    let stderr = run.stderr.take().expect("stderr");
    // Each line with the wall time it arrived at.
    let (lines, code) = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut lines: Vec<(Instant, String)> = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.push((Instant::now(), line));
            if Instant::now() > deadline {
                let _ = run.kill();
                break;
            }
        }
        (lines, run.wait().expect("wait").code())
    })
    .await
    .expect("join");
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(code, Some(3), "{all:#?}");

    let rolling_back = lines
        .iter()
        .position(|(_, l)| l.contains("rolling back:"))
        .unwrap_or_else(|| panic!("no rollback: {all:#?}"));
    let (back_at, back) = &lines[rolling_back];
    assert!(back.contains("not ready after 22s"), "{back}");
    let waits: Vec<&(Instant, String)> = lines[..rolling_back]
        .iter()
        .filter(|(_, l)| l.contains("waiting since") && l.contains("\"web-canary\" to roll out"))
        .collect();

    // Before the deadline, the live output said why the pod is not ready: its probe's
    // answer, its restarts, and which pods of which version are counted.
    assert!(
        waits.iter().any(|(_, l)| l.contains(
            "last probe: Readiness probe failed: HTTP probe failed with statuscode: 503"
        ) && l.contains("restarts 0")
            && l.contains("0/1 new pods (v2-never-ready) ready, desired 1")),
        "{all:#?}"
    );

    // From the first word to the rollback, never more than the reminder interval without a
    // line about the wait.
    let first = waits.first().map(|(at, _)| *at).expect("a waiting line");
    let mut times: Vec<Instant> = waits.iter().map(|(at, _)| *at).collect();
    times.push(*back_at);
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap <= REMIND_WITHIN, "{gap:?} without a word: {all:#?}");
    }
    assert!(
        *back_at - first >= Duration::from_secs(15),
        "the wait was too short to show reminders: {all:#?}"
    );
}
