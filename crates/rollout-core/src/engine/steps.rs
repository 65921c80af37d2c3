//! Each plan step, done against the cluster. Every step can run again after a resume: it
//! creates or patches to the wanted state.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

use super::Engine;
use crate::cluster::api::annotation;
use crate::cluster::record::{self, Phase};
use crate::gate::probe;
use crate::plan::{ROLE_LABEL, Slot, Step, Update};
use crate::report::Event;
use crate::spec::{CheckKind, ProbeCheck};
use crate::traffic::{self, RouteMatch, RouterKind};

/// The probe settings waits use to fail fast: the `probes` check's, or defaults.
pub(crate) fn probe_settings(spec: &crate::spec::Spec) -> ProbeCheck {
    spec.analysis
        .checks
        .iter()
        .find_map(|c| match &c.kind {
            CheckKind::Probe(p) => Some(p.clone()),
            _ => None,
        })
        .unwrap_or(ProbeCheck {
            readiness_deadline: spec.progress_deadline,
            max_restarts: 0,
            fail_on_crash_loop: true,
        })
}

/// Whether a Deployment has finished rolling out, as `kubectl rollout status` decides;
/// `Err` when it never will (progress deadline exceeded).
pub fn rolled_out(d: &Deployment) -> Result<bool, String> {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = &d.status else {
        return Ok(false);
    };
    if let Some(c) = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        return Err(format!(
            "Deployment {name:?} exceeded its progress deadline: {}",
            c.message.as_deref().unwrap_or_default()
        ));
    }
    let seen = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    Ok(seen
        && updated == want
        && status.replicas.unwrap_or(0) == updated
        && status.available_replicas.unwrap_or(0) >= updated)
}

impl Engine {
    pub(crate) async fn execute(&mut self, index: usize, step: &Step) -> Result<(), String> {
        let e = |e: crate::cluster::ClusterError| e.to_string();
        match step {
            Step::PinService => self.pin(Slot::Stable).await,
            Step::SwitchService { to } => self.pin(*to).await,
            Step::CreateNew { replicas } => self.create_new(*replicas).await,
            Step::ScaleNew { replicas } => self
                .cluster
                .merge(
                    "deployments",
                    &self.plan.names.new_deployment,
                    &json!({"spec": {"replicas": replicas}}),
                )
                .await
                .map_err(e),
            Step::ScaleStable { replicas } => self
                .cluster
                .merge(
                    "deployments",
                    &self.plan.names.deployment,
                    &json!({"spec": {"replicas": replicas}}),
                )
                .await
                .map_err(e),
            Step::WaitNewReady => {
                let name = self.plan.names.new_deployment.clone();
                self.wait_rolled_out(&name).await
            }
            Step::CreateNewService => self.create_new_service().await,
            Step::SetWeight { weight } => {
                self.record.routing.weight = *weight;
                self.apply_routing().await?;
                self.emit(Event::Weight {
                    weight: *weight,
                    approximate: self.plan.router == RouterKind::Replicas,
                });
                Ok(())
            }
            Step::RouteMatches { matches } => {
                self.record.routing.matches = matches.iter().map(RouteMatch::from_spec).collect();
                self.apply_routing().await
            }
            Step::Mirror { percent } => {
                self.record.routing.mirror_percent = Some(*percent);
                self.apply_routing().await
            }
            Step::Pause { duration } => {
                self.emit(Event::Paused {
                    until_promoted: false,
                    seconds: Some(duration.as_secs_f64()),
                });
                self.wait_promotion(duration.std(), false).await
            }
            Step::WaitForPromotion => {
                self.record.phase = Phase::WaitingForPromotion;
                self.save().await.map_err(e)?;
                self.emit(Event::Paused {
                    until_promoted: true,
                    seconds: None,
                });
                let r = self.wait_promotion(self.opts.promotion_timeout, true).await;
                self.record.phase = Phase::Running;
                r
            }
            Step::Analysis { checks } => self.analysis(index, checks).await,
            Step::Experiment {
                duration,
                compare,
                promote,
            } => self.experiment(index, *duration, compare, *promote).await,
            Step::UpdateStable { update, replicas } => self.update_stable(*update, *replicas).await,
            Step::RestoreTraffic => self.restore_traffic().await.map_err(e),
            Step::RemoveNew => self.remove_new().await.map_err(e),
        }
    }

    fn deadline(&self) -> Duration {
        self.spec.progress_deadline.std()
    }

