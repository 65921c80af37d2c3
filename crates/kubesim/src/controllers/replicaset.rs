//! ReplicaSet controller decisions, as kube-controller-manager's `replicaset` controller makes
//! them (`pkg/controller/replicaset/replica_set.go`, `replica_set_utils.go` and the pod ranking of
//! `pkg/controller/controller_utils.go`).
//!
//! The functions are pure: they take the ReplicaSet, the pods it controls and the current time,
//! and return what to create or delete plus the status to record. The caller owns I/O, watches
//! and requeueing. Kubernetes guards against acting twice on the same shortfall with
//! "expectations" (it waits until the pods it created or deleted show up in its cache); here the
//! caller gets the same effect by applying every [`PodAction`] before it calls [`sync`] again.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// At most this many pods are created or deleted in one sync (`--replicaset-burst`'s default,
/// `BurstReplicas = 500`), so one huge scale-up cannot flood the API server.
pub const BURST_REPLICAS: usize = 500;

/// Annotation by which users say which pods to delete first on scale-down (lower cost first).
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What the ReplicaSet controller wants done to pods.
#[derive(Clone, Debug, PartialEq)]
pub enum PodAction {
    /// Create this pod: `generateName` `<rs>-`, the template's labels, annotations and
    /// finalizers, a controller ownerReference to the ReplicaSet and the template's spec. The API
    /// server picks the name (5 random characters after the prefix).
    Create(Box<Pod>),
    /// Delete this pod (one of the pods passed in), chosen by Kubernetes' deletion ranking.
    Delete { name: String },
}

/// What the controller looks at for one ReplicaSet.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// The ReplicaSet, as stored.
    pub replica_set: &'a ReplicaSet,
    /// The pods it controls (controller ownerReference with its UID). Terminating pods and pods
    /// in a terminal phase may be included: they are filtered out here, as Kubernetes'
    /// `FilterActivePods` does, and count neither toward replicas nor status.
    pub pods: &'a [Pod],
}

/// One reconciliation: the pods to create or delete, and the status to record.
///
/// The status is computed from the pods as observed (before the returned actions take effect),
/// as Kubernetes does; the next sync after the caller applied the actions reports their effect.
/// A ReplicaSet being deleted (deletionTimestamp set) only gets its status refreshed.
pub fn sync(observed: &Observed, now: Timestamp) -> (Vec<PodAction>, ReplicaSetStatus) {
    let rs = observed.replica_set;
    let active: Vec<&Pod> = observed.pods.iter().filter(|p| pod_is_active(p)).collect();
    let mut actions = Vec::new();
    let deleting = rs.metadata.deletion_timestamp.is_some();
    if !deleting {
        let desired = usize::try_from(spec_replicas(rs).max(0)).unwrap_or(0);
        if active.len() < desired {
            let count = (desired - active.len()).min(BURST_REPLICAS);
            let pod = pod_from_template(rs);
            for _ in 0..count {
                actions.push(PodAction::Create(Box::new(pod.clone())));
            }
        } else if active.len() > desired {
            let count = (active.len() - desired).min(BURST_REPLICAS);
            for pod in pods_to_delete(&active, count, now) {
                actions.push(PodAction::Delete {
                    name: pod.metadata.name.clone().unwrap_or_default(),
                });
            }
        }
    }
    (actions, calculate_status(rs, &active, now))
}

/// When to look at this ReplicaSet again although nothing changes: the moment the next ready pod
/// has been ready for `minReadySeconds` and so becomes available.
///
/// Kubernetes requeues after the whole `minReadySeconds` once all replicas are ready; asking for
/// the exact moment (plus a millisecond, since availability needs the deadline to have *passed*)
/// reports availability sooner and also covers partially ready ReplicaSets.
pub fn requeue_after(observed: &Observed, now: Timestamp) -> Option<Duration> {
    let min_ready = min_ready_seconds(observed.replica_set);
    if min_ready <= 0 {
        return None;
    }
    observed
        .pods
        .iter()
        .filter(|p| pod_is_active(p) && pod_is_ready(p) && !pod_is_available(p, min_ready, now))
        .filter_map(ready_since)
        .map(|since| (since + SignedDuration::from_secs(i64::from(min_ready))).duration_since(now))
        .min()
        .map(|left| Duration::try_from(left).unwrap_or(Duration::ZERO) + Duration::from_millis(1))
}

/// Whether the pod's `Ready` condition is `True`.
pub fn pod_is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Whether the pod counts as available: ready, and (with `min_ready_seconds` > 0) ready since
/// strictly more than `min_ready_seconds` before `now`, as `podutil.IsPodAvailable` decides. A
/// ready condition without a transition time is never old enough.
pub fn pod_is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !pod_is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod)
        .is_some_and(|since| since + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now)
}

