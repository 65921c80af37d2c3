//! `rollout status APP --watch`, the real binary against the embedded cluster: plain blocks of
//! lines when piped, the view redrawn in place in a pseudo-terminal (util-linux `script`), and
//! the exit code of the rollout it watched.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rollout_core::engine::{RunEnd, Stop};
use rollout_core::report::Finish;

use crate::common::TestCluster;
use crate::common::rollouts::{Events, Front, deploy_web, options, request, strategy_file};

const CANARY: &str = r#"
strategy: canary
steps:
  - setWeight: 25
  - pause: 1500ms
  - analysis: smoke
  - setWeight: 50
  - pause: 1500ms
analysis:
  interval: 300ms
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
    smoke:
      http: { path: /, version: new, requests: 10 }
      count: 2
      successRate: ">= 95%"
"#;

const PAUSED: &str = r#"
strategy: canary
steps:
  - setWeight: 30
  - pause: {}
analysis:
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
"#;

/// Starts a rollout of `web` to `image` with the strategy `yaml`; its record is written when
/// this returns.
async fn begin(
    tc: &TestCluster,
    name: &str,
    yaml: &str,
    image: &str,
) -> (
    tokio::task::JoinHandle<RunEnd>,
    rollout_core::engine::Stopper,
) {
    let path = strategy_file(tc, name, yaml);
    let cluster = rollout_core::cluster::Cluster::new(tc.client.clone(), "default");
    let engine = rollout_core::engine::start::begin(
        cluster,
        &request(&path, image),
        options(tc),
        Arc::new(Events::default()),
    )
    .await
    .expect("rollout starts");
    let stopper = engine.stopper();
    (tokio::spawn(engine.run()), stopper)
}

fn status_args(tc: &TestCluster) -> Vec<String> {
    vec![
        "status".into(),
        "web".into(),
        "--watch".into(),
        "-n".into(),
        "default".into(),
        "--kubeconfig".into(),
        tc.kubeconfig().display().to_string(),
    ]
}

/// Runs `cmd` to its end in a blocking thread, failing the test after `within`.
async fn finish(mut cmd: Command, within: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start");
    let id = child.id();
    let out = tokio::time::timeout(
        within,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match out {
        Ok(r) => r.expect("join").expect("output"),
        Err(_) => {
            // Ends the process this test started, by its pid.
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("the command did not end within {within:?}");
        }
    }
}

#[tokio::test]
async fn watch_prints_plain_blocks_when_piped_and_exits_with_the_rollouts_code() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;

    let (run, _) = begin(&tc, "canary", CANARY, "v2").await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollout"));
    cmd.args(status_args(&tc)).env("NO_COLOR", "1");
    let out = finish(cmd, Duration::from_secs(120)).await;
    let end = run.await.expect("engine");
    assert_eq!(end.finish, Finish::Done, "{:?}", end.reason);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains('\x1b'),
        "no escape codes when piped: {stdout}"
    );
    for want in [
        "default/web: web:v1",
        "rollout web:v1 → web:v2 with canary",
        "steps:",
        "▶",
        "held by",
        "versions:",
        "web:v1 (stable)",
        "restarts",
        "gates (last measurement):",
        "smoke",
        "no rollout running; last: done web:v2 (canary)",
    ] {
        assert!(stdout.contains(want), "no {want:?} in:\n{stdout}");
    }
    // One block per change, each after a time line.
    assert!(stdout.matches("--- ").count() >= 2, "{stdout}");

    // A rollout that is rolled back: the exit code says so. The rollback waits until the
    // watcher has shown the pause, so it watched the rollout run.
    let (run, stopper) = begin(&tc, "paused", PAUSED, "v1").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(status_args(&tc))
        .args(["--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start status");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // Read in a blocking thread: the cluster the command asks runs on this test's runtime.
    let (rx, mut lines) = tokio::task::spawn_blocking(move || {
        let mut lines: Vec<serde_json::Value> = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !lines
            .iter()
            .any(|v| v["rollout"]["phase"] == "waiting-for-promotion")
        {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("status never showed the pause: {lines:?}"));
            lines.push(serde_json::from_str(&line).expect("one JSON object a line"));
        }
        (rx, lines)
    })
    .await
    .expect("reader");
    stopper.stop(Stop::Aborted);
    assert_eq!(run.await.expect("engine").finish, Finish::RolledBack);
    let id = child.id();
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .unwrap_or_else(|_| {
        let _ = Command::new("kill").arg(id.to_string()).status();
        panic!("status --watch did not end with the rollout")
    })
    .expect("join")
    .expect("wait");
    reader.join().expect("reader");
    lines.extend(
        rx.try_iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(&l).expect("JSON")),
    );
    assert_eq!(status.code(), Some(3), "{lines:?}");
    assert_eq!(
        lines.last().map(|v| v["last"]["result"].clone()),
        Some(serde_json::json!("rolled-back"))
    );
}

#[tokio::test]
async fn watch_redraws_in_place_in_a_terminal() {
    if !crate::common::have_script() {
        return;
    }
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let (run, _) = begin(&tc, "canary", CANARY, "v2").await;
    let line = std::iter::once(env!("CARGO_BIN_EXE_rollout").to_owned())
        .chain(status_args(&tc))
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    // `script` gives the command a pseudo-terminal and exits with its exit code (-e).
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .env_remove("NO_COLOR");
    let out = finish(cmd, Duration::from_secs(120)).await;
    assert_eq!(run.await.expect("engine").finish, Finish::Done);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    // Cursor up over the last block, then clear to the end of the screen, each time.
    assert!(
        screen.matches("\r\x1b[J").count() >= 2,
        "not redrawn: {screen:?}"
    );
    assert!(
        screen.contains("A\r\x1b[J"),
        "no cursor movement: {screen:?}"
    );
    assert!(screen.contains("▶"), "{screen}");
    assert!(
        screen.contains("no rollout running; last: done web:v2"),
        "{screen}"
    );
    // No line wider than the terminal, so the redraw never loses count of its lines.
    for l in screen.split(['\n', '\r']) {
        let visible: String = l.replace("\x1b[J", "");
        let visible = visible
            .split("\x1b[")
            .map(|p| {
                p.trim_start_matches(|c: char| c.is_ascii_digit())
                    .trim_start_matches('A')
            })
            .collect::<String>();
        assert!(visible.chars().count() <= 120, "{l:?}");
    }
}
