//! The embedded controllers: Deployment → ReplicaSet → Pods, rolling-update arithmetic, and
//! Endpoints. A small stand-in kubelet in the test marks pods Running and Ready, so the
//! controller semantics are checked on their own.

use crate::common::{TestCluster, eventually};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

/// Marks every pod without an IP as Running and Ready with a loopback address, like a kubelet
/// whose containers start at once.
fn start_kubelet(client: kube::Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::default_namespaced(client);
        let mut next_ip = 1u32;
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await {
                for p in list.items {
                    let has_ip = p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some();
                    let Some(name) = p.metadata.name.clone() else {
                        continue;
                    };
                    if has_ip {
                        continue;
                    }
                    let ip = format!("127.77.{}.{}", next_ip / 250, next_ip % 250 + 1);
                    next_ip += 1;
                    let now = kube_util::time::now_rfc3339();
                    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now},
                                       {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]}});
                    let _ = pods
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

fn web(replicas: i32, surge: serde_json::Value, unavailable: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "web:v1", "ports": [{"name": "http", "containerPort": 8080}]}]}}
        }
    }))
    .expect("deployment")
}

async fn available(api: &Api<Deployment>, want: i32) {
    eventually("deployment available", Duration::from_secs(20), || async {
        let d = api.get("web").await.ok()?;
        let s = d.status?;
        let done = s.available_replicas == Some(want)
            && s.updated_replicas == Some(want)
            && s.replicas == Some(want)
            && s.observed_generation == d.metadata.generation;
        done.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deployment_creates_a_hashed_replicaset_and_pods() {
    let tc = TestCluster::without_node().await;
    let kubelet = start_kubelet(tc.client.clone());
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    deploys
        .create(&PostParams::default(), &web(3, json!("25%"), json!("25%")))
        .await
        .expect("create");
    available(&deploys, 3).await;

    let rss: Api<ReplicaSet> = Api::default_namespaced(tc.client.clone());
    let list = rss.list(&ListParams::default()).await.expect("rs");
    assert_eq!(list.items.len(), 1);
    let rs = &list.items[0];
    let hash = rs
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("pod-template-hash"))
        .cloned()
        .expect("hash label");
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    let ann = rs.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        ann.get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        ann.get("deployment.kubernetes.io/desired-replicas")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        ann.get("deployment.kubernetes.io/max-replicas")
            .map(String::as_str),
        Some("4")
    );

    let pods: Api<Pod> = Api::default_namespaced(tc.client.clone());
    let list = pods
        .list(&ListParams::default().labels(&format!("pod-template-hash={hash}")))
        .await
        .expect("pods");
    assert_eq!(list.items.len(), 3);
    for p in &list.items {
        assert!(
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(&format!("web-{hash}-")))
        );
        let owner = p.metadata.owner_references.clone().unwrap_or_default();
        assert!(
            owner
                .iter()
                .any(|o| o.kind == "ReplicaSet" && o.controller == Some(true))
        );
    }

    let d = deploys.get("web").await.expect("get");
    let conds = d.status.and_then(|s| s.conditions).unwrap_or_default();
    let progressing = conds
        .iter()
        .find(|c| c.type_ == "Progressing")
        .expect("Progressing");
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let avail = conds
        .iter()
        .find(|c| c.type_ == "Available")
        .expect("Available");
    assert_eq!(
        (avail.status.as_str(), avail.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    kubelet.abort();
}

/// Records (old ready, new ready, replicas asked for across ReplicaSets) whenever a ReplicaSet changes during one
/// rolling update, and checks the bounds the maxSurge / maxUnavailable rules promise.
async fn rolling_update_respects(
    surge: serde_json::Value,
    unavailable: serde_json::Value,
    max_total: i32,
    min_available: i32,
    first_steps: &[(i32, i32)],
) {
    let tc = TestCluster::without_node().await;
    let kubelet = start_kubelet(tc.client.clone());
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    deploys
        .create(&PostParams::default(), &web(10, surge, unavailable))
        .await
        .expect("create");
    available(&deploys, 10).await;
    let rss: Api<ReplicaSet> = Api::default_namespaced(tc.client.clone());
    let old_name = rss.list(&ListParams::default()).await.expect("rs").items[0]
        .metadata
        .name
        .clone()
        .expect("name");

    // Every committed change, in order: the exact sequence of ReplicaSet sizes is rebuilt
    // from it afterwards.
    let mut feed = tc.cluster.store().subscribe();
    deploys
        .patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:v2"}]}}}})))
        .await
        .expect("set image");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut samples: Vec<(i32, i32, i32)> = Vec::new();
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rolling update did not finish: {samples:?}"
        );
        let list = rss.list(&ListParams::default()).await.expect("rs");
        let (mut old_ready, mut new_ready, mut spec_total, mut available_total) = (0, 0, 0, 0);
        for rs in &list.items {
            let spec = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            let status = rs.status.clone().unwrap_or_default();
            spec_total += spec;
            available_total += status.available_replicas.unwrap_or(0);
            if rs.metadata.name.as_deref() == Some(old_name.as_str()) {
                old_ready = status.ready_replicas.unwrap_or(0);
            } else {
                new_ready = status.ready_replicas.unwrap_or(0);
            }
        }
        assert!(
            spec_total <= max_total,
            "more than {max_total} pods: {spec_total} ({samples:?})"
        );
        assert!(
            available_total >= min_available,
            "fewer than {min_available} available: {available_total} ({samples:?})"
        );
        if samples.last() != Some(&(old_ready, new_ready, spec_total)) {
            samples.push((old_ready, new_ready, spec_total));
        }
        if old_ready == 0 && new_ready == 10 && spec_total == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // (old spec, new spec) after every ReplicaSet change, from the first change on.
    let mut sizes: std::collections::BTreeMap<String, (i32, i32)> =
        [(old_name.clone(), (10, 10))].into();
    let mut steps: Vec<(i32, i32)> = Vec::new();
    while let Ok(e) = feed.try_recv() {
        if e.resource.plural != "replicasets" {
            continue;
        }
        let name = e
            .object
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let spec = e
            .object
            .pointer("/spec/replicas")
            .and_then(|v| v.as_i64())
            .unwrap_or(0) as i32;
        let avail = e
            .object
            .pointer("/status/availableReplicas")
            .and_then(|v| v.as_i64())
            .unwrap_or(0) as i32;
        sizes.insert(name, (spec, avail));
        let old = sizes.get(&old_name).map(|s| s.0).unwrap_or(0);
        let new: i32 = sizes
            .iter()
            .filter(|(n, _)| **n != old_name)
            .map(|(_, s)| s.0)
            .sum();
        let spec_total: i32 = sizes.values().map(|s| s.0).sum();
        assert!(
            spec_total <= max_total,
            "more than {max_total} pods asked for at {steps:?} + ({old}, {new})"
        );
        if sizes.len() > 1 && steps.last() != Some(&(old, new)) {
            steps.push((old, new));
        }
    }
    assert!(
        steps.starts_with(first_steps),
        "the first steps follow the rules: want {first_steps:?}, got {steps:?}"
    );
    assert_eq!(steps.last(), Some(&(0, 10)), "{steps:?}");
    available(&deploys, 10).await;
    let d = deploys.get("web").await.expect("get");
    assert_eq!(
        d.metadata
            .annotations
            .unwrap_or_default()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("2")
    );
    assert!(
        samples.len() >= 3,
        "the update went through steps: {samples:?}"
    );
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_update_25_25() {
    // replicas 10: surge ceil(2.5)=3, unavailable floor(2.5)=2
    rolling_update_respects(json!("25%"), json!("25%"), 13, 8, &[(10, 3), (8, 3)]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_update_1_0() {
    rolling_update_respects(json!(1), json!(0), 11, 10, &[(10, 1), (9, 1)]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_update_0_1() {
    rolling_update_respects(json!(0), json!(1), 10, 9, &[(10, 0), (9, 0), (9, 1)]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_update_3_2() {
    rolling_update_respects(json!(3), json!(2), 13, 8, &[(10, 3), (8, 3)]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_follow_ready_pods() {
    let tc = TestCluster::without_node().await;
    let kubelet = start_kubelet(tc.client.clone());
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    deploys
        .create(&PostParams::default(), &web(2, json!(1), json!(0)))
        .await
        .expect("create");
    let svcs: Api<Service> = Api::default_namespaced(tc.client.clone());
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})).expect("svc");
    svcs.create(&PostParams::default(), &svc)
        .await
        .expect("svc");
    let eps: Api<Endpoints> = Api::default_namespaced(tc.client.clone());
    let addresses = eventually("two ready addresses", Duration::from_secs(10), || async {
        let e = eps.get("web").await.ok()?;
        let subset = e.subsets?.into_iter().next()?;
        let addrs = subset.addresses.unwrap_or_default();
        (addrs.len() == 2 && subset.ports.unwrap_or_default().first().map(|p| p.port) == Some(8080))
            .then_some(addrs)
    })
    .await;
    assert!(addresses.iter().all(|a| a.ip.starts_with("127.77.")));
    kubelet.abort();
}