/// Whether the pod still counts toward replicas: not succeeded, not failed, not terminating.
pub fn pod_is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    phase != Some("Succeeded")
        && phase != Some("Failed")
        && pod.metadata.deletion_timestamp.is_none()
}

/// The pod the ReplicaSet creates (`controller.GetPodFromTemplate`): template labels,
/// annotations and finalizers, `generateName` `<rs>-`, the RS's namespace, a controller
/// ownerReference to the RS and the template's spec.
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
    let meta = template.and_then(|t| t.metadata.as_ref());
    let name = rs.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: rs.metadata.namespace.clone(),
            labels: meta.and_then(|m| m.labels.clone()),
            annotations: meta.and_then(|m| m.annotations.clone()),
            finalizers: meta.and_then(|m| m.finalizers.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name,
                uid: rs.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: Some(template.and_then(|t| t.spec.clone()).unwrap_or_default()),
        status: None,
    }
}

/// The `count` pods to delete first, in Kubernetes' order (`getPodsToDelete` with
/// `ActivePodsWithRanks`, as of the LogarithmicScaleDown and PodDeletionCost features being on):
///
/// 1. not scheduled before scheduled;
/// 2. `Pending` before `Unknown` before `Running`;
/// 3. not ready before ready;
/// 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
/// 5. pods sharing their node with more of the given pods first;
/// 6. both ready: ready more recently first (compared on a log2 scale of the time since `now`,
///    ties broken by UID);
/// 7. more container restarts first;
/// 8. created more recently first (same log2 scale, ties by UID).
///
/// The ranking of rule 5 counts only the pods passed in (Kubernetes also counts pods of sibling
/// ReplicaSets of the same Deployment).
pub fn pods_to_delete<'a>(pods: &[&'a Pod], count: usize, now: Timestamp) -> Vec<&'a Pod> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in pods {
        if pod_is_active(p) {
            *on_node.entry(node_name(p)).or_default() += 1;
        }
    }
    let mut ranked: Vec<Ranked<'a>> = pods
        .iter()
        .map(|p| Ranked::new(p, on_node.get(node_name(p)).copied().unwrap_or(0)))
        .collect();
    // Kubernetes' comparison is not a total order (the UID tie-break of the log-scale rules is
    // not transitive with exact-equality fall-through), so use a sort that never checks for one:
    // a stable insertion sort, deterministic for equal inputs.
    for i in 1..ranked.len() {
        let mut j = i;
        while j > 0 && delete_before(&ranked[j], &ranked[j - 1], now) {
            ranked.swap(j, j - 1);
            j -= 1;
        }
    }
    ranked.into_iter().take(count).map(|r| r.pod).collect()
}

/// A pod with the facts the deletion ranking looks at, extracted once.
struct Ranked<'a> {
    pod: &'a Pod,
    rank: usize,
    assigned: bool,
    phase: u8,
    ready: bool,
    ready_since: Option<Timestamp>,
    cost: i32,
    restarts: i32,
    created: Option<Timestamp>,
    uid: &'a str,
}

impl<'a> Ranked<'a> {
    fn new(pod: &'a Pod, rank: usize) -> Self {
        let ready = pod_is_ready(pod);
        let status = pod.status.as_ref();
        Ranked {
            pod,
            rank,
            assigned: !node_name(pod).is_empty(),
            phase: match status.and_then(|s| s.phase.as_deref()) {
                Some("Unknown") => 1,
                Some("Running") => 2,
                _ => 0,
            },
            ready,
            ready_since: if ready { ready_since(pod) } else { None },
            cost: pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(POD_DELETION_COST_ANNOTATION))
                .and_then(|v| v.parse::<i32>().ok())
                .unwrap_or(0),
            restarts: status
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.iter().map(|c| c.restart_count).max())
                .unwrap_or(0)
                .max(0),
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
            uid: pod.metadata.uid.as_deref().unwrap_or(""),
        }
    }
}

/// `ActivePodsWithRanks.Less`: whether `a` should be deleted before `b`.
fn delete_before(a: &Ranked, b: &Ranked, now: Timestamp) -> bool {
    if a.assigned != b.assigned {
        return !a.assigned;
    }
    if a.phase != b.phase {
        return a.phase < b.phase;
    }
    if a.ready != b.ready {
        return !a.ready;
    }
    if a.cost != b.cost {
        return a.cost < b.cost;
    }
    if a.rank != b.rank {
        return a.rank > b.rank;
    }
    if a.ready && b.ready && a.ready_since != b.ready_since {
        return log_scale_newer(a.ready_since, b.ready_since, a.uid, b.uid, now);
    }
    if a.restarts != b.restarts {
        return a.restarts > b.restarts;
    }
    if a.created != b.created {
        return log_scale_newer(a.created, b.created, a.uid, b.uid, now);
    }
    false
}

