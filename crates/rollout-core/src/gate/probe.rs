//! The probe gate: the new version's pods are ready within a deadline, do not restart, and
//! are not stuck in a crash loop or an image pull error. Pure over a list of pods, so the
//! engine evaluates it on every pod change (a crash loop fails at once, not at a timeout).

use k8s_openapi::api::core::v1::Pod;

use kube_util::pod::is_ready;

use futures::future::BoxFuture;

use super::{Context, Gate, Measurement, Outcome};
use crate::spec::ProbeCheck;

/// The probe check as a gate: each measurement reads the new version's pods.
pub struct ProbeGate {
    name: String,
    check: ProbeCheck,
}

impl ProbeGate {
    pub fn new(name: String, check: ProbeCheck) -> Self {
        ProbeGate { name, check }
    }
}

impl Gate for ProbeGate {
    fn measure<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Measurement> {
        Box::pin(async move {
            match cx.new_pods().await {
                Ok(pods) => evaluate(&self.name, &self.check, &pods, jiff::Timestamp::now()),
                Err(e) => Measurement::error(&self.name, crate::error::chain(&e)),
            }
        })
    }
}

/// Waiting reasons that mean the pod will not become ready by waiting.
const STUCK: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

fn age(p: &Pod, now: jiff::Timestamp) -> std::time::Duration {
    p.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| now.duration_since(t.0))
        .filter(|d| d.is_positive())
        .map(|d| d.unsigned_abs())
        .unwrap_or_default()
}

/// One evaluation of `check` over the new version's pods.
pub fn evaluate(name: &str, check: &ProbeCheck, pods: &[Pod], now: jiff::Timestamp) -> Measurement {
    let pods: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let mut restarts = 0;
    let mut ready = 0;
    for p in &pods {
        let pod = p.metadata.name.as_deref().unwrap_or("?");
        for cs in p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
        {
            restarts += cs.restart_count;
            let waiting = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            if let Some(reason) = waiting.filter(|r| STUCK.contains(r))
                && (check.fail_on_crash_loop || reason != "CrashLoopBackOff")
            {
                return Measurement::new(
                    name,
                    Outcome::Fail,
                    format!(
                        "pod {pod}: container {} is in {reason} (restarts {})",
                        cs.name, cs.restart_count
                    ),
                )
                .figure("restarts", f64::from(cs.restart_count));
            }
            if u32::try_from(cs.restart_count).unwrap_or(0) > check.max_restarts {
                return Measurement::new(
                    name,
                    Outcome::Fail,
                    format!(
                        "pod {pod}: container {} restarted {} time(s) (max {})",
                        cs.name, cs.restart_count, check.max_restarts
                    ),
                )
                .figure("restarts", f64::from(cs.restart_count));
            }
        }
        if is_ready(p) {
            ready += 1;
        } else if age(p, now) > check.readiness_deadline.std() {
            return Measurement::new(
                name,
                Outcome::Fail,
                format!(
                    "pod {pod} not ready after {} (readinessDeadline)",
                    check.readiness_deadline
                ),
            );
        }
    }
    Measurement::new(
        name,
        Outcome::Pass,
        format!(
            "{ready} of {} pods of the new version ready, {restarts} restarts",
            pods.len()
        ),
    )
    .figure("ready", f64::from(ready))
    .figure("pods", pods.len() as f64)
    .figure("restarts", f64::from(restarts))
}

/// What a wait for the new version's pods sees: how many are ready of how many wanted, and
/// for each pod that is not, why — its container's waiting reason and message, its last
/// exit, its restarts, its Ready condition.
pub fn explain(pods: &[Pod], wanted: i32) -> String {
    let pods: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let mut out = format!("{ready} of {wanted} pods of the new version ready");
    for p in pods.iter().filter(|p| !is_ready(p)) {
        let name = p.metadata.name.as_deref().unwrap_or("?");
        let status = p.status.as_ref();
        let mut why: Vec<String> = Vec::new();
        for cs in status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
        {
            if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.as_deref().unwrap_or("waiting");
                why.push(match w.message.as_deref() {
                    Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                    _ => reason.to_owned(),
                });
            }
            if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                why.push(format!(
                    "last exit {} ({})",
                    t.exit_code,
                    t.reason.as_deref().unwrap_or("terminated")
                ));
            }
            if cs.restart_count > 0 {
                why.push(format!("{} restarts", cs.restart_count));
            }
        }
        if let Some(c) = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .filter(|c| c.status != "True")
        {
            why.push(match c.message.as_deref().or(c.reason.as_deref()) {
                Some(m) => format!("not ready: {m}"),
                None => "not ready".to_owned(),
            });
        }
        if why.is_empty() {
            let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
            why.push(phase.to_owned());
        }
        out.push_str(&format!("; {name}: {}", why.join(", ")));
    }
    out
}

/// The first problem with the pods that waiting will not fix, if any.
pub fn stuck(check: &ProbeCheck, pods: &[Pod], now: jiff::Timestamp) -> Option<String> {
    let m = evaluate("probes", check, pods, now);
    (m.outcome == Outcome::Fail).then_some(m.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check() -> ProbeCheck {
        ProbeCheck {
            readiness_deadline: crate::spec::Duration::from_secs(60),
            max_restarts: 0,
            fail_on_crash_loop: true,
        }
    }

    fn pod(ready: bool, restarts: i32, waiting: Option<&str>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-canary-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}],
                "containerStatuses": [{"name": "app", "ready": ready, "restartCount": restarts, "image": "x", "imageID": "",
                    "state": match waiting { Some(r) => json!({"waiting": {"reason": r}}), None => json!({"running": {}}) }}]
            }
        }))
        .expect("pod")
    }

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_767_225_600 + secs).expect("time")
    }

    #[test]
    fn ready_pods_pass_with_their_figures() {
        let m = evaluate(
            "probes",
            &check(),
            &[pod(true, 0, None), pod(false, 0, None)],
            at(5),
        );
        assert_eq!(m.outcome, Outcome::Pass);
        assert_eq!(
            m.summary,
            "1 of 2 pods of the new version ready, 0 restarts"
        );
    }

    #[test]
    fn crash_loops_pull_errors_restarts_and_deadlines_fail() {
        let m = evaluate(
            "probes",
            &check(),
            &[pod(false, 2, Some("CrashLoopBackOff"))],
            at(5),
        );
        assert_eq!(m.outcome, Outcome::Fail);
        assert!(m.summary.contains("CrashLoopBackOff"), "{}", m.summary);
        let m = evaluate(
            "probes",
            &check(),
            &[pod(false, 0, Some("ErrImagePull"))],
            at(5),
        );
        assert!(m.summary.contains("ErrImagePull"));
        let m = evaluate("probes", &check(), &[pod(true, 1, None)], at(5));
        assert!(
            m.summary.contains("restarted 1 time(s) (max 0)"),
            "{}",
            m.summary
        );
        let m = evaluate("probes", &check(), &[pod(false, 0, None)], at(61));
        assert!(m.summary.contains("not ready after 1m"), "{}", m.summary);
    }
}