    /// Points the Service at one version through its pod-template-hash term.
    pub(crate) async fn pin(&self, slot: Slot) -> Result<(), String> {
        let Some(service) = self.plan.names.service.clone() else {
            return Ok(());
        };
        let deployment = match slot {
            Slot::Stable => &self.plan.names.deployment,
            Slot::New => &self.plan.names.new_deployment,
        };
        let hash = self
            .cluster
            .current_hash(deployment, self.deadline())
            .await
            .map_err(|e| e.to_string())?;
        self.cluster
            .merge(
                "services",
                &service,
                &traffic::service::pin_patch(Some(&hash)),
            )
            .await
            .map_err(|e| e.to_string())?;
        self.cluster
            .wait_service_endpoints(&service, self.deadline())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn create_new(&self, replicas: i32) -> Result<(), String> {
        let stable = self
            .cluster
            .deployment(&self.plan.names.deployment)
            .await
            .map_err(|e| e.to_string())?;
        let role = self.role();
        let mut spec = serde_json::to_value(stable.spec.clone().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        // The stable template as it was before the rollout (not a half-updated one).
        spec["template"] = self.record.saved.template.clone();
        spec["replicas"] = json!(replicas);
        spec["selector"]["matchLabels"][ROLE_LABEL] = json!(role);
        spec["template"]["metadata"]["labels"][ROLE_LABEL] = json!(role);
        set_image(
            &mut spec["template"],
            &self.plan.container,
            &self.plan.to_image,
        )?;
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": traffic::owned_metadata(&self.plan.names.new_deployment, &self.plan.namespace, &self.plan.names.deployment),
            "spec": spec,
        });
        self.cluster
            .create_or_merge("deployments", &object)
            .await
            .map_err(|e| e.to_string())
    }

