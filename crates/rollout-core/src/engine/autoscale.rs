//! Sizing the versions of an app that a HorizontalPodAutoscaler sizes: the new version gets
//! its share of what the stable version runs *now* and an autoscaler of its own (a copy of
//! the app's, bounds scaled to the share); the app's replica count is only ever raised,
//! never lowered, so the rollout and the autoscaler never undo each other's writes.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::json;

use super::{Engine, StepError};
use crate::autoscaler;
use crate::cluster::ClusterError;
use crate::plan::Size;

const RESOURCE: &str = "horizontalpodautoscalers";

fn replicas_of(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

impl Engine {
    pub(crate) async fn scale_new(&mut self, size: Size) -> Result<(), StepError> {
        let share = match size {
            Size::Replicas(replicas) => {
                self.cluster
                    .merge::<Deployment>(
                        &self.plan.names.new_deployment,
                        &json!({"spec": {"replicas": replicas}}),
                    )
                    .await?;
                return Ok(());
            }
            Size::ShareOfStable(share) => share,
        };
        let (Some(app), Some(copy_name)) = (
            self.record.input.autoscaler.clone(),
            self.plan.names.new_autoscaler.clone(),
        ) else {
            return Ok(());
        };
        let names = self.plan.names.clone();
        let stable = self.cluster.deployment(&names.deployment).await?;
        let new = self.cluster.deployment(&names.new_deployment).await?;
        let bounds = autoscaler::scaled_bounds(&app, share);
        let wanted = autoscaler::starting_replicas(replicas_of(&stable), share, bounds);
        // Capacity ahead of traffic; fewer pods are the new autoscaler's call.
        if replicas_of(&new) < wanted {
            self.cluster
                .merge::<Deployment>(
                    &names.new_deployment,
                    &json!({"spec": {"replicas": wanted}}),
                )
                .await?;
        }
        match self.record.uid_of(RESOURCE, &copy_name) {
            Some(_) => {
                self.cluster
                    .merge::<HorizontalPodAutoscaler>(
                        &copy_name,
                        &json!({"spec": {"minReplicas": bounds.0, "maxReplicas": bounds.1}}),
                    )
                    .await?;
            }
            None => {
                let original: HorizontalPodAutoscaler = self.cluster.get(&app.name).await?;
                let copy = autoscaler::copy_for(
                    &original,
                    crate::labels::owned_metadata(
                        &copy_name,
                        &self.plan.namespace,
                        &names.deployment,
                        Some(&self.record.id),
                    ),
                    &names.new_deployment,
                    bounds,
                );
                let uid = self.cluster.create_owned(&copy, &self.record.id).await?;
                self.owns(RESOURCE, &copy_name, &uid).await?;
            }
        }
        Ok(())
    }

    /// Before the app's own pods take back all requests: at least as many of them as the new
    /// version runs, so that the requests the new version served find capacity (the app's
    /// autoscaler brings the count down later if it is more than needed).
    pub(crate) async fn stable_capacity_for_return(&self) -> Result<(), ClusterError> {
        if self.record.input.autoscaler.is_none() {
            return Ok(());
        }
        let names = &self.plan.names;
        let stable = self.cluster.deployment(&names.deployment).await?;
        let now = replicas_of(&stable);
        let new = match self.record.uid_of("deployments", &names.new_deployment) {
            Some(_) => self
                .cluster
                .get_opt::<Deployment>(&names.new_deployment)
                .await?
                .map_or(0, |d| replicas_of(&d)),
            None => 0,
        };
        let wanted = if now == 0 {
            // Scaled to 0 (recreate): an autoscaler does not scale up from 0.
            self.record.saved.replicas.max(new)
        } else {
            new
        };
        if wanted > now {
            self.cluster
                .merge::<Deployment>(&names.deployment, &json!({"spec": {"replicas": wanted}}))
                .await?;
        }
        Ok(())
    }

    /// Removes the new version's autoscaler, if this rollout made one (before its
    /// Deployment, so that nothing scales what is being removed).
    pub(crate) async fn remove_new_autoscaler(&self) -> Result<(), ClusterError> {
        if let Some(name) = &self.plan.names.new_autoscaler
            && let Some(uid) = self.record.uid_of(RESOURCE, name)
        {
            self.cluster
                .delete::<HorizontalPodAutoscaler>(name, Some(uid))
                .await?;
        }
        Ok(())
    }
}
