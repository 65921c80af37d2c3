//! Putting the app back: all traffic to the app's Deployment (the Service pinned to its
//! pods, weights to zero, matches and mirrors gone, the canary Ingress removed), then the
//! temporary objects removed and the Service's selector restored. The end of a successful
//! rollout and a rollback share these; a rollback first brings the app's Deployment back to
//! the template and size it had, so that what traffic returns to is ready.

use serde_json::{Value, json};

use super::Engine;
use crate::cluster::ClusterError;
use crate::plan::{HASH_LABEL, ROLE_LABEL};
use crate::traffic::{self, RouterKind, Routing};

impl Engine {
    pub(crate) async fn restore_traffic(&mut self) -> Result<(), ClusterError> {
        if self.plan.pins_service() {
            self.pin(crate::plan::Slot::Stable)
                .await
                .map_err(ClusterError::Other)?;
        }
        self.record.routing = Routing::default();
        let names = self.plan.names.clone();
        match self.plan.router {
            RouterKind::IngressNginx => {
                if let Some(canary) = &names.new_ingress {
                    // Weight zero first: deleting is not instant everywhere, zero is.
                    let exists = self
                        .cluster
                        .get_opt::<k8s_openapi::api::networking::v1::Ingress>("ingresses", canary)
                        .await?
                        .is_some();
                    if exists {
                        self.cluster
                            .merge(
                                "ingresses",
                                canary,
                                &traffic::nginx::annotations_patch(&Routing::default()),
                            )
                            .await?;
                        self.cluster.delete("ingresses", canary).await?;
                    }
                }
            }
            RouterKind::GatewayApi => {
                if let (Some(route), Some(rules)) =
                    (&names.http_route, &self.record.saved.route_rules)
                {
                    self.cluster
                        .merge(
                            "httproutes",
                            route,
                            &traffic::gateway::rules_patch(rules.clone()),
                        )
                        .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) async fn remove_new(&mut self) -> Result<(), ClusterError> {
        let names = self.plan.names.clone();
        if self.plan.creates_new() {
            self.cluster
                .delete("deployments", &names.new_deployment)
                .await?;
            // The new pods carry the app's selector labels plus the role.
            let stable = self.cluster.deployment(&names.deployment).await?;
            let mut role_selector = crate::cluster::api::selector_query(&stable);
            if !role_selector.is_empty() {
                role_selector.push(',');
            }
            role_selector.push_str(&format!("{ROLE_LABEL}={}", self.role()));
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
        if let Some(s) = &names.new_service {
            self.cluster.delete("services", s).await?;
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
                .merge(
                    "services",
                    service,
                    &traffic::service::pin_patch(original.as_deref()),
                )
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
        let same = template == saved.template
            && spec.replicas == Some(saved.replicas)
            && (strategy == saved.strategy || saved.strategy.is_null());
        if !same {
            let mut ops = vec![
                json!({"op": "replace", "path": "/spec/template", "value": saved.template}),
                json!({"op": "replace", "path": "/spec/replicas", "value": saved.replicas}),
            ];
            if !saved.strategy.is_null() {
                ops.push(
                    json!({"op": "replace", "path": "/spec/strategy", "value": saved.strategy}),
                );
            }
            self.cluster.json_patch(&name, Value::Array(ops)).await?;
        }
        self.cluster
            .wait_deployment_alone(
                &name,
                self.spec.progress_deadline.std(),
                &format!("Deployment {name:?} back on its previous template"),
                |d| Ok(super::steps::rolled_out(d).unwrap_or(false).then_some(())),
            )
            .await
    }

    /// Rolls back from wherever the rollout got to.
    pub(crate) async fn rollback(&mut self) -> Result<(), ClusterError> {
        self.restore_stable().await?;
        self.restore_traffic().await?;
        self.remove_new().await?;
        Ok(())
    }
}
