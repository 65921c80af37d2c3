//! Pod rows: ready count, status reason, restarts, IP, node.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cells::{age, age_since, name_cell, time_at};
use crate::json::{arr_at, at, bool_at, int_at, str_at, str_or_empty};

fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(c), Some(n)) if n > c => Some(n),
        (None, Some(n)) => Some(n),
        (c, _) => c,
    }
}

fn has_condition(obj: &Value, ty: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == Some(ty) && str_at(c, &["status"]) == Some("True"))
}

/// The reason (or exit description) of a terminated container state, `prefix` before it.
fn terminated_reason(term: &Value, prefix: &str) -> String {
    match str_at(term, &["reason"]).filter(|r| !r.is_empty()) {
        Some(r) => format!("{prefix}{r}"),
        None => {
            let signal = int_at(term, &["signal"]).unwrap_or(0);
            if signal != 0 {
                format!("{prefix}Signal:{signal}")
            } else {
                format!(
                    "{prefix}ExitCode:{}",
                    int_at(term, &["exitCode"]).unwrap_or(0)
                )
            }
        }
    }
}

pub(super) fn pod_cells(pod: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let phase = str_or_empty(pod, &["status", "phase"]);
    let status_reason = str_or_empty(pod, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    for c in arr_at(pod, &["status", "conditions"]) {
        if str_at(c, &["type"]) == Some("PodScheduled")
            && str_at(c, &["reason"]) == Some("SchedulingGated")
        {
            reason = "SchedulingGated".to_string();
        }
    }
    let conditions = match phase {
        "Succeeded" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Failed",
            "message": "The pod failed.",
        }])),
        _ => None,
    };

    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    let is_restartable = |name: &str| {
        init_specs.iter().any(|c| {
            str_at(c, &["name"]) == Some(name) && str_at(c, &["restartPolicy"]) == Some("Always")
        })
    };
    let mut total = arr_at(pod, &["spec", "containers"]).len();
    total += init_specs
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == Some("Always"))
        .count();

    let mut restarts: i64 = 0;
    let mut restartable_restarts: i64 = 0;
    let mut ready: usize = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_restart: Option<Timestamp> = None;
    let mut initializing = false;

    for (i, cs) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int_at(cs, &["restartCount"]).unwrap_or(0);
        let finished = time_at(cs, &["lastState", "terminated", "finishedAt"]);
        restarts += count;
        last_restart = later(last_restart, finished);
        let restartable = is_restartable(str_or_empty(cs, &["name"]));
        if restartable {
            restartable_restarts += count;
            last_restartable_restart = later(last_restartable_restart, finished);
        }
        let terminated = at(cs, &["state", "terminated"]);
        let waiting_reason = str_or_empty(cs, &["state", "waiting", "reason"]);
        if let Some(term) = terminated
            && int_at(term, &["exitCode"]).unwrap_or(0) == 0
        {
            continue;
        }
        if restartable && bool_at(cs, &["started"]) {
            if bool_at(cs, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        if let Some(term) = terminated {
            reason = terminated_reason(term, "Init:");
        } else if at(cs, &["state", "waiting"]).is_some()
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized") {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for cs in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]).unwrap_or(0);
            last_restart = later(
                last_restart,
                time_at(cs, &["lastState", "terminated", "finishedAt"]),
            );
            let waiting_reason = str_or_empty(cs, &["state", "waiting", "reason"]);
            let terminated = at(cs, &["state", "terminated"]);
            if at(cs, &["state", "waiting"]).is_some() && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(term) = terminated {
                reason = terminated_reason(term, "");
            } else if bool_at(cs, &["ready"]) && at(cs, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = at(pod, &["metadata", "deletionTimestamp"]).is_some();
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", age_since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .and_then(|ip| str_at(ip, &["ip"]))
        .or_else(|| str_at(pod, &["status", "podIP"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    let node = Some(str_or_empty(pod, &["spec", "nodeName"]))
        .filter(|n| !n.is_empty())
        .unwrap_or("<none>");
    let nominated = Some(str_or_empty(pod, &["status", "nominatedNodeName"]))
        .filter(|n| !n.is_empty())
        .unwrap_or("<none>");
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr_at(pod, &["status", "conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| {
                let ty = str_or_empty(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == Some(ty))
                    .is_some_and(|c| str_at(c, &["status"]) == Some("True"))
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };

    let cells = vec![
        name_cell(pod),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age(pod, now),
        json!(pod_ip),
        json!(node),
        json!(nominated),
        json!(readiness_gates),
    ];
    (cells, conditions)
}
