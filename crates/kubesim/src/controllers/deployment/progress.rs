//! Status and conditions (`progress.go`): counts, Available, Progressing with its deadline,
//! ReplicaFailure.

use jiff::SignedDuration;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};

use super::fields::{
    generation, has_progress_deadline, non_zero, non_zero64, progress_deadline_seconds,
    rs_available, rs_name, rs_ready, rs_replicas, rs_status_replicas, spec_replicas,
};
use super::run::{Run, Split};
use super::{
    CONDITION_AVAILABLE, CONDITION_PROGRESSING, CONDITION_REPLICA_FAILURE, REASON_MIN_AVAILABLE,
    REASON_MIN_UNAVAILABLE, REASON_NEW_RS_AVAILABLE, REASON_REPLICA_SET_UPDATED, REASON_TIMED_OUT,
    max_unavailable,
};

impl Run {
    /// `syncDeploymentStatus`: counts and the Available condition, no progress judgement.
    pub(super) fn sync_deployment_status(&mut self, split: &Split) {
        let status = self.calculate_status(split);
        self.d.status = Some(status);
    }

    /// `syncRolloutStatus`: counts, Available, and the Progressing condition (complete,
    /// progressing, or timed out), plus ReplicaSet failures.
    pub(super) fn sync_rollout_status(&mut self, split: &Split) {
        let mut new_status = self.calculate_status(split);
        let has_deadline = has_progress_deadline(&self.d);
        if !has_deadline {
            remove_condition(&mut new_status, CONDITION_PROGRESSING);
        }
        let old_status = self.d.status.clone().unwrap_or_default();
        let current = get_condition(&old_status, CONDITION_PROGRESSING).cloned();
        let is_complete_deployment = new_status.replicas.unwrap_or(0)
            == new_status.updated_replicas.unwrap_or(0)
            && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(REASON_NEW_RS_AVAILABLE);
        let new_name = split.new.map(|n| rs_name(&self.rss[n]).to_string());
        let subject = |what: &str| match &new_name {
            Some(n) => format!("ReplicaSet {n:?} {what}"),
            None => format!(
                "Deployment {:?} {what}",
                self.d.metadata.name.clone().unwrap_or_default()
            ),
        };
        if has_deadline && !is_complete_deployment {
            if deployment_complete(&self.d, &new_status) {
                let msg = subject("has successfully progressed.");
                let cond = self.new_condition(
                    CONDITION_PROGRESSING,
                    "True",
                    REASON_NEW_RS_AVAILABLE,
                    &msg,
                );
                set_condition(&mut new_status, cond);
            } else if deployment_progressing(&old_status, &new_status) {
                let msg = subject("is progressing.");
                let mut cond = self.new_condition(
                    CONDITION_PROGRESSING,
                    "True",
                    REASON_REPLICA_SET_UPDATED,
                    &msg,
                );
                // Progress moves lastUpdateTime even with an unchanged reason; the transition
                // time only moves when the status does.
                if let Some(cur) = &current {
                    if cur.status == "True" {
                        cond.last_transition_time = cur.last_transition_time.clone();
                    }
                    remove_condition(&mut new_status, CONDITION_PROGRESSING);
                }
                set_condition(&mut new_status, cond);
            } else if self.timed_out(&new_status) {
                let msg = subject("has timed out progressing.");
                let cond =
                    self.new_condition(CONDITION_PROGRESSING, "False", REASON_TIMED_OUT, &msg);
                set_condition(&mut new_status, cond);
            }
        }
        match self.replica_failure(split) {
            Some(cond) => set_condition(&mut new_status, cond),
            None => remove_condition(&mut new_status, CONDITION_REPLICA_FAILURE),
        }
        self.d.status = Some(new_status);
    }

    /// `DeploymentTimedOut`: the Progressing condition was last updated more than
    /// `progressDeadlineSeconds` ago (or already says so).
    fn timed_out(&self, new_status: &DeploymentStatus) -> bool {
        if !has_progress_deadline(&self.d) {
            return false;
        }
        let Some(cond) = get_condition(new_status, CONDITION_PROGRESSING) else {
            return false;
        };
        match cond.reason.as_deref() {
            Some(REASON_NEW_RS_AVAILABLE) => return false,
            Some(REASON_TIMED_OUT) => return true,
            _ => {}
        }
        let from = cond
            .last_update_time
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_default();
        let deadline = SignedDuration::from_secs(i64::from(progress_deadline_seconds(&self.d)));
        from + deadline < self.now
    }

