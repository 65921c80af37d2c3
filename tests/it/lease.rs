//! The Lease fences: a holder that stalled past its expiry, and whose Lease was taken over,
//! cannot renew it, cannot write through its fenced cluster, and does not delete the Lease
//! when it lets go.

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use rollout_core::cluster::Cluster;
use rollout_core::cluster::lease::{Holder, LeaseError};
use serde_json::json;

use crate::common::TestCluster;

#[tokio::test]
async fn a_stalled_holder_cannot_act_after_a_take_over() {
    let tc = TestCluster::api_only().await;
    let cluster = Cluster::new(tc.client.clone(), "default");
    let configmaps: Api<ConfigMap> = Api::namespaced(tc.client.clone(), "default");
    configmaps
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "app-state"}})).expect("configmap"),
        )
        .await
        .expect("configmap");

    let a = Arc::new(
        Holder::acquire(&cluster, "web", "a@first-machine (pid 1)")
            .await
            .expect("a takes the lease"),
    );
    let fenced = cluster.clone().fenced(a.clone());
    fenced
        .merge::<ConfigMap>("app-state", &json!({"data": {"by": "a"}}))
        .await
        .expect("a writes while it holds the lease");

    // `a` stalls: its last renewal is now long past the lease's duration.
    let leases: Api<Lease> = Api::namespaced(tc.client.clone(), "default");
    let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120);
    leases
        .patch(
            "rollout-web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"renewTime": long_ago.to_string()}})),
        )
        .await
        .expect("age the lease");
    let b = Holder::acquire(&cluster, "web", "b@second-machine (pid 2)")
        .await
        .expect("b takes the expired lease over");

    // `a` wakes up: it cannot take the lease back, and stops acting.
    match a.renew().await {
        Err(LeaseError::Lost { why, .. }) => {
            assert!(why.contains("b@second-machine"), "{why}")
        }
        other => panic!("renewal after a take-over must fail as lost, got {other:?}"),
    }
    assert!(a.ensure_held().is_err());
    let refused = fenced
        .merge::<ConfigMap>("app-state", &json!({"data": {"by": "a again"}}))
        .await
        .expect_err("a fenced write after losing the lease");
    assert!(
        refused.to_string().contains("no longer holds the Lease"),
        "{refused}"
    );
    let cm = configmaps.get("app-state").await.expect("configmap");
    assert_eq!(
        cm.data.and_then(|d| d.get("by").cloned()).as_deref(),
        Some("a")
    );

    // Letting go does not delete b's lease.
    a.release().await.expect("release");
    let lease = leases
        .get("rollout-web")
        .await
        .expect("b's lease is still there");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("b@second-machine (pid 2)")
    );
    b.renew().await.expect("b renews");
}
