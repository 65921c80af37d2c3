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
                Ok(new) => evaluate(&self.name, &self.check, &new, jiff::Timestamp::now()),
                Err(e) => Measurement::error(&self.name, crate::error::chain(&e)),
            }
        })
    }
}

/// The new version's pods, and which Deployments run them with how many replicas each wants,
/// so counts say which pods they are (a canary's and, once promoted, the app's own).
#[derive(Debug, Clone, Default)]
pub struct NewPods {
    pub pods: Vec<Pod>,
    /// The new version as people name it: its image's tag.
    pub version: String,
    /// Each Deployment whose template runs the new version, with its desired replicas.
    pub desired: Vec<(String, i32)>,
}

/// The tag of an image reference (`nginx:1.29` → `1.29`), or the reference when it has none.
pub fn version_of(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    match name.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => tag,
        _ => image,
    }
}

/// The Deployment a pod belongs to: its ReplicaSet's name without the template hash.
fn deployment_of(p: &Pod) -> Option<String> {
    let hash = p.metadata.labels.as_ref()?.get("pod-template-hash")?;
    let rs = p
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.kind == "ReplicaSet")?;
    rs.name.strip_suffix(&format!("-{hash}")).map(str::to_owned)
}

/// `2/3 new pods (v2) ready, desired 3`, naming each Deployment when there are several:
/// `5/6 new pods (v2) ready, desired 6: web-canary 3/3, web 2/3`.
pub fn count(pods: &[&Pod], version: &str, desired: &[(String, i32)]) -> String {
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let want: i32 = desired.iter().map(|(_, n)| n).sum();
    if pods.is_empty() && want == 0 {
        return format!("no new pods ({version}) yet");
    }
    let mut out = format!(
        "{ready}/{} new pods ({version}) ready, desired {want}",
        pods.len()
    );
    if desired.len() > 1 {
        let each: Vec<String> = desired
            .iter()
            .map(|(name, n)| {
                let mine: Vec<&&Pod> = pods
                    .iter()
                    .filter(|p| deployment_of(p).as_deref() == Some(name.as_str()))
                    .collect();
                let ready = mine.iter().filter(|p| is_ready(p)).count();
                format!("{name} {ready}/{n}")
            })
            .collect();
        out.push_str(&format!(": {}", each.join(", ")));
    }
    out
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
pub fn evaluate(
    name: &str,
    check: &ProbeCheck,
    new: &NewPods,
    now: jiff::Timestamp,
) -> Measurement {
    let pods: Vec<&Pod> = new
        .pods
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
    let desired: i32 = new.desired.iter().map(|(_, n)| n).sum();
    Measurement::new(
        name,
        Outcome::Pass,
        format!(
            "{}, {restarts} restarts",
            count(&pods, &new.version, &new.desired)
        ),
    )
    .figure("ready", f64::from(ready))
    .figure("pods", pods.len() as f64)
    .figure("desired", f64::from(desired))
    .figure("restarts", f64::from(restarts))
}

/// What a wait for one Deployment's new pods sees: how many are ready of how many it wants,
/// and for each pod that is not, why — its container's waiting reason and message, its last
/// exit, its restarts, its Ready condition, and its probe's last failure (from its events,
/// `unhealthy`).
pub fn explain(
    deployment: &str,
    pods: &[Pod],
    version: &str,
    wanted: i32,
    unhealthy: &std::collections::BTreeMap<String, String>,
) -> String {
    let pods: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let mut out = count(&pods, version, &[(deployment.to_owned(), wanted)]);
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
            why.push(format!("restarts {}", cs.restart_count));
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
        if let Some(probe) = unhealthy.get(name) {
            why.push(format!("last probe: {probe}"));
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
pub fn stuck(check: &ProbeCheck, new: &NewPods, now: jiff::Timestamp) -> Option<String> {
    let m = evaluate("probes", check, new, now);
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

    fn new(pods: Vec<Pod>) -> NewPods {
        NewPods {
            desired: vec![("web-canary".into(), pods.len() as i32)],
            pods,
            version: "v2".into(),
        }
    }

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_767_225_600 + secs).expect("time")
    }

    #[test]
    fn ready_pods_pass_with_their_figures() {
        let m = evaluate(
            "probes",
            &check(),
            &new(vec![pod(true, 0, None), pod(false, 0, None)]),
            at(5),
        );
        assert_eq!(m.outcome, Outcome::Pass);
        assert_eq!(m.summary, "1/2 new pods (v2) ready, desired 2, 0 restarts");
    }

    fn pod_of(deployment: &str, hash: &str, ready: bool) -> Pod {
        let mut p = pod(ready, 0, None);
        p.metadata.labels = Some([("pod-template-hash".to_owned(), hash.to_owned())].into());
        p.metadata.owner_references = Some(vec![serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{deployment}-{hash}"), "uid": "u"
        })).expect("owner")]);
        p
    }

    #[test]
    fn counts_say_which_pods_of_which_version_and_how_many_are_wanted() {
        let canary = [
            pod_of("web-canary", "a1", true),
            pod_of("web-canary", "a1", true),
        ];
        let app = [pod_of("web", "b2", true), pod_of("web", "b2", false)];
        let pods: Vec<&Pod> = canary.iter().chain(&app).collect();
        assert_eq!(
            count(&pods, "v2", &[("web-canary".into(), 2), ("web".into(), 3)]),
            "3/4 new pods (v2) ready, desired 5: web-canary 2/2, web 1/3"
        );
        assert_eq!(count(&[], "v2", &[]), "no new pods (v2) yet");
        assert_eq!(version_of("nginx:1.29-errors"), "1.29-errors");
        assert_eq!(version_of("registry:5000/app"), "registry:5000/app");
    }

    #[test]
    fn a_wait_names_each_unready_pods_probe_failure_and_restarts() {
        let failures = [(
            "web-canary-1".to_owned(),
            "Readiness probe failed: HTTP probe failed with statuscode: 503".to_owned(),
        )]
        .into();
        let text = explain("web-canary", &[pod(false, 2, None)], "v2", 1, &failures);
        assert!(
            text.starts_with("0/1 new pods (v2) ready, desired 1; web-canary-1: "),
            "{text}"
        );
        assert!(text.contains("restarts 2"), "{text}");
        assert!(
            text.contains(
                "last probe: Readiness probe failed: HTTP probe failed with statuscode: 503"
            ),
            "{text}"
        );
    }

    #[test]
    fn crash_loops_pull_errors_restarts_and_deadlines_fail() {
        let m = evaluate(
            "probes",
            &check(),
            &new(vec![pod(false, 2, Some("CrashLoopBackOff"))]),
            at(5),
        );
        assert_eq!(m.outcome, Outcome::Fail);
        assert!(m.summary.contains("CrashLoopBackOff"), "{}", m.summary);
        let m = evaluate(
            "probes",
            &check(),
            &new(vec![pod(false, 0, Some("ErrImagePull"))]),
            at(5),
        );
        assert!(m.summary.contains("ErrImagePull"));
        let m = evaluate("probes", &check(), &new(vec![pod(true, 1, None)]), at(5));
        assert!(
            m.summary.contains("restarted 1 time(s) (max 0)"),
            "{}",
            m.summary
        );
        let m = evaluate("probes", &check(), &new(vec![pod(false, 0, None)]), at(61));
        assert!(m.summary.contains("not ready after 1m"), "{}", m.summary);
    }
}