    pub(crate) fn role(&self) -> &'static str {
        match self.plan.strategy {
            crate::spec::StrategyKind::BlueGreen => "green",
            crate::spec::StrategyKind::Shadow => "shadow",
            _ => "canary",
        }
    }

    async fn create_new_service(&self) -> Result<(), String> {
        let (Some(service), Some(new_service)) =
            (&self.plan.names.service, &self.plan.names.new_service)
        else {
            return Ok(());
        };
        let stable: Service = self
            .cluster
            .get_opt("services", service)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("Service {service:?} is gone"))?;
        let object = traffic::service::new_version_service(
            &stable,
            new_service,
            &self.plan.namespace,
            &self.plan.names.deployment,
            self.role(),
        );
        self.cluster
            .create_or_merge("services", &object)
            .await
            .map_err(|e| e.to_string())?;
        self.cluster
            .wait_service_endpoints(new_service, self.deadline())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Makes the router send what [`Engine::routing`] says.
    pub(crate) async fn apply_routing(&self) -> Result<(), String> {
        let routing = self.routing().clone();
        let names = &self.plan.names;
        let (Some(service), Some(new_service)) = (&names.service, &names.new_service) else {
            return Ok(());
        };
        match self.plan.router {
            RouterKind::IngressNginx => {
                let (Some(ingress), Some(canary)) = (&names.ingress, &names.new_ingress) else {
                    return Ok(());
                };
                let mut routing = routing;
                // Checks reach the new version at any weight with the canary header,
                // unless the header slot is taken by the A/B match.
                if !routing.matches.iter().any(|m| m.header.is_some()) {
                    routing
                        .matches
                        .push(RouteMatch::header(&self.spec.canary_header, "always"));
                }
                let stable: Ingress = self
                    .cluster
                    .get_opt("ingresses", ingress)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("Ingress {ingress:?} is gone"))?;
                let object = traffic::nginx::canary_ingress(
                    &stable,
                    canary,
                    &names.deployment,
                    service,
                    new_service,
                    &routing,
                );
                let existing: Option<Ingress> = self
                    .cluster
                    .get_opt("ingresses", canary)
                    .await
                    .map_err(|e| e.to_string())?;
                match existing {
                    None => self.cluster.create_or_merge("ingresses", &object).await,
                    Some(_) => {
                        self.cluster
                            .merge(
                                "ingresses",
                                canary,
                                &traffic::nginx::annotations_patch(&routing),
                            )
                            .await
                    }
                }
                .map_err(|e| e.to_string())
            }
            RouterKind::GatewayApi => {
                let Some(route) = &names.http_route else {
                    return Ok(());
                };
                let mut routing = routing;
                routing
                    .matches
                    .push(RouteMatch::header(&self.spec.canary_header, "always"));
                let original = self.record.saved.route_rules.clone().unwrap_or(Value::Null);
                let rules = traffic::gateway::rules(&original, service, new_service, &routing);
                self.cluster
                    .merge("httproutes", route, &traffic::gateway::rules_patch(rules))
                    .await
                    .map_err(|e| e.to_string())
            }
            RouterKind::Replicas => {
                let total = self.plan.replicas.max(1);
                let new = (total * i32::from(routing.weight) + 50) / 100;
                let new = if routing.weight > 0 { new.max(1) } else { 0 };
                // New pods first, then fewer stable ones: capacity never drops.
                self.cluster
                    .merge(
                        "deployments",
                        &names.new_deployment,
                        &json!({"spec": {"replicas": new}}),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let n = names.new_deployment.clone();
                self.wait_rolled_out(&n).await?;
                self.cluster
                    .merge(
                        "deployments",
                        &names.deployment,
                        &json!({"spec": {"replicas": total - new}}),
                    )
                    .await
                    .map_err(|e| e.to_string())
            }
            RouterKind::Service | RouterKind::Deployment => Ok(()),
        }
    }

    /// Waits until a Deployment has rolled out; fails at once when its new pods are stuck.
    pub(crate) async fn wait_rolled_out(&self, name: &str) -> Result<(), String> {
        let probe = probe_settings(&self.spec);
        let to_image = self.plan.to_image.clone();
        let container = self.plan.container.clone();
        self.cluster
            .wait_deployment(
                name,
                self.deadline(),
                &format!("Deployment {name:?} to roll out"),
                |d, pods| {
                    let new: Vec<Pod> = pods
                        .iter()
                        .filter(|p| runs_image(p, &container, &to_image))
                        .cloned()
                        .collect();
                    if let Some(why) = probe::stuck(&probe, &new, jiff::Timestamp::now()) {
                        return Err(why);
                    }
                    Ok(rolled_out(d)?.then_some(()))
                },
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits `limit`, ending early on `rollout promote`; with `required`, reaching the
    /// limit is a failure.
    async fn wait_promotion(&mut self, limit: Duration, required: bool) -> Result<(), String> {
        let name = self.plan.names.deployment.clone();
        let r = self
            .cluster
            .wait_deployment_alone(&name, limit, "rollout promote", |d| {
                Ok(annotation(&d.metadata, record::PROMOTE).map(str::to_owned))
            })
            .await;
        match r {
            Ok(how) => {
                if how == "full" {
                    self.skip_to_end = true;
                }
                self.note(format!("promoted ({how})"));
                self.cluster
                    .merge(
                        "deployments",
                        &name,
                        &json!({"metadata": {"annotations": {record::PROMOTE: null}}}),
                    )
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(crate::cluster::ClusterError::Timeout { .. }) if !required => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn update_stable(&self, update: Update, replicas: i32) -> Result<(), String> {
        let name = self.plan.names.deployment.clone();
        let d = self
            .cluster
            .deployment(&name)
            .await
            .map_err(|e| e.to_string())?;
        let index = container_index(&d, &self.plan.container)?;
        let image_op = json!({"op": "replace", "path": format!("/spec/template/spec/containers/{index}/image"), "value": self.plan.to_image});
        match update {
            Update::Recreate => {
                self.cluster
                    .merge("deployments", &name, &json!({"spec": {"replicas": 0}}))
                    .await
                    .map_err(|e| e.to_string())?;
                let deadline = self.deadline();
                self.cluster
                    .wait_deployment(
                        &name,
                        deadline,
                        &format!("the old pods of {name:?} to stop"),
                        |_, pods| Ok(pods.is_empty().then_some(())),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                self.cluster
                    .json_patch(
                        &name,
                        json!([image_op, {"op": "replace", "path": "/spec/replicas", "value": replicas}]),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Update::Rolling {
                max_surge,
                max_unavailable,
            } => {
                let mut ops = vec![
                    image_op,
                    json!({"op": "replace", "path": "/spec/replicas", "value": replicas}),
                ];
                if let (Some(s), Some(u)) = (max_surge, max_unavailable) {
                    ops.push(json!({"op": "replace", "path": "/spec/strategy", "value": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": int_or_percent(s), "maxUnavailable": int_or_percent(u)}
                    }}));
                }
                self.cluster
                    .json_patch(&name, Value::Array(ops))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        self.wait_rolled_out(&name).await
    }

    /// Emits a gate measurement.
    pub(crate) fn measured(&self, step: Option<usize>, m: &crate::gate::Measurement) {
        self.emit(Event::Gate {
            step,
            measurement: m.clone(),
        });
    }
}

fn int_or_percent(v: crate::spec::IntOrPercent) -> Value {
    match v {
        crate::spec::IntOrPercent::Count(n) => json!(n),
        crate::spec::IntOrPercent::Percent(p) => json!(format!("{}%", p.value())),
    }
}

/// Whether the pod's `container` runs `image`.
pub(crate) fn runs_image(p: &Pod, container: &str, image: &str) -> bool {
    p.spec.as_ref().is_some_and(|s| {
        s.containers
            .iter()
            .any(|c| c.name == container && c.image.as_deref() == Some(image))
    })
}

pub(crate) fn container_index(d: &Deployment, container: &str) -> Result<usize, String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.iter().position(|c| c.name == container))
        .ok_or_else(|| {
            format!(
                "Deployment {:?} has no container {container:?}",
                d.metadata.name.as_deref().unwrap_or("?")
            )
        })
}

fn set_image(template: &mut Value, container: &str, image: &str) -> Result<(), String> {
    let containers = template
        .pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
        .ok_or("the pod template has no containers")?;
    let c = containers
        .iter_mut()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .ok_or_else(|| format!("the pod template has no container {container:?}"))?;
    c["image"] = json!(image);
    Ok(())
}
