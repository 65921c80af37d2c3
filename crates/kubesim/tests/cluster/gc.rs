//! Garbage collection through the owner index, as the controllers build ownership: a
//! Deployment owns its ReplicaSet, which owns its pods. Deleting the Deployment with each
//! propagation policy, and a namespace with content.

use crate::common::{TestCluster, eventually};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};
use serde_json::json;
use std::time::Duration;

const REPLICAS: usize = 4;

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "web:v1"}]}}}
    }))
    .expect("deployment")
}

struct Apis {
    deploys: Api<Deployment>,
    rss: Api<ReplicaSet>,
    pods: Api<Pod>,
}

/// A Deployment whose controllers made its ReplicaSet and pods (no node agent: pods are
/// removed as soon as they are deleted).
async fn running(tc: &TestCluster, name: &str) -> Apis {
    let apis = Apis {
        deploys: Api::default_namespaced(tc.client.clone()),
        rss: Api::default_namespaced(tc.client.clone()),
        pods: Api::default_namespaced(tc.client.clone()),
    };
    apis.deploys
        .create(&PostParams::default(), &deployment(name))
        .await
        .expect("deployment");
    let selector = format!("app={name}");
    eventually(
        "ReplicaSet and pods created",
        Duration::from_secs(10),
        || async {
            let pods = apis
                .pods
                .list(&ListParams::default().labels(&selector))
                .await
                .expect("pods");
            let rss = apis
                .rss
                .list(&ListParams::default().labels(&selector))
                .await
                .expect("rss");
            (pods.items.len() == REPLICAS && rss.items.len() == 1).then_some(())
        },
    )
    .await;
    apis
}

async fn counts(apis: &Apis, name: &str) -> (bool, usize, usize) {
    let selector = format!("app={name}");
    let deploy = apis.deploys.get_opt(name).await.expect("get").is_some();
    let rss = apis
        .rss
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("rss")
        .items
        .len();
    let pods = apis
        .pods
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("pods")
        .items
        .len();
    (deploy, rss, pods)
}

#[tokio::test]
async fn background_deletion_cascades_through_replicasets_to_pods() {
    let tc = TestCluster::without_node().await;
    let apis = running(&tc, "bg").await;
    apis.deploys
        .delete("bg", &DeleteParams::background())
        .await
        .expect("delete");
    // The owner goes at once; its dependents follow.
    assert!(apis.deploys.get_opt("bg").await.expect("get").is_none());
    eventually(
        "ReplicaSet and pods collected",
        Duration::from_secs(10),
        || async { (counts(&apis, "bg").await == (false, 0, 0)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_the_dependents() {
    let tc = TestCluster::without_node().await;
    let apis = running(&tc, "fg").await;
    let marked = apis
        .deploys
        .delete("fg", &DeleteParams::foreground())
        .await
        .expect("delete");
    let marked = marked
        .left()
        .expect("the Deployment waits for its dependents");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(
        marked
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string())
    );
    eventually("everything collected", Duration::from_secs(10), || async {
        (counts(&apis, "fg").await == (false, 0, 0)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn orphan_deletion_leaves_the_dependents_unowned() {
    let tc = TestCluster::api_only().await;
    // Without controllers, the ownership a Deployment controller would make, written by hand.
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(tc.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(tc.client.clone());
    let d = deploys
        .create(&PostParams::default(), &deployment("or"))
        .await
        .expect("deployment");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "or-1", "labels": {"app": "or"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "or", "uid": d.metadata.uid, "controller": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "or"}},
                 "template": {"metadata": {"labels": {"app": "or"}}, "spec": {"containers": [{"name": "app", "image": "web:v1"}]}}}
    }))
    .expect("rs");
    let rs = rss.create(&PostParams::default(), &rs).await.expect("rs");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "or-1-x", "labels": {"app": "or"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "or-1", "uid": rs.metadata.uid, "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": "web:v1"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod");

    deploys
        .delete(
            "or",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Orphan),
                ..Default::default()
            },
        )
        .await
        .expect("delete");
    assert!(deploys.get_opt("or").await.expect("get").is_none());
    let rs = rss.get("or-1").await.expect("the ReplicaSet stays");
    assert!(rs.metadata.owner_references.unwrap_or_default().is_empty());
    // Give a collector that wrongly cascaded the time to do it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pod = pods.get("or-1-x").await.expect("the pod stays");
    assert_eq!(
        pod.metadata.owner_references.unwrap_or_default().len(),
        1,
        "the pod keeps its ReplicaSet"
    );
}

#[tokio::test]
async fn a_terminating_namespace_is_emptied_then_removed() {
    let tc = TestCluster::without_node().await;
    let nss: Api<Namespace> = Api::all(tc.client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "doomed"}})).expect("ns"),
    )
    .await
    .expect("namespace");
    let deploys: Api<Deployment> = Api::namespaced(tc.client.clone(), "doomed");
    deploys
        .create(&PostParams::default(), &deployment("web"))
        .await
        .expect("deployment");
    let cms: Api<ConfigMap> = Api::namespaced(tc.client.clone(), "doomed");
    for i in 0..20 {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).expect("cm"),
        )
        .await
        .expect("configmap");
    }
    let pods: Api<Pod> = Api::namespaced(tc.client.clone(), "doomed");
    eventually("pods running", Duration::from_secs(10), || async {
        (pods
            .list(&ListParams::default())
            .await
            .expect("pods")
            .items
            .len()
            == REPLICAS)
            .then_some(())
    })
    .await;

    nss.delete("doomed", &DeleteParams::default())
        .await
        .expect("delete");
    let refused = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).expect("cm"),
        )
        .await;
    // Unless the namespace is already gone (404), new content is refused (403).
    assert!(refused.is_err());
    eventually("namespace gone", Duration::from_secs(10), || async {
        nss.get_opt("doomed")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    let left = tc.cluster.store().namespace_content("doomed");
    assert!(left.is_empty(), "left behind: {}", left.len());
}
