//! Each plan step, done against the cluster. Every step can run again after a resume: it
//! creates or patches to the wanted state.

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{Value, json};

use super::record::{self, Phase};
use super::{Engine, StepError};
use crate::cluster::ClusterError;
use crate::cluster::api::annotation;
use crate::cluster::wait::Stuck;
use crate::gate::probe;
use crate::labels::ROLE_LABEL;
use crate::plan::{Slot, Step, Update};
use crate::report::Event;
use crate::spec::{CheckKind, ProbeCheck};
use crate::traffic::{self, Capability, RouteContext};

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
pub fn rolled_out(d: &Deployment) -> Result<bool, Stuck> {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = &d.status else {
        return Ok(false);
    };
    if let Some(c) = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        return Err(Stuck(format!(
            "Deployment {name:?} exceeded its progress deadline: {}",
            c.message.as_deref().unwrap_or_default()
        )));
    }
    let seen = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    Ok(seen
        && updated == want
        && status.replicas.unwrap_or(0) == updated
        && status.available_replicas.unwrap_or(0) >= updated)
}

/// For an app an autoscaler sizes: every pod runs the current template and some serve. Pods
/// the autoscaler is adding right now are its business, not an unfinished rollout.
pub fn template_rolled_out(d: &Deployment) -> Result<bool, Stuck> {
    if rolled_out(d)? {
        return Ok(true);
    }
    let Some(status) = &d.status else {
        return Ok(false);
    };
    let seen = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    Ok(seen
        && updated > 0
        && status.replicas.unwrap_or(0) == updated
        && status.available_replicas.unwrap_or(0) > 0)
}