/// Whether time `a` counts as more recent than `b`: a missing time first, otherwise by the
/// integer log2 of the nanoseconds elapsed until `now` (equal buckets fall back to the UID).
fn log_scale_newer(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    uid_a: &str,
    uid_b: &str,
    now: Timestamp,
) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return a.is_none();
    };
    let bucket = |t: Timestamp| -> i64 {
        let nanos = i64::try_from(now.duration_since(t).as_nanos()).unwrap_or(i64::MAX);
        if nanos > 0 {
            (nanos as f64).log2() as i64
        } else {
            -1
        }
    };
    match bucket(a).cmp(&bucket(b)) {
        Ordering::Equal => uid_a < uid_b,
        other => other == Ordering::Less,
    }
}

/// `calculateStatus`: counts over the active pods, keeping the recorded conditions.
fn calculate_status(rs: &ReplicaSet, active: &[&Pod], now: Timestamp) -> ReplicaSetStatus {
    let template_labels: BTreeMap<String, String> = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = min_ready_seconds(rs);
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for pod in active {
        let labels = pod.metadata.labels.as_ref();
        if template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            fully_labeled += 1;
        }
        if pod_is_ready(pod) {
            ready += 1;
            if pod_is_available(pod, min_ready, now) {
                available += 1;
            }
        }
    }
    let previous = rs.status.clone().unwrap_or_default();
    ReplicaSetStatus {
        replicas: i32::try_from(active.len()).unwrap_or(i32::MAX),
        fully_labeled_replicas: non_zero(fully_labeled),
        ready_replicas: non_zero(ready),
        available_replicas: non_zero(available),
        observed_generation: rs.metadata.generation.filter(|g| *g != 0),
        conditions: previous.conditions,
        terminating_replicas: previous.terminating_replicas,
    }
}

/// Zero counts are omitted on the wire (`omitempty`), so they are `None` here too.
fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn min_ready_seconds(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
}

