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

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::hash::{POD_TEMPLATE_HASH_LABEL, compute_hash};

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
pub fn sync(observed: &Observed, now: DateTime<Utc>) -> Vec<Action> {
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
pub fn requeue_after(observed: &Observed, now: DateTime<Utc>) -> Option<Duration> {
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
    let deadline = chrono::Duration::seconds(i64::from(progress_deadline_seconds(d)));
    let last = cond
        .last_update_time
        .as_ref()
        .map(to_chrono)
        .unwrap_or_default();
    let after = (last + deadline - now).to_std().unwrap_or(Duration::ZERO);
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

/// Ends a sync early (after a hash collision, or after the new ReplicaSet's annotations were
/// rewritten, where Kubernetes' next write in the same sync fails on a stale resourceVersion).
struct Stop;

/// The state of one sync: working copies that the decisions mutate, and the writes so far.
struct Run {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    actions: Vec<Action>,
    /// Condition timestamps have whole-second precision on the wire; truncating keeps a
    /// re-sync of unchanged state from producing a different status.
    now: DateTime<Utc>,
    old_pods_running: i32,
    /// Set by a sync that resumed the Deployment: its status and annotations as written with
    /// the resumed condition. Kubernetes writes that condition on its own and goes on with the
    /// object it read before, so every later write of the Deployment in the same sync fails
    /// on a conflict; what it does to ReplicaSets stands.
    resumed: Option<Written>,
}

/// A Deployment's status and annotations as one write left them.
type Written = (Option<DeploymentStatus>, Option<BTreeMap<String, String>>);

/// The ReplicaSets as the Deployment sees them: the one running the current template, if any,
/// and all the others (in creation order).
struct Split {
    new: Option<usize>,
    old: Vec<usize>,
    /// The existing new ReplicaSet's annotations or minReadySeconds were just rewritten.
    new_rs_updated: bool,
}

impl Run {
    fn new(observed: &Observed, now: DateTime<Utc>) -> Self {
        let mut rss = observed.replica_sets.to_vec();
        rss.sort_by(by_creation);
        Run {
            d: observed.deployment.clone(),
            rss,
            actions: Vec::new(),
            now: now.trunc_subsecs(0),
            old_pods_running: observed.old_pods_running,
            resumed: None,
        }
    }

    /// `syncDeployment`, after the listing.
    fn sync_deployment(&mut self) -> Result<(), Stop> {
        if selector_is_empty(&self.d) {
            self.event(
                EVENT_WARNING,
                EVENT_SELECTING_ALL,
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            let generation = generation(&self.d);
            let status = self.d.status.get_or_insert_with(Default::default);
            if status.observed_generation.unwrap_or(0) < generation {
                status.observed_generation = non_zero64(generation);
            }
            return Ok(());
        }
        if self.d.metadata.deletion_timestamp.is_some() {
            let split = self.get_all_and_sync_revision()?;
            self.sync_deployment_status(&split);
            return Ok(());
        }
        if self.check_paused_conditions() == Some(REASON_RESUMED) {
            self.resumed = Some((self.d.status.clone(), self.d.metadata.annotations.clone()));
        }
        if is_paused(&self.d) {
            let split = self.get_all_and_sync_revision()?;
            return self.sync_scale(split);
        }
        // `deprecated.deployment.rollback.to` (extensions/v1beta1 rollbacks) is not supported:
        // kubectl has rolled back by patching the template since apps/v1.
        let split = self.get_all_and_sync_revision()?;
        if split.new_rs_updated {
            return Err(Stop);
        }
        if self.is_scaling_event(&split) {
            return self.sync_scale(split);
        }
        match strategy_type(&self.d) {
            "Recreate" => self.rollout_recreate(split),
            "RollingUpdate" => self.rollout_rolling(split),
            // Validation only admits the two types; Kubernetes errors out on anything else.
            _ => Err(Stop),
        }
    }

    /// `checkPausedConditions`: mark pausing and resuming with an Unknown Progressing
    /// condition, so time spent paused never counts against the progress deadline.
    /// Returns the reason it set, if it set one.
    fn check_paused_conditions(&mut self) -> Option<&'static str> {
        if !has_progress_deadline(&self.d) {
            return None;
        }
        let status = self.d.status.clone().unwrap_or_default();
        let cond = get_condition(&status, CONDITION_PROGRESSING);
        let reason = cond.and_then(|c| c.reason.as_deref());
        if reason == Some(REASON_TIMED_OUT) {
            return None;
        }
        let paused_exists = reason == Some(REASON_PAUSED);
        let paused = is_paused(&self.d);
        let (reason, message) = if paused && !paused_exists {
            (REASON_PAUSED, "Deployment is paused")
        } else if !paused && paused_exists {
            (REASON_RESUMED, "Deployment is resumed")
        } else {
            return None;
        };
        let condition = self.new_condition(CONDITION_PROGRESSING, "Unknown", reason, message);
        let status = self.d.status.get_or_insert_with(Default::default);
        set_condition(status, condition);
        Some(reason)
    }

    /// `getAllReplicaSetsAndSyncRevision` without creation: find the new ReplicaSet, bring its
    /// annotations (revision, copied Deployment annotations) and minReadySeconds up to date, and
    /// copy its revision onto the Deployment.
    fn get_all_and_sync_revision(&mut self) -> Result<Split, Stop> {
        let new = self
            .rss
            .iter()
            .position(|rs| equal_ignore_hash(rs_template(rs), template(&self.d)));
        let old: Vec<usize> = (0..self.rss.len()).filter(|i| Some(*i) != new).collect();
        let Some(n) = new else {
            return Ok(Split {
                new,
                old,
                new_rs_updated: false,
            });
        };
        let new_revision = (self.max_revision(&old) + 1).to_string();
        let mut copy = self.rss[n].clone();
        let annotations_updated = set_new_rs_annotations(&self.d, &mut copy, &new_revision, true);
        let min_ready = min_ready_seconds(&self.d);
        let min_ready_needs_update = rs_min_ready(&copy) != min_ready;
        if annotations_updated || min_ready_needs_update {
            copy.spec
                .get_or_insert_with(Default::default)
                .min_ready_seconds = Some(min_ready);
            self.rss[n] = copy;
            self.push_rs_update(n);
            return Ok(Split {
                new,
                old,
                new_rs_updated: true,
            });
        }
        // Kubernetes copies whatever the ReplicaSet says, even nothing.
        let revision = annotation(&copy.metadata, REVISION_ANNOTATION)
            .unwrap_or("")
            .to_string();
        self.set_deployment_revision(&revision);
        let status = self.d.status.clone().unwrap_or_default();
        if has_progress_deadline(&self.d) && get_condition(&status, CONDITION_PROGRESSING).is_none()
        {
            let msg = format!("Found new replica set {:?}", rs_name(&copy));
            let cond = self.new_condition(CONDITION_PROGRESSING, "True", REASON_FOUND_NEW_RS, &msg);
            set_condition(self.d.status.get_or_insert_with(Default::default), cond);
        }
        Ok(Split {
            new,
            old,
            new_rs_updated: false,
        })
    }

    /// The creating half of `getNewReplicaSet`: build `<deployment>-<hash>` sized by
    /// `NewRSNewReplicas`, or, if an old ReplicaSet already has that name (a hash collision),
    /// bump `status.collisionCount` so the next sync picks another name.
    fn create_new_rs(&mut self, old: &[usize]) -> Result<usize, Stop> {
        let d = &self.d;
        let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(template(d), collision_count);
        let mut tmpl = template(d).clone();
        tmpl.metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let mut selector: LabelSelector = d
            .spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let d_name = d.metadata.name.clone().unwrap_or_default();
        let name = format!("{d_name}-{hash}");
        let labels = tmpl.metadata.as_ref().and_then(|m| m.labels.clone());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: d.metadata.namespace.clone(),
                owner_references: Some(vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: d_name,
                    uid: d.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                labels,
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: Some(min_ready_seconds(d)),
                selector,
                template: Some(tmpl),
            }),
            status: None,
        };
        let mut all: Vec<&ReplicaSet> = old.iter().map(|i| &self.rss[*i]).collect();
        all.push(&rs);
        let new_replicas = new_rs_new_replicas(d, &all, &rs);
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(new_replicas);
        }
        let new_revision = (self.max_revision(old) + 1).to_string();
        set_new_rs_annotations(d, &mut rs, &new_revision, false);

        if self.rss.iter().any(|other| rs_name(other) == name) {
            // The name is taken by a ReplicaSet with another template (an equal one would have
            // been found as the new ReplicaSet): a hash collision.
            let status = self.d.status.get_or_insert_with(Default::default);
            status.collision_count = Some(status.collision_count.unwrap_or(0).saturating_add(1));
            return Err(Stop);
        }
        self.actions
            .push(Action::CreateReplicaSet(Box::new(rs.clone())));
        self.rss.push(rs);
        let idx = self.rss.len() - 1;
        if new_replicas > 0 {
            self.event(
                EVENT_NORMAL,
                EVENT_SCALING_REPLICA_SET,
                format!("Scaled up replica set {name} from 0 to {new_replicas}"),
            );
        }
        self.set_deployment_revision(&new_revision);
        if has_progress_deadline(&self.d) {
            let msg = format!("Created new replica set {name:?}");
            let cond =
                self.new_condition(CONDITION_PROGRESSING, "True", REASON_NEW_RS_CREATED, &msg);
            set_condition(self.d.status.get_or_insert_with(Default::default), cond);
        }
        if self.resumed.is_some() {
            // The status write that follows the creation is the one that fails (see
            // `resumed`), and the sync ends there.
            return Err(Stop);
        }
        Ok(idx)
    }

    /// `isScalingEvent`: an active ReplicaSet was last sized for a different `spec.replicas`.
    fn is_scaling_event(&self, split: &Split) -> bool {
        let replicas = spec_replicas(&self.d);
        split
            .old
            .iter()
            .chain(split.new.iter())
            .map(|i| &self.rss[*i])
            .filter(|rs| rs_replicas(rs) > 0)
            .filter_map(|rs| int_annotation(rs, DESIRED_REPLICAS_ANNOTATION))
            .any(|desired| desired != replicas)
    }

    /// `sync`: scaling (paused Deployments and scaling events), history cleanup when paused,
    /// and a status refresh without judging progress.
    fn sync_scale(&mut self, split: Split) -> Result<(), Stop> {
        self.scale(&split);
        if is_paused(&self.d) {
            self.cleanup(&split.old);
        }
        self.sync_deployment_status(&split);
        Ok(())
    }

    /// `scale`: resize proportionally, so a resize during a rollout keeps the ratio between
    /// versions instead of hastening the rollout.
    fn scale(&mut self, split: &Split) {
        let replicas = spec_replicas(&self.d);
        if let Some(i) = self.find_active_or_latest(split) {
            if rs_replicas(&self.rss[i]) != replicas {
                self.scale_and_record(i, replicas);
            }
            return;
        }
        if let Some(n) = split.new
            && self.is_saturated(n)
        {
            let active_old: Vec<usize> = self.active(&split.old);
            for i in active_old {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if !is_rolling(&self.d) {
            return;
        }
        let mut all: Vec<usize> = split.old.clone();
        all.extend(split.new);
        let mut all = self.active(&all);
        let current: i32 = all.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        let allowed = if replicas > 0 {
            replicas + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - current;
        let operation = match to_add.cmp(&0) {
            Ordering::Greater => {
                // Largest first; among equals, newer first.
                all.sort_by(|a, b| {
                    let (a, b) = (&self.rss[*a], &self.rss[*b]);
                    rs_replicas(b)
                        .cmp(&rs_replicas(a))
                        .then_with(|| by_creation(b, a))
                });
                "up"
            }
            Ordering::Less => {
                // Largest first; among equals, older first.
                all.sort_by(|a, b| {
                    let (a, b) = (&self.rss[*a], &self.rss[*b]);
                    rs_replicas(b)
                        .cmp(&rs_replicas(a))
                        .then_with(|| by_creation(a, b))
                });
                "down"
            }
            Ordering::Equal => "",
        };
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
        for i in &all {
            let size = rs_replicas(&self.rss[*i]);
            if to_add != 0 {
                let proportion = self.proportion(*i, to_add, added);
                sizes.push(size + proportion);
                added += proportion;
            } else {
                sizes.push(size);
            }
        }
        for (k, i) in all.iter().enumerate() {
            if k == 0 && to_add != 0 {
                // Leftovers from rounding go to (or come from) the largest ReplicaSet.
                sizes[k] = (sizes[k] + to_add - added).max(0);
            }
            self.scale_rs(*i, sizes[k], operation);
        }
    }

    /// `FindActiveOrLatest`: the only ReplicaSet with replicas, or the newest one if none has
    /// any; `None` when several are active (proportional scaling needed).
    fn find_active_or_latest(&self, split: &Split) -> Option<usize> {
        if split.new.is_none() && split.old.is_empty() {
            return None;
        }
        let mut old = split.old.clone();
        old.sort_by(|a, b| by_creation(&self.rss[*b], &self.rss[*a]));
        let mut all = old.clone();
        all.extend(split.new);
        let active = self.active(&all);
        match active.len() {
            0 => split.new.or_else(|| old.first().copied()),
            1 => active.first().copied(),
            _ => None,
        }
    }

    /// `IsSaturated`: the new ReplicaSet holds, was sized for, and has available all replicas.
    fn is_saturated(&self, n: usize) -> bool {
        let rs = &self.rss[n];
        let replicas = spec_replicas(&self.d);
        let Some(desired) = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) else {
            return false;
        };
        rs_replicas(rs) == replicas && desired == replicas && rs_available(rs) == replicas
    }

    /// `GetProportion`: this ReplicaSet's share of `to_add`, never overshooting what is left.
    fn proportion(&self, i: usize, to_add: i32, added: i32) -> i32 {
        let rs = &self.rss[i];
        if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(rs);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `getReplicaSetFraction`: scale the ReplicaSet by new max size / the max size it was
    /// sized for (its max-replicas annotation, else the Deployment's current replicas), rounding
    /// half away from zero. A zero base (which Kubernetes divides by) gives no share here.
    fn fraction(&self, rs: &ReplicaSet) -> i32 {
        let replicas = spec_replicas(&self.d);
        let size = rs_replicas(rs);
        if replicas == 0 {
            return -size;
        }
        let deployment_replicas = replicas + max_surge(&self.d);
        let annotated = int_annotation(rs, MAX_REPLICAS_ANNOTATION)
            .unwrap_or_else(|| self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
        if annotated <= 0 {
            return 0;
        }
        let new_size =
            (i64::from(size) * i64::from(deployment_replicas)) as f64 / f64::from(annotated);
        new_size.round() as i32 - size
    }

    /// `rolloutRolling`: grow the new ReplicaSet within maxSurge; if nothing grew, shrink old
    /// ones within maxUnavailable; once complete, trim history.
    fn rollout_rolling(&mut self, split: Split) -> Result<(), Stop> {
        let new = match split.new {
            Some(n) => n,
            None => self.create_new_rs(&split.old)?,
        };
        let mut all = split.old.clone();
        all.push(new);
        let split = Split {
            new: Some(new),
            old: split.old,
            new_rs_updated: false,
        };
        if self.reconcile_new_rs(&all, new) {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        let active_old = self.active(&split.old);
        if self.reconcile_old_rss(&all, &active_old, new) {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        if self.complete_before_sync() {
            self.cleanup(&split.old);
        }
        self.sync_rollout_status(&split);
        Ok(())
    }

    /// `reconcileNewReplicaSet`.
    fn reconcile_new_rs(&mut self, all: &[usize], new: usize) -> bool {
        let replicas = spec_replicas(&self.d);
        let current = rs_replicas(&self.rss[new]);
        if current == replicas {
            return false;
        }
        if current > replicas {
            return self.scale_and_record(new, replicas);
        }
        let all_rs: Vec<&ReplicaSet> = all.iter().map(|i| &self.rss[*i]).collect();
        let target = new_rs_new_replicas(&self.d, &all_rs, &self.rss[new]);
        self.scale_and_record(new, target)
    }

    /// `reconcileOldReplicaSets`: scale old ReplicaSets down by at most
    /// `allPods - minAvailable - newRSUnavailable`, unhealthy replicas first.
    fn reconcile_old_rss(&mut self, all: &[usize], active_old: &[usize], new: usize) -> bool {
        let old_pods: i32 = active_old.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        if old_pods == 0 {
            return false;
        }
        let all_pods: i32 = all.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        let min_available = spec_replicas(&self.d) - max_unavailable(&self.d);
        let new_rs = &self.rss[new];
        let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut old = active_old.to_vec();
        old.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        // Kubernetes swallows errors here (reports "nothing scaled") and carries on.
        let Ok(cleaned) = self.cleanup_unhealthy_replicas(&old, max_scaled_down) else {
            return false;
        };
        let mut all_after = old.clone();
        all_after.push(new);
        let Ok(scaled) = self.scale_down_old_for_rolling(&all_after, &old) else {
            return false;
        };
        cleaned + scaled > 0
    }

    /// `cleanupUnhealthyReplicas`: scaling away replicas that are not available cannot lower
    /// availability, so do that first (oldest ReplicaSet first, at most `max_cleanup`).
    fn cleanup_unhealthy_replicas(&mut self, old: &[usize], max_cleanup: i32) -> Result<i32, Stop> {
        let mut total = 0;
        for &i in old {
            if total >= max_cleanup {
                break;
            }
            let rs = &self.rss[i];
            let size = rs_replicas(rs);
            let available = rs_available(rs);
            if size == 0 || size == available {
                continue;
            }
            let count = (max_cleanup - total).min(size - available);
            let new_size = size - count;
            if new_size > size {
                // More available than desired (stale status): Kubernetes refuses to "scale down"
                // upward and abandons this step.
                return Err(Stop);
            }
            self.scale_and_record(i, new_size);
            total += count;
        }
        Ok(total)
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`: while more than `minAvailable` pods are
    /// available, take the surplus from the oldest ReplicaSets.
    fn scale_down_old_for_rolling(&mut self, all: &[usize], old: &[usize]) -> Result<i32, Stop> {
        let min_available = spec_replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = all.iter().map(|i| rs_available(&self.rss[*i])).sum();
        if available <= min_available {
            return Ok(0);
        }
        let target = available - min_available;
        let mut total = 0;
        for &i in old {
            if total >= target {
                break;
            }
            let size = rs_replicas(&self.rss[i]);
            if size == 0 {
                continue;
            }
            let count = size.min(target - total);
            let new_size = size - count;
            if new_size > size {
                return Err(Stop);
            }
            self.scale_and_record(i, new_size);
            total += count;
        }
        Ok(total)
    }

    /// `rolloutRecreate`: old ReplicaSets to 0, wait until no old pod runs, then the new
    /// ReplicaSet at full size.
    fn rollout_recreate(&mut self, split: Split) -> Result<(), Stop> {
        let active_old = self.active(&split.old);
        let mut scaled_down = false;
        for i in active_old {
            scaled_down |= self.scale_and_record(i, 0);
        }
        if scaled_down {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        let old_status_replicas: i32 = split
            .old
            .iter()
            .map(|i| rs_status_replicas(&self.rss[*i]))
            .sum();
        if old_status_replicas > 0 || self.old_pods_running > 0 {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        let new = match split.new {
            Some(n) => n,
            None => self.create_new_rs(&split.old)?,
        };
        let split = Split {
            new: Some(new),
            old: split.old,
            new_rs_updated: false,
        };
        let replicas = spec_replicas(&self.d);
        self.scale_and_record(new, replicas);
        if self.complete_before_sync() {
            self.cleanup(&split.old);
        }
        self.sync_rollout_status(&split);
        Ok(())
    }

    /// `cleanupDeployment`: delete the oldest revisions beyond `revisionHistoryLimit`, but only
    /// ReplicaSets that are fully scaled down, settled and not already being deleted.
    fn cleanup(&mut self, old: &[usize]) {
        let limit = match revision_history_limit(&self.d) {
            Some(l) if l != i32::MAX => l,
            _ => return,
        };
        let mut cleanable: Vec<usize> = old
            .iter()
            .copied()
            .filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none())
            .collect();
        let diff = i64::try_from(cleanable.len()).unwrap_or(i64::MAX) - i64::from(limit);
        if diff <= 0 {
            return;
        }
        insertion_sort(&mut cleanable, |a, b| {
            by_revision_less(&self.rss[*a], &self.rss[*b])
        });
        let diff = usize::try_from(diff).unwrap_or(0);
        for i in cleanable.into_iter().take(diff) {
            let rs = &self.rss[i];
            let status = rs.status.as_ref();
            let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
            if rs_status_replicas(rs) != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let name = rs_name(rs).to_string();
            self.actions.push(Action::DeleteReplicaSet { name });
        }
    }

    /// `syncDeploymentStatus`: counts and the Available condition, no progress judgement.
    fn sync_deployment_status(&mut self, split: &Split) {
        let status = self.calculate_status(split);
        self.d.status = Some(status);
    }

    /// `syncRolloutStatus`: counts, Available, and the Progressing condition (complete,
    /// progressing, or timed out), plus ReplicaSet failures.
    fn sync_rollout_status(&mut self, split: &Split) {
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
            .map(to_chrono)
            .unwrap_or_default();
        let deadline = chrono::Duration::seconds(i64::from(progress_deadline_seconds(&self.d)));
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

    /// `DeploymentComplete` judged on the status as it was when the sync started.
    fn complete_before_sync(&self) -> bool {
        let status = self.d.status.clone().unwrap_or_default();
        deployment_complete(&self.d, &status)
    }

    /// `scaleReplicaSetAndRecordEvent`: resize if the size differs.
    fn scale_and_record(&mut self, i: usize, new_size: i32) -> bool {
        let size = rs_replicas(&self.rss[i]);
        if size == new_size {
            return false;
        }
        let operation = if size < new_size { "up" } else { "down" };
        self.scale_rs(i, new_size, operation)
    }

    /// `scaleReplicaSet`: write size and desired/max annotations when either is stale; an event
    /// when the size changed.
    fn scale_rs(&mut self, i: usize, new_size: i32, operation: &str) -> bool {
        let replicas = spec_replicas(&self.d);
        let max = replicas + max_surge(&self.d);
        let rs = &mut self.rss[i];
        let old_size = rs_replicas(rs);
        let size_needs_update = old_size != new_size;
        let annotations_need_update = replicas_annotations_need_update(rs, replicas, max);
        if !size_needs_update && !annotations_need_update {
            return false;
        }
        rs.spec.get_or_insert_with(Default::default).replicas = Some(new_size);
        set_replicas_annotations(rs, replicas, max);
        let name = rs_name(rs).to_string();
        self.push_rs_update(i);
        if size_needs_update {
            self.event(
                EVENT_NORMAL,
                EVENT_SCALING_REPLICA_SET,
                format!("Scaled {operation} replica set {name} from {old_size} to {new_size}"),
            );
        }
        size_needs_update
    }

    fn push_rs_update(&mut self, i: usize) {
        let rs = &self.rss[i];
        self.actions.push(Action::UpdateReplicaSet {
            name: rs_name(rs).to_string(),
            replicas: Some(rs_replicas(rs)),
            annotations: rs.metadata.annotations.clone().unwrap_or_default(),
            template: None,
            min_ready_seconds: Some(rs_min_ready(rs)),
        });
    }

    fn set_deployment_revision(&mut self, revision: &str) {
        let annotations = self
            .d
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        if annotations.get(REVISION_ANNOTATION).map(String::as_str) != Some(revision) {
            annotations.insert(REVISION_ANNOTATION.into(), revision.into());
        }
    }

    /// `MaxRevision`: the highest parseable revision among `of` (0 if none).
    fn max_revision(&self, of: &[usize]) -> i64 {
        of.iter()
            .filter_map(|i| revision(&self.rss[*i]).ok())
            .max()
            .unwrap_or(0)
            .max(0)
    }

    fn active(&self, of: &[usize]) -> Vec<usize> {
        of.iter()
            .copied()
            .filter(|i| rs_replicas(&self.rss[*i]) > 0)
            .collect()
    }

    fn event(&mut self, type_: &'static str, reason: &'static str, message: String) {
        self.actions.push(Action::Event {
            type_,
            reason,
            message,
        });
    }

    fn new_condition(
        &self,
        type_: &str,
        status: &str,
        reason: &str,
        message: &str,
    ) -> DeploymentCondition {
        DeploymentCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_update_time: Some(to_time(self.now)),
            last_transition_time: Some(to_time(self.now)),
        }
    }

    /// The writes: the collected actions, then the Deployment's annotations and status if
    /// they differ from what was observed.
    fn finish(mut self, observed: &Deployment) -> Vec<Action> {
        if let Some((status, annotations)) = self.resumed.take() {
            self.d.status = status;
            self.d.metadata.annotations = annotations;
        }
        if self.d.metadata.annotations != observed.metadata.annotations {
            self.actions.push(Action::UpdateDeployment {
                annotations: self.d.metadata.annotations.clone().unwrap_or_default(),
            });
        }
        let before = normalize_status(observed.status.clone().unwrap_or_default());
        let after = normalize_status(self.d.status.clone().unwrap_or_default());
        if before != after {
            self.actions.push(Action::UpdateStatus(after));
        }
        self.actions
    }
}

/// `NewRSNewReplicas`: RollingUpdate grows the new ReplicaSet up to `replicas + maxSurge` pods
/// in total and never beyond `replicas`; Recreate sizes it at `replicas` outright.
fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let replicas = spec_replicas(d);
    if !is_rolling(d) {
        return replicas;
    }
    let current: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let max_total = replicas + max_surge(d);
    let new_size = rs_replicas(new);
    if current >= max_total {
        return new_size;
    }
    new_size + (max_total - current).min(replicas - new_size)
}

/// `SetNewReplicaSetAnnotations`: copy the Deployment's annotations (except the skipped ones),
/// raise the revision to `new_revision` (recording the previous one in `revision-history` when
/// an old ReplicaSet is reused), and for a ReplicaSet about to be created, stamp desired/max
/// replicas. Returns whether anything changed.
fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: &str,
    exists: bool,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    let old_revision = annotations.get(REVISION_ANNOTATION).cloned();
    let old_revision_int = match old_revision.as_deref().map(str::parse::<i64>) {
        Some(Ok(v)) => v,
        Some(Err(_)) if old_revision.as_deref() != Some("") => return false,
        _ => 0,
    };
    let Ok(new_revision_int) = new_revision.parse::<i64>() else {
        return false;
    };
    if old_revision_int < new_revision_int {
        annotations.insert(REVISION_ANNOTATION.into(), new_revision.into());
        changed = true;
        if let Some(old) = old_revision {
            let history = annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            let revisions: Vec<&str> = history.split(',').collect();
            if revisions.first().is_none_or(|r| r.is_empty()) {
                annotations.insert(REVISION_HISTORY_ANNOTATION.into(), old);
            } else {
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_LENGTH_IN_CHARS && start < revisions.len() {
                    total -= revisions[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS {
                    let mut kept: Vec<&str> = revisions[start..].to_vec();
                    kept.push(&old);
                    annotations.insert(REVISION_HISTORY_ANNOTATION.into(), kept.join(","));
                }
            }
        }
    }
    if !exists {
        let replicas = spec_replicas(d);
        if set_replicas_annotations(rs, replicas, replicas + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

/// `copyDeploymentAnnotationsToReplicaSet`: add or overwrite, never remove.
fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if ANNOTATIONS_TO_SKIP.contains(&k.as_str()) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let changed = replicas_annotations_need_update(rs, desired, max);
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    annotations.insert(DESIRED_REPLICAS_ANNOTATION.into(), desired.to_string());
    annotations.insert(MAX_REPLICAS_ANNOTATION.into(), max.to_string());
    changed
}

/// `DeploymentComplete`: all replicas updated and available, none old, generation observed.
fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
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

fn get_condition<'s>(status: &'s DeploymentStatus, type_: &str) -> Option<&'s DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no-op when status and reason are unchanged; otherwise replace the
/// condition (moving it to the end), keeping lastTransitionTime if the status is unchanged.
fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
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
fn normalize_status(mut s: DeploymentStatus) -> DeploymentStatus {
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

/// `EqualIgnoreHash`: templates equal once the `pod-template-hash` label is dropped, treating
/// absent and empty lists/maps alike (as Kubernetes' semantic equality does).
fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    comparable(a) == comparable(b)
}

fn comparable(t: &PodTemplateSpec) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(labels) = v
        .get_mut("metadata")
        .and_then(|m| m.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    normalize_value(&mut v);
    v
}

/// Object keys holding string maps, where `{}` means the same as absent.
const MAP_KEYS: [&str; 6] = [
    "labels",
    "annotations",
    "nodeSelector",
    "limits",
    "requests",
    "overhead",
];

fn normalize_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                normalize_value(child);
            }
            map.retain(|k, child| match child {
                Value::Null => false,
                Value::Array(items) => !items.is_empty(),
                Value::Object(m) => !(m.is_empty() && MAP_KEYS.contains(&k.as_str())),
                _ => true,
            });
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_value),
        _ => {}
    }
}

/// Sorts with a caller-supplied "less", tolerating comparisons that are not a total order
/// (as Go's `sort.Sort` does); stable.
fn insertion_sort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// `ReplicaSetsByCreationTimestamp`: older first, then by name.
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    t(a).cmp(&t(b)).then_with(|| rs_name(a).cmp(rs_name(b)))
}

/// `ReplicaSetsByRevision`: lower revision first; unparseable or equal revisions by creation.
fn by_revision_less(a: &ReplicaSet, b: &ReplicaSet) -> bool {
    match (revision(a), revision(b)) {
        (Ok(ra), Ok(rb)) if ra != rb => ra < rb,
        _ => by_creation(a, b) == Ordering::Less,
    }
}

/// `Revision`: the revision annotation (0 when absent).
fn revision(rs: &ReplicaSet) -> Result<i64, std::num::ParseIntError> {
    match annotation(&rs.metadata, REVISION_ANNOTATION) {
        None => Ok(0),
        Some(v) => v.parse(),
    }
}

fn annotation<'m>(meta: &'m ObjectMeta, key: &str) -> Option<&'m str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(&rs.metadata, key).and_then(|v| v.parse().ok())
}

fn controller_uid(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

fn template(d: &Deployment) -> &PodTemplateSpec {
    static EMPTY: PodTemplateSpec = PodTemplateSpec {
        metadata: None,
        spec: None,
    };
    d.spec.as_ref().map(|s| &s.template).unwrap_or(&EMPTY)
}

fn rs_template(rs: &ReplicaSet) -> &PodTemplateSpec {
    static EMPTY: PodTemplateSpec = PodTemplateSpec {
        metadata: None,
        spec: None,
    };
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .unwrap_or(&EMPTY)
}

fn spec_replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn generation(d: &Deployment) -> i64 {
    d.metadata.generation.unwrap_or(0)
}

fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

fn is_rolling(d: &Deployment) -> bool {
    strategy_type(d) == "RollingUpdate"
}

fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// `progressDeadlineSeconds`; absent means no deadline (as does MaxInt32).
fn progress_deadline_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(i32::MAX)
}

fn has_progress_deadline(d: &Deployment) -> bool {
    progress_deadline_seconds(d) != i32::MAX
}

/// `revisionHistoryLimit`; absent means keep everything.
fn revision_history_limit(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.revision_history_limit)
}

/// A selector with no requirements would claim every pod of the namespace.
fn selector_is_empty(d: &Deployment) -> bool {
    let Some(spec) = d.spec.as_ref() else {
        return true;
    };
    spec.selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && spec
            .selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

fn rs_name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or("")
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_min_ready(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn rs_status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

fn non_zero64(n: i64) -> Option<i64> {
    (n != 0).then_some(n)
}

fn to_time(t: DateTime<Utc>) -> Time {
    Time(Timestamp::from_millisecond(t.timestamp_millis()).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn to_chrono(t: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.0.as_millisecond()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::replicaset;
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetStatus, RollingUpdateDeployment,
    };
    use k8s_openapi::api::core::v1::{Container, PodCondition, PodSpec, PodStatus};

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    fn template_with(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("dep-uid".into()),
                generation: Some(1),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(labels(&[("app", "web")])),
                    ..Default::default()
                },
                template: template_with("nginx:1"),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavailable),
                    }),
                }),
                revision_history_limit: Some(10),
                progress_deadline_seconds: Some(600),
                min_ready_seconds: Some(0),
                paused: Some(false),
            }),
            status: None,
        }
    }

    fn spec_mut(d: &mut Deployment) -> &mut DeploymentSpec {
        d.spec.get_or_insert_with(Default::default)
    }

    fn bump(d: &mut Deployment) {
        d.metadata.generation = Some(generation(d) + 1);
    }

    fn set_image(d: &mut Deployment, image: &str) {
        spec_mut(d).template = template_with(image);
        bump(d);
    }

    fn set_replicas(d: &mut Deployment, n: i32) {
        spec_mut(d).replicas = Some(n);
        bump(d);
    }

    fn set_paused(d: &mut Deployment, paused: bool) {
        spec_mut(d).paused = Some(paused);
        bump(d);
    }

    fn image_of(t: Option<&PodTemplateSpec>) -> String {
        t.and_then(|t| t.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default()
    }

    fn progressing(d: &Deployment) -> Option<DeploymentCondition> {
        d.status
            .as_ref()
            .and_then(|s| get_condition(s, CONDITION_PROGRESSING))
            .cloned()
    }

    fn available_cond(d: &Deployment) -> Option<DeploymentCondition> {
        d.status
            .as_ref()
            .and_then(|s| get_condition(s, CONDITION_AVAILABLE))
            .cloned()
    }

    fn final_status(actions: &[Action]) -> Option<DeploymentStatus> {
        actions.iter().rev().find_map(|a| match a {
            Action::UpdateStatus(s) => Some(s.clone()),
            _ => None,
        })
    }

    fn events(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Event { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// A tiny cluster: the Deployment, its ReplicaSets and their pods, driven by [`sync`] and
    /// the ReplicaSet controller. Pods turn ready one second after creation unless their image
    /// is listed in `never_ready`; deleted pods linger `grace` seconds as terminating.
    struct World {
        d: Deployment,
        rss: Vec<ReplicaSet>,
        pods: Vec<Pod>,
        now: DateTime<Utc>,
        seq: u64,
        never_ready: Vec<String>,
        grace: i64,
        events: Vec<String>,
    }

    impl World {
        fn new(d: Deployment) -> Self {
            World {
                d,
                rss: Vec::new(),
                pods: Vec::new(),
                now: t0(),
                seq: 0,
                never_ready: Vec::new(),
                grace: 0,
                events: Vec::new(),
            }
        }

        fn observed(&self) -> Observed<'_> {
            Observed {
                deployment: &self.d,
                replica_sets: &self.rss,
                old_pods_running: count_old_pods_running(&self.d, &self.rss, &self.pods),
            }
        }

        fn apply(&mut self, action: &Action) {
            match action {
                Action::CreateReplicaSet(rs) => {
                    let mut rs = (**rs).clone();
                    rs.metadata.uid = Some(format!("uid-{}", rs_name(&rs)));
                    rs.metadata.creation_timestamp = Some(to_time(self.now));
                    rs.metadata.generation = Some(1);
                    assert!(
                        self.rss.iter().all(|o| rs_name(o) != rs_name(&rs)),
                        "AlreadyExists"
                    );
                    self.rss.push(rs);
                }
                Action::UpdateReplicaSet {
                    name,
                    replicas,
                    annotations,
                    template,
                    min_ready_seconds,
                } => {
                    assert!(template.is_none(), "templates are never rewritten");
                    let rs = self
                        .rss
                        .iter_mut()
                        .find(|rs| rs_name(rs) == name)
                        .expect("update of a missing ReplicaSet");
                    let replicas = replicas.unwrap_or(rs_replicas(rs));
                    let min_ready = min_ready_seconds.unwrap_or(rs_min_ready(rs));
                    if rs_replicas(rs) != replicas || rs_min_ready(rs) != min_ready {
                        rs.metadata.generation = Some(rs.metadata.generation.unwrap_or(0) + 1);
                    }
                    let spec = rs.spec.get_or_insert_with(Default::default);
                    spec.replicas = Some(replicas);
                    spec.min_ready_seconds = Some(min_ready);
                    rs.metadata.annotations = Some(annotations.clone());
                }
                Action::DeleteReplicaSet { name } => {
                    let uid = self
                        .rss
                        .iter()
                        .find(|rs| rs_name(rs) == name)
                        .and_then(|rs| rs.metadata.uid.clone());
                    self.rss.retain(|rs| rs_name(rs) != name);
                    self.pods
                        .retain(|p| controller_uid(&p.metadata) != uid.as_deref());
                }
                Action::UpdateDeployment { annotations } => {
                    self.d.metadata.annotations = Some(annotations.clone());
                }
                Action::UpdateStatus(s) => self.d.status = Some(s.clone()),
                Action::Event { message, .. } => self.events.push(message.clone()),
            }
        }

        fn sync_deployment(&mut self) -> Vec<Action> {
            let actions = sync(&self.observed(), self.now);
            for a in &actions {
                self.apply(a);
            }
            actions
        }

        fn sync_replica_sets(&mut self) {
            for i in 0..self.rss.len() {
                let uid = self.rss[i].metadata.uid.clone();
                let owned: Vec<Pod> = self
                    .pods
                    .iter()
                    .filter(|p| controller_uid(&p.metadata) == uid.as_deref())
                    .cloned()
                    .collect();
                let observed = replicaset::Observed {
                    replica_set: &self.rss[i],
                    pods: &owned,
                };
                let (actions, _) = replicaset::sync(&observed, self.now);
                for a in actions {
                    match a {
                        replicaset::PodAction::Create(pod) => {
                            let mut pod = *pod;
                            self.seq += 1;
                            let prefix = pod.metadata.generate_name.clone().unwrap_or_default();
                            pod.metadata.name = Some(format!("{prefix}{:05}", self.seq));
                            pod.metadata.uid = Some(format!("pod-{:05}", self.seq));
                            pod.metadata.creation_timestamp = Some(to_time(self.now));
                            if let Some(spec) = pod.spec.as_mut() {
                                spec.node_name = Some("node-1".into());
                            }
                            pod.status = Some(PodStatus {
                                phase: Some("Pending".into()),
                                ..Default::default()
                            });
                            self.pods.push(pod);
                        }
                        replicaset::PodAction::Delete { name } => {
                            let now = to_time(self.now);
                            if self.grace == 0 {
                                self.pods
                                    .retain(|p| p.metadata.name.as_ref() != Some(&name));
                            } else if let Some(p) = self
                                .pods
                                .iter_mut()
                                .find(|p| p.metadata.name.as_ref() == Some(&name))
                            {
                                p.metadata.deletion_timestamp = Some(now);
                            }
                        }
                    }
                }
                let owned: Vec<Pod> = self
                    .pods
                    .iter()
                    .filter(|p| controller_uid(&p.metadata) == uid.as_deref())
                    .cloned()
                    .collect();
                let observed = replicaset::Observed {
                    replica_set: &self.rss[i],
                    pods: &owned,
                };
                let (_, status) = replicaset::sync(&observed, self.now);
                self.rss[i].status = Some(status);
            }
        }

        /// Time passes: terminating pods go away after their grace period, started pods turn
        /// ready.
        fn advance(&mut self) {
            self.now += secs(1);
            let now = self.now;
            let grace = self.grace;
            self.pods.retain(|p| {
                p.metadata
                    .deletion_timestamp
                    .as_ref()
                    .is_none_or(|t| to_chrono(t) + secs(grace) > now)
            });
            for p in &mut self.pods {
                let image = image_of(Some(&PodTemplateSpec {
                    metadata: None,
                    spec: p.spec.clone(),
                }));
                let created = p
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(to_chrono)
                    .unwrap_or_default();
                let started = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                if !started && created + secs(1) <= now && !self.never_ready.contains(&image) {
                    p.status = Some(PodStatus {
                        phase: Some("Running".into()),
                        conditions: Some(vec![PodCondition {
                            type_: "Ready".into(),
                            status: "True".into(),
                            last_transition_time: Some(to_time(now)),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    });
                }
            }
        }

        fn tick(&mut self) -> Vec<Action> {
            self.advance();
            self.sync_replica_sets();
            let actions = self.sync_deployment();
            self.sync_replica_sets();
            actions
        }

        /// Like [`World::tick`], asserting the rolling-update bounds after every step.
        fn tick_checked(&mut self, max_pods: i32, min_available: i32) {
            self.advance();
            self.sync_replica_sets();
            self.check(max_pods, min_available);
            self.sync_deployment();
            self.check(max_pods, min_available);
            self.sync_replica_sets();
            self.check(max_pods, min_available);
        }

        fn check(&self, max_pods: i32, min_available: i32) {
            let specs: i32 = self.rss.iter().map(rs_replicas).sum();
            let pods = self
                .pods
                .iter()
                .filter(|p| replicaset::pod_is_active(p))
                .count() as i32;
            let available = self
                .pods
                .iter()
                .filter(|p| replicaset::pod_is_active(p) && replicaset::pod_is_ready(p))
                .count() as i32;
            assert!(specs <= max_pods, "{specs} replicas exceed {max_pods}");
            assert!(pods <= max_pods, "{pods} pods exceed {max_pods}");
            assert!(
                available >= min_available,
                "{available} available, below {min_available}"
            );
        }

        fn settle(&mut self, max_ticks: usize) {
            for _ in 0..max_ticks {
                if self.tick().is_empty() {
                    return;
                }
            }
            panic!("did not settle in {max_ticks} ticks");
        }

        fn new_rs(&self) -> Option<&ReplicaSet> {
            find_new_replica_set(&self.d, &self.rss)
        }

        /// (replicas of old ReplicaSets, replicas of the new one).
        fn old_new(&self) -> (i32, i32) {
            let new = self.new_rs();
            let new_name = new.map(rs_name);
            let old = self
                .rss
                .iter()
                .filter(|rs| Some(rs_name(rs)) != new_name)
                .map(rs_replicas)
                .sum();
            (old, new.map(rs_replicas).unwrap_or(0))
        }

        fn rs_by_image(&self, image: &str) -> Option<&ReplicaSet> {
            self.rss
                .iter()
                .find(|rs| image_of(rs.spec.as_ref().and_then(|s| s.template.as_ref())) == image)
        }
    }

    fn rolling_rollout(surge: IntOrString, unavailable: IntOrString, bounds: (i32, i32)) {
        let d = deployment(10, surge, unavailable);
        assert_eq!(resolve_fenceposts(&d), bounds);
        let (max_surge, max_unavailable) = bounds;
        let mut w = World::new(d);
        w.settle(30);
        assert_eq!(w.old_new(), (0, 10));
        set_image(&mut w.d, "nginx:2");
        let mut steps = vec![w.old_new()];
        for _ in 0..200 {
            w.tick_checked(10 + max_surge, 10 - max_unavailable);
            if steps.last() != Some(&w.old_new()) {
                steps.push(w.old_new());
            }
            let done = progressing(&w.d)
                .is_some_and(|c| c.reason.as_deref() == Some(REASON_NEW_RS_AVAILABLE));
            if w.old_new() == (0, 10) && done {
                break;
            }
        }
        assert_eq!(w.old_new(), (0, 10), "steps: {steps:?}");
        let new_name = w.new_rs().map(rs_name).unwrap_or("").to_string();
        assert_eq!(
            image_of(
                w.new_rs()
                    .and_then(|rs| rs.spec.as_ref())
                    .and_then(|s| s.template.as_ref())
            ),
            "nginx:2"
        );
        let cond = progressing(&w.d);
        assert_eq!(
            cond.as_ref().and_then(|c| c.reason.as_deref()),
            Some(REASON_NEW_RS_AVAILABLE)
        );
        assert_eq!(
            cond.and_then(|c| c.message),
            Some(format!(
                "ReplicaSet \"{new_name}\" has successfully progressed."
            ))
        );
        assert_eq!(
            available_cond(&w.d).and_then(|c| c.reason),
            Some(REASON_MIN_AVAILABLE.to_string())
        );
        let status = w.d.status.clone().unwrap_or_default();
        assert_eq!(status.updated_replicas, Some(10));
        assert_eq!(status.available_replicas, Some(10));
        assert_eq!(status.observed_generation, Some(2));
        assert_eq!(
            w.d.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION_ANNOTATION))
                .map(String::as_str),
            Some("2")
        );
        // Every intermediate state moved toward the goal one bounded step at a time.
        assert!(steps.len() > 2, "steps: {steps:?}");
        // At rest, a sync changes nothing.
        w.tick();
        assert!(w.tick().is_empty());
    }

    #[test]
    fn rolling_update_25_25() {
        rolling_rollout(pct("25%"), pct("25%"), (3, 2));
    }

    #[test]
    fn rolling_update_surge_1_unavailable_0() {
        rolling_rollout(IntOrString::Int(1), IntOrString::Int(0), (1, 0));
    }

    #[test]
    fn rolling_update_surge_0_unavailable_1() {
        rolling_rollout(IntOrString::Int(0), IntOrString::Int(1), (0, 1));
    }

    #[test]
    fn rolling_update_surge_3_unavailable_2() {
        rolling_rollout(IntOrString::Int(3), IntOrString::Int(2), (3, 2));
    }

    #[test]
    fn fenceposts_round_and_fall_back() {
        assert_eq!(
            resolve_fenceposts(&deployment(10, pct("25%"), pct("25%"))),
            (3, 2)
        );
        assert_eq!(
            resolve_fenceposts(&deployment(1, pct("25%"), pct("25%"))),
            (1, 0)
        );
        assert_eq!(
            resolve_fenceposts(&deployment(10, pct("0%"), pct("5%"))),
            (0, 1)
        );
        let d = deployment(5, IntOrString::Int(0), IntOrString::Int(20));
        assert_eq!(max_unavailable(&d), 5);
        let mut recreate = deployment(5, pct("25%"), pct("25%"));
        spec_mut(&mut recreate).strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
        assert_eq!(max_unavailable(&deployment(0, pct("25%"), pct("25%"))), 0);
    }

    #[test]
    fn first_sync_creates_the_replica_set() {
        let mut d = deployment(10, pct("25%"), pct("25%"));
        d.metadata.annotations = Some(labels(&[
            ("team", "blue"),
            (LAST_APPLIED_CONFIG_ANNOTATION, "{}"),
            (REVISION_ANNOTATION, "7"),
        ]));
        let actions = sync(
            &Observed {
                deployment: &d,
                replica_sets: &[],
                old_pods_running: 0,
            },
            t0(),
        );
        let Some(Action::CreateReplicaSet(rs)) = actions.first() else {
            panic!("expected a create first: {actions:?}");
        };
        let hash = compute_hash(template(&d), None);
        assert_eq!(rs_name(rs), format!("web-{hash}"));
        assert_eq!(rs.metadata.namespace.as_deref(), Some("default"));
        let with_hash = labels(&[("app", "web"), ("pod-template-hash", &hash)]);
        assert_eq!(rs.metadata.labels.as_ref(), Some(&with_hash));
        let spec = rs.spec.clone().unwrap_or_default();
        assert_eq!(spec.selector.match_labels.as_ref(), Some(&with_hash));
        assert_eq!(
            spec.template
                .as_ref()
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref()),
            Some(&with_hash)
        );
        assert_eq!(spec.replicas, Some(10));
        assert_eq!(
            rs.metadata.owner_references,
            Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                uid: "dep-uid".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }])
        );
        assert_eq!(
            rs.metadata.annotations,
            Some(labels(&[
                ("team", "blue"),
                (REVISION_ANNOTATION, "1"),
                (DESIRED_REPLICAS_ANNOTATION, "10"),
                (MAX_REPLICAS_ANNOTATION, "13"),
            ]))
        );
        assert_eq!(
            events(&actions),
            vec![format!("Scaled up replica set web-{hash} from 0 to 10")]
        );
        assert!(actions.contains(&Action::UpdateDeployment {
            annotations: labels(&[
                ("team", "blue"),
                (LAST_APPLIED_CONFIG_ANNOTATION, "{}"),
                (REVISION_ANNOTATION, "1"),
            ])
        }));
        let status = final_status(&actions).unwrap_or_default();
        let prog = get_condition(&status, CONDITION_PROGRESSING)
            .cloned()
            .unwrap_or_default();
        assert_eq!(prog.status, "True");
        assert_eq!(prog.reason.as_deref(), Some(REASON_NEW_RS_CREATED));
        assert_eq!(
            prog.message,
            Some(format!("Created new replica set \"web-{hash}\""))
        );
        assert_eq!(prog.last_update_time, Some(to_time(t0())));
        let avail = get_condition(&status, CONDITION_AVAILABLE)
            .cloned()
            .unwrap_or_default();
        assert_eq!(avail.status, "False");
        assert_eq!(avail.reason.as_deref(), Some(REASON_MIN_UNAVAILABLE));
        assert_eq!(
            avail.message.as_deref(),
            Some("Deployment does not have minimum availability.")
        );
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(status.replicas, None);
        // Kubernetes orders these conditions Progressing, Available on a fresh Deployment.
        let types: Vec<String> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| c.type_.clone())
            .collect();
        assert_eq!(types, vec![CONDITION_PROGRESSING, CONDITION_AVAILABLE]);
    }

    /// A ReplicaSet of `d` running `image`, created `age` seconds before t0.
    fn owned_rs(
        d: &Deployment,
        name: &str,
        image: &str,
        age: i64,
        replicas: i32,
        available: i32,
        revision: &str,
    ) -> ReplicaSet {
        let mut tmpl = template_with(image);
        if let Some(m) = tmpl.metadata.as_mut() {
            m.labels
                .get_or_insert_with(Default::default)
                .insert(POD_TEMPLATE_HASH_LABEL.into(), name.into());
        }
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("web-{name}")),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                generation: Some(1),
                creation_timestamp: Some(to_time(t0() - secs(age))),
                annotations: Some(labels(&[
                    (REVISION_ANNOTATION, revision),
                    (DESIRED_REPLICAS_ANNOTATION, &spec_replicas(d).to_string()),
                    (
                        MAX_REPLICAS_ANNOTATION,
                        &(spec_replicas(d) + max_surge(d)).to_string(),
                    ),
                ])),
                owner_references: Some(vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: "web".into(),
                    uid: "dep-uid".into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(0),
                selector: LabelSelector::default(),
                template: Some(tmpl),
            }),
            status: Some(ReplicaSetStatus {
                replicas,
                ready_replicas: Some(available),
                available_replicas: Some(available),
                observed_generation: Some(1),
                ..Default::default()
            }),
        }
    }

    fn observe<'a>(d: &'a Deployment, rss: &'a [ReplicaSet]) -> Observed<'a> {
        Observed {
            deployment: d,
            replica_sets: rss,
            old_pods_running: 0,
        }
    }

    #[test]
    fn oldest_matching_replica_set_is_the_new_one() {
        let d = deployment(3, pct("25%"), pct("25%"));
        let rss = vec![
            owned_rs(&d, "young", "nginx:1", 10, 0, 0, "2"),
            owned_rs(&d, "other", "nginx:0", 50, 0, 0, "1"),
            owned_rs(&d, "old", "nginx:1", 100, 3, 3, "3"),
        ];
        assert_eq!(find_new_replica_set(&d, &rss).map(rs_name), Some("web-old"));
        // The hash label alone never makes templates differ.
        let mut relabeled = rss[2].clone();
        if let Some(l) = relabeled
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.metadata.as_mut())
            .and_then(|m| m.labels.as_mut())
        {
            l.insert(POD_TEMPLATE_HASH_LABEL.into(), "zzz".into());
        }
        assert!(equal_ignore_hash(rs_template(&relabeled), template(&d)));
    }

    #[test]
    fn deleted_deployment_only_updates_status() {
        let mut d = deployment(3, pct("25%"), pct("25%"));
        d.metadata.deletion_timestamp = Some(to_time(t0()));
        d.metadata.annotations = Some(labels(&[(REVISION_ANNOTATION, "1")]));
        let rss = vec![owned_rs(&d, "a", "nginx:1", 100, 1, 1, "1")];
        let actions = sync(&observe(&d, &rss), t0());
        assert_eq!(actions.len(), 1, "{actions:?}");
        let status = final_status(&actions).unwrap_or_default();
        assert_eq!(status.replicas, Some(1));
        assert_eq!(status.unavailable_replicas, None);
        // Status-only syncs never judge progress; finding the new ReplicaSet is still noted.
        let cond = get_condition(&status, CONDITION_PROGRESSING)
            .cloned()
            .unwrap_or_default();
        assert_eq!(cond.reason.as_deref(), Some(REASON_FOUND_NEW_RS));
        assert_eq!(
            cond.message.as_deref(),
            Some("Found new replica set \"web-a\"")
        );
    }

    #[test]
    fn empty_selector_selects_nothing_and_warns() {
        let mut d = deployment(3, pct("25%"), pct("25%"));
        spec_mut(&mut d).selector = LabelSelector::default();
        let actions = sync(&observe(&d, &[]), t0());
        assert!(matches!(
            actions.first(),
            Some(Action::Event {
                type_: EVENT_WARNING,
                reason: EVENT_SELECTING_ALL,
                ..
            })
        ));
        assert_eq!(
            final_status(&actions).and_then(|s| s.observed_generation),
            Some(1)
        );
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet(_)))
        );
    }

    #[test]
    fn timed_out_rollout_reports_progress_deadline_exceeded() {
        let mut d = deployment(4, IntOrString::Int(1), IntOrString::Int(0));
        let rss = vec![
            owned_rs(&d, "old", "nginx:0", 1000, 4, 4, "1"),
            owned_rs(&d, "new", "nginx:1", 700, 1, 0, "2"),
        ];
        d.metadata.annotations = Some(labels(&[(REVISION_ANNOTATION, "2")]));
        let started = to_time(t0() - secs(700));
        d.status = Some(DeploymentStatus {
            observed_generation: Some(1),
            replicas: Some(5),
            updated_replicas: Some(1),
            available_replicas: Some(4),
            ready_replicas: Some(4),
            unavailable_replicas: Some(1),
            conditions: Some(vec![
                DeploymentCondition {
                    type_: CONDITION_AVAILABLE.into(),
                    status: "True".into(),
                    reason: Some(REASON_MIN_AVAILABLE.into()),
                    message: Some("Deployment has minimum availability.".into()),
                    last_update_time: Some(started.clone()),
                    last_transition_time: Some(started.clone()),
                },
                DeploymentCondition {
                    type_: CONDITION_PROGRESSING.into(),
                    status: "True".into(),
                    reason: Some(REASON_REPLICA_SET_UPDATED.into()),
                    message: Some("ReplicaSet \"web-new\" is progressing.".into()),
                    last_update_time: Some(started.clone()),
                    last_transition_time: Some(started),
                },
            ]),
            ..Default::default()
        });
        // Still within the deadline: nothing to write, look again when it passes.
        let early = t0() - secs(200);
        assert!(sync(&observe(&d, &rss), early).is_empty());
        assert_eq!(
            requeue_after(&observe(&d, &rss), early),
            Some(Duration::from_secs(101))
        );
        let actions = sync(&observe(&d, &rss), t0());
        let status = final_status(&actions).unwrap_or_default();
        let cond = get_condition(&status, CONDITION_PROGRESSING)
            .cloned()
            .unwrap_or_default();
        assert_eq!(cond.status, "False");
        assert_eq!(cond.reason.as_deref(), Some(REASON_TIMED_OUT));
        assert_eq!(
            cond.message.as_deref(),
            Some("ReplicaSet \"web-new\" has timed out progressing.")
        );
        assert_eq!(cond.last_transition_time, Some(to_time(t0())));
        // The Available condition did not change, so it keeps its times and place.
        assert_eq!(
            status
                .conditions
                .as_ref()
                .map(|c| c[0].last_update_time.clone()),
            Some(Some(to_time(t0() - secs(700))))
        );
        // Once timed out, there is nothing more to wait for.
        let mut after = d.clone();
        after.status = Some(status);
        assert_eq!(requeue_after(&observe(&after, &rss), t0()), None);
        assert!(sync(&observe(&after, &rss), t0() + secs(30)).is_empty());
    }

    #[test]
    fn progress_moves_only_last_update_time() {
        let mut w = World::new(deployment(4, IntOrString::Int(1), IntOrString::Int(0)));
        w.settle(20);
        set_image(&mut w.d, "nginx:2");
        w.tick();
        let first = progressing(&w.d).unwrap_or_default();
        w.tick();
        w.tick();
        let later = progressing(&w.d).unwrap_or_default();
        assert_eq!(later.reason.as_deref(), Some(REASON_REPLICA_SET_UPDATED));
        assert_eq!(later.status, "True");
        assert!(later.last_update_time > first.last_update_time);
        assert_eq!(later.last_transition_time, first.last_transition_time);
    }

    #[test]
    fn no_progress_deadline_means_no_progressing_condition() {
        let mut d = deployment(2, pct("25%"), pct("25%"));
        spec_mut(&mut d).progress_deadline_seconds = Some(i32::MAX);
        let mut w = World::new(d);
        w.settle(20);
        assert!(progressing(&w.d).is_none());
        assert_eq!(
            available_cond(&w.d).map(|c| c.status),
            Some("True".to_string())
        );
        assert_eq!(requeue_after(&w.observed(), w.now), None);
    }

    #[test]
    fn hash_collision_bumps_collision_count() {
        let d = deployment(2, pct("25%"), pct("25%"));
        let hash = compute_hash(template(&d), None);
        // An old ReplicaSet already carries the name the new template hashes to.
        let mut squatter = owned_rs(&d, &hash, "nginx:0", 100, 2, 2, "1");
        squatter.metadata.name = Some(format!("web-{hash}"));
        let rss = vec![squatter];
        let actions = sync(&observe(&d, &rss), t0());
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet(_)))
        );
        let status = final_status(&actions).unwrap_or_default();
        assert_eq!(status.collision_count, Some(1));
        let mut bumped = d.clone();
        bumped.status = Some(status);
        let actions = sync(&observe(&bumped, &rss), t0());
        let Some(Action::CreateReplicaSet(rs)) = actions.first() else {
            panic!("expected a create: {actions:?}");
        };
        assert_eq!(
            rs_name(rs),
            format!("web-{}", compute_hash(template(&d), Some(1)))
        );
        assert_ne!(rs_name(rs), format!("web-{hash}"));
    }

    #[test]
    fn recreate_waits_for_old_pods_to_stop() {
        let mut d = deployment(3, pct("25%"), pct("25%"));
        spec_mut(&mut d).strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        let mut w = World::new(d);
        w.grace = 3;
        w.settle(20);
        assert_eq!(w.old_new(), (0, 3));
        let v1 = w
            .rs_by_image("nginx:1")
            .map(rs_name)
            .unwrap_or("")
            .to_string();
        set_image(&mut w.d, "nginx:2");
        let actions = w.tick();
        assert_eq!(
            events(&actions),
            vec![format!("Scaled down replica set {v1} from 3 to 0")]
        );
        assert!(w.rs_by_image("nginx:2").is_none());
        let mut waited = 0;
        loop {
            let terminating = w
                .pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_some())
                .count();
            let actions = w.tick();
            if let Some(Action::CreateReplicaSet(rs)) = actions
                .iter()
                .find(|a| matches!(a, Action::CreateReplicaSet(_)))
            {
                // Created only once every old pod was gone, at full size.
                assert!(w.pods.iter().all(|p| controller_uid(&p.metadata)
                    == rs.metadata.uid.as_deref()
                    || controller_uid(&p.metadata)
                        == Some(format!("uid-{}", rs_name(rs)).as_str())));
                assert_eq!(rs.spec.as_ref().and_then(|s| s.replicas), Some(3));
                assert_eq!(
                    events(&actions),
                    vec![format!("Scaled up replica set {} from 0 to 3", rs_name(rs))]
                );
                break;
            }
            assert!(
                terminating > 0 || waited == 0,
                "waited without terminating pods"
            );
            waited += 1;
            assert!(waited < 10, "never created the new ReplicaSet");
        }
        assert!(waited >= 2, "did not wait for terminating pods ({waited})");
        w.settle(20);
        assert_eq!(w.old_new(), (0, 3));
        assert_eq!(
            progressing(&w.d).and_then(|c| c.reason),
            Some(REASON_NEW_RS_AVAILABLE.to_string())
        );
    }

    #[test]
    fn recreate_does_not_start_while_old_pods_run() {
        let mut d = deployment(2, pct("25%"), pct("25%"));
        spec_mut(&mut d).strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        let rss = vec![owned_rs(&d, "old", "nginx:0", 100, 0, 0, "1")];
        let running = Observed {
            deployment: &d,
            replica_sets: &rss,
            old_pods_running: 1,
        };
        assert!(
            !sync(&running, t0())
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet(_)))
        );
        let stopped = Observed {
            old_pods_running: 0,
            ..running
        };
        assert!(
            sync(&stopped, t0())
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet(_)))
        );
    }

    #[test]
    fn pause_scales_but_does_not_roll_out_and_resume_continues() {
        let mut w = World::new(deployment(3, pct("25%"), pct("25%")));
        w.settle(20);
        set_paused(&mut w.d, true);
        w.tick();
        let cond = progressing(&w.d).unwrap_or_default();
        assert_eq!(cond.status, "Unknown");
        assert_eq!(cond.reason.as_deref(), Some(REASON_PAUSED));
        assert_eq!(cond.message.as_deref(), Some("Deployment is paused"));
        assert_eq!(requeue_after(&w.observed(), w.now), None);
        set_image(&mut w.d, "nginx:2");
        for _ in 0..5 {
            w.tick();
        }
        assert!(w.rs_by_image("nginx:2").is_none());
        set_replicas(&mut w.d, 5);
        let actions = w.tick();
        let v1 = w
            .rs_by_image("nginx:1")
            .map(rs_name)
            .unwrap_or("")
            .to_string();
        assert_eq!(
            events(&actions),
            vec![format!("Scaled up replica set {v1} from 3 to 5")]
        );
        assert_eq!(
            progressing(&w.d).and_then(|c| c.reason),
            Some(REASON_PAUSED.to_string())
        );
        // Resuming records DeploymentResumed and creates the new ReplicaSet; the rest of the
        // status waits for the next sync.
        set_paused(&mut w.d, false);
        let actions = w.tick();
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet(_)))
        );
        assert_eq!(
            progressing(&w.d).map(|c| (c.status, c.reason)),
            Some(("Unknown".into(), Some(REASON_RESUMED.to_string())))
        );
        let actions = sync(&w.observed(), w.now);
        let status = final_status(&actions).unwrap_or_default();
        let cond = get_condition(&status, CONDITION_PROGRESSING)
            .cloned()
            .unwrap_or_default();
        // Never "NewReplicaSetCreated" after a resume, as in Kubernetes; Unknown → True is a
        // transition.
        assert_eq!(cond.reason.as_deref(), Some(REASON_REPLICA_SET_UPDATED));
        assert_eq!(cond.last_transition_time, Some(to_time(w.now)));
        w.settle(40);
        assert_eq!(w.old_new(), (0, 5));
        assert_eq!(
            w.new_rs().map(|rs| image_of(rs_template(rs).into())),
            Some("nginx:2".into())
        );
    }

    #[test]
    fn resume_without_changes_marks_resumed_then_complete() {
        let mut d = deployment(2, pct("25%"), pct("25%"));
        spec_mut(&mut d).paused = Some(true);
        let rss = vec![owned_rs(&d, "a", "nginx:1", 100, 2, 2, "1")];
        let paused = sync(&observe(&d, &rss), t0());
        let mut d2 = d.clone();
        for a in &paused {
            match a {
                Action::UpdateStatus(s) => d2.status = Some(s.clone()),
                Action::UpdateDeployment { annotations } => {
                    d2.metadata.annotations = Some(annotations.clone())
                }
                other => panic!("paused sync wrote {other:?}"),
            }
        }
        spec_mut(&mut d2).paused = Some(false);
        let resumed = sync(&observe(&d2, &rss), t0() + secs(5));
        let status = final_status(&resumed).unwrap_or_default();
        let cond = get_condition(&status, CONDITION_PROGRESSING)
            .cloned()
            .unwrap_or_default();
        assert_eq!(cond.reason.as_deref(), Some(REASON_RESUMED));
        d2.status = Some(status);
        // Without a new rollout the resumed Deployment is judged complete at the next sync.
        let actions = sync(&observe(&d2, &rss), t0() + secs(5));
        let status = final_status(&actions).unwrap_or_default();
        let cond = get_condition(&status, CONDITION_PROGRESSING)
            .cloned()
            .unwrap_or_default();
        assert_eq!(cond.reason.as_deref(), Some(REASON_NEW_RS_AVAILABLE));
        assert_eq!(cond.status, "True");
    }

    #[test]
    fn rollback_reuses_the_old_replica_set() {
        let mut w = World::new(deployment(4, pct("25%"), pct("25%")));
        w.settle(20);
        set_image(&mut w.d, "nginx:2");
        w.settle(40);
        let v1 = w
            .rs_by_image("nginx:1")
            .map(rs_name)
            .unwrap_or("")
            .to_string();
        assert_eq!(w.rss.len(), 2);
        // `kubectl rollout undo`: the template goes back to nginx:1.
        set_image(&mut w.d, "nginx:1");
        w.settle(40);
        assert_eq!(w.rss.len(), 2, "no third ReplicaSet");
        assert_eq!(w.new_rs().map(rs_name), Some(v1.as_str()));
        assert_eq!(w.old_new(), (0, 4));
        let ann = w
            .new_rs()
            .and_then(|rs| rs.metadata.annotations.clone())
            .unwrap_or_default();
        assert_eq!(ann.get(REVISION_ANNOTATION).map(String::as_str), Some("3"));
        assert_eq!(
            ann.get(REVISION_HISTORY_ANNOTATION).map(String::as_str),
            Some("1")
        );
        assert_eq!(
            w.d.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION_ANNOTATION))
                .map(String::as_str),
            Some("3")
        );
        assert_eq!(
            progressing(&w.d).and_then(|c| c.reason),
            Some(REASON_NEW_RS_AVAILABLE.to_string())
        );
    }

    #[test]
    fn revision_history_is_capped() {
        let d = deployment(1, pct("25%"), pct("25%"));
        let mut rs = owned_rs(&d, "a", "nginx:1", 10, 0, 0, "1998");
        let long: Vec<String> = (1..=700).map(|i| i.to_string()).collect();
        let history = long.join(",");
        if let Some(a) = rs.metadata.annotations.as_mut() {
            a.insert(REVISION_HISTORY_ANNOTATION.into(), history.clone());
        }
        assert!(set_new_rs_annotations(&d, &mut rs, "1999", true));
        let got = annotation(&rs.metadata, REVISION_HISTORY_ANNOTATION).unwrap_or("");
        assert!(got.len() <= MAX_REV_HISTORY_LENGTH_IN_CHARS);
        assert!(got.ends_with(",1998"));
        assert!(!got.starts_with("1,"));
    }

    #[test]
    fn proportional_scaling_during_a_rollout() {
        let mut w = World::new(deployment(10, IntOrString::Int(3), IntOrString::Int(2)));
        w.settle(20);
        w.never_ready.push("nginx:bad".into());
        set_image(&mut w.d, "nginx:bad");
        w.settle(40);
        // Stuck: 2 old pods gone, 5 new ones never ready.
        assert_eq!(w.old_new(), (8, 5));
        set_replicas(&mut w.d, 15);
        let actions = w.tick();
        assert_eq!(w.old_new(), (11, 7));
        let old = w
            .rs_by_image("nginx:1")
            .map(rs_name)
            .unwrap_or("")
            .to_string();
        let new = w
            .rs_by_image("nginx:bad")
            .map(rs_name)
            .unwrap_or("")
            .to_string();
        assert_eq!(
            events(&actions),
            vec![
                format!("Scaled up replica set {old} from 8 to 11"),
                format!("Scaled up replica set {new} from 5 to 7"),
            ]
        );
        for rs in &w.rss {
            assert_eq!(
                annotation(&rs.metadata, DESIRED_REPLICAS_ANNOTATION),
                Some("15")
            );
            assert_eq!(
                annotation(&rs.metadata, MAX_REPLICAS_ANNOTATION),
                Some("18")
            );
        }
        // Scaling down again: 18 → 8 (+3 surge = 11) removes 7, largest (and older) first:
        // 11·11/18 = 6.7 → 7 and 7·11/18 = 4.3 → 4.
        set_replicas(&mut w.d, 8);
        let actions = w.tick();
        assert_eq!(w.old_new(), (7, 4));
        assert_eq!(
            events(&actions),
            vec![
                format!("Scaled down replica set {old} from 11 to 7"),
                format!("Scaled down replica set {new} from 7 to 4"),
            ]
        );
    }

    #[test]
    fn proportion_leftover_goes_to_the_largest() {
        // Three equal ReplicaSets sized for max 9; scaling to 10 (+0 surge) adds 1 to whichever
        // comes first: the newest among equals.
        let mut d = deployment(10, IntOrString::Int(0), IntOrString::Int(1));
        let mut rss = vec![
            owned_rs(&d, "a", "nginx:a", 300, 3, 3, "1"),
            owned_rs(&d, "b", "nginx:b", 200, 3, 3, "2"),
            owned_rs(&d, "c", "nginx:c", 100, 3, 3, "3"),
        ];
        for rs in &mut rss {
            if let Some(a) = rs.metadata.annotations.as_mut() {
                a.insert(DESIRED_REPLICAS_ANNOTATION.into(), "9".into());
                a.insert(MAX_REPLICAS_ANNOTATION.into(), "9".into());
            }
        }
        spec_mut(&mut d).template = template_with("nginx:c");
        let actions = sync(&observe(&d, &rss), t0());
        // 3*10/9 = 3.33 → 3 each, the leftover 1 goes to the first in order: newest (c).
        assert_eq!(
            events(&actions),
            vec!["Scaled up replica set web-c from 3 to 4".to_string()]
        );
    }

    #[test]
    fn history_cleanup_keeps_the_newest_revisions() {
        let mut d = deployment(2, pct("25%"), pct("25%"));
        spec_mut(&mut d).revision_history_limit = Some(2);
        let mut w = World::new(d);
        w.settle(20);
        for v in 2..=5 {
            set_image(&mut w.d, &format!("nginx:{v}"));
            w.settle(40);
        }
        let mut images: Vec<String> = w
            .rss
            .iter()
            .map(|rs| image_of(rs.spec.as_ref().and_then(|s| s.template.as_ref())))
            .collect();
        images.sort();
        assert_eq!(images, vec!["nginx:3", "nginx:4", "nginx:5"]);
        assert_eq!(
            w.new_rs().map(|rs| image_of(Some(rs_template(rs)))),
            Some("nginx:5".into())
        );
    }

    #[test]
    fn cleanup_skips_replica_sets_that_still_run() {
        let mut d = deployment(2, pct("25%"), pct("25%"));
        spec_mut(&mut d).revision_history_limit = Some(1);
        d.metadata.annotations = Some(labels(&[(REVISION_ANNOTATION, "4")]));
        let mut busy = owned_rs(&d, "r1", "nginx:0", 400, 0, 0, "1");
        if let Some(s) = busy.status.as_mut() {
            s.replicas = 1; // a pod still terminating
        }
        let rss = vec![
            busy,
            owned_rs(&d, "r2", "nginx:2", 300, 0, 0, "2"),
            owned_rs(&d, "r3", "nginx:3", 200, 0, 0, "3"),
            owned_rs(&d, "r4", "nginx:1", 100, 2, 2, "4"),
        ];
        d.status = Some(DeploymentStatus {
            observed_generation: Some(1),
            replicas: Some(3),
            updated_replicas: Some(2),
            available_replicas: Some(2),
            ready_replicas: Some(2),
            ..Default::default()
        });
        // Old: r1, r2, r3 — one beyond the limit of 1 are r1 and r2 (lowest revisions); r1 is
        // skipped because it still has a pod. Cleanup runs only once the rollout is complete.
        let not_complete = sync(&observe(&d, &rss), t0());
        assert!(
            !not_complete
                .iter()
                .any(|a| matches!(a, Action::DeleteReplicaSet { .. }))
        );
        if let Some(s) = d.status.as_mut() {
            s.replicas = Some(2);
        }
        let actions = sync(&observe(&d, &rss), t0());
        let deleted: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::DeleteReplicaSet { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec!["web-r2"]);
    }

    #[test]
    fn min_ready_seconds_is_pushed_to_the_new_replica_set() {
        let mut d = deployment(2, pct("25%"), pct("25%"));
        spec_mut(&mut d).min_ready_seconds = Some(10);
        let rss = vec![owned_rs(&d, "a", "nginx:1", 100, 2, 2, "1")];
        let actions = sync(&observe(&d, &rss), t0());
        assert_eq!(actions.len(), 1, "{actions:?}");
        let Some(Action::UpdateReplicaSet {
            min_ready_seconds, ..
        }) = actions.first()
        else {
            panic!("{actions:?}");
        };
        assert_eq!(*min_ready_seconds, Some(10));
    }

    #[test]
    fn count_old_pods_running_ignores_new_and_finished_pods() {
        let d = deployment(2, pct("25%"), pct("25%"));
        let rss = vec![
            owned_rs(&d, "old", "nginx:0", 100, 0, 0, "1"),
            owned_rs(&d, "new", "nginx:1", 10, 2, 2, "2"),
        ];
        let pod = |owner: &str, phase: &str, terminating: bool| Pod {
            metadata: ObjectMeta {
                owner_references: Some(vec![OwnerReference {
                    uid: format!("uid-{owner}"),
                    controller: Some(true),
                    ..Default::default()
                }]),
                deletion_timestamp: terminating.then(|| to_time(t0())),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        };
        let pods = vec![
            pod("old", "Running", true),
            pod("old", "Unknown", false),
            pod("old", "Succeeded", false),
            pod("old", "Failed", true),
            pod("new", "Running", false),
            pod("stranger", "Running", false),
        ];
        assert_eq!(count_old_pods_running(&d, &rss, &pods), 2);
    }

    #[test]
    fn available_condition_keeps_transition_time_while_unchanged() {
        let mut w = World::new(deployment(3, pct("25%"), pct("25%")));
        w.settle(20);
        let before = available_cond(&w.d).unwrap_or_default();
        assert_eq!(before.status, "True");
        assert_eq!(
            before.message.as_deref(),
            Some("Deployment has minimum availability.")
        );
        set_image(&mut w.d, "nginx:2");
        w.settle(30);
        let after = available_cond(&w.d).unwrap_or_default();
        assert_eq!(after.last_transition_time, before.last_transition_time);
        assert_eq!(after.last_update_time, before.last_update_time);
    }
}