impl Engine {
    pub(crate) async fn execute(&mut self, index: usize, step: &Step) -> Result<(), StepError> {
        match step {
            Step::PinService => self.pin(Slot::Stable).await,
            Step::SwitchService { to } => self.pin(*to).await,
            Step::CreateNew { replicas } => self.create_new(*replicas).await,
            Step::ScaleNew { size } => self.scale_new(*size).await,
            Step::WaitNewReady => {
                let name = self.plan.names.new_deployment.clone();
                Ok(self.wait_rolled_out(&name).await?)
            }
            Step::CreateNewService => self.create_new_service().await,
            Step::SetWeight { weight } => {
                self.record.routing.weight = *weight;
                self.apply_routing().await?;
                self.emit(Event::Weight {
                    weight: *weight,
                    approximate: self.plan.router.can(Capability::ApproximateWeights),
                });
                Ok(())
            }
            Step::RouteMatches { matches } => {
                self.record.routing.matches = matches.iter().map(|m| m.route()).collect();
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
            Step::WaitForPromotion => self.hold_for_promotion().await,
            Step::Analysis {
                checks,
                timeout,
                on_inconclusive,
                load,
            } => {
                let load = self.start_load(index, load.as_ref()).await?;
                let result = self
                    .analysis(index, checks, timeout.std(), *on_inconclusive)
                    .await;
                self.stop_load(index, load).await;
                result
            }
            Step::Experiment {
                duration,
                max_duration,
                compare,
                promote,
                on_inconclusive,
                load,
            } => {
                let load = self.start_load(index, load.as_ref()).await?;
                let result = self
                    .experiment(
                        index,
                        duration.std(),
                        max_duration.std(),
                        compare,
                        *promote,
                        *on_inconclusive,
                    )
                    .await;
                self.stop_load(index, load).await;
                result
            }
            Step::UpdateStable { update, replicas } => self.update_stable(*update, *replicas).await,
            Step::RestoreTraffic => self.restore_traffic().await,
            Step::RemoveNew => Ok(self.remove_new().await?),
        }
    }

    fn deadline(&self) -> Duration {
        self.spec.progress_deadline.std()
    }

    async fn scale(&self, deployment: &str, replicas: i32) -> Result<(), StepError> {
        self.cluster
            .merge::<Deployment>(deployment, &json!({"spec": {"replicas": replicas}}))
            .await?;
        Ok(())
    }

    /// Points the Service at one version through its pod-template-hash term.
    pub(crate) async fn pin(&self, slot: Slot) -> Result<(), StepError> {
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
            .await?;
        self.cluster
            .merge::<Service>(&service, &traffic::service::pin_patch(Some(&hash)))
            .await?;
        self.cluster
            .wait_service_endpoints(&service, self.deadline())
            .await?;
        Ok(())
    }

    async fn create_new(&mut self, replicas: i32) -> Result<(), StepError> {
        let names = &self.plan.names;
        let stable = self.cluster.deployment(&names.deployment).await?;
        let role = names.role.as_str();
        let mut spec = stable.spec.clone().unwrap_or_default();
        // The stable template as it was before the rollout (not a half-updated one).
        spec.template = serde_json::from_value(self.record.saved.template.clone())
            .map_err(|e| StepError::Template(names.deployment.clone(), e))?;
        spec.replicas = Some(replicas);
        spec.selector
            .match_labels
            .get_or_insert_default()
            .insert(ROLE_LABEL.into(), role.into());
        spec.template
            .metadata
            .get_or_insert_default()
            .labels
            .get_or_insert_default()
            .insert(ROLE_LABEL.into(), role.into());
        set_image(
            &mut spec.template,
            &names.deployment,
            &self.plan.container,
            &self.plan.to_image,
        )?;
        let object = Deployment {
            metadata: crate::labels::owned_metadata(
                &names.new_deployment,
                &self.plan.namespace,
                &names.deployment,
                Some(&self.record.id),
            ),
            spec: Some(spec),
            status: None,
        };
        let name = names.new_deployment.clone();
        let uid = self.cluster.create_owned(&object, &self.record.id).await?;
        self.owns("deployments", &name, &uid).await
    }

    /// Notes an object this rollout made in its record, and saves the record.
    pub(crate) async fn owns(
        &mut self,
        resource: &str,
        name: &str,
        uid: &str,
    ) -> Result<(), StepError> {
        self.record.own(resource, name, uid);
        self.save().await?;
        Ok(())
    }

    async fn create_new_service(&mut self) -> Result<(), StepError> {
        let (Some(service), Some(new_service)) =
            (&self.plan.names.service, &self.plan.names.new_service)
        else {
            return Ok(());
        };
        let stable: Service = self
            .cluster
            .get_opt(service)
            .await?
            .ok_or_else(|| StepError::ServiceGone(service.clone()))?;
        let object = traffic::service::new_version_service(
            &stable,
            new_service,
            &self.plan.namespace,
            (&self.plan.names.deployment, &self.record.id),
            &self.plan.names.role,
        );
        let new_service = new_service.clone();
        let uid = self.cluster.create_owned(&object, &self.record.id).await?;
        self.owns("services", &new_service, &uid).await?;
        self.cluster
            .wait_service_endpoints(&new_service, self.deadline())
            .await?;
        Ok(())
    }

    /// What the router needs to apply or restore its routes.
    pub(crate) fn route_context<'a>(
        &'a self,
        ready: &'a (dyn Fn(String) -> BoxFuture<'a, Result<(), ClusterError>> + Send + Sync),
        made: &'a std::sync::Mutex<Vec<(String, String, String)>>,
    ) -> RouteContext<'a> {
        RouteContext {
            cluster: &self.cluster,
            rollout: &self.record.id,
            made,
            input: &self.record.input,
            names: &self.plan.names,
            saved_rules: self.record.saved.route_rules.as_deref(),
            canary_header: &self.spec.canary_header,
            ready,
        }
    }

    /// Makes the router send what [`Engine::routing`] says; what it made goes in the record.
    pub(crate) async fn apply_routing(&mut self) -> Result<(), StepError> {
        if self.plan.names.new_service.is_none() {
            return Ok(());
        }
        let made = std::sync::Mutex::new(Vec::new());
        {
            let me: &Engine = self;
            let routing = me.routing().clone();
            let ready = |name: String| -> BoxFuture<'_, Result<(), ClusterError>> {
                Box::pin(async move { me.wait_rolled_out(&name).await })
            };
            let cx = me.route_context(&ready, &made);
            me.plan.router.apply(&cx, &routing).await?;
        }
        for (resource, name, uid) in made.into_inner().unwrap_or_default() {
            self.owns(&resource, &name, &uid).await?;
        }
        Ok(())
    }

    /// Waits until a Deployment has rolled out; fails at once when its new pods are stuck.
    pub(crate) async fn wait_rolled_out(&self, name: &str) -> Result<(), ClusterError> {
        let probe = probe_settings(&self.spec);
        let to_image = self.plan.to_image.clone();
        let container = self.plan.container.clone();
        let version = probe::version_of(&to_image).to_owned();
        let new_pods = |d: &Deployment, pods: &[Pod]| probe::NewPods {
            pods: pods
                .iter()
                .filter(|p| runs_image(p, &container, &to_image))
                .cloned()
                .collect(),
            version: version.clone(),
            desired: vec![(
                name.to_owned(),
                d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            )],
        };
        self.cluster
            .wait_deployment(
                name,
                self.deadline(),
                &format!("Deployment {name:?} to roll out"),
                |d, pods| {
                    if let Some(why) =
                        probe::stuck(&probe, &new_pods(d, pods), jiff::Timestamp::now())
                    {
                        return Err(Stuck(why));
                    }
                    Ok(rolled_out(d)?.then_some(()))
                },
                |d, pods, failures| {
                    let new = new_pods(d, pods);
                    let wanted = new.desired.first().map_or(1, |(_, n)| *n);
                    probe::explain(name, &new.pods, &new.version, wanted, failures)
                },
            )
            .await
    }

    /// Waits for `rollout promote`, recorded as waiting (`rollout abort` rolls back).
    pub(crate) async fn hold_for_promotion(&mut self) -> Result<(), StepError> {
        self.record.phase = Phase::WaitingForPromotion;
        self.save().await?;
        self.emit(Event::Paused {
            until_promoted: true,
            seconds: None,
        });
        let r = self.wait_promotion(self.opts.promotion_timeout, true).await;
        self.record.phase = Phase::Running;
        r
    }

    /// Waits `limit`, ending early on `rollout promote`; with `required`, reaching the
    /// limit is a failure.
    async fn wait_promotion(&mut self, limit: Duration, required: bool) -> Result<(), StepError> {
        let name = self.plan.names.deployment.clone();
        let what = if required {
            "`rollout promote` (or `rollout abort`)".to_owned()
        } else {
            format!(
                "the pause of {} to end (or `rollout promote`)",
                humantime::format_duration(limit)
            )
        };
        let r = self
            .cluster
            .wait_deployment_alone(&name, limit, &what, |d| {
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
                    .merge::<Deployment>(
                        &name,
                        &json!({"metadata": {"annotations": {record::PROMOTE: null}}}),
                    )
                    .await?;
                Ok(())
            }
            Err(e) if e.is_timeout() && !required => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The app's Deployment takes the new template; `replicas: None` when an autoscaler
    /// sizes it (then its count is only ever raised, to the new version's, before requests
    /// come back to it).
    async fn update_stable(&self, update: Update, replicas: Option<i32>) -> Result<(), StepError> {
        let name = self.plan.names.deployment.clone();
        let d = self.cluster.deployment(&name).await?;
        let had = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let index = container_index(&d, &self.plan.container)?;
        let image_op = json!({"op": "replace", "path": format!("/spec/template/spec/containers/{index}/image"), "value": self.plan.to_image});
        match update {
            Update::Recreate => {
                self.scale(&name, 0).await?;
                self.cluster
                    .wait_deployment(
                        &name,
                        self.deadline(),
                        &format!("the old pods of {name:?} to stop"),
                        |_, pods| Ok(pods.is_empty().then_some(())),
                        |_, pods, _| format!("{} still running", pods.len()),
                    )
                    .await?;
                self.json_patch(
                    &name,
                    json!([image_op, {"op": "replace", "path": "/spec/replicas", "value": replicas.unwrap_or(had)}]),
                )
                .await?;
            }
            Update::Rolling {
                max_surge,
                max_unavailable,
            } => {
                let mut ops = vec![image_op];
                if let Some(replicas) = replicas {
                    ops.push(json!({"op": "replace", "path": "/spec/replicas", "value": replicas}));
                }
                if let (Some(s), Some(u)) = (max_surge, max_unavailable) {
                    ops.push(json!({"op": "replace", "path": "/spec/strategy", "value": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": int_or_percent(s), "maxUnavailable": int_or_percent(u)}
                    }}));
                }
                self.json_patch(&name, Value::Array(ops)).await?;
                self.stable_capacity_for_return().await?;
            }
        }
        Ok(self.wait_rolled_out(&name).await?)
    }

    /// A JSON patch of the app's Deployment, built here from known operations.
    pub(crate) async fn json_patch(&self, name: &str, ops: Value) -> Result<(), ClusterError> {
        // The operations are built by this module, so they always read as a JSON patch.
        let patch: json_patch::Patch = serde_json::from_value(ops).unwrap_or_default();
        self.cluster
            .json_patch::<Deployment>(name, &patch)
            .await
            .map(|_| ())
    }

    /// Emits a gate measurement.
    pub(crate) fn measured(&self, step: Option<usize>, m: &crate::gate::Measurement) {
        let counts = (
            m.figures.get("new_requests"),
            m.figures.get("stable_requests"),
        );
        if let (Some(step), (Some(new), Some(stable))) = (step, counts) {
            let total = (new + stable).max(0.0) as u64;
            let mut compared = self.compared.lock().unwrap_or_else(|e| e.into_inner());
            let most = compared.entry(step).or_default();
            *most = (*most).max(total);
        }
        self.emit(Event::Gate {
            step,
            measurement: m.clone(),
        });
    }
}

impl Engine {
    /// The most requests a comparison of `step` counted, if one ran.
    pub(crate) fn compared_in(&self, step: usize) -> Option<u64> {
        let compared = self.compared.lock().unwrap_or_else(|e| e.into_inner());
        compared.get(&step).copied()
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

pub(crate) fn container_index(d: &Deployment, container: &str) -> Result<usize, StepError> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.iter().position(|c| c.name == container))
        .ok_or_else(|| StepError::NoContainer {
            deployment: d.metadata.name.clone().unwrap_or_default(),
            container: container.to_owned(),
        })
}

fn set_image(
    template: &mut k8s_openapi::api::core::v1::PodTemplateSpec,
    deployment: &str,
    container: &str,
    image: &str,
) -> Result<(), StepError> {
    let c = template
        .spec
        .as_mut()
        .and_then(|s| s.containers.iter_mut().find(|c| c.name == container))
        .ok_or_else(|| StepError::NoContainer {
            deployment: deployment.to_owned(),
            container: container.to_owned(),
        })?;
    c.image = Some(image.to_owned());
    Ok(())
}