/// When the pod last became ready, if it is ready and the time is recorded.
fn ready_since(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::{
        Container, ContainerStatus, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
    use k8s_openapi::jiff::Timestamp;

    fn t0() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap_or_default()
    }

    fn time(at: Timestamp) -> Time {
        kube_util::time::to_time(at)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-abc".into()),
                namespace: Some("default".into()),
                uid: Some("rs-uid".into()),
                generation: Some(3),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                selector: LabelSelector {
                    match_labels: Some(labels(&[("app", "web"), ("pod-template-hash", "abc")])),
                    ..Default::default()
                },
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(&[("app", "web"), ("pod-template-hash", "abc")])),
                        annotations: Some(labels(&[("note", "x")])),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "web".into(),
                            image: Some("nginx".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
            }),
            status: None,
        }
    }

    /// A pod created `age_s` seconds before t0, optionally scheduled, running and ready since
    /// `ready_s` seconds before t0.
    fn pod(name: &str, age_s: i64, node: &str, ready_s: Option<i64>) -> Pod {
        let created = t0() - SignedDuration::from_secs(age_s);
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(time(created)),
                labels: Some(labels(&[("app", "web"), ("pod-template-hash", "abc")])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(
                    if node.is_empty() {
                        "Pending"
                    } else {
                        "Running"
                    }
                    .into(),
                ),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready_s.is_some() { "True" } else { "False" }.into(),
                    last_transition_time: Some(time(
                        t0() - SignedDuration::from_secs(ready_s.unwrap_or(age_s)),
                    )),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    fn victims(pods: &[Pod], count: usize) -> Vec<String> {
        let refs: Vec<&Pod> = pods.iter().collect();
        names(&pods_to_delete(&refs, count, t0()))
    }

    #[test]
    fn creates_missing_pods_from_template() {
        let rs = rs(3, 0);
        let pods = vec![pod("a", 100, "n1", Some(90))];
        let (actions, status) = sync(
            &Observed {
                replica_set: &rs,
                pods: &pods,
            },
            t0(),
        );
        assert_eq!(actions.len(), 2);
        let PodAction::Create(p) = &actions[0] else {
            panic!("expected a create, got {actions:?}");
        };
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-abc-"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash")),
            Some(&"abc".to_string())
        );
        assert_eq!(
            p.metadata.annotations.as_ref().and_then(|a| a.get("note")),
            Some(&"x".to_string())
        );
        let owner = &p.metadata.owner_references.as_ref().map(|o| o[0].clone());
        let owner = owner.as_ref().map(|o| {
            (
                o.api_version.as_str(),
                o.kind.as_str(),
                o.name.as_str(),
                o.uid.as_str(),
                o.controller,
                o.block_owner_deletion,
            )
        });
        assert_eq!(
            owner,
            Some((
                "apps/v1",
                "ReplicaSet",
                "web-abc",
                "rs-uid",
                Some(true),
                Some(true)
            ))
        );
        assert_eq!(
            p.spec.as_ref().map(|s| s.containers[0].image.clone()),
            Some(Some("nginx".into()))
        );
        // Status reflects what was observed, not what is about to be created.
        assert_eq!(status.replicas, 1);
    }

    #[test]
    fn creation_is_capped_by_burst() {
        let rs = rs(1200, 0);
        let (actions, _) = sync(
            &Observed {
                replica_set: &rs,
                pods: &[],
            },
            t0(),
        );
        assert_eq!(actions.len(), BURST_REPLICAS);
    }

    #[test]
    fn terminating_and_finished_pods_do_not_count() {
        let rs = rs(2, 0);
        let mut gone = pod("gone", 50, "n1", Some(40));
        gone.metadata.deletion_timestamp = Some(time(t0()));
        let mut done = pod("done", 50, "n1", None);
        if let Some(s) = done.status.as_mut() {
            s.phase = Some("Succeeded".into());
        }
        let pods = vec![pod("a", 100, "n1", Some(90)), gone, done];
        let (actions, status) = sync(
            &Observed {
                replica_set: &rs,
                pods: &pods,
            },
            t0(),
        );
        assert_eq!(actions.len(), 1);
        assert!(matches!(actions[0], PodAction::Create(_)));
        assert_eq!(status.replicas, 1);
    }

    #[test]
    fn deleted_replica_set_only_reports_status() {
        let mut rs = rs(0, 0);
        rs.metadata.deletion_timestamp = Some(time(t0()));
        let pods = vec![pod("a", 100, "n1", Some(90))];
        let (actions, status) = sync(
            &Observed {
                replica_set: &rs,
                pods: &pods,
            },
            t0(),
        );
        assert!(actions.is_empty());
        assert_eq!(status.replicas, 1);
    }

    #[test]
    fn deletes_surplus_by_ranking() {
        let rs = rs(1, 0);
        let pods = vec![
            pod("old-ready", 1000, "n1", Some(900)),
            pod("unscheduled", 10, "", None),
        ];
        let (actions, _) = sync(
            &Observed {
                replica_set: &rs,
                pods: &pods,
            },
            t0(),
        );
        assert_eq!(
            actions,
            vec![PodAction::Delete {
                name: "unscheduled".into()
            }]
        );
    }

    #[test]
    fn ranking_unassigned_before_assigned() {
        let pods = vec![
            pod("assigned", 10, "n1", None),
            pod("unassigned", 1000, "", None),
        ];
        assert_eq!(victims(&pods, 1), vec!["unassigned"]);
    }

    #[test]
    fn ranking_pending_before_unknown_before_running() {
        let mut pending = pod("pending", 10, "n1", None);
        let mut unknown = pod("unknown", 10, "n1", None);
        if let Some(s) = pending.status.as_mut() {
            s.phase = Some("Pending".into());
        }
        if let Some(s) = unknown.status.as_mut() {
            s.phase = Some("Unknown".into());
        }
        let running = pod("running", 10, "n1", None);
        let pods = vec![running, unknown, pending];
        assert_eq!(victims(&pods, 2), vec!["pending", "unknown"]);
    }

    #[test]
    fn ranking_not_ready_before_ready() {
        let pods = vec![
            pod("ready", 10, "n1", Some(5)),
            pod("not-ready", 1000, "n1", None),
        ];
        assert_eq!(victims(&pods, 1), vec!["not-ready"]);
    }

    #[test]
    fn ranking_lower_deletion_cost_first() {
        let mut cheap = pod("cheap", 1000, "n1", Some(900));
        cheap.metadata.annotations = Some(labels(&[(POD_DELETION_COST_ANNOTATION, "-5")]));
        let pods = vec![pod("young", 10, "n1", Some(5)), cheap];
        assert_eq!(victims(&pods, 1), vec!["cheap"]);
    }

    #[test]
    fn ranking_doubled_up_nodes_first() {
        let pods = vec![
            pod("alone", 10, "n1", Some(5)),
            pod("crowded-1", 1000, "n2", Some(900)),
            pod("crowded-2", 1000, "n2", Some(900)),
        ];
        assert_eq!(victims(&pods, 1), vec!["crowded-1"]);
    }

    #[test]
    fn ranking_ready_for_less_time_first() {
        // Same node, both ready; 10 s vs 1000 s are in different log2 buckets.
        let pods = vec![
            pod("long-ready", 2000, "n1", Some(1000)),
            pod("just-ready", 2000, "n1", Some(10)),
        ];
        assert_eq!(victims(&pods, 1), vec!["just-ready"]);
    }

    #[test]
    fn ranking_more_restarts_first() {
        let mut crashy = pod("crashy", 10, "n1", None);
        if let Some(s) = crashy.status.as_mut() {
            s.container_statuses = Some(vec![ContainerStatus {
                name: "web".into(),
                restart_count: 4,
                ..Default::default()
            }]);
        }
        let pods = vec![pod("calm", 1, "n1", None), crashy];
        assert_eq!(victims(&pods, 1), vec!["crashy"]);
    }

    #[test]
    fn ranking_newer_first() {
        let pods = vec![
            pod("old", 5000, "n1", None),
            pod("new", 5, "n1", None),
            pod("middle", 300, "n1", None),
        ];
        assert_eq!(victims(&pods, 2), vec!["new", "middle"]);
        assert_eq!(victims(&pods, 1), vec!["new"]);
        // Deleting all of them needs no ranking (Kubernetes skips the sort too).
        assert_eq!(victims(&pods, 3).len(), 3);
    }

    #[test]
    fn ranking_same_log_bucket_falls_back_to_uid() {
        // 100 s and 101 s ago fall into the same log2(ns) bucket: UID decides.
        let pods = vec![pod("b", 100, "n1", None), pod("a", 101, "n1", None)];
        assert_eq!(victims(&pods, 1), vec!["a"]);
    }

    #[test]
    fn status_counts_labels_ready_and_available() {
        let rs = rs(4, 30);
        let mut unlabeled = pod("unlabeled", 100, "n1", Some(60));
        unlabeled.metadata.labels = Some(labels(&[("app", "web")]));
        let pods = vec![
            pod("avail", 100, "n1", Some(60)),
            pod("fresh", 100, "n1", Some(10)),
            pod("not-ready", 100, "n1", None),
            unlabeled,
        ];
        let (actions, status) = sync(
            &Observed {
                replica_set: &rs,
                pods: &pods,
            },
            t0(),
        );
        assert!(actions.is_empty());
        assert_eq!(status.replicas, 4);
        assert_eq!(status.fully_labeled_replicas, Some(3));
        assert_eq!(status.ready_replicas, Some(3));
        assert_eq!(status.available_replicas, Some(2));
        assert_eq!(status.observed_generation, Some(3));
    }

    #[test]
    fn zero_counts_are_omitted() {
        let rs = rs(0, 0);
        let (actions, status) = sync(
            &Observed {
                replica_set: &rs,
                pods: &[],
            },
            t0(),
        );
        assert!(actions.is_empty());
        assert_eq!(status.replicas, 0);
        assert_eq!(status.ready_replicas, None);
        assert_eq!(status.available_replicas, None);
        assert_eq!(status.fully_labeled_replicas, None);
    }

    #[test]
    fn availability_needs_min_ready_seconds_strictly_passed() {
        let p = pod("p", 100, "n1", Some(30));
        assert!(pod_is_ready(&p));
        assert!(pod_is_available(&p, 0, t0()));
        assert!(pod_is_available(&p, 29, t0()));
        assert!(!pod_is_available(&p, 30, t0()));
        assert!(!pod_is_available(&pod("q", 100, "n1", None), 0, t0()));
    }

    #[test]
    fn requeue_when_a_ready_pod_becomes_available() {
        let rs = rs(2, 30);
        let pods = vec![pod("a", 100, "n1", Some(10)), pod("b", 100, "n1", Some(25))];
        let after = requeue_after(
            &Observed {
                replica_set: &rs,
                pods: &pods,
            },
            t0(),
        );
        assert_eq!(after, Some(Duration::from_millis(5_001)));
        let rs0 = super::tests::rs(2, 0);
        assert_eq!(
            requeue_after(
                &Observed {
                    replica_set: &rs0,
                    pods: &pods
                },
                t0()
            ),
            None
        );
        let settled = vec![pod("a", 100, "n1", Some(90))];
        assert_eq!(
            requeue_after(
                &Observed {
                    replica_set: &rs,
                    pods: &settled
                },
                t0()
            ),
            None
        );
    }
}
