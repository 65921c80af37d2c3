//! Deployment controller decisions, as kube-controller-manager's `deployment` controller makes
//! them (`pkg/controller/deployment/{deployment_controller,sync,rolling,recreate,progress}.go`
//! and `util/deployment_util.go`).
//!
//! [`sync`] takes one Deployment, the ReplicaSets it controls and the time, and returns what to
//! write as a list of [`Action`]s, in the order kube-controller-manager would issue the writes.
//! No I/O happens here, so every rule can be unit-tested, and the embedded cluster behaves the
//! way `kubectl rollout status`, `rollout undo` and friends expect of a real one.
//!
//! Kubernetes issues several status writes during one sync (and lets the later ones fail on a
//! stale resourceVersion, to redo them on the next sync); here all status changes of one sync
//! are folded into a single [`Action::UpdateStatus`] at the end. The state the cluster converges
//! to is the same.

mod annotations;
mod fields;
mod progress;
mod rollout;
mod run;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use fields::{
    by_creation, controller_uid, equal_ignore_hash, generation, has_progress_deadline, is_paused,
    is_rolling, non_zero, non_zero64, progress_deadline_seconds, rs_available, rs_status_replicas,
    rs_template, selector_is_empty, spec_replicas, template,
};
use progress::{deployment_complete, get_condition};
use run::Run;

/// The rollout sequence number of a ReplicaSet (and, copied, of its Deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Earlier revision numbers a ReplicaSet served before a rollback made it current again.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// `spec.replicas` of the Deployment when it last sized this ReplicaSet; a mismatch is how a
/// scaling event is told apart from a rollout.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` when the Deployment last sized this ReplicaSet; the base of
/// proportional scaling.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// kubectl's client-side apply record; never copied onto ReplicaSets.
pub const LAST_APPLIED_CONFIG_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Round-trip of the extensions/v1beta1 `rollbackTo` field; never copied onto ReplicaSets.
pub const DEPRECATED_ROLLBACK_TO_ANNOTATION: &str = "deprecated.deployment.rollback.to";

/// Deployment annotations that are not copied onto its new ReplicaSet.
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    LAST_APPLIED_CONFIG_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    DEPRECATED_ROLLBACK_TO_ANNOTATION,
];

/// `revision-history` is kept under this many characters (oldest entries dropped first).
const MAX_REV_HISTORY_LENGTH_IN_CHARS: usize = 2000;

/// Condition type: the Deployment has at least `replicas - maxUnavailable` available pods.
pub const CONDITION_AVAILABLE: &str = "Available";
/// Condition type: how the current rollout is going.
pub const CONDITION_PROGRESSING: &str = "Progressing";
/// Condition type: a ReplicaSet failed to create or delete pods.
pub const CONDITION_REPLICA_FAILURE: &str = "ReplicaFailure";

/// Progressing: a ReplicaSet was scaled, or pods became ready/available.
pub const REASON_REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing: creating the new ReplicaSet failed.
pub const REASON_FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
/// Progressing: the new ReplicaSet was created.
pub const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Progressing: an existing ReplicaSet was found to match the template.
pub const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Progressing: the rollout is complete.
pub const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing (False): no progress for `progressDeadlineSeconds`.
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing (Unknown): the Deployment is paused, so progress is not judged.
pub const REASON_PAUSED: &str = "DeploymentPaused";
/// Progressing (Unknown): the Deployment was resumed; the deadline counts from now.
pub const REASON_RESUMED: &str = "DeploymentResumed";
/// Available (True).
pub const REASON_MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available (False).
pub const REASON_MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// Event type for routine happenings.
pub const EVENT_NORMAL: &str = "Normal";
/// Event type for problems.
pub const EVENT_WARNING: &str = "Warning";
/// Event reason of every ReplicaSet resize.
pub const EVENT_SCALING_REPLICA_SET: &str = "ScalingReplicaSet";
/// Event reason when the selector is empty.
pub const EVENT_SELECTING_ALL: &str = "SelectingAll";

