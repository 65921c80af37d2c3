//! Deployments and ReplicaSets read with the API's defaults, pod templates compared without
//! the hash label, ReplicaSets ordered by creation and revision.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::annotations::revision;
use crate::controllers::hash::POD_TEMPLATE_HASH_LABEL;

/// `EqualIgnoreHash`: templates equal once the `pod-template-hash` label is dropped, treating
/// absent and empty lists/maps alike (as Kubernetes' semantic equality does).
pub(super) fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
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
pub(super) fn insertion_sort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// `ReplicaSetsByCreationTimestamp`: older first, then by name.
pub(super) fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    t(a).cmp(&t(b)).then_with(|| rs_name(a).cmp(rs_name(b)))
}

/// `ReplicaSetsByRevision`: lower revision first; unparseable or equal revisions by creation.
pub(super) fn by_revision_less(a: &ReplicaSet, b: &ReplicaSet) -> bool {
    match (revision(a), revision(b)) {
        (Ok(ra), Ok(rb)) if ra != rb => ra < rb,
        _ => by_creation(a, b) == Ordering::Less,
    }
}

pub(super) fn controller_uid(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

pub(super) fn template(d: &Deployment) -> &PodTemplateSpec {
    static EMPTY: PodTemplateSpec = PodTemplateSpec {
        metadata: None,
        spec: None,
    };
    d.spec.as_ref().map(|s| &s.template).unwrap_or(&EMPTY)
}

pub(super) fn rs_template(rs: &ReplicaSet) -> &PodTemplateSpec {
    static EMPTY: PodTemplateSpec = PodTemplateSpec {
        metadata: None,
        spec: None,
    };
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .unwrap_or(&EMPTY)
}

pub(super) fn spec_replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub(super) fn generation(d: &Deployment) -> i64 {
    d.metadata.generation.unwrap_or(0)
}

pub(super) fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

pub(super) fn is_rolling(d: &Deployment) -> bool {
    strategy_type(d) == "RollingUpdate"
}

pub(super) fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

pub(super) fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// `progressDeadlineSeconds`; absent means no deadline (as does MaxInt32).
pub(super) fn progress_deadline_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(i32::MAX)
}

pub(super) fn has_progress_deadline(d: &Deployment) -> bool {
    progress_deadline_seconds(d) != i32::MAX
}

/// `revisionHistoryLimit`; absent means keep everything.
pub(super) fn revision_history_limit(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.revision_history_limit)
}

/// A selector with no requirements would claim every pod of the namespace.
pub(super) fn selector_is_empty(d: &Deployment) -> bool {
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

pub(super) fn rs_name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or("")
}

pub(super) fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub(super) fn rs_min_ready(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

pub(super) fn rs_status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

pub(super) fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

pub(super) fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub(super) fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

pub(super) fn non_zero64(n: i64) -> Option<i64> {
    (n != 0).then_some(n)
}