    /// `getReplicaFailures`: a ReplicaFailure condition of the new ReplicaSet, else of any.
    fn replica_failure(&self, split: &Split) -> Option<DeploymentCondition> {
        let failure = |rs: &ReplicaSet| -> Option<DeploymentCondition> {
            rs.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_REPLICA_FAILURE))
                .map(|c| DeploymentCondition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    last_transition_time: c.last_transition_time.clone(),
                    last_update_time: c.last_transition_time.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                })
        };
        if let Some(c) = split.new.and_then(|n| failure(&self.rss[n])) {
            return Some(c);
        }
        split
            .old
            .iter()
            .chain(split.new.iter())
            .find_map(|i| failure(&self.rss[*i]))
    }

    /// `calculateStatus`: counts summed over all ReplicaSets plus the Available condition.
    fn calculate_status(&self, split: &Split) -> DeploymentStatus {
        let all: Vec<&ReplicaSet> = split
            .old
            .iter()
            .chain(split.new.iter())
            .map(|i| &self.rss[*i])
            .collect();
        let available: i32 = all.iter().map(|rs| rs_available(rs)).sum();
        let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
        let previous = self.d.status.clone().unwrap_or_default();
        let mut status = DeploymentStatus {
            observed_generation: non_zero64(generation(&self.d)),
            replicas: non_zero(all.iter().map(|rs| rs_status_replicas(rs)).sum()),
            updated_replicas: non_zero(
                split
                    .new
                    .map(|n| rs_status_replicas(&self.rss[n]))
                    .unwrap_or(0),
            ),
            ready_replicas: non_zero(all.iter().map(|rs| rs_ready(rs)).sum()),
            available_replicas: non_zero(available),
            unavailable_replicas: non_zero((total - available).max(0)),
            collision_count: previous.collision_count,
            conditions: previous.conditions,
            terminating_replicas: None,
        };
        let cond = if available >= spec_replicas(&self.d) - max_unavailable(&self.d) {
            self.new_condition(
                CONDITION_AVAILABLE,
                "True",
                REASON_MIN_AVAILABLE,
                "Deployment has minimum availability.",
            )
        } else {
            self.new_condition(
                CONDITION_AVAILABLE,
                "False",
                REASON_MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.",
            )
        };
        set_condition(&mut status, cond);
        status
    }
}

/// `DeploymentComplete`: all replicas updated and available, none old, generation observed.
pub(super) fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = spec_replicas(d);
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation.unwrap_or(0) >= generation(d)
}

/// `DeploymentProgressing`: more updated pods, fewer old pods, or more ready/available pods
/// than the status recorded before.
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let get = |v: Option<i32>| v.unwrap_or(0);
    let old_old = get(old.replicas) - get(old.updated_replicas);
    let new_old = get(new.replicas) - get(new.updated_replicas);
    get(new.updated_replicas) > get(old.updated_replicas)
        || new_old < old_old
        || get(new.ready_replicas) > get(old.ready_replicas)
        || get(new.available_replicas) > get(old.available_replicas)
}

pub(super) fn get_condition<'s>(
    status: &'s DeploymentStatus,
    type_: &str,
) -> Option<&'s DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no-op when status and reason are unchanged; otherwise replace the
/// condition (moving it to the end), keeping lastTransitionTime if the status is unchanged.
pub(super) fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = get_condition(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    let mut conditions: Vec<DeploymentCondition> = status
        .conditions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != cond.type_)
        .collect();
    conditions.push(cond);
    status.conditions = Some(conditions);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// Zero counts and empty lists are omitted on the wire; make them `None` so equal statuses
/// compare equal however they were spelled.
pub(super) fn normalize_status(mut s: DeploymentStatus) -> DeploymentStatus {
    let nz = |v: Option<i32>| v.filter(|n| *n != 0);
    s.replicas = nz(s.replicas);
    s.updated_replicas = nz(s.updated_replicas);
    s.ready_replicas = nz(s.ready_replicas);
    s.available_replicas = nz(s.available_replicas);
    s.unavailable_replicas = nz(s.unavailable_replicas);
    s.terminating_replicas = nz(s.terminating_replicas);
    s.observed_generation = s.observed_generation.filter(|g| *g != 0);
    if s.conditions.as_ref().is_some_and(Vec::is_empty) {
        s.conditions = None;
    }
    s
}