/// One write the Deployment controller wants made, in the order it would make them.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create this ReplicaSet (complete object: name `<deployment>-<hash>`, namespace, labels,
    /// selector and template labelled `pod-template-hash`, controller ownerReference to the
    /// Deployment, annotations revision / desired-replicas / max-replicas plus the copied
    /// Deployment annotations, `spec.replicas`, `spec.minReadySeconds`).
    CreateReplicaSet(Box<ReplicaSet>),
    /// Set these fields of an existing ReplicaSet; `None` leaves a field alone.
    UpdateReplicaSet {
        /// The ReplicaSet's name (same namespace as the Deployment).
        name: String,
        /// New `spec.replicas` (always given).
        replicas: Option<i32>,
        /// The complete desired `metadata.annotations` (replace, not merge).
        annotations: BTreeMap<String, String>,
        /// New `spec.template`. Always `None`: Kubernetes never rewrites a ReplicaSet's
        /// template (a rollback reuses the old ReplicaSet as it is); kept so appliers can
        /// support it.
        template: Option<Box<PodTemplateSpec>>,
        /// New `spec.minReadySeconds` (always given): the Deployment's value is kept in sync on
        /// its new ReplicaSet, which judges availability with it.
        min_ready_seconds: Option<i32>,
    },
    /// Delete this old ReplicaSet (revision history cleanup).
    DeleteReplicaSet {
        /// The ReplicaSet's name.
        name: String,
    },
    /// Replace the Deployment's `metadata.annotations` (the revision annotation copied from its
    /// new ReplicaSet). Kubernetes carries this on its status write; the metadata does not bump
    /// `metadata.generation`.
    UpdateDeployment {
        /// The complete desired annotations.
        annotations: BTreeMap<String, String>,
    },
    /// Replace the Deployment's status.
    UpdateStatus(DeploymentStatus),
    /// Record an event on the Deployment (source `deployment-controller`).
    Event {
        /// `Normal` or `Warning`.
        type_: &'static str,
        /// E.g. `ScalingReplicaSet`.
        reason: &'static str,
        /// E.g. `Scaled up replica set web-7d9f8 from 0 to 3`.
        message: String,
    },
}

/// What the controller looks at for one Deployment.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// The Deployment, as stored (defaults applied by the API server).
    pub deployment: &'a Deployment,
    /// Every ReplicaSet whose controller ownerReference carries the Deployment's UID, including
    /// ones with zero replicas and ones being deleted.
    pub replica_sets: &'a [ReplicaSet],
    /// Pods of this Deployment that are still running but belong to an *old* ReplicaSet: pods
    /// whose controller is one of `replica_sets` other than the one matching the current
    /// template, in any phase except `Succeeded`/`Failed`, *including terminating pods*. The
    /// Recreate strategy waits for this to reach 0 before it starts the new version. Compute it
    /// with [`count_old_pods_running`]; it is ignored for RollingUpdate.
    pub old_pods_running: i32,
}

/// One reconciliation of a Deployment: the writes to make, in order.
pub fn sync(observed: &Observed, now: Timestamp) -> Vec<Action> {
    let mut run = Run::new(observed, now);
    // `Err(Stop)` only ends the sync early; what was decided so far is still written.
    let _ = run.sync_deployment();
    run.finish(observed.deployment)
}

