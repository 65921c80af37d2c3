//! The annotations a Deployment writes on its ReplicaSets: revision, revision history,
//! desired and max replicas, and those copied from the Deployment.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::fields::{is_rolling, rs_replicas, spec_replicas};
use super::{
    ANNOTATIONS_TO_SKIP, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
    MAX_REV_HISTORY_LENGTH_IN_CHARS, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, max_surge,
};

/// `NewRSNewReplicas`: RollingUpdate grows the new ReplicaSet up to `replicas + maxSurge` pods
/// in total and never beyond `replicas`; Recreate sizes it at `replicas` outright.
pub(super) fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
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
pub(super) fn set_new_rs_annotations(
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

pub(super) fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

pub(super) fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let changed = replicas_annotations_need_update(rs, desired, max);
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    annotations.insert(DESIRED_REPLICAS_ANNOTATION.into(), desired.to_string());
    annotations.insert(MAX_REPLICAS_ANNOTATION.into(), max.to_string());
    changed
}
/// `Revision`: the revision annotation (0 when absent).
pub(super) fn revision(rs: &ReplicaSet) -> Result<i64, std::num::ParseIntError> {
    match annotation(&rs.metadata, REVISION_ANNOTATION) {
        None => Ok(0),
        Some(v) => v.parse(),
    }
}

pub(super) fn annotation<'m>(meta: &'m ObjectMeta, key: &str) -> Option<&'m str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

pub(super) fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(&rs.metadata, key).and_then(|v| v.parse().ok())
}
