//! What a kubelet reports about a pod: phase, conditions and container statuses, built from
//! the node agent's view of each container. Pure, so the shapes kubectl reads (STATUS,
//! READY, RESTARTS) are unit-tested.

use serde_json::{Value, json};

/// The state of one container, as the kubelet reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running; `reason` is what kubectl shows (ContainerCreating, ErrImagePull,
    /// ImagePullBackOff, CrashLoopBackOff).
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    Terminated {
        exit_code: i32,
        reason: String,
        started_at: String,
        finished_at: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub state: State,
    /// The previous run, after a restart.
    pub last_state: Option<State>,
    pub ready: bool,
    pub started: bool,
    pub restart_count: i32,
}

/// The pod-level facts beside the containers.
#[derive(Debug, Clone, PartialEq)]
pub struct PodFacts {
    pub pod_ip: Option<String>,
    pub host_ip: String,
    pub start_time: String,
    /// When each condition last changed (kept by the caller so it only moves on change).
    pub ready_since: String,
}

fn state_json(s: &State) -> Value {
    match s {
        State::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated {
            exit_code,
            reason,
            started_at,
            finished_at,
        } => json!({"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at,
        }}),
    }
}

/// The pod phase: Pending until every container has started once, then Running.
pub fn phase(containers: &[Container]) -> &'static str {
    let all_started = containers
        .iter()
        .all(|c| c.restart_count > 0 || matches!(c.state, State::Running { .. }));
    if all_started && !containers.is_empty() {
        "Running"
    } else {
        "Pending"
    }
}

/// The full `status` of a pod.
pub fn status(containers: &[Container], facts: &PodFacts, scheduled_at: &str) -> Value {
    let all_ready = !containers.is_empty() && containers.iter().all(|c| c.ready);
    let not_ready: Vec<&str> = containers
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let cond = |type_: &str, ok: bool, at: &str| {
        let mut c = json!({"type": type_, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": at});
        if !ok {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!(
                "containers with unready status: [{}]",
                not_ready.join(" ")
            ));
        }
        c
    };
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut s = json!({
                "name": c.name, "image": c.image, "imageID": "", "containerID": format!("sim://{}", c.name),
                "state": state_json(&c.state), "lastState": c.last_state.as_ref().map(state_json).unwrap_or_else(|| json!({})),
                "ready": c.ready, "started": c.started, "restartCount": c.restart_count,
            });
            if matches!(c.state, State::Waiting { .. }) && c.restart_count == 0 {
                s["containerID"] = Value::Null;
            }
            s
        })
        .collect();
    let mut out = json!({
        "phase": phase(containers),
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": facts.start_time},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": facts.start_time},
            cond("Ready", all_ready, &facts.ready_since),
            cond("ContainersReady", all_ready, &facts.ready_since),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": scheduled_at},
        ],
        "hostIP": facts.host_ip,
        "hostIPs": [{"ip": facts.host_ip}],
        "startTime": facts.start_time,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    });
    if let Some(ip) = &facts.pod_ip {
        out["podIP"] = json!(ip);
        out["podIPs"] = json!([{"ip": ip}]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(state: State, ready: bool, restarts: i32) -> Container {
        Container {
            name: "app".into(),
            image: "web:v1".into(),
            state,
            last_state: None,
            ready,
            started: ready,
            restart_count: restarts,
        }
    }

    fn facts() -> PodFacts {
        PodFacts {
            pod_ip: Some("127.10.0.2".into()),
            host_ip: "127.0.0.1".into(),
            start_time: "t0".into(),
            ready_since: "t1".into(),
        }
    }

    #[test]
    fn creating_pod_is_pending_and_not_ready() {
        let s = status(
            &[c(
                State::Waiting {
                    reason: "ContainerCreating".into(),
                    message: None,
                },
                false,
                0,
            )],
            &facts(),
            "t0",
        );
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["conditions"][2]["status"], "False");
        assert_eq!(
            s["conditions"][2]["message"],
            "containers with unready status: [app]"
        );
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
    }

    #[test]
    fn running_ready_pod() {
        let s = status(
            &[c(
                State::Running {
                    started_at: "t1".into(),
                },
                true,
                0,
            )],
            &facts(),
            "t0",
        );
        assert_eq!(s["phase"], "Running");
        assert_eq!(
            s["conditions"][2],
            json!({"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "t1"})
        );
        assert_eq!(s["podIP"], "127.10.0.2");
    }

    #[test]
    fn crash_looping_pod_stays_running_phase_with_restarts() {
        let mut x = c(
            State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some("back-off 10s".into()),
            },
            false,
            2,
        );
        x.last_state = Some(State::Terminated {
            exit_code: 1,
            reason: "Error".into(),
            started_at: "a".into(),
            finished_at: "b".into(),
        });
        let s = status(&[x], &facts(), "t0");
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["containerStatuses"][0]["restartCount"], 2);
        assert_eq!(
            s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1
        );
    }
}
