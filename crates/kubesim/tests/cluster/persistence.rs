//! `--data-dir`: objects survive a restart of the embedded cluster.

use crate::common::TestCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubesim::SimOptions;
use serde_json::json;

#[tokio::test]
async fn objects_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SimOptions {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };

    let tc = TestCluster::start_with(opts.clone()).await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let kept: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "kept"}, "data": {"k": "v"}}))
            .expect("cm");
    let dropped: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "dropped"}})).expect("cm");
    let created = api
        .create(&PostParams::default(), &kept)
        .await
        .expect("create");
    api.create(&PostParams::default(), &dropped)
        .await
        .expect("create");
    api.delete("dropped", &DeleteParams::default())
        .await
        .expect("delete");
    let rv_before: u64 = api
        .get("kept")
        .await
        .expect("get")
        .metadata
        .resource_version
        .and_then(|v| v.parse().ok())
        .expect("rv");
    tc.cluster.stop().await;

    let tc = TestCluster::start_with(opts).await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let back = api.get("kept").await.expect("kept survives");
    assert_eq!(back.metadata.uid, created.metadata.uid);
    assert_eq!(
        back.data.and_then(|d| d.get("k").cloned()).as_deref(),
        Some("v")
    );
    assert!(
        api.get_opt("dropped").await.expect("get").is_none(),
        "a deletion survives too"
    );
    // Resource versions keep growing across the restart, so clients never see one go back.
    let fresh: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "fresh"}})).expect("cm");
    let made = api
        .create(&PostParams::default(), &fresh)
        .await
        .expect("create");
    let rv_after: u64 = made
        .metadata
        .resource_version
        .and_then(|v| v.parse().ok())
        .expect("rv");
    assert!(rv_after > rv_before);
}

/// A write the disk refuses answers 500 and changes nothing a client can see; writes work
/// again once the disk does.
#[tokio::test]
async fn a_failed_disk_write_answers_500_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tc = TestCluster::start_with(SimOptions {
        data_dir: Some(dir.path().to_path_buf()),
        controllers: false,
        node_agent: false,
        ingress_port: None,
        ..Default::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::default_namespaced(tc.client.clone());
    let cm = |name: &str, v: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": v}})).expect("cm")
    };
    let kept = api
        .create(&PostParams::default(), &cm("kept", "1"))
        .await
        .expect("create");

    tc.cluster.store().fail_disk_writes(true);
    let code = |r: Result<ConfigMap, kube::Error>| match r {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    };
    assert_eq!(
        code(api.create(&PostParams::default(), &cm("new", "1")).await),
        500
    );
    assert_eq!(
        code(
            api.patch(
                "kept",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"v": "2"}}))
            )
            .await
        ),
        500
    );
    match api.delete("kept", &DeleteParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 500),
        other => panic!("expected a 500, got {other:?}"),
    }
    assert!(api.get_opt("new").await.expect("get").is_none());
    let now = api.get("kept").await.expect("kept is still there");
    assert_eq!(
        now.metadata.resource_version,
        kept.metadata.resource_version
    );
    assert_eq!(
        now.data.and_then(|d| d.get("v").cloned()).as_deref(),
        Some("1")
    );

    tc.cluster.store().fail_disk_writes(false);
    api.create(&PostParams::default(), &cm("new", "1"))
        .await
        .expect("writes work again");
}
