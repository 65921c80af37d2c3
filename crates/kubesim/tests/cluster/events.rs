//! Events: repeats are counted on one Event, and Events expire after the cluster's TTL.

use crate::common::{TestCluster, eventually};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kubesim::SimOptions;
use kubesim::controllers::events;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn repeats_are_counted_on_one_event() {
    let tc = TestCluster::api_only().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let cm = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "subject"}})).expect("cm"),
        )
        .await
        .expect("configmap");
    let obj = serde_json::to_value(&cm).expect("json");
    let store = tc.cluster.store();
    for _ in 0..3 {
        events::record(store, &obj, "tester", "Normal", "Poked", "poked once more");
    }
    events::record(store, &obj, "tester", "Warning", "Poked", "poked too hard");

    let api: Api<Event> = Api::default_namespaced(tc.client.clone());
    let list = api
        .list(&ListParams::default().fields("involvedObject.name=subject"))
        .await
        .expect("events");
    assert_eq!(list.items.len(), 2, "{:?}", list.items);
    let repeated = list
        .items
        .iter()
        .find(|e| e.message.as_deref() == Some("poked once more"))
        .expect("the repeated event");
    assert_eq!(repeated.count, Some(3));
    let series = repeated.series.as_ref().expect("series");
    assert_eq!(series.count, Some(3));
    assert_eq!(
        repeated.involved_object.uid.as_deref(),
        cm.metadata.uid.as_deref()
    );
}

#[tokio::test]
async fn events_expire_after_the_ttl_and_watchers_see_them_go() {
    let tc = TestCluster::start_with(SimOptions {
        event_ttl: Duration::from_millis(300),
        controllers: false,
        node_agent: false,
        ingress_port: None,
        ..Default::default()
    })
    .await;
    let api: Api<Event> = Api::default_namespaced(tc.client.clone());
    let ev: Event = serde_json::from_value(json!({
        "metadata": {"name": "short-lived"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Started", "message": "m", "type": "Normal"
    }))
    .expect("event");
    let created = api
        .create(&PostParams::default(), &ev)
        .await
        .expect("create");
    let rv = created.metadata.resource_version.clone().expect("rv");
    let mut watch = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch")
        .boxed();
    eventually("event expired", Duration::from_secs(5), || async {
        api.get_opt("short-lived")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    let deleted = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = watch.try_next().await.expect("watch event") {
            if let WatchEvent::Deleted(e) = e {
                return e;
            }
        }
        panic!("the watch ended without the deletion");
    })
    .await
    .expect("deletion seen");
    assert_eq!(deleted.metadata.name.as_deref(), Some("short-lived"));
}
