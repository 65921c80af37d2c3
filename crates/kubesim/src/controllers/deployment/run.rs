//! One sync of one Deployment (`sync.go`): the new and old ReplicaSets, revisions, scaling
//! (proportional when the Deployment is resized mid-rollout), history cleanup, and the writes
//! it decides, in order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube_util::time::to_time;

use super::annotations::{
    annotation, int_annotation, new_rs_new_replicas, replicas_annotations_need_update, revision,
    set_new_rs_annotations, set_replicas_annotations,
};
use super::fields::{
    by_creation, by_revision_less, equal_ignore_hash, generation, has_progress_deadline,
    insertion_sort, is_paused, is_rolling, min_ready_seconds, non_zero64, revision_history_limit,
    rs_available, rs_min_ready, rs_name, rs_replicas, rs_status_replicas, rs_template,
    selector_is_empty, spec_replicas, strategy_type, template,
};
use super::progress::{deployment_complete, get_condition, normalize_status, set_condition};
use super::{
    Action, CONDITION_PROGRESSING, DESIRED_REPLICAS_ANNOTATION, EVENT_NORMAL,
    EVENT_SCALING_REPLICA_SET, EVENT_SELECTING_ALL, EVENT_WARNING, MAX_REPLICAS_ANNOTATION,
    Observed, REASON_FOUND_NEW_RS, REASON_NEW_RS_CREATED, REASON_PAUSED, REASON_RESUMED,
    REASON_TIMED_OUT, REVISION_ANNOTATION, max_surge,
};
use crate::controllers::hash::{POD_TEMPLATE_HASH_LABEL, compute_hash};

/// Ends a sync early (after a hash collision, or after the new ReplicaSet's annotations were
/// rewritten, where Kubernetes' next write in the same sync fails on a stale resourceVersion).
pub(super) struct Stop;

/// The state of one sync: working copies that the decisions mutate, and the writes so far.
pub(super) struct Run {
    pub(super) d: Deployment,
    pub(super) rss: Vec<ReplicaSet>,
    actions: Vec<Action>,
    /// Condition timestamps have whole-second precision on the wire; truncating keeps a
    /// re-sync of unchanged state from producing a different status.
    pub(super) now: Timestamp,
    pub(super) old_pods_running: i32,
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
pub(super) struct Split {
    pub(super) new: Option<usize>,
    pub(super) old: Vec<usize>,
    /// The existing new ReplicaSet's annotations or minReadySeconds were just rewritten.
    pub(super) new_rs_updated: bool,
}

impl Run {
    pub(super) fn new(observed: &Observed, now: Timestamp) -> Self {
        let mut rss = observed.replica_sets.to_vec();
        rss.sort_by(by_creation);
        Run {
            d: observed.deployment.clone(),
            rss,
            actions: Vec::new(),
            now: kube_util::time::whole_seconds(now),
            old_pods_running: observed.old_pods_running,
            resumed: None,
        }
    }

    /// `syncDeployment`, after the listing.
    pub(super) fn sync_deployment(&mut self) -> Result<(), Stop> {
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
    pub(super) fn create_new_rs(&mut self, old: &[usize]) -> Result<usize, Stop> {
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

    /// `cleanupDeployment`: delete the oldest revisions beyond `revisionHistoryLimit`, but only
    /// ReplicaSets that are fully scaled down, settled and not already being deleted.
    pub(super) fn cleanup(&mut self, old: &[usize]) {
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

    /// `DeploymentComplete` judged on the status as it was when the sync started.
    pub(super) fn complete_before_sync(&self) -> bool {
        let status = self.d.status.clone().unwrap_or_default();
        deployment_complete(&self.d, &status)
    }

    /// `scaleReplicaSetAndRecordEvent`: resize if the size differs.
    pub(super) fn scale_and_record(&mut self, i: usize, new_size: i32) -> bool {
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

    pub(super) fn active(&self, of: &[usize]) -> Vec<usize> {
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

    pub(super) fn new_condition(
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
    pub(super) fn finish(mut self, observed: &Deployment) -> Vec<Action> {
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
