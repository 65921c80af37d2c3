//! Putting the app back: all traffic to the app's Deployment (the Service pinned to its
//! pods, the router's routes restored), then the temporary objects removed and the Service's
//! selector restored. The end of a successful rollout and a rollback share these; a rollback
//! first brings the app's Deployment back to the template and size it had, so that what
//! traffic returns to is ready.

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use super::{Engine, StepError};
use crate::cluster::ClusterError;
use crate::cluster::wait::Stuck;
use crate::labels::{HASH_LABEL, ROLE_LABEL};
use crate::traffic::{self, Routing};

impl Engine {
    pub(crate) async fn restore_traffic(&mut self) -> Result<(), StepError> {
        if self.plan.pins_service() {
            self.pin(crate::plan::Slot::Stable).await?;
        }
        self.record.routing = Routing::default();
        let me: &Engine = self;
        let ready = |name: String| -> BoxFuture<'_, Result<(), ClusterError>> {
            Box::pin(async move { me.wait_rolled_out(&name).await })
        };
        let made = std::sync::Mutex::new(Vec::new());
        let cx = me.route_context(&ready, &made);
        me.plan.router.restore(&cx).await?;
        Ok(())
    }

    pub(crate) async fn remove_new(&mut self) -> Result<(), ClusterError> {
        let names = self.plan.names.clone();
        // Only what this rollout made, by its uid: a namesake made since is left alone.
        let deployment_uid = self
            .record
            .uid_of("deployments", &names.new_deployment)
            .map(str::to_owned);
        self.remove_new_autoscaler().await?;
        if self.plan.creates_new()
            && let Some(uid) = &deployment_uid
        {
            self.cluster
                .delete::<Deployment>(&names.new_deployment, Some(uid))
                .await?;
            // The new pods carry the app's selector labels plus the role.
            let stable = self.cluster.deployment(&names.deployment).await?;
            let mut role_selector = crate::cluster::api::selector_query(&stable);
            if !role_selector.is_empty() {
                role_selector.push(',');
            }
            role_selector.push_str(&format!("{ROLE_LABEL}={}", names.role));
            self.cluster
                .wait_no_pods(
                    &role_selector,
                    self.spec.progress_deadline.std(),
                    &format!("the pods of {:?} to stop", names.new_deployment),
                )
                .await?;
            self.cluster
                .wait_deployment_gone(&names.new_deployment, self.spec.progress_deadline.std())
                .await?;
        }
        if let Some(s) = &names.new_service
            && let Some(uid) = self.record.uid_of("services", s)
        {
            self.cluster.delete::<Service>(s, Some(uid)).await?;
        }
        if self.plan.pins_service()
            && let Some(service) = &names.service
        {
            let original = self
                .record
                .saved
                .service_selector
                .as_ref()
                .and_then(|s| s.get(HASH_LABEL))
                .cloned();
            self.cluster
                .merge::<Service>(service, &traffic::service::pin_patch(original.as_deref()))
                .await?;
        }
        Ok(())
    }

    /// The app's Deployment back to its template, size and strategy from before the
    /// rollout; waits until it has rolled out.
    async fn restore_stable(&self) -> Result<(), ClusterError> {
        let name = self.plan.names.deployment.clone();
        let saved = &self.record.saved;
        let d = self.cluster.deployment(&name).await?;
        let spec = d.spec.clone().unwrap_or_default();
        let template = serde_json::to_value(&spec.template).unwrap_or(Value::Null);
        let strategy = serde_json::to_value(&spec.strategy).unwrap_or(Value::Null);
        // An autoscaler's replica count is its own: not put back, only raised (below).
        let autoscaled = self.record.input.autoscaler.is_some();
        let same = template == saved.template
            && (autoscaled || spec.replicas == Some(saved.replicas))
            && (strategy == saved.strategy || saved.strategy.is_null());
        if !same {
            let mut ops =
                vec![json!({"op": "replace", "path": "/spec/template", "value": saved.template})];
            if !autoscaled {
                ops.push(
                    json!({"op": "replace", "path": "/spec/replicas", "value": saved.replicas}),
                );
            }
            if !saved.strategy.is_null() {
                ops.push(
                    json!({"op": "replace", "path": "/spec/strategy", "value": saved.strategy}),
                );
            }
            self.json_patch(&name, Value::Array(ops)).await?;
        }
        self.stable_capacity_for_return().await?;
        self.cluster
            .wait_deployment_alone(
                &name,
                self.spec.progress_deadline.std(),
                &format!("Deployment {name:?} back on its previous template"),
                |d| -> Result<Option<()>, Stuck> {
                    Ok(super::steps::rolled_out(d).unwrap_or(false).then_some(()))
                },
            )
            .await
    }

    /// Rolls back from wherever the rollout got to.
    pub(crate) async fn rollback(&mut self) -> Result<(), StepError> {
        self.restore_stable().await?;
        self.restore_traffic().await?;
        self.remove_new().await?;
        Ok(())
    }
}