/// When to look at this Deployment again although nothing changes, if ever: when the progress
/// deadline of a rollout that is neither complete nor already timed out would pass
/// (`requeueStuckDeployment`), plus one second of slack as Kubernetes adds.
///
/// Meant to be asked of the state at rest (after [`sync`]'s writes were applied). Waiting for
/// `minReadySeconds` is the ReplicaSet controller's job: its status update triggers the next
/// Deployment sync.
pub fn requeue_after(observed: &Observed, now: Timestamp) -> Option<Duration> {
    let d = observed.deployment;
    if d.metadata.deletion_timestamp.is_some()
        || is_paused(d)
        || selector_is_empty(d)
        || !has_progress_deadline(d)
    {
        return None;
    }
    let status = d.status.clone().unwrap_or_default();
    let cond = get_condition(&status, CONDITION_PROGRESSING)?;
    if cond.reason.as_deref() == Some(REASON_TIMED_OUT) {
        return None;
    }
    let new = find_new_replica_set(d, observed.replica_sets);
    let all: Vec<&ReplicaSet> = observed.replica_sets.iter().collect();
    let counts = DeploymentStatus {
        observed_generation: non_zero64(generation(d)),
        replicas: non_zero(all.iter().map(|rs| rs_status_replicas(rs)).sum()),
        updated_replicas: non_zero(new.map(rs_status_replicas).unwrap_or(0)),
        available_replicas: non_zero(all.iter().map(|rs| rs_available(rs)).sum()),
        ..Default::default()
    };
    if deployment_complete(d, &counts) {
        return None;
    }
    let deadline = SignedDuration::from_secs(i64::from(progress_deadline_seconds(d)));
    let last = cond
        .last_update_time
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_default();
    let after = Duration::try_from((last + deadline).duration_since(now)).unwrap_or(Duration::ZERO);
    Some(after + Duration::from_secs(1))
}

/// The ReplicaSet that runs the Deployment's current template: the oldest (by creation time,
/// then name) whose template equals the Deployment's ignoring the `pod-template-hash` label.
pub fn find_new_replica_set<'a>(d: &Deployment, rss: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let mut sorted: Vec<&ReplicaSet> = rss.iter().collect();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted
        .into_iter()
        .find(|rs| equal_ignore_hash(rs_template(rs), template(d)))
}

/// Counts [`Observed::old_pods_running`] from the Deployment's ReplicaSets and the pods they
/// control (pods whose controller is none of `rss` are ignored).
pub fn count_old_pods_running(d: &Deployment, rss: &[ReplicaSet], pods: &[Pod]) -> i32 {
    let new_uid = find_new_replica_set(d, rss).and_then(|rs| rs.metadata.uid.as_deref());
    let old_uids: Vec<&str> = rss
        .iter()
        .filter_map(|rs| rs.metadata.uid.as_deref())
        .filter(|uid| Some(*uid) != new_uid)
        .collect();
    let count = pods
        .iter()
        .filter(|p| {
            controller_uid(&p.metadata).is_some_and(|uid| old_uids.contains(&uid))
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded") | Some("Failed")
                )
        })
        .count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// `maxSurge` and `maxUnavailable` resolved against `replicas` (`ResolveFenceposts`): surge
/// rounds up, unavailable rounds down, and if both come out 0 unavailable becomes 1. Missing
/// values count as the API server's default of 25%; a malformed value (which validation
/// rejects) counts as 0.
pub fn resolve_fenceposts(d: &Deployment) -> (i32, i32) {
    let replicas = spec_replicas(d);
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(
        ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default),
        replicas,
        true,
    );
    let unavailable = scaled_value(
        ru.and_then(|r| r.max_unavailable.as_ref())
            .unwrap_or(&default),
        replicas,
        false,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// `maxSurge` of a RollingUpdate Deployment (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    resolve_fenceposts(d).0
}

/// `maxUnavailable` of a RollingUpdate Deployment, capped at `replicas` (0 for Recreate or for
/// zero replicas).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = spec_replicas(d);
    if !is_rolling(d) || replicas == 0 {
        return 0;
    }
    resolve_fenceposts(d).1.min(replicas)
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, `"N%"` of `total` rounded up or down.
fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let Some(pct) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let exact = pct as f64 * f64::from(total) / 100.0;
            let rounded = if round_up {
                exact.ceil()
            } else {
                exact.floor()
            };
            rounded as i32
        }
    }
}
