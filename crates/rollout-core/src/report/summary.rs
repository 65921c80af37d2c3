//! The few lines printed when a rollout ends: how it ended and why, what moved where, how far
//! it got, how long it took and how each check fared.

use std::fmt::Write as _;

use super::event::{Event, Finish, StepState};
use crate::gate::Outcome;

/// A duration for people: `30s`, `9.3s`, `1m 15s`, `1h 02m`.
pub fn human_seconds(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_owned();
    }
    if seconds < 60.0 {
        let s = format!("{seconds:.1}");
        return format!("{}s", s.strip_suffix(".0").unwrap_or(&s));
    }
    // Whole seconds are enough once minutes show; rounding first keeps 59.6s from reading
    // as `0m 60s`.
    let total = seconds.round() as u64;
    if total < 3600 {
        format!("{}m {:02}s", total / 60, total % 60)
    } else {
        format!("{}h {:02}m", total / 3600, (total % 3600) / 60)
    }
}

#[derive(Default)]
struct CheckTally {
    name: String,
    passed: u32,
    failed: u32,
    inconclusive: u32,
    errors: u32,
}

/// The final summary of a rollout from its events (several lines, ending with a newline).
pub fn summary(events: &[Event]) -> String {
    let mut started = None;
    let mut steps: Vec<(String, StepState)> = Vec::new();
    let mut checks: Vec<CheckTally> = Vec::new();
    let mut finished = None;
    let mut rollback_reason = None;
    let mut loads = Vec::new();

    for e in events {
        match e {
            Event::Started {
                steps: plan,
                first_step,
                ..
            } => {
                started = Some(e);
                // Steps before the one a resumed rollout starts at were done before.
                steps = plan
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let st = if i < *first_step {
                            StepState::Done
                        } else {
                            StepState::Pending
                        };
                        (s.clone(), st)
                    })
                    .collect();
            }
            Event::Step {
                index,
                state,
                description,
            } => {
                while steps.len() <= *index {
                    steps.push((String::new(), StepState::Pending));
                }
                if let Some(s) = steps.get_mut(*index) {
                    if !description.is_empty() {
                        s.0 = description.clone();
                    }
                    s.1 = *state;
                }
            }
            Event::Gate { measurement, .. } => {
                let idx = match checks.iter().position(|c| c.name == measurement.check) {
                    Some(i) => i,
                    None => {
                        checks.push(CheckTally {
                            name: measurement.check.clone(),
                            ..Default::default()
                        });
                        checks.len() - 1
                    }
                };
                if let Some(t) = checks.get_mut(idx) {
                    match measurement.outcome {
                        Outcome::Pass => t.passed += 1,
                        Outcome::Fail => t.failed += 1,
                        Outcome::Inconclusive => t.inconclusive += 1,
                        Outcome::Error => t.errors += 1,
                    }
                }
            }
            Event::RollingBack { reason } => rollback_reason = Some(reason.clone()),
            Event::Finished { .. } => finished = Some(e),
            Event::Load(load) => loads.push(load),
            Event::Weight { .. }
            | Event::Paused { .. }
            | Event::Note { .. }
            | Event::Waiting { .. } => {}
        }
    }

    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    match finished {
        Some(Event::Finished {
            finish,
            reason,
            elapsed_seconds,
        }) => {
            let what = match finish {
                Finish::Done => "done",
                Finish::Paused => "paused",
                Finish::RolledBack => "rolled back",
                Finish::RollbackFailed => "ROLLBACK FAILED",
                Finish::Interrupted => "interrupted and rolled back",
                Finish::Lost => "STOPPED (lease lost)",
            };
            let _ = write!(out, "{what} after {}", human_seconds(*elapsed_seconds));
            if let Some(why) = reason.as_ref().or(rollback_reason.as_ref()) {
                let _ = write!(out, ": {why}");
            }
            out.push('\n');
        }
        _ => {
            out.push_str("not finished: the events end before the rollout did\n");
            if let Some(why) = &rollback_reason {
                let _ = writeln!(out, "  rolling back: {why}");
            }
        }
    }

    if let Some(Event::Started {
        app,
        namespace,
        strategy,
        router,
        from_image,
        to_image,
        ..
    }) = started
    {
        let _ = writeln!(out, "  app       {app} in namespace {namespace}");
        let _ = writeln!(out, "  strategy  {strategy} via {router}");
        let _ = writeln!(out, "  image     {from_image} → {to_image}");
    }

    if !steps.is_empty() {
        let count = |st: StepState| steps.iter().filter(|(_, s)| *s == st).count();
        let _ = write!(
            out,
            "  steps     {} of {} done",
            count(StepState::Done),
            steps.len()
        );
        let skipped = count(StepState::Skipped);
        if skipped > 0 {
            let _ = write!(out, ", {skipped} skipped");
        }
        if let Some((i, (desc, _))) = steps
            .iter()
            .enumerate()
            .find(|(_, (_, s))| *s == StepState::Failed)
        {
            let _ = write!(out, ", failed at step {} ({desc})", i + 1);
        } else if let Some((i, (desc, _))) = steps
            .iter()
            .enumerate()
            .find(|(_, (_, s))| *s == StepState::Running)
        {
            let _ = write!(out, ", at step {} ({desc})", i + 1);
        }
        out.push('\n');
    }

    if checks.is_empty() {
        out.push_str("  checks    none measured\n");
    } else {
        let width = checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        for (i, c) in checks.iter().enumerate() {
            let label = if i == 0 { "checks" } else { "" };
            let _ = write!(
                out,
                "  {label:<8}  {:<width$}  {} passed, {} failed",
                c.name, c.passed, c.failed
            );
            if c.inconclusive > 0 {
                let _ = write!(out, ", {} inconclusive", c.inconclusive);
            }
            if c.errors > 0 {
                let _ = write!(
                    out,
                    ", {} not measured (error{})",
                    c.errors,
                    if c.errors == 1 { "" } else { "s" }
                );
            }
            out.push('\n');
        }
    }
    for (i, load) in loads.iter().enumerate() {
        let label = if i == 0 { "load" } else { "" };
        let _ = writeln!(out, "  {label:<8}  step {}: {}", load.step + 1, load.line());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Measurement;

    fn started(first_step: usize) -> Event {
        Event::Started {
            app: "hello".into(),
            namespace: "demo".into(),
            strategy: "canary".into(),
            router: "ingress-nginx".into(),
            from_image: "nginx:1.27".into(),
            to_image: "nginx:1.27.1".into(),
            steps: vec![
                "deploy the canary (1 pod)".into(),
                "set weight 10%".into(),
                "pause 30s".into(),
                "set weight 50%".into(),
                "promote".into(),
            ],
            first_step,
        }
    }

    fn step(index: usize, state: StepState) -> Event {
        let desc = [
            "deploy the canary (1 pod)",
            "set weight 10%",
            "pause 30s",
            "set weight 50%",
            "promote",
        ];
        Event::Step {
            index,
            state,
            description: desc.get(index).copied().unwrap_or("?").into(),
        }
    }

    fn gate(check: &str, outcome: Outcome) -> Event {
        Event::Gate {
            step: Some(1),
            measurement: Measurement::new(check, outcome, "figures"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(human_seconds(30.0), "30s");
        assert_eq!(human_seconds(9.34), "9.3s");
        assert_eq!(human_seconds(59.96), "60s");
        assert_eq!(human_seconds(75.0), "1m 15s");
        assert_eq!(human_seconds(3725.0), "1h 02m");
        assert_eq!(human_seconds(f64::NAN), "?");
    }

    #[test]
    fn done() {
        let mut events = vec![started(0)];
        for i in 0..5 {
            events.push(step(i, StepState::Running));
            if i == 1 || i == 3 {
                events.push(gate("smoke", Outcome::Pass));
                events.push(gate("latency", Outcome::Pass));
            }
            events.push(step(i, StepState::Done));
        }
        events.push(Event::Finished {
            finish: Finish::Done,
            reason: None,
            elapsed_seconds: 75.2,
        });
        insta::assert_snapshot!(summary(&events));
    }

    #[test]
    fn rolled_back() {
        let events = vec![
            started(0),
            step(0, StepState::Done),
            step(1, StepState::Done),
            step(2, StepState::Skipped),
            step(3, StepState::Running),
            gate("smoke", Outcome::Pass),
            gate("errors", Outcome::Fail),
            gate("errors", Outcome::Inconclusive),
            gate("errors", Outcome::Error),
            gate("errors", Outcome::Fail),
            step(3, StepState::Failed),
            Event::RollingBack {
                reason: "check \"errors\" failed 2 time(s) (limit 1): success 80% (>= 99%)".into(),
            },
            Event::Finished {
                finish: Finish::RolledBack,
                reason: None,
                elapsed_seconds: 9.3,
            },
        ];
        insta::assert_snapshot!(summary(&events));
    }

    #[test]
    fn resumed_and_paused() {
        let events = vec![
            started(3),
            step(3, StepState::Running),
            Event::Paused {
                until_promoted: true,
                seconds: None,
            },
            Event::Finished {
                finish: Finish::Paused,
                reason: Some("waiting for `rollout promote`".into()),
                elapsed_seconds: 4.0,
            },
        ];
        insta::assert_snapshot!(summary(&events));
    }

    #[test]
    fn cut_short() {
        insta::assert_snapshot!(summary(&[started(0), step(0, StepState::Running)]));
    }
}
