//! The replica ratio: with only a Service in front, both versions' pods carry the app's
//! labels and the Service spreads requests over all of them, so a share of requests is a
//! share of pods — as close as the replica counts allow.

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

use super::{Capability, Need, RouteContext, Router, Routing, TrafficError};
use crate::app::PlanInput;

pub struct Replicas;

/// The new version's replicas for `weight`% of `total`: rounded, at least one while the
/// weight is above zero.
pub fn new_replicas(total: i32, weight: u8) -> i32 {
    let total = total.max(1);
    let new = (total * i32::from(weight) + 50) / 100;
    if weight > 0 { new.max(1) } else { 0 }
}

/// The new version's replicas beside `stable` unchanged ones for `weight`% of the pods:
/// rounded, at least one while the weight is above zero, as many as the stable ones at 100
/// (the most that can be done without scaling the stable version).
pub fn beside(stable: i32, weight: u8) -> i32 {
    let stable = stable.max(1);
    if weight == 0 {
        return 0;
    }
    if weight >= 50 {
        return stable;
    }
    let w = i32::from(weight);
    ((stable * w + (100 - w) / 2) / (100 - w)).max(1)
}

impl Router for Replicas {
    fn name(&self) -> &'static str {
        "replicas"
    }

    fn describe(&self) -> &'static str {
        "the ratio of new to stable pods behind the Service (weights are approximate)"
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::ApproximateWeights]
    }

    fn missing(&self, _input: &PlanInput) -> Option<&'static str> {
        None
    }

    fn picks(&self, need: Need, _input: &PlanInput) -> bool {
        need == Need::Split
    }

    fn apply<'a>(
        &'a self,
        cx: &'a RouteContext<'a>,
        routing: &'a Routing,
    ) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            if cx.input.autoscaler.is_some() {
                // The app's count is its autoscaler's: only the new version is sized, to
                // the ratio against what the app runs now.
                let stable: Deployment = cx.cluster.get(&cx.names.deployment).await?;
                let now = stable.spec.and_then(|s| s.replicas).unwrap_or(1);
                cx.cluster
                    .merge::<Deployment>(
                        &cx.names.new_deployment,
                        &json!({"spec": {"replicas": beside(now, routing.weight)}}),
                    )
                    .await?;
                return (cx.ready)(cx.names.new_deployment.clone())
                    .await
                    .map_err(Into::into);
            }
            let total = cx.input.replicas.max(1);
            let new = new_replicas(total, routing.weight);
            // New pods first, then fewer stable ones: capacity never drops.
            cx.cluster
                .merge::<Deployment>(
                    &cx.names.new_deployment,
                    &json!({"spec": {"replicas": new}}),
                )
                .await?;
            (cx.ready)(cx.names.new_deployment.clone()).await?;
            cx.cluster
                .merge::<Deployment>(
                    &cx.names.deployment,
                    &json!({"spec": {"replicas": total - new}}),
                )
                .await?;
            Ok(())
        })
    }

    /// Nothing to undo here: the rollback brings the app's Deployment back to its size and
    /// removes the new one.
    fn restore<'a>(&'a self, _cx: &'a RouteContext<'a>) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_of_pods() {
        assert_eq!(new_replicas(10, 10), 1);
        assert_eq!(
            new_replicas(3, 10),
            1,
            "at least one pod while the weight is above 0"
        );
        assert_eq!(new_replicas(3, 50), 2);
        assert_eq!(new_replicas(3, 0), 0);
        assert_eq!(new_replicas(4, 100), 4);
    }

    #[test]
    fn beside_an_autoscaled_app() {
        assert_eq!(beside(4, 0), 0);
        assert_eq!(
            beside(4, 10),
            1,
            "at least one pod while the weight is above 0"
        );
        assert_eq!(beside(6, 25), 2);
        assert_eq!(beside(4, 50), 4);
        assert_eq!(beside(4, 100), 4, "never more than the app runs");
    }
}
