use super::super::replicaset;
use super::annotations::{annotation, set_new_rs_annotations};
use super::fields::{
    controller_uid, equal_ignore_hash, generation, rs_min_ready, rs_name, rs_replicas, rs_template,
    spec_replicas, template,
};
use super::progress::get_condition;
use super::*;
use crate::controllers::hash::{POD_TEMPLATE_HASH_LABEL, compute_hash};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::apps::v1::{
    DeploymentSpec, DeploymentStrategy, ReplicaSetStatus, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodCondition, PodSpec, PodStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_util::time::to_time;
use std::collections::BTreeMap;
use std::time::Duration;

fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap_or_default()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
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
    now: Timestamp,
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
                .is_none_or(|t| t.0 + secs(grace) > now)
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
                .map(|t| t.0)
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
        let done =
            progressing(&w.d).is_some_and(|c| c.reason.as_deref() == Some(REASON_NEW_RS_AVAILABLE));
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
                || controller_uid(&p.metadata) == Some(format!("uid-{}", rs_name(rs)).as_str())));
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
