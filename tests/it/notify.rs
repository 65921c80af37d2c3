//! Notifications of rollouts on the embedded cluster: a receiver gets the events in order, the
//! ones it asked for only; `--notify` adds one; a receiver that is down or never answers
//! neither slows nor fails the rollout, and is said once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::TestCluster;
use crate::common::rollouts::{Events, Front, deploy_web, options, request, run, strategy_file};
use crate::receiver::{Answer, Receiver, nothing_listening};
use rollout_core::engine::Stop;
use rollout_core::report::{Event, Finish};
use serde_json::Value;

/// A canary of two weights and an exec check `smoke` (which runs `smoke`, a shell command),
/// notifying as `notify` (YAML lines under `notify:`) says.
fn canary(tc: &TestCluster, name: &str, smoke: &str, notify: &str) -> String {
    let smoke = serde_json::to_string(smoke).expect("quoted");
    strategy_file(
        tc,
        name,
        &format!(
            r#"
strategy: canary
progressDeadline: 20s
steps:
  - setWeight: 20
  - analysis: smoke
  - setWeight: 50
analysis:
  interval: 200ms
  background: [probes]
  checks:
    probes:
      probe: {{ readinessDeadline: 4s }}
    smoke:
      exec: {{ command: [sh, -c, {smoke}] }}
notify:
{notify}
"#
        ),
    )
}

/// The events of a rollout, with the `step` events between `started` and `last` collapsed
/// into one `step`.
fn shape(events: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for e in events {
        if e == "step" && out.last() == Some(&"step") {
            continue;
        }
        out.push(e);
    }
    out
}

fn steps_in_order(bodies: &[Value]) {
    let steps: Vec<u64> = bodies
        .iter()
        .filter(|b| b["event"] == "step")
        .filter_map(|b| b["step"].as_u64())
        .collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_get_the_events_in_order() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let everything = Receiver::answering(200).await;
    let ends_only = Receiver::answering(204).await;
    let from_flag = Receiver::answering(200).await;
    let path = canary(
        &tc,
        "notify-good",
        "exit 0",
        &format!(
            "  - url: {}\n  - url: {}\n    events: [started, done, rolled-back]\n",
            everything.url("/hook"),
            ends_only.url("/hook"),
        ),
    );
    let mut req = request(&path, "v2");
    req.overrides.notify = vec![from_flag.url("/flag")];
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &req, &events).await;
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);

    // The run returns once the last notifications are out.
    let bodies = everything.bodies();
    let names = everything.events();
    assert_eq!(shape(&names), ["started", "step", "done"], "{names:?}");
    steps_in_order(&bodies);
    let steps = bodies[0]["steps"].as_u64().expect("steps");
    assert_eq!(
        names.len() as u64,
        steps + 2,
        "every step is told: {names:?}"
    );
    for b in &bodies {
        assert_eq!(b["app"], "web");
        assert_eq!(b["namespace"], "default");
        assert_eq!(b["strategy"], "canary");
        assert_eq!(b["oldImage"], "web:v1");
        assert_eq!(b["newImage"], "web:v2");
        assert!(
            b["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("web in default")
                    || t.starts_with("Rollout of web in default")),
            "{b}"
        );
    }
    assert_eq!(ends_only.events(), ["started", "done"]);
    assert_eq!(from_flag.events(), names, "--notify gets every event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_version_is_told_until_rolled_back() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let receiver = Receiver::answering(200).await;
    let path = canary(
        &tc,
        "notify-bad",
        "echo 'errors: 30%' >&2; exit 1",
        &format!("  - url: {}\n", receiver.url("/")),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    let names = receiver.events();
    assert_eq!(
        shape(&names),
        [
            "started",
            "step",
            "gate-failed",
            "rolling-back",
            "rolled-back"
        ],
        "{names:?}"
    );
    let bodies = receiver.bodies();
    let failed = &bodies[names.len() - 3];
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("smoke") && r.contains("errors: 30%")),
        "{failed}"
    );
    let last = &bodies[names.len() - 1];
    assert!(
        last["text"]
            .as_str()
            .is_some_and(|t| t.contains("rolled back to web:v1")),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_is_told_as_such() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let receiver = Receiver::answering(200).await;
    let path = strategy_file(
        &tc,
        "notify-abort",
        &format!(
            "strategy: canary\nsteps:\n  - setWeight: 20\n  - pause: {{}}\nnotify:\n  - url: {}\n    events: [abort, rolling-back, rolled-back]\n",
            receiver.url("/")
        ),
    );
    let cluster = rollout_core::cluster::Cluster::new(tc.client.clone(), "default");
    let events = Arc::new(Events::default());
    let engine = rollout_core::engine::start::begin(
        cluster,
        &request(&path, "v2"),
        options(&tc),
        events.clone(),
    )
    .await
    .expect("rollout starts");
    let stopper = engine.stopper();
    let running = tokio::spawn(engine.run());
    crate::common::eventually("the pause", Duration::from_secs(30), || async {
        events
            .all()
            .iter()
            .any(|(_, e)| matches!(e, Event::Paused { .. }))
            .then_some(())
    })
    .await;
    stopper.stop(Stop::Aborted);
    let outcome = running.await.expect("the run ends");
    assert_eq!(outcome.finish, Finish::RolledBack, "{:?}", outcome.reason);
    assert_eq!(receiver.events(), ["abort", "rolled-back"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_neither_slows_nor_fails_the_rollout() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let down = nothing_listening().await;
    let working = Receiver::answering(200).await;
    let path = canary(
        &tc,
        "notify-down",
        "exit 0",
        &format!(
            "  - url: http://{down}/hook\n  - url: {}\n",
            working.url("/hook")
        ),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let returned = Instant::now();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    let finished = events
        .all()
        .iter()
        .find_map(|(t, e)| matches!(e, Event::Finished { .. }).then_some(*t))
        .expect("finished");
    // A refused connection costs next to nothing: the run does not wait on it at the end.
    assert!(
        returned - finished < Duration::from_secs(2),
        "waited {:?} after the end",
        returned - finished
    );
    let notes: Vec<String> = events
        .all()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Note { message } if message.contains("could not notify") => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "said once: {notes:?}");
    assert!(notes[0].contains(&format!("http://{down}")), "{notes:?}");
    // The other receiver got everything.
    assert_eq!(shape(&working.events()), ["started", "step", "done"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_delays_the_end_a_bounded_time() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let silent = Receiver::start(|_| Answer::Hang).await;
    let path = canary(
        &tc,
        "notify-silent",
        "exit 0",
        &format!("  - url: {}\n", silent.url("/hook")),
    );
    let events = Arc::new(Events::default());
    let outcome = run(&tc, &request(&path, "v2"), &events).await;
    let returned = Instant::now();
    assert_eq!(outcome.finish, Finish::Done, "{:?}", outcome.reason);
    let finished = events
        .all()
        .iter()
        .find_map(|(t, e)| matches!(e, Event::Finished { .. }).then_some(*t))
        .expect("finished");
    // At most the flush bound (3s) after the end, with room for a busy machine.
    assert!(
        returned - finished < Duration::from_secs(5),
        "waited {:?} after the end",
        returned - finished
    );
    assert!(
        events
            .all()
            .iter()
            .any(|(_, e)| matches!(e, Event::Note { message }
            if message.contains("given up"))),
        "the posts left are said"
    );
}
